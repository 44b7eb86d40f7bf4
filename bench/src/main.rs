//! Grove's benchmark suite: every scenario on Grove, on Erlang/OTP and on the Rust actor crates,
//! interleaved, reported as medians and as Grove's ratio to each other side.
//!
//! - `cargo run --release -p grove-bench` runs every scenario on every side that is available:
//!   Erlang/OTP when `erl` is installed (`apt-get install erlang-base`), the Rust peers when
//!   `grove-bench-peers` is built (`cargo build --release -p grove-bench-peers`). A missing side is
//!   skipped with a line saying how to add it.
//! - Runs are interleaved (Grove, Erlang, peers, Grove, Erlang, ...) so that drift of the machine
//!   hits every side alike.
//! - It prints a table and writes `bench/results/latest.json`, `latest.md` and `ratios.svg`
//!   (`--quick` writes to `target/bench-quick/` instead, so CI does not touch the committed
//!   results).
//! - `--quick` runs every scenario small, to prove they all still run (no thresholds anywhere),
//!   `--only NAME[,NAME]` picks scenarios, `--sides grove,erlang` picks sides.
//! - The kit's scenarios (cache, limiter, breaker) run on Grove and on the "bare" side, the
//!   crate under each piece, and report what the wrapper costs instead of targets.
//! - The distribution scenarios run two nodes on loopback, each its own OS process: Grove's
//!   (see `dist`) and Erlang's (`bench/erlang/grove_bench_dist.erl`, OTP's `peer` module).

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

mod dist;
mod grove_side;
mod kit;
mod measure;
mod otp;
mod processes;
mod report;
mod scenarios;
mod sides;
mod tables;

use scenarios::Scenario;
use sides::{Outcome, Side};

/// mimalloc, as most Rust services that spawn many small tasks use: glibc's malloc spends more
/// time on tokio's cache-aligned task allocations than the rest of a spawn put together.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    about = "Grove side by side with Erlang/OTP and the Rust actor crates: processes, GenServer, supervisor, registry, tables"
)]
struct Args {
    /// Only these scenarios (comma-separated): spawn, ring, ping-pong, fan-in-2, fan-in-8, call,
    /// call-4, cast, restart, registry, table-insert, table-lookup-1, table-lookup-2,
    /// table-counter, table-range, cache-hit, cache-fetch, limiter-check, breaker-call, durable,
    /// dist-send, dist-send-tls, dist-call, dist-call-tls, dist-detect-kill, dist-detect-hang.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these sides (comma-separated): grove, bare (the crates under the kit), erlang, and
    /// the peers (tokio, ractor, kameo, actix).
    #[arg(long, value_delimiter = ',')]
    sides: Vec<String>,
    /// Small sizes, to prove every scenario runs (CI).
    #[arg(long)]
    quick: bool,
    /// Runs per scenario and side (1 with --quick).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where to write latest.json, latest.md and ratios.svg (default: bench/results for a full
    /// run, target/bench-quick with --quick, target/bench-partial with --only or --sides).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: run one spawn measurement in this (fresh) OS process and print it.
    #[arg(long, hide = true)]
    child_spawn: Option<usize>,
    /// Internal: be the measuring node of a distribution scenario (PROGRAM PARAMS...).
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    child_dist: Vec<String>,
    /// Internal: be the other node of a distribution scenario (its TLS directory, or -).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    child_dist_peer: Option<String>,
}

