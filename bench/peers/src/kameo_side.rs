//! The scenarios on kameo (<https://crates.io/crates/kameo>): actors with `Message` handlers,
//! messages sent with `tell`, calls with `ask`, names in kameo's local registry
//! (`ActorRef::register` / `ActorRef::lookup`), and `restart` (in the `restart` submodule) with
//! kameo's supervision (`Spawn::supervise`, one-for-one). On a multi-thread tokio runtime.
//!
//! Actors are spawned with `Spawn::spawn`, which gives them kameo's default mailbox, bounded at
//! 64 messages (a sender's `tell(..).await` waits while it is full). It measured faster than
//! kameo's unbounded mailbox on this benchmark's cast and fan-in (about 3.2M against 0.9-1.5M
//! casts/s), so it is the one used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::actor::{ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::message::{Context, Message};
use kameo::Actor;
use tokio::sync::Notify;

use crate::{on_tokio, rss_bytes, spawn_metrics, started, Scenario};

mod restart;

/// Runs one scenario.
pub fn run(scenario: Scenario) -> Option<Vec<f64>> {
    Some(match scenario {
        Scenario::Spawn { n } => on_tokio(spawn_idle(n)),
        Scenario::Ring { n, laps } => on_tokio(ring(n, laps)),
        Scenario::PingPong { n } => on_tokio(ping_pong(n)),
        Scenario::FanIn { senders, n } => on_tokio(fan_in(senders, n)),
        Scenario::Call { n } => on_tokio(call(n)),
        Scenario::CallN { callers, n } => on_tokio(call_n(callers, n)),
        Scenario::Cast { n } => on_tokio(cast(n)),
        Scenario::Registry { n } => on_tokio(registry(n)),
        Scenario::Restart { n } => on_tokio(restart::restart(n)),
    })
}

/// An actor that only waits for messages (it stops when stopped).
struct Idle;

impl Actor for Idle {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        started::one();
        Ok(args)
    }
}

async fn spawn_idle(n: usize) -> Vec<f64> {
    let before = rss_bytes();
    let t0 = Instant::now();
    let mut actors = Vec::with_capacity(n);
    for _ in 0..n {
        actors.push(Idle::spawn(Idle));
    }
    let spawn_time = t0.elapsed();
    while started::total() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = rss_bytes();
    for actor in &actors {
        let _ = actor.stop_gracefully().await;
    }
    spawn_metrics(n, spawn_time, before, after)
}

/// A ring node: forwards the countdown, and tells the coordinator when it receives 0.
#[derive(Actor)]
struct Node {
    next: Option<ActorRef<Node>>,
    done: Arc<Notify>,
}

/// Where a node forwards to (sent once, before the token).
struct SetNext(ActorRef<Node>);

/// The countdown.
struct Token(u64);

impl Message<SetNext> for Node {
    type Reply = ();

    async fn handle(&mut self, SetNext(next): SetNext, _: &mut Context<Self, ()>) {
        self.next = Some(next);
    }
}

impl Message<Token> for Node {
    type Reply = ();

    async fn handle(&mut self, Token(k): Token, _: &mut Context<Self, ()>) {
        match (k, &self.next) {
            (0, _) => self.done.notify_one(),
            (k, Some(next)) => next
                .tell(Token(k - 1))
                .await
                .expect("the next node is running"),
            (_, None) => {}
        }
    }
}

async fn ring(n: usize, laps: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let nodes: Vec<ActorRef<Node>> = (0..n)
        .map(|_| {
            Node::spawn(Node {
                next: None,
                done: done.clone(),
            })
        })
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        node.tell(SetNext(nodes[(i + 1) % n].clone()))
            .await
            .expect("the node is running");
    }
    let hops = (n * laps) as u64;
    let t0 = Instant::now();
    nodes[0]
        .tell(Token(hops - 1))
        .await
        .expect("the node is running");
    done.notified().await;
    let elapsed = t0.elapsed();
    for node in &nodes {
        node.kill();
    }
    vec![hops as f64 / elapsed.as_secs_f64()]
}

/// Sends a ping, waits for its pong, `n` times; then notifies.
#[derive(Actor)]
struct Pinger {
    ponger: Option<ActorRef<Ponger>>,
    n: u64,
    done: Arc<Notify>,
}

/// Answers each ping with a pong.
#[derive(Actor)]
struct Ponger {
    pinger: ActorRef<Pinger>,
}

struct Start(ActorRef<Ponger>);
struct Ping(u64);
struct Pong(u64);

impl Pinger {
    async fn ping(&mut self, next: u64) {
        match &self.ponger {
            Some(ponger) if next < self.n => ponger
                .tell(Ping(next))
                .await
                .expect("the ponger is running"),
            _ => self.done.notify_one(),
        }
    }
}

impl Message<Start> for Pinger {
    type Reply = ();

