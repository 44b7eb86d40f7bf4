//! The scenarios on actix (<https://crates.io/crates/actix>): actors with `Handler`s started
//! with `Actor::start` on the System's arbiter (one thread, actix's model), messages sent with
//! `do_send`, calls with `Addr::send(..).await`, and `restart` (in the `restart` submodule) with
//! `actix::Supervisor`. Actix has no name registry for plain actors, so `registry` is
//! unsupported.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::Notify;

use crate::{rss_bytes, spawn_metrics, started, Scenario};

mod restart;

/// Runs one scenario; `None` for `registry`.
pub fn run(scenario: Scenario) -> Option<Vec<f64>> {
    Some(match scenario {
        Scenario::Spawn { n } => on_actix(spawn_idle(n)),
        Scenario::Ring { n, laps } => on_actix(ring(n, laps)),
        Scenario::PingPong { n } => on_actix(ping_pong(n)),
        Scenario::FanIn { senders, n } => on_actix(fan_in(senders, n)),
        Scenario::Call { n } => on_actix(call(n)),
        Scenario::CallN { callers, n } => on_actix(call_n(callers, n)),
        Scenario::Cast { n } => on_actix(cast(n)),
        Scenario::Registry { .. } => return None,
        Scenario::Restart { n } => on_actix(restart::restart(n)),
    })
}

/// Runs `scenario` in a new actix System, which is stopped when the scenario returns.
fn on_actix(scenario: impl Future<Output = Vec<f64>>) -> Vec<f64> {
    System::new().block_on(async move {
        let values = scenario.await;
        System::current().stop();
        values
    })
}

/// An actor that only waits for messages (it stops when its last address is dropped).
struct Idle;

impl Actor for Idle {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        started::one();
    }
}

