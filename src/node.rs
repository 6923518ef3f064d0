//! The node: opens the stores, starts the post office and the supervised
//! service actors, bootstraps the admin account, serves REST and gRPC, and
//! shuts down gracefully on SIGINT/SIGTERM.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;

use crate::{
    actors::{
        self,
        users::{self, FindCredentials},
    },
    auth::{self, AuthLimiter, Keys, Passwords, Role, TokenVersions},
    config::ServeArgs,
    context::NodeCtx,
    mom::{registry::Registry, ExecOptions, Mom, MomConfig, MomError},
};

/// Where a started node listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

/// Runs a node until SIGINT/SIGTERM. Must run inside an actix `System`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // First, so that everything opened after counts against the raised limit.
    let budget = FdBudget::at_start(&args.edge);
    tracing::info!(
        nofile = budget.nofile,
        grpc_max_connections = budget.grpc,
        http_max_connections = budget.http,
        "connection caps"
    );
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let secret = auth::load_or_create_secret(&args.data, args.jwt_secret.as_deref())?;
    let keys = Keys::new(&secret, Duration::from_secs(args.token_ttl_s.max(1)))?;
    let registry = Arc::new(Registry::default());
    let mom = Mom::start(
        &args.data.join("mom.db"),
        MomConfig {
            max_deliveries: i32::try_from(args.max_deliveries).unwrap_or(i32::MAX),
            retention: Duration::from_secs(args.retention_h.max(1) * 3600),
            ..MomConfig::default()
        },
        registry,
    )?;
    actors::start_all(&mom, &args.data)?;
    let ctx = Arc::new(NodeCtx {
        mom,
        keys,
        default_wait: Duration::from_millis(args.wait_ms),
        auth_limiter: AuthLimiter::new(args.auth_rate_per_s, args.auth_burst),
        passwords: Passwords::new(args.auth_hash_concurrency, args.auth_hash_queue),
        token_versions: TokenVersions::new(Duration::from_millis(args.token_cache_ttl_ms)),
    });
    bootstrap_admin(&ctx, &args).await?;
    if !args.no_seed {
        actors::catalog::seed_demo(&ctx.mom).await?;
    }

    let http_limits = crate::http::HttpLimits::from_args(&args.edge, budget.http);
    let grpc_limits = crate::grpc::limits::GrpcLimits::from_args(&args.edge, budget.grpc);
    let (http, addrs) = crate::http::server(ctx.clone(), args.http, &http_limits)
        .with_context(|| format!("binding REST on {}", args.http))?;
    let grpc_listener = listen(args.grpc, args.edge.grpc_backlog)
        .with_context(|| format!("binding gRPC on {}", args.grpc))?;
    let bound = Bound {
        http: addrs.first().copied().unwrap_or(args.http),
        grpc: grpc_listener.local_addr()?,
    };
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc_ctx = ctx.clone();
    let grpc =
        std::thread::Builder::new()
            .name("grpc".into())
            .spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                rt.block_on(crate::grpc::serve(
                    grpc_listener,
                    grpc_ctx,
                    grpc_limits,
                    async {
                        let _ = grpc_stopped.await;
                    },
                ))
            })?;

    tracing::info!(http = %bound.http, grpc = %bound.grpc, data = %args.data.display(), "mailroom ready");
    // A stable line for scripts and tests (the tracing line above may be JSON).
    println!("mailroom ready http={} grpc={}", bound.http, bound.grpc);

    // actix-web stops on SIGINT/SIGTERM, draining in-flight requests.
    http.await?;
    tracing::info!("REST stopped; stopping gRPC");
    let _ = stop_grpc.send(());
    let _ = tokio::task::spawn_blocking(move || grpc.join()).await;
    tracing::info!("mailroom stopped");
    actix::System::current().stop();
    Ok(())
}

/// File descriptors kept for everything but client connections: the
/// stores' SQLite files and pools, the journal, logs, the runtimes' own.
const FD_RESERVE_MIN: u64 = 512;
/// The most connections a cap sized from the fd limit allows per edge
/// (each idle HTTP/2 connection holds some buffers, too).
const AUTO_CAP_MAX: usize = 10_000;

