//! Starting a behaviour's process: the starter waits until the new process says its
//! initialization is done (OTP's `proc_lib` start protocol), so it learns whether `init`
//! succeeded before it goes on.

use std::time::Duration;

use grove_runtime::{watch_exit, ExitReason, Pid};
use tokio::sync::oneshot;

/// Why a server, supervisor or other behaviour did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Its initialization failed with this reason (an error from `init`, a panic in it, or the
    /// process being killed while in it). The process has exited.
    #[error("initialization failed: {0}")]
    Init(ExitReason),
    /// The name (or unique registry key) it was to be registered under is held by this process.
    #[error("already started: the name is held by {0}; use that process or pick another name")]
    AlreadyStarted(Pid),
    /// Initialization took longer than the start timeout; the process was killed.
    #[error("initialization did not finish within {0:?}; the process was killed")]
    Timeout(Duration),
    /// A linked start was asked for outside a process: there is nothing to link to.
    #[error("a linked start needs a calling process; start it from inside a process or use start")]
    NoParent,
    /// No tokio runtime is running here.
    #[error("no tokio runtime is running on this thread; start one with grove::run")]
    NoRuntime,
}

impl StartError {
    /// The exit reason a process that cannot go on without this start exits with.
    pub fn into_exit_reason(self) -> ExitReason {
        match self {
            StartError::Init(reason) => reason,
            other => ExitReason::error(other),
        }
    }
}

impl From<StartError> for ExitReason {
    fn from(error: StartError) -> Self {
        error.into_exit_reason()
    }
}

/// A one-shot report from a process that is always sent: with a value when the process gets to
/// send one, or, dropped unsent because the process was killed or taken down by a link, with
/// what `on_exit` makes of the process's exit reason. The waiting side never waits for a
/// process that is gone.
pub(crate) struct ExitReport<T: Send + 'static> {
    tx: Option<oneshot::Sender<T>>,
    on_exit: fn(ExitReason) -> T,
}

impl<T: Send + 'static> ExitReport<T> {
    pub(crate) fn new(tx: oneshot::Sender<T>, on_exit: fn(ExitReason) -> T) -> Self {
        ExitReport {
            tx: Some(tx),
            on_exit,
        }
    }

    pub(crate) fn send(mut self, value: T) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(value);
        }
    }
}

impl<T: Send + 'static> Drop for ExitReport<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let on_exit = self.on_exit;
            match grove_runtime::exiting_reason() {
                // Reported once the process is gone and its name free.
                Some(reason) => grove_runtime::when_gone(move || {
                    let _ = tx.send(on_exit(reason));
                }),
                None => {
                    let _ = tx.send(on_exit(ExitReason::NoProc));
                }
            }
        }
    }
}

/// The new process's side of the start protocol: how its initialization went.
pub(crate) type Ack = ExitReport<Result<(), StartError>>;

/// An [`Ack`] for the starter waiting on `tx`; dropped unsent, it reports `Init(reason)`.
pub(crate) fn ack(tx: oneshot::Sender<Result<(), StartError>>) -> Ack {
    ExitReport::new(tx, |reason| Err(StartError::Init(reason)))
}

/// The exit reason a watch resolves to; `noproc` when there was nothing to watch.
pub(crate) async fn exit_of(watch: Option<grove_runtime::ExitWatch>) -> ExitReason {
    match watch {
        Some(watch) => watch.await,
        None => ExitReason::NoProc,
    }
}

/// The starter's side: waits for the ack from `pid`. On failure it returns only once the process
/// is gone, so a name it held is free again.
pub(crate) async fn await_ack(
    pid: Pid,
    acked: oneshot::Receiver<Result<(), StartError>>,
    timeout: Duration,
) -> Result<(), StartError> {
    let exited = watch_exit(pid);
    let gone = || exit_of(exited);
    match tokio::time::timeout(timeout, acked).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => {
            gone().await;
            Err(error)
        }
        // Gone without a word: killed, or its future dropped, during initialization.
        Ok(Err(_)) => Err(StartError::Init(gone().await)),
        Err(_) => {
            // As OTP: unlink first, so killing it does not take the starter down too.
            grove_runtime::unlink(pid);
            grove_runtime::exit(pid, ExitReason::Kill);
            gone().await;
            Err(StartError::Timeout(timeout))
        }
    }
}

/// Runs `work` now, turning a panic in it into an exit reason: [`guarded`] for plain functions.
pub(crate) fn guarded_sync<T>(work: impl FnOnce() -> T) -> Result<T, ExitReason> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .map_err(|payload| ExitReason::from_panic(&*payload))
}

/// Runs `work`, turning a panic in it into an exit reason (for code that must clean up or
/// report before going down: a behaviour's callbacks, a supervisor's child start).
pub(crate) async fn guarded<T>(
    work: impl std::future::Future<Output = T>,
) -> Result<T, ExitReason> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| ExitReason::from_panic(&*payload))
}
