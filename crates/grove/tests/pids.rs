//! Pids are plain values: printable, serializable, `Copy`, ordered and hashable; a pid of a dead
//! process or of another node is still a normal value, and sending to it delivers nothing.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use grove::prelude::*;
use grove::process::try_send;
use grove::process::{is_alive, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_displays_like_an_erlang_pid() {
    let addr = idle::<()>();
    let pid = addr.pid();
    let id = pid.id();
    assert_eq!(
        pid.to_string(),
        format!("<0.{}.{}>", id & 0xFFFF_FFFF, id >> 32)
    );
    assert_eq!(addr.to_string(), pid.to_string());
    assert_eq!(format!("{pid:?}"), pid.to_string());
    grove::exit(pid, ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_and_addr_round_trip_through_serde() {
    let addr = idle::<u32>();
    let pid = addr.pid();
    let json = serde_json::to_string(&pid).unwrap();
    let back: Pid = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pid);
    assert!(back.is_local());

    let json = serde_json::to_string(&addr).unwrap();
    let back: Addr<u32> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, addr);
    // A decoded address still reaches the process (watched first: it exits on the message).
    let exited = exit_watch(pid);
    send(back, 7);
    assert_eq!(exited.await, ExitReason::Normal);

    let remote = Pid::from_parts("pids_serde@host", 4, 11);
    let back: Pid = serde_json::from_str(&serde_json::to_string(&remote).unwrap()).unwrap();
    assert_eq!(back, remote);
    assert_eq!(&*back.node_name(), "pids_serde@host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_is_copy_ordered_and_hashable() {
    let a = idle::<()>().pid();
    let b = idle::<()>().pid();
    let copy = a;
    assert_eq!(copy, a);
    assert_ne!(a, b);
    // Pids of this node are ordered by spawn order.
    assert!(a < b);
    let hashed: HashSet<Pid> = [a, b, a].into_iter().collect();
    assert_eq!(hashed.len(), 2);
    let ordered: BTreeSet<Pid> = [b, a].into_iter().collect();
    assert_eq!(ordered.into_iter().collect::<Vec<_>>(), vec![a, b]);
    grove::exit(a, ExitReason::Kill);
    grove::exit(b, ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_a_dead_pid_is_not_an_error() {
    let addr = idle::<u32>();
    let exited = exit_watch(addr);
    send(addr, 0);
    assert_eq!(exited.await, ExitReason::Normal);
    assert!(!is_alive(addr.pid()));
    send(addr, 1);
    assert!(grove::process::try_send(addr, 2).is_ok());
    grove::exit(addr.pid(), ExitReason::Kill);
    assert!(!is_alive(addr.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_of_another_node_is_a_plain_value_and_sends_to_it_are_dropped() {
    let remote = Pid::from_parts("other@host", 1, 5);
    assert!(!remote.is_local());
    assert_eq!(&*remote.node_name(), "other@host");
    assert_eq!(remote.creation(), 1);
    assert_eq!(remote.id(), 5);
    assert_ne!(&*remote.node_name(), &*node().name);
    assert!(!remote.to_string().starts_with("<0."));
    assert!(!is_alive(remote));
    let addr: Addr<String> = remote.assume_type();
    send(addr, "dropped".to_string());
    assert!(try_send(addr, "dropped too".to_string()).is_ok());
    // A local process with the same serial is a different pid.
    assert_ne!(
        Pid::from_parts("other@host", 1, 5),
        Pid::from_parts("other@host", 2, 5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_pid_of_another_node_gives_down_noconnection() {
    let remote = Pid::from_parts("other@host", 1, 5);
    let down = in_process(move |mut ctx: Context<()>| async move {
        let reference = ctx.monitor(remote);
        (reference, next(&mut ctx).await)
    })
    .await;
    match down {
        (reference, Message::Down(down)) => {
            assert_eq!(down.reference, reference);
            assert_eq!(down.pid, remote);
            assert_eq!(down.reason, ExitReason::NoConnection);
        }
        other => panic!("expected Down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_to_a_pid_of_another_node_gives_exit_noconnection() {
    let remote = Pid::from_parts("other@host", 1, 6);
    let message = in_process(move |mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        ctx.link(remote);
        next(&mut ctx).await
    })
    .await;
    match message {
        Message::Exit(exit) => {
            assert_eq!(exit.from, remote);
            assert_eq!(exit.reason, ExitReason::NoConnection);
        }
        other => panic!("expected Exit, got {other:?}"),
    }
}

/// One thread (current_thread runtime), so the second send surely meets the record the first
/// one left in the thread's cache of recent receivers: a stale entry must behave like a dead pid.
#[tokio::test(flavor = "current_thread")]
async fn a_send_to_a_process_that_died_since_the_last_send_is_dropped() {
    let addr = idle::<u32>();
    let exited = exit_watch(addr);
    send(addr, 0);
    assert_eq!(exited.await, ExitReason::Normal);
    assert!(grove::process::try_send(addr, 1).is_ok());
    assert!(!is_alive(addr.pid()));
    assert!(grove::process::process_info(addr.pid()).is_none());
    assert!(grove::process::whereis_addr::<u32>("never-registered").is_none());
}
