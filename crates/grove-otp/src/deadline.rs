//! Coarse deadlines for call timeouts: a future wrapper that fails with `Elapsed` once its
//! deadline has passed, checked by one sweeper thread every [`TICK`].
//!
//! Written by hand because a call's timeout almost never fires, and arming then clearing a
//! tokio timer for each call cost more than the rest of the call (measured with
//! `grove-bench --only call`: about 340 ns of a 780 ns call). Here the common case, one call at
//! a time awaited on a thread, arms the thread's own slot: an atomic load of the sweeper's tick
//! count and a few atomic operations on a cache line no other thread writes. A second deadline
//! armed on the same thread meanwhile goes to a shared, sharded table. The price is precision:
//! deadlines are counted in the sweeper's ticks and fire up to two ticks late, never early.
//! Timeouts shorter than [`PRECISE_BELOW`] use tokio's timer instead, so a short timeout stays
//! as exact as the user asked; so does every timeout with the `test-util` feature, so that
//! `tokio::time::pause` drives call timeouts in tests as it drives every other timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use slab::Slab;

/// How often the sweeper checks deadlines while any are armed.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Timeouts shorter than this use tokio's precise timer.
pub(crate) const PRECISE_BELOW: Duration = Duration::from_millis(100);

const SHARDS: usize = 16;

/// A slot's deadline when nothing is armed in it.
const FREE: u64 = 0;
/// A slot's deadline once the sweeper has fired it.
const FIRED: u64 = u64::MAX;

/// A thread's own deadline slot. `deadline` is a tick, [`FREE`] or [`FIRED`]; the sweeper fires
/// it by swapping the tick it saw for [`FIRED`], so a slot re-armed meanwhile with a later
/// deadline is never fired early. Slots live for the program (a deadline may still be armed
/// in one when its thread exits); an exiting thread's slot is handed to the next new thread, so
/// there are never more than the most threads alive at once.
struct ThreadSlot {
    deadline: AtomicU64,
    waker: AtomicWaker,
    /// Held by the deadline armed in it.
    in_use: AtomicBool,
}

/// A deadline in the shared table.
struct Entry {
    deadline: u64,
    waker: Waker,
    fired: bool,
}

struct Sweeper {
    /// The sweeper's clock: ticks it has counted, each at least [`TICK`] after the one before
    /// (starting at 1, so no deadline is [`FREE`]). A deadline in ticks costs an atomic load to
    /// arm instead of a clock read, and can fire late (a starved sweeper) but never early.
    ticks: AtomicU64,
    slots: Mutex<Vec<&'static ThreadSlot>>,
    /// Slots of threads that have exited, for new threads.
    spare: Mutex<Vec<&'static ThreadSlot>>,
    shards: [Mutex<Slab<Entry>>; SHARDS],
    /// Deadlines armed in the shards.
    armed: AtomicUsize,
    sleeping: AtomicBool,
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
                ticks: AtomicU64::new(1),
                slots: Mutex::new(Vec::new()),
                spare: Mutex::new(Vec::new()),
                shards: std::array::from_fn(|_| Mutex::new(Slab::new())),
                armed: AtomicUsize::new(0),
                sleeping: AtomicBool::new(false),
                thread: thread.thread().clone(),
            })
        })
        .as_ref()
}

