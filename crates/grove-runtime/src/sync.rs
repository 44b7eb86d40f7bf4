//! The synchronisation primitives the runtime's concurrent core is written against.
//!
//! Normally `parking_lot`'s mutex and `std`'s atomics; under `--cfg grove_loom` the loom model
//! checker's versions, so the mailbox and the link/exit protocol can be checked exhaustively.

#[cfg(not(grove_loom))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(grove_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize};

#[cfg(grove_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize};

/// loom's mutex behind parking_lot's interface (no poisoning).
#[cfg(grove_loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(grove_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// loom with a preemption bound: exhaustive up to 3 preemptions per execution, which finds the
/// known classes of concurrency bugs while keeping the run to seconds.
#[cfg(all(test, grove_loom))]
pub(crate) fn loom_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}
