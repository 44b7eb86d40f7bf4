//! `Task`: a future run as its own process, whose result the starter awaits (Elixir's `Task`).
//!
//! [`Task::spawn`] runs a future in a new process linked to the calling process (when there is
//! one), as Elixir's `Task.async`: if the task crashes, the caller crashes too, unless it traps
//! exits. The caller awaits the result with `.await`, [`Task::await_timeout`] or
//! [`Task::await_many`], polls it with [`Task::yield_timeout`], or stops it with
//! [`Task::shutdown`]. A task is a real process: it has a pid, shows up in introspection, and
//! can be linked to and monitored.
//!
//! [`TaskSupervisor`] starts tasks that are *not* linked to the caller (`Task.Supervisor`'s
//! `async_nolink` and `start_child`), and [`async_stream`] runs a function over many items with
//! bounded concurrency, each in its own task.
//!
//! ```
//! use std::time::Duration;
//! use grove_otp::task::Task;
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let lengths = Task::spawn(async { "some text to measure".len() });
//!     let doubled = Task::spawn(async { 21 * 2 });
//!     assert_eq!(lengths.await_timeout(Duration::from_secs(5)).await, Ok(20));
//!     assert_eq!(doubled.await, Ok(42));
//! });
//! ```
//!
//! Dropping a [`Task`] does not stop it (as dropping a tokio `JoinHandle` does not): it runs on,
//! still linked, and its result is thrown away. Use [`Task::shutdown`] to stop it.

mod stream;
mod supervisor;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use grove_runtime::{ExitReason, Pid, SpawnOptions};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::supervisor::{Shutdown, SupervisorError};

/// The stream traits `async_stream` results are consumed with (`next`, `collect`, ...), and the
/// way to turn an iterator into a stream, re-exported from `futures-util`.
pub use futures_util::stream::{iter as stream_iter, Stream, StreamExt};
pub use stream::{async_stream, async_stream_iter, AsyncStreamOptions};
pub use supervisor::{TaskSupervisor, TaskSupervisorRef};

/// Why a task gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The task's process exited before its future finished: it panicked, was killed, or was
    /// taken down by a link. The reason it exited with.
    #[error("the task exited before finishing: {0}")]
    Exited(ExitReason),
    /// The task did not finish in time; it was killed.
    #[error("the task did not finish within {0:?}; it was killed")]
    Timeout(Duration),
    /// The task supervisor did not start the task (it is gone, or at its `max_children`).
    #[error("the task supervisor did not start the task: {0}")]
    NotStarted(SupervisorError),
    /// Only the process that spawned a linked task (this one) may stop it: stopping it from
    /// elsewhere would take that process down through the link.
    #[error("only the task's owner ({0}) may stop it; ask the owner, or use a TaskSupervisor")]
    NotOwner(Pid),
    /// The result was already taken by an earlier `yield_timeout` or poll.
    #[error("the task's result was already taken; a task gives its result once")]
    AlreadyTaken,
}

impl From<TaskError> for ExitReason {
    /// A task's crash as the awaiting process's own exit reason (what Elixir's `Task.await`
    /// does): the task's reason itself, or the error for a timeout.
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::Exited(reason) => reason,
            other => ExitReason::error(other),
        }
    }
}

/// What a task's process sends its awaiter: the future's output, or the reason it exited
/// without one.
pub(crate) type Outcome<T> = Result<T, ExitReason>;

/// The task process's end of the result channel: always sends, with the exit reason if the
/// process is killed before the future finishes.
pub(crate) type ResultSender<T> = crate::start::ExitReport<Outcome<T>>;

/// The process body that runs `work` and reports how it went. A panic is caught, reported to
/// the awaiter, and becomes the process's exit reason.
pub(crate) async fn run_task<F>(work: F, result: ResultSender<F::Output>) -> ExitReason
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match crate::start::guarded(work).await {
        Ok(value) => {
            result.send(Ok(value));
            ExitReason::Normal
        }
        Err(panic) => {
            result.send(Err(panic.clone()));
            panic
        }
    }
}

