//! Circuit breakers (Erlang's `fuse`): stop calling a dependency that keeps failing, reject
//! calls fast while it recovers, and probe it before trusting it again.
//!
//! A breaker *melts* (opens) after `max_failures` failures within a window. While open, every
//! call is rejected at once with [`BreakerError::Open`], which says when to try again. After
//! `reset_after` it is *half-open*: a limited number of probe calls go through; a successful
//! probe closes it, a failed one opens it again. State, counts and transitions are visible
//! ([`CircuitBreaker::stats`]), logged, and exported as metrics by [`crate::metrics`].
//!
//! A breaker is not a process: asking it is a short lock on shared state, never a message, so
//! it costs little around every call (as fuse keeps its state in ETS). Breakers installed by
//! name ([`CircuitBreaker::install`]) can be found anywhere with [`CircuitBreaker::named`].
//! Time is tokio's clock, so tests run on virtual time.
//!
//! Written by hand (no crate fits: recloser has no half-open probe limit nor cancellation
//! handling); the state machine is sans-IO, in [`machine`], with property tests.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::breaker::{BreakerConfig, BreakerError, BreakerState, CircuitBreaker};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let breaker = CircuitBreaker::new(
//!     "payments",
//!     BreakerConfig::new(2, Duration::from_secs(10), Duration::from_secs(30)),
//! );
//! for _ in 0..2 {
//!     let failed: Result<(), _> = breaker.call(async { Err::<(), _>("timeout") }).await;
//!     assert!(matches!(failed, Err(BreakerError::Failed("timeout"))));
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! let rejected = breaker.call(async { Ok::<_, &str>(1) }).await;
//! assert!(matches!(rejected, Err(BreakerError::Open { .. })));
//! tokio::time::sleep(Duration::from_secs(30)).await;
//! assert_eq!(breaker.call(async { Ok::<_, &str>(1) }).await.unwrap(), 1);
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # });
//! ```

pub mod machine;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

pub use machine::{BreakerConfig, BreakerState};
use machine::{Decision, Machine, Ticket, Transition};

/// Why a call through a breaker did not return a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BreakerError<E> {
    /// The breaker is open (or half-open with every probe slot taken): the call was not made.
    #[error("circuit breaker {name} is open; not calling, retry in {retry_after:?}")]
    Open {
        /// The name of the breaker that refused the call.
        name: Arc<str>,
        /// How long until the breaker may let a call through again.
        retry_after: Duration,
    },
    /// The call was made and failed.
    #[error("{0}")]
    Failed(E),
}

/// A breaker's counts since it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerStats {
    /// The breaker's name.
    pub name: Arc<str>,
    /// Its state when the stats were taken.
    pub state: BreakerState,
    /// Calls let through.
    pub calls: u64,
    /// Calls that succeeded (including errors that [`CircuitBreaker::call_with`] was told are not
    /// failures).
    pub successes: u64,
    /// Calls that failed, plus failures reported with [`CircuitBreaker::melt`].
    pub failures: u64,
    /// Calls rejected without being made.
    pub rejected: u64,
    /// Times the breaker melted (opened).
    pub melts: u64,
    /// Failures counted in the current window.
    pub recent_failures: usize,
}

/// `closed_generation` while the breaker is not closed (generations count up from 0 and never
/// reach it).
const NOT_CLOSED: u64 = u64::MAX;

struct Shared {
    name: Arc<str>,
    machine: Mutex<Machine>,
    /// The machine's generation while closed, [`NOT_CLOSED`] otherwise, kept in step under the
    /// machine's lock: a closed breaker lets calls through and takes their successes without
    /// the lock.
    closed_generation: AtomicU64,
    origin: Instant,
    calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    rejected: AtomicU64,
    melts: AtomicU64,
}

/// A circuit breaker. Cheap to clone; clones share the breaker.
#[derive(Clone)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .finish()
    }
}

fn installed() -> &'static Mutex<BTreeMap<Arc<str>, CircuitBreaker>> {
    static INSTALLED: OnceLock<Mutex<BTreeMap<Arc<str>, CircuitBreaker>>> = OnceLock::new();
    INSTALLED.get_or_init(Default::default)
}

