//! Mailboxes: per-sender order, one receive loop for messages and signals, selective receive,
//! timeouts, cancel safety, bounds with their overflow policies, and signal ordering.

mod common;

use std::time::Duration;

use common::*;
use grove::prelude::*;
use grove::process::{process_info, SendError};
use grove::process::{spawn_opt, try_send, Overflow, SpawnOptions};
use proptest::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_one_sender_arrive_in_send_order() {
    let got = in_process(|mut ctx: Context<u32>| async move {
        let me = ctx.addr();
        ctx.spawn(move |_: Context<()>| async move {
            for i in 0..10_000 {
                send(me, i);
            }
        });
        let mut got = Vec::new();
        for _ in 0..10_000 {
            got.push(next_user(&mut ctx).await);
        }
        got
    })
    .await;
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_and_down_signals_arrive_through_the_same_recv_as_user_messages() {
    let kinds = in_process(|mut ctx: Context<&'static str>| async move {
        ctx.trap_exit(true);
        send(ctx.addr(), "hello");
        ctx.spawn_link(|_: Context<()>| async { ExitReason::error("linked") });
        let _ = ctx.spawn_monitor(|_: Context<()>| async {});
        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(match next(&mut ctx).await {
                Message::User(text) => text,
                Message::Exit(_) => "exit",
                Message::Down(_) => "down",
            });
        }
        kinds.sort();
        kinds
    })
    .await;
    assert_eq!(kinds, vec!["down", "exit", "hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_match_takes_the_first_matching_message_and_leaves_the_rest_in_order() {
    let (picked, rest) = in_process(|mut ctx: Context<u32>| async move {
        for i in [1, 2, 3, 4, 6] {
            send(ctx.addr(), i);
        }
        let picked = ctx
            .recv_match(|m| matches!(m, Message::User(n) if n % 2 == 0))
            .await;
        let mut rest = Vec::new();
        for _ in 0..4 {
            rest.push(next_user(&mut ctx).await);
        }
        (picked, rest)
    })
    .await;
    assert_eq!(picked, Message::User(2));
    assert_eq!(rest, vec![1, 3, 4, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_match_can_select_a_system_signal_past_user_messages() {
    let (down_first, rest) = in_process(|mut ctx: Context<u32>| async move {
        send(ctx.addr(), 1);
        let (child, reference) = ctx.spawn_monitor(|_: Context<()>| async {});
        let down = ctx
            .recv_match(|m| matches!(m, Message::Down(down) if down.reference == reference))
            .await;
        send(ctx.addr(), 2);
        let rest = vec![next_user(&mut ctx).await, next_user(&mut ctx).await];
        let down_first = matches!(down, Message::Down(down) if down.pid == child.pid());
        (down_first, rest)
    })
    .await;
    assert!(down_first);
    assert_eq!(rest, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_timeout_returns_none_after_the_timeout() {
    let (nothing, then) = in_process(|mut ctx: Context<u32>| async move {
        let nothing = ctx.recv_timeout(Duration::from_millis(20)).await;
        send(ctx.addr(), 5);
        let then = ctx.recv_timeout(LONG).await;
        (nothing, then)
    })
    .await;
    assert_eq!(nothing, None);
    assert_eq!(then, Some(Message::User(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_match_timeout_returns_none_after_the_timeout_and_keeps_the_rest() {
    let (nothing, kept) = in_process(|mut ctx: Context<u32>| async move {
        send(ctx.addr(), 1);
        send(ctx.addr(), 3);
        let nothing = ctx
            .recv_match_timeout(|m| m.user() == Some(&2), Duration::from_millis(20))
            .await;
        let kept = vec![next_user(&mut ctx).await, next_user(&mut ctx).await];
        (nothing, kept)
    })
    .await;
    assert_eq!(nothing, None);
    assert_eq!(kept, vec![1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_is_cancel_safe_in_select() {
    const N: u32 = 20_000;
    let (got, cancelled) = in_process(|mut ctx: Context<u32>| async move {
        let me = ctx.addr();
        let (go, start) = tokio::sync::oneshot::channel::<()>();
        ctx.spawn(move |_: Context<()>| async move {
            let _ = start.await;
            for i in 0..N {
                send(me, i);
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut got = Vec::with_capacity(N as usize);
        let mut cancelled = 0u64;
        // Once for certain: a receive polled on the empty mailbox and dropped before the sender
        // starts. The loop below then races receives against other branches, which cancels
        // more of them only when the receiver happens to catch up with the sender.
        tokio::select! {
            biased;
            message = ctx.recv() => got.push(message.into_user().unwrap()),
            _ = std::future::ready(()) => cancelled += 1,
        }
        let _ = go.send(());
        while got.len() < N as usize {
            // The other branch often wins, dropping the receive future midway.
            tokio::select! {
                message = ctx.recv() => got.push(message.into_user().unwrap()),
                _ = tokio::task::yield_now() => cancelled += 1,
            }
            if got.len() % 3 == 0 {
                // A selective receive polled once and dropped when nothing is there yet.
                tokio::select! {
                    biased;
                    message = ctx.recv_match(|_| true) => got.push(message.into_user().unwrap()),
                    _ = std::future::ready(()) => cancelled += 1,
                }
            }
        }
        (got, cancelled)
    })
    .await;
    assert!(cancelled > 0);
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_reject_try_send_returns_full_and_send_drops_and_counts() {
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (report, got) = tokio::sync::oneshot::channel();
    let addr = spawn_opt(
        SpawnOptions::new().mailbox_bound(2, Overflow::Reject),
        move |mut ctx: Context<u32>| async move {
            let _ = wait.await;
            let mut got = Vec::new();
            while let Some(Message::User(n)) = ctx.recv_timeout(Duration::from_millis(50)).await {
                got.push(n);
            }
            let _ = report.send(got);
        },
    )
    .unwrap()
    .addr;
    assert!(try_send(addr, 1).is_ok());
    assert!(try_send(addr, 2).is_ok());
    match try_send(addr, 3) {
        Err(SendError::Full { pid, message }) => {
            assert_eq!(pid, addr.pid());
            assert_eq!(message, 3);
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(process_info(addr.pid()).unwrap().dropped_messages, 0);
    send(addr, 4);
    let info = process_info(addr.pid()).unwrap();
    assert_eq!(info.dropped_messages, 1);
    assert_eq!(info.mailbox_len, 2);
    let _ = go.send(());
    assert_eq!(got.await.unwrap(), vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_drop_newest_drops_the_newest_message() {
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (report, got) = tokio::sync::oneshot::channel();
    let addr = spawn_opt(
        SpawnOptions::new().mailbox_bound(2, Overflow::DropNewest),
        move |mut ctx: Context<u32>| async move {
            let _ = wait.await;
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(next_user(&mut ctx).await);
            }
            let _ = report.send(got);
        },
    )
    .unwrap()
    .addr;
    assert!(try_send(addr, 1).is_ok());
    assert!(try_send(addr, 2).is_ok());
    // Accepted and dropped: DropNewest never hands the message back.
    assert!(try_send(addr, 3).is_ok());
    send(addr, 4);
    assert_eq!(process_info(addr.pid()).unwrap().dropped_messages, 2);
    let _ = go.send(());
    // Once the receiver has taken 1 and 2 there is room again: 99 is the next message.
    eventually("the receiver emptied its mailbox", || {
        process_info(addr.pid()).is_some_and(|info| info.mailbox_len == 0)
    })
    .await;
    send(addr, 99);
    assert_eq!(got.await.unwrap(), vec![1, 2, 99]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_kill_kills_the_receiver_with_mailbox_overflow() {
    let addr = spawn_opt(
        SpawnOptions::new()
            .mailbox_bound(1, Overflow::Kill)
            .trap_exit(true),
        |_: Context<u32>| async move {
            std::future::pending::<()>().await;
        },
    )
    .unwrap()
    .addr;
    let exited = exit_watch(addr);
    assert!(try_send(addr, 1).is_ok());
    assert!(try_send(addr, 2).is_ok());
    assert_eq!(exited.await, ExitReason::MailboxOverflow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_and_down_signals_bypass_the_mailbox_bound() {
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (child_tx, child_rx) = tokio::sync::oneshot::channel();
    let (report, got) = tokio::sync::oneshot::channel();
    let receiver = spawn_opt(
        SpawnOptions::new()
            .mailbox_bound(1, Overflow::Reject)
            .trap_exit(true),
        move |mut ctx: Context<u32>| async move {
            let (child, _) = ctx.spawn_monitor(|mut c: Context<()>| async move {
                let _ = c.recv().await;
            });
            let _ = child_tx.send(child);
            let _ = wait.await;
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(match next(&mut ctx).await {
                    Message::User(n) => format!("user {n}"),
                    Message::Exit(exit) => format!("exit {}", exit.reason),
                    Message::Down(down) => format!("down {}", down.reason),
                });
            }
            let _ = report.send(got);
        },
    )
    .unwrap()
    .addr;
    let child = child_rx.await.unwrap();
    assert!(try_send(receiver, 1).is_ok());
    assert!(matches!(try_send(receiver, 2), Err(SendError::Full { .. })));
    // The mailbox is full, yet an exit signal and a monitor's Down still get in.
    grove::exit(receiver.pid(), ExitReason::Shutdown);
    let child_exit = exit_watch(child);
    grove::exit(child.pid(), ExitReason::Kill);
    assert_eq!(child_exit.await, ExitReason::Killed);
    assert_eq!(process_info(receiver.pid()).unwrap().mailbox_len, 3);
    let _ = go.send(());
    assert_eq!(
        got.await.unwrap(),
        ["user 1", "exit shutdown", "down killed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_an_exit_signal_from_one_sender_arrive_in_send_order() {
    let (sender, got) = in_process(|mut ctx: Context<u32>| async move {
        ctx.trap_exit(true);
        let me = ctx.addr();
        let sender = ctx.spawn(move |sctx: Context<()>| async move {
            for i in 0..1000 {
                send(me, i);
            }
            sctx.exit(me, ExitReason::error("after the messages"));
            for i in 1000..1010 {
                send(me, i);
            }
        });
        let mut got = Vec::new();
        for _ in 0..1011 {
            got.push(next(&mut ctx).await);
        }
        (sender.pid(), got)
    })
    .await;
    for (i, message) in got.iter().enumerate().take(1000) {
        assert_eq!(message, &Message::User(i as u32));
    }
    match &got[1000] {
        Message::Exit(exit) => {
            assert_eq!(exit.from, sender);
            assert_eq!(exit.reason, ExitReason::error("after the messages"));
        }
        other => panic!("expected the Exit after 1000 messages, got {other:?}"),
    }
    for (i, message) in got.iter().enumerate().skip(1001) {
        assert_eq!(message, &Message::User(i as u32 - 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_before_a_process_exits_arrive_before_its_exit_and_down() {
    let got = in_process(|mut ctx: Context<u32>| async move {
        ctx.trap_exit(true);
        let me = ctx.addr();
        ctx.spawn_opt(
            SpawnOptions::new().link(true).monitor(true),
            move |_: Context<()>| async move {
                for i in 0..500 {
                    send(me, i);
                }
                ExitReason::error("done")
            },
        )
        .unwrap();
        let mut got = Vec::new();
        for _ in 0..502 {
            got.push(match next(&mut ctx).await {
                Message::User(n) => format!("{n}"),
                Message::Exit(_) => "exit".to_string(),
                Message::Down(_) => "down".to_string(),
            });
        }
        got
    })
    .await;
    let mut expected: Vec<String> = (0..500).map(|n: u32| n.to_string()).collect();
    expected.push("exit".into());
    expected.push("down".into());
    assert_eq!(got, expected);
}

#[derive(Debug)]
struct Tagged {
    sender: usize,
    seq: u32,
}

/// Spawns one receiver and `counts.len()` concurrent senders; returns what the receiver saw.
fn run_senders(counts: &[u32]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counts = counts.to_vec();
    runtime.block_on(async move {
        let total: u32 = counts.iter().sum();
        let senders = counts.len();
        let (report, result) = tokio::sync::oneshot::channel();
        let receiver = spawn(move |mut ctx: Context<Tagged>| async move {
            let mut next_seq = vec![0u32; senders];
            let mut outcome = Ok(());
            for _ in 0..total {
                match ctx.recv_timeout(LONG).await {
                    Some(Message::User(Tagged { sender, seq })) => {
                        if seq != next_seq[sender] {
                            outcome = Err(format!(
                                "sender {sender}: got {seq}, expected {}",
                                next_seq[sender]
                            ));
                            break;
                        }
                        next_seq[sender] += 1;
                    }
                    other => {
                        outcome = Err(format!("unexpected {other:?}"));
                        break;
                    }
                }
            }
            // Nothing duplicated: no message beyond the total.
            if outcome.is_ok() {
                if let Some(extra) = ctx.recv_timeout(Duration::from_millis(10)).await {
                    outcome = Err(format!("extra message {extra:?}"));
                }
            }
            let _ = report.send(outcome);
        });
        for (sender, &count) in counts.iter().enumerate() {
            spawn(move |_: Context<()>| async move {
                for seq in 0..count {
                    send(receiver, Tagged { sender, seq });
                    if seq % 100 == 99 {
                        tokio::task::yield_now().await;
                    }
                }
            });
        }
        result
            .await
            .unwrap_or_else(|_| Err("receiver died".to_string()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_mailbox_loses_duplicates_and_reorders_nothing_under_concurrent_senders(
        counts in proptest::collection::vec(0u32..2_000, 1..8)
    ) {
        let outcome = run_senders(&counts);
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }
}

/// Counts how many of its values were dropped.
#[derive(Debug)]
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_left_in_a_mailbox_are_dropped_when_the_process_exits() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let addr = spawn(|mut ctx: Context<Counted>| async move {
        // Takes one message, then waits forever without receiving more.
        let _ = ctx.recv().await;
        std::future::pending::<()>().await;
    });
    for _ in 0..5 {
        send(addr, Counted(dropped.clone()));
    }
    eventually("the first message was received", || {
        dropped.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let exited = exit_watch(addr);
    grove::exit(addr.pid(), ExitReason::Shutdown);
    assert_eq!(exited.await, ExitReason::Shutdown);
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 5);
    // A message to the dead process is dropped on the spot.
    send(addr, Counted(dropped.clone()));
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_len_is_exact_when_bounded_and_counts_at_least_the_unreceived_when_unbounded() {
    let bounded = in_process_opt(
        SpawnOptions::new().mailbox_bound(100, Overflow::Reject),
        |mut ctx: Context<u32>| async move {
            for i in 0..3 {
                send(ctx.addr(), i);
            }
            let _ = next(&mut ctx).await;
            ctx.mailbox_len()
        },
    )
    .await;
    assert_eq!(bounded, 2);
    let unbounded = in_process(|mut ctx: Context<u32>| async move {
        for i in 0..3 {
            send(ctx.addr(), i);
        }
        let _ = next(&mut ctx).await;
        let len = ctx.mailbox_len();
        // Once the batch is used up the count is exact again.
        let _ = next(&mut ctx).await;
        let _ = next(&mut ctx).await;
        (len, ctx.mailbox_len())
    })
    .await;
    assert!((2..=3).contains(&unbounded.0), "{unbounded:?}");
    assert_eq!(unbounded.1, 0);
}
