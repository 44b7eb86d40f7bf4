//! Retrying an async operation with exponential backoff, jitter, a limit on attempts, a
//! deadline, and a predicate saying which errors are worth another try.
//!
//! Written here rather than taken from a crate because it is a few lines over tokio's timer
//! (so it runs on tokio's paused clock in tests) and because the same [`RetryPolicy`] also drives
//! the rate-limited queue's retries.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::retry::{retry_if, RetryPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let policy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(5))
//!     .max_attempts(5)
//!     .deadline(Duration::from_secs(30));
//! let mut calls = 0;
//! let answer = retry_if(&policy, |e: &String| e.starts_with("busy"), || {
//!     calls += 1;
//!     let attempt = calls;
//!     async move { if attempt < 3 { Err("busy".to_string()) } else { Ok(42) } }
//! })
//! .await;
//! assert_eq!(answer.unwrap(), 42);
//! assert_eq!(calls, 3);
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How the delay before each retry is randomized, so that clients that failed together do not
/// retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential delay.
    None,
    /// Anywhere between zero and the exponential delay.
    Full,
    /// Half the exponential delay plus a random part of the other half (the default: spreads
    /// retries while keeping a floor under the wait).
    Equal,
}

/// When and how often to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    initial: Duration,
    max_delay: Duration,
    multiplier: f64,
    jitter: Jitter,
    max_attempts: Option<u32>,
    deadline: Option<Duration>,
}

impl RetryPolicy {
    /// Delays that start at `initial` and double up to `max_delay`, with [`Jitter::Equal`],
    /// at most 10 attempts in all and no deadline.
    pub fn exponential(initial: Duration, max_delay: Duration) -> Self {
        RetryPolicy {
            initial,
            max_delay: max_delay.max(initial),
            multiplier: 2.0,
            jitter: Jitter::Equal,
            max_attempts: Some(10),
            deadline: None,
        }
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Retries for as long as the deadline allows, however many attempts that is.
    pub fn unlimited_attempts(mut self) -> Self {
        self.max_attempts = None;
        self
    }

    /// Gives up once this long has passed since the first attempt started: an attempt still
    /// running then is dropped, and no retry is started that would have to wait past it.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the growth factor between delays (2 by default; at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// The attempts allowed in all (`None`: unlimited).
    pub fn attempts_allowed(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The delay before retry number `retry` (1 for the wait after the first failure), before
    /// jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(64) as i32;
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        if !secs.is_finite() || secs >= self.max_delay.as_secs_f64() {
            self.max_delay
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The delay before retry number `retry`, jittered with `unit`, a number in `[0, 1)`.
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let base = self.base_delay(retry);
        let unit = unit.clamp(0.0, 1.0);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(unit),
            Jitter::Equal => base / 2 + (base / 2).mul_f64(unit),
        }
    }

    /// The delay before retry number `retry`, with fresh randomness.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, rand::rng().random::<f64>())
    }
}

impl Default for RetryPolicy {
    /// 100 ms doubling up to 10 s, equal jitter, 10 attempts.
    fn default() -> Self {
        RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(10))
    }
}

/// Why [`retry`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// Every allowed attempt failed; `last` is the last error.
    #[error("gave up after {attempts} attempts; the last error: {last}")]
    Exhausted {
        /// Attempts made in all.
        attempts: u32,
        /// The last attempt's error.
        last: E,
    },
    /// The predicate said this error is not worth retrying.
    #[error("failed with an error that is not retried (attempt {attempts}): {error}")]
    Permanent {
        /// Attempts made, the one that returned `error` included.
        attempts: u32,
        /// The error that is not retried.
        error: E,
    },
    /// The deadline passed. `last` is the last error, if an attempt had failed before.
    #[error("the retry deadline of {deadline:?} passed after {attempts} attempt(s)")]
    DeadlineExceeded {
        /// Attempts started (the last may have been cut short by the deadline).
        attempts: u32,
        /// The policy's deadline.
        deadline: Duration,
        /// The last error an attempt returned, if any.
        last: Option<E>,
    },
}

impl<E> RetryError<E> {
    /// The last error the operation returned, if any.
    pub fn into_last_error(self) -> Option<E> {
        match self {
            RetryError::Exhausted { last, .. } => Some(last),
            RetryError::Permanent { error, .. } => Some(error),
            RetryError::DeadlineExceeded { last, .. } => last,
        }
    }

    /// How many attempts were started.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted { attempts, .. }
            | RetryError::Permanent { attempts, .. }
            | RetryError::DeadlineExceeded { attempts, .. } => *attempts,
        }
    }
}

/// Runs `operation` until it succeeds, retrying every error as `policy` allows.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, operation: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_if(policy, |_: &E| true, operation).await
}

/// Runs `operation` until it succeeds, retrying the errors for which `should_retry` is true as
/// `policy` allows; any other error is returned at once as [`RetryError::Permanent`].
pub async fn retry_if<T, E, F, Fut, P>(
    policy: &RetryPolicy,
    mut should_retry: P,
    mut operation: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: FnMut(&E) -> bool,
{
    let started = tokio::time::Instant::now();
    let give_up_at = policy.deadline.map(|d| started + d);
    let mut attempts = 0u32;
    let mut last = None;
    loop {
        attempts += 1;
        let attempt = operation();
        let outcome = match give_up_at {
            Some(at) => match tokio::time::timeout_at(at, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(RetryError::DeadlineExceeded {
                        attempts,
                        deadline: policy.deadline.unwrap_or_default(),
                        last,
                    })
                }
            },
            None => attempt.await,
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !should_retry(&error) {
            return Err(RetryError::Permanent { attempts, error });
        }
        if policy.max_attempts.is_some_and(|max| attempts >= max) {
            return Err(RetryError::Exhausted {
                attempts,
                last: error,
            });
        }
        let wake_at = tokio::time::Instant::now() + policy.delay(attempts);
        if give_up_at.is_some_and(|at| wake_at >= at) {
            return Err(RetryError::DeadlineExceeded {
                attempts,
                deadline: policy.deadline.unwrap_or_default(),
                last: Some(error),
            });
        }
        tracing::debug!(attempts, "retrying after a failed attempt");
        last = Some(error);
        tokio::time::sleep_until(wake_at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_stays_within_its_band() {
        let policy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(1))
            .jitter(Jitter::None);
        let delays: Vec<u128> = (1..=6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.base_delay(u32::MAX), Duration::from_secs(1));
        let equal = policy.clone().jitter(Jitter::Equal);
        assert_eq!(equal.delay_with(3, 0.0), Duration::from_millis(200));
        assert_eq!(equal.delay_with(3, 1.0), Duration::from_millis(400));
        let full = policy.jitter(Jitter::Full);
        assert_eq!(full.delay_with(3, 0.0), Duration::ZERO);
        assert_eq!(full.delay_with(3, 0.5), Duration::from_millis(200));
    }

    proptest::proptest! {
        #[test]
        fn a_jittered_delay_never_exceeds_the_cap(retry in 0u32..200, unit in 0.0f64..1.0, ms in 1u64..5000) {
            let cap = Duration::from_secs(3);
            for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
                let policy = RetryPolicy::exponential(Duration::from_millis(ms), cap).jitter(jitter);
                proptest::prop_assert!(policy.delay_with(retry, unit) <= cap.max(Duration::from_millis(ms)));
            }
        }
    }
}
