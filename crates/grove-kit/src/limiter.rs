//! Rate limiters (GCRA, from governor) shared by callers: one for the whole node, or one per
//! key (per user, per host). They run on tokio's clock, so tests can use virtual time.
//!
//! A limiter is not a process: checking it is a compare-and-swap on shared state.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::limiter::{Rate, RateLimiter};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let limiter = RateLimiter::new("geo-api", Rate::per_second(2));
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_ok());
//! let refused = limiter.check().unwrap_err();
//! assert_eq!(refused.retry_after, Duration::from_millis(500));
//! limiter.until_ready().await; // sleeps until a cell frees up
//! # });
//! ```

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;

/// governor's clock on tokio's time, so a paused tokio clock drives the limiter.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl ReasonablyRealtime for TokioClock {}

type Direct =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;
type Keyed<K> = governor::RateLimiter<
    K,
    DefaultKeyedStateStore<K>,
    TokioClock,
    NoOpMiddleware<std::time::Instant>,
>;

/// A rate: one cell every `period`, with up to `burst` cells at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    period: Duration,
    burst: u32,
}

impl Rate {
    /// `n` per second, in a burst of up to `n` (governor's `per_second`). Use
    /// [`Rate::burst`] for a smoother stream.
    pub fn per_second(n: u32) -> Self {
        let n = n.max(1);
        Rate {
            period: Duration::from_secs(1) / n,
            burst: n,
        }
    }

    /// `n` per minute, in a burst of up to `n`.
    pub fn per_minute(n: u32) -> Self {
        let n = n.max(1);
        Rate {
            period: Duration::from_secs(60) / n,
            burst: n,
        }
    }

    /// One every `period` (at least a nanosecond), no burst.
    pub fn every(period: Duration) -> Self {
        Rate {
            period: period.max(Duration::from_nanos(1)),
            burst: 1,
        }
    }

    /// Allows up to `burst` cells at once (at least 1).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// How often a cell frees up: one every this long.
    pub fn period(&self) -> Duration {
        self.period
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        match Quota::with_period(self.period) {
            Some(quota) => quota.allow_burst(burst),
            // Unreachable (the period is never zero), but a fallback beats a panic.
            None => Quota::per_second(burst),
        }
    }
}

/// The limiter refused: try again after `retry_after`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit {name} reached; retry in {retry_after:?}")]
pub struct RateLimited {
    /// The name of the limiter that refused.
    pub name: Arc<str>,
    /// How long until a cell frees up.
    pub retry_after: Duration,
}

/// A limiter's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterStats {
    /// The limiter's name.
    pub name: Arc<str>,
    /// Cells taken: calls let through.
    pub allowed: u64,
    /// Calls refused by `check`, or made to wait by `until_ready` (counted once per call,
    /// however many times it had to wait).
    pub limited: u64,
}

#[derive(Debug, Default)]
struct Counts {
    allowed: AtomicU64,
    limited: AtomicU64,
}

impl Counts {
    /// Counts `outcome` and turns governor's refusal into [`RateLimited`].
    fn note(
        &self,
        name: &Arc<str>,
        outcome: Result<(), governor::NotUntil<std::time::Instant>>,
    ) -> Result<(), RateLimited> {
        let outcome = outcome.map_err(|not_until| RateLimited {
            name: name.clone(),
            retry_after: not_until.wait_time_from(TokioClock.now()),
        });
        self.count(&outcome);
        outcome
    }

    /// Takes a cell with `check`, waiting as long as it says; counts the call once.
    async fn wait_for_cell(
        &self,
        mut check: impl FnMut() -> Result<(), governor::NotUntil<std::time::Instant>>,
    ) {
        let mut waited = false;
        while let Err(not_until) = check() {
            if !waited {
                waited = true;
                self.limited.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
        }
        self.allowed.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self, name: &Arc<str>) -> LimiterStats {
        LimiterStats {
            name: name.clone(),
            allowed: self.allowed.load(Ordering::Relaxed),
            limited: self.limited.load(Ordering::Relaxed),
        }
    }

    fn count<T>(&self, outcome: &Result<(), T>) {
        let counter = if outcome.is_ok() {
            &self.allowed
        } else {
            &self.limited
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One rate for all callers. Cheap to clone; clones share the limit.
#[derive(Clone)]
pub struct RateLimiter {
    name: Arc<str>,
    inner: Arc<Direct>,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter called `name` (as its refusals and stats show it), letting calls through at
    /// `rate`.
    pub fn new(name: impl Into<Arc<str>>, rate: Rate) -> Self {
        RateLimiter {
            name: name.into(),
            inner: Arc::new(governor::RateLimiter::direct_with_clock(
                rate.quota(),
                TokioClock,
            )),
            counts: Arc::default(),
        }
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes a cell now, or says how long until one frees up.
    pub fn check(&self) -> Result<(), RateLimited> {
        self.counts.note(&self.name, self.inner.check())
    }

    /// Waits until a cell is free and takes it.
    pub async fn until_ready(&self) {
        self.counts.wait_for_cell(|| self.inner.check()).await;
    }

    /// Its counts so far.
    pub fn stats(&self) -> LimiterStats {
        self.counts.stats(&self.name)
    }
}

/// One rate per key (per user, per host): each key has its own allowance.
pub struct KeyedRateLimiter<K: Hash + Eq + Clone> {
    name: Arc<str>,
    inner: Arc<Keyed<K>>,
    counts: Arc<Counts>,
}

impl<K: Hash + Eq + Clone> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            name: self.name.clone(),
            inner: self.inner.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A limiter called `name` (as its refusals and stats show it), giving each key its own
    /// allowance of `rate`.
    pub fn new(name: impl Into<Arc<str>>, rate: Rate) -> Self {
        KeyedRateLimiter {
            name: name.into(),
            inner: Arc::new(governor::RateLimiter::new(
                rate.quota(),
                DefaultKeyedStateStore::default(),
                TokioClock,
            )),
            counts: Arc::default(),
        }
    }

    /// Takes a cell for `key` now, or says how long until one frees up.
    pub fn check(&self, key: &K) -> Result<(), RateLimited> {
        self.counts.note(&self.name, self.inner.check_key(key))
    }

    /// Waits until a cell for `key` is free and takes it.
    pub async fn until_ready(&self, key: &K) {
        self.counts
            .wait_for_cell(|| self.inner.check_key(key))
            .await;
    }

    /// Forgets keys whose allowance has been full again for a while (governor keeps a key for
    /// one period past that), so a
    /// limiter keyed by client does not grow forever.
    pub fn forget_idle_keys(&self) {
        self.inner.retain_recent();
    }

    /// Keys with state held.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True when no key has state held.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Its counts so far, over all keys.
    pub fn stats(&self) -> LimiterStats {
        self.counts.stats(&self.name)
    }
}
