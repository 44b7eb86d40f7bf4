//! Helpers shared by grove-otp's integration tests. Every timeout here is a generous upper bound
//! that only stops a broken test from hanging; no test asserts on how long something took.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use grove_runtime::{spawn_opt, watch_exit, Context, ExitReason, Pid, SpawnOptions};

/// How long a test waits for something that should happen.
pub const LONG: Duration = Duration::from_secs(5);

/// Runs `f` as a process and returns what it returns. Panics if the process dies first (killed
/// by a link, or a failed assertion inside it).
pub async fn in_process<M, T, F, Fut>(f: F) -> T
where
    M: Send + 'static,
    T: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    in_process_opt(SpawnOptions::new(), f).await
}

/// Like [`in_process`], spawned with `options`.
pub async fn in_process_opt<M, T, F, Fut>(options: SpawnOptions, f: F) -> T
where
    M: Send + 'static,
    T: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn_opt(options, move |ctx: Context<M>| {
        let body = f(ctx);
        async move {
            let _ = tx.send(body.await);
        }
    })
    .expect("spawn_opt failed");
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => panic!("the test process died before finishing (see its panic above)"),
        Err(_) => panic!("the test process did not finish"),
    }
}

/// Starts watching `pid`'s exit right now, so an exit caused afterwards is never missed; the
/// future resolves to its exit reason (`noproc` if it was not alive).
pub fn exit_of(pid: impl Into<Pid>) -> impl Future<Output = ExitReason> + Send {
    let watch = watch_exit(pid.into());
    async move {
        match watch {
            Some(watch) => tokio::time::timeout(LONG, watch)
                .await
                .expect("the process did not exit"),
            None => ExitReason::NoProc,
        }
    }
}

/// Waits until `condition` holds, checking every millisecond; panics if it never does.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
