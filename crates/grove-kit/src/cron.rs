//! Cron jobs (Elixir's Quantum): cron expressions with seconds and time zones, each run a
//! monitored process of its own, an overlap policy for a job still running when it is due
//! again, and the next run times listable. A run that fails or panics is logged and counted,
//! and the schedule goes on.
//!
//! Expressions are croner's: 5 fields (minute first) or 6 (second first), `*/10 * * * * *`,
//! `0 30 9 * * MON-FRI`, `@hourly`. Each job has a time zone (UTC by default), so
//! "9:30 in Berlin" follows daylight saving time.
//!
//! ```
//! use grove_kit::cron::{Cron, Overlap};
//!
//! let crontab = Cron::new("jobs")
//!     .job("refresh_prices", "0 */5 * * * *", || async { Ok::<(), String>(()) })
//!     .unwrap()
//!     .job_in("morning_report", "0 30 9 * * MON-FRI", "Europe/Berlin", Overlap::Skip, || async {
//!         Ok::<(), String>(())
//!     })
//!     .unwrap();
//! let spec = crontab.child_spec(); // put it in a supervision tree
//! ```

use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use grove_otp::gen_server::{
    Call, CallError, Cast, GenServer, Info, ReplyTo, Server, ServerContext, StartOptions,
};
use grove_otp::supervisor::ChildSpec;
use grove_runtime::{ExitReason, Pid, Ref};

/// The longest the scheduler sleeps before looking at the wall clock again, so a clock that
/// jumps (NTP, a suspended VM) delays a run by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pattern: String,
    cron: croner::Cron,
    zone: Tz,
}

/// An expression or a time zone that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("cron expression {pattern:?} is invalid: {reason}")]
    Pattern {
        /// The expression as given.
        pattern: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The time zone is not a known IANA name (the name as given).
    #[error("{0:?} is not a time zone name (use IANA names such as Europe/Berlin or UTC)")]
    Zone(String),
}

impl Schedule {
    /// `pattern` in time zone `zone` (an IANA name).
    pub fn new(pattern: &str, zone: &str) -> Result<Self, ScheduleError> {
        let cron = croner::Cron::from_str(pattern).map_err(|error| ScheduleError::Pattern {
            pattern: pattern.to_string(),
            reason: error.to_string(),
        })?;
        let zone = Tz::from_str(zone).map_err(|_| ScheduleError::Zone(zone.to_string()))?;
        Ok(Schedule {
            pattern: pattern.to_string(),
            cron,
            zone,
        })
    }

    /// The cron expression, as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first time strictly after `after` that the expression matches.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(n);
        let mut from = after;
        while times.len() < n {
            let Some(next) = self.next_after(from) else {
                break;
            };
            times.push(next);
            from = next;
        }
        times
    }
}

/// What to do when a job is due while its previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Skip this run (logged and counted). The default, as Quantum's `overlap: false`.
    Skip,
    /// Run it as soon as the previous run ends (at most one waiting).
    Queue,
    /// Start it anyway, alongside.
    Allow,
}

#[derive(Clone)]
struct JobSpec {
    name: Arc<str>,
    schedule: Schedule,
    overlap: Overlap,
    run: crate::job::Job,
}

/// Where wall time comes from: the system clock, or (tests) a fixed start plus tokio's time,
/// which a paused tokio clock advances.
#[derive(Debug, Clone, Copy)]
enum Clock {
    System,
    Virtual {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual { start, at } => {
                let elapsed = at.elapsed();
                *start + chrono::Duration::from_std(elapsed).unwrap_or_default()
            }
        }
    }
}

/// A crontab: jobs to run on schedules, as one supervised process.
#[derive(Clone)]
pub struct Cron {
    name: Arc<str>,
    jobs: Vec<JobSpec>,
    virtual_start: Option<DateTime<Utc>>,
}

/// One job as [`CronRef::jobs`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's name.
    pub name: Arc<str>,
    /// Its cron expression.
    pub pattern: String,
    /// Its time zone's IANA name.
    pub zone: String,
    /// When it is next due (`None` if the expression matches no later time).
    pub next_run: Option<DateTime<Utc>>,
    /// Runs going on now.
    pub running: usize,
    /// Runs started so far.
    pub runs: u64,
    /// Runs that returned an error, panicked or were killed.
    pub failures: u64,
    /// Runs skipped because the previous one was still going.
    pub skipped: u64,
}