impl CircuitBreaker {
    /// A new breaker, not installed by name (see [`CircuitBreaker::install`]).
    pub fn new(name: impl Into<Arc<str>>, config: BreakerConfig) -> Self {
        CircuitBreaker {
            shared: Arc::new(Shared {
                name: name.into(),
                machine: Mutex::new(Machine::new(config)),
                closed_generation: AtomicU64::new(0),
                origin: Instant::now(),
                calls: AtomicU64::new(0),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                melts: AtomicU64::new(0),
            }),
        }
    }

    /// Installs a breaker under `name`, or returns the one already installed there (whose
    /// configuration is kept, as `fuse:install` keeps a running fuse).
    pub fn install(name: &str, config: BreakerConfig) -> Self {
        installed()
            .lock()
            .entry(Arc::from(name))
            .or_insert_with(|| CircuitBreaker::new(name, config))
            .clone()
    }

    /// The breaker installed under `name`.
    pub fn named(name: &str) -> Option<Self> {
        installed().lock().get(name).cloned()
    }

    /// Removes the breaker installed under `name`; clones already handed out keep working.
    pub fn uninstall(name: &str) -> Option<Self> {
        installed().lock().remove(name)
    }

    /// Every installed breaker, by name.
    pub fn all_installed() -> Vec<CircuitBreaker> {
        installed().lock().values().cloned().collect()
    }

