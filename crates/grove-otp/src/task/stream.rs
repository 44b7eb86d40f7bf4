//! Bounded concurrency over many items, each handled in its own task (Elixir's
//! `Task.async_stream`): the tool for importing a large file in chunks without running all of
//! them at once, nor one at a time.
//!
//! ```
//! use futures_util::StreamExt;
//! use grove_otp::task::{async_stream_iter, AsyncStreamOptions};
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let chunks = vec![vec![1, 2], vec![3, 4], vec![5]];
//!     let sums: Vec<i32> = async_stream_iter(chunks, AsyncStreamOptions::new().max_concurrency(2), |chunk| async move {
//!         chunk.iter().sum::<i32>()
//!     })
//!     .map(|sum| sum.unwrap_or(0))
//!     .collect()
//!     .await;
//!     assert_eq!(sums, vec![3, 7, 5]);
//! });
//! ```

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};

use super::{KillHandle, Task, TaskError};

/// Kills a stream's task if the stream is dropped while the task runs.
struct KillOnDrop(Option<KillHandle>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.kill();
        }
    }
}

/// How [`async_stream`] runs: how many tasks at once, in which order results come, and how long
/// each may take.
#[derive(Debug, Clone, Copy)]
pub struct AsyncStreamOptions {
    pub(crate) max_concurrency: usize,
    pub(crate) ordered: bool,
    pub(crate) timeout: Duration,
}

impl Default for AsyncStreamOptions {
    fn default() -> Self {
        AsyncStreamOptions {
            max_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ordered: true,
            timeout: super::supervisor::DEFAULT_TASK_TIMEOUT,
        }
    }
}

impl AsyncStreamOptions {
    /// Elixir's defaults: as many tasks at once as there are cores, results in input order, 5
    /// seconds per item.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` tasks run at once (at least 1).
    pub fn max_concurrency(mut self, max: usize) -> Self {
        self.max_concurrency = max.max(1);
        self
    }

    /// `true` (the default): results come in the order of the items. `false`: as they finish,
    /// so one slow item does not hold back the others' results.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Each item's task may run this long; past it the task is killed and its result is
    /// [`TaskError::Timeout`]. `Duration::MAX` for no limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Runs `work` on each item of `items` in its own [`Task`] (linked to the calling process, if
/// any), at most [`AsyncStreamOptions::max_concurrency`] at a time, and streams the results.
/// Items are pulled from `items` only as slots free up. A task that panics, is killed or times
/// out gives an error in its place; the others go on.
pub fn async_stream<S, F, Fut>(
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
    run_each(items, options, work, |work| {
        std::future::ready(Ok(Task::spawn(work)))
    })
}

/// [`async_stream`] over an iterator (a `Vec`, a range, lines of a file already read).
pub fn async_stream_iter<I, F, Fut>(
    items: I,
    options: AsyncStreamOptions,
    work: F,
) -> impl Stream<Item = Result<Fut::Output, TaskError>> + Send
where
    I: IntoIterator,
    I::IntoIter: Send,
    F: FnMut(I::Item) -> Fut + Send,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    async_stream(stream::iter(items), options, work)
}

/// The shared engine: `start` turns each item's future into a running [`Task`] (linked, or
/// under a task supervisor).
pub(crate) fn run_each<S, F, Fut, Start, Started>(
    items: S,
    options: AsyncStreamOptions,
    mut work: F,
    mut start: Start,
) -> impl Stream<Item = Result<Fut::Output, TaskError>> + Send
where
    S: Stream + Send,
    F: FnMut(S::Item) -> Fut + Send,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
    Start: FnMut(Fut) -> Started + Send,
    Started: Future<Output = Result<Task<Fut::Output>, TaskError>> + Send,
{
    let timeout = options.timeout;
    let tasks = items.map(move |item| {
        let started = start(work(item));
        async move {
            let task = started.await?;
            // Dropping the stream early (a `take`, a `break`) drops this future: the task is
            // stopped with it, as Elixir halts a stream's tasks, rather than left running.
            let mut stop_if_dropped = KillOnDrop(Some(task.kill_handle()));
            let result = task.await_timeout(timeout).await;
            stop_if_dropped.0 = None;
            result
        }
    });
    if options.ordered {
        tasks.buffered(options.max_concurrency).left_stream()
    } else {
        tasks
            .buffer_unordered(options.max_concurrency)
            .right_stream()
    }
}
