//! The distribution scenarios on Grove: two nodes on loopback, each its own OS process, as on
//! the Erlang side (`bench/erlang/grove_bench_dist.erl`).
//!
//! There is one node per OS process, so every run starts afresh: the suite runs
//! `grove-bench --child-dist PROGRAM PARAMS...`, the *measuring node*, which starts
//! `grove-bench --child-dist-peer [TLS-DIR]`, the *other node*, measures, and prints one `value`
//! line like the other sides' programs.
//!
//! - `dist-send N TLS`: N small messages from one process to a process on the other node, then
//!   a round trip that returns how many arrived. The sender paces itself with
//!   `grove::node::wait_for_room` after every send, the way Erlang suspends a sender on a busy
//!   distribution port. [messages/s]
//! - `dist-call N TLS`: N sequential `Server::call`s to a GenServer on the other node, and N
//!   8-byte round trips over a plain TCP connection between the same two OS processes (tokio,
//!   nodelay, on the same runtime), the floor a call could reach; in alternating blocks of 500,
//!   so that both meet the same machine. [us per call, us per TCP round trip, call / TCP]
//! - Without TLS, `dist-send` and `dist-call` also report the share of their time that the
//!   record layer takes (sealing and opening, measured in the same process right after, on
//!   frames of the size those messages have: full 64 KiB records for the stream of sends, one
//!   record each way per call). [% of a send, % of a call]
//! - `dist-detect SIGNAL TICKTIME TLS`: the other node's OS process gets SIGNAL (9: killed,
//!   19: stopped, a hung node); the time from running `kill` until `monitor_node` delivers its
//!   `Down`. Grove's default failure detector runs (400 ms heartbeats, 1.5 s timeout); TICKTIME
//!   is the Erlang side's `net_ticktime` and is not used here. Times are in ms.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove::node::{NodeBuilder, TlsFiles};
use grove::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sides::Outcome;

const MEASURING: &str = "bench@127.0.0.1";
const OTHER: &str = "peer@127.0.0.1";
const SECRET: &str = "grove-bench distribution scenarios";
/// A generous bound that only stops a broken run from hanging.
const PATIENCE: Duration = Duration::from_secs(120);

/// What the sink on the other node takes.
#[derive(Serialize, Deserialize)]
enum SinkMessage {
    Count(u64),
    /// Asks how many have arrived.
    Report(Addr<u64>),
}

/// The server the calls go to: it answers with what it was sent.
struct Echo;

impl GenServer for Echo {}

impl Call<u64> for Echo {
    type Reply = u64;

    async fn handle_call(&mut self, n: u64, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(n);
    }
}

fn builder(name: &str, tls: Option<&Path>) -> NodeBuilder {
    let builder = NodeBuilder::new(name)
        .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .secret(SECRET)
        .message::<SinkMessage>("bench.SinkMessage")
        .message::<u64>("bench.u64")
        .server::<Echo>("bench.Echo", |echo| echo.call::<u64>("u64"));
    match tls {
        Some(dir) => builder.tls(TlsFiles::in_dir(dir)),
        None => builder.secret_only(),
    }
}

/// Runs one distribution measurement in a fresh OS process and returns its metrics in order.
pub fn run_in_child(program: &str, params: &[u64]) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = Command::new(exe);
    command.arg("--child-dist").arg(program);
    command.args(params.iter().map(u64::to_string));
    match crate::sides::run_program(command)? {
        Outcome::Values(values) => Ok(values),
        Outcome::Unsupported => Err(format!("no Grove scenario {program}")),
    }
}

/// The measuring node's `main`: `args` is the program and its parameters.
pub fn measuring_main(args: &[String]) -> Result<Vec<f64>, String> {
    let (program, params) = args.split_first().ok_or("--child-dist needs a scenario")?;
    let params: Vec<u64> = params
        .iter()
        .map(|p| p.parse().map_err(|_| format!("not a number: {p:?}")))
        .collect::<Result<_, _>>()?;
    let param = |i: usize| {
        params
            .get(i)
            .copied()
            .ok_or_else(|| format!("{program} needs {} parameters", i + 1))
    };
    let workload = match program.as_str() {
        "dist-send" => Workload::Send(param(0)?),
        "dist-call" => Workload::Call(param(0)?),
        "dist-detect" => Workload::Detect(match param(0)? {
            9 => "KILL",
            19 => "STOP",
            other => return Err(format!("dist-detect: signal 9 or 19, not {other}")),
        }),
        other => return Err(format!("no distribution scenario {other}")),
    };
    let tls = param(if program == "dist-detect" { 2 } else { 1 })? == 1;
    let certs = tls
        .then(|| {
            let dir =
                std::env::temp_dir().join(format!("grove-bench-certs-{}", std::process::id()));
            grove::node::generate_dev_certs(&dir, &["127.0.0.1".to_string()])
                .map(|_| dir)
                .map_err(|e| format!("cannot make certificates: {e}"))
        })
        .transpose()?;
    let certs_dir = certs.clone();
    let other = OtherNode::start(certs.as_deref())?;
    let result = Arc::new(Mutex::new(
        Err("the measurement did not finish".to_string()),
    ));
    let out = result.clone();
    let (node_addr, tcp_addr, os_pid) = (
        other.node_addr.clone(),
        other.tcp_addr.clone(),
        other.os_pid(),
    );
    grove::run(move |ctx: Context<u64>| async move {
        let measured = match tokio::time::timeout(
            PATIENCE,
            measure(ctx, workload, certs, node_addr, tcp_addr, os_pid),
        )
        .await
        {
            Ok(measured) => measured,
            Err(_) => Err(format!("no result within {PATIENCE:?}")),
        };
        *out.lock().unwrap_or_else(|e| e.into_inner()) = measured;
    });
    drop(other);
    if let Some(dir) = &certs_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let measured = result.lock().unwrap_or_else(|e| e.into_inner()).clone();
    measured
}

