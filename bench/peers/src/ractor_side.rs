//! The scenarios on ractor (<https://crates.io/crates/ractor>): `Actor` implementations spawned
//! with `Actor::spawn`, messages sent with `cast`/`send_message`, calls with `call!`, and names
//! in ractor's registry (`ractor::registry::where_is`); `restart` (in the `restart` submodule)
//! has a supervisor actor re-spawn its killed `spawn_linked` children. On a multi-thread tokio
//! runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{call, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
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

/// Spawns an unnamed actor and waits for it to start (ractor's `spawn` returns once `pre_start`
/// has run).
async fn start<A: Actor>(actor: A, args: A::Arguments) -> ActorRef<A::Msg> {
    let (actor_ref, _) = Actor::spawn(None, actor, args)
        .await
        .unwrap_or_else(|error| panic!("the actor starts: {error}"));
    actor_ref
}

/// An actor that only waits for a message (it stops when stopped).
struct Idle;

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        started::one();
        Ok(())
    }
}

async fn spawn_idle(n: usize) -> Vec<f64> {
    let before = rss_bytes();
    let t0 = Instant::now();
    let mut actors = Vec::with_capacity(n);
    for _ in 0..n {
        actors.push(
            Actor::spawn(None, Idle, ())
                .await
                .expect("an idle actor starts"),
        );
    }
    let spawn_time = t0.elapsed();
    while started::total() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = rss_bytes();
    for (actor, _) in &actors {
        actor.stop(None);
    }
    for (_, handle) in actors {
        let _ = handle.await;
    }
    spawn_metrics(n, spawn_time, before, after)
}

/// What goes around the ring.
enum RingMsg {
    /// Where this node forwards to (sent once, before the token).
    SetNext(ActorRef<RingMsg>),
    Token(u64),
}

/// A ring node: forwards the countdown, and tells the coordinator when it receives 0.
struct Node;

impl Actor for Node {
    type Msg = RingMsg;
    type State = (Option<ActorRef<RingMsg>>, Arc<Notify>);
    type Arguments = Arc<Notify>;

    async fn pre_start(
        &self,
        _: ActorRef<RingMsg>,
        done: Arc<Notify>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok((None, done))
    }

    async fn handle(
        &self,
        _: ActorRef<RingMsg>,
        message: RingMsg,
        (next, done): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RingMsg::SetNext(to) => *next = Some(to),
            RingMsg::Token(0) => done.notify_one(),
            RingMsg::Token(k) => {
                if let Some(next) = next {
                    next.cast(RingMsg::Token(k - 1))?;
                }
            }
        }
        Ok(())
    }
}

async fn ring(n: usize, laps: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(start(Node, done.clone()).await);
    }
    for (i, node) in nodes.iter().enumerate() {
        node.cast(RingMsg::SetNext(nodes[(i + 1) % n].clone()))
            .expect("the node is running");
    }
    let hops = (n * laps) as u64;
    let t0 = Instant::now();
    nodes[0]
        .cast(RingMsg::Token(hops - 1))
        .expect("the node is running");
    done.notified().await;
    let elapsed = t0.elapsed();
    for node in &nodes {
        node.stop(None);
    }
    vec![hops as f64 / elapsed.as_secs_f64()]
}

/// What the pinger receives.
enum PingerMsg {
    Start(ActorRef<u64>),
    Pong(u64),
}

/// Sends a ping, waits for its pong, `n` times; then notifies.
struct Pinger;

struct PingerState {
    ponger: Option<ActorRef<u64>>,
    n: u64,
    done: Arc<Notify>,
}

impl Actor for Pinger {
    type Msg = PingerMsg;
    type State = PingerState;
    type Arguments = (u64, Arc<Notify>);

