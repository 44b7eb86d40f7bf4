//! Grove's production kit: the pieces teams running Erlang and Elixir in production reach for
//! beyond OTP itself, as supervised Grove components with small typed APIs.
//!
//! - [`cache`]: a TTL cache with a size bound and herd-free `fetch` (Cachex), on moka.
//! - [`config`]: a typed configuration from environment variables, every bad one named at once.
//! - [`cron`]: cron jobs with seconds and time zones, each run a monitored process.
//! - [`breaker`]: circuit breakers with half-open probing (fuse).
//! - [`limiter`]: rate limiters shared by callers, global or per key (GCRA, governor).
//! - [`queue`]: a rate-limited work queue with retries, a bound, and no loss when workers crash.
//! - [`alarm`]: alarms set and cleared, with pluggable handlers on an event manager.
//! - [`watchdog`]: a periodic check that raises an alarm when it keeps failing.
//! - [`health`] and [`metrics`]: `/healthz`, `/readyz` and Prometheus `/metrics` over HTTP.
//! - [`retry`]: retries with exponential backoff, jitter, a deadline and a predicate.
//!
//! Each component that needs a process comes with a `child_spec` to put in a supervision tree;
//! its handle is cheap to clone, and reading it never goes through a mailbox.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod alarm;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod cron;
pub mod health;
mod job;
pub mod limiter;
pub mod metrics;
mod named;
pub mod queue;
pub mod retry;
pub mod telemetry;
pub mod watchdog;

/// What a program using the kit imports.
pub mod prelude {
    pub use crate::alarm::{Alarm, AlarmEvent, AlarmManager};
    pub use crate::breaker::{BreakerConfig, BreakerError, BreakerState, CircuitBreaker};
    pub use crate::cache::Cache;
    pub use crate::cron::{Cron, CronRef, Overlap};
    pub use crate::limiter::{KeyedRateLimiter, Rate, RateLimited, RateLimiter};
    pub use crate::queue::{QueueError, QueueOptions, RateLimitedQueue};
    pub use crate::retry::{retry, retry_if, RetryError, RetryPolicy};
    pub use crate::telemetry::Telemetry;
    pub use crate::watchdog::Watchdog;
}
