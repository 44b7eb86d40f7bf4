//! Counters the processes of the tree update and the view reads.
//!
//! Each counter has one writer where it matters for speed (the producer counts jobs sent, the
//! collector counts results), so updating them costs next to nothing. Restarts are counted by
//! the supervisors, from the exit reason Grove hands them in `Message::Exit`.

use std::sync::atomic::{AtomicU64, Ordering};

use grove::ExitReason;

/// The shared counters of one demo run.
#[derive(Debug, Default)]
pub struct Stats {
    jobs_sent: AtomicU64,
    results: AtomicU64,
    checksum: AtomicU64,
    panics: AtomicU64,
    errors: AtomicU64,
    other_crashes: AtomicU64,
}

impl Stats {
    /// The producer handed `count` more jobs to workers' mailboxes.
    pub fn jobs_sent(&self, count: u64) {
        self.jobs_sent.fetch_add(count, Ordering::Relaxed);
    }

    /// The collector's totals so far, to continue from after a restart.
    pub fn results(&self) -> (u64, u64) {
        (
            self.results.load(Ordering::Relaxed),
            self.checksum.load(Ordering::Relaxed),
        )
    }

    /// The collector publishes its totals (it is the only writer, so a store is enough).
    pub fn publish_results(&self, results: u64, checksum: u64) {
        self.results.store(results, Ordering::Relaxed);
        self.checksum.store(checksum, Ordering::Relaxed);
    }

    /// A supervisor saw a child exit abnormally with `reason` (and is restarting it).
    pub fn crash(&self, reason: &ExitReason) {
        let counter = match reason {
            ExitReason::Panic(_) => &self.panics,
            ExitReason::Error(_) => &self.errors,
            _ => &self.other_crashes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy of all counters.
    pub fn counts(&self) -> Counts {
        Counts {
            jobs_sent: self.jobs_sent.load(Ordering::Relaxed),
            results: self.results.load(Ordering::Relaxed),
            checksum: self.checksum.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            other_crashes: self.other_crashes.load(Ordering::Relaxed),
        }
    }
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Jobs the producer put in workers' mailboxes.
    pub jobs_sent: u64,
    /// Results the collector received.
    pub results: u64,
    /// The wrapping sum of all results, proof that the work was done.
    pub checksum: u64,
    /// Children that exited with `ExitReason::Panic`.
    pub panics: u64,
    /// Children that exited with `ExitReason::Error` (returned `Err`).
    pub errors: u64,
    /// Children that exited with any other abnormal reason.
    pub other_crashes: u64,
}

impl Counts {
    /// Every abnormal exit, each of which was followed by a restart.
    pub fn restarts(&self) -> u64 {
        self.panics + self.errors + self.other_crashes
    }

    /// Messages delivered between processes: one per job, one per result.
    pub fn messages(&self) -> u64 {
        self.jobs_sent + self.results
    }

    /// Jobs sent that produced no result: they were in the mailbox of a worker that crashed
    /// (a mailbox dies with its process), or are still in flight.
    pub fn unanswered(&self) -> u64 {
        self.jobs_sent.saturating_sub(self.results)
    }
}
