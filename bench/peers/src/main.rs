//! `grove-bench-peers`: Grove's benchmark scenarios on the Rust peers it is compared with —
//! plain tokio (tasks and channels, the floor), ractor, kameo and actix.
//!
//! The Grove benchmark harness (`grove-bench`) runs this program once per measurement:
//!
//! - `grove-bench-peers --sides` prints the side names on one line.
//! - `grove-bench-peers SIDE SCENARIO PARAM...` runs one measurement and prints one line,
//!   `value V1 V2 ...`; a scenario the side does not have exits with status 3 after printing
//!   `unsupported SIDE SCENARIO`; bad arguments exit with status 2.

mod actix_side;
mod kameo_side;
mod ractor_side;
mod tokio_side;

use std::process::ExitCode;

/// mimalloc, as the Grove side of the benchmark uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sides this program runs, in the order `--sides` lists them.
const SIDES: [&str; 4] = ["tokio", "ractor", "kameo", "actix"];

/// One measurement, with its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Scenario {
    /// Spawn `n` idle actors: (spawns per second, resident bytes per actor).
    Spawn { n: usize },
    /// A token passed `laps` times around a ring of `n` actors: messages per second.
    Ring { n: usize, laps: usize },
    /// `n` request/reply round trips with plain messages: nanoseconds per round trip.
    PingPong { n: usize },
    /// `senders` senders each send `n` messages to one receiver: messages per second.
    FanIn { senders: usize, n: usize },
    /// `n` sequential calls with the crate's ask/call API: nanoseconds per call.
    Call { n: usize },
    /// `callers` concurrent callers each make `n` calls to one server: calls per second.
    CallN { callers: usize, n: usize },
    /// `n` casts, then one call that sees them all: casts per second.
    Cast { n: usize },
    /// Register `n` names and look each up: operations per second.
    Registry { n: usize },
    /// `n` children of one one-for-one supervisor are each killed, and the supervisor restarts
    /// them all: microseconds per child, from the first kill to the `n`th restart.
    Restart { n: usize },
}

impl Scenario {
    /// Builds a scenario from its name and parameters. `Ok(None)`: no side has that scenario.
    fn parse(name: &str, params: &[String]) -> Result<Option<Scenario>, String> {
        let arity = match name {
            "spawn" | "ping-pong" | "call" | "cast" | "registry" | "restart" => 1,
            "ring" | "fan-in" | "call-n" => 2,
            _ => return Ok(None),
        };
        if params.len() != arity {
            return Err(format!(
                "scenario {name} takes {arity} parameter(s), got {}",
                params.len()
            ));
        }
        let mut values = Vec::with_capacity(arity);
        for param in params {
            let value: u64 = param
                .parse()
                .map_err(|_| format!("parameter {param:?} of {name} is not an integer"))?;
            if value == 0 {
                return Err(format!("the parameters of {name} must be at least 1"));
            }
            let value = usize::try_from(value)
                .map_err(|_| format!("parameter {param} of {name} is too large"))?;
            values.push(value);
        }
        let scenario = match (name, values.as_slice()) {
            ("spawn", &[n]) => Scenario::Spawn { n },
            ("ring", &[n, laps]) => Scenario::Ring { n, laps },
            ("ping-pong", &[n]) => Scenario::PingPong { n },
            ("fan-in", &[senders, n]) => Scenario::FanIn { senders, n },
            ("call", &[n]) => Scenario::Call { n },
            ("call-n", &[callers, n]) => Scenario::CallN { callers, n },
            ("cast", &[n]) => Scenario::Cast { n },
            ("registry", &[n]) => Scenario::Registry { n },
            ("restart", &[n]) => Scenario::Restart { n },
            _ => return Err(format!("cannot read the parameters of {name}")),
        };
        Ok(Some(scenario))
    }
}

// Memory and start counting, shared with the Grove side so every side measures alike.
#[path = "../../src/measure.rs"]
mod measure;
pub use measure::{rss_bytes, started};

/// A count of events (actors started, children restarted) that a scenario waits to reach.
pub struct Countdown {
    left: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

impl Countdown {
    /// A countdown that is done after `total` events.
    pub fn new(total: usize) -> std::sync::Arc<Countdown> {
        std::sync::Arc::new(Countdown {
            left: std::sync::atomic::AtomicUsize::new(total),
            done: tokio::sync::Notify::new(),
        })
    }

    /// One more event; the last one wakes the waiter (events past the total are ignored).
    pub fn one(&self) {
        use std::sync::atomic::Ordering;
        let before = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            });
        if before == Ok(1) {
            self.done.notify_one();
        }
    }

    /// How many events are still to come.
    pub fn left(&self) -> usize {
        self.left.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until every event has happened (at once if they already have).
    pub async fn wait(&self) {
        if self.left() > 0 {
            self.done.notified().await;
        }
    }
}

/// (spawns per second, resident bytes per actor) from the spawn loop's time and the RSS before
/// the loop and after every actor started.
pub fn spawn_metrics(
    n: usize,
    spawn_time: std::time::Duration,
    before: usize,
    after: usize,
) -> Vec<f64> {
    vec![
        n as f64 / spawn_time.as_secs_f64(),
        after.saturating_sub(before) as f64 / n as f64,
    ]
}

/// A multi-thread tokio runtime with one worker per core (tokio's default), for the sides that
/// run on tokio. The scenario runs as a task on it, as an application's code would.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("cannot build the tokio runtime: {error}"))
}

/// Runs `scenario` as a task on a fresh multi-thread runtime and returns what it measured.
pub fn on_tokio<F>(scenario: F) -> Vec<f64>
where
    F: std::future::Future<Output = Vec<f64>> + Send + 'static,
{
    let runtime = tokio_runtime();
    runtime
        .block_on(runtime.spawn(scenario))
        .unwrap_or_else(|error| panic!("the scenario failed: {error}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 1 && args[0] == "--sides" {
        println!("{}", SIDES.join(" "));
        return ExitCode::SUCCESS;
    }
    let usage = "usage: grove-bench-peers --sides | grove-bench-peers SIDE SCENARIO PARAM...";
    let (side, name, params) = match args.as_slice() {
        [side, name, params @ ..] => (side.as_str(), name.as_str(), params),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    if !SIDES.contains(&side) {
        eprintln!("unknown side {side:?} (the sides are: {})", SIDES.join(" "));
        return ExitCode::from(2);
    }
    let unsupported = || {
        println!("unsupported {side} {name}");
        ExitCode::from(3)
    };
    let scenario = match Scenario::parse(name, params) {
        Ok(Some(scenario)) => scenario,
        Ok(None) => return unsupported(),
        Err(why) => {
            eprintln!("{why}\n{usage}");
            return ExitCode::from(2);
        }
    };
    let values = match side {
        "tokio" => tokio_side::run(scenario),
        "ractor" => ractor_side::run(scenario),
        "kameo" => kameo_side::run(scenario),
        _ => actix_side::run(scenario),
    };
    match values {
        Some(values) => {
            let fields: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
            println!("value {}", fields.join(" "));
            ExitCode::SUCCESS
        }
        None => unsupported(),
    }
}
