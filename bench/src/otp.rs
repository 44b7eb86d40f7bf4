//! The OTP behaviours' scenarios: GenServer call round trips (one caller, four callers), cast
//! throughput, and a supervisor restarting 10,000 killed children.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove::prelude::*;
use grove::process::await_exit;

/// A counter server: the smallest useful GenServer.
#[derive(Default)]
struct Counter {
    count: u64,
}

struct Get;
struct Add(u64);

impl GenServer for Counter {}

impl Call<Get> for Counter {
    type Reply = u64;

    async fn handle_call(&mut self, _: Get, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(self.count);
    }
}

impl Cast<Add> for Counter {
    async fn handle_cast(&mut self, Add(n): Add, _: &mut ServerContext<Self>) {
        self.count += n;
    }
}

/// Runs `scenario` as the first process of a fresh runtime and returns what it measured.
fn measure<Fut>(scenario: impl FnOnce() -> Fut + Send + 'static) -> f64
where
    Fut: std::future::Future<Output = f64> + Send + 'static,
{
    let result = Arc::new(Mutex::new(f64::NAN));
    let out = result.clone();
    grove::run(move |_: Context<()>| async move {
        let value = scenario().await;
        *out.lock().unwrap_or_else(|e| e.into_inner()) = value;
    });
    let value = *result.lock().unwrap_or_else(|e| e.into_inner());
    value
}

/// `n` sequential calls from one process; nanoseconds per call.
pub fn call_round_trip(n: usize) -> f64 {
    measure(move || async move {
        let server = Server::start_link(Counter::default())
            .await
            .expect("counter starts");
        let t0 = Instant::now();
        for _ in 0..n {
            let _ = server.call(Get).await;
        }
        t0.elapsed().as_nanos() as f64 / n as f64
    })
}

/// `callers` processes each make `n` calls to one server; calls per second in all.
pub fn concurrent_calls(callers: usize, n: usize) -> f64 {
    measure(move || async move {
        let server = Server::start_link(Counter::default())
            .await
            .expect("counter starts");
        let t0 = Instant::now();
        let pids: Vec<Pid> = (0..callers)
            .map(|_| {
                spawn(move |_: Context<()>| async move {
                    for _ in 0..n {
                        let _ = server.call(Get).await;
                    }
                })
                .pid()
            })
            .collect();
        for pid in pids {
            await_exit(pid).await;
        }
        (callers * n) as f64 / t0.elapsed().as_secs_f64()
    })
}

/// `n` casts from one process, then one call to see them all handled; casts per second.
pub fn casts(n: usize) -> f64 {
    measure(move || async move {
        let server = Server::start_link(Counter::default())
            .await
            .expect("counter starts");
        let t0 = Instant::now();
        for _ in 0..n {
            server.cast(Add(1));
        }
        let total = server
            .call_timeout(Get, Duration::from_secs(600))
            .await
            .expect("the counter answers");
        assert_eq!(total, n as u64);
        n as f64 / t0.elapsed().as_secs_f64()
    })
}

/// A one_for_one supervisor with `n` worker processes; all are killed at once, and the time
/// until every child runs again is divided by `n`: microseconds per restarted child.
pub fn restart_storm(n: usize) -> f64 {
    measure(move || async move {
        // Every child counts its start, the way the other sides count restarts: the clock stops
        // when all n killed children have started again, with no polling of the supervisor.
        let started = Arc::new(AtomicUsize::new(0));
        let specs = (0..n).map(|i| {
            let started = started.clone();
            ChildSpec::process(format!("worker-{i}"), move |mut ctx: Context<()>| {
                started.fetch_add(1, Ordering::Relaxed);
                async move { while ctx.recv().await.into_user().is_some() {} }
            })
        });
        let tree = Supervisor::one_for_one()
            .intensity(n as u32 * 2, Duration::from_secs(60))
            .children(specs)
            .start_link()
            .await
            .expect("the tree starts");
        let before: Vec<Pid> = tree
            .which_children()
            .await
            .expect("the supervisor answers")
            .iter()
            .filter_map(|c| c.status.pid())
            .collect();
        assert_eq!(before.len(), n);
        wait_until(|| started.load(Ordering::Relaxed) >= n).await;
        let t0 = Instant::now();
        for pid in &before {
            grove::exit(*pid, ExitReason::Kill);
        }
        wait_until(|| started.load(Ordering::Relaxed) >= 2 * n).await;
        let measured = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
        let _ = tree.stop(ExitReason::Normal).await;
        measured
    })
}

/// Waits, checking every 50 microseconds, until `done` says so.
async fn wait_until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
}
