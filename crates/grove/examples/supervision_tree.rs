//! A supervision tree whose workers crash and come back.
//!
//! ```text
//! root (one_for_one)
//! ├── counter      a GenServer the workers report to
//! └── workers      (one_for_one, backoff)
//!     ├── worker-0 ... worker-4   crash now and then; restarted each time
//! ```
//!
//! Each worker does some "work" (reports to the counter), and crashes at random. Its supervisor
//! restarts it; the counter, in another branch, never notices. At the end the example prints the
//! tree, the restart counters, and stops the tree in reverse start order.
//!
//! Run it: `cargo run --example supervision_tree -p grove`

use std::time::Duration;

use grove::prelude::*;
use grove::supervisor::stats;
use grove::supervisor::Backoff;

#[derive(Default)]
struct Counter {
    done: u64,
}

impl GenServer for Counter {}

impl Call<()> for Counter {
    type Reply = u64;

    async fn handle_call(&mut self, _: (), from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(self.done);
    }
}

impl Cast<()> for Counter {
    async fn handle_cast(&mut self, _: (), _: &mut ServerContext<Self>) {
        self.done += 1;
    }
}

/// A cheap pseudo-random number, different in each process.
fn roll(seed: u64) -> u64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

async fn worker(ctx: Context<()>) -> Result<(), ExitReason> {
    let counter = Server::<Counter>::whereis("counter").ok_or(ExitReason::NoProc)?;
    let mut seed = roll(ctx.pid().id());
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        counter.cast(());
        seed = roll(seed);
        if seed % 20 == 0 {
            return Err(ExitReason::error("simulated crash"));
        }
    }
}

fn main() {
    let reason = grove::run(|_: Context<()>| async {
        let workers = Supervisor::one_for_one()
            .intensity(100, Duration::from_secs(1))
            .backoff(Backoff::exponential(
                Duration::from_millis(5),
                Duration::from_millis(100),
            ))
            .children((0..5).map(|i| ChildSpec::process(format!("worker-{i}"), worker)));
        let root = Supervisor::one_for_one()
            .child(ChildSpec::new("counter", || {
                Server::start_opt(
                    Counter::default(),
                    StartOptions::new().link().name("counter"),
                )
            }))
            .child(workers.into_child_spec("workers"))
            .start()
            .await?;

        tokio::time::sleep(Duration::from_secs(2)).await;

        for child in root.which_children().await? {
            println!("{:<8} {:?} {:?}", child.id, child.kind, child.status);
        }
        let counter = Server::<Counter>::whereis("counter").ok_or(ExitReason::NoProc)?;
        let done = counter.call(()).await?;
        let stats = stats::snapshot();
        println!(
            "work done: {done}; restarts: {}; children started: {}; give-ups: {}",
            stats.restarts, stats.children_started, stats.give_ups
        );
        root.stop(ExitReason::Shutdown).await?;
        println!(
            "tree stopped: {} children stopped in reverse order",
            stats::snapshot().children_stopped
        );
        Ok(())
    });
    println!("done: {reason}");
}
