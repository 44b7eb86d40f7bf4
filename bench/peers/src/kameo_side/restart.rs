//! `restart` on kameo, with kameo's own supervision (`kameo::supervision`): a supervisor actor
//! with the `OneForOne` strategy spawns its `n` children with `Spawn::supervise(..)` and the
//! `Permanent` restart policy, and kameo restarts each child that dies. The children are killed
//! with `ActorRef::kill` (it aborts the actor's task, stop reason `Killed`: the equivalent of
//! Erlang's `exit(Pid, kill)`).
//!
//! A kameo restart runs a new instance of the actor (`on_start` again, from the arguments the
//! child was supervised with) under the same actor id and mailbox, so the restarted children
//! keep their `ActorRef`s. Each instance counts its start; the scenario waits for the `n`
//! restarts after the `n` first starts.

use std::sync::Arc;
use std::time::Instant;

use kameo::actor::{ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::message::{Context, Message};
use kameo::supervision::{RestartPolicy, SupervisionStrategy};
use kameo::Actor;

use crate::Countdown;

/// A supervised child: it counts its start, then runs until it is killed.
#[derive(Clone)]
struct Child {
    starts: Arc<Countdown>,
}

impl Actor for Child {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(child: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        child.starts.one();
        Ok(child)
    }
}

/// Supervises `n` children, one for one.
struct Supervisor {
    children: Vec<ActorRef<Child>>,
}

impl Actor for Supervisor {
    type Args = (usize, Arc<Countdown>);
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        SupervisionStrategy::OneForOne
    }

    async fn on_start(
        (n, starts): (usize, Arc<Countdown>),
        myself: ActorRef<Self>,
    ) -> Result<Self, Infallible> {
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            // kameo's default restart limit (5 restarts within 5 s, per child) is not reached:
            // each child dies once.
            let child = Child::supervise(
                &myself,
                Child {
                    starts: starts.clone(),
                },
            )
            .restart_policy(RestartPolicy::Permanent)
            .spawn()
            .await;
            children.push(child);
        }
        Ok(Supervisor { children })
    }
}

/// Asks the supervisor for its children.
struct Children;

impl Message<Children> for Supervisor {
    type Reply = Vec<ActorRef<Child>>;

    async fn handle(
        &mut self,
        _: Children,
        _: &mut Context<Self, Vec<ActorRef<Child>>>,
    ) -> Vec<ActorRef<Child>> {
        self.children.clone()
    }
}

/// Kills the `n` children of a supervisor: microseconds from the first kill to the `n`th
/// restart, per child.
pub async fn restart(n: usize) -> Vec<f64> {
    // `n` first starts, then `n` restarts.
    let starts = Countdown::new(2 * n);
    let supervisor = Supervisor::spawn((n, starts.clone()));
    let children = supervisor
        .ask(Children)
        .await
        .expect("the supervisor answers");
    assert_eq!(children.len(), n);
    for child in &children {
        child.wait_for_startup().await;
    }
    assert_eq!(starts.left(), n);
    let t0 = Instant::now();
    for child in &children {
        child.kill();
    }
    starts.wait().await;
    let elapsed = t0.elapsed();
    assert!(children.iter().all(|child| child.is_alive()));
    supervisor
        .stop_gracefully()
        .await
        .expect("the supervisor is running");
    supervisor.wait_for_shutdown().await;
    vec![elapsed.as_secs_f64() * 1e6 / n as f64]
}