#[derive(Clone, Copy)]
enum Workload {
    Send(u64),
    Call(u64),
    /// The signal's name, for `kill -NAME`.
    Detect(&'static str),
}

async fn measure(
    mut ctx: Context<u64>,
    workload: Workload,
    certs: Option<PathBuf>,
    node_addr: String,
    tcp_addr: String,
    os_pid: u32,
) -> Result<Vec<f64>, String> {
    let node = builder(MEASURING, certs.as_deref())
        .start()
        .await
        .map_err(|e| format!("the measuring node did not start: {e}"))?;
    node.connect(&node_addr)
        .await
        .map_err(|e| format!("cannot connect to the other node: {e}"))?;
    let remote = |name: &'static str| async move {
        grove::node::whereis(name, OTHER)
            .await
            .map_err(|e| format!("whereis {name}: {e}"))?
            .ok_or_else(|| format!("nothing registered as {name} on the other node"))
    };
    match workload {
        Workload::Send(n) => {
            let sink = remote("sink").await?.assume_type::<SinkMessage>();
            let warm_up = 10_000;
            send_counts(sink, warm_up).await;
            arrived(&mut ctx, sink).await?;
            let t0 = Instant::now();
            send_counts(sink, n).await;
            let arrived = arrived(&mut ctx, sink).await?;
            let seconds = t0.elapsed().as_secs_f64();
            if arrived != warm_up + n {
                return Err(format!("{arrived} of {} messages arrived", warm_up + n));
            }
            let rate = n as f64 / seconds;
            if certs.is_some() {
                return Ok(vec![rate]);
            }
            // The records' share: sealing and opening these messages' frames in records as
            // full as a busy connection's (64 KiB), against the time each message took here.
            let frame = grove_node::testing::message_frame_len(
                "bench.SinkMessage",
                &SinkMessage::Count(1),
                false,
            );
            let per_record = (64 * 1024 / frame).max(1);
            let records = (n as usize / per_record).max(64);
            let took = grove_node::testing::record_cost(frame, per_record, records);
            let per_message = took.as_secs_f64() / (records * per_record) as f64;
            Ok(vec![rate, per_message * rate * 100.0])
        }
        Workload::Call(n) => {
            let echo = Server::<Echo>::from_pid(remote("echo").await?);
            let mut tcp = tokio::net::TcpStream::connect(&tcp_addr)
                .await
                .map_err(|e| format!("cannot connect to the TCP echo: {e}"))?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            calls(echo, 1_000).await?;
            round_trips(&mut tcp, 1_000).await?;
            // In alternating blocks, so that both see the machine in the same moods.
            let (mut call_time, mut tcp_time) = (Duration::ZERO, Duration::ZERO);
            let mut done = 0;
            while done < n {
                let block = CALL_BLOCK.min(n - done);
                let t0 = Instant::now();
                calls(echo, block).await?;
                call_time += t0.elapsed();
                let t0 = Instant::now();
                round_trips(&mut tcp, block).await?;
                tcp_time += t0.elapsed();
                done += block;
            }
            let call = call_time.as_secs_f64() * 1e6 / n as f64;
            let raw = tcp_time.as_secs_f64() * 1e6 / n as f64;
            if certs.is_some() {
                return Ok(vec![call, raw, call / raw]);
            }
            // The records' share: a call's request and its reply each cross in a record of
            // their own (nothing else is queued), sealed on one side and opened on the other.
            let frame = grove_node::testing::message_frame_len("bench.Echo.u64", &u64::MAX, true);
            let took = grove_node::testing::record_cost(frame, 1, n as usize);
            let per_call = 2.0 * took.as_secs_f64() * 1e6 / n as f64;
            Ok(vec![call, raw, call / raw, per_call / call * 100.0])
        }
        Workload::Detect(signal) => {
            grove::node::monitor_node(OTHER).ok_or("monitor_node outside a process")?;
            let t0 = Instant::now();
            let killed = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(os_pid.to_string())
                .status()
                .map_err(|e| format!("cannot run kill: {e}"))?;
            if !killed.success() {
                return Err(format!("kill -{signal} {os_pid} failed"));
            }
            loop {
                match ctx.recv_timeout(PATIENCE).await {
                    Some(Message::Down(down)) if down.pid == grove::node::node_pid(OTHER) => {
                        return Ok(vec![t0.elapsed().as_secs_f64() * 1e3]);
                    }
                    Some(_) => {}
                    None => return Err("the other node's loss was never noticed".to_string()),
                }
            }
        }
    }
}

