//! Starting Grove: a tokio multi-thread runtime with a first process.
//!
//! Processes run on any tokio runtime, so a program that already has one just calls
//! [`crate::spawn`]. [`run`] is the short way for a `main`: it starts a multi-thread runtime,
//! runs `f` as the first process, waits for it to exit and returns its exit reason.
//!
//! ```
//! use grove_runtime::{run, Context, ExitReason};
//! let reason = run(|ctx: Context<()>| async move {
//!     println!("hello from {}", ctx.pid());
//! });
//! assert_eq!(reason, ExitReason::Normal);
//! ```

use std::future::Future;

use crate::context::Context;
use crate::exit::{ExitReason, IntoExitReason};
use crate::process::{spawn, watch_exit};

/// Runs `f` as the first process on a new tokio multi-thread runtime (one worker per core) and
/// returns its exit reason once it exits. Other processes still running then are stopped with
/// the runtime. Unless the program has a `tracing` subscriber already (or called
/// [`crate::no_default_logs`]), it installs one that prints to stderr at `RUST_LOG`'s level
/// (`info` by default): see [`crate::logs`].
///
/// # Panics
/// If the runtime cannot be built (the OS refused threads), or when called inside a runtime.
pub fn run<M, F, Fut>(f: F) -> ExitReason
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("cannot start the tokio runtime: {error}"),
    };
    crate::introspect::started();
    crate::logs::install_default();
    crate::panics::install_panic_hook();
    runtime.block_on(async move {
        // The first process waits for `start` until its exit is watched: a short one could
        // otherwise finish before the watch is set, which would report `noproc`.
        let (start, started) = tokio::sync::oneshot::channel::<()>();
        let first = spawn(move |ctx: Context<M>| {
            let body = f(ctx);
            async move {
                let _ = started.await;
                body.await
            }
        });
        let Some(watch) = watch_exit(first.pid()) else {
            return ExitReason::NoProc;
        };
        let _ = start.send(());
        watch.await
    })
}
