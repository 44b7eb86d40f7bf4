//! The harness of the multi-node tests: real OS processes on loopback.
//!
//! A test binary plays two parts. Run normally, it is the *test node*: one node for the whole
//! binary (there is one node per OS process), on a runtime shared by its tests. Run again by
//! [`Peer::start`] with `GROVE_PEER_NAME` set (through its ignored `peer_main` test), it is a
//! *peer node*: it registers the test kinds, starts a `counter` server and an `echo` process,
//! prints its address, and runs until killed or until its stdin closes (so no peer outlives its
//! test run).
//!
//! Every timeout here is a generous bound that only stops a broken test from hanging.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use grove_node::{Node, NodeBuilder, TlsFiles};
use grove_otp::gen_server::{Call, Cast, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_runtime::{send, Addr, Context, ExitReason, Message, Pid};
use serde::{Deserialize, Serialize};

/// How long a test waits for something that should happen.
pub const LONG: Duration = Duration::from_secs(10);

pub const SECRET: &str = "grove test cluster secret";

/// A counter that lives on a node; calls and casts reach it from anywhere.
#[derive(Default)]
pub struct Counter {
    count: u64,
}

#[derive(Serialize, Deserialize, Debug)]
pub enum Op {
    Get,
    Add(u64),
    /// Answers after this many milliseconds.
    Slow(u64),
    /// Stops the server with this reason instead of answering.
    Crash(String),
}

impl GenServer for Counter {}

impl Call<Op> for Counter {
    type Reply = u64;

    async fn handle_call(&mut self, op: Op, from: ReplyTo<u64>, ctx: &mut ServerContext<Self>) {
        match op {
            Op::Get => {}
            Op::Add(n) => self.count += n,
            Op::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Op::Crash(reason) => {
                ctx.stop(ExitReason::error(reason));
                drop(from);
                return;
            }
        }
        from.reply(self.count);
    }
}

impl Cast<u64> for Counter {
    async fn handle_cast(&mut self, n: u64, _: &mut ServerContext<Self>) {
        self.count += n;
    }
}

/// Reads the count; registered for distribution on the test node only.
#[derive(Serialize, Deserialize, Debug)]
pub struct Peek;

impl Call<Peek> for Counter {
    type Reply = u64;

    async fn handle_call(&mut self, _: Peek, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(self.count);
    }
}

/// A line of text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Text(pub String);

/// Asks an echo process to send `text` back to `reply_to` (a pid inside a message).
#[derive(Serialize, Deserialize, Debug)]
pub enum EchoRequest {
    Echo {
        text: String,
        reply_to: Addr<Text>,
    },
    /// Exit with this reason.
    Exit(String),
}

/// What a spawned echo process is started with.
#[derive(Serialize, Deserialize, Debug)]
pub struct EchoArgs {
    pub prefix: String,
}

async fn echo(mut ctx: Context<EchoRequest>, prefix: String) -> ExitReason {
    loop {
        match ctx.recv().await {
            Message::User(EchoRequest::Echo { text, reply_to }) => {
                send(reply_to, Text(format!("{prefix}{text}")))
            }
            Message::User(EchoRequest::Exit(reason)) => return ExitReason::error(reason),
            _ => {}
        }
    }
}

/// Registers the kinds both the test node and the peers use.
pub fn register(builder: NodeBuilder) -> NodeBuilder {
    builder
        .message::<Text>("test.Text")
        .message::<EchoRequest>("test.EchoRequest")
        .server::<Counter>("test.Counter", |counter| {
            let counter = counter.call::<Op>("Op").cast::<u64>("u64");
            // Only the test node knows `Peek`: a call of it shows what a peer that does not
            // know a request type answers.
            if std::env::var_os("GROVE_PEER_NAME").is_none() {
                counter.call::<Peek>("Peek")
            } else {
                counter
            }
        })
        .spawnable("test.echo", |args: EchoArgs| {
            grove_runtime::spawn_opt(grove_runtime::SpawnOptions::new(), move |ctx| {
                echo(ctx, args.prefix)
            })
            .map(|spawned| spawned.addr)
        })
}

/// Development certificates shared by the test node and its peers, made once per binary, under
/// the target directory's scratch space (removed by `cargo clean`, not left in `/tmp`).
pub fn certs() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("grove-node-test-certs-{}", std::process::id()));
        grove_node::generate_dev_certs(&dir, &["127.0.0.1".to_string()])
            .expect("development certificates");
        dir
    })
    .clone()
}

/// Logs to stderr when `RUST_LOG` is set (`RUST_LOG=grove_node=debug cargo test ...`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The runtime the test node and every test of this binary run on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Starts this binary's test node (once) with `configure` applied, and returns it.
pub fn test_node(name: &str, configure: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        init_logs();
        let builder = register(
            NodeBuilder::new(name)
                .listen("127.0.0.1:0".parse().expect("address"))
                .secret(SECRET),
        );
        let builder = configure(builder);
        runtime()
            .block_on(builder.start())
            .expect("the test node starts")
    })
    .clone()
}

