//! `mailroom`: the node (`serve`, the default) and its tools.
use clap::Parser as _;
use mailroom::config::{BenchCmd, Cli, Cmd};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Serve(cli.serve)) {
        Cmd::Serve(args) => {
            mailroom::telemetry::init(args.log_format);
            tracing::info!(config = ?args, "starting");
            actix::System::new().block_on(mailroom::node::serve(args))
        }
        Cmd::Bench(BenchCmd::Mom(args)) => mailroom::bench::mom(args),
        Cmd::Bench(BenchCmd::Orders(args)) => mailroom::bench_orders::orders(args),
        Cmd::Bench(BenchCmd::Queues(args)) => mailroom::bench_queues::queues(args),
        Cmd::Bench(BenchCmd::Auth(args)) => mailroom::bench_auth::auth(args),
        Cmd::Client(cmd) => mailroom::client::main(cmd),
    }
}
