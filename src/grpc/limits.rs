//! Connection limits of the gRPC edge, so that one client cannot take the
//! node down by holding sockets (README "Limits").
//!
//! tonic's builder has the HTTP/2 knobs (keepalive pings, streams per
//! connection) but no handshake or idle timeout and no connection cap, and
//! its accept loop retries a failed accept at once (a busy loop on
//! `EMFILE`). So the node feeds tonic its own incoming stream:
//!
//! - [`incoming`] accepts with back-off on errors (logged once per
//!   interval) and closes a connection beyond the cap at once, with an
//!   HTTP/2 GOAWAY so a gRPC client knows why;
//! - every admitted socket is a [`LimitedIo`]: it ends the connection (EOF
//!   to hyper) when the client has not sent the HTTP/2 preface and SETTINGS
//!   within the handshake timeout, or when no call has been open for the
//!   idle timeout;
//! - [`CallTracking`] (a tower layer) counts each connection's open calls,
//!   found by the peer address tonic puts in every request's extensions.
//!
//! An idle close is abrupt (no GOAWAY: only hyper could send one, and tonic
//! does not hand out its connections), but it only happens after a poll
//! found no unread byte and no open call, so a request already received is
//! never cut; one still on the wire gets `UNAVAILABLE`, which gRPC clients
//! retry.
use std::{
    collections::HashMap,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, LazyLock, Mutex, OnceLock,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::Stream;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The gRPC edge's limits, from [`crate::config::EdgeArgs`].
#[derive(Debug, Clone)]
pub struct GrpcLimits {
    /// Open connections at most (each is one file descriptor).
    pub max_connections: usize,
    /// Time to send the HTTP/2 preface and SETTINGS.
    pub handshake_timeout: Duration,
    /// Time with no open call before the connection is closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// HTTP/2 ping interval; `None`: no pings.
    pub keepalive_interval: Option<Duration>,
    /// Time a ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Concurrent streams (calls) per connection.
    pub max_streams: u32,
}

impl GrpcLimits {
    pub fn from_args(args: &crate::config::EdgeArgs, max_connections: usize) -> Self {
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Self {
            max_connections,
            handshake_timeout: Duration::from_secs(args.grpc_handshake_timeout_s.max(1)),
            idle_timeout: secs(args.grpc_idle_timeout_s),
            keepalive_interval: secs(args.grpc_keepalive_interval_s),
            keepalive_timeout: Duration::from_secs(args.grpc_keepalive_timeout_s.max(1)),
            max_streams: args.grpc_max_streams.max(1),
        }
    }
}

/// Warnings about refused connections and failed accepts, at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Pause after a failed accept, doubling up to [`BACKOFF_MAX`] while it keeps failing.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connections the edge holds, shared by the acceptor, the sockets and
/// [`CallTracking`].
#[derive(Default)]
pub struct Connections {
    open: AtomicUsize,
    by_peer: Mutex<HashMap<SocketAddr, Arc<ConnState>>>,
}

impl Connections {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A slot for a connection from `peer`, unless `cap` are open.
    fn admit(self: &Arc<Self>, peer: SocketAddr, cap: usize) -> Option<Admitted> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()?;
        let state = Arc::new(ConnState::default());
        self.by_peer
            .lock()
            .expect("connections lock")
            .insert(peer, state.clone());
        edge_metrics().open.inc();
        Some(Admitted {
            conns: self.clone(),
            peer,
            state,
        })
    }

    fn state_of(&self, peer: SocketAddr) -> Option<Arc<ConnState>> {
        self.by_peer
            .lock()
            .expect("connections lock")
            .get(&peer)
            .cloned()
    }
}

/// One admitted connection's slot; freed on drop.
struct Admitted {
    conns: Arc<Connections>,
    peer: SocketAddr,
    state: Arc<ConnState>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        {
            let mut by_peer = self.conns.by_peer.lock().expect("connections lock");
            // The peer's port may already belong to a newer connection.
            if by_peer
                .get(&self.peer)
                .is_some_and(|s| Arc::ptr_eq(s, &self.state))
            {
                by_peer.remove(&self.peer);
            }
        }
        self.conns.open.fetch_sub(1, Ordering::AcqRel);
        edge_metrics().open.dec();
    }
}

