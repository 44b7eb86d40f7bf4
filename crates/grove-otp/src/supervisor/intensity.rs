//! Restart intensity (at most `max_restarts` within `period`) and restart backoff: pure
//! bookkeeping over timestamps the caller supplies, shared by `Supervisor` and
//! `DynamicSupervisor`.

use std::collections::VecDeque;
use std::time::Duration;

/// How often children may be restarted before the supervisor gives up (OTP's `intensity` and
/// `period`): more than `max_restarts` restarts within `period` and the supervisor stops its
/// children and exits, leaving the decision to its own supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within `period` (OTP's default is 3).
    pub max_restarts: u32,
    /// The sliding window (OTP's default is 5 seconds).
    pub period: Duration,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            max_restarts: 3,
            period: Duration::from_secs(5),
        }
    }
}

/// An opt-in delay before a restart, doubling with each quick repeated failure of the same
/// child, so a crashing dependency is not hammered. A child that has stayed up for `reset_after`
/// starts again from `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first restart of a failing child.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How long a child must stay up for its next failure to count as a first one again.
    pub reset_after: Duration,
}

impl Backoff {
    /// Exponential backoff from `initial` up to `max`, reset after a child has stayed up for
    /// `max` (a reasonable default for the reset).
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            reset_after: max.max(initial),
        }
    }

    /// The delay before the restart that follows `consecutive` quick failures (1 for the first).
    pub(crate) fn delay(&self, consecutive: u32) -> Duration {
        let doublings = consecutive.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

/// The restart history of one supervisor. Times are offsets from any fixed origin the caller
/// picks (the shell uses the supervisor's start time).
#[derive(Debug, Clone, Default)]
pub(crate) struct RestartWindow {
    limits: Intensity,
    restarts: VecDeque<Duration>,
}

impl RestartWindow {
    pub(crate) fn new(limits: Intensity) -> Self {
        RestartWindow {
            limits,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now`. Returns false when that makes more than `max_restarts`
    /// within the period: the supervisor must give up.
    pub(crate) fn add(&mut self, now: Duration) -> bool {
        self.restarts.push_back(now);
        while let Some(&oldest) = self.restarts.front() {
            if now.saturating_sub(oldest) >= self.limits.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.len() <= self.limits.max_restarts as usize
    }

    /// Restarts within the period ending at the last one recorded.
    pub(crate) fn recent(&self) -> usize {
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn allows_max_restarts_within_the_period_and_refuses_one_more() {
        let mut window = RestartWindow::new(Intensity {
            max_restarts: 3,
            period: secs(5.0),
        });
        assert!(window.add(secs(0.0)));
        assert!(window.add(secs(1.0)));
        assert!(window.add(secs(2.0)));
        assert!(!window.add(secs(3.0)));
    }

    #[test]
    fn restarts_older_than_the_period_no_longer_count() {
        let mut window = RestartWindow::new(Intensity {
            max_restarts: 1,
            period: secs(5.0),
        });
        assert!(window.add(secs(0.0)));
        assert!(window.add(secs(5.0)));
        assert!(!window.add(secs(9.0)));
        assert_eq!(window.recent(), 2);
    }

    #[test]
    fn zero_restarts_means_the_first_failure_gives_up() {
        let mut window = RestartWindow::new(Intensity {
            max_restarts: 0,
            period: secs(1.0),
        });
        assert!(!window.add(secs(0.0)));
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(1));
    }
}
