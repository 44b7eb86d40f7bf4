//! The log output a program gets without asking: [`crate::run`] (and so `grove::run` and
//! `Application::run`) installs a `tracing` subscriber that prints to stderr when the program has
//! none, so a newcomer sees crash reports and Grove's warnings from the first run, as an Elixir
//! developer sees Logger's. `RUST_LOG` picks the level (`info` by default, `RUST_LOG=debug`,
//! `RUST_LOG=grove_otp=debug,warn`, ...).
//!
//! A program that sets up its own subscriber before `run` keeps it; one that wants Grove to leave
//! logging alone calls [`no_default_logs`] first. Without a subscriber, a process's panic is still
//! written to stderr as one line, so a crash is never silent.
//!
//! ```
//! grove_runtime::no_default_logs(); // before run: nothing is installed
//! let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {});
//! assert!(reason.is_normal());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

static DEFAULT_LOGS: AtomicBool = AtomicBool::new(true);

/// Stops [`crate::run`] from installing its default log output (a `tracing` subscriber printing
/// to stderr). Call it before `run`; a subscriber already installed is not removed.
pub fn no_default_logs() {
    DEFAULT_LOGS.store(false, Ordering::Relaxed);
}

/// Installs the default subscriber unless the program has one or opted out.
pub(crate) fn install_default() {
    if !DEFAULT_LOGS.load(Ordering::Relaxed) || tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another thread may win the race to set the global subscriber: then that one stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
