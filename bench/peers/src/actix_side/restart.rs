//! `restart` on actix, with `actix::Supervisor`: each of the `n` children is a `Supervised`
//! actor started with `Supervisor::start`, and when it stops, its Supervisor restarts it in
//! place (same actor value and address, the `restarting` hook, then `started` again), as long
//! as its address is held.
//!
//! Actix has no supervisor of several actors: a `Supervisor` wraps one actor, so the `n`
//! Supervisors together play the one one-for-one supervisor (each restarts only its own child,
//! always). Actix has no external kill either: the closest equivalent of Erlang's
//! `exit(Pid, kill)` is a `Kill` message whose handler calls `ctx.terminate()`, which stops the
//! actor at once, without the `stopping` hook that could keep it alive (but the message waits in
//! the mailbox behind the child's earlier messages; the children here have none).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::Countdown;

/// A supervised child: it counts each start (the first one and every restart), and runs until
/// it is killed.
struct Child {
    starts: Arc<Countdown>,
}

impl Actor for Child {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.starts.one();
    }
}

/// A restart keeps the actor's value: nothing to reset.
impl Supervised for Child {}

/// Kills the child that receives it.
#[derive(Message)]
#[rtype(result = "()")]
struct Kill;

impl Handler<Kill> for Child {
    type Result = ();

    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        ctx.terminate();
    }
}

/// Kills `n` supervised children: microseconds from the first kill to the `n`th restart, per
/// child.
pub async fn restart(n: usize) -> Vec<f64> {
    // `n` first starts, then `n` restarts.
    let starts = Countdown::new(2 * n);
    let children: Vec<Addr<Child>> = (0..n)
        .map(|_| {
            let starts = starts.clone();
            Supervisor::start(move |_| Child { starts })
        })
        .collect();
    while starts.left() > n {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    for child in &children {
        child.do_send(Kill);
    }
    starts.wait().await;
    let elapsed = t0.elapsed();
    assert!(children.iter().all(|child| child.connected()));
    // Without an address, a child stops for good (its Supervisor does not restart it).
    drop(children);
    vec![elapsed.as_secs_f64() * 1e6 / n as f64]
}
