//! Grove's demo: let it crash, and watch the tree heal.
//!
//! A root process traps exits and links to two hand-written `one_for_one` supervisors, each
//! trapping exits and linked to its own workers. A producer fills the workers' bounded mailboxes
//! with jobs; each worker hashes its jobs and sends the results to a collector. Now and then
//! (`--crash-rate`, per job) a worker crashes, half the time by panicking and half by returning
//! an error. Its supervisor receives the exit as a `Message::Exit` carrying the reason
//! (`ExitReason::Panic` or `ExitReason::Error`) and spawns a replacement under the same
//! registered name, so work goes on: hundreds of crashes a second, and the tree stays whole.
//!
//! A live view shows the elapsed time, restarts (panics and errors), live processes, messages
//! per second and the run-queue depth; without a terminal it prints one line a second. At the
//! end the producer stops, the demo checks that every worker is running and the process count
//! is exactly the tree's, then stops the root with `shutdown` (the root stops its children,
//! which stop theirs) and prints a summary. The exit code is 0 if the tree was healthy.
//!
//! ```text
//! cargo run --release -p grove-demo                     # 6 seconds, 8 workers
//! cargo run --release -p grove-demo -- --seconds 20 --workers 32 --crash-rate 0.01
//! cargo run --release -p grove-demo -- --forever        # until Ctrl-C
//! cargo run --release -p grove-demo -- --log            # also show Grove's crash logs
//! ```
//!
//! Only Grove's process layer is used: spawn, links, trapped exits, registered names, bounded
//! mailboxes and introspection.

mod demo;
mod stats;
mod summary;
mod tree;
mod view;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Parser;
use grove::{Context, ExitReason};
use indicatif::ProgressBar;

use crate::demo::{Control, Settings};
use crate::tree::TreeConfig;
use crate::view::View;

/// Grove's demo: a tree of crashing workers that a hand-written supervisor keeps whole.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Run until Ctrl-C instead of for `--seconds`.
    #[arg(long)]
    forever: bool,
    /// Worker processes in the tree.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    workers: u64,
    /// Supervisors between the root and the workers (0: the root supervises the workers).
    #[arg(long, default_value_t = 2)]
    supervisors: u64,
    /// Probability that a worker crashes on a job, from 0 to 1.
    #[arg(long, default_value_t = 0.001, value_parser = parse_probability)]
    crash_rate: f64,
    /// Show Grove's logs (each crash is logged) on stderr; filter with RUST_LOG (default warn).
    #[arg(long)]
    log: bool,
}

fn parse_probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability between 0 and 1"))
    }
}

impl Args {
    fn settings(&self) -> Settings {
        let workers = usize::try_from(self.workers).unwrap_or(usize::MAX);
        let supervisors = usize::try_from(self.supervisors).unwrap_or(usize::MAX);
        Settings {
            tree: TreeConfig {
                workers,
                supervisors: supervisors.min(workers),
                crash_rate: self.crash_rate,
            },
            duration: (!self.forever).then(|| Duration::from_secs(self.seconds)),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = args.settings();
    quiet_injected_panics(args.log);
    let view = View::new(settings.duration);
    init_logging(args.log, view.bar());
    let stats = Arc::default();
    let report = Arc::new(OnceLock::new());
    let reason = {
        let report = report.clone();
        grove::run(move |ctx: Context<Control>| {
            demo::main_process(ctx, settings, view, stats, report)
        })
    };
    if let Some(summary) = report.get() {
        view::print_line(&summary.to_string());
    }
    if reason == ExitReason::Normal {
        ExitCode::SUCCESS
    } else {
        eprintln!("grove-demo failed: {reason}");
        ExitCode::FAILURE
    }
}

/// Silences the panics the demo injects on purpose (unless `--log`). Grove still catches each
/// one and hands it to the supervisor as `ExitReason::Panic`; any other panic is reported by
/// Grove's own hook, which this one wraps, as usual.
fn quiet_injected_panics(log: bool) {
    grove::process::install_panic_hook();
    let grove_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if log || !message.starts_with(tree::INJECTED) {
            grove_hook(info);
        }
    }));
}

/// Sets up tracing: off by default, so thousands of crash reports a second do not drown the
/// view (without a subscriber Grove would print each panic on stderr); with `--log`, Grove's
/// logs go to stderr, filtered by `RUST_LOG` (default `warn`), printed around the live view.
fn init_logging(log: bool, bar: ProgressBar) {
    let filter = if log {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    } else {
        tracing_subscriber::EnvFilter::new("off")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(move || LogWriter(bar.clone()))
        .try_init();
}

/// A writer that prints to stderr around the progress bar instead of through it.
struct LogWriter(ProgressBar);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Errors are dropped: a closed stderr must not turn logging into a panic.
        let _ = self.0.suspend(|| std::io::stderr().write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
