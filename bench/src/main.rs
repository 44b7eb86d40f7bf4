//! Grove's benchmark binary: the process runtime's scenarios, timed in one process.
//!
//! `cargo run --release -p grove-bench` runs every scenario; `--only NAME` runs one;
//! `--quick` runs them at a small size (CI proves they still run; no thresholds anywhere).
//! The side-by-side suite with Erlang/OTP and the Rust actor crates grows from here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

mod otp;
mod tables;

/// mimalloc, as most Rust services that spawn many small tasks use: glibc's malloc spends more
/// time on tokio's cache-aligned task allocations than the rest of a spawn put together.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use grove::prelude::*;

#[derive(Parser, Debug)]
#[command(
    about = "Times Grove: spawn, memory per process, ping-pong, fan-in, GenServer calls and casts, supervisor restarts, tables"
)]
struct Args {
    /// Run only this scenario: spawn, ping-pong, fan-in, call, call-4, cast, restart,
    /// table-insert, table-lookup-1, table-lookup-2, table-counter, table-range, durable.
    #[arg(long)]
    only: Option<String>,
    /// Small sizes, to prove the scenarios run (CI).
    #[arg(long)]
    quick: bool,
    /// Runs of each scenario; the median, min and max are printed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Internal: run one spawn measurement in this (fresh) OS process and print it.
    #[arg(long, hide = true)]
    child_spawn: Option<usize>,
}

struct Sample {
    value: f64,
}

fn main() {
    let args = Args::parse();
    if let Some(n) = args.child_spawn {
        let (cold, bytes) = spawn_idle(n);
        let (warm, _) = spawn_idle(n);
        println!("{cold} {bytes} {warm}");
        return;
    }
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let scale = if args.quick { 100 } else { 1 };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("grove-bench: {workers} worker threads, {runs} run(s) per scenario");
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| only == name);

    if wanted("spawn") {
        let n = 1_000_000 / scale;
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..runs {
            let (cold_rate, per_process, warm_rate) = spawn_in_fresh_process(n);
            cold.push(Sample { value: cold_rate });
            warm.push(Sample { value: warm_rate });
            bytes.push(Sample { value: per_process });
        }
        report(
            &format!("spawn {n} idle (cold memory)"),
            "processes/s",
            &cold,
        );
        report(
            &format!("spawn {n} idle (warm memory)"),
            "processes/s",
            &warm,
        );
        report("resident memory per idle process", "bytes", &bytes);
    }
    if wanted("ping-pong") {
        let n = 1_000_000 / scale;
        let samples: Vec<Sample> = (0..runs)
            .map(|_| Sample {
                value: ping_pong(n),
            })
            .collect();
        report(
            &format!("ping-pong, {n} round trips"),
            "ns per round trip",
            &samples,
        );
    }
    if wanted("fan-in") {
        let n = 1_000_000 / scale;
        let samples: Vec<Sample> = (0..runs)
            .map(|_| Sample {
                value: fan_in(2, n),
            })
            .collect();
        report(
            &format!("fan-in, 2 senders x {n} messages"),
            "messages/s",
            &samples,
        );
    }
    otp_scenarios(runs, scale, &wanted);
    table_scenarios(runs, scale as u64, &wanted);
}