async fn spawn_idle(n: usize) -> Vec<f64> {
    let before = rss_bytes();
    let t0 = Instant::now();
    let mut actors = Vec::with_capacity(n);
    for _ in 0..n {
        actors.push(Idle.start());
    }
    let spawn_time = t0.elapsed();
    while started::total() < n {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let after = rss_bytes();
    drop(actors);
    spawn_metrics(n, spawn_time, before, after)
}

/// A ring node: forwards the countdown, and tells the coordinator when it receives 0.
struct Node {
    next: Option<Addr<Node>>,
    done: Arc<Notify>,
}

impl Actor for Node {
    type Context = Context<Self>;
}

/// Where a node forwards to (sent once, before the token).
#[derive(Message)]
#[rtype(result = "()")]
struct SetNext(Addr<Node>);

/// The countdown.
#[derive(Message)]
#[rtype(result = "()")]
struct Token(u64);

/// Stops the actor that receives it.
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<SetNext> for Node {
    type Result = ();

    fn handle(&mut self, SetNext(next): SetNext, _: &mut Context<Self>) {
        self.next = Some(next);
    }
}

impl Handler<Token> for Node {
    type Result = ();

    fn handle(&mut self, Token(k): Token, _: &mut Context<Self>) {
        match (k, &self.next) {
            (0, _) => self.done.notify_one(),
            (k, Some(next)) => next.do_send(Token(k - 1)),
            (_, None) => {}
        }
    }
}

impl Handler<Stop> for Node {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

async fn ring(n: usize, laps: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let nodes: Vec<Addr<Node>> = (0..n)
        .map(|_| {
            Node {
                next: None,
                done: done.clone(),
            }
            .start()
        })
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        node.do_send(SetNext(nodes[(i + 1) % n].clone()));
    }
    let hops = (n * laps) as u64;
    let t0 = Instant::now();
    nodes[0].do_send(Token(hops - 1));
    done.notified().await;
    let elapsed = t0.elapsed();
    for node in &nodes {
        node.do_send(Stop);
    }
    vec![hops as f64 / elapsed.as_secs_f64()]
}

/// Sends a ping, waits for its pong, `n` times; then notifies.
struct Pinger {
    ponger: Option<Addr<Ponger>>,
    n: u64,
    done: Arc<Notify>,
}

/// Answers each ping with a pong.
struct Ponger {
    pinger: Addr<Pinger>,
}

impl Actor for Pinger {
    type Context = Context<Self>;
}

impl Actor for Ponger {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Start(Addr<Ponger>);

#[derive(Message)]
#[rtype(result = "()")]
struct Ping(u64);

#[derive(Message)]
#[rtype(result = "()")]
struct Pong(u64);

impl Pinger {
    fn ping(&mut self, next: u64) {
        match &self.ponger {
            Some(ponger) if next < self.n => ponger.do_send(Ping(next)),
            _ => self.done.notify_one(),
        }
    }
}

impl Handler<Start> for Pinger {
    type Result = ();

    fn handle(&mut self, Start(ponger): Start, _: &mut Context<Self>) {
        self.ponger = Some(ponger);
        self.ping(0);
    }
}

impl Handler<Pong> for Pinger {
    type Result = ();

    fn handle(&mut self, Pong(i): Pong, _: &mut Context<Self>) {
        self.ping(i + 1);
    }
}

impl Handler<Ping> for Ponger {
    type Result = ();

    fn handle(&mut self, Ping(i): Ping, _: &mut Context<Self>) {
        self.pinger.do_send(Pong(i));
    }
}

impl Handler<Stop> for Pinger {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.ponger = None;
        ctx.stop();
    }
}

async fn ping_pong(n: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let pinger = Pinger {
        ponger: None,
        n: n as u64,
        done: done.clone(),
    }
    .start();
    let ponger = Ponger {
        pinger: pinger.clone(),
    }
    .start();
    let t0 = Instant::now();
    pinger.do_send(Start(ponger));
    done.notified().await;
    let elapsed = t0.elapsed();
    pinger.do_send(Stop);
    vec![elapsed.as_nanos() as f64 / n as f64]
}

/// Counts messages up to a total, then notifies.
struct Receiver {
    got: usize,
    total: usize,
    done: Arc<Notify>,
}

impl Actor for Receiver {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Item(u64);

impl Handler<Item> for Receiver {
    type Result = ();

    fn handle(&mut self, Item(i): Item, _: &mut Context<Self>) {
        std::hint::black_box(i);
        self.got += 1;
        if self.got == self.total {
            self.done.notify_one();
        }
    }
}

/// `senders` tasks each `do_send` `n` messages to one receiving actor.
async fn fan_in(senders: usize, n: usize) -> Vec<f64> {
    let total = senders * n;
    let done = Arc::new(Notify::new());
    let receiver = Receiver {
        got: 0,
        total,
        done: done.clone(),
    }
    .start();
    let t0 = Instant::now();
    for _ in 0..senders {
        let receiver = receiver.clone();
        actix_rt::spawn(async move {
            for i in 0..n as u64 {
                receiver.do_send(Item(i));
            }
        });
    }
    done.notified().await;
    vec![total as f64 / t0.elapsed().as_secs_f64()]
}

/// The counter server.
struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

/// Adds to the count (`do_send`).
#[derive(Message)]
#[rtype(result = "()")]
struct Add(u64);

/// Answers the count (`send`).
#[derive(Message)]
#[rtype(result = "u64")]
struct Get;

impl Handler<Add> for Counter {
    type Result = ();

    fn handle(&mut self, Add(k): Add, _: &mut Context<Self>) {
        self.count += k;
    }
}

impl Handler<Get> for Counter {
    type Result = u64;

    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.count
    }
}

async fn call(n: usize) -> Vec<f64> {
    let server = Counter { count: 0 }.start();
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(server.send(Get).await.expect("the counter answers"));
    }
    vec![t0.elapsed().as_nanos() as f64 / n as f64]
}

/// `callers` tasks each make `n` calls.
async fn call_n(callers: usize, n: usize) -> Vec<f64> {
    let server = Counter { count: 0 }.start();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let server = server.clone();
            actix_rt::spawn(async move {
                for _ in 0..n {
                    std::hint::black_box(server.send(Get).await.expect("the counter answers"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a caller finishes");
    }
    vec![(callers * n) as f64 / t0.elapsed().as_secs_f64()]
}

async fn cast(n: usize) -> Vec<f64> {
    let server = Counter { count: 0 }.start();
    let t0 = Instant::now();
    for _ in 0..n {
        server.do_send(Add(1));
    }
    let total = server.send(Get).await.expect("the counter answers");
    let elapsed = t0.elapsed();
    assert_eq!(total, n as u64);
    vec![n as f64 / elapsed.as_secs_f64()]
}
