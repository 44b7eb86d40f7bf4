//! A rate-limited work queue (seed 004): jobs go to an external API no faster than a rate,
//! failures are retried with exponential backoff and jitter, the queue's length is bounded
//! (a push to a full queue is refused with an error), and a crashing worker loses nothing.
//!
//! The queue is a GenServer. It keeps every job until the job has succeeded or used up its
//! attempts: each attempt runs in a worker process of its own, monitored by the queue, with a
//! copy of the job. A worker that returns an error, panics or is killed is a failed attempt,
//! and the job is retried after a backoff. A job that fails every attempt is logged, counted,
//! and kept in a bounded list of dead letters ([`RateLimitedQueue::dead_letters`]); nothing is
//! dropped silently. Jobs are handed out in order, at most `concurrency` at once, each after
//! taking a cell from the queue's [`RateLimiter`].
//!
//! What a queue holds lives in its process: if the queue process itself crashes, its jobs go
//! with it (its supervisor starts an empty one). Jobs that must outlive that belong in a durable
//! table first.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::limiter::Rate;
//! use grove_kit::queue::{QueueOptions, RateLimitedQueue};
//!
//! let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let queue = RateLimitedQueue::start_link(
//!         "geocoder",
//!         QueueOptions::new(Rate::per_second(100)).capacity(1_000),
//!         |address: String| async move {
//!             if address.is_empty() { Err("empty address") } else { Ok(()) }
//!         },
//!     )
//!     .await
//!     .unwrap();
//!     queue.push("Alexanderplatz 1, Berlin".to_string()).await.unwrap();
//!     queue.drain().await.unwrap();
//!     assert_eq!(queue.stats().await.unwrap().completed, 1);
//! });
//! assert!(reason.is_normal());
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use grove_otp::gen_server::{
    Call, CallError, Cast, GenServer, Info, ReplyTo, Server, ServerContext, StartOptions,
};
use grove_otp::supervisor::ChildSpec;
use grove_otp::StartError;
use grove_runtime::{ExitReason, Pid, Ref};

use crate::limiter::{Rate, RateLimiter};
use crate::retry::RetryPolicy;

/// How many dead letters a queue keeps (the oldest go first).
const DEAD_LETTERS_KEPT: usize = 100;

/// How a queue runs its jobs.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    rate: Rate,
    capacity: usize,
    concurrency: usize,
    retry: RetryPolicy,
}

impl QueueOptions {
    /// Jobs at `rate`; 10,000 jobs at most waiting, 4 running at once, and the default retry
    /// policy (100 ms doubling to 10 s with jitter, 10 attempts).
    pub fn new(rate: Rate) -> Self {
        QueueOptions {
            rate,
            capacity: 10_000,
            concurrency: 4,
            retry: RetryPolicy::default(),
        }
    }

    /// At most `capacity` jobs held (waiting, running or waiting to be retried); a push past it
    /// is refused with [`QueueError::Full`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// At most `workers` jobs running at once.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers.max(1);
        self
    }

    /// How failed jobs are retried: the backoff between attempts and how many attempts.
    /// (A deadline in the policy is not used: a job has no caller waiting on it.)
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue holds as many jobs as it may; the job was not added.
    #[error("queue {name} is full ({capacity} jobs held); shed load or retry later")]
    Full {
        /// The queue's name.
        name: Arc<str>,
        /// The most jobs it holds (see [`QueueOptions::capacity`]).
        capacity: usize,
    },
    /// The queue's process could not be called: it is not running, or did not answer.
    #[error("queue is not running: {0}")]
    NotRunning(#[from] CallError),
}

/// A queue's counts since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// The queue's name.
    pub name: Arc<str>,
    /// Jobs accepted.
    pub pushed: u64,
    /// Jobs refused because the queue was full.
    pub rejected: u64,
    /// Jobs that succeeded.
    pub completed: u64,
    /// Attempts that failed (returned an error, panicked or were killed).
    pub failed_attempts: u64,
    /// Jobs that used up their attempts (in the dead letters).
    pub dead: u64,
    /// Jobs waiting for a worker.
    pub waiting: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting out a backoff before their next attempt.
    pub backing_off: usize,
}

/// A job that failed every attempt.
#[derive(Debug, Clone)]
pub struct DeadLetter<J> {
    /// The job, as pushed.
    pub job: J,
    /// Attempts made, all failed.
    pub attempts: u32,
    /// The last attempt's exit reason.
    pub reason: ExitReason,
}

type Handler<J> = Arc<dyn Fn(J) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A job with its bookkeeping (what a retry timer carries).
#[derive(Clone)]
struct Entry<J> {
    id: u64,
    job: J,
    attempts: u32,
}

/// The queue's process state.
pub(crate) struct QueueServer<J: Clone + Send + 'static> {
    name: Arc<str>,
    options: QueueOptions,
    limiter: RateLimiter,
    handler: Handler<J>,
    next_id: u64,
    waiting: VecDeque<Entry<J>>,
    running: HashMap<Ref, (Pid, Entry<J>)>,
    backing_off: usize,
    /// A wake-up for when the limiter frees a cell is pending.
    pump_armed: bool,
    dead_letters: VecDeque<DeadLetter<J>>,
    drain_waiters: Vec<ReplyTo<()>>,
    stats: QueueStats,
}

