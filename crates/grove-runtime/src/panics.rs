//! Panics inside processes: an expected event ("let it crash"), reported once, as a crash report.
//!
//! Rust's default panic hook prints every panic to stderr (with a backtrace when
//! `RUST_BACKTRACE` is set), before Grove has turned it into the process's exit reason and logged
//! it. [`install_panic_hook`] replaces that output, for panics inside processes only, with one
//! `tracing` error event that names the process, its function, the panic message, where it
//! happened, and the backtrace if `RUST_BACKTRACE` asks for one, once per crash site (a worker
//! restarted into the same bug does not print it again). Panics outside processes still go
//! to the previous hook. [`crate::run`] installs it; call it yourself if you start tokio your own
//! way.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    /// True while this thread polls a process.
    static IN_PROCESS: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside a process on this thread happened, and its backtrace.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs Grove's panic hook (once; later calls do nothing).
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PROCESS.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                // A crash site that crashes again (a worker restarted into the same bug) gets
                // its backtrace once, not dozens of frames per crash.
                let backtrace = if backtrace_wanted(&location) {
                    let backtrace = std::backtrace::Backtrace::capture();
                    match backtrace.status() {
                        std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
                        _ => String::new(),
                    }
                } else {
                    String::new()
                };
                LAST_PANIC.with(|last| *last.borrow_mut() = Some((location, backtrace)));
            } else {
                previous(info);
            }
        }));
    });
}

/// How many crash sites are remembered: a program with more crash sites than that is not helped
/// by more backtraces.
const MAX_SITES: usize = 4_096;

/// Crash sites whose backtrace was printed.
fn printed_sites() -> &'static parking_lot::Mutex<std::collections::HashSet<String>> {
    static SEEN: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// True until a backtrace of a panic at `location` has been printed.
fn backtrace_wanted(location: &str) -> bool {
    let seen = printed_sites().lock();
    !seen.contains(location) && seen.len() < MAX_SITES
}

/// Records that the crash report of a panic at `location` printed its backtrace (marked when
/// printed, not when captured: a captured backtrace whose report is never logged must not use up
/// the site's one).
pub(crate) fn backtrace_printed(location: &str) {
    let mut seen = printed_sites().lock();
    if seen.len() < MAX_SITES {
        seen.insert(location.to_string());
    }
}

/// Marks this thread as polling a process for the guard's lifetime.
pub(crate) struct InProcess(bool);

impl InProcess {
    pub(crate) fn enter() -> InProcess {
        InProcess(IN_PROCESS.with(|flag| flag.replace(true)))
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        IN_PROCESS.with(|flag| flag.set(self.0));
    }
}

/// Where the panic being handled happened and its backtrace (empty when not captured, or when
/// the hook is not installed).
pub(crate) fn take_last_panic() -> (String, String) {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_default()
}
