//! The floor: the scenarios on plain tokio, with a task per actor, an unbounded
//! `tokio::sync::mpsc` channel as its mailbox, and a `oneshot` channel for each reply. Plain
//! tokio has no name registry and no supervision, so `registry` and `restart` are unsupported.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::{on_tokio, rss_bytes, spawn_metrics, started, Scenario};

/// Runs one scenario; `None` when plain tokio has no such scenario (`registry`, `restart`).
pub fn run(scenario: Scenario) -> Option<Vec<f64>> {
    let values = match scenario {
        Scenario::Spawn { n } => on_tokio(spawn_idle(n)),
        Scenario::Ring { n, laps } => on_tokio(ring(n, laps)),
        Scenario::PingPong { n } => on_tokio(ping_pong(n)),
        Scenario::FanIn { senders, n } => on_tokio(fan_in(senders, n)),
        Scenario::Call { n } => on_tokio(call(n)),
        Scenario::CallN { callers, n } => on_tokio(call_n(callers, n)),
        Scenario::Cast { n } => on_tokio(cast(n)),
        Scenario::Registry { .. } | Scenario::Restart { .. } => return None,
    };
    Some(values)
}

/// `n` tasks that each wait on their channel.
async fn spawn_idle(n: usize) -> Vec<f64> {
    let before = rss_bytes();
    let t0 = Instant::now();
    let mut mailboxes = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            started::one();
            let _ = rx.recv().await;
        });
        mailboxes.push(tx);
    }
    let spawn_time = t0.elapsed();
    while started::total() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = rss_bytes();
    for tx in &mailboxes {
        let _ = tx.send(());
    }
    spawn_metrics(n, spawn_time, before, after)
}

/// `n` tasks in a ring, each forwarding the countdown to the next; the one that receives 0
/// tells the coordinator (this task).
async fn ring(n: usize, laps: usize) -> Vec<f64> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::unbounded_channel::<u64>()).unzip();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let nodes: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, mut rx)| {
            let next = txs[(i + 1) % n].clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                while let Some(k) = rx.recv().await {
                    if k == 0 {
                        let _ = done.send(());
                    } else {
                        let _ = next.send(k - 1);
                    }
                }
            })
        })
        .collect();
    let hops = (n * laps) as u64;
    let t0 = Instant::now();
    let _ = txs[0].send(hops - 1);
    let _ = done_rx.recv().await;
    let elapsed = t0.elapsed();
    // The nodes hold each other's senders, so closing the channels would not end them.
    for node in nodes {
        node.abort();
    }
    vec![hops as f64 / elapsed.as_secs_f64()]
}

/// `n` round trips between this task and an echo task.
async fn ping_pong(n: usize) -> Vec<f64> {
    let (ping_tx, mut ping_rx) = mpsc::unbounded_channel::<u64>();
    let (pong_tx, mut pong_rx) = mpsc::unbounded_channel::<u64>();
    tokio::spawn(async move {
        while let Some(i) = ping_rx.recv().await {
            let _ = pong_tx.send(i);
        }
    });
    let t0 = Instant::now();
    for i in 0..n as u64 {
        let _ = ping_tx.send(i);
        let pong = pong_rx.recv().await;
        assert_eq!(pong, Some(i));
    }
    vec![t0.elapsed().as_nanos() as f64 / n as f64]
}

/// `senders` tasks each send `n` messages to one receiving task.
async fn fan_in(senders: usize, n: usize) -> Vec<f64> {
    let total = senders * n;
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut got = 0;
        while got < total {
            if rx.recv().await.is_none() {
                return;
            }
            got += 1;
        }
        let _ = done_tx.send(());
    });
    let t0 = Instant::now();
    for _ in 0..senders {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0..n as u64 {
                let _ = tx.send(i);
            }
        });
    }
    let _ = done_rx.await;
    vec![total as f64 / t0.elapsed().as_secs_f64()]
}

/// What the counter server is asked.
enum Request {
    Add(u64),
    Get(oneshot::Sender<u64>),
}

/// The counter server: a task that owns the count.
fn counter() -> mpsc::UnboundedSender<Request> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(request) = rx.recv().await {
            match request {
                Request::Add(k) => count += k,
                Request::Get(reply) => {
                    let _ = reply.send(count);
                }
            }
        }
    });
    tx
}

/// One call: a request carrying a oneshot sender, and the wait for its answer.
async fn get(server: &mpsc::UnboundedSender<Request>) -> u64 {
    let (reply, answer) = oneshot::channel();
    server
        .send(Request::Get(reply))
        .unwrap_or_else(|_| panic!("the counter is running"));
    answer
        .await
        .unwrap_or_else(|_| panic!("the counter answers"))
}

/// `n` sequential calls.
async fn call(n: usize) -> Vec<f64> {
    let server = counter();
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(get(&server).await);
    }
    vec![t0.elapsed().as_nanos() as f64 / n as f64]
}

/// `callers` tasks each make `n` calls.
async fn call_n(callers: usize, n: usize) -> Vec<f64> {
    let server = counter();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    std::hint::black_box(get(&server).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap_or_else(|error| panic!("a caller failed: {error}"));
    }
    vec![(callers * n) as f64 / t0.elapsed().as_secs_f64()]
}

/// `n` casts, then one call.
async fn cast(n: usize) -> Vec<f64> {
    let server = counter();
    let t0 = Instant::now();
    for _ in 0..n {
        let _ = server.send(Request::Add(1));
    }
    let total = get(&server).await;
    let elapsed = t0.elapsed();
    assert_eq!(total, n as u64);
    vec![n as f64 / elapsed.as_secs_f64()]
}
