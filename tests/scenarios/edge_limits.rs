//! The gRPC edge cannot be taken down by holding sockets: idle and
//! half-open connections are closed within the documented timeouts, beyond
//! the connection cap a new connection is closed at once, a failing accept
//! backs off instead of spinning — and REST keeps answering throughout.
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use crate::support::{eventually, Node};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 0x4, 0, 0, 0, 0, 0];

/// Raises this test process's soft fd limit; fails if it cannot hold `need`.
fn fds_for(need: u64) {
    let n = rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
    assert!(
        n >= need,
        "this test needs {need} file descriptors, the hard limit allows {n}"
    );
}

fn grpc_addr(node: &Node) -> SocketAddr {
    node.grpc.trim_start_matches("http://").parse().unwrap()
}

/// What a held connection sends before it goes quiet.
#[derive(Clone, Copy, Debug)]
enum Opening {
    Nothing,
    PartialPreface,
    Preface,
    /// Preface and SETTINGS: a complete handshake, then no call.
    Handshake,
}

impl Opening {
    fn bytes(self) -> Vec<u8> {
        match self {
            Opening::Nothing => Vec::new(),
            Opening::PartialPreface => PREFACE[..8].to_vec(),
            Opening::Preface => PREFACE.to_vec(),
            Opening::Handshake => [PREFACE, EMPTY_SETTINGS].concat(),
        }
    }
}

async fn open(addr: SocketAddr, opening: Opening) -> TcpStream {
    let mut s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .expect("connect within 10 s")
        .expect("connect");
    let bytes = opening.bytes();
    if !bytes.is_empty() {
        s.write_all(&bytes).await.expect("write opening");
    }
    s
}

/// Reads until the server closes; `None` if it is still open at `until`.
/// Returns what was read.
async fn read_to_close(s: &mut TcpStream, until: Instant) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn metric(node: &Node, series: &str) -> f64 {
    let body = node
        .client
        .get(format!("{}/metrics", node.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// GETs /healthz every 100 ms (2 s timeout each) until stopped; counts
/// answers and failures.
struct Pinger {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl Pinger {
    fn start(node: &Node) -> Pinger {
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{}/healthz", node.http);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut ok, mut failed) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => ok += 1,
                    Ok(r) => failed.push(format!("status {}", r.status())),
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (ok, failed)
        });
        Pinger { stop, task }
    }

    /// Stops and asserts every answer was 200 and there were at least `min`.
    async fn finish(self, min: usize) {
        self.stop.store(true, Ordering::Relaxed);
        let (ok, failed) = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("pinger stops")
            .unwrap();
        assert!(failed.is_empty(), "REST /healthz failed: {failed:?}");
        assert!(ok >= min, "only {ok} /healthz answers");
    }
}

async fn grpc_health_check(node: &Node) -> Result<ServingStatus, String> {
    let fut = async {
        let ch = tonic::transport::Channel::from_shared(node.grpc.clone())
            .unwrap()
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))?;
        HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status())
            .map_err(|s| format!("check: {s}"))
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
}