/// The queue's requests, each answered with its own reply type.
struct Push<J>(J);
struct Stats;
struct Drain;
struct DeadLetters;

/// The limiter may have a free cell now.
struct Pump;
/// A job's backoff is over.
struct Retry<J>(Entry<J>);

impl<J: Clone + Send + 'static> QueueServer<J> {
    fn held(&self) -> usize {
        self.waiting.len() + self.running.len() + self.backing_off
    }

    /// Starts as many waiting jobs as the concurrency and the limiter allow.
    fn pump(&mut self, ctx: &mut ServerContext<Self>) {
        while self.running.len() < self.options.concurrency && !self.waiting.is_empty() {
            if let Err(limited) = self.limiter.check() {
                if !self.pump_armed {
                    self.pump_armed = true;
                    ctx.send_after(Pump, limited.retry_after);
                }
                return;
            }
            let Some(entry) = self.waiting.pop_front() else {
                return;
            };
            self.start_attempt(entry, ctx);
        }
        self.answer_drain_waiters();
    }

    fn start_attempt(&mut self, mut entry: Entry<J>, ctx: &mut ServerContext<Self>) {
        entry.attempts += 1;
        let job = entry.job.clone();
        let handler = self.handler.clone();
        let (addr, reference) =
            ctx.process()
                .spawn_monitor(move |_: grove_runtime::Context<()>| async move {
                    handler(job).await.map_err(ExitReason::from)
                });
        self.running.insert(reference, (addr.pid(), entry));
    }

    fn finished(&mut self, reference: Ref, reason: ExitReason, ctx: &mut ServerContext<Self>) {
        let Some((pid, entry)) = self.running.remove(&reference) else {
            return;
        };
        if reason.is_normal() {
            self.stats.completed += 1;
        } else {
            self.stats.failed_attempts += 1;
            let allowed = self.options.retry.attempts_allowed();
            if allowed.is_some_and(|max| entry.attempts >= max) {
                tracing::error!(
                    queue = %self.name, job = entry.id, attempts = entry.attempts, %reason, worker = %pid,
                    "job failed every attempt; kept in the dead letters"
                );
                self.stats.dead += 1;
                if self.dead_letters.len() == DEAD_LETTERS_KEPT {
                    self.dead_letters.pop_front();
                }
                self.dead_letters.push_back(DeadLetter {
                    job: entry.job,
                    attempts: entry.attempts,
                    reason,
                });
            } else {
                let delay = self.options.retry.delay(entry.attempts);
                tracing::warn!(
                    queue = %self.name, job = entry.id, attempt = entry.attempts, %reason, ?delay,
                    "job attempt failed; retrying after a backoff"
                );
                self.backing_off += 1;
                ctx.send_after(Retry(entry), delay);
            }
        }
        self.pump(ctx);
    }

    fn answer_drain_waiters(&mut self) {
        if self.held() == 0 {
            for waiter in self.drain_waiters.drain(..) {
                waiter.reply(());
            }
        }
    }

    fn snapshot(&self) -> QueueStats {
        QueueStats {
            waiting: self.waiting.len(),
            running: self.running.len(),
            backing_off: self.backing_off,
            ..self.stats.clone()
        }
    }
}

impl<J: Clone + Send + 'static> GenServer for QueueServer<J> {
    const KIND: &'static str = "queue";

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // Trapping exits makes a supervisor's shutdown run `terminate`, which stops the
        // workers (they are monitored, not linked, so that a crash fails only its job).
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle_info(&mut self, info: Info, ctx: &mut ServerContext<Self>) {
        if let Info::Down(down) = info {
            self.finished(down.reference, down.reason, ctx);
        }
    }

    async fn terminate(&mut self, reason: &ExitReason, _ctx: &mut ServerContext<Self>) {
        let held = self.held();
        if held > 0 {
            tracing::warn!(queue = %self.name, held, %reason, "queue stopping with jobs not done");
        }
        // Workers are not linked to the queue: stop them, their jobs go with the queue.
        for (pid, _) in self.running.values() {
            grove_runtime::exit(*pid, ExitReason::Shutdown);
        }
    }
}

impl<J: Clone + Send + 'static> Call<Push<J>> for QueueServer<J> {
    type Reply = Result<(), QueueError>;

    async fn handle_call(
        &mut self,
        Push(job): Push<J>,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        if self.held() >= self.options.capacity {
            self.stats.rejected += 1;
            from.reply(Err(QueueError::Full {
                name: self.name.clone(),
                capacity: self.options.capacity,
            }));
            return;
        }
        self.stats.pushed += 1;
        self.next_id += 1;
        self.waiting.push_back(Entry {
            id: self.next_id,
            job,
            attempts: 0,
        });
        from.reply(Ok(()));
        self.pump(ctx);
    }
}

