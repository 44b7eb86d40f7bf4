//! The future that runs one process on tokio: polls the user's future, turns a panic into an
//! exit reason, stops at once when a fatal signal arrives, and takes the process down afterwards
//! (unregister, tell links and monitors, stop timers).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::cell::{AnyCell, ProcessCell, Status};
use crate::exit::{panic_message, ExitReason, IntoExitReason};
use crate::{signal, system_monitor, table};

pin_project! {
    pub(crate) struct ProcessTask<M, Fut>
    where
        M: Send,
        M: 'static,
    {
        cell: Arc<ProcessCell<M>>,
        #[pin]
        fut: Option<Fut>,
        first_poll: bool,
        done: bool,
    }

    impl<M, Fut> PinnedDrop for ProcessTask<M, Fut>
    where
        M: Send,
        M: 'static,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.done {
                // Dropped before it finished: the runtime is shutting down or the task was aborted.
                *this.done = true;
                let _exiting = crate::current::Exiting::enter(&ExitReason::Shutdown);
                let reason = drop_future(this.fut.as_mut()).unwrap_or(ExitReason::Shutdown);
                finish(this.cell.as_ref(), reason);
            }
        }
    }
}

impl<M: Send + 'static, Fut> ProcessTask<M, Fut> {
    pub(crate) fn new(cell: Arc<ProcessCell<M>>, fut: Fut) -> Self {
        ProcessTask {
            cell,
            fut: Some(fut),
            first_poll: true,
            done: false,
        }
    }
}

/// Drops the user's future, catching a panic in its destructors; returns the panic as a reason.
fn drop_future<Fut>(mut fut: Pin<&mut Option<Fut>>) -> Option<ExitReason> {
    let _in_process = crate::panics::InProcess::enter();
    catch_unwind(AssertUnwindSafe(|| fut.set(None)))
        .err()
        .map(|payload| ExitReason::Panic(panic_message(&*payload)))
}

impl<M, Fut> Future for ProcessTask<M, Fut>
where
    M: Send + 'static,
    Fut: Future,
    Fut::Output: IntoExitReason,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        let shared = &this.cell.shared;
        if *this.first_poll {
            *this.first_poll = false;
            shared.control.lock().task_waker = Some(cx.waker().clone());
        }
        if shared.exiting.load(Ordering::Acquire) {
            let reason = shared
                .control
                .lock()
                .pending_exit
                .clone()
                .unwrap_or(ExitReason::Killed);
            *this.done = true;
            let _exiting = crate::current::Exiting::enter(&reason);
            let reason = drop_future(this.fut.as_mut()).unwrap_or(reason);
            finish(this.cell.as_ref(), reason);
            return Poll::Ready(());
        }
        shared.set_status(Status::Running);
        let watch = system_monitor::long_handler_watch();
        let in_process = crate::panics::InProcess::enter();
        let running = crate::current::Running::enter(shared.pid);
        let polled = catch_unwind(AssertUnwindSafe(|| match this.fut.as_mut().as_pin_mut() {
            Some(fut) => fut.poll(cx),
            None => Poll::Pending,
        }));
        drop(running);
        drop(in_process);
        if let Some(watch) = watch {
            watch.finish(shared.pid, shared.function);
        }
        let reason = match polled {
            Ok(Poll::Pending) => {
                if shared.status() == Status::Running {
                    shared.set_status(Status::Suspended);
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(output)) => output.into_exit_reason(),
            Err(payload) => ExitReason::Panic(panic_message(&*payload)),
        };
        *this.done = true;
        let _exiting = crate::current::Exiting::enter(&reason);
        let reason = match drop_future(this.fut.as_mut()) {
            Some(panic) if !matches!(reason, ExitReason::Panic(_)) => panic,
            _ => reason,
        };
        finish(this.cell.as_ref(), reason);
        Poll::Ready(())
    }
}

/// Takes a process down: marks it dead, removes it from the table and the name registry, and
/// tells its links and monitors.
fn finish<M: Send + 'static>(cell: &ProcessCell<M>, reason: ExitReason) {
    let shared = &cell.shared;
    shared.set_status(Status::Exiting);
    // Where the panic happened, taken on the thread it happened on; a backtrace in it is printed
    // below, so its crash site gets no other.
    let panic_site = matches!(reason, ExitReason::Panic(_)).then(crate::panics::take_last_panic);
    if let Some((location, backtrace)) = &panic_site {
        if !backtrace.is_empty() {
            crate::panics::backtrace_printed(location);
        }
    }
    // What the crash report says the process was, read before `depart` takes its name.
    let about = (!reason.is_normal()).then(|| About::of(&shared.control.lock()));
    // The name is released inside `depart`, before the mailbox closes: whoever finds the
    // process dead from here on finds its name free too.
    let departure = signal::depart(cell as &dyn AnyCell);
    table::remove(shared.pid);
    signal::notify_departure(departure, &reason, &table::Global);
    // Those waiting for the process to be gone (callers whose reply handles it dropped) hear now.
    for deferred in crate::current::take_deferred() {
        let _ = catch_unwind(AssertUnwindSafe(deferred));
    }
    // Last, and shielded: a logger that fails (a closed stderr, a panicking subscriber) must not
    // stop a process from being taken down and its links from hearing of it.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        log_exit(shared.pid, shared.function, about, &reason, panic_site)
    }));
}

/// What a crash report says a process was: its label (or registered name), and the kind of
/// message it was handling.
#[derive(Default)]
struct About {
    label: Option<std::sync::Arc<str>>,
    name: Option<std::sync::Arc<str>>,
    last_message: Option<&'static str>,
}

impl About {
    fn of(control: &crate::cell::Control) -> About {
        About {
            label: control.label().cloned(),
            name: control.name().cloned(),
            last_message: control.last_message(),
        }
    }
}

fn log_exit(
    pid: crate::Pid,
    function: &'static str,
    about: Option<About>,
    reason: &ExitReason,
    panic_site: Option<(String, String)>,
) {
    let About {
        label,
        name,
        last_message,
    } = about.unwrap_or_default();
    // People read the label; the function's type name is the fallback.
    let what: &str = label.as_deref().unwrap_or(function);
    let name = name.as_deref().unwrap_or("");
    let last_message = last_message.unwrap_or("");
    match reason {
        ExitReason::Panic(message) => {
            let (location, backtrace) = panic_site.unwrap_or_default();
            if tracing::dispatcher::has_been_set() {
                tracing::error!(%pid, process = what, name, last_message, panic = %message, %location, %backtrace, "process panicked");
            } else {
                // No subscriber: a crash must not go unseen, so say it once on stderr (ignoring a
                // closed stderr, which `eprintln!` would turn into another panic).
                use std::io::Write;
                let at = if location.is_empty() {
                    String::new()
                } else {
                    format!(" at {location}")
                };
                let last = if last_message.is_empty() {
                    String::new()
                } else {
                    format!(" (last message: {last_message})")
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "grove: process {pid} ({what}) panicked{at}{last}: {message}{backtrace}"
                );
            }
        }
        ExitReason::Error(message) => {
            tracing::warn!(%pid, process = what, name, last_message, reason = %message, "process exited with an error")
        }
        ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_) => {
            tracing::trace!(%pid, %reason, "process exited")
        }
        other => tracing::debug!(%pid, process = what, name, reason = %other, "process exited"),
    }
}
