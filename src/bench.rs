//! `mailroom bench mom`: durable envelopes/s through the real post office,
//! journal and service runtime (persist → deliver → apply+inbox → ack), and
//! latency at a fixed offered rate — each against a baseline measured in
//! the same run: one fsync'd SQLite transaction per message, which is what
//! a durable queue without group commit pays.
pub fn mom(args: crate::config::MomBenchArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not yet")
}