fn table_scenarios(runs: usize, scale: u64, wanted: &impl Fn(&str) -> bool) {
    let sample =
        |f: &dyn Fn() -> f64| -> Vec<Sample> { (0..runs).map(|_| Sample { value: f() }).collect() };
    let keys = tables::KEYS / scale.next_power_of_two();
    if wanted("table-insert") {
        let samples = sample(&|| tables::inserts(keys));
        report(&format!("table insert, {keys} keys"), "inserts/s", &samples);
    }
    for readers in [1, 2] {
        if wanted(&format!("table-lookup-{readers}")) {
            let per_reader = 4 * keys;
            let samples = sample(&|| tables::lookups(keys, readers, per_reader));
            report(
                &format!("table lookup, {readers} reader(s) x {per_reader}"),
                "lookups/s",
                &samples,
            );
        }
    }
    if wanted("table-counter") {
        let per_writer = 1_000_000 / scale;
        let samples = sample(&|| tables::counter_contention(1, 2 * per_writer));
        report(
            &format!("update_counter, 1 writer x {}, one key", 2 * per_writer),
            "updates/s",
            &samples,
        );
        let samples = sample(&|| tables::counter_contention(2, per_writer));
        report(
            &format!("update_counter, 2 writers x {per_writer}, one key"),
            "updates/s",
            &samples,
        );
    }
    if wanted("table-range") {
        let scans = 10_000 / scale;
        let samples = sample(&|| tables::range_scans(keys, 1000, scans));
        report(
            &format!("ordered range scan, {scans} x 1000 keys"),
            "objects/s",
            &samples,
        );
    }
    if wanted("durable") {
        let single = 200 / scale.min(10);
        let batched = 200_000 / scale;
        let mut singles = Vec::new();
        let mut batches = Vec::new();
        let mut commits = Vec::new();
        for _ in 0..runs {
            let (one, many, commit_ms) = tables::durable(single, batched, 1000);
            singles.push(Sample { value: one });
            batches.push(Sample { value: many });
            commits.push(Sample { value: commit_ms });
        }
        report(
            &format!("durable insert, {single} one per commit"),
            "inserts/s",
            &singles,
        );
        report(
            &format!("durable insert, {batched} in commits of 1000"),
            "inserts/s",
            &batches,
        );
        report("durable commit of one insert", "ms", &commits);
    }
}

fn otp_scenarios(runs: usize, scale: usize, wanted: &impl Fn(&str) -> bool) {
    let sample =
        |f: &dyn Fn() -> f64| -> Vec<Sample> { (0..runs).map(|_| Sample { value: f() }).collect() };
    if wanted("call") {
        let n = 1_000_000 / scale;
        let samples = sample(&|| otp::call_round_trip(n));
        report(
            &format!("GenServer call, {n} sequential"),
            "ns per call",
            &samples,
        );
    }
    if wanted("call-4") {
        let n = 250_000 / scale;
        let samples = sample(&|| otp::concurrent_calls(4, n));
        report(
            &format!("GenServer call, 4 callers x {n}"),
            "calls/s",
            &samples,
        );
    }
    if wanted("cast") {
        let n = 4_000_000 / scale;
        let samples = sample(&|| otp::casts(n));
        report(&format!("GenServer cast, {n}"), "casts/s", &samples);
    }
    if wanted("restart") {
        let n = 10_000 / scale.min(100);
        let samples = sample(&|| otp::restart_storm(n));
        report(
            &format!("one_for_one restart of {n} killed"),
            "us per child",
            &samples,
        );
    }
}

fn report(name: &str, unit: &str, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    println!(
        "{name:<40} median {:>14} {unit}   (min {}, max {})",
        human(median),
        human(values[0]),
        human(values[values.len() - 1])
    );
}

