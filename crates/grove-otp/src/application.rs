//! `Application`: a root supervision tree plus its configuration, started by one call and
//! stopped in order on SIGTERM or SIGINT (OTP's application controller, as a Kubernetes pod
//! needs it).
//!
//! [`Application::run`] starts a Grove runtime, builds the tree from the configuration, starts
//! it, and waits. On SIGTERM or SIGINT it stops the tree the way a supervisor stops anything:
//! children in reverse start order, each within its own shutdown timeout, supervisors after
//! their children; all of it under one overall deadline ([`Application::shutdown_timeout`]),
//! past which whatever is left is killed. A signal while the tree is still starting stops it
//! as soon as it has started. A second signal while starting or stopping exits at once. The
//! result, an [`ApplicationExit`], is what `main` returns, and becomes the exit status:
//!
//! | how it ended | [`ApplicationExit`] | status |
//! | --- | --- | --- |
//! | stopped in order after a signal or a stop request | `Stopped` | 0 |
//! | the root supervisor gave up (past its restart intensity) | `Failed` | 1 |
//! | the tree did not start | `StartFailed` | 1 |
//! | the overall shutdown deadline passed | `DeadlineExceeded` | 2 |
//! | a second signal while starting or stopping | (exits at once) | 128 + signal (130, 143) |
//!
//! ```no_run
//! use std::time::Duration;
//! use grove_otp::application::{Application, ApplicationExit};
//! use grove_otp::prelude::*;
//!
//! struct Config { port: u16 }
//!
//! fn main() -> ApplicationExit {
//!     Application::new("jenga")
//!         .config(Config { port: 4000 })
//!         .shutdown_timeout(Duration::from_secs(25))
//!         .run(|config| {
//!             let port = config.port;
//!             Supervisor::one_for_one().child(ChildSpec::process(
//!                 "listener",
//!                 move |mut ctx: grove_runtime::Context<()>| async move {
//!                     println!("listening on {port}");
//!                     while ctx.recv().await.into_user().is_some() {}
//!                 },
//!             ))
//!         })
//! }
//! ```
//!
//! [`Application::serve`] does the same inside a tokio runtime the program already has, and
//! [`Application::serve_until`] stops on a future instead of a signal (tests, embedding).

use std::future::Future;
use std::process::{ExitCode, Termination};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use grove_runtime::{watch_exit, Context, ExitReason, Message, Pid};
use tokio::time::Instant;

use crate::start::{exit_of, guarded_sync};
use crate::supervisor::Supervisor;

/// How long the whole tree gets to stop by default: under Kubernetes' default grace period
/// (30 s), so the pod is not killed mid-shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// An application: a name, a configuration, and how long stopping may take. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Application<C = ()> {
    name: Arc<str>,
    config: Arc<C>,
    shutdown_timeout: Duration,
    drain_delay: Duration,
}

impl Application<()> {
    /// An application called `name` (for logs), with no configuration yet.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Application {
            name: name.into(),
            config: Arc::new(()),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            drain_delay: Duration::ZERO,
        }
    }
}

/// A signal that stops an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    /// SIGTERM: what Kubernetes, systemd and `kill` send.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

impl ShutdownSignal {
    /// The signal's number (15, 2).
    pub fn number(self) -> i32 {
        match self {
            ShutdownSignal::Terminate => 15,
            ShutdownSignal::Interrupt => 2,
        }
    }
}

/// Why an application began to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The process received this signal.
    Signal(ShutdownSignal),
    /// The future given to [`Application::serve_until`] completed.
    Requested,
}

/// How an application ended; `main` returns it, and it becomes the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationExit {
    /// Asked to stop, it stopped in order within the deadline. Status 0.
    Stopped(StopCause),
    /// The root supervisor exited by itself with this reason (a child kept failing past the
    /// restart intensity). Status 1.
    Failed(ExitReason),
    /// The tree did not start, or the signal handlers could not be installed. Status 1.
    StartFailed(ExitReason),
    /// The tree did not stop within the shutdown deadline; what was left was killed. Status 2.
    DeadlineExceeded(Duration),
}

