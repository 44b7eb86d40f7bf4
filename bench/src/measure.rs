//! How every side of the benchmark measures a spawn: resident memory and a count of started
//! processes. One file, compiled into both `grove-bench` and `grove-bench-peers` (the peers
//! include it by path), so that all sides measure exactly alike.

/// Resident set size of this OS process, in bytes (the second field of /proc/self/statm, in
/// pages of 4096 bytes).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Counts processes (actors, tasks) that have started, one padded counter per thread, so that
/// counting does not bounce one cache line between the cores (which would measure the counter,
/// not spawn).
pub mod started {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[repr(align(128))]
    struct Padded(AtomicUsize);

    const SLOTS: usize = 64;
    static COUNTS: [Padded; SLOTS] = [const { Padded(AtomicUsize::new(0)) }; SLOTS];
    static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }

    /// One more has started.
    pub fn one() {
        SLOT.with(|&slot| COUNTS[slot].0.fetch_add(1, Ordering::Relaxed));
    }

    /// How many have started so far.
    pub fn total() -> usize {
        COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}