    async fn handle(&mut self, Start(ponger): Start, _: &mut Context<Self, ()>) {
        self.ponger = Some(ponger);
        self.ping(0).await;
    }
}

impl Message<Pong> for Pinger {
    type Reply = ();

    async fn handle(&mut self, Pong(i): Pong, _: &mut Context<Self, ()>) {
        self.ping(i + 1).await;
    }
}

impl Message<Ping> for Ponger {
    type Reply = ();

    async fn handle(&mut self, Ping(i): Ping, _: &mut Context<Self, ()>) {
        self.pinger
            .tell(Pong(i))
            .await
            .expect("the pinger is running");
    }
}

async fn ping_pong(n: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let pinger = Pinger::spawn(Pinger {
        ponger: None,
        n: n as u64,
        done: done.clone(),
    });
    let ponger = Ponger::spawn(Ponger {
        pinger: pinger.clone(),
    });
    let t0 = Instant::now();
    pinger
        .tell(Start(ponger.clone()))
        .await
        .expect("the pinger is running");
    done.notified().await;
    let elapsed = t0.elapsed();
    pinger.kill();
    ponger.kill();
    vec![elapsed.as_nanos() as f64 / n as f64]
}

/// Counts messages up to a total, then notifies.
#[derive(Actor)]
struct Receiver {
    got: usize,
    total: usize,
    done: Arc<Notify>,
}

impl Message<u64> for Receiver {
    type Reply = ();

    async fn handle(&mut self, _: u64, _: &mut Context<Self, ()>) {
        self.got += 1;
        if self.got == self.total {
            self.done.notify_one();
        }
    }
}

/// `senders` tasks each tell `n` messages to one receiving actor.
async fn fan_in(senders: usize, n: usize) -> Vec<f64> {
    let total = senders * n;
    let done = Arc::new(Notify::new());
    let receiver = Receiver::spawn(Receiver {
        got: 0,
        total,
        done: done.clone(),
    });
    let t0 = Instant::now();
    for _ in 0..senders {
        let receiver = receiver.clone();
        tokio::spawn(async move {
            for i in 0..n as u64 {
                receiver.tell(i).await.expect("the receiver is running");
            }
        });
    }
    done.notified().await;
    let elapsed = t0.elapsed();
    receiver.kill();
    vec![total as f64 / elapsed.as_secs_f64()]
}

/// The counter server.
#[derive(Actor)]
struct Counter {
    count: u64,
}

/// Adds to the count (told).
struct Add(u64);

/// Answers the count (asked).
struct Get;

impl Message<Add> for Counter {
    type Reply = ();

    async fn handle(&mut self, Add(k): Add, _: &mut Context<Self, ()>) {
        self.count += k;
    }
}

impl Message<Get> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _: Get, _: &mut Context<Self, u64>) -> u64 {
        self.count
    }
}

async fn call(n: usize) -> Vec<f64> {
    let server = Counter::spawn(Counter { count: 0 });
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(server.ask(Get).await.expect("the counter answers"));
    }
    let elapsed = t0.elapsed();
    server.kill();
    vec![elapsed.as_nanos() as f64 / n as f64]
}

/// `callers` tasks each make `n` calls.
async fn call_n(callers: usize, n: usize) -> Vec<f64> {
    let server = Counter::spawn(Counter { count: 0 });
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    std::hint::black_box(server.ask(Get).await.expect("the counter answers"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a caller finishes");
    }
    let elapsed = t0.elapsed();
    server.kill();
    vec![(callers * n) as f64 / elapsed.as_secs_f64()]
}

async fn cast(n: usize) -> Vec<f64> {
    let server = Counter::spawn(Counter { count: 0 });
    let t0 = Instant::now();
    for _ in 0..n {
        server.tell(Add(1)).await.expect("the counter is running");
    }
    let total = server.ask(Get).await.expect("the counter answers");
    let elapsed = t0.elapsed();
    assert_eq!(total, n as u64);
    server.kill();
    vec![n as f64 / elapsed.as_secs_f64()]
}

/// Registers `n` idle actors by name and looks each up (the actors are spawned before timing).
async fn registry(n: usize) -> Vec<f64> {
    let actors: Vec<ActorRef<Idle>> = (0..n).map(|_| Idle::spawn(Idle)).collect();
    let names: Vec<String> = (0..n).map(|i| format!("kameo_bench_{i}")).collect();
    let register_names = names.clone();
    let t0 = Instant::now();
    for (name, actor) in register_names.into_iter().zip(&actors) {
        actor.register(name).expect("a fresh name registers");
    }
    for (name, actor) in names.iter().zip(&actors) {
        let found = ActorRef::<Idle>::lookup(name.as_str())
            .expect("the registry answers")
            .expect("the name is registered");
        assert_eq!(found.id(), actor.id());
    }
    let elapsed = t0.elapsed();
    for actor in &actors {
        actor.kill();
    }
    vec![(2 * n) as f64 / elapsed.as_secs_f64()]
}