fn main() {
    let args = Args::parse();
    // No default log subscriber: the suite's output is its report.
    grove::process::no_default_logs();
    if let Some(n) = args.child_spawn {
        let (cold, bytes) = processes::spawn_idle(n);
        let (warm, _) = processes::spawn_idle(n);
        println!("{cold} {bytes} {warm}");
        return;
    }
    if let Some(certs) = &args.child_dist_peer {
        dist::other_main(certs);
        return;
    }
    if !args.child_dist.is_empty() {
        match dist::measuring_main(&args.child_dist) {
            Ok(values) => {
                let fields: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
                println!("value {}", fields.join(" "));
            }
            Err(error) => {
                eprintln!("grove-bench: {error}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(error) = suite(&args) {
        eprintln!("grove-bench: {error}");
        std::process::exit(1);
    }
}

fn suite(args: &Args) -> Result<(), String> {
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let scenarios: Vec<&Scenario> = scenarios::ALL
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name))
        .collect();
    if scenarios.is_empty() {
        return Err(format!("no scenario named {:?}", args.only));
    }
    let scratch = std::env::temp_dir().join(format!("grove-bench-{}", std::process::id()));
    let wanted = |name: &str| args.sides.is_empty() || args.sides.iter().any(|s| s == name);
    let mut sides = vec![Side::Grove];
    if wanted("bare") {
        sides.push(Side::Bare);
    }
    let mut skipped = Vec::new();
    if wanted("erlang") {
        match sides::erlang(&scratch) {
            Ok(side) => sides.push(side),
            Err(why) => skipped.push(format!("erlang: {why}")),
        }
    }
    if args.sides.is_empty()
        || args
            .sides
            .iter()
            .any(|s| !["grove", "bare", "erlang"].contains(&s.as_str()))
    {
        match sides::peers() {
            Ok(peers) => sides.extend(peers.into_iter().filter(|p| wanted(p.name()))),
            Err(why) => skipped.push(format!("rust peers: {why}")),
        }
    }
    let erlang_facts = sides
        .iter()
        .any(|s| s.name() == "erlang")
        .then(sides::erlang_facts)
        .flatten();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "grove-bench: {cores} cores; sides: {}; {runs} run(s) each, interleaved{}",
        sides.iter().map(Side::name).collect::<Vec<_>>().join(", "),
        erlang_facts
            .as_ref()
            .map(|(release, schedulers)| format!("; Erlang/OTP {release}, {schedulers} schedulers"))
            .unwrap_or_default()
    );
    for line in &skipped {
        println!("skipped {line}");
    }

    let progress = ProgressBar::new((scenarios.len() * sides.len() * runs) as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut records = Vec::new();
    for scenario in &scenarios {
        let params = scenario.params(args.quick);
        // samples[side][metric]
        let mut samples: Vec<Vec<Vec<f64>>> =
            vec![vec![Vec::new(); scenario.metrics.len()]; sides.len()];
        let mut unsupported = vec![false; sides.len()];
        for run in 0..runs {
            for (index, side) in sides.iter().enumerate() {
                progress.set_message(format!(
                    "{} on {} (run {})",
                    scenario.name,
                    side.name(),
                    run + 1
                ));
                if !unsupported[index] {
                    match side.run(scenario, params) {
                        Ok(Outcome::Values(values)) => {
                            for (metric, value) in values.into_iter().enumerate() {
                                if let Some(slot) = samples[index].get_mut(metric) {
                                    slot.push(value);
                                }
                            }
                        }
                        Ok(Outcome::Unsupported) => unsupported[index] = true,
                        Err(error) => {
                            say(
                                &progress,
                                format!("{} on {}: {error}", scenario.name, side.name()),
                            );
                            unsupported[index] = true;
                        }
                    }
                }
                progress.inc(1);
            }
        }
        let mut scenario_records = Vec::new();
        for (index, side) in sides.iter().enumerate() {
            for (metric, values) in scenario.metrics.iter().zip(&samples[index]) {
                if !values.is_empty() {
                    scenario_records.push(report::record(
                        scenario,
                        metric,
                        side.name(),
                        values.clone(),
                    ));
                }
            }
        }
        for metric in scenario.metrics {
            for line in report::metric_lines(scenario, metric, args.quick, &scenario_records) {
                say(&progress, line);
            }
        }
        records.extend(scenario_records);
    }
    progress.finish_and_clear();
    let _ = std::fs::remove_dir_all(&scratch);

    let ratios = report::ratios(&records);
    let targets = report::targets(&records, &ratios);
    for line in report::target_lines(&targets) {
        println!("{line}");
    }
    for line in report::wrapper_lines(&records) {
        println!("{line}");
    }
    let results = report::Results {
        machine: report::Machine {
            cores,
            cpu_model: cpu_model(),
            os: std::env::consts::OS.to_string(),
            otp_release: erlang_facts.as_ref().map(|(release, _)| release.clone()),
            erlang_schedulers: erlang_facts.map(|(_, schedulers)| schedulers),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        },
        quick: args.quick,
        runs,
        records,
        ratios,
        targets,
        skipped,
    };
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = args.out.clone().unwrap_or_else(|| {
        if args.quick {
            manifest.join("../target/bench-quick")
        } else if !args.only.is_empty() || !args.sides.is_empty() {
            // A partial run must not replace the committed full results.
            manifest.join("../target/bench-partial")
        } else {
            manifest.join("results")
        }
    });
    report::write(&results, &out)?;
    let out = out.canonicalize().unwrap_or(out);
    println!(
        "wrote {0}/latest.json, {0}/latest.md and {0}/ratios.svg",
        out.display()
    );
    Ok(())
}

/// Prints above the progress bar, or plainly when there is no bar (output not a terminal).
fn say(progress: &ProgressBar, line: String) {
    if progress.is_hidden() {
        println!("{line}");
    } else {
        progress.println(line);
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
