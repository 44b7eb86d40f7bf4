//! Helpers for the supervisor integration tests: children that report their starts and stops
//! into a shared log and exit on command, and short ways to ask a supervisor where they are.
//!
//! Every timeout here is a generous upper bound that only stops a broken test from hanging; no
//! test asserts on how long something took.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grove_otp::supervisor::{ChildInfo, ChildSpec, ChildStatus, SupervisorRef};
use grove_otp::StartError;
use grove_runtime::{
    send, spawn_opt, watch_exit, Addr, Context, ExitReason, Message, Pid, SpawnOptions,
};
use tokio::sync::oneshot;

// The process helpers the GenServer tests use too.
#[path = "../common/mod.rs"]
mod common;
pub use common::{exit_of, LONG};

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Runs `body` as the first process of a fresh Grove runtime ([`grove_runtime::run`]) and fails
/// the test unless it finishes normally (a failed assertion inside it is a panic exit).
///
/// The test process traps exits: it is linked to the supervisors it starts with `start_link`,
/// and stopping one with `shutdown` (or one giving up) would otherwise take the test down too,
/// as it would in Erlang.
pub fn grove_test<F, Fut>(body: F)
where
    F: FnOnce(Context<()>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let reason = grove_runtime::run(move |mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        body(ctx).await;
    });
    assert_eq!(reason, ExitReason::Normal, "the test process failed");
}

/// Runs `body` as a process (trapping exits, see [`grove_test`]) on the current tokio runtime
/// and returns what it returns. For tests on a paused clock, which need a `#[tokio::test]`.
pub async fn in_process<T, F, Fut>(body: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Context<()>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    common::in_process_opt(SpawnOptions::new().trap_exit(true), body).await
}

/// What happened, in order: `start a`, `stop a` and the like, from every child of a test.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    /// The events so far, leaving the log empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The events so far.
    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// `["start a", "start b"]` from `("start", &["a", "b"])`.
pub fn events(what: &str, ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| format!("{what} {id}")).collect()
}

/// What a test child is told to do.
#[derive(Debug)]
pub enum Cmd {
    /// Exit with this reason (an error reason is a crash).
    Exit(ExitReason),
}

/// What a test child does with the exit signal its supervisor sends to stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnShutdown {
    /// Does not trap exits: the signal kills it.
    Die,
    /// Traps exits and carries on (logging `a ignored shutdown`): only a kill stops it.
    Ignore,
    /// Traps exits, logs `a cleaned up` and exits with the signal's reason.
    CleanUp,
}

/// Logs `stop <id>` when the child's process ends, however it ends (its future is dropped
/// before its links and monitors hear of the exit).
struct StopGuard {
    id: &'static str,
    log: Log,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.log.push(format!("stop {}", self.id));
    }
}

/// A permanent worker that dies on the supervisor's shutdown signal; see [`worker_with`].
pub fn worker(id: &'static str, log: &Log) -> ChildSpec {
    worker_with(id, log, OnShutdown::Die)
}

/// A worker child: a plain process linked to its supervisor that logs `start <id>` before its
/// start function returns (so starts are logged in the order the supervisor makes them), logs
/// `stop <id>` when it ends, and exits when sent [`Cmd::Exit`].
pub fn worker_with(id: &'static str, log: &Log, on_shutdown: OnShutdown) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new(id, move || start_worker(id, log.clone(), on_shutdown))
}

/// A [`worker`] whose start fails (logging `refuse <id>`) while `refusals` is above zero, taking
/// one off each time.
pub fn refusing_worker(id: &'static str, log: &Log, refusals: Arc<AtomicU32>) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new(id, move || {
        let log = log.clone();
        let refuse = refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        async move {
            if refuse {
                log.push(format!("refuse {id}"));
                return Err(StartError::Init(ExitReason::error("refused to start")));
            }
            start_worker(id, log, OnShutdown::Die).await
        }
    })
}