impl Cron {
    /// An empty crontab whose process is registered as `name`.
    pub fn new(name: &str) -> Self {
        Cron {
            name: Arc::from(name),
            jobs: Vec::new(),
            virtual_start: None,
        }
    }

    /// Adds a job on `pattern` in UTC, skipping a run while the previous one is going.
    pub fn job<E, F, Fut>(self, name: &str, pattern: &str, run: F) -> Result<Self, ScheduleError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        self.job_in(name, pattern, "UTC", Overlap::Skip, run)
    }

    /// Adds a job on `pattern` in time zone `zone`, with an overlap policy.
    pub fn job_in<E, F, Fut>(
        mut self,
        name: &str,
        pattern: &str,
        zone: &str,
        overlap: Overlap,
        run: F,
    ) -> Result<Self, ScheduleError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let schedule = Schedule::new(pattern, zone)?;
        self.jobs.push(JobSpec {
            name: Arc::from(name),
            schedule,
            overlap,
            run: crate::job::boxed(run),
        });
        Ok(self)
    }

    /// Takes wall time as `start` plus tokio's elapsed time, so tests on a paused tokio clock
    /// can run a day of schedules in no time.
    pub fn virtual_clock(mut self, start: DateTime<Utc>) -> Self {
        self.virtual_start = Some(start);
        self
    }

    fn server(&self) -> CronServer {
        let clock = match self.virtual_start {
            Some(start) => Clock::Virtual {
                start,
                at: tokio::time::Instant::now(),
            },
            None => Clock::System,
        };
        let now = clock.now();
        CronServer {
            name: self.name.clone(),
            clock,
            jobs: self
                .jobs
                .iter()
                .map(|spec| JobState {
                    next_run: spec.schedule.next_after(now),
                    spec: spec.clone(),
                    running: Vec::new(),
                    queued: false,
                    runs: 0,
                    failures: 0,
                    skipped: 0,
                })
                .collect(),
        }
    }

    /// Starts the crontab linked to the caller.
    pub async fn start_link(self) -> Result<CronRef, grove_otp::StartError> {
        let name = self.name.clone();
        let server =
            Server::start_opt(self.server(), StartOptions::new().link().name(name)).await?;
        Ok(CronRef { server })
    }

    /// The crontab as a child for a supervision tree. A restart computes every next run
    /// afresh from the clock (runs missed while it was down are not made up).
    pub fn child_spec(self) -> ChildSpec {
        let id = format!("cron:{}", self.name);
        ChildSpec::new(id, move || {
            let crontab = self.clone();
            async move { crontab.start_link().await.map(|cron| cron.server) }
        })
    }
}

struct JobState {
    spec: JobSpec,
    next_run: Option<DateTime<Utc>>,
    /// Runs going on: their monitors and pids.
    running: Vec<(Ref, Pid)>,
    queued: bool,
    runs: u64,
    failures: u64,
    skipped: u64,
}

/// The crontab's process state.
pub(crate) struct CronServer {
    name: Arc<str>,
    clock: Clock,
    jobs: Vec<JobState>,
}

/// The crontab's requests: its jobs, and a run outside the schedule.
struct Jobs;
struct RunNow(String);
/// Its timer: a job may be due.
struct Wake;

impl CronServer {
    /// Starts every job that is due, then sleeps until the next one (at most [`MAX_SLEEP`]).
    fn tick(&mut self, ctx: &mut ServerContext<Self>) {
        let now = self.clock.now();
        for index in 0..self.jobs.len() {
            let due = self.jobs[index].next_run.is_some_and(|at| at <= now);
            if !due {
                continue;
            }
            // The next run comes after now: runs missed while late are not made up.
            let job = &mut self.jobs[index];
            job.next_run = job.spec.schedule.next_after(now);
            let busy = !job.running.is_empty();
            match (busy, job.spec.overlap) {
                (true, Overlap::Skip) => {
                    job.skipped += 1;
                    tracing::warn!(cron = %self.name, job = %job.spec.name, "previous run still going; skipping this one");
                }
                (true, Overlap::Queue) => job.queued = true,
                _ => self.start(index, ctx),
            }
        }
        let next = self.jobs.iter().filter_map(|j| j.next_run).min();
        let sleep = next
            .map(|at| (at - now).to_std().unwrap_or_default())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        ctx.send_after(Wake, sleep);
    }