/// What the idle timer of one connection needs to know.
#[derive(Default)]
struct ConnState {
    /// Calls whose response has not finished.
    calls: AtomicUsize,
    /// When a call last started or finished ([`now_ms`]).
    last_change_ms: AtomicU64,
}

impl ConnState {
    fn touch(&self) {
        self.last_change_ms.store(now_ms(), Ordering::Release);
    }
}

/// Milliseconds since the first call, a clock the atomics can hold.
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Accepted, admitted connections for `serve_with_incoming_shutdown`.
/// Never yields an error: tonic would retry at once.
pub fn incoming(
    listener: TcpListener,
    limits: Arc<GrpcLimits>,
    conns: Arc<Connections>,
) -> impl Stream<Item = io::Result<LimitedIo>> {
    let acceptor = Acceptor {
        listener,
        limits,
        conns,
        backoff: BACKOFF_MIN,
        refused: Every::default(),
        failed: Every::default(),
    };
    futures::stream::unfold(acceptor, |mut a| async move {
        let io = a.next().await;
        Some((Ok(io), a))
    })
}

struct Acceptor {
    listener: TcpListener,
    limits: Arc<GrpcLimits>,
    conns: Arc<Connections>,
    backoff: Duration,
    refused: Every,
    failed: Every,
}

impl Acceptor {
    async fn next(&mut self) -> LimitedIo {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    self.backoff = BACKOFF_MIN;
                    match self.conns.admit(peer, self.limits.max_connections) {
                        Some(admitted) => {
                            let _ = tcp.set_nodelay(true);
                            return LimitedIo::new(tcp, admitted, &self.limits);
                        }
                        None => {
                            // Best effort: the socket buffer is empty, so this fits.
                            let _ = tcp.try_write(&REFUSAL);
                            drop(tcp);
                            edge_metrics().closed.with_label_values(&["refused"]).inc();
                            let cap = self.limits.max_connections;
                            self.refused.note(|suppressed| {
                                tracing::warn!(
                                    max_connections = cap,
                                    %peer,
                                    suppressed,
                                    "gRPC connection limit reached; closing new connections"
                                )
                            });
                        }
                    }
                }
                // The connection died in the queue: nothing wrong with the listener.
                Err(e) if per_connection(&e) => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying at once would
                    // spin; pause so that connections (and fds) can close.
                    let pause = self.backoff;
                    self.failed.note(|suppressed| {
                        tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, suppressed, "gRPC accept failed; backing off")
                    });
                    tokio::time::sleep(pause).await;
                    self.backoff = (pause * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A server preface (empty SETTINGS) and a GOAWAY (last stream 0,
/// ENHANCE_YOUR_CALM, "connection limit reached"): what a refused
/// connection reads before EOF.
static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    const DEBUG: &[u8] = b"connection limit reached";
    let mut b = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = (8 + DEBUG.len()) as u32;
    b.extend_from_slice(&len.to_be_bytes()[1..]);
    b.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0xbu32.to_be_bytes());
    b.extend_from_slice(DEBUG);
    b
});

/// Runs a log statement at most once per [`LOG_EVERY`], counting the rest.
#[derive(Default)]
struct Every {
    last: Option<Instant>,
    suppressed: u64,
}

impl Every {
    fn note(&mut self, log: impl FnOnce(u64)) {
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed);
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}

/// Bytes a client sends before its connection counts as set up: the
/// 24-byte preface, then a SETTINGS frame (9-byte header and its payload).
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;

#[derive(Debug)]
enum Phase {
    /// Counting the client's first bytes; `need` is known once the SETTINGS
    /// header is in.
    Handshake {
        seen: usize,
        header: [u8; FRAME_HEADER_LEN],
        need: Option<usize>,
    },
    Open,
    /// We ended it: reads answer EOF.
    Closed,
}