async fn start_worker(
    id: &'static str,
    log: Log,
    on_shutdown: OnShutdown,
) -> Result<Addr<Cmd>, StartError> {
    let (ready, started) = oneshot::channel();
    let spawned = spawn_opt(SpawnOptions::new().link(true), move |ctx: Context<Cmd>| {
        worker_body(id, log, on_shutdown, ctx, ready)
    })
    .map_err(|error| StartError::Init(ExitReason::error(error)))?;
    started
        .await
        .map_err(|_| StartError::Init(ExitReason::error("died while starting")))?;
    Ok(spawned.addr)
}

async fn worker_body(
    id: &'static str,
    log: Log,
    on_shutdown: OnShutdown,
    mut ctx: Context<Cmd>,
    ready: oneshot::Sender<()>,
) -> ExitReason {
    if on_shutdown != OnShutdown::Die {
        ctx.trap_exit(true);
    }
    log.push(format!("start {id}"));
    let _stop = StopGuard {
        id,
        log: log.clone(),
    };
    let _ = ready.send(());
    loop {
        match ctx.recv().await {
            Message::User(Cmd::Exit(reason)) => return reason,
            Message::Exit(exit) => match on_shutdown {
                OnShutdown::Ignore => log.push(format!("{id} ignored {}", exit.reason)),
                OnShutdown::CleanUp | OnShutdown::Die => {
                    log.push(format!("{id} cleaned up"));
                    return exit.reason;
                }
            },
            Message::Down(_) => {}
        }
    }
}

/// A child whose start always fails.
pub fn failing(id: &'static str) -> ChildSpec {
    ChildSpec::new(id, || async {
        Err::<Pid, _>(StartError::Init(ExitReason::error("refused to start")))
    })
}

/// The reason test children crash with.
pub fn boom() -> ExitReason {
    ExitReason::error("boom")
}

/// Tells the test child `pid` to exit with `reason` and waits until it has. Its supervisor has
/// the exit signal queued by then (links hear of an exit before exit watches do), so the next
/// request to the supervisor is answered after it handled the exit.
pub async fn exit_child(pid: Pid, reason: ExitReason) -> ExitReason {
    let exited = watch_exit(pid).expect("the child is not alive");
    send(pid.assume_type::<Cmd>(), Cmd::Exit(reason));
    tokio::time::timeout(LONG, exited)
        .await
        .expect("the child did not exit")
}

/// Crashes the test child `pid` (see [`exit_child`]).
pub async fn crash(pid: Pid) -> ExitReason {
    exit_child(pid, boom()).await
}

pub async fn children(sup: &SupervisorRef) -> Vec<ChildInfo> {
    sup.which_children().await.expect("which_children failed")
}

pub async fn ids(sup: &SupervisorRef) -> Vec<String> {
    children(sup)
        .await
        .iter()
        .map(|child| child.id.to_string())
        .collect()
}

pub async fn status_of(sup: &SupervisorRef, id: &str) -> Option<ChildStatus> {
    children(sup)
        .await
        .into_iter()
        .find(|child| &*child.id == id)
        .map(|child| child.status)
}

/// The pid of the running child `id`; panics if it is not running.
pub async fn pid_of(sup: &SupervisorRef, id: &str) -> Pid {
    match status_of(sup, id).await {
        Some(ChildStatus::Running(pid)) => pid,
        other => panic!("child {id:?} is not running: {other:?}"),
    }
}

/// The pids of the children in start order; panics if one is not running.
pub async fn pids(sup: &SupervisorRef) -> Vec<Pid> {
    children(sup)
        .await
        .into_iter()
        .map(|child| match child.status {
            ChildStatus::Running(pid) => pid,
            other => panic!("child {:?} is not running: {other:?}", child.id),
        })
        .collect()
}

/// Polls until the child `id` runs as a pid other than `old`, and returns it.
pub async fn wait_running(sup: &SupervisorRef, id: &str, old: Pid) -> Pid {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Some(ChildStatus::Running(pid)) = status_of(sup, id).await {
            if pid != old {
                return pid;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "child {id:?} never came back"
        );
        tokio::time::sleep(ms(1)).await;
    }
}
