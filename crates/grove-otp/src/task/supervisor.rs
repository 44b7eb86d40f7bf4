//! `TaskSupervisor`: a supervisor for tasks that are not linked to whoever asked for them
//! (Elixir's `Task.Supervisor`). A task that crashes does not take the caller down, and a caller
//! that crashes does not take its tasks down; the supervisor stops them all when it stops.
//!
//! ```
//! use std::time::Duration;
//! use grove_otp::task::{TaskError, TaskSupervisor};
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let tasks = TaskSupervisor::new().start_link().await?;
//!     let fine = tasks.async_nolink(async { 7 }).await?;
//!     let broken = tasks.async_nolink(async { panic!("bad input") }).await?;
//!     assert_eq!(fine.await_timeout(Duration::from_secs(5)).await, Ok(7));
//!     // The panic is the task's exit reason; the caller lives on.
//!     assert!(matches!(broken.await, Err(TaskError::Exited(_))));
//!     Ok(())
//! });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::Stream;
use grove_runtime::{ExitReason, Pid};
use parking_lot::Mutex;

use super::stream::{run_each, AsyncStreamOptions};
use super::{result_channel, run_task, Task, TaskError};
use crate::gen_server::{CallError, StartOptions};
use crate::start::StartError;
use crate::supervisor::spec::spawn_linked;
use crate::supervisor::{
    ChildSpec, DynamicSupervisor, DynamicSupervisorRef, Restart, Shutdown, SupervisorError,
};

/// How long [`super::async_stream`] gives each item by default (Elixir's 5 seconds).
pub(crate) const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A task supervisor's configuration. Each task gets 5 seconds to stop when the supervisor
/// stops or terminates it (Elixir's default).
#[derive(Debug, Clone, Default)]
pub struct TaskSupervisor {
    supervisor: DynamicSupervisor,
}

impl TaskSupervisor {
    /// No cap on tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` tasks at once; starting another fails with
    /// [`SupervisorError::MaxChildren`].
    pub fn max_children(mut self, max: usize) -> Self {
        self.supervisor = self.supervisor.max_children(max);
        self
    }

    /// Starts it linked to the calling process.
    pub async fn start_link(self) -> Result<TaskSupervisorRef, StartError> {
        self.start_opt(StartOptions::new().link()).await
    }

    /// Starts it without a link.
    pub async fn start(self) -> Result<TaskSupervisorRef, StartError> {
        self.start_opt(StartOptions::new()).await
    }

    /// Starts it with options (a registered name, say).
    pub async fn start_opt(self, options: StartOptions) -> Result<TaskSupervisorRef, StartError> {
        self.supervisor
            .start_opt(options)
            .await
            .map(TaskSupervisorRef)
    }

    /// A child spec that starts this task supervisor under another supervisor. Find it again
    /// with a registered name ([`TaskSupervisor::into_named_child_spec`]) or from
    /// `which_children` and [`TaskSupervisorRef::from_pid`].
    pub fn into_child_spec(self, id: impl Into<Arc<str>>) -> ChildSpec {
        ChildSpec::new(id, move || self.clone().start_link()).supervisor()
    }

    /// A child spec that starts this task supervisor registered as `name`, so callers find it
    /// with [`TaskSupervisorRef::whereis`].
    pub fn into_named_child_spec(self, id: impl Into<Arc<str>>, name: &str) -> ChildSpec {
        let name: Arc<str> = Arc::from(name);
        ChildSpec::new(id, move || {
            self.clone()
                .start_opt(StartOptions::new().link().name(name.clone()))
        })
        .supervisor()
    }
}

/// A handle on a running task supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskSupervisorRef(DynamicSupervisorRef);

impl crate::supervisor::IntoChild for TaskSupervisorRef {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl TaskSupervisorRef {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    /// The task supervisor at `pid`.
    pub fn from_pid(pid: Pid) -> Self {
        TaskSupervisorRef(DynamicSupervisorRef::from_pid(pid))
    }

    /// The task supervisor registered as `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        DynamicSupervisorRef::whereis(name).map(TaskSupervisorRef)
    }

    /// Runs `work` as a task under this supervisor, not linked to the caller, and returns the
    /// task to await (Elixir's `Task.Supervisor.async_nolink`). A crash of the task is its
    /// result ([`TaskError::Exited`]), not the caller's crash.
    pub async fn async_nolink<F>(&self, work: F) -> Result<Task<F::Output>, SupervisorError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (sender, result) = result_channel();
        let pid = self.start(run_task(work, sender)).await?;
        Ok(Task::unlinked(pid, result))
    }

    /// Runs `work` as a task under this supervisor with no one awaiting it (Elixir's
    /// `Task.Supervisor.start_child`): fire and forget, but stopped with the supervisor and
    /// logged if it crashes.
    pub async fn start_child<F>(&self, work: F) -> Result<Pid, SupervisorError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.start(async move {
            crate::start::guarded(work)
                .await
                .err()
                .unwrap_or(ExitReason::Normal)
        })
        .await
    }

    /// Starts `body` as a temporary child process. The child spec's start function is called
    /// once (temporary children are never restarted), so it hands over the one future it has.
    async fn start<B>(&self, body: B) -> Result<Pid, SupervisorError>
    where
        B: Future<Output = ExitReason> + Send + 'static,
    {
        let body = Arc::new(Mutex::new(Some(body)));
        let spec = ChildSpec::new("task", move || {
            let started = match body.lock().take() {
                Some(body) => {
                    spawn_linked(Arc::from("task"), move |_: grove_runtime::Context<()>| body)
                }
                None => Err(StartError::Init(ExitReason::error(
                    "a task is started once; it cannot be restarted",
                ))),
            };
            std::future::ready(started)
        })
        .restart(Restart::Temporary)
        .shutdown(Shutdown::Timeout(DEFAULT_TASK_TIMEOUT));
        match self.0.start_child(spec).await? {
            Some(pid) => Ok(pid),
            None => Err(SupervisorError::Start(StartError::Init(ExitReason::error(
                "the task was not started",
            )))),
        }
    }

    /// The running tasks' pids.
    pub async fn children(&self) -> Result<Vec<Pid>, SupervisorError> {
        let children = self.0.which_children().await?;
        Ok(children
            .into_iter()
            .filter_map(|child| child.status.pid())
            .collect())
    }

    /// Stops the task `pid`: `shutdown`, then a kill after 5 seconds.
    pub async fn terminate_child(&self, pid: Pid) -> Result<(), SupervisorError> {
        self.0.terminate_child(pid).await
    }

    /// [`super::async_stream`] with every task under this supervisor, not linked to the caller
    /// (Elixir's `Task.Supervisor.async_stream_nolink`).
    pub fn async_stream_nolink<S, F, Fut>(
        &self,
        items: S,
        options: AsyncStreamOptions,
        work: F,
    ) -> impl Stream<Item = Result<Fut::Output, TaskError>> + Send
    where
        S: Stream + Send,
        F: FnMut(S::Item) -> Fut + Send,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let supervisor = *self;
        run_each(items, options, work, move |work| async move {
            supervisor
                .async_nolink(work)
                .await
                .map_err(TaskError::NotStarted)
        })
    }

    /// Stops every task, then the supervisor.
    pub async fn stop(&self, reason: ExitReason) -> Result<(), CallError> {
        self.0.stop(reason).await
    }
}