impl Phase {
    /// Feeds the client's bytes; true once the handshake is complete.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let Phase::Handshake { seen, header, need } = self else {
            return false;
        };
        for &b in bytes {
            if (PREFACE_LEN..PREFACE_LEN + FRAME_HEADER_LEN).contains(seen) {
                header[*seen - PREFACE_LEN] = b;
            }
            *seen += 1;
            if *seen == PREFACE_LEN + FRAME_HEADER_LEN {
                let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                *need = Some(PREFACE_LEN + FRAME_HEADER_LEN + len);
            }
            if need.is_some_and(|n| *seen >= n) {
                return true;
            }
        }
        false
    }
}

/// An admitted gRPC socket that closes itself on the handshake and idle
/// timeouts.
pub struct LimitedIo {
    io: TcpStream,
    phase: Phase,
    /// When to look again: the handshake deadline, then the idle one.
    timer: Option<Pin<Box<Sleep>>>,
    idle_timeout: Option<Duration>,
    admitted: Admitted,
}

impl LimitedIo {
    fn new(io: TcpStream, admitted: Admitted, limits: &GrpcLimits) -> Self {
        admitted.state.touch();
        Self {
            io,
            phase: Phase::Handshake {
                seen: 0,
                header: [0; FRAME_HEADER_LEN],
                need: None,
            },
            timer: Some(Box::pin(tokio::time::sleep(limits.handshake_timeout))),
            idle_timeout: limits.idle_timeout,
            admitted,
        }
    }

    /// The timer fired: close (with the reason), or re-arm it.
    fn expired(&mut self) -> Option<&'static str> {
        if matches!(self.phase, Phase::Handshake { .. }) {
            return Some("handshake_timeout");
        }
        let Some(idle) = self.idle_timeout else {
            // No idle timeout: nothing more to watch.
            self.timer = None;
            return None;
        };
        let state = &self.admitted.state;
        let now = now_ms();
        let next = if state.calls.load(Ordering::Acquire) > 0 {
            now + idle.as_millis() as u64
        } else {
            let due = state.last_change_ms.load(Ordering::Acquire) + idle.as_millis() as u64;
            if due <= now {
                return Some("idle");
            }
            due
        };
        if let Some(t) = &mut self.timer {
            let at = tokio::time::Instant::now() + Duration::from_millis(next - now);
            t.as_mut().reset(at);
        }
        None
    }

    fn on_read(&mut self, bytes: &[u8]) {
        if self.phase.feed(bytes) {
            self.phase = Phase::Open;
            self.admitted.state.touch();
            self.timer = self
                .idle_timeout
                .map(|idle| Box::pin(tokio::time::sleep(idle)));
        }
    }
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if matches!(this.phase, Phase::Closed) {
            return Poll::Ready(Ok(()));
        }
        // Bytes first: a request already received is served, not cut.
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if matches!(this.phase, Phase::Handshake { .. }) {
                    this.on_read(&buf.filled()[before..]);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        loop {
            let Some(timer) = &mut this.timer else {
                return Poll::Pending;
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(reason) = this.expired() {
                this.phase = Phase::Closed;
                this.timer = None;
                edge_metrics().closed.with_label_values(&[reason]).inc();
                tracing::debug!(peer = %this.admitted.peer, reason, "closing gRPC connection");
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connected for LimitedIo {
    // The plain TCP info, so `Request::remote_addr` keeps working.
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Counts open calls per connection for the idle timeout: a call is open
/// until its response body is done (or dropped).
#[derive(Clone)]
pub struct CallTracking<S> {
    inner: S,
    conns: Arc<Connections>,
}

impl<S> CallTracking<S> {
    pub fn layer(conns: Arc<Connections>) -> impl tower::Layer<S, Service = Self> + Clone {
        tower::layer::layer_fn(move |inner| CallTracking {
            inner,
            conns: conns.clone(),
        })
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for CallTracking<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<CallBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let call = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .and_then(|peer| self.conns.state_of(peer))
            .map(OpenCall::new);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            Ok(res.map(|inner| CallBody { inner, _call: call }))
        })
    }
}

/// One open call; closes on drop.
struct OpenCall(Arc<ConnState>);

impl OpenCall {
    fn new(state: Arc<ConnState>) -> Self {
        state.calls.fetch_add(1, Ordering::AcqRel);
        state.touch();
        Self(state)
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.touch();
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its call open until it is done.
pub struct CallBody<B> {
    inner: B,
    _call: Option<OpenCall>,
}

impl<B: http_body::Body + Unpin> http_body::Body for CallBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

struct EdgeMetrics {
    open: prometheus::IntGauge,
    closed: prometheus::IntCounterVec,
}

/// Registered in the node's registry on first use.
fn edge_metrics() -> &'static EdgeMetrics {
    static M: OnceLock<EdgeMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let registry = &crate::metrics::get().registry;
        let open =
            prometheus::IntGauge::new("grpc_connections", "Open gRPC connections").expect("metric");
        let closed = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "grpc_connections_closed_total",
                "gRPC connections the server closed, by reason (refused, handshake_timeout, idle)",
            ),
            &["reason"],
        )
        .expect("metric");
        registry.register(Box::new(open.clone())).expect("register");
        registry
            .register(Box::new(closed.clone()))
            .expect("register");
        for reason in ["refused", "handshake_timeout", "idle"] {
            closed.with_label_values(&[reason]);
        }
        EdgeMetrics { open, closed }
    })
}