    fn start(&mut self, index: usize, ctx: &mut ServerContext<Self>) {
        let job = &mut self.jobs[index];
        job.runs += 1;
        let run = job.spec.run.clone();
        let (addr, reference) =
            ctx.process()
                .spawn_monitor(move |_: grove_runtime::Context<()>| async move {
                    run().await.map_err(ExitReason::from)
                });
        job.running.push((reference, addr.pid()));
    }

    fn finished(&mut self, reference: Ref, reason: ExitReason, ctx: &mut ServerContext<Self>) {
        let Some(index) = self
            .jobs
            .iter()
            .position(|j| j.running.iter().any(|(r, _)| *r == reference))
        else {
            return;
        };
        let job = &mut self.jobs[index];
        job.running.retain(|(r, _)| *r != reference);
        if !reason.is_normal() {
            job.failures += 1;
            tracing::error!(cron = %self.name, job = %job.spec.name, %reason, "cron run failed; the schedule goes on");
        }
        if job.queued && job.running.is_empty() {
            job.queued = false;
            self.start(index, ctx);
        }
    }
}

impl GenServer for CronServer {
    const KIND: &'static str = "cron";

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // Trapping exits makes a supervisor's shutdown run `terminate`, which stops the runs
        // going on (monitored, not linked, so that a failing run fails only itself).
        ctx.trap_exit(true);
        self.tick(ctx);
        Ok(())
    }

    async fn terminate(&mut self, reason: &ExitReason, _ctx: &mut ServerContext<Self>) {
        for job in &self.jobs {
            for (_, pid) in &job.running {
                tracing::info!(cron = %self.name, job = %job.spec.name, %reason, "stopping a run: the crontab is stopping");
                grove_runtime::exit(*pid, ExitReason::Shutdown);
            }
        }
    }

    async fn handle_info(&mut self, info: Info, ctx: &mut ServerContext<Self>) {
        if let Info::Down(down) = info {
            self.finished(down.reference, down.reason, ctx);
        }
    }
}

impl Call<Jobs> for CronServer {
    type Reply = Vec<JobInfo>;

    async fn handle_call(
        &mut self,
        _: Jobs,
        from: ReplyTo<Vec<JobInfo>>,
        _: &mut ServerContext<Self>,
    ) {
        let jobs = self
            .jobs
            .iter()
            .map(|j| JobInfo {
                name: j.spec.name.clone(),
                pattern: j.spec.schedule.pattern.clone(),
                zone: j.spec.schedule.zone.name().to_string(),
                next_run: j.next_run,
                running: j.running.len(),
                runs: j.runs,
                failures: j.failures,
                skipped: j.skipped,
            })
            .collect();
        from.reply(jobs);
    }
}

impl Call<RunNow> for CronServer {
    type Reply = bool;

    async fn handle_call(
        &mut self,
        RunNow(name): RunNow,
        from: ReplyTo<bool>,
        ctx: &mut ServerContext<Self>,
    ) {
        let index = self.jobs.iter().position(|j| *j.spec.name == *name);
        if let Some(index) = index {
            self.start(index, ctx);
        }
        from.reply(index.is_some());
    }
}

impl Cast<Wake> for CronServer {
    async fn handle_cast(&mut self, _: Wake, ctx: &mut ServerContext<Self>) {
        self.tick(ctx);
    }
}

/// A handle on a running crontab.
#[derive(Clone, Copy)]
pub struct CronRef {
    server: Server<CronServer>,
}

impl CronRef {
    /// The crontab registered under `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(|server| CronRef { server })
    }

    /// Every job with its next run and counts.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, CallError> {
        self.server.call(Jobs).await
    }

    /// Starts a run of job `name` now, outside its schedule; false if there is no such job.
    pub async fn run_now(&self, name: &str) -> Result<bool, CallError> {
        self.server.call(RunNow(name.to_string())).await
    }
}