    async fn pre_start(
        &self,
        _: ActorRef<PingerMsg>,
        (n, done): (u64, Arc<Notify>),
    ) -> Result<PingerState, ActorProcessingErr> {
        Ok(PingerState {
            ponger: None,
            n,
            done,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<PingerMsg>,
        message: PingerMsg,
        state: &mut PingerState,
    ) -> Result<(), ActorProcessingErr> {
        let next = match message {
            PingerMsg::Start(ponger) => {
                state.ponger = Some(ponger);
                0
            }
            PingerMsg::Pong(i) => i + 1,
        };
        match &state.ponger {
            Some(ponger) if next < state.n => ponger.cast(next)?,
            _ => state.done.notify_one(),
        }
        Ok(())
    }
}

/// Answers each ping with a pong.
struct Ponger;

impl Actor for Ponger {
    type Msg = u64;
    type State = ActorRef<PingerMsg>;
    type Arguments = ActorRef<PingerMsg>;

    async fn pre_start(
        &self,
        _: ActorRef<u64>,
        pinger: ActorRef<PingerMsg>,
    ) -> Result<ActorRef<PingerMsg>, ActorProcessingErr> {
        Ok(pinger)
    }

    async fn handle(
        &self,
        _: ActorRef<u64>,
        i: u64,
        pinger: &mut ActorRef<PingerMsg>,
    ) -> Result<(), ActorProcessingErr> {
        pinger.cast(PingerMsg::Pong(i))?;
        Ok(())
    }
}

async fn ping_pong(n: usize) -> Vec<f64> {
    let done = Arc::new(Notify::new());
    let pinger = start(Pinger, (n as u64, done.clone())).await;
    let ponger = start(Ponger, pinger.clone()).await;
    let t0 = Instant::now();
    pinger
        .cast(PingerMsg::Start(ponger.clone()))
        .expect("the pinger is running");
    done.notified().await;
    let elapsed = t0.elapsed();
    pinger.stop(None);
    ponger.stop(None);
    vec![elapsed.as_nanos() as f64 / n as f64]
}

/// Counts messages up to a total, then notifies.
struct Receiver;

impl Actor for Receiver {
    type Msg = u64;
    type State = (usize, usize, Arc<Notify>);
    type Arguments = (usize, Arc<Notify>);

    async fn pre_start(
        &self,
        _: ActorRef<u64>,
        (total, done): (usize, Arc<Notify>),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok((0, total, done))
    }

    async fn handle(
        &self,
        _: ActorRef<u64>,
        _: u64,
        (got, total, done): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        *got += 1;
        if *got == *total {
            done.notify_one();
        }
        Ok(())
    }
}

/// `senders` tasks each cast `n` messages to one receiving actor.
async fn fan_in(senders: usize, n: usize) -> Vec<f64> {
    let total = senders * n;
    let done = Arc::new(Notify::new());
    let receiver = start(Receiver, (total, done.clone())).await;
    let t0 = Instant::now();
    for _ in 0..senders {
        let receiver = receiver.clone();
        tokio::spawn(async move {
            for i in 0..n as u64 {
                receiver.cast(i).expect("the receiver is running");
            }
        });
    }
    done.notified().await;
    let elapsed = t0.elapsed();
    receiver.stop(None);
    vec![total as f64 / elapsed.as_secs_f64()]
}

/// What the counter server handles.
enum CounterMsg {
    Add(u64),
    Get(RpcReplyPort<u64>),
}

/// The counter server.
struct Counter;

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        message: CounterMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CounterMsg::Add(k) => *count += k,
            CounterMsg::Get(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

async fn call(n: usize) -> Vec<f64> {
    let server = start(Counter, ()).await;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(call!(server, CounterMsg::Get).expect("the counter answers"));
    }
    let elapsed = t0.elapsed();
    server.stop(None);
    vec![elapsed.as_nanos() as f64 / n as f64]
}

/// `callers` tasks each make `n` calls.
async fn call_n(callers: usize, n: usize) -> Vec<f64> {
    let server = start(Counter, ()).await;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    std::hint::black_box(
                        call!(server, CounterMsg::Get).expect("the counter answers"),
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a caller finishes");
    }
    let elapsed = t0.elapsed();
    server.stop(None);
    vec![(callers * n) as f64 / elapsed.as_secs_f64()]
}

async fn cast(n: usize) -> Vec<f64> {
    let server = start(Counter, ()).await;
    let t0 = Instant::now();
    for _ in 0..n {
        server
            .cast(CounterMsg::Add(1))
            .expect("the counter is running");
    }
    let total = call!(server, CounterMsg::Get).expect("the counter answers");
    let elapsed = t0.elapsed();
    assert_eq!(total, n as u64);
    server.stop(None);
    vec![n as f64 / elapsed.as_secs_f64()]
}

/// Names `n` actors and looks each up. In ractor an actor is named when it is spawned
/// (`Actor::spawn(Some(name), ..)`), so the timed part is spawning the `n` named actors plus
/// the `n` lookups (`ractor::registry::where_is`): it includes the spawns themselves.
async fn registry(n: usize) -> Vec<f64> {
    let names: Vec<String> = (0..n).map(|i| format!("ractor_bench_{i}")).collect();
    let spawn_names = names.clone();
    let t0 = Instant::now();
    let mut actors = Vec::with_capacity(n);
    for name in spawn_names {
        let (actor, _) = Actor::spawn(Some(name), Idle, ())
            .await
            .expect("a fresh name registers");
        actors.push(actor);
    }
    for (name, actor) in names.iter().zip(&actors) {
        let found = ractor::registry::where_is(name.as_str()).expect("the name is registered");
        assert_eq!(found.get_id(), actor.get_id());
    }
    let elapsed = t0.elapsed();
    for actor in &actors {
        actor.stop(None);
    }
    vec![(2 * n) as f64 / elapsed.as_secs_f64()]
}