/// Connection caps that fit in the process's file descriptors.
#[derive(Debug, Clone, Copy)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` after raising it to the hard limit.
    pub nofile: u64,
    pub grpc: usize,
    pub http: usize,
}

impl FdBudget {
    /// Raises the soft fd limit to the hard one and sizes the caps left
    /// at 0: half each of what remains after the reserve (a tenth, at
    /// least [`FD_RESERVE_MIN`]), at most [`AUTO_CAP_MAX`].
    pub fn at_start(edge: &crate::config::EdgeArgs) -> Self {
        let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not raise the open-file limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
            }
        };
        Self::sized(nofile, edge.grpc_max_connections, edge.http_max_connections)
    }

    fn sized(nofile: u64, grpc: usize, http: usize) -> Self {
        let reserve = (nofile / 10).max(FD_RESERVE_MIN);
        let share = usize::try_from(nofile.saturating_sub(reserve) / 2)
            .unwrap_or(usize::MAX)
            .clamp(16, AUTO_CAP_MAX);
        let pick = |set: usize| if set == 0 { share } else { set };
        Self {
            nofile,
            grpc: pick(grpc),
            http: pick(http),
        }
    }
}

/// A listening socket with `backlog` (std's `bind` uses 128).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Creates the admin account on first start (idempotent across restarts).
/// An account at the admin email that is not an admin stops the node: it
/// was registered by someone else (the admin email was free), and starting
/// anyway would leave the node without the admin it was told to have.
async fn bootstrap_admin(ctx: &NodeCtx, args: &ServeArgs) -> anyhow::Result<()> {
    let email = users::normalize_email(&args.admin_email);
    // The users actor registers asynchronously; give it a moment.
    let mut tries = 0;
    let existing = loop {
        match ctx
            .mom
            .ask(
                &FindCredentials {
                    email: email.clone(),
                },
                Duration::from_secs(5),
            )
            .await
        {
            Ok(found) => break found,
            Err(MomError::Unavailable(_)) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("looking up the admin account: {e}")),
        }
    };
    if let Some(found) = existing {
        let role = found.account.user.role;
        anyhow::ensure!(
            role == Role::Admin,
            "the admin email {email} belongs to an existing {} account, not an admin: \
             refusing to start. Choose another --admin-email (MAILROOM_ADMIN_EMAIL), \
             or remove that account first",
            role.as_str()
        );
        return Ok(());
    }
    let (password, generated) = match &args.admin_password {
        Some(p) => (p.clone(), false),
        None => (hex::encode(rand::random::<[u8; 12]>()), true),
    };
    let opts = ExecOptions {
        owner: None,
        idempotency_key: None,
        wait: Duration::from_secs(10),
    };
    users::register(
        &ctx.mom,
        &ctx.passwords,
        &email,
        password.clone(),
        "Administrator",
        Role::Admin,
        opts,
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the admin account: {e}"))?;
    if generated {
        // Printed once, to the console only (not to the structured log).
        println!("admin account {email} created with password {password} (shown once; set MAILROOM_ADMIN_PASSWORD to choose it)");
    }
    tracing::info!(%email, "admin account created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FdBudget;

    #[test]
    fn caps_leave_a_reserve_of_descriptors() {
        let b = FdBudget::sized(20_000, 0, 0);
        assert_eq!((b.grpc, b.http), (9_000, 9_000));
        assert!(b.grpc + b.http <= 18_000);
        let small = FdBudget::sized(1024, 0, 0);
        assert_eq!((small.grpc, small.http), (256, 256));
        let huge = FdBudget::sized(1 << 20, 0, 0);
        assert_eq!(huge.grpc, 10_000);
    }

    #[test]
    fn explicit_caps_win() {
        let b = FdBudget::sized(20_000, 50, 70);
        assert_eq!((b.grpc, b.http), (50, 70));
    }
}
