//! Supervisors: processes that start children, watch them, and restart them by a strategy when
//! they fail, within a restart intensity; past it they stop everything and exit, and their own
//! supervisor decides. A tree of supervisors is how a Grove application is built.
//!
//! ```
//! use std::time::Duration;
//! use grove_otp::prelude::*;
//! use grove_runtime::Context;
//!
//! let reason = grove_runtime::run(|_: Context<()>| async {
//!     let tree = Supervisor::one_for_one()
//!         .intensity(10, Duration::from_secs(1))
//!         .child(ChildSpec::process("flaky", |mut ctx: Context<u32>| async move {
//!             match ctx.recv().await.into_user() {
//!                 Some(0) => Err(ExitReason::error("zero")),
//!                 _ => Ok(()),
//!             }
//!         }))
//!         .start_link()
//!         .await?;
//!     let first = tree.which_children().await?[0].status.pid().unwrap();
//!     grove_runtime::send(first.assume_type::<u32>(), 0); // crashes; the supervisor restarts it
//!     grove_runtime::await_exit(first).await;
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//!     let second = tree.which_children().await?[0].status.pid();
//!     assert!(second.is_some() && second != Some(first));
//!     // `normal`: a linked caller that does not trap exits is not taken down with it.
//!     tree.stop(ExitReason::Normal).await?;
//!     Ok(())
//! });
//! assert_eq!(reason, ExitReason::Normal);
//! ```
//!
//! Restarts, give-ups, failed starts and shutdowns are logged with `tracing` and counted in
//! [`stats`].

mod core;
mod dynamic;
mod intensity;
mod server;
pub(crate) mod spec;

use std::sync::Arc;
use std::time::Duration;

use grove_runtime::{ExitReason, Pid};

pub use dynamic::{DynamicSupervisor, DynamicSupervisorRef};
pub use intensity::{Backoff, Intensity};
use server::SupervisorServer;
pub use spec::{ChildKind, ChildSpec, IntoChild, Restart, Shutdown, Strategy};

use crate::gen_server::{Call, CallError, Server, StartOptions};
use crate::start::StartError;
use server::{CountChildren, DeleteChild, RestartChild, StartChild, TerminateChild, WhichChildren};

/// A supervisor's configuration: strategy, intensity, optional backoff, children in start order.
/// A plain value: clone it to start the same tree twice, or to restart it as a child.
#[derive(Clone, Debug)]
pub struct Supervisor {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) children: Vec<ChildSpec>,
}

impl Supervisor {
    /// A supervisor with `strategy`, OTP's default intensity (3 restarts in 5 seconds), no
    /// backoff and no children yet.
    pub fn new(strategy: Strategy) -> Self {
        Supervisor {
            strategy,
            intensity: Intensity::default(),
            backoff: None,
            children: Vec::new(),
        }
    }

    /// `Supervisor::new(Strategy::OneForOne)`.
    pub fn one_for_one() -> Self {
        Self::new(Strategy::OneForOne)
    }

    /// `Supervisor::new(Strategy::OneForAll)`.
    pub fn one_for_all() -> Self {
        Self::new(Strategy::OneForAll)
    }

    /// `Supervisor::new(Strategy::RestForOne)`.
    pub fn rest_for_one() -> Self {
        Self::new(Strategy::RestForOne)
    }

    /// At most `max_restarts` restarts within `period` (OTP's `intensity` and `period`).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            period,
        };
        self
    }

    /// Waits before each restart of a failing child, doubling for quick repeated failures.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Adds a child after those already given.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// Adds children after those already given.
    pub fn children(mut self, specs: impl IntoIterator<Item = ChildSpec>) -> Self {
        self.children.extend(specs);
        self
    }

    /// Starts the supervisor linked to the calling process; returns once every child has
    /// started, or with the first failure (after stopping those already started).
    pub async fn start_link(self) -> Result<SupervisorRef, StartError> {
        self.start_opt(StartOptions::new().link()).await
    }

    /// Starts the supervisor without a link (a tree's root, started from `main`).
    pub async fn start(self) -> Result<SupervisorRef, StartError> {
        self.start_opt(StartOptions::new()).await
    }

    /// Starts the supervisor with options (a registered name, say).
    pub async fn start_opt(self, options: StartOptions) -> Result<SupervisorRef, StartError> {
        Server::start_opt(SupervisorServer::new(self), options)
            .await
            .map(SupervisorRef)
    }

    /// A child spec that starts this supervisor under another one.
    pub fn into_child_spec(self, id: impl Into<Arc<str>>) -> ChildSpec {
        ChildSpec::new(id, move || self.clone().start_link()).supervisor()
    }
}

/// A handle on a running supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SupervisorRef(Server<SupervisorServer>);

impl From<SupervisorRef> for Pid {
    fn from(supervisor: SupervisorRef) -> Pid {
        supervisor.pid()
    }
}

impl From<SupervisorRef> for grove_runtime::Dest {
    fn from(supervisor: SupervisorRef) -> grove_runtime::Dest {
        grove_runtime::Dest::Pid(supervisor.pid())
    }
}

impl IntoChild for SupervisorRef {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

/// Where a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    /// Running as this pid.
    Running(Pid),
    /// Waiting for a restart (a backoff delay, or a failed start being retried).
    Restarting,
    /// Not running: exited without needing a restart, ignored its start, or was terminated.
    Stopped,
}

