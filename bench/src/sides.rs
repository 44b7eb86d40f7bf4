//! The sides a scenario runs on: Grove in this process, Erlang/OTP in an `erl` VM per run, and
//! the Rust actor crates in the `grove-bench-peers` program, one OS process per run.
//!
//! The other sides speak one protocol: they are started with the scenario's program name and
//! parameters and print one line, `value V1 V2 ...`, with the scenario's metrics in order; exit
//! status 3 means the side does not have that scenario.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenarios::Scenario;

/// Where a side runs.
pub enum Side {
    Grove,
    /// The bare crates under the kit's pieces (moka, governor, no breaker), in this process: the
    /// baseline for the kit scenarios, to show what the wrapper costs. It runs nothing else.
    Bare,
    Erlang {
        ebin: PathBuf,
    },
    Peer {
        name: String,
        exe: PathBuf,
    },
}

/// What a side said about one run.
pub enum Outcome {
    Values(Vec<f64>),
    Unsupported,
}

impl Side {
    pub fn name(&self) -> &str {
        match self {
            Side::Grove => "grove",
            Side::Bare => "bare",
            Side::Erlang { .. } => "erlang",
            Side::Peer { name, .. } => name,
        }
    }

    pub fn run(&self, scenario: &Scenario, params: &[u64]) -> Result<Outcome, String> {
        match self {
            Side::Grove => crate::grove_side::run(scenario, params).map(Outcome::Values),
            Side::Bare => Ok(crate::grove_side::run_kit(scenario, params, true)?
                .map_or(Outcome::Unsupported, Outcome::Values)),
            Side::Erlang { ebin } => {
                let mut command = Command::new("erl");
                // The one flag changed from the defaults: Erlang caps a node at 262,144
                // processes unless told otherwise, and the spawn scenario needs a million.
                command.args(["+P", "2000000"]);
                // A failed run is reported here; no crash dump file in the working directory.
                command.env("ERL_CRASH_DUMP_SECONDS", "0");
                command.arg("-noshell").arg("-pa").arg(ebin).args([
                    "-run",
                    "grove_bench",
                    "main",
                    scenario.program,
                ]);
                command.args(params.iter().map(u64::to_string));
                command.args(["-s", "init", "stop"]);
                run_program(command)
            }
            Side::Peer { name, exe } => {
                let mut command = Command::new(exe);
                command.arg(name).arg(scenario.program);
                command.args(params.iter().map(u64::to_string));
                run_program(command)
            }
        }
    }
}

/// Runs a side's program and reads its `value` line.
pub(crate) fn run_program(mut command: Command) -> Result<Outcome, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot start {command:?}: {error}"))?;
    if output.status.code() == Some(3) {
        return Ok(Outcome::Unsupported);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|line| line.starts_with("value"));
    match (output.status.success(), line) {
        (true, Some(line)) => line
            .split_whitespace()
            .skip(1)
            .map(|field| {
                field
                    .parse::<f64>()
                    .map_err(|_| format!("not a number: {field:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Outcome::Values),
        _ => Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            stdout.lines().last().unwrap_or(""),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
    }
}

/// The Erlang side, if `erl` and `erlc` are installed: compiles `bench/erlang` into `scratch`.
pub fn erlang(scratch: &Path) -> Result<Side, String> {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("erlang");
    let ebin = scratch.join("erlang-ebin");
    std::fs::create_dir_all(&ebin).map_err(|e| format!("cannot create {ebin:?}: {e}"))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sources)
        .map_err(|e| format!("cannot read {sources:?}: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "erl"))
        .collect();
    files.sort();
    let compiled = Command::new("erlc")
        .arg("-o")
        .arg(&ebin)
        .args(&files)
        .output()
        .map_err(|_| {
            "Erlang/OTP is not installed (no erlc); `apt-get install erlang-base` adds it"
                .to_string()
        })?;
    if !compiled.status.success() {
        return Err(format!(
            "erlc failed: {}",
            String::from_utf8_lossy(&compiled.stderr)
        ));
    }
    Ok(Side::Erlang { ebin })
}

/// The OTP release and scheduler count of the installed `erl`.
pub fn erlang_facts() -> Option<(String, u32)> {
    let output = Command::new("erl")
        .args([
            "-noshell",
            "-eval",
            "io:format(\"~s ~p~n\", [erlang:system_info(otp_release), erlang:system_info(schedulers)]), halt().",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let release = fields.next()?.to_string();
    let schedulers = fields.next()?.parse().ok()?;
    Some((release, schedulers))
}

/// The Rust peers, if `grove-bench-peers` is built (next to this binary, or at
/// `$GROVE_BENCH_PEERS`): one side per crate it knows.
pub fn peers() -> Result<Vec<Side>, String> {
    let exe = match std::env::var_os("GROVE_BENCH_PEERS") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("grove-bench-peers"),
    };
    if !exe.exists() {
        return Err(format!(
            "{} is not built; `cargo build --release -p grove-bench-peers` builds it",
            exe.display()
        ));
    }
    let output = Command::new(&exe)
        .arg("--sides")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|name| Side::Peer {
            name: name.to_string(),
            exe: exe.clone(),
        })
        .collect())
}
