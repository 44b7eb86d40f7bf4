//! Helpers shared by the integration tests. Every timeout here is a generous upper bound that only
//! stops a broken test from hanging; no test asserts on how long something took.
#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use grove::prelude::*;
use grove::process::{await_exit, spawn_opt, SpawnOptions};

/// How long a test waits for something that should happen.
pub const LONG: Duration = Duration::from_secs(5);

/// Runs `f` as a process and returns what it returns. Panics if the process dies first.
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
    match tokio::time::timeout(Duration::from_secs(120), rx).await {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => panic!("the test process died before finishing (see its panic above)"),
        Err(_) => panic!("the test process did not finish"),
    }
}

/// Starts waiting for `pid` to exit right now (the exit hook is installed before this returns),
/// so that an exit caused afterwards is never missed.
pub fn exit_watch(pid: impl Into<Pid>) -> impl Future<Output = ExitReason> + Send {
    let mut waiting = Box::pin(await_exit(pid.into()));
    let first = waiting
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()));
    async move {
        match first {
            Poll::Ready(reason) => reason,
            Poll::Pending => tokio::time::timeout(LONG, waiting)
                .await
                .expect("the process did not exit"),
        }
    }
}

/// Polls a future once; true if it is still pending.
pub fn poll_once_pending<F: Future>(fut: F) -> bool {
    let fut = pin!(fut);
    fut.poll(&mut TaskContext::from_waker(Waker::noop()))
        .is_pending()
}

/// The next message, whatever it is; panics if none arrives in time.
pub async fn next<M: Send + Debug + 'static>(ctx: &mut Context<M>) -> Message<M> {
    ctx.recv_timeout(LONG)
        .await
        .expect("expected a message, none arrived")
}

/// The next message, which must be a user message.
pub async fn next_user<M: Send + Debug + 'static>(ctx: &mut Context<M>) -> M {
    match next(ctx).await {
        Message::User(message) => message,
        other => panic!("expected a user message, got {other:?}"),
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

/// A process that waits in `recv` until it is sent anything or killed.
pub fn idle<M: Send + 'static>() -> Addr<M> {
    spawn(|mut ctx: Context<M>| async move {
        let _ = ctx.recv().await;
    })
}
