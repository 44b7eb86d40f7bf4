//! The supervision tree, written by hand with links and trapped exits.
//!
//! ```text
//! root (one_for_one, traps exits)
//! ├── collector          counts results                        registered as "collector"
//! ├── sup-0 (one_for_one, traps exits)
//! │   ├── worker-0       hashes jobs, crashes now and then     registered as "worker-0"
//! │   └── worker-2 ...
//! ├── sup-1 ...
//! └── producer           fills the workers' bounded mailboxes  registered as "producer"
//! ```
//!
//! Processes find each other by registered name, so a restarted worker is found again under
//! its old name, as in Erlang.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grove::prelude::*;
use grove::process::{process_info, try_send, whereis, Overflow, SpawnOptions};
use grove::process::{send_named, whereis_addr, SendError, SpawnError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::stats::Stats;

/// The collector's registered name.
pub const COLLECTOR: &str = "collector";
/// The producer's registered name.
pub const PRODUCER: &str = "producer";
/// How many jobs a worker's mailbox holds; the producer waits when all are full.
const WORKER_MAILBOX: usize = 64;
/// Above this many unprocessed results the producer pauses, so the collector keeps up.
const COLLECTOR_BACKLOG: usize = 4096;
/// Rounds in a row that sent nothing before the producer sleeps instead of just yielding.
const IDLE_ROUNDS: u32 = 1024;
/// How long a supervisor waits for a child to stop before killing it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The registered name of the worker in `slot`.
pub fn worker_name(slot: usize) -> String {
    format!("worker-{slot}")
}

/// The shape of the tree and how often workers crash.
#[derive(Clone, Copy, Debug)]
pub struct TreeConfig {
    /// Workers in all.
    pub workers: usize,
    /// Supervisors between the root and the workers; 0 puts the workers under the root.
    pub supervisors: usize,
    /// Probability that a worker crashes on a job.
    pub crash_rate: f64,
}

impl TreeConfig {
    /// Processes in the running tree: root, collector, producer, supervisors, workers.
    pub fn process_count(&self) -> usize {
        3 + self.supervisors + self.workers
    }
}

/// What the producer accepts.
#[derive(Debug)]
pub enum ProducerCmd {
    /// Stop producing and exit normally (a normal exit is not restarted).
    Stop,
}

/// A result, sent by a worker to the collector.
#[derive(Debug)]
pub struct Done(u64);

/// How a supervisor starts (and restarts) one child: spawn it linked and return its pid.
type Start = Box<dyn Fn(&mut Context<()>) -> Result<Pid, SpawnError> + Send + Sync>;

/// The root of the tree. Spawn it linked from the process that will stop it.
pub async fn root(ctx: Context<()>, config: TreeConfig, stats: Arc<Stats>) -> ExitReason {
    let mut children = vec![collector_spec(&stats)];
    if config.supervisors == 0 {
        children.extend((0..config.workers).map(|slot| worker_spec(slot, config.crash_rate)));
    } else {
        children.extend((0..config.supervisors).map(|sup| supervisor_spec(sup, config, &stats)));
    }
    children.push(producer_spec(config.workers, &stats));
    one_for_one(ctx, children, stats).await
}

/// A hand-written `one_for_one` supervisor: starts `children` linked, restarts any child that
/// exits abnormally, leaves one that exits normally (or with `shutdown`) stopped. An exit signal
/// from any other process (its parent stopping it) stops the children, last started first,
/// and ends the supervisor with that reason.
///
/// Unlike an OTP supervisor it has no restart intensity: it never gives up, since this demo
/// crashes its workers thousands of times a second on purpose.
async fn one_for_one(mut ctx: Context<()>, children: Vec<Start>, stats: Arc<Stats>) -> ExitReason {
    ctx.trap_exit(true);
    let mut running: HashMap<Pid, usize> = HashMap::new();
    for (index, start) in children.iter().enumerate() {
        match start(&mut ctx) {
            Ok(pid) => running.insert(pid, index),
            Err(error) => return failed_start(&mut ctx, running, error).await,
        };
    }
    loop {
        let Message::Exit(exit) = ctx.recv().await else {
            continue; // a supervisor has no messages of its own
        };
        let Some(index) = running.remove(&exit.from) else {
            shut_down(&mut ctx, running).await;
            return exit.reason;
        };
        if exit.reason.is_clean() {
            continue;
        }
        stats.crash(&exit.reason);
        match children[index](&mut ctx) {
            Ok(pid) => running.insert(pid, index),
            Err(error) => return failed_start(&mut ctx, running, error).await,
        };
    }
}

async fn failed_start(
    ctx: &mut Context<()>,
    running: HashMap<Pid, usize>,
    error: SpawnError,
) -> ExitReason {
    shut_down(ctx, running).await;
    ExitReason::error(format!("a child failed to start: {error}"))
}

/// Stops the children in reverse start order: `shutdown`, then `kill` if one does not stop.
async fn shut_down(ctx: &mut Context<()>, running: HashMap<Pid, usize>) {
    let mut order: Vec<(usize, Pid)> = running.into_iter().map(|(pid, i)| (i, pid)).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    for (_, pid) in order {
        for reason in [ExitReason::Shutdown, ExitReason::Kill] {
            ctx.exit(pid, reason);
            let exited = |m: &Message<()>| matches!(m, Message::Exit(e) if e.from == pid);
            if ctx
                .recv_match_timeout(exited, SHUTDOWN_TIMEOUT)
                .await
                .is_some()
            {
                break;
            }
        }
    }
}

fn supervisor_spec(sup: usize, config: TreeConfig, stats: &Arc<Stats>) -> Start {
    let stats = stats.clone();
    Box::new(move |ctx| {
        let children = (sup..config.workers)
            .step_by(config.supervisors)
            .map(|slot| worker_spec(slot, config.crash_rate))
            .collect();
        let stats = stats.clone();
        let options = SpawnOptions::new().link(true).trap_exit(true);
        let spawned = ctx.spawn_opt(options, move |c| one_for_one(c, children, stats))?;
        Ok(spawned.addr.pid())
    })
}

fn collector_spec(stats: &Arc<Stats>) -> Start {
    let stats = stats.clone();
    Box::new(move |ctx| {
        let stats = stats.clone();
        let options = SpawnOptions::new().link(true).name(COLLECTOR);
        let spawned = ctx.spawn_opt(options, move |c| collector(c, stats))?;
        Ok(spawned.addr.pid())
    })
}

fn worker_spec(slot: usize, crash_rate: f64) -> Start {
    Box::new(move |ctx| {
        let options = SpawnOptions::new()
            .link(true)
            .name(worker_name(slot))
            .mailbox_bound(WORKER_MAILBOX, Overflow::Reject);
        let spawned = ctx.spawn_opt(options, move |c| worker(c, slot, crash_rate))?;
        Ok(spawned.addr.pid())
    })
}

fn producer_spec(workers: usize, stats: &Arc<Stats>) -> Start {
    let stats = stats.clone();
    Box::new(move |ctx| {
        let stats = stats.clone();
        let options = SpawnOptions::new().link(true).name(PRODUCER);
        let spawned = ctx.spawn_opt(options, move |c| producer(c, workers, stats))?;
        Ok(spawned.addr.pid())
    })
}

/// Counts the results the workers send.
async fn collector(mut ctx: Context<Done>, stats: Arc<Stats>) {
    let (mut results, mut checksum) = stats.results();
    loop {
        if let Message::User(Done(value)) = ctx.recv().await {
            results += 1;
            checksum = checksum.wrapping_add(value);
            stats.publish_results(results, checksum);
        }
    }
}

/// The start of the message of every crash the demo injects; the panic hook keeps these quiet.
pub const INJECTED: &str = "injected crash";

/// Hashes each job and sends the result to the collector. With probability `crash_rate` per
/// job it crashes instead: half the time by panicking, half by returning an error.
async fn worker(mut ctx: Context<u64>, slot: usize, crash_rate: f64) -> Result<(), ExitReason> {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    loop {
        let Message::User(job) = ctx.recv().await else {
            continue;
        };
        if rng.random_bool(crash_rate) {
            if rng.random_bool(0.5) {
                panic!("{INJECTED}: worker-{slot} panicked on job {job}");
            }
            return Err(format!("{INJECTED}: worker-{slot} gave up on job {job}").into());
        }
        if let Err(error) = send_named(COLLECTOR, Done(work(job))) {
            return Err(format!("worker-{slot} could not report: {error}").into());
        }
    }
}

/// A little real work: a few rounds of splitmix64.
fn work(job: u64) -> u64 {
    (0..8).fold(job, |x, _| {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Keeps the workers busy: round after round, fills each worker's bounded mailbox (the runtime
/// refuses a send to a full one), yielding between rounds, and sleeps a little when rounds in a
/// row find every mailbox full or the collector lagging.
async fn producer(mut ctx: Context<ProducerCmd>, workers: usize, stats: Arc<Stats>) -> ExitReason {
    let names: Vec<String> = (0..workers).map(worker_name).collect();
    let mut next_job = 0u64;
    let mut idle_rounds = 0;
    loop {
        while ctx.mailbox_len() > 0 {
            if let Message::User(ProducerCmd::Stop) = ctx.recv().await {
                return ExitReason::Normal;
            }
        }
        let sent = if collector_lags() {
            0
        } else {
            match send_round(&names, &mut next_job) {
                Ok(sent) => sent,
                Err(reason) => return reason,
            }
        };
        stats.jobs_sent(sent);
        idle_rounds = if sent == 0 { idle_rounds + 1 } else { 0 };
        if idle_rounds > IDLE_ROUNDS {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

fn collector_lags() -> bool {
    whereis(COLLECTOR)
        .and_then(process_info)
        .is_some_and(|info| info.mailbox_len > COLLECTOR_BACKLOG)
}

/// Sends jobs to every worker until its mailbox is full; returns how many were sent.
fn send_round(names: &[String], next_job: &mut u64) -> Result<u64, ExitReason> {
    let mut sent = 0;
    for name in names {
        // Missing for a moment while its supervisor restarts it.
        let Some(worker) = whereis_addr::<u64>(name) else {
            continue;
        };
        for _ in 0..WORKER_MAILBOX {
            match try_send(worker, *next_job) {
                Ok(()) => {
                    *next_job += 1;
                    sent += 1;
                }
                Err(SendError::Full { .. }) => break,
                Err(other) => return Err(ExitReason::error(other)),
            }
        }
    }
    Ok(sent)
}
