//! Watchdogs (seed 000's database watchdog, as a reusable piece): a process that runs a check on
//! an interval, sets an alarm once the check has failed `raise_after` times in a row, and clears
//! it once the check has passed `clear_after` times in a row. A check that takes longer than its
//! timeout, or panics, has failed.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::alarm::AlarmManager;
//! use grove_kit::watchdog::Watchdog;
//!
//! let alarms = AlarmManager::new("alarms");
//! let spec = Watchdog::new("database_disconnected", || async {
//!         // e.g. `SELECT 1` with a short timeout
//!         Ok::<(), String>(())
//!     })
//!     .interval(Duration::from_secs(5))
//!     .raise_after(2)
//!     .clear_after(3)
//!     .child_spec(&alarms);
//! ```

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use grove_otp::supervisor::ChildSpec;
use grove_runtime::{Context, ExitReason};

use crate::alarm::AlarmManager;

/// What a watchdog does after one check: the decision part, without clocks or processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicts {
    raise_after: u32,
    clear_after: u32,
    failures: u32,
    passes: u32,
    raised: bool,
}

/// What to do with the alarm after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Set the alarm: the check has failed `raise_after` times in a row.
    Raise,
    /// Clear the alarm: the check has passed `clear_after` times in a row.
    Clear,
    /// Leave the alarm as it is.
    Nothing,
}

impl Verdicts {
    /// Verdicts that raise after `raise_after` failures in a row and clear after `clear_after`
    /// passes in a row (each at least 1), starting clear.
    pub fn new(raise_after: u32, clear_after: u32) -> Self {
        Verdicts {
            raise_after: raise_after.max(1),
            clear_after: clear_after.max(1),
            failures: 0,
            passes: 0,
            raised: false,
        }
    }

    /// Records one check's outcome and says what to do.
    pub fn observe(&mut self, passed: bool) -> Verdict {
        if passed {
            self.failures = 0;
            self.passes = self.passes.saturating_add(1);
            if self.raised && self.passes >= self.clear_after {
                self.raised = false;
                return Verdict::Clear;
            }
        } else {
            self.passes = 0;
            self.failures = self.failures.saturating_add(1);
            if !self.raised && self.failures >= self.raise_after {
                self.raised = true;
                return Verdict::Raise;
            }
        }
        Verdict::Nothing
    }

    /// Whether the alarm is raised, by the verdicts so far.
    pub fn raised(&self) -> bool {
        self.raised
    }
}

/// A watchdog's settings; [`Watchdog::child_spec`] makes the process.
#[derive(Clone)]
pub struct Watchdog {
    alarm: Arc<str>,
    check: crate::job::Job,
    interval: Duration,
    timeout: Duration,
    raise_after: u32,
    clear_after: u32,
}

impl Watchdog {
    /// Watches with `check`, raising alarm `alarm`. Defaults: every 5 s, a 5 s timeout per
    /// check, raise after 1 failure, clear after 1 pass.
    pub fn new<E, F, Fut>(alarm: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        Watchdog {
            alarm: Arc::from(alarm),
            check: crate::job::boxed(check),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            raise_after: 1,
            clear_after: 1,
        }
    }

    /// How often the check runs (every 5 s by default; at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long a check may run before it counts as failed (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Failed checks in a row that raise the alarm.
    pub fn raise_after(mut self, failures: u32) -> Self {
        self.raise_after = failures.max(1);
        self
    }

    /// Passed checks in a row that clear it.
    pub fn clear_after(mut self, passes: u32) -> Self {
        self.clear_after = passes.max(1);
        self
    }

    /// The watchdog as a child for a supervision tree, raising its alarm on `alarms`. A
    /// restarted watchdog starts counting afresh, but an alarm it had raised stays set until
    /// enough checks pass.
    pub fn child_spec(self, alarms: &AlarmManager) -> ChildSpec {
        let alarms = alarms.clone();
        ChildSpec::process(format!("watchdog:{}", self.alarm), move |_: Context<()>| {
            let watchdog = self.clone();
            let alarms = alarms.clone();
            async move { watchdog.run(alarms).await }
        })
    }

    async fn run(self, alarms: AlarmManager) -> ExitReason {
        let mut verdicts = Verdicts::new(self.raise_after, self.clear_after);
        if alarms.is_set(&self.alarm) {
            // Raised by an earlier life of this watchdog: clearing it takes passing checks.
            verdicts = Verdicts {
                raised: true,
                ..verdicts
            };
        }
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let checking = std::panic::AssertUnwindSafe((self.check)()).catch_unwind();
            let outcome = match tokio::time::timeout(self.timeout, checking).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(error))) => Err(error),
                Ok(Err(_panic)) => Err("the check panicked".to_string()),
                Err(_) => Err(format!("the check took longer than {:?}", self.timeout)),
            };
            if let Err(error) = &outcome {
                tracing::debug!(alarm = %self.alarm, %error, "watchdog check failed");
            }
            match verdicts.observe(outcome.is_ok()) {
                Verdict::Raise => {
                    let why = outcome.err().unwrap_or_default();
                    alarms.set_alarm(
                        &self.alarm,
                        format!("{} checks failed in a row; last: {why}", self.raise_after),
                    );
                }
                Verdict::Clear => {
                    alarms.clear_alarm(&self.alarm);
                }
                Verdict::Nothing => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_after_n_failures_in_a_row_and_clears_after_m_passes_in_a_row() {
        let mut v = Verdicts::new(2, 3);
        let outcomes = [
            false, true, false, false, false, true, true, false, true, true, true, true,
        ];
        let verdicts: Vec<Verdict> = outcomes.iter().map(|ok| v.observe(*ok)).collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                Nothing, Nothing, Nothing, Raise, Nothing, Nothing, Nothing, Nothing, Nothing,
                Nothing, Clear, Nothing
            ]
        );
        assert!(!v.raised());
    }
}
