//! Monitors: a `Ref`, exactly one `Down`, `noproc` for a dead pid, and `demonitor` with and
//! without flush.

mod common;

use common::*;
use grove::prelude::*;

#[derive(Debug, PartialEq)]
struct Marker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_returns_a_ref_and_down_arrives_exactly_once() {
    let (watched, reference, down, after) = in_process(|mut ctx: Context<Marker>| async move {
        let watched = idle::<()>();
        let reference = ctx.monitor(watched);
        send(watched, ());
        let down = next(&mut ctx).await;
        // Anything the monitor could still send would come before this marker.
        send(ctx.addr(), Marker);
        let after = next(&mut ctx).await;
        (watched.pid(), reference, down, after)
    })
    .await;
    match down {
        Message::Down(down) => {
            assert_eq!(down.reference, reference);
            assert_eq!(down.pid, watched);
            assert_eq!(down.reason, ExitReason::Normal);
        }
        other => panic!("expected Down, got {other:?}"),
    }
    assert_eq!(after, Message::User(Marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_monitor_gets_its_own_down() {
    let (refs, downs) = in_process(|mut ctx: Context<Marker>| async move {
        let watched = idle::<()>();
        let first = ctx.monitor(watched);
        let second = ctx.monitor(watched);
        grove::exit(watched.pid(), ExitReason::Shutdown);
        let mut downs = Vec::new();
        for _ in 0..2 {
            if let Message::Down(down) = next(&mut ctx).await {
                downs.push((down.reference, down.reason.clone()));
            }
        }
        downs.sort_by_key(|(reference, _)| *reference);
        let mut refs = vec![first, second];
        refs.sort();
        (refs, downs)
    })
    .await;
    assert_ne!(refs[0], refs[1]);
    assert_eq!(
        downs,
        vec![
            (refs[0], ExitReason::Shutdown),
            (refs[1], ExitReason::Shutdown)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_dead_pid_gives_down_noproc_at_once() {
    let dead = idle::<()>();
    let exited = exit_watch(dead);
    send(dead, ());
    exited.await;
    let (queued, reference, down) = in_process(move |mut ctx: Context<()>| async move {
        let reference = ctx.monitor(dead);
        // Already in the mailbox when monitor returns.
        let queued = ctx.mailbox_len();
        (queued, reference, next(&mut ctx).await)
    })
    .await;
    assert_eq!(queued, 1);
    match down {
        Message::Down(down) => {
            assert_eq!(down.reference, reference);
            assert_eq!(down.pid, dead.pid());
            assert_eq!(down.reason, ExitReason::NoProc);
        }
        other => panic!("expected Down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_stops_future_downs() {
    let (active, again, after) = in_process(|mut ctx: Context<Marker>| async move {
        let watched = idle::<()>();
        let reference = ctx.monitor(watched);
        let active = ctx.demonitor(reference, false);
        let again = ctx.demonitor(reference, false);
        let exited = exit_watch(watched);
        grove::exit(watched.pid(), ExitReason::error("gone"));
        // A Down would have been queued before the exit hooks ran.
        exited.await;
        send(ctx.addr(), Marker);
        (active, again, next(&mut ctx).await)
    })
    .await;
    assert!(active, "the monitor was active");
    assert!(!again, "a second demonitor finds nothing");
    assert_eq!(after, Message::User(Marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_with_flush_removes_an_already_delivered_down() {
    let (queued, active, after) = in_process(|mut ctx: Context<Marker>| async move {
        let watched = idle::<()>();
        let reference = ctx.monitor(watched);
        let other = ctx.monitor(watched);
        let exited = exit_watch(watched);
        grove::exit(watched.pid(), ExitReason::Shutdown);
        exited.await;
        let queued = ctx.mailbox_len();
        let active = ctx.demonitor(reference, true);
        send(ctx.addr(), Marker);
        let mut after = Vec::new();
        for _ in 0..2 {
            after.push(match next(&mut ctx).await {
                Message::Down(down) if down.reference == other => "other down",
                Message::Down(_) => "flushed down",
                Message::User(Marker) => "marker",
                Message::Exit(_) => "exit",
            });
        }
        (queued, active, after)
    })
    .await;
    assert_eq!(queued, 2, "both Downs had arrived");
    assert!(!active, "the monitor had already fired");
    assert_eq!(after, vec!["other down", "marker"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_with_flush_also_clears_a_down_already_taken_into_the_receive_buffer() {
    let after = in_process(|mut ctx: Context<u32>| async move {
        let watched = idle::<()>();
        let reference = ctx.monitor(watched);
        let exited = exit_watch(watched);
        grove::exit(watched.pid(), ExitReason::Shutdown);
        exited.await;
        send(ctx.addr(), 1);
        send(ctx.addr(), 2);
        // A selective receive that skips the Down moves it into the receive buffer.
        let first = ctx.recv_match(|m| m.user() == Some(&2)).await;
        assert_eq!(first, Message::User(2));
        ctx.demonitor(reference, true);
        send(ctx.addr(), 3);
        vec![next(&mut ctx).await, next(&mut ctx).await]
    })
    .await;
    assert_eq!(after, vec![Message::User(1), Message::User(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_does_not_link() {
    let (down, alive) = in_process(|mut ctx: Context<()>| async move {
        ctx.spawn_monitor(|_: Context<()>| async { ExitReason::error("crash") });
        let down = next(&mut ctx).await;
        let alive = grove::process::is_alive(ctx.pid());
        (down, alive)
    })
    .await;
    assert!(matches!(down, Message::Down(d) if d.reason == ExitReason::error("crash")));
    assert!(alive);
}
