//! Table scenarios: the ETS workloads of the tables issue, on Grove's tables.
//!
//! Keys are `u64`s, values `u64`s (ETS stores `{Key, Value}` tuples in `bench/erlang/grove_bench.erl`,
//! which runs the same workloads). Lookups visit keys in a scattered order (an odd multiplier
//! modulo a power of two), so they are not a sequential walk through memory.

use std::thread;
use std::time::Instant;

use grove::table::{DurableKind, DurableTable, Table};

/// The `i`-th key of a scattered walk over `0..n` (`n` a power of two).
fn scattered(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (n - 1)
}

fn filled_set(n: u64) -> Table<u64, u64> {
    let table = Table::options().public().create().expect("a public table");
    for key in 0..n {
        table.insert(key, key).expect("insert");
    }
    table
}

/// Inserts `n` fresh keys into an empty set; inserts per second.
pub fn inserts(n: u64) -> f64 {
    let table = Table::<u64, u64>::options()
        .public()
        .create()
        .expect("a public table");
    let start = Instant::now();
    for key in 0..n {
        table.insert(scattered(key, n), key).expect("insert");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `readers` threads each look up `per_reader` keys of a table of `n`; total lookups per second.
pub fn lookups(n: u64, readers: usize, per_reader: u64) -> f64 {
    let table = filled_set(n);
    let start = Instant::now();
    let found: u64 = thread::scope(|scope| {
        let handles: Vec<_> = (0..readers)
            .map(|reader| {
                let table = &table;
                scope.spawn(move || {
                    let mut found = 0;
                    let offset = reader as u64 * 7919;
                    for i in 0..per_reader {
                        let key = scattered(i + offset, n);
                        if table.lookup(&key).expect("lookup").is_some() {
                            found += 1;
                        }
                    }
                    found
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("reader")).sum()
    });
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(found, readers as u64 * per_reader, "every key is found");
    found as f64 / elapsed
}

/// `writers` threads each add 1 to one shared counter `per_writer` times; updates per second.
pub fn counter_contention(writers: usize, per_writer: u64) -> f64 {
    let table = Table::<u64, u64>::options()
        .public()
        .create()
        .expect("a public table");
    table.insert(0, 0).expect("insert");
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..writers {
            let table = &table;
            scope.spawn(move || {
                for _ in 0..per_writer {
                    table.update_counter(&0, 1).expect("update_counter");
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let total = writers as u64 * per_writer;
    assert_eq!(
        table.lookup(&0).expect("lookup"),
        Some(total),
        "no update lost"
    );
    total as f64 / elapsed
}

/// Range scans of `window` keys at scattered places in an ordered table of `n`; objects
/// scanned per second.
pub fn range_scans(n: u64, window: u64, scans: u64) -> f64 {
    let table = Table::<u64, u64>::options()
        .ordered()
        .public()
        .create()
        .expect("table");
    for key in 0..n {
        table.insert(key, key).expect("insert");
    }
    let start = Instant::now();
    let mut seen = 0u64;
    for i in 0..scans {
        let from = scattered(i, n) % (n - window);
        let sum = table
            .select_range(from..from + window, |_, value| Some(*value))
            .expect("range");
        seen += sum.len() as u64;
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(seen, window * scans);
    seen as f64 / elapsed
}

/// Durable inserts: `single` one-commit inserts, then `batched` inserts in transactions of
/// `batch`. Returns (single inserts/s, batched inserts/s, ms per commit of one insert).
pub fn durable(single: u64, batched: u64, batch: u64) -> (f64, f64, f64) {
    let dir = std::env::temp_dir().join(format!("grove-bench-durable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join("bench.redb");
    let _ = std::fs::remove_file(&path);
    let table = DurableTable::<u64, u64>::open(&path, DurableKind::Set).expect("open");
    let start = Instant::now();
    for key in 0..single {
        table.insert(key, key).expect("insert");
    }
    let single_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut key = single;
    while key < single + batched {
        let end = (key + batch).min(single + batched);
        table
            .transaction(|tx| {
                for k in key..end {
                    tx.insert(k, k)?;
                }
                Ok(())
            })
            .expect("transaction");
        key = end;
    }
    let batched_secs = start.elapsed().as_secs_f64();
    drop(table);
    let _ = std::fs::remove_dir_all(&dir);
    (
        single as f64 / single_secs,
        batched as f64 / batched_secs,
        single_secs * 1e3 / single as f64,
    )
}
