//! A user's async function with an error it can print, boxed as the kit's processes run it:
//! cron runs and watchdog checks.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// A boxed job; its error is the user's error, printed.
pub(crate) type Job = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Boxes `f`, turning its error into text (what an exit reason or an alarm carries).
pub(crate) fn boxed<E, F, Fut>(f: F) -> Job
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display,
{
    Arc::new(move || {
        let running = f();
        Box::pin(async move { running.await.map_err(|error| error.to_string()) })
    })
}
