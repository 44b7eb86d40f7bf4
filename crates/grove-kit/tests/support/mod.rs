//! Tokio's paused clock for the kit's tests, and running a test body as a Grove process on it.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::future::Future;

use grove_runtime::{Context, ExitReason};

/// A current-thread runtime whose clock is paused: it jumps ahead whenever every task waits
/// on a timer.
pub fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
}

/// Runs `body` as a Grove process on a current-thread runtime whose clock is paused (it jumps
/// ahead whenever every task waits on a timer), and returns the process's exit reason.
pub fn on_virtual_time<F, Fut>(body: F) -> ExitReason
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    paused().block_on(async move {
        let (go, ready) = tokio::sync::oneshot::channel::<()>();
        let pid = grove_runtime::spawn(move |_: Context<()>| async move {
            let _ = ready.await;
            body().await;
        })
        .pid();
        let exited = grove_runtime::watch_exit(pid).expect("the test process is alive");
        let _ = go.send(());
        exited.await
    })
}
