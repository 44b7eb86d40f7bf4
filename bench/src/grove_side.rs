//! The Grove side: each scenario on Grove's runtime, behaviours and tables, in this process
//! (spawn runs in a fresh OS process, see `processes::spawn_in_fresh_process`, and the
//! distribution scenarios in two, see `dist`).

use crate::scenarios::Scenario;
use crate::{dist, kit, otp, processes, tables};

/// Runs `scenario` once with `params` and returns its metrics in order.
pub fn run(scenario: &Scenario, params: &[u64]) -> Result<Vec<f64>, String> {
    let p = |i: usize| -> Result<usize, String> {
        params
            .get(i)
            .map(|&v| v as usize)
            .ok_or_else(|| format!("{} needs {} parameters", scenario.name, i + 1))
    };
    Ok(match scenario.program {
        "spawn" => {
            let (cold, bytes, _warm) = processes::spawn_in_fresh_process(p(0)?);
            vec![cold, bytes]
        }
        "ring" => vec![processes::ring(p(0)?, p(1)?)],
        "ping-pong" => vec![processes::ping_pong(p(0)?)],
        "fan-in" => vec![processes::fan_in(p(0)?, p(1)?)],
        "call" => vec![otp::call_round_trip(p(0)?)],
        "call-n" => vec![otp::concurrent_calls(p(0)?, p(1)?)],
        "cast" => vec![otp::casts(p(0)?)],
        "restart" => vec![otp::restart_storm(p(0)?)],
        "registry" => vec![processes::registry(p(0)?)],
        "table-insert" => vec![tables::inserts(p(0)? as u64)],
        "table-lookup" => {
            let keys = p(0)? as u64;
            vec![tables::lookups(keys, p(1)?, 4 * keys)]
        }
        "table-counter" => vec![tables::counter_contention(p(0)?, p(1)? as u64)],
        "table-range" => vec![tables::range_scans(p(0)? as u64, 1000, p(1)? as u64)],
        "durable" => {
            let (single, batched, _commit_ms) = tables::durable(p(0)? as u64, p(1)? as u64, 1000);
            vec![single, batched]
        }
        "dist-send" | "dist-call" | "dist-detect" => dist::run_in_child(scenario.program, params)?,
        other => match run_kit(scenario, params, false)? {
            Some(values) => values,
            None => return Err(format!("no Grove scenario {other}")),
        },
    })
}

/// Runs a kit scenario through the Grove kit piece, or (`bare`) on the crate underneath it.
/// `None`: not a kit scenario.
pub fn run_kit(
    scenario: &Scenario,
    params: &[u64],
    bare: bool,
) -> Result<Option<Vec<f64>>, String> {
    let p = |i: usize| -> Result<u64, String> {
        params
            .get(i)
            .copied()
            .ok_or_else(|| format!("{} needs {} parameters", scenario.name, i + 1))
    };
    let value = match scenario.program {
        "cache-hit" => kit::cache_hit(bare, p(0)?, p(1)? as usize)?,
        "cache-fetch" => kit::cache_fetch(bare, p(0)?, p(1)? as usize)?,
        "limiter-check" => kit::limiter_check(bare, p(0)? as usize)?,
        "breaker-call" => kit::breaker_call(bare, p(0)? as usize)?,
        _ => return Ok(None),
    };
    Ok(Some(vec![value]))
}