impl ApplicationExit {
    /// The process exit status this stands for.
    pub fn code(&self) -> u8 {
        match self {
            ApplicationExit::Stopped(_) => 0,
            ApplicationExit::Failed(_) | ApplicationExit::StartFailed(_) => 1,
            ApplicationExit::DeadlineExceeded(_) => 2,
        }
    }
}

impl Termination for ApplicationExit {
    /// Prints why on standard error unless the application stopped cleanly.
    fn report(self) -> ExitCode {
        match &self {
            ApplicationExit::Stopped(_) => {}
            ApplicationExit::Failed(reason) => {
                eprintln!("grove: the application's root supervisor exited: {reason}");
            }
            ApplicationExit::StartFailed(reason) => {
                eprintln!("grove: the application did not start: {reason}");
            }
            ApplicationExit::DeadlineExceeded(deadline) => eprintln!(
                "grove: the application did not stop within {deadline:?}; the rest was killed"
            ),
        }
        ExitCode::from(self.code())
    }
}

impl<C: Send + Sync + 'static> Application<C> {
    /// Sets the configuration the tree is built from.
    pub fn config<D: Send + Sync + 'static>(self, config: D) -> Application<D> {
        Application {
            name: self.name,
            config: Arc::new(config),
            shutdown_timeout: self.shutdown_timeout,
            drain_delay: self.drain_delay,
        }
    }

    /// The overall deadline for stopping the tree (default [`DEFAULT_SHUTDOWN_TIMEOUT`]). Keep
    /// it below the orchestrator's own grace period (Kubernetes' `terminationGracePeriodSeconds`).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long to stay up, answering "not ready" ([`is_stopping`]), between the stop signal
    /// and stopping the tree (default none). Kubernetes keeps sending traffic to a pod until
    /// its readiness probe has failed (`periodSeconds` x `failureThreshold`) and the endpoints
    /// have been updated: a delay of that order lets requests already on their way be served.
    /// A second signal ends the delay early. The delay plus the shutdown timeout must fit in
    /// `terminationGracePeriodSeconds`.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Starts a Grove runtime and the tree `tree` builds from the configuration, stops it on
    /// SIGTERM or SIGINT, and returns how it ended. Blocks; for `main`. A program that already
    /// runs tokio uses [`Application::serve`].
    ///
    /// # Panics
    /// Inside a tokio runtime, as [`grove_runtime::run`].
    pub fn run<T>(self, tree: T) -> ApplicationExit
    where
        T: FnOnce(&C) -> Supervisor + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let reason = grove_runtime::run(move |ctx: Context<()>| async move {
            let exit = match Trigger::signals() {
                Ok(trigger) => self.master(ctx, tree, trigger).await,
                Err(error) => ApplicationExit::StartFailed(error),
            };
            let _ = tx.send(exit);
        });
        rx.try_recv().unwrap_or(ApplicationExit::Failed(reason))
    }

    /// [`Application::run`] on the tokio runtime the caller is in (it needs tokio's signal
    /// driver: `enable_all` on a hand-built runtime).
    pub async fn serve<T>(self, tree: T) -> ApplicationExit
    where
        T: FnOnce(&C) -> Supervisor + Send + 'static,
    {
        match Trigger::signals() {
            Ok(trigger) => self.spawn_master(tree, trigger).await,
            Err(error) => ApplicationExit::StartFailed(error),
        }
    }

    /// Runs the application until `stop` completes (not on signals), then stops it as a signal
    /// would: for tests, and for programs that decide themselves when to stop.
    pub async fn serve_until<T>(
        self,
        tree: T,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> ApplicationExit
    where
        T: FnOnce(&C) -> Supervisor + Send + 'static,
    {
        self.spawn_master(tree, Trigger::Future(Some(Box::pin(stop))))
            .await
    }

    async fn spawn_master<T>(self, tree: T, trigger: Trigger) -> ApplicationExit
    where
        T: FnOnce(&C) -> Supervisor + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let master = grove_runtime::spawn(move |ctx: Context<()>| async move {
            let _ = tx.send(self.master(ctx, tree, trigger).await);
        });
        let exited = watch_exit(master.pid());
        match rx.await {
            Ok(exit) => exit,
            Err(_) => ApplicationExit::Failed(exit_of(exited).await),
        }
    }

    /// The application master's life: start the tree, wait for a stop, stop the tree.
    async fn master<T>(self, mut ctx: Context<()>, tree: T, mut trigger: Trigger) -> ApplicationExit
    where
        T: FnOnce(&C) -> Supervisor,
    {
        let name = self.name;
        ctx.trap_exit(true);
        let supervisor = match guarded_sync(|| tree(&self.config)) {
            Ok(supervisor) => supervisor,
            Err(panic) => {
                tracing::error!(application = %name, %panic, "building the application's tree panicked");
                return ApplicationExit::StartFailed(panic);
            }
        };
        // A signal while the tree starts is kept: the tree is stopped in order as soon as it
        // has started. A second one exits at once, so an `init` that hangs cannot hold the
        // process hostage.
        let mut early_stop = None;
        let starting = supervisor.start_link();
        tokio::pin!(starting);
        let started = loop {
            tokio::select! {
                started = &mut starting => break started,
                cause = trigger.next(), if trigger.is_signals() => match early_stop {
                    None => {
                        tracing::info!(application = %name, ?cause, "signal while starting; stopping once started");
                        early_stop = Some(cause);
                    }
                    Some(_) => exit_now(&name, cause, "again while starting"),
                },
            }
        };
        let root = match started {
            Ok(root) => root.pid(),
            Err(error) => {
                tracing::error!(application = %name, %error, "application did not start");
                return ApplicationExit::StartFailed(error.into_exit_reason());
            }
        };
        tracing::info!(application = %name, %root, "application started");

        let cause = match early_stop {
            Some(cause) => cause,
            None => tokio::select! {
                cause = trigger.next() => cause,
                reason = exit_of_child(&mut ctx, root) => {
                    tracing::error!(application = %name, %reason, "application's root supervisor exited");
                    return ApplicationExit::Failed(reason);
                }
            },
        };
        let deadline = self.shutdown_timeout;
        let _stopping = StoppingGuard::enter();
        if !self.drain_delay.is_zero() {
            let delay = self.drain_delay;
            tracing::info!(application = %name, ?cause, ?delay, "application draining: not ready, stopping the tree after the delay");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                again = trigger.next(), if trigger.is_signals() => {
                    tracing::info!(application = %name, cause = ?again, "signal while draining; stopping now");
                }
                reason = exit_of_child(&mut ctx, root) => {
                    tracing::error!(application = %name, %reason, "application's root supervisor exited while draining");
                    return ApplicationExit::Failed(reason);
                }
            }
        }
        tracing::info!(application = %name, ?cause, ?deadline, "application stopping");
        let began = Instant::now();
        // As a supervisor stops a child supervisor: the parent's `shutdown` exit signal, upon
        // which it stops its children in reverse order and then exits.
        let stopped = watch_exit(root);
        ctx.exit(root, ExitReason::Shutdown);
        tokio::select! {
            reason = exit_of(stopped) => {
                tracing::info!(application = %name, %reason, elapsed = ?began.elapsed(), "application stopped");
                ApplicationExit::Stopped(cause)
            }
            () = tokio::time::sleep(deadline) => {
                tracing::error!(application = %name, ?deadline, "application did not stop in time; killing what is left");
                kill_tree(root, ctx.pid()).await;
                ApplicationExit::DeadlineExceeded(deadline)
            }
            again = trigger.next() => exit_now(&name, again, "while stopping"),
        }
    }
}

