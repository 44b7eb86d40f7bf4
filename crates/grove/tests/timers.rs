//! Timers: `send_after`, `send_interval`, `cancel_timer`, `read_timer`, and timers dying with
//! their process.

mod common;

use std::time::Duration;

use common::*;
use grove::prelude::*;
use grove::process::{cancel_timer, send_interval};
use grove::process::{process_info, read_timer};

#[derive(Clone, Debug, PartialEq)]
enum Tick {
    Tick,
    Marker,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_delivers_the_message() {
    let got = in_process(|mut ctx: Context<Tick>| async move {
        send_after(ctx.addr(), Tick::Tick, Duration::from_millis(10));
        next(&mut ctx).await
    })
    .await;
    assert_eq!(got, Message::User(Tick::Tick));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_interval_repeats_until_cancelled() {
    let (ticks, cancelled, after) = in_process(|mut ctx: Context<Tick>| async move {
        let timer = send_interval(ctx.addr(), Tick::Tick, Duration::from_millis(5));
        let mut ticks = 0;
        while ticks < 3 {
            if next(&mut ctx).await == Message::User(Tick::Tick) {
                ticks += 1;
            }
        }
        let cancelled = cancel_timer(timer);
        // Drain ticks that were already queued, then make sure none follows a marker.
        send(ctx.addr(), Tick::Marker);
        while next(&mut ctx).await != Message::User(Tick::Marker) {}
        send_after(ctx.addr(), Tick::Marker, Duration::from_millis(50));
        let after = next(&mut ctx).await;
        (ticks, cancelled, after)
    })
    .await;
    assert_eq!(ticks, 3);
    let left = cancelled.expect("the interval was still active");
    assert!(left <= Duration::from_millis(5));
    assert_eq!(after, Message::User(Tick::Marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_timer_returns_the_remaining_time_and_prevents_delivery() {
    let (left, again, read, first) = in_process(|mut ctx: Context<Tick>| async move {
        let delay = Duration::from_millis(20);
        let timer = send_after(ctx.addr(), Tick::Tick, delay);
        let left = cancel_timer(timer);
        let again = cancel_timer(timer);
        let read = read_timer(timer);
        // Had the cancelled timer fired, its tick would come before this later marker.
        send_after(ctx.addr(), Tick::Marker, Duration::from_millis(60));
        (left, again, read, next(&mut ctx).await)
    })
    .await;
    let left = left.expect("the timer was active");
    assert!(left <= Duration::from_millis(20));
    assert_eq!(again, None, "a cancelled timer cannot be cancelled again");
    assert_eq!(read, None);
    assert_eq!(first, Message::User(Tick::Marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timer_returns_the_time_left_and_none_once_fired() {
    let (left, after, timers_before, timers_after) =
        in_process(|mut ctx: Context<Tick>| async move {
            let timer = send_after(ctx.addr(), Tick::Tick, Duration::from_millis(30));
            let left = read_timer(timer);
            let timers_before = process_info(ctx.pid()).unwrap().timers;
            assert_eq!(next(&mut ctx).await, Message::User(Tick::Tick));
            let timers_after = process_info(ctx.pid()).unwrap().timers;
            (left, read_timer(timer), timers_before, timers_after)
        })
        .await;
    let left = left.expect("the timer is active");
    assert!(left <= Duration::from_millis(30));
    assert_eq!(after, None);
    assert_eq!(timers_before, 1);
    assert_eq!(timers_after, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_timers_die_with_it() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = spawn(move |mut ctx: Context<Tick>| async move {
        let once = send_after(ctx.addr(), Tick::Tick, Duration::from_secs(60));
        let every = send_interval(ctx.addr(), Tick::Tick, Duration::from_secs(60));
        let _ = tx.send((once, every));
        let _ = ctx.recv_match(|m| m.user() == Some(&Tick::Marker)).await;
    });
    let (once, every) = rx.await.unwrap();
    assert!(read_timer(once).is_some());
    assert!(read_timer(every).is_some());
    assert_eq!(process_info(addr.pid()).unwrap().timers, 2);
    let exited = exit_watch(addr);
    send(addr, Tick::Marker);
    exited.await;
    assert_eq!(read_timer(once), None);
    assert_eq!(read_timer(every), None);
    assert_eq!(cancel_timer(once), None);
    assert_eq!(cancel_timer(every), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_aimed_at_a_dead_pid_is_born_cancelled() {
    let dead = idle::<Tick>();
    let exited = exit_watch(dead);
    send(dead, Tick::Tick);
    exited.await;
    let timer = send_after(dead, Tick::Tick, Duration::from_millis(1));
    assert_eq!(read_timer(timer), None);
    assert_eq!(cancel_timer(timer), None);
}
