//! Introspection (`processes`, `process_info`, `system_info`) and the system monitor.

mod common;

use std::time::Duration;

use common::*;
use grove::prelude::*;
use grove::process::{process_info, processes, spawn_opt, SpawnOptions};
use grove::process::{system_info, Status};
use grove::system_monitor::{self, MonitorEvent, Thresholds};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_lists_the_live_processes_in_order() {
    let a = idle::<()>();
    let b = idle::<()>();
    let all = processes();
    assert!(all.contains(&a.pid()) && all.contains(&b.pid()));
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let exited = exit_watch(a);
    send(a, ());
    exited.await;
    let all = processes();
    assert!(!all.contains(&a.pid()));
    assert!(all.contains(&b.pid()));
    grove::exit(b.pid(), ExitReason::Kill);
}

#[derive(Debug)]
enum Cmd {
    Work,
    Report(tokio::sync::oneshot::Sender<u32>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_info_reports_the_process_state() {
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let parent = spawn_opt(
        SpawnOptions::new().name("introspection_info"),
        move |mut ctx: Context<()>| async move {
            ctx.trap_exit(true);
            let child = ctx.spawn_link(|mut c: Context<Cmd>| async move {
                let mut handled = 0;
                for _ in 0u64.. {
                    match c.recv().await {
                        Message::User(Cmd::Work) => handled += 1,
                        Message::User(Cmd::Report(reply)) => {
                            let _ = reply.send(handled);
                        }
                        _ => {}
                    }
                }
            });
            let watcher = idle::<()>();
            let reference = ctx.monitor(watcher);
            let _ = ready_tx.send((child, watcher, reference));
            let _ = wait.await;
        },
    )
    .unwrap()
    .addr
    .pid();
    let (child, watcher, reference) = ready.await.unwrap();

    let info = process_info(parent).unwrap();
    assert_eq!(info.pid, parent);
    assert_eq!(info.name.as_deref(), Some("introspection_info"));
    assert!(info.trap_exit);
    assert_eq!(info.parent, None);
    assert_eq!(info.links, vec![child.pid()]);
    assert_eq!(info.monitors, vec![(reference, watcher.pid())]);
    assert!(info.monitored_by.is_empty());
    assert!(info.memory > 0);
    assert!(!info.function.is_empty());

    let watched = process_info(watcher.pid()).unwrap();
    assert_eq!(watched.monitored_by, vec![parent]);
    assert_eq!(watched.name, None);
    assert!(!watched.trap_exit);

    let child_info = process_info(child.pid()).unwrap();
    assert_eq!(child_info.parent, Some(parent));
    assert_eq!(child_info.links, vec![parent]);
    assert!(child_info.function.contains("introspection"));

    // Messages handled, and the status of a process parked in receive.
    for _ in 0..5 {
        send(child, Cmd::Work);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    send(child, Cmd::Report(tx));
    assert_eq!(rx.await.unwrap(), 5);
    eventually("the child waits in receive", || {
        process_info(child.pid()).is_some_and(|i| i.status == Status::Waiting)
    })
    .await;
    let child_info = process_info(child.pid()).unwrap();
    assert_eq!(child_info.messages_handled, 6);
    assert_eq!(child_info.mailbox_len, 0);

    // A process parked on something else is Suspended, and its mailbox fills up.
    eventually("the parent is suspended", || {
        process_info(parent).is_some_and(|i| i.status == Status::Suspended)
    })
    .await;
    for _ in 0..3 {
        send(parent.assume_type::<()>(), ());
    }
    let info = process_info(parent).unwrap();
    assert_eq!(info.mailbox_len, 3);
    assert_eq!(info.messages_handled, 0);

    let exited = exit_watch(parent);
    let _ = go.send(());
    exited.await;
    assert!(process_info(parent).is_none());
    grove::exit(child.pid(), ExitReason::Kill);
    grove::exit(watcher.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_info_of_a_dead_or_remote_pid_is_none() {
    let dead = idle::<()>();
    let exited = exit_watch(dead);
    send(dead, ());
    exited.await;
    assert!(process_info(dead.pid()).is_none());
    assert!(process_info(Pid::from_parts("other@host", 1, 5)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_info_counts_the_processes() {
    let pids: Vec<_> = (0..50).map(|_| idle::<()>()).collect();
    let info = system_info();
    assert!(info.process_count >= 50);
    assert_eq!(info.workers, 2);
    assert_eq!(info.node, grove::process::node());
    let exits: Vec<_> = pids.iter().map(|a| exit_watch(*a)).collect();
    for a in &pids {
        grove::exit(a.pid(), ExitReason::Kill);
    }
    for exited in exits {
        exited.await;
    }
    assert!(pids.iter().all(|a| !processes().contains(&a.pid())));
}

/// A subscriber process that forwards the events naming `pid` to a channel.
fn subscriber(
    watch: Pid,
    thresholds: Thresholds,
) -> (
    Addr<MonitorEvent>,
    tokio::sync::mpsc::UnboundedReceiver<MonitorEvent>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = spawn(move |mut ctx: Context<MonitorEvent>| async move {
        while let Message::User(event) = ctx.recv().await {
            let about = match &event {
                MonitorEvent::LongHandler { pid, .. } | MonitorEvent::LargeMailbox { pid, .. } => {
                    *pid
                }
            };
            if about == watch {
                let _ = tx.send(event);
            }
        }
    });
    system_monitor::subscribe(addr, thresholds);
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_monitor_reports_a_long_handler() {
    let hog = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        // Blocks its worker thread inside one poll: exactly what the monitor exists to catch.
        std::thread::sleep(Duration::from_millis(50));
        let _ = ctx.recv().await;
    });
    let (watcher, mut events) = subscriber(
        hog.pid(),
        Thresholds {
            long_handler: Some(Duration::from_millis(20)),
            large_mailbox: None,
        },
    );
    send(hog, ());
    let event = tokio::time::timeout(LONG, events.recv())
        .await
        .expect("no LongHandler event")
        .unwrap();
    match event {
        MonitorEvent::LongHandler {
            pid,
            elapsed,
            function,
        } => {
            assert_eq!(pid, hog.pid());
            assert!(elapsed >= Duration::from_millis(20));
            assert!(function.contains("introspection"));
        }
        other => panic!("expected LongHandler, got {other:?}"),
    }
    system_monitor::unsubscribe(watcher);
    grove::exit(hog.pid(), ExitReason::Kill);
    grove::exit(watcher.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_monitor_reports_a_large_mailbox() {
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let slow = spawn(move |mut ctx: Context<u32>| async move {
        let _ = wait.await;
        while ctx.recv().await.into_user().is_some() {}
    });
    let (watcher, mut events) = subscriber(
        slow.pid(),
        Thresholds {
            long_handler: None,
            large_mailbox: Some(50),
        },
    );
    for i in 0..60 {
        send(slow, i);
    }
    let event = tokio::time::timeout(LONG, events.recv())
        .await
        .expect("no LargeMailbox event")
        .unwrap();
    match event {
        MonitorEvent::LargeMailbox { pid, len } => {
            assert_eq!(pid, slow.pid());
            assert_eq!(len, 50);
        }
        other => panic!("expected LargeMailbox, got {other:?}"),
    }
    // Reported once until the process catches up with its mailbox.
    assert!(events.try_recv().is_err());
    system_monitor::unsubscribe(watcher);
    let _ = go.send(());
    grove::exit(slow.pid(), ExitReason::Kill);
    grove::exit(watcher.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_summary_finds_the_longest_mailbox() {
    // A process that never receives: its mailbox only grows.
    let stuck = spawn(|_: Context<u32>| async move {
        std::future::pending::<()>().await;
    });
    for i in 0..1_000 {
        send(stuck, i);
    }
    let summary = grove::process::mailbox_summary();
    // Other tests of this binary run alongside; their mailboxes are far shorter.
    assert_eq!(summary.longest, Some((stuck.pid(), 1_000)));
    assert!(summary.queued >= 1_000);
    grove::exit(stuck.pid(), ExitReason::Kill);
}