pub(crate) fn result_channel<T: Send + 'static>() -> (ResultSender<T>, oneshot::Receiver<Outcome<T>>)
{
    let (tx, rx) = oneshot::channel();
    (crate::start::ExitReport::new(tx, Err), rx)
}

/// What it takes to kill a task without holding its result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KillHandle {
    pid: Pid,
    owner: Option<Pid>,
}

impl KillHandle {
    /// Unlinks and kills the task at once, if the caller may (see [`Task::shutdown`]).
    pub(crate) fn kill(self) {
        if self.owner.is_some() {
            if self.owner != grove_runtime::self_pid() {
                return;
            }
            grove_runtime::unlink(self.pid);
        }
        grove_runtime::exit(self.pid, ExitReason::Kill);
    }
}

/// A running task and the way to its result. See the [module docs](self).
///
/// `Task` is a future of `Result<T, TaskError>` that waits as long as the task runs; most code
/// wants [`Task::await_timeout`] instead (Elixir's `Task.await` waits 5 seconds by default).
#[must_use = "a task's result is lost unless it is awaited; use Task::ignore to say so"]
#[derive(Debug)]
pub struct Task<T> {
    pid: Pid,
    /// The process linked to the task (the one that spawned it), if any.
    owner: Option<Pid>,
    result: Option<oneshot::Receiver<Outcome<T>>>,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` in a new process, linked to the calling process if there is one (Elixir's
    /// `Task.async`). Called outside any process (from `main`, a test), the task is not linked.
    ///
    /// # Panics
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn<F>(work: F) -> Task<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let owner = grove_runtime::self_pid();
        let (sender, result) = result_channel();
        let spawned = grove_runtime::spawn_opt(
            SpawnOptions::new().link(owner.is_some()),
            move |_: grove_runtime::Context<()>| run_task(work, sender),
        );
        match spawned {
            Ok(spawned) => Task {
                pid: spawned.addr.pid(),
                owner,
                result: Some(result),
            },
            // Only `NoRuntime` is possible here: no name is asked for, and a link only inside a
            // process.
            Err(error) => panic!("grove Task::spawn failed: {error}"),
        }
    }
}

impl<T> Task<T> {
    /// A task not linked to anyone (one under a task supervisor).
    pub(crate) fn unlinked(pid: Pid, result: oneshot::Receiver<Outcome<T>>) -> Self {
        Task {
            pid,
            owner: None,
            result: Some(result),
        }
    }

    /// The task's owner, if it is not the caller: stopping a linked task is safe only from its
    /// owner, who unlinks first; from anywhere else the task's exit would reach the owner
    /// through the link and take it down.
    fn other_owner(&self) -> Option<Pid> {
        self.owner
            .filter(|owner| Some(*owner) != grove_runtime::self_pid())
    }

    pub(crate) fn kill_handle(&self) -> KillHandle {
        KillHandle {
            pid: self.pid,
            owner: self.owner,
        }
    }

    /// The task's process.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits up to `timeout` for the result. Past it the task is unlinked and killed, and the
    /// answer is [`TaskError::Timeout`] (Elixir's `Task.await` exits the caller instead; here the
    /// caller decides). Awaited by a process other than the one linked to it, the task is left
    /// running at the timeout: killing it would take its owner down through the link.
    pub async fn await_timeout(self, timeout: Duration) -> Result<T, TaskError> {
        let deadline = Instant::now().checked_add(timeout);
        self.await_until(deadline, timeout).await
    }

    async fn await_until(
        mut self,
        deadline: Option<Instant>,
        timeout: Duration,
    ) -> Result<T, TaskError> {
        let Some(deadline) = deadline else {
            return self.await;
        };
        match tokio::time::timeout_at(deadline, &mut self).await {
            Ok(result) => result,
            Err(_) if self.other_owner().is_some() => Err(TaskError::Timeout(timeout)),
            Err(_) => match self.shutdown(Shutdown::BrutalKill).await {
                // It finished as it was being killed: the result is as good as any.
                Some(Ok(value)) => Ok(value),
                _ => Err(TaskError::Timeout(timeout)),
            },
        }
    }

    /// Waits for every task under one deadline, `timeout` from now, and returns their results in
    /// the order given. Tasks still running at the deadline are killed and give
    /// [`TaskError::Timeout`].
    pub async fn await_many(
        tasks: impl IntoIterator<Item = Task<T>>,
        timeout: Duration,
    ) -> Vec<Result<T, TaskError>> {
        let deadline = Instant::now().checked_add(timeout);
        futures_util::future::join_all(
            tasks
                .into_iter()
                .map(|task| task.await_until(deadline, timeout)),
        )
        .await
    }

    /// Waits up to `timeout` for the result and leaves the task running if it has none yet
    /// (`None`), so the caller can wait again or [`Task::shutdown`] it (Elixir's `Task.yield`).
    /// After a result has been given, further calls give [`TaskError::AlreadyTaken`].
    pub async fn yield_timeout(&mut self, timeout: Duration) -> Option<Result<T, TaskError>> {
        tokio::time::timeout(timeout, self).await.ok()
    }

    /// Unlinks and stops the task: with `shutdown` and a wait of up to the timeout before a
    /// kill, or at once with [`Shutdown::BrutalKill`] (Elixir's `Task.shutdown`). Returns the
    /// result if the task finished first, the exit reason if it failed on its own, and `None` if
    /// it was stopped. Only the process that spawned a linked task may stop it (as in Elixir);
    /// from another process this gives [`TaskError::NotOwner`] and leaves it running.
    pub async fn shutdown(mut self, how: Shutdown) -> Option<Result<T, TaskError>> {
        if let Some(owner) = self.other_owner() {
            return Some(Err(TaskError::NotOwner(owner)));
        }
        let Some(mut result) = self.result.take() else {
            return Some(Err(TaskError::AlreadyTaken));
        };
        // So its exit does not reach the caller: the caller asked for it.
        if self.owner.is_some() {
            grove_runtime::unlink(self.pid);
        }
        let signal = match how {
            Shutdown::BrutalKill => ExitReason::Kill,
            Shutdown::Timeout(_) | Shutdown::Infinity => ExitReason::Shutdown,
        };
        grove_runtime::exit(self.pid, signal);
        let outcome = match how {
            Shutdown::Timeout(grace) => match tokio::time::timeout(grace, &mut result).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    grove_runtime::exit(self.pid, ExitReason::Kill);
                    result.await
                }
            },
            // The sender is dropped, at the latest, when the process's future is.
            Shutdown::BrutalKill | Shutdown::Infinity => result.await,
        };
        match outcome {
            Ok(Ok(value)) => Some(Ok(value)),
            Ok(Err(ExitReason::Shutdown | ExitReason::Killed)) | Err(_) => None,
            Ok(Err(reason)) => Some(Err(TaskError::Exited(reason))),
        }
    }

    /// Lets the task run on, unlinked, its result thrown away (Elixir's `Task.ignore`). Only
    /// the owner can unlink it; from another process the task stays linked to its owner.
    pub fn ignore(mut self) {
        if self.owner.is_some() && self.other_owner().is_none() {
            grove_runtime::unlink(self.pid);
        }
        self.result = None;
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let Some(result) = self.result.as_mut() else {
            return Poll::Ready(Err(TaskError::AlreadyTaken));
        };
        let outcome = std::task::ready!(Pin::new(result).poll(cx));
        self.result = None;
        Poll::Ready(match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(TaskError::Exited(reason)),
            // Unreachable in practice: the sender always sends before it is dropped.
            Err(_) => Err(TaskError::Exited(ExitReason::NoProc)),
        })
    }
}