#[tokio::test]
async fn a_thousand_idle_grpc_connections_are_closed_within_the_timeouts_while_rest_answers() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    // Scheduling slack on a busy machine; closing later than this is a failure.
    const SLACK: Duration = Duration::from_secs(3);
    fds_for(4_000);
    let node = Node::start_with(&[
        "--grpc-handshake-timeout-s",
        "2",
        "--grpc-idle-timeout-s",
        "2",
    ])
    .await;
    let addr = grpc_addr(&node);
    let pinger = Pinger::start(&node);
    let mix = [
        (Opening::Nothing, 700),
        (Opening::PartialPreface, 100),
        (Opening::Preface, 100),
        (Opening::Handshake, 100),
    ];
    let connected = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (opening, n) in mix {
        for _ in 0..n {
            let connected = connected.clone();
            tasks.push(tokio::spawn(async move {
                // The server's clock starts between these two instants.
                let connecting = Instant::now();
                let mut s = open(addr, opening).await;
                let opened = Instant::now();
                connected.fetch_add(1, Ordering::Relaxed);
                let closed = read_to_close(&mut s, opened + TIMEOUT + SLACK + SLACK).await;
                (
                    opening,
                    closed.map(|_| (connecting.elapsed(), opened.elapsed())),
                )
            }));
        }
    }
    eventually(Duration::from_secs(20), "1,000 connections open", || {
        let n = connected.load(Ordering::Relaxed);
        async move { n == 1_000 }
    })
    .await;
    // A real client still gets in while they are held.
    assert_eq!(
        grpc_health_check(&node).await,
        Ok(ServingStatus::Serving),
        "a new gRPC client during the flood"
    );
    let mut times: Vec<(Opening, Option<(Duration, Duration)>)> = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    let still_open: Vec<_> = times.iter().filter(|(_, c)| c.is_none()).collect();
    assert!(
        still_open.is_empty(),
        "{} connections still open {:?} after opening: {:?}",
        still_open.len(),
        TIMEOUT + SLACK + SLACK,
        still_open.iter().take(5).collect::<Vec<_>>()
    );
    let closed: Vec<(Opening, (Duration, Duration))> =
        times.iter().map(|(o, c)| (*o, c.unwrap())).collect();
    // Measured from before connecting: never shorter than the timeout.
    let earliest = closed.iter().min_by_key(|(_, (d, _))| *d).unwrap();
    // Measured from the connection's first instant: at most timeout + slack.
    let latest = closed.iter().max_by_key(|(_, (_, d))| *d).unwrap();
    assert!(
        earliest.1 .0 >= TIMEOUT - Duration::from_millis(50),
        "closed before the timeout: {earliest:?}"
    );
    assert!(
        latest.1 .1 <= TIMEOUT + SLACK,
        "closed {latest:?} after opening (timeout {TIMEOUT:?}); flood took {:?}",
        started.elapsed()
    );
    pinger.finish(10).await;

    eventually(
        Duration::from_secs(10),
        "no gRPC connection left",
        || async { metric(&node, "mailroom_grpc_connections").await == 0.0 },
    )
    .await;
    let by = |reason: &'static str| {
        let node = &node;
        async move {
            metric(
                node,
                &format!("mailroom_grpc_connections_closed_total{{reason=\"{reason}\"}}"),
            )
            .await
        }
    };
    assert!(by("handshake_timeout").await >= 900.0);
    assert!(by("idle").await >= 100.0);
    assert_eq!(by("refused").await, 0.0);
}

#[tokio::test]
async fn beyond_the_connection_cap_a_new_grpc_connection_is_closed_at_once_and_rest_is_fine() {
    const CAP: usize = 20;
    let node = Node::start_with(&[
        "--grpc-max-connections",
        "20",
        "--grpc-handshake-timeout-s",
        "60",
    ])
    .await;
    let addr = grpc_addr(&node);
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut s = open(addr, Opening::Nothing).await;
        // Admitted: the server's preface (a SETTINGS frame) arrives, the socket stays open.
        let mut head = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
            .await
            .expect("server preface within 5 s")
            .expect("server preface");
        assert_eq!(head[3], 0x4, "SETTINGS first: {head:?}");
        held.push(s);
    }
    eventually(Duration::from_secs(5), "20 connections counted", || async {
        metric(&node, "mailroom_grpc_connections").await == CAP as f64
    })
    .await;

    let mut extra = open(addr, Opening::Nothing).await;
    let refused_at = Instant::now();
    let got = read_to_close(&mut extra, Instant::now() + Duration::from_secs(5))
        .await
        .expect("the connection beyond the cap is closed within 5 s");
    assert!(refused_at.elapsed() < Duration::from_secs(2));
    assert!(got.len() >= 18 && got[12] == 0x7, "a GOAWAY: {got:?}");
    assert!(
        got.windows(24).any(|w| w == b"connection limit reached"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // A gRPC client is told no at once, rather than left hanging.
    assert!(grpc_health_check(&node).await.is_err());
    assert!(
        metric(
            &node,
            "mailroom_grpc_connections_closed_total{reason=\"refused\"}"
        )
        .await
            >= 2.0
    );
    let res = node
        .client
        .get(format!("{}/healthz", node.http))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "REST at the gRPC cap");

    // Freeing slots lets clients in again.
    held.truncate(CAP - 5);
    eventually(Duration::from_secs(5), "slots freed", || async {
        metric(&node, "mailroom_grpc_connections").await <= (CAP - 5) as f64
    })
    .await;
    assert_eq!(grpc_health_check(&node).await, Ok(ServingStatus::Serving));
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at state.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    ticks / 100.0
}

