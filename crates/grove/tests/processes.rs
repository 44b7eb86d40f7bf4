//! Spawning (plain, linked, monitored, with options), exit reasons, panics, `blocking`,
//! `await_exit`, and cooperative scheduling.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use grove::prelude::*;
use grove::process::{await_exit, spawn_opt, SpawnOptions};
use grove::process::{blocking, is_alive, process_info, whereis, SpawnError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_runs_the_function_as_a_process_with_its_own_pid() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = spawn(move |ctx: Context<()>| async move {
        let _ = tx.send(ctx.pid());
    });
    assert_eq!(rx.await.unwrap(), addr.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_link_links_child_and_parent_atomically() {
    let (parent, child, info, exit) = in_process(|mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        let child = ctx.spawn_link(|mut c: Context<bool>| async move {
            match c.recv().await {
                Message::User(true) => Err("child failed".into()),
                _ => Ok(()),
            }
        });
        let info = process_info(child.pid()).expect("child is alive");
        let mine = process_info(ctx.pid()).expect("parent is alive");
        assert_eq!(mine.links, vec![child.pid()]);
        send(child, true);
        (ctx.pid(), child.pid(), info, next(&mut ctx).await)
    })
    .await;
    assert_eq!(info.links, vec![parent]);
    assert_eq!(info.parent, Some(parent));
    match exit {
        Message::Exit(exit) => {
            assert_eq!(exit.from, child);
            assert_eq!(exit.reason, ExitReason::error("child failed"));
        }
        other => panic!("expected Exit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_monitor_monitors_the_child_atomically() {
    let (child, reference, down) = in_process(|mut ctx: Context<()>| async move {
        let (child, reference) = ctx.spawn_monitor(|_: Context<()>| async { ExitReason::Shutdown });
        (child.pid(), reference, next(&mut ctx).await)
    })
    .await;
    match down {
        Message::Down(down) => {
            assert_eq!(down.reference, reference);
            assert_eq!(down.pid, child);
            assert_eq!(down.reason, ExitReason::Shutdown);
        }
        other => panic!("expected Down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_opt_link_and_monitor_from_a_process() {
    let (spawned_monitor, links, monitors) = in_process(|mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        let spawned = ctx
            .spawn_opt(
                SpawnOptions::new().link(true).monitor(true),
                |mut c: Context<()>| async move {
                    let _ = c.recv().await;
                },
            )
            .unwrap();
        let info = process_info(ctx.pid()).unwrap();
        grove::exit(spawned.addr.pid(), ExitReason::Kill);
        (spawned.monitor, info.links, info.monitors)
    })
    .await;
    let reference = spawned_monitor.expect("a monitor was asked for");
    assert_eq!(links.len(), 1);
    assert_eq!(monitors.len(), 1);
    assert_eq!(monitors[0].0, reference);
    assert_eq!(monitors[0].1, links[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_opt_name_registers_the_process_before_it_starts() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = spawn_opt(
        SpawnOptions::new().name("processes_spawn_opt_name"),
        move |mut ctx: Context<()>| async move {
            let _ = tx.send(whereis("processes_spawn_opt_name"));
            let _ = ctx.recv().await;
        },
    )
    .unwrap();
    assert_eq!(rx.await.unwrap(), Some(spawned.addr.pid()));
    assert_eq!(spawned.monitor, None);
    let info = process_info(spawned.addr.pid()).unwrap();
    assert_eq!(info.name.as_deref(), Some("processes_spawn_opt_name"));
    let exited = exit_watch(spawned.addr);
    send(spawned.addr, ());
    assert_eq!(exited.await, ExitReason::Normal);
    assert_eq!(whereis("processes_spawn_opt_name"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_opt_with_a_taken_name_fails_with_name_taken() {
    let holder = spawn_opt(
        SpawnOptions::new().name("processes_taken"),
        |mut ctx: Context<()>| async move {
            let _ = ctx.recv().await;
        },
    )
    .unwrap()
    .addr;
    let error = spawn_opt(
        SpawnOptions::new().name("processes_taken"),
        |_: Context<()>| async {},
    )
    .unwrap_err();
    assert_eq!(
        error,
        SpawnError::NameTaken {
            name: Arc::from("processes_taken"),
            holder: holder.pid(),
        }
    );
    assert!(error.to_string().contains("processes_taken"));
    assert_eq!(whereis("processes_taken"), Some(holder.pid()));
    grove::exit(holder.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_opt_trap_exit_starts_the_process_trapping_exits() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = spawn_opt(
        SpawnOptions::new().trap_exit(true),
        move |mut ctx: Context<()>| async move {
            let _ = tx.send(ctx.recv().await);
        },
    )
    .unwrap();
    assert!(process_info(spawned.addr.pid()).unwrap().trap_exit);
    grove::exit(spawned.addr.pid(), ExitReason::Shutdown);
    match rx.await.unwrap() {
        Message::Exit(exit) => assert_eq!(exit.reason, ExitReason::Shutdown),
        other => panic!("expected Exit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_opt_link_outside_a_process_fails_with_no_parent() {
    for options in [
        SpawnOptions::new().link(true),
        SpawnOptions::new().monitor(true),
    ] {
        let error = spawn_opt(options, |_: Context<()>| async {}).unwrap_err();
        assert_eq!(error, SpawnError::NoParent);
    }
}

#[test]
fn spawn_opt_outside_a_runtime_fails_with_no_runtime() {
    let error = spawn_opt(SpawnOptions::new(), |_: Context<()>| async {}).unwrap_err();
    assert_eq!(error, SpawnError::NoRuntime);
}

#[test]
fn run_starts_a_runtime_and_returns_the_first_process_exit_reason() {
    let reason = grove::run(|mut ctx: Context<u32>| async move {
        let me = ctx.addr();
        ctx.spawn_link(move |_: Context<()>| async move { send(me, 42) });
        match ctx.recv().await {
            Message::User(42) => ExitReason::Shutdown,
            _ => ExitReason::error("unexpected"),
        }
    });
    assert_eq!(reason, ExitReason::Shutdown);
}

#[test]
fn run_returns_the_exit_reason_of_a_first_process_that_exits_at_once() {
    for _ in 0..500 {
        let reason = grove::run(|_: Context<()>| async { ExitReason::Shutdown });
        assert_eq!(reason, ExitReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_unit_or_ok_exits_normal() {
    let a = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
    });
    let b = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        Ok(()) // no annotation needed: a process's Result is Result<(), ExitReason>
    });
    let (ea, eb) = (exit_watch(a), exit_watch(b));
    send(a, ());
    send(b, ());
    assert_eq!(ea.await, ExitReason::Normal);
    assert_eq!(eb.await, ExitReason::Normal);
}

/// Spawns a process that waits for a message, then returns `result`; returns its exit reason.
async fn exit_reason_of<R, F>(result: F) -> ExitReason
where
    F: FnOnce() -> R + Send + 'static,
    R: grove::process::IntoExitReason + Send + 'static,
{
    let addr = spawn(move |mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        result()
    });
    let exited = exit_watch(addr);
    send(addr, ());
    exited.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_shutdown_exits_with_shutdown() {
    assert_eq!(
        exit_reason_of(|| ExitReason::Shutdown).await,
        ExitReason::Shutdown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_err_exits_with_that_error() {
    assert_eq!(
        exit_reason_of(|| Err("x".into())).await,
        ExitReason::Error(Arc::from("x"))
    );
    assert_eq!(
        exit_reason_of(|| Err(String::from("y").into())).await,
        ExitReason::error("y")
    );
    assert_eq!(
        exit_reason_of(|| Err::<(), _>(ExitReason::NoProc)).await,
        ExitReason::NoProc
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_kill_is_reported_as_killed() {
    assert_eq!(
        exit_reason_of(|| ExitReason::Kill).await,
        ExitReason::Killed
    );
    assert_eq!(
        exit_reason_of(|| Err::<(), _>(ExitReason::Kill)).await,
        ExitReason::Killed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_cannot_be_trapped_and_the_victim_exits_killed() {
    let victim = spawn_opt(
        SpawnOptions::new().trap_exit(true),
        |mut ctx: Context<()>| async move {
            // Trapping: every exit signal becomes a message, and it keeps receiving.
            for _ in 0u64.. {
                let _ = ctx.recv().await;
            }
        },
    )
    .unwrap()
    .addr;
    let exited = exit_watch(victim);
    grove::exit(victim.pid(), ExitReason::Kill);
    assert_eq!(exited.await, ExitReason::Killed);
    assert!(!is_alive(victim.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_becomes_the_exit_reason_and_other_processes_are_unaffected() {
    let bystander = spawn(
        |mut ctx: Context<tokio::sync::oneshot::Sender<&'static str>>| async move {
            while let Message::User(reply) = ctx.recv().await {
                let _ = reply.send("still here");
            }
        },
    );
    let crasher = spawn(|mut ctx: Context<u32>| async move {
        let n = ctx.recv().await.into_user().unwrap();
        if n == 13 {
            panic!("unlucky number {n}");
        }
    });
    let exited = exit_watch(crasher);
    send(crasher, 13);
    assert_eq!(
        exited.await,
        ExitReason::Panic(Arc::from("unlucky number 13"))
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    send(bystander, tx);
    assert_eq!(rx.await.unwrap(), "still here");
    assert!(is_alive(bystander.pid()));
    grove::exit(bystander.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_an_abnormal_exit_for_links() {
    let message = in_process(|mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        ctx.spawn_link(|_: Context<()>| async {
            if true {
                panic!("linked boom");
            }
        });
        next(&mut ctx).await
    })
    .await;
    match message {
        Message::Exit(exit) => assert_eq!(exit.reason, ExitReason::Panic(Arc::from("linked boom"))),
        other => panic!("expected Exit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_runs_the_closure_on_the_blocking_pool_and_returns_its_value() {
    let (value, caller, runner) = in_process(|_: Context<()>| async move {
        let caller = std::thread::current().id();
        let (value, runner) = blocking(|| {
            std::thread::sleep(Duration::from_millis(5));
            (6 * 7, std::thread::current().id())
        })
        .await;
        (value, caller, runner)
    })
    .await;
    assert_eq!(value, 42);
    assert_ne!(
        caller, runner,
        "the closure ran on the process's worker thread"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_inside_blocking_becomes_the_process_panic() {
    let addr = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        let _: u32 = blocking(|| panic!("blocking boom")).await;
    });
    let exited = exit_watch(addr);
    send(addr, ());
    assert_eq!(exited.await, ExitReason::Panic(Arc::from("blocking boom")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_exit_returns_the_exit_reason() {
    let addr = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        ExitReason::error("done with errors")
    });
    let waiting = grove::process::await_exit(addr.pid());
    tokio::pin!(waiting);
    // Polled once, so it is waiting before the process is told to exit.
    assert!(poll_once_pending(waiting.as_mut()));
    send(addr, ());
    let reason = tokio::time::timeout(LONG, waiting).await.unwrap();
    assert_eq!(reason, ExitReason::error("done with errors"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_await_exit_leaves_no_watcher_behind() {
    let addr = idle::<()>();
    for _ in 0..100 {
        let waited = tokio::time::timeout(Duration::from_millis(1), await_exit(addr.pid())).await;
        assert!(waited.is_err(), "the idle process is still alive");
    }
    let info = process_info(addr.pid()).expect("the idle process is alive");
    assert_eq!(info.exit_watchers, 0);
    let exited = exit_watch(addr);
    assert_eq!(process_info(addr.pid()).map(|i| i.exit_watchers), Some(1));
    send(addr, ());
    assert_eq!(exited.await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_exit_of_a_dead_pid_is_noproc() {
    let addr = idle::<()>();
    let exited = exit_watch(addr);
    send(addr, ());
    assert_eq!(exited.await, ExitReason::Normal);
    assert_eq!(await_exit(addr.pid()).await, ExitReason::NoProc);
    assert_eq!(
        await_exit(Pid::from_parts("other@host", 1, 9)).await,
        ExitReason::NoProc
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_signal_stops_a_process_only_at_its_next_await() {
    let started = Arc::new(AtomicBool::new(false));
    let kill_sent = Arc::new(AtomicBool::new(false));
    let step_finished = Arc::new(AtomicBool::new(false));
    let after_await = Arc::new(AtomicBool::new(false));
    let victim = {
        let (started, kill_sent) = (started.clone(), kill_sent.clone());
        let (step_finished, after_await) = (step_finished.clone(), after_await.clone());
        spawn(move |_: Context<()>| async move {
            started.store(true, Ordering::SeqCst);
            // Synchronous work that never yields: a signal cannot stop it midway.
            let deadline = std::time::Instant::now() + LONG;
            while !kill_sent.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            step_finished.store(true, Ordering::SeqCst);
            tokio::task::yield_now().await;
            after_await.store(true, Ordering::SeqCst);
        })
    };
    let exited = exit_watch(victim);
    eventually("the victim started", || started.load(Ordering::SeqCst)).await;
    grove::exit(victim.pid(), ExitReason::Kill);
    kill_sent.store(true, Ordering::SeqCst);
    assert_eq!(exited.await, ExitReason::Killed);
    assert!(step_finished.load(Ordering::SeqCst));
    assert!(!after_await.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_blocked_in_an_await_on_something_else_is_still_killed() {
    let victim = spawn(|_: Context<()>| async move {
        std::future::pending::<()>().await;
    });
    let exited = exit_watch(victim);
    grove::exit(victim.pid(), ExitReason::Shutdown);
    assert_eq!(exited.await, ExitReason::Shutdown);
}

// One worker thread makes the check exact: the observer can only run if the receiver yields.
#[tokio::test(flavor = "current_thread")]
async fn a_receive_loop_on_a_full_mailbox_still_yields_and_can_be_killed() {
    const QUEUED: usize = 10_000;
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let receiver = {
        let handled = handled.clone();
        spawn(move |mut ctx: Context<u32>| async move {
            // Never waits: every receive finds a message.
            while ctx.recv().await.into_user().is_some() {
                handled.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    for i in 0..QUEUED as u32 {
        send(receiver, i);
    }
    // An unbounded mailbox took them all.
    assert_eq!(process_info(receiver.pid()).unwrap().mailbox_len, QUEUED);
    let exited = exit_watch(receiver);
    let observer = {
        let handled = handled.clone();
        tokio::spawn(async move {
            let seen = handled.load(Ordering::SeqCst);
            grove::exit(receiver.pid(), ExitReason::Kill);
            seen
        })
    };
    let seen = observer.await.unwrap();
    assert!(seen < QUEUED, "the receiver never yielded");
    assert_eq!(exited.await, ExitReason::Killed);
    assert!(handled.load(Ordering::SeqCst) < QUEUED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_in_blocking_lets_the_closure_finish() {
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let addr = spawn(move |_: Context<()>| async move {
        blocking(move || {
            let _ = entered_tx.send(());
            let _ = release_rx.recv_timeout(LONG);
            let _ = done_tx.send(());
        })
        .await;
    });
    let exited = exit_watch(addr);
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(LONG))
        .await
        .unwrap()
        .expect("the closure started");
    grove::exit(addr.pid(), ExitReason::Kill);
    assert_eq!(exited.await, ExitReason::Killed);
    release_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || done_rx.recv_timeout(LONG))
        .await
        .unwrap()
        .expect("the closure ran to completion after the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_exit_runs_a_hook_with_the_exit_reason_unless_cancelled() {
    use grove::process::on_exit;
    let (told_tx, told_rx) = tokio::sync::oneshot::channel();
    let addr = idle::<()>();
    let hook = on_exit(addr.pid(), move |pid, reason| {
        let _ = told_tx.send((pid, reason.clone()));
    })
    .unwrap_or_else(|_| panic!("the idle process is alive"));
    assert_eq!(hook.pid(), addr.pid());
    // A cancelled hook never runs.
    let cancelled = on_exit(addr.pid(), |_, _| panic!("a cancelled hook ran"))
        .unwrap_or_else(|_| panic!("the idle process is alive"));
    assert!(cancelled.cancel());
    assert_eq!(process_info(addr.pid()).map(|i| i.exit_watchers), Some(1));
    let exited = exit_watch(addr);
    send(addr, ());
    assert_eq!(exited.await, ExitReason::Normal);
    let told = tokio::time::timeout(LONG, told_rx).await.unwrap().unwrap();
    assert_eq!(told, (addr.pid(), ExitReason::Normal));
    // For a dead process the hook is handed back unrun.
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let Err(handed_back) = on_exit(addr.pid(), move |_, _| flag.store(true, Ordering::SeqCst))
    else {
        panic!("a hook on a dead process was installed");
    };
    assert!(!ran.load(Ordering::SeqCst), "handed back unrun");
    handed_back(addr.pid(), &ExitReason::Normal);
    assert!(ran.load(Ordering::SeqCst), "the caller can run it itself");
    assert!(!hook.cancel(), "a hook that ran cannot be cancelled");
}

/// `?` works on Grove's errors (and `io::Error`) in a process body that ends in `Ok(())`, with no
/// turbofish and no annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_mark_works_in_a_body_that_ends_in_ok_without_annotations() {
    let addr = spawn(|mut ctx: Context<()>| async move {
        let _ = ctx.recv().await;
        grove::process::register("question_mark_body", ctx.pid())?;
        ctx.try_link(ctx.pid())?; // linking to itself does nothing, as in OTP
        std::fs::read("/nonexistent/grove/file")?;
        Ok(())
    });
    let exited = exit_watch(addr);
    send(addr, ());
    let reason = exited.await;
    assert!(
        matches!(&reason, ExitReason::Error(text) if text.contains("No such file")),
        "{reason:?}"
    );
}
