//! Grove's graceful-shutdown demo: an `Application` whose tree says when each part starts and
//! stops. Send it SIGTERM (or press Ctrl-C) and it stops in reverse start order, each child
//! within its shutdown timeout, under one overall deadline, then exits with status 0. A second
//! signal while it stops exits at once (status 128 + the signal).
//!
//! ```text
//! cargo run -p grove-demo --bin shutdown-demo              # then Ctrl-C
//! cargo run -p grove-demo --bin shutdown-demo -- --stop-delay-ms 2000   # Ctrl-C twice
//! cargo run -p grove-demo --bin shutdown-demo -- --stubborn --shutdown-timeout-ms 500
//! cargo run -p grove-demo --bin shutdown-demo -- --start-delay-ms 3000  # Ctrl-C while starting
//! ```
//!
//! The tree, in start order:
//!
//! ```text
//! app (one_for_one)
//! ├── config        an Agent holding the settings
//! ├── repo          a GenServer that takes --start-delay-ms to start, --stop-delay-ms to stop
//! ├── web (one_for_one)
//! │   ├── endpoint  a GenServer; with --stubborn it ignores shutdown (Shutdown::Infinity)
//! │   └── jobs      a TaskSupervisor
//! └── readiness     reports ready; the first to stop, so a load balancer stops sending work
//! ```
//!
//! Each start and stop is one line on standard output (`started repo`, `stopping repo`,
//! `stopped repo (shutdown)`); Grove's own logs go to standard error. The tests in
//! `tests/app_signals.rs` run this binary, signal it, and check both.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use grove::application::{Application, ApplicationExit};
use grove::prelude::*;
use grove::supervisor::Shutdown;
use grove::task::TaskSupervisor;

/// An Application that shows Grove's graceful shutdown: SIGTERM or Ctrl-C stops it in order.
#[derive(Parser, Debug, Clone)]
#[command(about)]
struct Args {
    /// How long the repo takes to close when stopped, in milliseconds.
    #[arg(long, default_value_t = 100)]
    stop_delay_ms: u64,
    /// How long the repo takes to start, in milliseconds.
    #[arg(long, default_value_t = 0)]
    start_delay_ms: u64,
    /// The web endpoint ignores its shutdown signal (and may take forever): only the overall
    /// deadline stops it.
    #[arg(long)]
    stubborn: bool,
    /// The overall deadline for stopping everything, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    shutdown_timeout_ms: u64,
}

/// One line on standard output, flushed at once (a pipe is read line by line by the tests).
fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A GenServer that announces its start and stop, taking `stop_delay` to stop.
struct Part {
    name: &'static str,
    start_delay: Duration,
    stop_delay: Duration,
    ignore_shutdown: bool,
}

impl GenServer for Part {
    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // Trapping exits is what lets a supervisor's shutdown run `terminate`.
        ctx.trap_exit(true);
        if !self.start_delay.is_zero() {
            say(format_args!("starting {}", self.name));
            tokio::time::sleep(self.start_delay).await;
        }
        say(format_args!("started {}", self.name));
        Ok(())
    }

    async fn terminate(&mut self, reason: &ExitReason, _: &mut ServerContext<Self>) {
        say(format_args!("stopping {}", self.name));
        if self.ignore_shutdown {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.stop_delay).await;
        say(format_args!("stopped {} ({reason})", self.name));
    }
}

fn part(
    name: &'static str,
    start_delay: Duration,
    stop_delay: Duration,
    ignore_shutdown: bool,
) -> ChildSpec {
    let spec = ChildSpec::new(name, move || {
        Server::start_link(Part {
            name,
            start_delay,
            stop_delay,
            ignore_shutdown,
        })
    });
    if ignore_shutdown {
        spec.shutdown(Shutdown::Infinity)
    } else {
        // Its own timeout leaves room for its stop delay.
        spec.shutdown(Shutdown::Timeout(stop_delay + Duration::from_secs(5)))
    }
}

fn tree(args: &Args) -> Supervisor {
    let stop_delay = Duration::from_millis(args.stop_delay_ms);
    let start_delay = Duration::from_millis(args.start_delay_ms);
    let settings = args.clone();
    Supervisor::one_for_one()
        .child(ChildSpec::new("config", move || {
            let settings = settings.clone();
            async move {
                let config = Agent::start_link(move || settings).await?;
                say("started config");
                Ok::<_, StartError>(config)
            }
        }))
        .child(part("repo", start_delay, stop_delay, false))
        .child(
            Supervisor::one_for_one()
                .child(part(
                    "endpoint",
                    Duration::ZERO,
                    Duration::ZERO,
                    args.stubborn,
                ))
                .child(TaskSupervisor::new().into_child_spec("jobs"))
                .into_child_spec("web"),
        )
        .child(part("readiness", Duration::ZERO, Duration::ZERO, false))
}

fn main() -> ApplicationExit {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let deadline = Duration::from_millis(args.shutdown_timeout_ms);
    let exit = Application::new("shutdown-demo")
        .config(args)
        .shutdown_timeout(deadline)
        .run(tree);
    say(format_args!("exit {exit:?} (status {})", exit.code()));
    exit
}