fn full_log(node: &Node) -> String {
    std::fs::read_to_string(node.data.join("node.log")).unwrap_or_default()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn when_file_descriptors_run_out_the_grpc_accept_loop_backs_off_instead_of_spinning() {
    const NOFILE: u64 = 400;
    fds_for(2_000);
    // A cap above the fd limit, so that accept itself fails with EMFILE.
    let node = Node::start_with_nofile(
        &[
            "--grpc-max-connections",
            "100000",
            "--grpc-handshake-timeout-s",
            "60",
        ],
        NOFILE,
    )
    .await;
    let pid = node.pid();
    let addr = grpc_addr(&node);
    let used = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    assert!(used < NOFILE - 50, "the node already uses {used} fds");
    let mut flood = Vec::new();
    for _ in 0..(NOFILE - used + 100) {
        flood.push(open(addr, Opening::Nothing).await);
    }
    eventually(
        Duration::from_secs(10),
        "the node's fds exhausted",
        || async {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .count() as u64
                >= NOFILE - 1
        },
    )
    .await;
    eventually(Duration::from_secs(10), "the accept failure logged", || {
        let log = full_log(&node);
        async move { log.contains("gRPC accept failed; backing off") }
    })
    .await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let burnt = cpu_seconds(pid) - before;
    assert!(
        burnt < 0.5,
        "the node burnt {burnt:.2} s of CPU in 2 s with its fds exhausted"
    );
    let warnings = full_log(&node)
        .matches("gRPC accept failed; backing off")
        .count();
    assert!(
        warnings <= 2,
        "{warnings} accept warnings: logged once per interval"
    );

    drop(flood);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match grpc_health_check(&node).await {
            Ok(ServingStatus::Serving) => break,
            other => assert!(
                Instant::now() < until,
                "gRPC did not recover after the flood: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = node
        .client
        .get(format!("{}/healthz", node.http))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Complete HTTP/2 frames at the start of `buf`: (type, flags, payload),
/// and how many bytes they took.
fn frames(buf: &[u8]) -> (Vec<(u8, u8, Vec<u8>)>, usize) {
    let (mut out, mut at) = (Vec::new(), 0);
    while buf.len() >= at + 9 {
        let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
        if buf.len() < at + 9 + len {
            break;
        }
        out.push((buf[at + 3], buf[at + 4], buf[at + 9..at + 9 + len].to_vec()));
        at += 9 + len;
    }
    (out, at)
}

const PING: u8 = 0x6;

#[tokio::test]
async fn http2_pings_close_a_connection_whose_peer_stopped_answering_and_keep_one_that_answers() {
    // No idle timeout: only the keepalive can end these connections.
    let node = Node::start_with(&[
        "--grpc-idle-timeout-s",
        "0",
        "--grpc-keepalive-interval-s",
        "1",
        "--grpc-keepalive-timeout-s",
        "1",
    ])
    .await;
    let addr = grpc_addr(&node);

    // Before connecting: the server's clocks start after this.
    let opened = Instant::now();
    let mut silent = open(addr, Opening::Handshake).await;
    let mut answering = open(addr, Opening::Handshake).await;
    let answerer = tokio::spawn(async move {
        let (mut buf, mut answered) = (Vec::new(), 0);
        let mut chunk = [0u8; 1024];
        let until = Instant::now() + Duration::from_secs(5);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, answering.read(&mut chunk)).await {
                Err(_) => break,
                Ok(Ok(0)) | Ok(Err(_)) => return Err(format!("closed after {answered} pongs")),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
            let (fs, used) = frames(&buf);
            buf.drain(..used);
            for (kind, flags, payload) in fs {
                if kind == PING && flags & 0x1 == 0 {
                    let mut ack = vec![0, 0, 8, PING, 0x1, 0, 0, 0, 0];
                    ack.extend_from_slice(&payload);
                    answering.write_all(&ack).await.map_err(|e| e.to_string())?;
                    answered += 1;
                }
            }
        }
        Ok(answered)
    });

    let got = read_to_close(&mut silent, opened + Duration::from_secs(6))
        .await
        .expect("a peer that never answers pings is closed within interval + timeout (+ slack)");
    assert!(
        opened.elapsed() >= Duration::from_millis(1_800),
        "closed too early"
    );
    let (fs, _) = frames(&got);
    assert!(
        fs.iter()
            .any(|(kind, flags, _)| *kind == PING && flags & 0x1 == 0),
        "the server pinged first: {fs:?}"
    );
    let answered = answerer
        .await
        .unwrap()
        .expect("a peer that answers pings stays connected");
    assert!(answered >= 2, "only {answered} pings in 5 s");
}

#[tokio::test]
async fn rest_closes_silent_slow_and_idle_keep_alive_connections_within_its_timeouts() {
    let node =
        Node::start_with(&["--http-request-timeout-s", "1", "--http-keep-alive-s", "1"]).await;
    let addr: SocketAddr = node.http.trim_start_matches("http://").parse().unwrap();
    let connect = || async {
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .expect("connect within 10 s")
            .expect("connect")
    };
    // Before connecting: the server's clocks start after this.
    let opened = Instant::now();
    let mut silent = connect().await;
    let mut slow = connect().await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut kept = connect().await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let bound = Instant::now() + Duration::from_secs(5);

    let got = read_to_close(&mut silent, bound).await;
    assert!(
        got.is_some(),
        "a silent connection is closed after the request timeout"
    );
    let got = read_to_close(&mut slow, bound)
        .await
        .expect("a request head never finished is closed after the request timeout");
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let got = read_to_close(&mut kept, bound)
        .await
        .expect("an idle keep-alive connection is closed after keep-alive");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed before any timeout"
    );
}

#[tokio::test]
async fn an_open_call_keeps_its_connection_past_the_idle_timeout_and_an_idle_client_reconnects() {
    let node = Node::start_with(&["--grpc-idle-timeout-s", "1"]).await;
    let idle_closes = || {
        metric(
            &node,
            "mailroom_grpc_connections_closed_total{reason=\"idle\"}",
        )
    };
    let ch = crate::support::channel(&node).await;
    let mut health = HealthClient::new(ch.clone());
    let check = HealthCheckRequest {
        service: String::new(),
    };
    let mut watch = health.watch(check.clone()).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("Watch answers")
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    // Three idle timeouts with the Watch call open: the connection stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watch.message())
            .await
            .is_err(),
        "the Watch stream is still open, with nothing to say"
    );
    assert_eq!(idle_closes().await, 0.0);

    // With no call open it is closed, and the same channel reconnects.
    drop(watch);
    eventually(
        Duration::from_secs(5),
        "the idle connection closed",
        || async { idle_closes().await >= 1.0 },
    )
    .await;
    let r = tokio::time::timeout(Duration::from_secs(10), health.check(check))
        .await
        .expect("Check answers within 10 s")
        .expect("the channel reconnects");
    assert_eq!(r.into_inner().status(), ServingStatus::Serving);
}