fn sweep() {
    let Some(sweeper) = sweeper() else { return };
    let mut last_tick = Instant::now();
    loop {
        std::thread::park_timeout(TICK);
        // At most one tick per TICK of real time, however the thread was woken. The time is
        // taken after the tick is counted, so an arm that read the tick before is always
        // earlier than the time the next tick is measured from: never early.
        if last_tick.elapsed() >= TICK {
            sweeper.ticks.fetch_add(1, Ordering::AcqRel);
            last_tick = Instant::now();
        }
        let now = sweeper.ticks.load(Ordering::Acquire);
        // Wakers are woken after the locks are released.
        let mut due = Vec::new();
        let mut waiting = fire_slots(sweeper, now, &mut due);
        for shard in &sweeper.shards {
            for (_, entry) in shard.lock().iter_mut() {
                if !entry.fired && entry.deadline <= now {
                    entry.fired = true;
                    due.push(entry.waker.clone());
                }
            }
        }
        for waker in due {
            waker.wake();
        }
        waiting |= sweeper.armed.load(Ordering::SeqCst) != 0;
        if !waiting {
            // Nothing armed at this tick: sleep until something is. Arming wakes the thread only
            // when it sleeps, so back-to-back calls cost no wake-up each. Announce the sleep,
            // then look again: an arm that missed the announcement is seen here.
            sweeper.sleeping.store(true, Ordering::SeqCst);
            if sweeper.armed.load(Ordering::SeqCst) == 0 && !any_slot_armed(sweeper) {
                std::thread::park();
            }
            sweeper.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

/// Fires the thread slots that are due, collecting their wakers into `due`; true if any stays
/// armed.
fn fire_slots(sweeper: &Sweeper, now: u64, due: &mut Vec<Waker>) -> bool {
    let mut waiting = false;
    for slot in sweeper.slots.lock().iter() {
        let deadline = slot.deadline.load(Ordering::Acquire);
        if deadline == FREE || deadline == FIRED {
            continue;
        }
        let fired = deadline <= now
            && slot
                .deadline
                .compare_exchange(deadline, FIRED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if !fired {
            waiting = true;
        } else if let Some(waker) = slot.waker.take() {
            due.push(waker);
        }
    }
    waiting
}

fn any_slot_armed(sweeper: &Sweeper) -> bool {
    sweeper.slots.lock().iter().any(|slot| {
        let deadline = slot.deadline.load(Ordering::SeqCst);
        deadline != FREE && deadline != FIRED
    })
}

/// This thread's slot: a spare one or a new one the first time, handed back when the thread
/// exits. `None` while the thread is being torn down.
fn thread_slot(sweeper: &'static Sweeper) -> Option<&'static ThreadSlot> {
    struct Owned(&'static ThreadSlot, &'static Sweeper);
    impl Drop for Owned {
        fn drop(&mut self) {
            self.1.spare.lock().push(self.0);
        }
    }
    thread_local! {
        static SLOT: std::cell::OnceCell<Owned> = const { std::cell::OnceCell::new() };
    }
    SLOT.try_with(|slot| {
        slot.get_or_init(|| {
            let spare = sweeper.spare.lock().pop();
            let slot = spare.unwrap_or_else(|| {
                // Lives for the program; see `ThreadSlot`.
                let slot: &'static ThreadSlot = Box::leak(Box::new(ThreadSlot {
                    deadline: AtomicU64::new(FREE),
                    waker: AtomicWaker::new(),
                    in_use: AtomicBool::new(false),
                }));
                sweeper.slots.lock().push(slot);
                slot
            });
            Owned(slot, sweeper)
        })
        .0
    })
    .ok()
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
pub(crate) fn timeout<F: Future>(timeout: Duration, future: F) -> Timeout<F> {
    // With the `test-util` feature every call timeout is a tokio timer, which a paused test
    // clock drives.
    if cfg!(feature = "test-util") || timeout < PRECISE_BELOW || sweeper().is_none() {
        // Boxed: tokio's timer entry is several times the size of the rest of a call's
        // future, and every call's future would carry it.
        return Timeout::Precise {
            inner: Box::pin(tokio::time::timeout(timeout, future)),
        };
    }
    Timeout::Coarse {
        inner: Deadline {
            future,
            timeout,
            state: State::Unarmed,
        },
    }
}

pin_project_lite::pin_project! {
    /// A future with a timeout: see [`timeout`].
    #[project = TimeoutProjection]
    pub(crate) enum Timeout<F> {
        Coarse { #[pin] inner: Deadline<F> },
        Precise { inner: Pin<Box<tokio::time::Timeout<F>>> },
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            TimeoutProjection::Coarse { inner } => inner.poll(cx),
            TimeoutProjection::Precise { inner } => inner
                .as_mut()
                .poll(cx)
                .map(|outcome| outcome.map_err(|_| Elapsed)),
        }
    }
}

/// Where a deadline is. Nothing is armed until the future has returned `Pending` once: most
/// calls are answered before they would ever need a deadline.
enum State {
    Unarmed,
    /// The timeout is too long to ever pass.
    Never,
    /// Armed in a thread's own slot.
    Slot(&'static ThreadSlot),
    /// Armed in the shared table (the thread's slot was taken).
    Shard {
        deadline: u64,
        shard: usize,
        key: usize,
    },
}

impl State {
    /// Disarms whatever is armed.
    fn disarm(&mut self) {
        match std::mem::replace(self, State::Unarmed) {
            State::Slot(slot) => {
                slot.deadline.store(FREE, Ordering::Release);
                // The slot keeps the last waker: the next call from the same process re-arms
                // without cloning one. It holds one task per thread alive a little longer.
                slot.in_use.store(false, Ordering::Release);
            }
            State::Shard { shard, key, .. } => {
                if let Some(sweeper) = sweeper() {
                    sweeper.shards[shard].lock().try_remove(key);
                    sweeper.armed.fetch_sub(1, Ordering::Release);
                }
            }
            State::Unarmed | State::Never => {}
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with a coarse deadline (see the module's doc).
    pub(crate) struct Deadline<F> {
        #[pin]
        future: F,
        timeout: Duration,
        state: State,
    }

    impl<F> PinnedDrop for Deadline<F> {
        fn drop(this: Pin<&mut Self>) {
            this.project().state.disarm();
        }
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            this.state.disarm();
            return Poll::Ready(Ok(output));
        }
        let Some(sweeper) = sweeper() else {
            return Poll::Pending;
        };
        let elapsed = match &*this.state {
            State::Never => false,
            State::Unarmed => {
                arm(sweeper, this.state, *this.timeout, cx.waker());
                false
            }
            State::Slot(slot) => {
                slot.waker.register(cx.waker());
                // Checked after registering: a fire in between woke the old waker, not this one.
                slot.deadline.load(Ordering::Acquire) == FIRED
            }
            State::Shard {
                deadline,
                shard,
                key,
            } => {
                let mut entries = sweeper.shards[*shard].lock();
                match entries.get_mut(*key) {
                    Some(entry) => {
                        if !entry.waker.will_wake(cx.waker()) {
                            entry.waker = cx.waker().clone();
                        }
                        entry.fired || sweeper.ticks.load(Ordering::Acquire) >= *deadline
                    }
                    None => true,
                }
            }
        };
        if elapsed {
            this.state.disarm();
            *this.state = State::Never;
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    }
}

/// Arms a deadline `timeout` from now: in this thread's slot if it is free, else in a shard.
fn arm(sweeper: &'static Sweeper, state: &mut State, timeout: Duration, waker: &Waker) {
    // The tick read may be one behind real time: one more tick keeps it from firing early.
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()) + 1;
    let Some(deadline) = u64::try_from(ticks)
        .ok()
        .and_then(|ticks| sweeper.ticks.load(Ordering::Acquire).checked_add(ticks))
        .filter(|deadline| *deadline != FIRED)
    else {
        *state = State::Never;
        return;
    };
    let slot = thread_slot(sweeper).filter(|slot| !slot.in_use.swap(true, Ordering::Acquire));
    *state = match slot {
        Some(slot) => {
            slot.waker.register(waker);
            slot.deadline.store(deadline, Ordering::SeqCst);
            State::Slot(slot)
        }
        None => {
            let shard = shard_index();
            let key = sweeper.shards[shard].lock().insert(Entry {
                deadline,
                waker: waker.clone(),
                fired: false,
            });
            sweeper.armed.fetch_add(1, Ordering::SeqCst);
            State::Shard {
                deadline,
                shard,
                key,
            }
        }
    };
    // Pairs with the sweeper's announcement of its sleep: one of the two sees the other.
    if sweeper.sleeping.load(Ordering::SeqCst) {
        sweeper.thread.unpark();
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
    async fn a_future_that_never_finishes_times_out_and_never_early() {
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

    #[tokio::test]
    async fn deadlines_armed_together_on_one_thread_each_fire_and_never_early() {
        // A current-thread runtime: every deadline is armed on this thread, so the first takes
        // the thread's slot and the others go to the shared table.
        let started = Instant::now();
        let (short, long, done) = tokio::join!(
            timeout(Duration::from_millis(120), std::future::pending::<()>()),
            timeout(Duration::from_millis(200), std::future::pending::<()>()),
            timeout(Duration::from_secs(30), async { 9 }),
        );
        assert_eq!((short, long, done), (Err(Elapsed), Err(Elapsed), Ok(9)));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_slot_is_reused_by_deadline_after_deadline_and_still_fires() {
        for _ in 0..50 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let answer = async move {
                tokio::task::yield_now().await;
                let _ = tx.send(1);
            };
            let (result, ()) = tokio::join!(timeout(Duration::from_millis(100), rx), answer);
            assert_eq!(result, Ok(Ok(1)));
        }
        let started = Instant::now();
        let result = timeout(Duration::from_millis(100), std::future::pending::<()>()).await;
        assert_eq!(result, Err(Elapsed));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