/// Exports the connection metrics at zero before the first connection.
pub fn init_metrics() {
    edge_metrics();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake() -> Phase {
        Phase::Handshake {
            seen: 0,
            header: [0; FRAME_HEADER_LEN],
            need: None,
        }
    }

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn handshake_completes_after_the_preface_and_the_whole_settings_frame() {
        let mut p = handshake();
        assert!(!p.feed(PREFACE), "the preface alone is not a handshake");
        // SETTINGS with one 6-byte setting, fed in pieces.
        assert!(!p.feed(&[0, 0, 6, 0x4, 0]));
        assert!(!p.feed(&[0, 0, 0, 0, 0, 3, 0, 0]));
        assert!(
            p.feed(&[0, 100, 0xff]),
            "the last payload byte completes it"
        );
    }

    #[test]
    fn an_empty_settings_frame_completes_the_handshake_in_one_read() {
        let mut p = handshake();
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(b"and a request after it");
        assert!(p.feed(&bytes));
    }

    #[test]
    fn partial_bytes_are_not_a_handshake() {
        let mut p = handshake();
        assert!(!p.feed(b"PRI * HT"));
        assert!(!p.feed(&[]));
    }

    #[test]
    fn refusal_is_a_settings_frame_then_a_goaway() {
        let r = &*REFUSAL;
        assert_eq!(&r[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let len = u32::from_be_bytes([0, r[9], r[10], r[11]]) as usize;
        assert_eq!(r[12], 7, "GOAWAY");
        assert_eq!(r.len(), 18 + len);
        assert_eq!(&r[22..26], &[0, 0, 0, 0xb], "ENHANCE_YOUR_CALM");
        assert!(r.ends_with(b"connection limit reached"));
    }

    #[test]
    fn the_cap_admits_up_to_its_size_and_frees_slots_on_drop() {
        let conns = Arc::new(Connections::default());
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let first = conns.admit(a, 1).expect("room for one");
        assert!(conns.admit(b, 1).is_none(), "the second is refused");
        assert!(conns.state_of(a).is_some());
        drop(first);
        assert_eq!(conns.open(), 0);
        assert!(conns.state_of(a).is_none());
        assert!(conns.admit(b, 1).is_some());
    }

    #[test]
    fn a_stale_slot_does_not_unregister_the_peers_newer_connection() {
        let conns = Arc::new(Connections::default());
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let old = conns.admit(a, 10).unwrap();
        let new = conns.admit(a, 10).unwrap();
        drop(old);
        assert!(Arc::ptr_eq(&conns.state_of(a).unwrap(), &new.state));
    }
}
