//! The report printed at the end of a run.

use std::fmt;
use std::time::Duration;

use grove::ExitReason;
use indicatif::HumanCount;

use crate::stats::Counts;
use crate::tree::TreeConfig;

/// What happened during a run, and the state the tree was in at the end.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The tree that ran.
    pub tree: TreeConfig,
    /// Time from starting the tree to stopping it.
    pub ran_for: Duration,
    /// The counters at the end.
    pub counts: Counts,
    /// Most live processes seen.
    pub peak_processes: usize,
    /// Workers registered and alive just before shutdown.
    pub workers_alive: usize,
    /// Live processes just before shutdown (the producer already stopped).
    pub before_shutdown: usize,
    /// What `before_shutdown` should be: the whole tree without the producer, and this process.
    pub expected_before: usize,
    /// How the root ended: `shutdown` when asked to stop, `None` if it did not stop in time.
    pub root_exit: Option<ExitReason>,
    /// Live processes after the tree stopped.
    pub after_shutdown: usize,
    /// What `after_shutdown` should be: just the process that ran the demo.
    pub expected_after: usize,
}

impl Summary {
    /// An empty summary for `tree`, expecting `expected_before` processes before shutdown.
    pub fn new(tree: TreeConfig, expected_before: usize) -> Summary {
        Summary {
            tree,
            ran_for: Duration::ZERO,
            counts: Counts::default(),
            peak_processes: 0,
            workers_alive: 0,
            before_shutdown: 0,
            expected_before,
            root_exit: None,
            after_shutdown: 0,
            expected_after: 1,
        }
    }

    /// True if every worker was back before shutdown, the process count was exactly that of
    /// the tree, and the tree then stopped entirely.
    pub fn healthy(&self) -> bool {
        self.workers_alive == self.tree.workers
            && self.before_shutdown == self.expected_before
            && self.root_exit == Some(ExitReason::Shutdown)
            && self.after_shutdown == self.expected_after
    }

    fn shape(&self) -> String {
        match self.tree.supervisors {
            0 => format!("{} workers under the root", self.tree.workers),
            1 => format!("{} workers under 1 supervisor", self.tree.workers),
            n => format!("{} workers under {n} supervisors", self.tree.workers),
        }
    }

    fn verdict(&self) -> String {
        let root = match &self.root_exit {
            Some(reason) => format!("the root exited with {reason}"),
            None => "the root did not stop in time".to_string(),
        };
        if self.healthy() {
            format!(
                "healthy: all {} workers running before shutdown; {root}",
                self.tree.workers
            )
        } else {
            format!(
                "NOT healthy: {} of {} workers running before shutdown; {root}",
                self.workers_alive, self.tree.workers
            )
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let seconds = self.ran_for.as_secs_f64().max(f64::EPSILON);
        writeln!(
            f,
            "grove-demo: {:.1}s, {}, crash rate {} per job",
            self.ran_for.as_secs_f64(),
            self.shape(),
            self.tree.crash_rate,
        )?;
        writeln!(
            f,
            "  messages   {} ({}/s): {} jobs sent, {} results collected (checksum {:#018x})",
            HumanCount(c.messages()),
            HumanCount((c.messages() as f64 / seconds) as u64),
            HumanCount(c.jobs_sent),
            HumanCount(c.results),
            c.checksum,
        )?;
        writeln!(
            f,
            "  restarts   {} ({}/s): {} panics, {} errors, {} other",
            HumanCount(c.restarts()),
            HumanCount((c.restarts() as f64 / seconds) as u64),
            HumanCount(c.panics),
            HumanCount(c.errors),
            HumanCount(c.other_crashes),
        )?;
        writeln!(
            f,
            "  lost       {} jobs died with the mailboxes of crashed workers",
            HumanCount(c.unanswered()),
        )?;
        writeln!(
            f,
            "  processes  peak {}; {} before shutdown (expected {}); {} after (expected {})",
            self.peak_processes,
            self.before_shutdown,
            self.expected_before,
            self.after_shutdown,
            self.expected_after,
        )?;
        write!(f, "  tree       {}", self.verdict())
    }
}