fn human(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

/// Runs the spawn measurement in a new OS process, so that memory freed by an earlier run (and
/// kept by the allocator) does not hide the cost of the next. Returns (cold rate, bytes per
/// process, warm rate).
///
/// "Cold" is the first million in a fresh OS process: every page is new and the kernel's
/// page faults (zeroing, sometimes compacting for huge pages) are part of the time; on this
/// machine they swing the figure by 2-4x between runs. "Warm" spawns the same number again after
/// the first ones exited, on memory the allocator kept: the runtime's own cost.
fn spawn_in_fresh_process(n: usize) -> (f64, f64, f64) {
    let exe = std::env::current_exe().expect("the benchmark binary knows its own path");
    let output = std::process::Command::new(exe)
        // Keep freed memory in the allocator between the cold and the warm run (mimalloc would
        // otherwise hand it back to the OS after 10 ms, and the warm run would fault it in again).
        .env("MIMALLOC_PURGE_DELAY", "-1")
        .arg("--child-spawn")
        .arg(n.to_string())
        .output()
        .expect("the benchmark can start itself");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
    (
        fields.next().unwrap_or(f64::NAN),
        fields.next().unwrap_or(f64::NAN),
        fields.next().unwrap_or(f64::NAN),
    )
}

/// Resident set size of this OS process, in bytes.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Counts processes that have started, one padded counter per worker thread, so that counting
/// does not bounce one cache line between the cores (which would measure the counter, not spawn).
mod started {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[repr(align(128))]
    struct Padded(AtomicUsize);

    const SLOTS: usize = 64;
    static COUNTS: [Padded; SLOTS] = [const { Padded(AtomicUsize::new(0)) }; SLOTS];
    static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }

    pub fn one() {
        SLOT.with(|&slot| COUNTS[slot].0.fetch_add(1, Ordering::Relaxed));
    }

    pub fn total() -> usize {
        COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

/// Spawns `n` processes that wait in receive. Returns (spawns per second, RSS bytes per
/// process). The rate is the spawn loop's; the memory is measured once every process has run
/// up to its receive.
fn spawn_idle(n: usize) -> (f64, f64) {
    let result = Arc::new(std::sync::Mutex::new((0.0, 0.0)));
    let out = result.clone();
    grove::run(move |_: Context<()>| async move {
        let before = rss_bytes();
        let t0 = Instant::now();
        let mut pids = Vec::with_capacity(n);
        for _ in 0..n {
            pids.push(spawn(|mut ctx: Context<()>| async move {
                started::one();
                let _ = ctx.recv().await;
            }));
        }
        let spawn_time = t0.elapsed();
        while started::total() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let after = rss_bytes();
        let per_process = after.saturating_sub(before) as f64 / n as f64;
        if let Ok(mut out) = out.lock() {
            *out = (n as f64 / spawn_time.as_secs_f64(), per_process);
        }
        for pid in pids {
            send(pid, ());
        }
        while grove::process::system_info().process_count > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let value = *result.lock().unwrap_or_else(|e| e.into_inner());
    value
}

/// `n` request/reply round trips between two processes; nanoseconds per round trip.
fn ping_pong(n: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |mut ctx: Context<u64>| async move {
        let me = ctx.addr();
        let ponger = spawn(move |mut pctx: Context<u64>| async move {
            while let Message::User(i) = pctx.recv().await {
                send(me, i);
            }
        });
        let t0 = Instant::now();
        for i in 0..n as u64 {
            send(ponger, i);
            let _ = ctx.recv().await;
        }
        *out.lock().unwrap() = t0.elapsed().as_nanos() as f64 / n as f64;
        grove::exit(ponger.pid(), ExitReason::Kill);
    });
    let value = *result.lock().unwrap();
    value
}

/// `senders` processes each send `n` messages to one receiver; messages per second received.
fn fan_in(senders: usize, n: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |mut ctx: Context<()>| async move {
        let total = senders * n;
        let t0 = Instant::now();
        let receiver = spawn(move |mut rctx: Context<u64>| async move {
            let mut got = 0;
            while got < total {
                if let Message::User(_) = rctx.recv().await {
                    got += 1;
                }
            }
        });
        let (done, reference) = {
            let r = ctx.monitor(receiver);
            (receiver, r)
        };
        for _ in 0..senders {
            spawn(move |_: Context<()>| async move {
                for i in 0..n as u64 {
                    send(receiver, i);
                }
            });
        }
        let _ = ctx
            .recv_match(|m| matches!(m, Message::Down(d) if d.reference == reference))
            .await;
        let _ = done;
        *out.lock().unwrap() = total as f64 / t0.elapsed().as_secs_f64();
    });
    let value = *result.lock().unwrap();
    value
}
