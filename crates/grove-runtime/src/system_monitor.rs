//! The system monitor: tells subscribed processes about processes that hog a worker thread or
//! let their mailbox grow, as Erlang's `erlang:system_monitor/2` does for `long_schedule` and
//! `large_heap`.
//!
//! Tokio schedules cooperatively: a process that computes for a long time without reaching an
//! `.await` holds its worker thread and delays every process queued behind it. A `long_handler`
//! event names it, with how long the step took. A `large_mailbox` event fires when a mailbox grows
//! past a length (once, until the process catches up with its mailbox).
//!
//! ```
//! use std::time::Duration;
//! use grove_runtime::{system_monitor::{self, MonitorEvent, Thresholds}, spawn, Context};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let watcher = spawn(|mut ctx: Context<MonitorEvent>| async move {
//!     while let Some(event) = ctx.recv().await.into_user() {
//!         eprintln!("system monitor: {event:?}");
//!     }
//! });
//! system_monitor::subscribe(watcher, Thresholds {
//!     long_handler: Some(Duration::from_millis(50)),
//!     large_mailbox: Some(100_000),
//! });
//! # });
//! ```

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::cell::Shared;
use crate::pid::{Addr, Pid};
use crate::process::{is_alive, send};

/// When to report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// Report a process whose single step (one poll, between two `.await`s) ran this long.
    pub long_handler: Option<Duration>,
    /// Report a process whose mailbox holds this many messages.
    pub large_mailbox: Option<usize>,
}

/// What the system monitor reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorEvent {
    /// One step of `pid` ran for `elapsed` without yielding its worker thread.
    LongHandler {
        /// The process.
        pid: Pid,
        /// How long the step took.
        elapsed: Duration,
        /// What the process runs (the type name of its function).
        function: &'static str,
    },
    /// The mailbox of `pid` reached `len` messages.
    LargeMailbox {
        /// The process.
        pid: Pid,
        /// Messages in its mailbox.
        len: usize,
    },
}

struct Subscriber {
    pid: Pid,
    thresholds: Thresholds,
    deliver: Box<dyn Fn(MonitorEvent) + Send + Sync>,
}

static SUBSCRIBERS: RwLock<Vec<Subscriber>> = RwLock::new(Vec::new());
/// The smallest thresholds of all subscribers; `u64::MAX` / `usize::MAX` when none watches.
static LONG_HANDLER_NANOS: AtomicU64 = AtomicU64::new(u64::MAX);
static LARGE_MAILBOX: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Subscribes the process at `addr` to system monitor events crossing `thresholds`. A process
/// subscribes once; subscribing again replaces its thresholds. Dead subscribers are dropped.
pub fn subscribe<M>(addr: Addr<M>, thresholds: Thresholds)
where
    M: From<MonitorEvent> + Send + 'static,
{
    let mut subscribers = SUBSCRIBERS.write();
    subscribers.retain(|s| s.pid != addr.pid() && is_alive(s.pid));
    subscribers.push(Subscriber {
        pid: addr.pid(),
        thresholds,
        deliver: Box::new(move |event| send(addr, M::from(event))),
    });
    recompute(&subscribers);
}

/// Removes the subscription of `pid`.
pub fn unsubscribe(pid: impl Into<Pid>) {
    let pid = pid.into();
    let mut subscribers = SUBSCRIBERS.write();
    subscribers.retain(|s| s.pid != pid);
    recompute(&subscribers);
}

fn recompute(subscribers: &[Subscriber]) {
    let long = subscribers
        .iter()
        .filter_map(|s| s.thresholds.long_handler)
        .min()
        .map_or(u64::MAX, |d| {
            d.as_nanos().min(u128::from(u64::MAX - 1)) as u64
        });
    let large = subscribers
        .iter()
        .filter_map(|s| s.thresholds.large_mailbox)
        .min()
        .unwrap_or(usize::MAX);
    LONG_HANDLER_NANOS.store(long, Ordering::Relaxed);
    LARGE_MAILBOX.store(large, Ordering::Relaxed);
}

fn publish(event: MonitorEvent, wants: impl Fn(&Thresholds) -> bool) {
    // Recursive: delivering an event may push to a mailbox that itself crosses the threshold.
    let subscribers = SUBSCRIBERS.read_recursive();
    for subscriber in subscribers.iter() {
        if wants(&subscriber.thresholds) {
            (subscriber.deliver)(event.clone());
        }
    }
}

/// Times one poll when someone watches for long handlers.
pub(crate) struct Watch {
    start: Instant,
    threshold: u64,
}

pub(crate) fn long_handler_watch() -> Option<Watch> {
    let threshold = LONG_HANDLER_NANOS.load(Ordering::Relaxed);
    (threshold != u64::MAX).then(|| Watch {
        start: Instant::now(),
        threshold,
    })
}

impl Watch {
    pub(crate) fn finish(self, pid: Pid, function: &'static str) {
        let elapsed = self.start.elapsed();
        if elapsed.as_nanos() >= u128::from(self.threshold) {
            publish(
                MonitorEvent::LongHandler {
                    pid,
                    elapsed,
                    function,
                },
                |t| t.long_handler.is_some_and(|limit| elapsed >= limit),
            );
        }
    }
}

/// Called after a push left `len` messages in the mailbox of `shared`: one load and a compare on
/// the hot path of every send.
#[inline]
pub(crate) fn check_mailbox(shared: &Shared, len: usize) {
    if len >= LARGE_MAILBOX.load(Ordering::Relaxed) {
        report_large_mailbox(shared, len);
    }
}

#[cold]
fn report_large_mailbox(shared: &Shared, len: usize) {
    if shared.large_mailbox_reported.swap(true, Ordering::Relaxed) {
        return;
    }
    publish(
        MonitorEvent::LargeMailbox {
            pid: shared.pid,
            len,
        },
        |t| t.large_mailbox.is_some_and(|limit| len >= limit),
    );
}