impl<J: Clone + Send + 'static> Call<Stats> for QueueServer<J> {
    type Reply = QueueStats;

    async fn handle_call(
        &mut self,
        _: Stats,
        from: ReplyTo<QueueStats>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.snapshot());
    }
}

impl<J: Clone + Send + 'static> Call<Drain> for QueueServer<J> {
    type Reply = ();

    async fn handle_call(&mut self, _: Drain, from: ReplyTo<()>, _: &mut ServerContext<Self>) {
        self.drain_waiters.push(from);
        self.answer_drain_waiters();
    }
}

impl<J: Clone + Send + 'static> Call<DeadLetters> for QueueServer<J> {
    type Reply = Vec<DeadLetter<J>>;

    async fn handle_call(
        &mut self,
        _: DeadLetters,
        from: ReplyTo<Self::Reply>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.dead_letters.iter().cloned().collect());
    }
}

impl<J: Clone + Send + 'static> Cast<Pump> for QueueServer<J> {
    async fn handle_cast(&mut self, _: Pump, ctx: &mut ServerContext<Self>) {
        self.pump_armed = false;
        self.pump(ctx);
    }
}

impl<J: Clone + Send + 'static> Cast<Retry<J>> for QueueServer<J> {
    async fn handle_cast(&mut self, Retry(entry): Retry<J>, ctx: &mut ServerContext<Self>) {
        self.backing_off = self.backing_off.saturating_sub(1);
        self.waiting.push_back(entry);
        self.pump(ctx);
    }
}

/// A handle on a running queue (`Copy`, like a pid).
pub struct RateLimitedQueue<J: Clone + Send + 'static> {
    server: Server<QueueServer<J>>,
}

impl<J: Clone + Send + 'static> Clone for RateLimitedQueue<J> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<J: Clone + Send + 'static> Copy for RateLimitedQueue<J> {}

fn boxed_handler<J, E, F, Fut>(handler: F) -> Handler<J>
where
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display,
{
    Arc::new(move |job| {
        let attempt = handler(job);
        Box::pin(async move { attempt.await.map_err(|error| error.to_string()) })
    })
}

impl<J: Clone + Send + 'static> RateLimitedQueue<J> {
    fn server_state(name: &str, options: QueueOptions, handler: Handler<J>) -> QueueServer<J> {
        let name: Arc<str> = Arc::from(name);
        let limiter = RateLimiter::new(format!("queue:{name}"), options.rate);
        crate::metrics::register_limiter(&limiter);
        QueueServer {
            limiter,
            name: name.clone(),
            options,
            handler,
            next_id: 0,
            waiting: VecDeque::new(),
            running: HashMap::new(),
            backing_off: 0,
            pump_armed: false,
            dead_letters: VecDeque::new(),
            drain_waiters: Vec::new(),
            stats: QueueStats {
                name,
                ..QueueStats::default()
            },
        }
    }

    /// Starts a queue linked to the caller, registered under `name`, running `handler` on each
    /// job. An `Err` from the handler (or a panic) is a failed attempt.
    pub async fn start_link<E, F, Fut>(
        name: &str,
        options: QueueOptions,
        handler: F,
    ) -> Result<Self, StartError>
    where
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let state = Self::server_state(name, options, boxed_handler(handler));
        let server = Server::start_opt(state, StartOptions::new().link().name(name)).await?;
        Ok(RateLimitedQueue { server })
    }

    /// The queue as a child for a supervision tree, registered under `name`.
    pub fn child_spec<E, F, Fut>(name: &str, options: QueueOptions, handler: F) -> ChildSpec
    where
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let handler = boxed_handler(handler);
        let name: Arc<str> = Arc::from(name);
        ChildSpec::new(format!("queue:{name}"), move || {
            let state = Self::server_state(&name, options.clone(), handler.clone());
            let name = name.clone();
            async move { Server::start_opt(state, StartOptions::new().link().name(name)).await }
        })
    }

    /// The queue registered under `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(|server| RateLimitedQueue { server })
    }

    /// The queue process's pid.
    pub fn pid(&self) -> Pid {
        self.server.pid()
    }

    /// Adds a job at the back, or refuses it when the queue is full.
    pub async fn push(&self, job: J) -> Result<(), QueueError> {
        self.server.call(Push(job)).await?
    }

    /// The queue's counts, and the jobs it holds now.
    pub async fn stats(&self) -> Result<QueueStats, CallError> {
        self.server.call(Stats).await
    }

    /// Waits until the queue holds nothing: every job in it succeeded or is a dead letter.
    /// Jobs pushed meanwhile are waited for too, so under a steady stream this may not return:
    /// it is for tests and for stopping the producers first, then draining.
    pub async fn drain(&self) -> Result<(), CallError> {
        self.server
            .call_timeout(Drain, Duration::from_secs(u32::MAX as u64))
            .await
    }

    /// The jobs that failed every attempt, oldest first (the last 100).
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter<J>>, CallError> {
        self.server.call(DeadLetters).await
    }
}
