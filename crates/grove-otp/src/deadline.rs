//! Coarse deadlines for call timeouts: a future wrapper that fails with `Elapsed` once its
//! deadline has passed, checked by one sweeper thread every [`TICK`].
//!
//! Written by hand because a call's timeout almost never fires, and registering then clearing a
//! tokio timer for each call cost more than the rest of the call (measured with
//! `grove-bench --only call`: about 340 ns of a 780 ns call). Here arming is a clock read and a
//! push into an uncontended shard, disarming a removal; the price is precision: a deadline fires
//! up to one tick late. Timeouts shorter than [`PRECISE_BELOW`] use tokio's timer instead, so a
//! short timeout stays as exact as the user asked.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use slab::Slab;

/// How often the sweeper checks deadlines while any are armed.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Timeouts shorter than this use tokio's precise timer.
pub(crate) const PRECISE_BELOW: Duration = Duration::from_millis(100);

const SHARDS: usize = 16;

struct Entry {
    deadline: Instant,
    waker: Waker,
    fired: bool,
}

struct Sweeper {
    shards: [Mutex<Slab<Entry>>; SHARDS],
    armed: AtomicUsize,
    sleeping: std::sync::atomic::AtomicBool,
    thread: std::thread::Thread,
}

/// The sweeper, started on first use; `None` if its thread could not be started (then every
/// deadline uses tokio's timer).
fn sweeper() -> Option<&'static Sweeper> {
    static SWEEPER: OnceLock<Option<Sweeper>> = OnceLock::new();
    SWEEPER
        .get_or_init(|| {
            let thread = std::thread::Builder::new()
                .name("grove-deadlines".into())
                .spawn(sweep)
                .map_err(|error| tracing::warn!(%error, "no grove-deadlines thread; call timeouts use tokio's timer"))
                .ok()?;
            Some(Sweeper {
                shards: std::array::from_fn(|_| Mutex::new(Slab::new())),
                armed: AtomicUsize::new(0),
                sleeping: std::sync::atomic::AtomicBool::new(false),
                thread: thread.thread().clone(),
            })
        })
        .as_ref()
}

fn sweep() {
    let Some(sweeper) = sweeper() else { return };
    loop {
        std::thread::park_timeout(TICK);
        let now = Instant::now();
        for shard in &sweeper.shards {
            for (_, entry) in shard.lock().iter_mut() {
                if !entry.fired && entry.deadline <= now {
                    entry.fired = true;
                    entry.waker.wake_by_ref();
                }
            }
        }
        if sweeper.armed.load(Ordering::SeqCst) == 0 {
            // Nothing armed at this tick: sleep until something is. Arming wakes the thread only
            // when it sleeps, so back-to-back calls cost no wake-up each.
            sweeper.sleeping.store(true, Ordering::SeqCst);
            if sweeper.armed.load(Ordering::SeqCst) == 0 {
                std::thread::park();
            }
            sweeper.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

fn shard_index() -> usize {
    thread_local! {
        static INDEX: usize = {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
        };
    }
    INDEX.with(|index| *index)
}

/// The outcome of a future that did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Runs `future` until it finishes or `timeout` has passed.
pub(crate) async fn timeout<F: Future>(timeout: Duration, future: F) -> Result<F::Output, Elapsed> {
    if timeout < PRECISE_BELOW || sweeper().is_none() {
        return tokio::time::timeout(timeout, future)
            .await
            .map_err(|_| Elapsed);
    }
    Deadline {
        future,
        timeout,
        state: State::Unarmed,
    }
    .await
}

/// Where a deadline is. The clock is read only when the future does not finish on its first
/// poll: most calls are answered before they would ever need one.
enum State {
    Unarmed,
    /// `now + timeout` does not fit an `Instant`: it can never pass.
    Never,
    Armed {
        deadline: Instant,
        shard: usize,
        key: usize,
    },
}

pin_project_lite::pin_project! {
    struct Deadline<F> {
        #[pin]
        future: F,
        timeout: Duration,
        state: State,
    }

    impl<F> PinnedDrop for Deadline<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let State::Armed { shard, key, .. } = std::mem::replace(this.state, State::Unarmed) {
                disarm(shard, key);
            }
        }
    }
}

fn disarm(shard: usize, key: usize) {
    let Some(sweeper) = sweeper() else { return };
    sweeper.shards[shard].lock().try_remove(key);
    sweeper.armed.fetch_sub(1, Ordering::Release);
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            if let State::Armed { shard, key, .. } = std::mem::replace(this.state, State::Unarmed) {
                disarm(shard, key);
            }
            return Poll::Ready(Ok(output));
        }
        match *this.state {
            State::Never => Poll::Pending,
            State::Unarmed => {
                let Some(deadline) = Instant::now().checked_add(*this.timeout) else {
                    *this.state = State::Never;
                    return Poll::Pending;
                };
                let Some(sweeper) = sweeper() else {
                    return Poll::Pending;
                };
                let shard = shard_index();
                let key = sweeper.shards[shard].lock().insert(Entry {
                    deadline,
                    waker: cx.waker().clone(),
                    fired: false,
                });
                *this.state = State::Armed {
                    deadline,
                    shard,
                    key,
                };
                sweeper.armed.fetch_add(1, Ordering::SeqCst);
                if sweeper.sleeping.load(Ordering::SeqCst) {
                    sweeper.thread.unpark();
                }
                Poll::Pending
            }
            State::Armed {
                deadline,
                shard,
                key,
            } => {
                let Some(sweeper) = sweeper() else {
                    return Poll::Pending;
                };
                let mut entries = sweeper.shards[shard].lock();
                match entries.get_mut(key) {
                    Some(entry) if entry.fired || Instant::now() >= deadline => {
                        drop(entries);
                        *this.state = State::Never;
                        disarm(shard, key);
                        Poll::Ready(Err(Elapsed))
                    }
                    Some(entry) => {
                        if !entry.waker.will_wake(cx.waker()) {
                            entry.waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    None => {
                        *this.state = State::Never;
                        Poll::Ready(Err(Elapsed))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ready_future_passes_through() {
        assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_future_that_never_finishes_times_out_within_a_tick_or_so() {
        let started = Instant::now();
        let result = timeout(Duration::from_millis(150), std::future::pending::<()>()).await;
        assert_eq!(result, Err(Elapsed));
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn short_timeouts_use_the_precise_timer() {
        let result = timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert_eq!(result, Err(Elapsed));
    }

    #[tokio::test]
    async fn a_future_finishing_before_its_deadline_disarms_it() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(timeout(Duration::from_secs(30), rx));
        tokio::task::yield_now().await;
        tx.send(5).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(Ok(5)));
    }
}
