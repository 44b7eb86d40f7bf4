//! Timers: `send_after`, `send_interval`, `cancel_timer`, `read_timer`.
//!
//! A timer belongs to the process it sends to and dies with it, as an Erlang timer aimed at a pid
//! does. The message is moved into the timer and delivered as an ordinary message.
//!
//! ```
//! use std::time::Duration;
//! use grove_runtime::{send_after, Context, Message};
//! async fn ticker(mut ctx: Context<&'static str>) {
//!     send_after(ctx.addr(), "tick", Duration::from_millis(10));
//!     assert_eq!(ctx.recv().await, Message::User("tick"));
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cell::TimerEntry;
use crate::pid::{Addr, Pid, Ref};
use crate::process::send;
use crate::table;

/// Names a timer; pass it to [`cancel_timer`] or [`read_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerRef {
    dest: Pid,
    reference: Ref,
}

/// Sends `message` to `dest` after `delay`. Cancelled if `dest` exits first.
pub fn send_after<M: Send + 'static>(dest: Addr<M>, message: M, delay: Duration) -> TimerRef {
    let mut message = Some(message);
    start(dest, delay, None, move |dest| {
        if let Some(message) = message.take() {
            send(dest, message)
        }
    })
}

/// Sends a clone of `message` to `dest` every `period`, until cancelled or until `dest` exits.
pub fn send_interval<M: Clone + Send + 'static>(
    dest: Addr<M>,
    message: M,
    period: Duration,
) -> TimerRef {
    let period = period.max(Duration::from_micros(1));
    start(dest, period, Some(period), move |dest| {
        send(dest, message.clone())
    })
}

fn start<M: Send + 'static>(
    dest: Addr<M>,
    delay: Duration,
    period: Option<Duration>,
    mut fire: impl FnMut(Addr<M>) + Send + 'static,
) -> TimerRef {
    let timer = TimerRef {
        dest: dest.pid(),
        reference: Ref::new(),
    };
    let Some(cell) = table::lookup(dest.pid()) else {
        return timer; // the destination is gone: the timer is born cancelled, as in Erlang
    };
    let deadline = Instant::now() + delay;
    // An interval's ticks and `cancel_timer` meet on this flag (see `TimerEntry::active`).
    let interval = period.map(|period| (period, Arc::new(parking_lot::Mutex::new(true))));
    let active = interval.as_ref().map(|(_, active)| active.clone());
    let mut control = cell.shared().control.lock();
    if !control.alive {
        return timer;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("send_after called outside a tokio runtime; the timer was not started");
        return timer;
    };
    let task = runtime.spawn(async move {
        let mut next = deadline;
        loop {
            tokio::time::sleep_until(next).await;
            match &interval {
                None => {
                    if take(timer).is_some() {
                        fire(dest);
                    }
                    return;
                }
                Some((period, active)) => {
                    next += *period;
                    if !reschedule(timer, next) {
                        return;
                    }
                    let active = active.lock();
                    if !*active {
                        return;
                    }
                    fire(dest);
                }
            }
        }
    });
    control.rel().timers.insert(
        timer.reference,
        TimerEntry {
            deadline,
            abort: Some(task.abort_handle()),
            active,
        },
    );
    timer
}

/// Removes the timer's entry; `None` if it was already cancelled or fired.
fn take(timer: TimerRef) -> Option<TimerEntry> {
    let cell = table::lookup(timer.dest)?;
    let mut control = cell.shared().control.lock();
    control.rel.as_mut()?.timers.remove(&timer.reference)
}

fn reschedule(timer: TimerRef, next: Instant) -> bool {
    let Some(cell) = table::lookup(timer.dest) else {
        return false;
    };
    let mut control = cell.shared().control.lock();
    match control
        .rel
        .as_mut()
        .and_then(|rel| rel.timers.get_mut(&timer.reference))
    {
        Some(entry) => {
            entry.deadline = next;
            true
        }
        None => false,
    }
}

/// Cancels a timer. Returns the time that was left, or `None` if it had already fired, been
/// cancelled, or its destination exited.
pub fn cancel_timer(timer: TimerRef) -> Option<Duration> {
    let entry = take(timer)?;
    if let Some(active) = &entry.active {
        *active.lock() = false;
    }
    if let Some(abort) = entry.abort {
        abort.abort();
    }
    Some(entry.deadline.saturating_duration_since(Instant::now()))
}

/// The time left before the timer fires (next firing for an interval), or `None` if it is no
/// longer active.
pub fn read_timer(timer: TimerRef) -> Option<Duration> {
    let cell = table::lookup(timer.dest)?;
    let control = cell.shared().control.lock();
    let entry = control.rel.as_ref()?.timers.get(&timer.reference)?;
    Some(entry.deadline.saturating_duration_since(Instant::now()))
}
