//! `restart` on ractor: a supervisor actor spawns `n` children with `Actor::spawn_linked`, and
//! its `handle_supervisor_evt` replaces each child that terminates or fails with a new one,
//! spawned linked in the same way (one-for-one, permanent). The children are killed with
//! `ActorRef::kill` (ractor's `Signal::Kill`, which stops the actor without running its
//! handlers: the equivalent of Erlang's `exit(Pid, kill)`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use ractor::{call, Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::Countdown;

/// A supervised child: it does nothing but run until it is killed.
struct Child;

impl Actor for Child {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// What the supervisor is asked.
enum SupervisorMsg {
    /// The children it supervises now.
    Children(RpcReplyPort<Vec<ActorRef<()>>>),
}

/// Starts `n` linked children, and restarts each one that exits.
struct Supervisor;

struct SupervisorState {
    /// How many children it supervises.
    n: usize,
    /// The running children, by actor id.
    children: HashMap<ActorId, ActorRef<()>>,
    /// Counts the restarts.
    restarts: Arc<Countdown>,
}

impl Supervisor {
    /// Spawns one child linked to the supervisor; returns once the child's `pre_start` has run.
    async fn start_child(
        myself: &ActorRef<SupervisorMsg>,
    ) -> Result<ActorRef<()>, ActorProcessingErr> {
        let (child, _) = Actor::spawn_linked(None, Child, (), myself.get_cell()).await?;
        Ok(child)
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = (usize, Arc<Countdown>);

    async fn pre_start(
        &self,
        _: ActorRef<SupervisorMsg>,
        (n, restarts): (usize, Arc<Countdown>),
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            n,
            children: HashMap::with_capacity(n),
            restarts,
        })
    }

    /// Starts the children once the supervisor runs (so that they can link to it); messages
    /// are handled after this.
    async fn post_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        while state.children.len() < state.n {
            let child = Self::start_child(&myself).await?;
            state.children.insert(child.get_id(), child);
        }
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<SupervisorMsg>,
        SupervisorMsg::Children(reply): SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(state.children.values().cloned().collect());
        Ok(())
    }

    /// One-for-one: a child that terminated (killed, stopped) or failed is replaced by a new
    /// one; the others are left alone.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let dead = match event {
            SupervisionEvent::ActorTerminated(dead, _, _)
            | SupervisionEvent::ActorFailed(dead, _) => dead,
            _ => return Ok(()),
        };
        if state.children.remove(&dead.get_id()).is_some() {
            let child = Self::start_child(&myself).await?;
            state.children.insert(child.get_id(), child);
            state.restarts.one();
        }
        Ok(())
    }

    /// Stops the children before the supervisor goes (it no longer restarts them then).
    async fn post_stop(
        &self,
        myself: ActorRef<SupervisorMsg>,
        _: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children_and_wait(None, None).await;
        Ok(())
    }
}

/// Kills the `n` children of a supervisor: microseconds from the first kill to the `n`th
/// restart, per child.
pub async fn restart(n: usize) -> Vec<f64> {
    let restarts = Countdown::new(n);
    let (supervisor, handle) = Actor::spawn(None, Supervisor, (n, restarts.clone()))
        .await
        .expect("the supervisor starts");
    let children = call!(supervisor, SupervisorMsg::Children).expect("the supervisor answers");
    assert_eq!(children.len(), n);
    let t0 = Instant::now();
    for child in &children {
        child.kill();
    }
    restarts.wait().await;
    let elapsed = t0.elapsed();
    let old: HashSet<ActorId> = children.iter().map(|child| child.get_id()).collect();
    let now = call!(supervisor, SupervisorMsg::Children).expect("the supervisor answers");
    assert_eq!(now.len(), n);
    assert!(now.iter().all(|child| !old.contains(&child.get_id())));
    supervisor.stop(None);
    handle.await.expect("the supervisor stops");
    vec![elapsed.as_secs_f64() * 1e6 / n as f64]
}
