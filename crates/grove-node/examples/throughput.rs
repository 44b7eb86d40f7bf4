//! How fast two nodes talk on this machine: remote send throughput and remote call round trip,
//! with TLS and without, against a raw TCP round trip on the same loopback.
//!
//! ```text
//! cargo run --release -p grove-node --example throughput            # plaintext
//! cargo run --release -p grove-node --example throughput -- --tls
//! ```
//!
//! The example starts a second copy of itself as the peer node. It is a quick look, not the
//! benchmark suite (which runs the same workloads side by side with Erlang distribution).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use grove_node::{NodeBuilder, TlsFiles};
use grove_otp::gen_server::{GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_runtime::{send, Addr, Context, Message};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
enum SinkMessage {
    Count(u64),
    Report(Addr<u64>),
}

struct Echo;

impl GenServer for Echo {
    type Call = u64;
    type Reply = u64;
    type Cast = ();
    type Info = ();

    async fn handle_call(&mut self, n: u64, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(n);
    }
}

fn builder(name: &str, tls: Option<&str>) -> NodeBuilder {
    let builder = NodeBuilder::new(name)
        .listen("127.0.0.1:0".parse().expect("address"))
        .secret("throughput example")
        .message::<SinkMessage>("example.SinkMessage")
        .message::<u64>("example.u64")
        .server::<Echo>("example.Echo");
    match tls {
        Some(dir) => builder.tls(TlsFiles::in_dir(dir)),
        None => builder.insecure_plaintext(),
    }
}

fn peer(tls: Option<String>) {
    grove_runtime::run(move |ctx: Context<SinkMessage>| async move {
        let node = builder("peer@127.0.0.1", tls.as_deref())
            .start()
            .await
            .expect("node");
        Server::start_opt(Echo, StartOptions::new().name("echo"))
            .await
            .expect("echo");
        grove_runtime::register("sink", ctx.pid()).expect("name");
        // A raw TCP echo beside it, for the baseline round trip.
        let raw = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let raw_addr = raw.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in raw.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let _ = stream.set_nodelay(true);
                    let mut buf = [0u8; 8];
                    while stream.read_exact(&mut buf).is_ok() {
                        if stream.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        println!("READY {} {}", node.listen_addr(), raw_addr);
        let mut ctx = ctx;
        let mut count = 0u64;
        loop {
            match ctx.recv().await {
                Message::User(SinkMessage::Count(n)) => count += n,
                Message::User(SinkMessage::Report(to)) => send(to, count),
                Message::Exit(_) | Message::Down(_) => return,
            }
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("peer") {
        peer(args.get(2).cloned());
        return;
    }
    let tls = args.iter().any(|a| a == "--tls").then(|| {
        let dir = std::env::temp_dir().join(format!("grove-throughput-{}", std::process::id()));
        grove_node::generate_dev_certs(&dir, &["127.0.0.1".into()]).expect("certs");
        dir.to_string_lossy().to_string()
    });
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .arg("peer")
        .args(tls.clone())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("peer");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = loop {
        let line = lines.next().expect("peer output").expect("line");
        if let Some(rest) = line.strip_prefix("READY ") {
            break rest.to_string();
        }
    };
    let (node_addr, raw_addr) = ready.split_once(' ').expect("two addresses");
    let (node_addr, raw_addr) = (node_addr.to_string(), raw_addr.to_string());

    // Raw TCP round trip, 8 bytes each way.
    let mut raw = std::net::TcpStream::connect(&raw_addr).expect("raw connect");
    raw.set_nodelay(true).expect("nodelay");
    let trips = 20_000;
    let mut buf = [0u8; 8];
    let start = Instant::now();
    for i in 0..trips as u64 {
        raw.write_all(&i.to_le_bytes()).expect("write");
        raw.read_exact(&mut buf).expect("read");
    }
    let raw_rtt = start.elapsed() / trips;

    let transport = if tls.is_some() { "TLS" } else { "plaintext" };
    let reason = grove_runtime::run(move |mut ctx: Context<u64>| async move {
        let node = builder("main@127.0.0.1", tls.as_deref())
            .start()
            .await
            .expect("node");
        node.connect(&node_addr).await.expect("connect");
        let sink = grove_node::whereis("sink", "peer@127.0.0.1")
            .await
            .expect("answer")
            .expect("sink");
        let echo = grove_node::whereis("echo", "peer@127.0.0.1")
            .await
            .expect("answer")
            .expect("echo");
        let sink = sink.assume_type::<SinkMessage>();
        let echo = Server::<Echo>::from_pid(echo);

        let calls = 20_000u32;
        for i in 0..1_000 {
            echo.call(i).await.expect("warm-up call");
        }
        let start = Instant::now();
        for i in 0..calls {
            echo.call(u64::from(i)).await.expect("call");
        }
        let call_rtt = start.elapsed() / calls;

        // Sends in windows of 50,000, each closed by a round trip, so the sender never runs
        // more than a window ahead of the peer (a send past the queue bound would be dropped).
        let messages = 2_000_000u64;
        let window = 50_000u64;
        let start = Instant::now();
        let mut received = 0;
        for _ in 0..messages / window {
            for _ in 0..window {
                send(sink, SinkMessage::Count(1));
            }
            send(sink, SinkMessage::Report(ctx.addr()));
            received = match ctx.recv_timeout(Duration::from_secs(60)).await {
                Some(Message::User(n)) => n,
                _ => break,
            };
        }
        let elapsed = start.elapsed();
        println!("transport: {transport}");
        println!(
            "raw TCP round trip:    {:>8.1} us",
            raw_rtt.as_secs_f64() * 1e6
        );
        println!(
            "remote call:           {:>8.1} us  ({:.2}x the raw round trip)",
            call_rtt.as_secs_f64() * 1e6,
            call_rtt.as_secs_f64() / raw_rtt.as_secs_f64()
        );
        println!(
            "remote send:           {:>8.0} messages/s ({received} of {messages} arrived)",
            received as f64 / elapsed.as_secs_f64()
        );
        println!("stats: {:?}", node.stats());
    });
    if !reason.is_normal() {
        eprintln!("the measurement failed: {reason}");
    }
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}
