//! Processes are cheap: a hundred thousand idle ones at once (the million lives in the benchmark).

mod common;

use common::*;
use grove::prelude::*;
use grove::process::{is_alive, system_info};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_100_000_idle_processes_then_killing_them() {
    const N: usize = 100_000;
    let before = system_info().process_count;
    let addrs: Vec<Addr<()>> = (0..N).map(|_| idle::<()>()).collect();
    // This binary runs this test alone, so the count is exact.
    assert_eq!(system_info().process_count, before + N);
    assert!(addrs.iter().all(|addr| is_alive(addr.pid())));
    let exits: Vec<_> = addrs.iter().map(|addr| exit_watch(*addr)).collect();
    for addr in &addrs {
        grove::exit(addr.pid(), ExitReason::Kill);
    }
    for exited in exits {
        assert_eq!(exited.await, ExitReason::Killed);
    }
    assert_eq!(system_info().process_count, before);
    assert!(addrs.iter().all(|addr| !is_alive(addr.pid())));
}