/// Applications of this OS process now stopping.
static STOPPING: AtomicUsize = AtomicUsize::new(0);

/// True while an application of this OS process is stopping: from its stop signal (or stop
/// request) until its tree has stopped. Readiness checks answer "not ready" then, so a load
/// balancer stops sending traffic before the listeners close.
pub fn is_stopping() -> bool {
    STOPPING.load(Ordering::SeqCst) > 0
}

/// Counts an application as stopping while it lives.
struct StoppingGuard;

impl StoppingGuard {
    fn enter() -> Self {
        STOPPING.fetch_add(1, Ordering::SeqCst);
        StoppingGuard
    }
}

impl Drop for StoppingGuard {
    fn drop(&mut self) {
        STOPPING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Exits the OS process at once: the answer to a signal when stopping in order is not (or no
/// longer) possible. The status is 128 + the signal, as a shell reports a process it killed.
fn exit_now(name: &str, cause: StopCause, when: &str) -> ! {
    let code = match cause {
        StopCause::Signal(signal) => 128 + signal.number(),
        StopCause::Requested => 1,
    };
    tracing::error!(application = %name, ?cause, "signal {when}; exiting at once");
    eprintln!("grove: application {name}: signal {when}, exiting at once");
    std::process::exit(code)
}

/// Kills `root` and everything under it, except `master`, and waits for the root to exit.
/// "Under it" is every process it started or is linked to, transitively: a supervisor that is
/// stopping a child has unlinked from it already, so links alone would miss exactly the stuck
/// child, and killing only the root would leave a trapping sub-supervisor waiting for it.
async fn kill_tree(root: Pid, master: Pid) {
    let mut related: std::collections::HashMap<Pid, Vec<Pid>> = std::collections::HashMap::new();
    for pid in grove_runtime::processes() {
        if let Some(info) = grove_runtime::process_info(pid) {
            if let Some(parent) = info.parent {
                related.entry(parent).or_default().push(pid);
            }
            related.entry(pid).or_default().extend(info.links);
        }
    }
    let mut seen = std::collections::HashSet::from([root, master]);
    let mut queue = vec![root];
    let mut tree = Vec::new();
    while let Some(pid) = queue.pop() {
        tree.push(pid);
        for next in related.get(&pid).into_iter().flatten() {
            if seen.insert(*next) {
                queue.push(*next);
            }
        }
    }
    let root_exit = watch_exit(root);
    for pid in tree {
        grove_runtime::exit(pid, ExitReason::Kill);
    }
    exit_of(root_exit).await;
}

/// Waits for the exit of `child`, a process linked to this trapping one.
async fn exit_of_child(ctx: &mut Context<()>, child: Pid) -> ExitReason {
    loop {
        if let Message::Exit(exit) = ctx.recv().await {
            if exit.from == child {
                return exit.reason;
            }
        }
    }
}

/// What makes an application stop: signals, or a future.
enum Trigger {
    #[cfg(unix)]
    Signals {
        terminate: tokio::signal::unix::Signal,
        interrupt: tokio::signal::unix::Signal,
    },
    #[cfg(not(unix))]
    CtrlC,
    Future(Option<BoxFuture<'static, ()>>),
}

impl Trigger {
    /// Installs the SIGTERM and SIGINT handlers. From here on the signals no longer kill the
    /// process by default: they arrive here.
    fn signals() -> Result<Trigger, ExitReason> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind| {
                signal(kind).map_err(|error| {
                    ExitReason::error(format!(
                        "cannot install the shutdown signal handlers ({error}); a hand-built tokio runtime needs enable_all"
                    ))
                })
            };
            Ok(Trigger::Signals {
                terminate: install(SignalKind::terminate())?,
                interrupt: install(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Trigger::CtrlC)
        }
    }

    fn is_signals(&self) -> bool {
        !matches!(self, Trigger::Future(_))
    }

    /// The next reason to stop. A future trigger fires once; signals fire each time one comes.
    async fn next(&mut self) -> StopCause {
        match self {
            #[cfg(unix)]
            Trigger::Signals {
                terminate,
                interrupt,
            } => tokio::select! {
                _ = terminate.recv() => StopCause::Signal(ShutdownSignal::Terminate),
                _ = interrupt.recv() => StopCause::Signal(ShutdownSignal::Interrupt),
            },
            #[cfg(not(unix))]
            Trigger::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
                StopCause::Signal(ShutdownSignal::Interrupt)
            }
            Trigger::Future(stop) => match stop.take() {
                Some(stop) => {
                    stop.await;
                    StopCause::Requested
                }
                None => std::future::pending().await,
            },
        }
    }
}