/// How a peer is set up.
#[derive(Clone, Debug, Default)]
pub struct PeerOptions {
    pub secret: Option<String>,
    /// `None`: secret only (no TLS). `Some(dir)`: TLS with the certificates in `dir`.
    pub tls: Option<PathBuf>,
    /// `host:port` addresses to connect to at start.
    pub connect: Vec<String>,
    /// Heartbeat interval and timeout in milliseconds.
    pub heartbeat: Option<(u64, u64)>,
    /// Where to listen (default `127.0.0.1:0`).
    pub listen: Option<String>,
}

/// A peer node: a child OS process. Killed when dropped.
pub struct Peer {
    pub name: String,
    pub addr: String,
    child: Child,
}

impl Peer {
    /// Starts a peer named `name` and waits until it listens.
    pub fn start(name: &str, options: PeerOptions) -> Peer {
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new(exe);
        command
            .args([
                "peer_main",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("GROVE_PEER_NAME", name)
            .env(
                "GROVE_PEER_SECRET",
                options.secret.unwrap_or_else(|| SECRET.to_string()),
            )
            .env("GROVE_PEER_CONNECT", options.connect.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &options.tls {
            command.env("GROVE_PEER_TLS", dir);
        }
        if let Some((interval, timeout)) = options.heartbeat {
            command.env("GROVE_PEER_HEARTBEAT", format!("{interval},{timeout}"));
        }
        if let Some(listen) = &options.listen {
            command.env("GROVE_PEER_LISTEN", listen);
        }
        let mut child = command.spawn().expect("spawn a peer");
        let stdout = child.stdout.take().expect("peer stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    // libtest may have printed "test peer_main ... " on the same line.
                    if let Some((_, addr)) = line.split_once("GROVE-READY ") {
                        break addr.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("peer {name} exited before it was ready");
                }
            }
        };
        // Keep draining its stdout so the peer never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Peer {
            name: name.to_string(),
            addr,
            child,
        }
    }

    pub fn os_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL: the process vanishes, the kernel closes its sockets.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP: the process hangs with its sockets open.
    pub fn stop(&self) {
        unsafe { libc::kill(self.os_pid(), libc::SIGSTOP) };
    }

    /// SIGCONT.
    pub fn resume(&self) {
        unsafe { libc::kill(self.os_pid(), libc::SIGCONT) };
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.resume();
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.flush();
        }
        self.kill();
    }
}

/// The body of a peer process (see the module docs). Returns only when its stdin closes.
pub fn peer_main() {
    let Ok(name) = std::env::var("GROVE_PEER_NAME") else {
        return; // run as a plain test: nothing to do
    };
    init_logs();
    let secret = std::env::var("GROVE_PEER_SECRET").unwrap_or_default();
    let tls = std::env::var("GROVE_PEER_TLS").ok();
    let connect: Vec<String> = std::env::var("GROVE_PEER_CONNECT")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let heartbeat = std::env::var("GROVE_PEER_HEARTBEAT").ok().and_then(|s| {
        let (a, b) = s.split_once(',')?;
        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
    });
    let listen = std::env::var("GROVE_PEER_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut builder = register(
            NodeBuilder::new(&name)
                .listen(listen.parse().expect("GROVE_PEER_LISTEN is an address"))
                .secret(&secret),
        );
        builder = match tls {
            Some(dir) => builder.tls(TlsFiles::in_dir(dir)),
            None => builder.secret_only(),
        };
        if let Some((interval, timeout)) = heartbeat {
            builder = builder.heartbeat(
                Duration::from_millis(interval),
                Duration::from_millis(timeout),
            );
        }
        builder = builder.static_peers(connect);
        let node = builder.start().await.expect("peer node starts");
        Server::start_opt(Counter::default(), StartOptions::new().name("counter"))
            .await
            .expect("counter starts");
        grove_runtime::spawn_opt(
            grove_runtime::SpawnOptions::new().name("echo"),
            |ctx: Context<EchoRequest>| echo(ctx, String::new()),
        )
        .expect("echo starts");
        println!("GROVE-READY {}", node.listen_addr());
        // Runs until the test closes our stdin (or kills us).
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin()
                .read_line(&mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                line.clear();
            }
        })
        .await;
    });
    std::process::exit(0);
}

/// Runs `f` as a process on the test runtime and returns its result.
pub fn in_process<M, T, F, Fut>(f: F) -> T
where
    M: Send + 'static,
    T: Send + 'static,
    F: FnOnce(Context<M>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    runtime().block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        grove_runtime::spawn(move |ctx: Context<M>| {
            let body = f(ctx);
            async move {
                let _ = tx.send(body.await);
            }
        });
        match tokio::time::timeout(Duration::from_secs(120), rx).await {
            Ok(Ok(value)) => value,
            Ok(Err(_)) => panic!("the test process died before finishing (see its panic above)"),
            Err(_) => panic!("the test process did not finish"),
        }
    })
}

/// The next message, whatever it is; panics if none arrives in time.
pub async fn next<M: Send + std::fmt::Debug + 'static>(ctx: &mut Context<M>) -> Message<M> {
    ctx.recv_timeout(LONG)
        .await
        .expect("expected a message, none arrived")
}

/// The pid registered as `name` on `node`, waiting for the connection.
pub async fn remote_whereis(name: &str, node: &str) -> Pid {
    grove_node::whereis(name, node)
        .await
        .expect("the peer answers")
        .unwrap_or_else(|| panic!("nothing registered as {name} on {node}"))
}
