//! The process scenarios on Grove's runtime: spawn, ring, ping-pong, fan-in, registry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::prelude::*;
use grove::process::{register, whereis};

use crate::measure::{rss_bytes, started};

/// Runs the spawn measurement in a new OS process, so that memory freed by an earlier run (and
/// kept by the allocator) does not hide the cost of the next. Returns (cold rate, bytes per
/// process, warm rate).
///
/// "Cold" is the first million in a fresh OS process: every page is new and the kernel's
/// page faults (zeroing, sometimes compacting for huge pages) are part of the time; on this
/// machine they swing the figure by 2-4x between runs. "Warm" spawns the same number again after
/// the first ones exited, on memory the allocator kept: the runtime's own cost.
pub fn spawn_in_fresh_process(n: usize) -> (f64, f64, f64) {
    let exe = std::env::current_exe().expect("the benchmark binary knows its own path");
    let output = std::process::Command::new(exe)
        // Keep freed memory in the allocator between the cold and the warm run (mimalloc would
        // otherwise hand it back to the OS after 10 ms, and the warm run would fault it in again).
        .env("MIMALLOC_PURGE_DELAY", "-1")
        .arg("--child-spawn")
        .arg(n.to_string())
        .output()
        .expect("the benchmark can start itself");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
    (
        fields.next().unwrap_or(f64::NAN),
        fields.next().unwrap_or(f64::NAN),
        fields.next().unwrap_or(f64::NAN),
    )
}

/// Spawns `n` processes that wait in receive. Returns (spawns per second, RSS bytes per
/// process). The rate is the spawn loop's; the memory is measured once every process has run
/// up to its receive.
pub fn spawn_idle(n: usize) -> (f64, f64) {
    let result = Arc::new(std::sync::Mutex::new((0.0, 0.0)));
    let out = result.clone();
    grove::run(move |_: Context<()>| async move {
        let before = rss_bytes();
        let t0 = Instant::now();
        let mut pids = Vec::with_capacity(n);
        for _ in 0..n {
            pids.push(spawn(|mut ctx: Context<()>| async move {
                started::one();
                let _ = ctx.recv().await;
            }));
        }
        let spawn_time = t0.elapsed();
        while started::total() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let after = rss_bytes();
        let per_process = after.saturating_sub(before) as f64 / n as f64;
        if let Ok(mut out) = out.lock() {
            *out = (n as f64 / spawn_time.as_secs_f64(), per_process);
        }
        for pid in pids {
            send(pid, ());
        }
        while grove::process::system_info().process_count > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let value = *result.lock().unwrap_or_else(|e| e.into_inner());
    value
}

/// `n` request/reply round trips between two processes; nanoseconds per round trip.
pub fn ping_pong(n: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |mut ctx: Context<u64>| async move {
        let me = ctx.addr();
        let ponger = spawn(move |mut pctx: Context<u64>| async move {
            while let Message::User(i) = pctx.recv().await {
                send(me, i);
            }
        });
        let t0 = Instant::now();
        for i in 0..n as u64 {
            send(ponger, i);
            let _ = ctx.recv().await;
        }
        *out.lock().unwrap() = t0.elapsed().as_nanos() as f64 / n as f64;
        grove::exit(ponger.pid(), ExitReason::Kill);
    });
    let value = *result.lock().unwrap();
    value
}

/// `senders` processes each send `n` messages to one receiver; messages per second received.
pub fn fan_in(senders: usize, n: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |mut ctx: Context<()>| async move {
        let total = senders * n;
        let t0 = Instant::now();
        let receiver = spawn(move |mut rctx: Context<u64>| async move {
            let mut got = 0;
            while got < total {
                if let Message::User(_) = rctx.recv().await {
                    got += 1;
                }
            }
        });
        let (done, reference) = {
            let r = ctx.monitor(receiver);
            (receiver, r)
        };
        for _ in 0..senders {
            spawn(move |_: Context<()>| async move {
                for i in 0..n as u64 {
                    send(receiver, i);
                }
            });
        }
        let _ = ctx
            .recv_match(|m| matches!(m, Message::Down(d) if d.reference == reference))
            .await;
        let _ = done;
        *out.lock().unwrap() = total as f64 / t0.elapsed().as_secs_f64();
    });
    let value = *result.lock().unwrap();
    value
}

/// What goes around the ring.
enum Ring {
    Token(u64),
    Done,
}

/// `n` processes in a ring (the measuring one included), a token passed `laps` times around;
/// messages per second.
pub fn ring(n: usize, laps: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |mut ctx: Context<Ring>| async move {
        let main = ctx.addr();
        let mut next = main;
        let mut nodes = Vec::with_capacity(n);
        for _ in 1..n {
            let to = next;
            next = spawn(move |mut node: Context<Ring>| async move {
                while let Message::User(message) = node.recv().await {
                    match message {
                        Ring::Token(0) => send(main, Ring::Done),
                        Ring::Token(k) => send(to, Ring::Token(k - 1)),
                        Ring::Done => return,
                    }
                }
            });
            nodes.push(next);
        }
        let hops = (n * laps) as u64;
        let t0 = Instant::now();
        send(next, Ring::Token(hops - 1));
        while let Message::User(message) = ctx.recv().await {
            match message {
                Ring::Token(0) | Ring::Done => break,
                Ring::Token(k) => send(next, Ring::Token(k - 1)),
            }
        }
        *out.lock().unwrap_or_else(|e| e.into_inner()) = hops as f64 / t0.elapsed().as_secs_f64();
        for node in nodes {
            send(node, Ring::Done);
        }
    });
    let value = *result.lock().unwrap_or_else(|e| e.into_inner());
    value
}

/// Registers `n` names, one per idle process, and looks each up; operations per second.
pub fn registry(n: usize) -> f64 {
    let result = Arc::new(std::sync::Mutex::new(0.0));
    let out = result.clone();
    grove::run(move |_: Context<()>| async move {
        let pids: Vec<Addr<()>> = (0..n)
            .map(|_| {
                spawn(|mut ctx: Context<()>| async move {
                    let _ = ctx.recv().await;
                })
            })
            .collect();
        let names: Vec<Arc<str>> = (0..n)
            .map(|i| Arc::from(format!("grove_bench_{i}")))
            .collect();
        let t0 = Instant::now();
        for (name, pid) in names.iter().zip(&pids) {
            register(name.clone(), *pid).expect("a fresh name registers");
        }
        for (name, pid) in names.iter().zip(&pids) {
            assert_eq!(whereis(name), Some(pid.pid()));
        }
        *out.lock().unwrap_or_else(|e| e.into_inner()) =
            (2 * n) as f64 / t0.elapsed().as_secs_f64();
        for pid in pids {
            send(pid, ());
        }
    });
    let value = *result.lock().unwrap_or_else(|e| e.into_inner());
    value
}