impl ChildStatus {
    /// The pid, if running.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            ChildStatus::Running(pid) => Some(*pid),
            _ => None,
        }
    }
}

/// One child, as [`SupervisorRef::which_children`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its id.
    pub id: Arc<str>,
    /// Where it is.
    pub status: ChildStatus,
    /// Worker or supervisor.
    pub kind: ChildKind,
}

/// Counts of a supervisor's children (OTP's `count_children`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildCounts {
    /// Child specs.
    pub specs: usize,
    /// Children running.
    pub active: usize,
    /// Specs of supervisors.
    pub supervisors: usize,
    /// Specs of workers.
    pub workers: usize,
}

/// Why a supervisor refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// No child has this id.
    #[error("no child has the id {0:?}")]
    NotFound(String),
    /// A child with this id exists (not running); delete it first or use another id.
    #[error("a child with the id {0:?} already exists; delete it first or pick another id")]
    AlreadyPresent(String),
    /// The child is running; terminate it first.
    #[error("the child {0:?} is running as {1}; terminate it first")]
    Running(String, Pid),
    /// The child is waiting for a restart.
    #[error("the child {0:?} is waiting to be restarted; terminate it first")]
    Restarting(String),
    /// A dynamic supervisor already has its maximum number of children.
    #[error(
        "the supervisor already runs its maximum of {0} children; stop one or raise max_children"
    )]
    MaxChildren(usize),
    /// The child's start function failed.
    #[error("the child failed to start: {0}")]
    Start(StartError),
    /// The supervisor did not answer.
    #[error("the supervisor did not answer: {0}")]
    Call(CallError),
}

impl From<CallError> for SupervisorError {
    fn from(error: CallError) -> Self {
        SupervisorError::Call(error)
    }
}

impl From<SupervisorError> for ExitReason {
    fn from(error: SupervisorError) -> Self {
        ExitReason::error(error)
    }
}

/// Operator requests can wait behind a long shutdown; they get more than a call's default.
pub(crate) const OPERATOR_TIMEOUT: Duration = Duration::from_secs(60);

impl SupervisorRef {
    /// The supervisor's pid.
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    /// The handle of the supervisor at `pid`.
    pub fn from_pid(pid: Pid) -> Self {
        SupervisorRef(Server::from_pid(pid))
    }

    /// The supervisor registered as `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(SupervisorRef)
    }

    async fn request<M: Send + 'static>(
        &self,
        request: M,
    ) -> Result<<SupervisorServer as Call<M>>::Reply, SupervisorError>
    where
        SupervisorServer: Call<M>,
    {
        Ok(self.0.call_timeout(request, OPERATOR_TIMEOUT).await?)
    }

    /// The children in start order.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.request(WhichChildren).await
    }

    /// How many children, running and in all.
    pub async fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        self.request(CountChildren).await
    }

    /// Adds a child after the others and starts it; `Ok(None)` if its start said to ignore it.
    /// A child that fails to start is not added.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<Option<Pid>, SupervisorError> {
        self.request(StartChild(spec)).await?
    }

    /// Stops a child as its spec says and keeps its spec (a temporary child's spec is dropped).
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        self.request(TerminateChild(id.into())).await?
    }

    /// Starts a stopped child again.
    pub async fn restart_child(&self, id: &str) -> Result<Option<Pid>, SupervisorError> {
        self.request(RestartChild(id.into())).await?
    }

    /// Removes a stopped child's spec.
    pub async fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        self.request(DeleteChild(id.into())).await?
    }

    /// Stops the supervisor: its children in reverse start order, then itself.
    pub async fn stop(&self, reason: ExitReason) -> Result<(), CallError> {
        self.0.stop(reason).await
    }
}

/// Counters of supervision events across all supervisors of this node, for metrics.
pub mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(crate) struct Counter(AtomicU64);

    impl Counter {
        const fn new() -> Self {
            Counter(AtomicU64::new(0))
        }

        pub(crate) fn inc(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }

        fn get(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    pub(crate) static CHILDREN_STARTED: Counter = Counter::new();
    pub(crate) static RESTARTS: Counter = Counter::new();
    pub(crate) static START_FAILURES: Counter = Counter::new();
    pub(crate) static GIVE_UPS: Counter = Counter::new();
    pub(crate) static CHILDREN_STOPPED: Counter = Counter::new();
    pub(crate) static SHUTDOWN_TIMEOUTS: Counter = Counter::new();

    /// A snapshot of the counters (monotonic since the node started).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct SupervisionStats {
        /// Children started (first starts and restarts).
        pub children_started: u64,
        /// Children restarted after a failure.
        pub restarts: u64,
        /// Child starts that failed.
        pub start_failures: u64,
        /// Supervisors that reached their restart intensity and gave up.
        pub give_ups: u64,
        /// Children stopped by their supervisor.
        pub children_stopped: u64,
        /// Children killed because they did not stop within their shutdown timeout.
        pub shutdown_timeouts: u64,
    }

    /// The counters now.
    pub fn snapshot() -> SupervisionStats {
        SupervisionStats {
            children_started: CHILDREN_STARTED.get(),
            restarts: RESTARTS.get(),
            start_failures: START_FAILURES.get(),
            give_ups: GIVE_UPS.get(),
            children_stopped: CHILDREN_STOPPED.get(),
            shutdown_timeouts: SHUTDOWN_TIMEOUTS.get(),
        }
    }
}
