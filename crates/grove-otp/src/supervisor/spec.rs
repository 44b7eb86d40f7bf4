//! Child specs: plain values saying how to start a child, when to restart it and how to stop it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use futures_util::future::BoxFuture;
use grove_runtime::{Addr, Context, Exit, ExitReason, IntoExitReason, Pid, SpawnOptions};

use super::core::ChildId;
use crate::gen_server::{GenServer, Server};
use crate::start::StartError;

/// Which children a supervisor restarts when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child: stop the others in reverse start order, then start all in order.
    OneForAll,
    /// The failed child and those started after it.
    RestForOne,
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always (the default).
    #[default]
    Permanent,
    /// Only after an abnormal exit (not `normal` or `shutdown`).
    Transient,
    /// Never; its spec is forgotten once it exits.
    Temporary,
}

impl Restart {
    /// Whether a child of this restart type is restarted after exiting with `reason`.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_clean(),
            Restart::Temporary => false,
        }
    }
}

/// How a child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once (`Kill`, which cannot be trapped).
    BrutalKill,
    /// Sent `shutdown`, then killed if it has not exited within the time.
    Timeout(Duration),
    /// Sent `shutdown` and waited for as long as it takes: for supervisors, which stop their
    /// own children first.
    Infinity,
}

/// Whether a child is a worker or a supervisor (introspection and default shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// Anything that is not a supervisor.
    Worker,
    /// A supervisor: its shutdown defaults to [`Shutdown::Infinity`].
    Supervisor,
}

/// What a child's start function gives back: the started process, or nothing when the child
/// chose not to run (OTP's `ignore`: the spec is kept, the child is not running).
pub trait IntoChild {
    /// The child's pid, or `None` to ignore.
    fn into_child(self) -> Option<Pid>;
}

impl IntoChild for Pid {
    fn into_child(self) -> Option<Pid> {
        Some(self)
    }
}

impl<M> IntoChild for Addr<M> {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl<S: GenServer> IntoChild for Server<S> {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl<T: IntoChild> IntoChild for Option<T> {
    fn into_child(self) -> Option<Pid> {
        self.and_then(IntoChild::into_child)
    }
}

type StartFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Option<Pid>, StartError>> + Send + Sync>;

/// How to start, restart and stop one child. Cheap to clone.
///
/// The start function runs inside the supervisor's process and must start the child *linked*
/// to it: [`Server::start_link`], [`crate::supervisor::Supervisor::start_link`], or
/// [`ChildSpec::process`] for a plain process.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: ChildId,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish()
    }
}

impl ChildSpec {
    /// A permanent worker with a 5 second shutdown (OTP's defaults), started by `start`.
    ///
    /// ```
    /// # use grove_otp::prelude::*;
    /// # #[derive(Default)] struct Cache;
    /// # impl GenServer for Cache {}
    /// let spec = ChildSpec::new("cache", || Server::start_link(Cache::default()));
    /// ```
    pub fn new<F, Fut, T>(id: impl Into<ChildId>, start: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, StartError>> + Send + 'static,
        T: IntoChild,
    {
        let start: StartFn = Arc::new(move || {
            let started = start();
            Box::pin(async move { started.await.map(IntoChild::into_child) })
        });
        ChildSpec {
            id: id.into(),
            start,
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            kind: ChildKind::Worker,
        }
    }

    /// A plain process child: `body` runs in a new process linked to the supervisor, spawned
    /// afresh on each restart.
    ///
    /// ```
    /// # use grove_otp::prelude::*;
    /// use grove_runtime::Context;
    /// let spec = ChildSpec::process("ticker", |mut ctx: Context<()>| async move {
    ///     while ctx.recv().await.into_user().is_some() {}
    /// });
    /// ```
    pub fn process<M, F, Fut>(id: impl Into<ChildId>, body: F) -> Self
    where
        M: Send + 'static,
        F: Fn(Context<M>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let id = id.into();
        let label: Arc<str> = Arc::from(format!("child {id}"));
        Self::new(id, move || {
            std::future::ready(spawn_linked(label.clone(), body.clone()))
        })
    }

    /// Sets when the child is restarted.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how the child is stopped.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Marks the child as a supervisor, with an infinite shutdown (it stops its own children
    /// first) unless [`ChildSpec::shutdown`] says otherwise afterwards.
    pub fn supervisor(mut self) -> Self {
        self.kind = ChildKind::Supervisor;
        self.shutdown = Shutdown::Infinity;
        self
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs the start function from inside `supervisor`'s process: a panic in it is a failed
    /// start (as OTP treats a crash in `start_link`), and the child is linked to the supervisor
    /// even if the start function forgot to (if it is already gone, the link reports `noproc`).
    /// Counted and logged.
    pub(crate) async fn start_under(&self, supervisor: Pid) -> Result<Option<Pid>, StartError> {
        let start = self.start.clone();
        let span =
            tracing::debug_span!("grove.supervisor.start_child", %supervisor, child = %self.id);
        let started = crate::start::guarded(async move { start().await })
            .instrument(span)
            .await
            .unwrap_or_else(|panic| Err(StartError::Init(panic)));
        match &started {
            Ok(pid) => {
                if let Some(pid) = pid {
                    grove_runtime::link(*pid);
                }
                super::stats::CHILDREN_STARTED.inc();
                tracing::debug!(%supervisor, child = %self.id, pid = ?pid, "child started");
            }
            Err(error) => {
                super::stats::START_FAILURES.inc();
                tracing::error!(%supervisor, child = %self.id, %error, "child failed to start");
            }
        }
        started
    }
}

/// Spawns `body` as a process linked to the calling one (a supervisor, in a start function).
pub(crate) fn spawn_linked<M, F, Fut>(label: Arc<str>, body: F) -> Result<Pid, StartError>
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    grove_runtime::spawn_opt(SpawnOptions::new().link(true).label(label), body)
        .map(|spawned| spawned.addr.pid())
        .map_err(|error| StartError::Init(ExitReason::error(error)))
}

/// Logs a child's own exit: quietly for `normal` and `shutdown`, as an error otherwise (OTP's
/// `child_terminated` report).
pub(crate) fn log_child_exit(supervisor: Pid, id: &str, exit: &Exit) {
    if exit.reason.is_clean() {
        tracing::debug!(%supervisor, child = %id, pid = %exit.from, reason = %exit.reason, "child exited");
    } else {
        tracing::error!(%supervisor, child = %id, pid = %exit.from, reason = %exit.reason, "child terminated");
    }
}