/// How many calls, then TCP round trips, `dist-call` times at a go.
const CALL_BLOCK: u64 = 500;

/// `n` sequential calls to the echo server.
async fn calls(echo: Server<Echo>, n: u64) -> Result<(), String> {
    for i in 0..n {
        if echo.call(i).await != Ok(i) {
            return Err(format!("call {i} did not come back"));
        }
    }
    Ok(())
}

/// Sends `n` counts to the sink, waiting for room in the connection after each.
async fn send_counts(sink: Addr<SinkMessage>, n: u64) {
    for _ in 0..n {
        send(sink, SinkMessage::Count(1));
        grove::node::wait_for_room(sink.pid()).await;
    }
}

/// How many counts the sink has had (a round trip behind everything sent before).
async fn arrived(ctx: &mut Context<u64>, sink: Addr<SinkMessage>) -> Result<u64, String> {
    send(sink, SinkMessage::Report(ctx.addr()));
    match ctx.recv_timeout(PATIENCE).await {
        Some(Message::User(count)) => Ok(count),
        _ => Err("the sink did not report".to_string()),
    }
}

async fn round_trips(tcp: &mut tokio::net::TcpStream, n: u64) -> Result<(), String> {
    let mut buf = [0u8; 8];
    for i in 0..n {
        tcp.write_all(&i.to_le_bytes())
            .await
            .map_err(|e| format!("TCP write: {e}"))?;
        tcp.read_exact(&mut buf)
            .await
            .map_err(|e| format!("TCP read: {e}"))?;
    }
    Ok(())
}

/// The other node, a child OS process; killed when dropped.
struct OtherNode {
    child: Child,
    node_addr: String,
    tcp_addr: String,
}

impl OtherNode {
    fn start(certs: Option<&Path>) -> Result<OtherNode, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--child-dist-peer")
            .arg(certs.map_or("-".into(), |dir| dir.to_string_lossy().to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the other node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout from the other node")?;
        // Read on a thread, so that a node that never gets ready cannot hang the run.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| line.strip_prefix("READY ").map(str::to_string));
            let _ = tx.send(ready);
        });
        let ready = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(ready)) => ready,
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(match outcome {
                    Ok(_) => "the other node exited before it was ready".to_string(),
                    Err(_) => "the other node was not ready within 30 s".to_string(),
                });
            }
        };
        let (node_addr, tcp_addr) = ready
            .split_once(' ')
            .ok_or_else(|| format!("the other node said {ready:?}"))?;
        Ok(OtherNode {
            node_addr: node_addr.to_string(),
            tcp_addr: tcp_addr.to_string(),
            child,
        })
    }

    fn os_pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OtherNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The other node's `main`: a sink for `dist-send`, an Echo server for `dist-call`, a TCP echo
/// for the baseline. Runs until its stdin closes.
pub fn other_main(certs: &str) {
    let certs = (certs != "-").then(|| PathBuf::from(certs));
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let reason = grove::run(move |ctx: Context<SinkMessage>| async move {
        other_node(ctx, certs).await.map_err(ExitReason::from)
    });
    eprintln!("the other node stopped: {reason}");
    std::process::exit(1);
}

async fn other_node(mut ctx: Context<SinkMessage>, certs: Option<PathBuf>) -> Result<(), String> {
    let node = builder(OTHER, certs.as_deref())
        .start()
        .await
        .map_err(|e| format!("the other node did not start: {e}"))?;
    Server::start_opt(Echo, StartOptions::new().name("echo"))
        .await
        .map_err(|e| format!("echo: {e}"))?;
    grove::process::register("sink", ctx.pid()).map_err(|e| format!("sink: {e}"))?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("TCP echo: {e}"))?;
    let tcp_addr = tcp.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(tcp_echo(tcp));
    println!("READY {} {tcp_addr}", node.listen_addr());
    let mut count = 0;
    loop {
        match ctx.recv().await {
            Message::User(SinkMessage::Count(n)) => count += n,
            Message::User(SinkMessage::Report(to)) => send(to, count),
            _ => {}
        }
    }
}

async fn tcp_echo(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; 8];
            while stream.read_exact(&mut buf).await.is_ok() {
                if stream.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
    }
}