    /// The breaker's name, as its logs and metrics show it.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `change` on the machine under its lock, and mirrors whether it is closed.
    fn with_machine<R>(&self, change: impl FnOnce(&mut Machine) -> R) -> R {
        let mut machine = self.shared.machine.lock();
        let result = change(&mut machine);
        let closed = machine.closed_generation().unwrap_or(NOT_CLOSED);
        self.shared
            .closed_generation
            .store(closed, Ordering::Release);
        result
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.shared.origin)
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.shared.machine.lock().state(self.now())
    }

    /// Counts and state.
    pub fn stats(&self) -> BreakerStats {
        let now = self.now();
        let (state, recent_failures) = {
            let machine = self.shared.machine.lock();
            (machine.state(now), machine.recent_failures(now))
        };
        let s = &self.shared;
        BreakerStats {
            name: s.name.clone(),
            state,
            calls: s.calls.load(Ordering::Relaxed),
            successes: s.successes.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            melts: s.melts.load(Ordering::Relaxed),
            recent_failures,
        }
    }

    /// Runs `call` unless the breaker is open; every `Err` counts as a failure.
    pub async fn call<T, E>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BreakerError<E>> {
        self.call_with(|_| true, call).await
    }

    /// Runs `call` unless the breaker is open; an `Err` counts as a failure only when
    /// `is_failure` says so (a "not found" is an answer, not a sick dependency). A call that is
    /// cancelled (dropped) counts as nothing, and a probe gives its slot back; one that panics
    /// counts as a failure.
    pub async fn call_with<T, E>(
        &self,
        is_failure: impl FnOnce(&E) -> bool,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BreakerError<E>> {
        let ticket = self.take_ticket().map_err(|open| match open {
            BreakerError::Open { name, retry_after } => BreakerError::Open { name, retry_after },
            BreakerError::Failed(never) => match never {},
        })?;
        // Borrowed, not cloned: no reference count to bump per call.
        let lease = Lease {
            breaker: self,
            ticket: Some(ticket),
        };
        match call.await {
            Ok(value) => {
                lease.settle(Outcome::Success);
                Ok(value)
            }
            Err(error) => {
                let failed = is_failure(&error);
                lease.settle(if failed {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
                Err(BreakerError::Failed(error))
            }
        }
    }

    /// Asks leave for one call, to be reported with [`Permit::success`] or
    /// [`Permit::failure`] (dropping the permit reports nothing). For code that cannot wrap the
    /// call in a future.
    pub fn ask(&self) -> Result<Permit, BreakerError<std::convert::Infallible>> {
        self.take_ticket().map(|ticket| Permit {
            breaker: self.clone(),
            ticket: Some(ticket),
        })
    }

    /// Leave for one call, counted: without the lock while closed, from the machine otherwise.
    fn take_ticket(&self) -> Result<Ticket, BreakerError<std::convert::Infallible>> {
        let closed = self.shared.closed_generation.load(Ordering::Acquire);
        if closed != NOT_CLOSED {
            self.shared.calls.fetch_add(1, Ordering::Relaxed);
            return Ok(Ticket::regular(closed));
        }
        let now = self.now();
        let (decision, transition) = self.with_machine(|machine| machine.ask(now));
        self.note(transition);
        match decision {
            Decision::Allow(ticket) => {
                self.shared.calls.fetch_add(1, Ordering::Relaxed);
                Ok(ticket)
            }
            Decision::Reject { retry_after } => {
                self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                Err(BreakerError::Open {
                    name: self.shared.name.clone(),
                    retry_after,
                })
            }
        }
    }

    /// Counts a failure seen outside a call (`fuse:melt`).
    pub fn melt(&self) {
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let transition = self.with_machine(|machine| machine.record_failure(now));
        self.note(transition);
    }

    /// Opens the breaker now (an operator's manual trip).
    pub fn trip(&self) {
        let now = self.now();
        let transition = self.with_machine(|machine| machine.melt_now(now));
        self.note(transition);
    }

    /// Closes the breaker now and forgets recent failures (an operator's manual reset).
    pub fn reset(&self) {
        let transition = self.with_machine(Machine::reset);
        self.note(transition);
    }

    fn note(&self, transition: Option<Transition>) {
        let Some(Transition { from, to }) = transition else {
            return;
        };
        let name = &*self.shared.name;
        match to {
            BreakerState::Open => {
                self.shared.melts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    breaker = name,
                    from = from.as_str(),
                    "circuit breaker melted: rejecting calls"
                );
            }
            BreakerState::HalfOpen => {
                tracing::info!(breaker = name, "circuit breaker half-open: probing");
            }
            BreakerState::Closed => {
                tracing::info!(
                    breaker = name,
                    from = from.as_str(),
                    "circuit breaker closed: calls flow again"
                );
            }
        }
    }

    /// Reports how the call made with `ticket` went.
    fn settle(&self, ticket: Ticket, outcome: Outcome) {
        let outcome = match outcome {
            Outcome::Dropped if std::thread::panicking() => {
                // The call panicked: that is a failure of what it called, or of its caller;
                // counting it keeps a crashing dependency from being probed forever.
                Outcome::Failure
            }
            other => other,
        };
        match outcome {
            // Only a probe's success or abandonment can change the machine; a regular call's
            // cannot (see `Machine::closed_generation`), so it skips the lock.
            Outcome::Success if !ticket.probe => {
                self.shared.successes.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Success => {
                self.shared.successes.fetch_add(1, Ordering::Relaxed);
                let transition = self.with_machine(|machine| machine.succeeded(ticket));
                self.note(transition);
            }
            Outcome::Failure => {
                self.shared.failures.fetch_add(1, Ordering::Relaxed);
                let now = self.now();
                let transition = self.with_machine(|machine| machine.failed(ticket, now));
                self.note(transition);
            }
            Outcome::Dropped if !ticket.probe => {}
            Outcome::Dropped => self.with_machine(|machine| machine.abandoned(ticket)),
        }
    }
}

/// How a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    /// Its permit was dropped unreported: cancelled, or (while panicking) a failure.
    Dropped,
}

/// [`CircuitBreaker::call_with`]'s permit, borrowing the breaker.
struct Lease<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Option<Ticket>,
}

impl Lease<'_> {
    fn settle(mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.settle(ticket, outcome);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.settle(ticket, Outcome::Dropped);
        }
    }
}

/// Leave to make one call through a breaker; report how it went. Dropped without a report, it
/// counts as nothing (a probe gives its slot back), unless dropped by a panic, which counts as
/// a failure.
#[must_use = "report the call's outcome with success() or failure()"]
pub struct Permit {
    breaker: CircuitBreaker,
    ticket: Option<Ticket>,
}

impl Permit {
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket.is_some_and(|t| t.probe)
    }

    /// The call succeeded.
    pub fn success(mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.settle(ticket, Outcome::Success);
        }
    }

    /// The call failed.
    pub fn failure(mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.settle(ticket, Outcome::Failure);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.settle(ticket, Outcome::Dropped);
        }
    }
}
