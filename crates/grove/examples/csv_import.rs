//! Importing a large CSV file in chunks, a bounded number at a time (seed 002's import job).
//!
//! The file is split into chunks of lines; each chunk is parsed and "stored" in its own task
//! under a `TaskSupervisor`, at most four at once, so memory and database connections stay
//! bounded however big the file is. A chunk that crashes (this file has one poisoned row that
//! makes the parser panic) is reported and skipped; the other chunks go on, and the importing
//! process is not taken down, because the tasks are not linked to it.
//!
//! Run it: `cargo run --example csv_import -p grove`

use std::time::Duration;

use grove::prelude::*;
use grove::task::{stream_iter, AsyncStreamOptions, StreamExt, TaskSupervisor};

const ROWS: usize = 100_000;
const CHUNK: usize = 5_000;

/// A CSV file of `ROWS` orders: `id,customer,amount_cents`; a few rows are malformed, and one is
/// poisoned.
fn csv_file() -> String {
    let mut file = String::from("id,customer,amount_cents\n");
    for id in 0..ROWS {
        let line = match id {
            _ if id % 9_973 == 0 => format!("{id},customer-{},not-a-number\n", id % 100),
            42_424 => format!("{id},POISON,1\n"),
            _ => format!("{id},customer-{},{}\n", id % 100, (id * 37) % 10_000),
        };
        file.push_str(&line);
    }
    file
}

#[derive(Debug, Default)]
struct ChunkReport {
    imported: usize,
    rejected: usize,
    cents: u64,
}

/// Parses and "stores" one chunk. Malformed rows are rejected; a poisoned row crashes the task,
/// as a bug in a parser would.
async fn import_chunk(lines: Vec<String>) -> ChunkReport {
    let mut report = ChunkReport::default();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(1) == Some(&"POISON") {
            panic!("the parser cannot handle row {:?}", fields[0]);
        }
        match fields.get(2).and_then(|cents| cents.parse::<u64>().ok()) {
            Some(cents) => {
                report.imported += 1;
                report.cents += cents;
            }
            None => report.rejected += 1,
        }
    }
    // Writing to the database would happen here.
    tokio::time::sleep(Duration::from_millis(5)).await;
    report
}

fn main() {
    let reason = grove::run(|_: Context<()>| async {
        let file = csv_file();
        let lines: Vec<String> = file.lines().skip(1).map(str::to_string).collect();
        let chunks: Vec<Vec<String>> = lines.chunks(CHUNK).map(<[String]>::to_vec).collect();
        println!(
            "importing {} rows in {} chunks, 4 at a time",
            lines.len(),
            chunks.len()
        );

        let tasks = TaskSupervisor::new().start_link().await?;
        let options = AsyncStreamOptions::new()
            .max_concurrency(4)
            .ordered(false)
            .timeout(Duration::from_secs(30));
        let mut results =
            std::pin::pin!(tasks.async_stream_nolink(stream_iter(chunks), options, import_chunk));
        let mut total = ChunkReport::default();
        let mut failed_chunks = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(report) => {
                    total.imported += report.imported;
                    total.rejected += report.rejected;
                    total.cents += report.cents;
                }
                Err(error) => {
                    failed_chunks += 1;
                    println!("a chunk failed and was skipped: {error}");
                }
            }
        }
        println!(
            "imported {} rows ({} cents), rejected {} malformed rows, {} chunk(s) failed",
            total.imported, total.cents, total.rejected, failed_chunks
        );
        tasks.stop(ExitReason::Normal).await?;
        Ok(())
    });
    println!("import finished: {reason}");
}
