//! `Supervisor` through its public API: start and stop order, the three strategies, restart
//! types, intensity, escalation through nested supervisors, shutdown per child, operator
//! requests, failed starts, `GenServer` children, registered names, backoff and statistics.
//!
//! Synchronization: a test child is stopped or crashed with [`support::exit_child`], which
//! returns once the child has exited. Its supervisor traps exits and is linked to it, and a
//! link hears of an exit before an exit watch does, so the supervisor's mailbox already holds the
//! exit when the test's next request is sent: the answer reflects how the exit was handled
//! (a restart without backoff happens inside that handling). No sleeps are used as
//! synchronization; the only polling ([`support::wait_running`]) is for restarts that go through
//! the supervisor's mailbox: one delayed by backoff, or a failed start being retried. Tests of
//! backoff and of the intensity period run on tokio's paused clock, where timers fire only once
//! every process waits, so they depend on no machine's speed.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grove_otp::gen_server::{Call, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_otp::supervisor::{
    stats, Backoff, ChildCounts, ChildKind, ChildSpec, ChildStatus, Restart, Shutdown, Supervisor,
    SupervisorError, SupervisorRef,
};
use grove_otp::StartError;
use grove_runtime::{is_alive, spawn, spawn_opt, Context, ExitReason, Pid, SpawnOptions};
use support::*;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Start and stop order
// ---------------------------------------------------------------------------------------------

#[test]
fn children_start_in_order_and_stop_in_reverse_order_when_the_supervisor_stops() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(worker("c", &log))
            .start_link()
            .await
            .unwrap();
        assert_eq!(log.take(), events("start", &["a", "b", "c"]));
        assert_eq!(ids(&sup).await, ["a", "b", "c"]);
        let running = pids(&sup).await;

        let sup_exit = exit_of(sup.pid());
        sup.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(sup_exit.await, ExitReason::Shutdown);
        assert_eq!(log.take(), events("stop", &["c", "b", "a"]));
        assert!(running.iter().all(|&pid| !is_alive(pid)));
    });
}

#[test]
fn children_stop_in_reverse_order_when_the_supervisors_parent_exits() {
    grove_test(|_| async {
        let log = Log::new();
        let (started, sup) = oneshot::channel();
        let spec = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(worker("c", &log));
        // The parent starts the supervisor linked to itself, then fails when told to.
        let parent = spawn(move |mut ctx: Context<()>| async move {
            let sup = spec.start_link().await?;
            let _ = started.send(sup);
            let _ = ctx.recv().await;
            Err::<(), _>(ExitReason::error("the parent failed"))
        });
        let sup: SupervisorRef = sup.await.unwrap();
        assert_eq!(log.take(), events("start", &["a", "b", "c"]));
        let running = pids(&sup).await;

        let sup_exit = exit_of(sup.pid());
        grove_runtime::send(parent, ());
        // As OTP: a supervisor whose parent exits stops its children, then exits with the
        // parent's reason.
        assert_eq!(sup_exit.await, ExitReason::error("the parent failed"));
        assert_eq!(log.take(), events("stop", &["c", "b", "a"]));
        assert!(running.iter().all(|&pid| !is_alive(pid)));
    });
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn three_workers(supervisor: Supervisor, log: &Log) -> Supervisor {
    supervisor
        .child(worker("a", log))
        .child(worker("b", log))
        .child(worker("c", log))
}

#[test]
fn one_for_one_restarts_only_the_crashed_child() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = three_workers(Supervisor::one_for_one(), &log)
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        assert_eq!(crash(before[1]).await, boom());
        let after = pids(&sup).await;
        assert_eq!(after[0], before[0]);
        assert_ne!(after[1], before[1]);
        assert_eq!(after[2], before[2]);
        assert_eq!(log.take(), ["stop b", "start b"]);
        assert!(is_alive(after[1]));
    });
}

#[test]
fn one_for_all_stops_the_others_in_reverse_order_then_starts_all_in_order() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = three_workers(Supervisor::one_for_all(), &log)
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        crash(before[1]).await;
        let after = pids(&sup).await;
        for (old, new) in before.iter().zip(&after) {
            assert_ne!(old, new);
            assert!(!is_alive(*old) && is_alive(*new));
        }
        assert_eq!(
            log.take(),
            ["stop b", "stop c", "stop a", "start a", "start b", "start c"]
        );
    });
}

#[test]
fn one_for_all_forgets_a_temporary_sibling_it_stopped() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_all()
            .child(worker("a", &log))
            .child(worker("temp", &log).restart(Restart::Temporary))
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        crash(before[0]).await;
        assert_eq!(ids(&sup).await, ["a"]);
        assert!(!is_alive(before[1]));
        assert_eq!(log.take(), ["stop a", "stop temp", "start a"]);
    });
}

#[test]
fn rest_for_one_restarts_the_crashed_child_and_those_after_it() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::rest_for_one()
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(worker("c", &log))
            .child(worker("d", &log))
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        crash(before[1]).await;
        let after = pids(&sup).await;
        assert_eq!(
            after[0], before[0],
            "a child before the crashed one keeps running"
        );
        for i in 1..4 {
            assert_ne!(after[i], before[i]);
        }
        assert_eq!(
            log.take(),
            ["stop b", "stop d", "stop c", "start b", "start c", "start d"]
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Restart types
// ---------------------------------------------------------------------------------------------

#[test]
fn a_permanent_child_is_restarted_after_a_normal_exit_and_after_a_crash() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .intensity(10, Duration::from_secs(5))
            .child(worker("p", &log))
            .start_link()
            .await
            .unwrap();
        let first = pid_of(&sup, "p").await;

        assert_eq!(
            exit_child(first, ExitReason::Normal).await,
            ExitReason::Normal
        );
        let second = pid_of(&sup, "p").await;
        assert_ne!(second, first);

        crash(second).await;
        let third = pid_of(&sup, "p").await;
        assert_ne!(third, second);
        assert!(is_alive(third));
    });
}

#[test]
fn a_transient_child_is_restarted_only_after_an_abnormal_exit() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .intensity(10, Duration::from_secs(5))
            .child(worker("crashes", &log).restart(Restart::Transient))
            .child(worker("ends", &log).restart(Restart::Transient))
            .child(worker("shuts_down", &log).restart(Restart::Transient))
            .child(worker("shuts_down_with_data", &log).restart(Restart::Transient))
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;

        crash(before[0]).await;
        exit_child(before[1], ExitReason::Normal).await;
        exit_child(before[2], ExitReason::Shutdown).await;
        // OTP's `{shutdown, Term}`: a clean exit that carries data.
        exit_child(before[3], ExitReason::shutdown_with("drained")).await;

        let children = children(&sup).await;
        match children[0].status {
            ChildStatus::Running(pid) => assert_ne!(pid, before[0]),
            other => panic!("a crashed transient child must be restarted, is {other:?}"),
        }
        assert_eq!(children[1].status, ChildStatus::Stopped);
        assert_eq!(children[2].status, ChildStatus::Stopped);
        assert_eq!(children[3].status, ChildStatus::Stopped);
        // Not restarted, but its spec is kept: an operator may restart it.
        let again = sup.restart_child("ends").await.unwrap().unwrap();
        assert_eq!(pid_of(&sup, "ends").await, again);
    });
}

#[test]
fn a_temporary_child_is_never_restarted_and_its_spec_is_forgotten() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("keep", &log))
            .child(worker("crashes", &log).restart(Restart::Temporary))
            .child(worker("ends", &log).restart(Restart::Temporary))
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        crash(before[1]).await;
        exit_child(before[2], ExitReason::Normal).await;
        assert_eq!(ids(&sup).await, ["keep"]);
        assert_eq!(sup.count_children().await.unwrap().specs, 1);
        assert_eq!(log.take(), ["stop crashes", "stop ends"]);
        assert_eq!(
            sup.restart_child("crashes").await,
            Err(SupervisorError::NotFound("crashes".into()))
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Intensity and escalation
// ---------------------------------------------------------------------------------------------

#[test]
fn more_restarts_than_the_intensity_allows_stop_the_supervisor_and_all_its_children() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = Supervisor::one_for_one()
            .intensity(2, Duration::from_secs(5))
            .child(worker("flaky", &log))
            .child(worker("other", &log))
            .start_link()
            .await
            .unwrap();
        let other = pid_of(&sup, "other").await;
        let sup_exit = exit_of(sup.pid());

        let mut flaky = pid_of(&sup, "flaky").await;
        for _ in 0..2 {
            crash(flaky).await;
            flaky = pid_of(&sup, "flaky").await;
        }
        log.take();
        crash(flaky).await;

        assert_eq!(sup_exit.await, ExitReason::Shutdown);
        assert!(!is_alive(flaky) && !is_alive(other));
        assert_eq!(log.take(), ["stop flaky", "stop other"]);
        assert!(stats::snapshot().give_ups > before.give_ups);
    });
}

#[test]
fn restarts_within_the_intensity_keep_the_supervisor_running() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .intensity(2, Duration::from_secs(5))
            .child(worker("flaky", &log))
            .start_link()
            .await
            .unwrap();
        let mut flaky = pid_of(&sup, "flaky").await;
        for _ in 0..2 {
            crash(flaky).await;
            let restarted = pid_of(&sup, "flaky").await;
            assert_ne!(restarted, flaky);
            flaky = restarted;
        }
        assert!(is_alive(sup.pid()));
        assert!(is_alive(flaky));
    });
}

#[test]
fn a_failed_restart_is_retried_until_the_child_starts() {
    grove_test(|_| async {
        let log = Log::new();
        let refusals = Arc::new(AtomicU32::new(0));
        let before = stats::snapshot();
        let sup = Supervisor::one_for_one()
            .intensity(5, Duration::from_secs(5))
            .child(refusing_worker("a", &log, refusals.clone()))
            .child(worker("b", &log))
            .start_link()
            .await
            .unwrap();
        let a = pid_of(&sup, "a").await;
        let b = pid_of(&sup, "b").await;
        log.take();

        refusals.store(2, Ordering::SeqCst);
        crash(a).await;
        let restarted = wait_running(&sup, "a", a).await;
        assert!(is_alive(restarted));
        assert_eq!(log.take(), ["stop a", "refuse a", "refuse a", "start a"]);
        assert_eq!(pid_of(&sup, "b").await, b);
        assert!(stats::snapshot().start_failures >= before.start_failures + 2);
    });
}

#[test]
fn failed_restarts_count_towards_the_intensity() {
    grove_test(|_| async {
        let log = Log::new();
        let refusals = Arc::new(AtomicU32::new(0));
        let sup = Supervisor::one_for_one()
            .intensity(2, Duration::from_secs(5))
            .child(refusing_worker("a", &log, refusals.clone()))
            .child(worker("b", &log))
            .start_link()
            .await
            .unwrap();
        let a = pid_of(&sup, "a").await;
        let b = pid_of(&sup, "b").await;
        log.take();

        let sup_exit = exit_of(sup.pid());
        refusals.store(100, Ordering::SeqCst);
        crash(a).await;
        // The restart and two failed starts are three restarts: one more than allowed.
        assert_eq!(sup_exit.await, ExitReason::Shutdown);
        assert!(!is_alive(b));
        assert_eq!(log.take(), ["stop a", "refuse a", "refuse a", "stop b"]);
    });
}

#[tokio::test(start_paused = true)]
async fn restarts_older_than_the_period_no_longer_count() {
    in_process(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .intensity(1, Duration::from_secs(1))
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        crash(pid_of(&sup, "a").await).await;
        // On the paused clock: the first restart is now out of the period.
        tokio::time::sleep(Duration::from_secs(2)).await;
        crash(pid_of(&sup, "a").await).await;
        assert!(is_alive(sup.pid()), "one restart per period is allowed");

        let sup_exit = exit_of(sup.pid());
        crash(pid_of(&sup, "a").await).await;
        assert_eq!(sup_exit.await, ExitReason::Shutdown);
    })
    .await;
}

fn giving_up_inner(log: &Log) -> ChildSpec {
    Supervisor::one_for_one()
        .intensity(0, Duration::from_secs(5))
        .child(worker("w", log))
        .into_child_spec("inner")
}

#[test]
fn an_inner_supervisor_that_gives_up_is_restarted_by_the_outer_one() {
    grove_test(|_| async {
        let log = Log::new();
        let outer = Supervisor::one_for_one()
            .intensity(3, Duration::from_secs(5))
            .child(giving_up_inner(&log))
            .child(worker("sibling", &log))
            .start_link()
            .await
            .unwrap();
        let children = children(&outer).await;
        assert_eq!(children[0].kind, ChildKind::Supervisor);
        assert_eq!(children[1].kind, ChildKind::Worker);
        let inner = SupervisorRef::from_pid(pid_of(&outer, "inner").await);
        let sibling = pid_of(&outer, "sibling").await;
        let w = pid_of(&inner, "w").await;
        log.take();

        let inner_exit = exit_of(inner.pid());
        crash(w).await;
        // Intensity 0: the first crash is one too many; the inner supervisor gives up.
        assert_eq!(inner_exit.await, ExitReason::Shutdown);

        let new_inner = SupervisorRef::from_pid(pid_of(&outer, "inner").await);
        assert_ne!(new_inner, inner);
        let new_w = pid_of(&new_inner, "w").await;
        assert_ne!(new_w, w);
        assert!(is_alive(new_w));
        assert_eq!(pid_of(&outer, "sibling").await, sibling);
        assert_eq!(log.take(), ["stop w", "start w"]);
    });
}

#[test]
fn when_the_outer_intensity_is_exhausted_too_the_outer_supervisor_exits() {
    grove_test(|_| async {
        let log = Log::new();
        let outer = Supervisor::one_for_one()
            .intensity(0, Duration::from_secs(5))
            .child(worker("sibling", &log))
            .child(giving_up_inner(&log))
            .start_link()
            .await
            .unwrap();
        let inner = SupervisorRef::from_pid(pid_of(&outer, "inner").await);
        let sibling = pid_of(&outer, "sibling").await;
        let w = pid_of(&inner, "w").await;
        log.take();

        let outer_exit = exit_of(outer.pid());
        crash(w).await;
        assert_eq!(outer_exit.await, ExitReason::Shutdown);
        assert!(!is_alive(inner.pid()) && !is_alive(sibling));
        assert_eq!(log.take(), ["stop w", "stop sibling"]);
    });
}

#[test]
fn terminating_an_inner_supervisor_stops_its_children_first() {
    grove_test(|_| async {
        let log = Log::new();
        let inner = Supervisor::one_for_one()
            .child(worker("x", &log))
            .child(worker("y", &log))
            .into_child_spec("inner");
        let outer = Supervisor::one_for_one()
            .child(inner)
            .start_link()
            .await
            .unwrap();
        let inner = pid_of(&outer, "inner").await;
        log.take();

        let inner_exit = exit_of(inner);
        outer.terminate_child("inner").await.unwrap();
        assert_eq!(inner_exit.await, ExitReason::Shutdown);
        assert_eq!(log.take(), events("stop", &["y", "x"]));

        outer.restart_child("inner").await.unwrap();
        assert_eq!(log.take(), events("start", &["x", "y"]));
    });
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

#[test]
fn brutal_kill_kills_the_child_even_if_it_traps_exits() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker_with("k", &log, OnShutdown::Ignore).shutdown(Shutdown::BrutalKill))
            .start_link()
            .await
            .unwrap();
        let k = pid_of(&sup, "k").await;
        log.take();

        let k_exit = exit_of(k);
        sup.terminate_child("k").await.unwrap();
        assert_eq!(k_exit.await, ExitReason::Killed);
        assert_eq!(log.take(), ["stop k"], "a kill is not trapped");
    });
}

#[test]
fn a_child_that_ignores_its_shutdown_is_killed_after_the_timeout() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(
                worker_with("stubborn", &log, OnShutdown::Ignore)
                    .shutdown(Shutdown::Timeout(ms(50))),
            )
            .start_link()
            .await
            .unwrap();
        let stubborn = pid_of(&sup, "stubborn").await;
        log.take();

        let stubborn_exit = exit_of(stubborn);
        sup.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(stubborn_exit.await, ExitReason::Killed);
        // (Whether it got round to logging that it ignored the signal within the 50 ms depends
        // on the machine; that it was killed, and the stop order, do not.)
        let stops: Vec<_> = log
            .take()
            .into_iter()
            .filter(|event| event != "stubborn ignored shutdown")
            .collect();
        assert_eq!(stops, ["stop stubborn", "stop a"]);
        assert!(stats::snapshot().shutdown_timeouts > before.shutdown_timeouts);
    });
}

#[test]
fn a_child_that_cleans_up_within_the_timeout_exits_with_shutdown() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker_with("tidy", &log, OnShutdown::CleanUp).shutdown(Shutdown::Timeout(LONG)))
            .start_link()
            .await
            .unwrap();
        let tidy = pid_of(&sup, "tidy").await;
        log.take();

        let tidy_exit = exit_of(tidy);
        sup.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(tidy_exit.await, ExitReason::Shutdown);
        assert_eq!(log.take(), ["tidy cleaned up", "stop tidy"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Operator requests
// ---------------------------------------------------------------------------------------------

#[test]
fn which_children_and_count_children_describe_the_children() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(giving_up_inner(&log))
            .child(worker("b", &log))
            .start_link()
            .await
            .unwrap();
        let children = children(&sup).await;
        let kinds: Vec<_> = children.iter().map(|child| child.kind).collect();
        assert_eq!(
            kinds,
            [ChildKind::Worker, ChildKind::Supervisor, ChildKind::Worker]
        );
        assert!(children
            .iter()
            .all(|child| child.status.pid().is_some_and(is_alive)));
        assert_eq!(
            sup.count_children().await.unwrap(),
            ChildCounts {
                specs: 3,
                active: 3,
                supervisors: 1,
                workers: 2
            }
        );

        sup.terminate_child("b").await.unwrap();
        assert_eq!(
            sup.count_children().await.unwrap(),
            ChildCounts {
                specs: 3,
                active: 2,
                supervisors: 1,
                workers: 2
            }
        );
    });
}

#[test]
fn terminate_child_stops_it_and_keeps_its_spec_and_restart_child_runs_it_again() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = three_workers(Supervisor::one_for_one(), &log)
            .start_link()
            .await
            .unwrap();
        let before = pids(&sup).await;
        log.take();

        let b_exit = exit_of(before[1]);
        sup.terminate_child("b").await.unwrap();
        assert_eq!(b_exit.await, ExitReason::Shutdown);
        assert_eq!(log.take(), ["stop b"]);
        assert_eq!(ids(&sup).await, ["a", "b", "c"]);
        assert_eq!(status_of(&sup, "b").await, Some(ChildStatus::Stopped));
        // Terminating a stopped child is fine, and does nothing.
        sup.terminate_child("b").await.unwrap();

        let restarted = sup.restart_child("b").await.unwrap().unwrap();
        assert_ne!(restarted, before[1]);
        assert_eq!(
            pids(&sup).await,
            [before[0], restarted, before[2]],
            "a restarted child keeps its place"
        );
        assert_eq!(log.take(), ["start b"]);
        assert_eq!(
            sup.restart_child("b").await,
            Err(SupervisorError::Running("b".into(), restarted))
        );
    });
}

#[test]
fn terminate_child_forgets_a_temporary_child() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("temp", &log).restart(Restart::Temporary))
            .start_link()
            .await
            .unwrap();
        sup.terminate_child("temp").await.unwrap();
        assert!(ids(&sup).await.is_empty());
    });
}

#[test]
fn delete_child_removes_a_stopped_child_and_refuses_a_running_one() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = three_workers(Supervisor::one_for_one(), &log)
            .start_link()
            .await
            .unwrap();
        let b = pid_of(&sup, "b").await;

        assert_eq!(
            sup.delete_child("b").await,
            Err(SupervisorError::Running("b".into(), b))
        );
        assert!(is_alive(b));
        sup.terminate_child("b").await.unwrap();
        sup.delete_child("b").await.unwrap();
        assert_eq!(ids(&sup).await, ["a", "c"]);
        assert_eq!(
            sup.delete_child("b").await,
            Err(SupervisorError::NotFound("b".into()))
        );
    });
}

#[test]
fn start_child_adds_a_child_last_and_refuses_a_duplicate_id() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        log.take();

        let late = sup
            .start_child(worker("late", &log))
            .await
            .unwrap()
            .unwrap();
        assert!(is_alive(late));
        assert_eq!(log.take(), ["start late"]);
        assert_eq!(ids(&sup).await, ["a", "late"]);
        assert_eq!(pid_of(&sup, "late").await, late);

        // A run-time child is supervised like the others.
        crash(late).await;
        let restarted = pid_of(&sup, "late").await;
        assert_ne!(restarted, late);

        assert_eq!(
            sup.start_child(worker("late", &log)).await,
            Err(SupervisorError::Running("late".into(), restarted))
        );
        sup.terminate_child("late").await.unwrap();
        assert_eq!(
            sup.start_child(worker("late", &log)).await,
            Err(SupervisorError::AlreadyPresent("late".into()))
        );
        assert_eq!(ids(&sup).await, ["a", "late"]);
        log.take();

        // Once deleted, the id can be used again; the new child goes last.
        sup.delete_child("late").await.unwrap();
        sup.start_child(worker("late", &log)).await.unwrap();
        sup.start_child(worker("later", &log)).await.unwrap();
        assert_eq!(ids(&sup).await, ["a", "late", "later"]);
        assert_eq!(log.take(), events("start", &["late", "later"]));
    });
}

#[test]
fn start_child_whose_start_fails_returns_the_error_and_adds_nothing() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();

        assert_eq!(
            sup.start_child(failing("bad")).await,
            Err(SupervisorError::Start(StartError::Init(ExitReason::error(
                "refused to start"
            ))))
        );
        assert_eq!(ids(&sup).await, ["a"]);
        assert!(stats::snapshot().start_failures > before.start_failures);
        // Nothing of it is left behind: the id is free.
        sup.start_child(worker("bad", &log)).await.unwrap();
        assert_eq!(ids(&sup).await, ["a", "bad"]);
    });
}

#[test]
fn restart_child_whose_start_fails_returns_the_error_and_keeps_the_child_stopped() {
    grove_test(|_| async {
        let log = Log::new();
        let refusals = Arc::new(AtomicU32::new(0));
        let sup = Supervisor::one_for_one()
            .child(refusing_worker("a", &log, refusals.clone()))
            .start_link()
            .await
            .unwrap();
        sup.terminate_child("a").await.unwrap();
        refusals.store(1, Ordering::SeqCst);
        assert_eq!(
            sup.restart_child("a").await,
            Err(SupervisorError::Start(StartError::Init(ExitReason::error(
                "refused to start"
            ))))
        );
        assert_eq!(status_of(&sup, "a").await, Some(ChildStatus::Stopped));
        assert!(sup.restart_child("a").await.unwrap().is_some());
    });
}

#[test]
fn requests_about_an_unknown_id_are_not_found() {
    grove_test(|_| async {
        let sup = Supervisor::one_for_one().start_link().await.unwrap();
        let not_found = SupervisorError::NotFound("nobody".into());
        assert_eq!(sup.terminate_child("nobody").await, Err(not_found.clone()));
        assert_eq!(sup.restart_child("nobody").await, Err(not_found.clone()));
        assert_eq!(sup.delete_child("nobody").await, Err(not_found));
        assert!(children(&sup).await.is_empty());
        assert_eq!(sup.count_children().await.unwrap(), ChildCounts::default());
    });
}

#[test]
fn a_child_whose_start_ignores_is_kept_stopped() {
    grove_test(|_| async {
        let log = Log::new();
        let ignore = || ChildSpec::new("ignored", || async { Ok::<Option<Pid>, StartError>(None) });
        let sup = Supervisor::one_for_one()
            .child(ignore())
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        assert_eq!(status_of(&sup, "ignored").await, Some(ChildStatus::Stopped));
        assert_eq!(sup.restart_child("ignored").await, Ok(None));
        assert_eq!(
            sup.count_children().await.unwrap(),
            ChildCounts {
                specs: 2,
                active: 1,
                supervisors: 0,
                workers: 2
            }
        );
    });
}

#[test]
fn a_temporary_child_whose_start_ignores_is_not_kept() {
    grove_test(|_| async {
        let ignore = || {
            ChildSpec::new("ignored", || async { Ok::<Option<Pid>, StartError>(None) })
                .restart(Restart::Temporary)
        };
        let sup = Supervisor::one_for_one()
            .child(ignore())
            .start_link()
            .await
            .unwrap();
        assert!(ids(&sup).await.is_empty(), "kept during init");
        assert_eq!(sup.start_child(ignore()).await, Ok(None));
        assert!(ids(&sup).await.is_empty(), "kept by start_child");
    });
}

// ---------------------------------------------------------------------------------------------
// Failed starts while the supervisor starts
// ---------------------------------------------------------------------------------------------

#[test]
fn a_child_that_fails_to_start_fails_start_link_after_the_others_are_stopped() {
    grove_test(|_| async {
        let log = Log::new();
        let started = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(failing("c"))
            .child(worker("d", &log))
            .start_link()
            .await;
        match started {
            Err(StartError::Init(ExitReason::Error(message))) => {
                assert!(message.contains("\"c\""), "{message}");
                assert!(message.contains("refused to start"), "{message}");
            }
            other => panic!("expected an init error, got {other:?}"),
        }
        // Everything was stopped, in reverse order, before start_link returned.
        assert_eq!(log.take(), ["start a", "start b", "stop b", "stop a"]);
    });
}

#[test]
fn duplicate_child_ids_fail_the_start() {
    grove_test(|_| async {
        let log = Log::new();
        let started = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(worker("a", &log))
            .start_link()
            .await;
        assert!(matches!(started, Err(StartError::Init(_))), "{started:?}");
        assert_eq!(log.take(), ["start a", "stop a"]);
    });
}

fn explode() -> Result<Pid, StartError> {
    panic!("the start function panicked")
}

fn panicking(id: &'static str) -> ChildSpec {
    ChildSpec::new(id, || async { explode() })
}

#[test]
fn a_start_function_that_panics_at_run_time_is_a_failed_start() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        let a = pid_of(&sup, "a").await;
        let started = sup.start_child(panicking("p")).await;
        assert!(
            matches!(
                started,
                Err(SupervisorError::Start(StartError::Init(ExitReason::Panic(
                    _
                ))))
            ),
            "{started:?}"
        );
        assert!(
            is_alive(sup.pid()),
            "the supervisor must survive a bad start function"
        );
        assert_eq!(pid_of(&sup, "a").await, a);
    });
}

#[test]
fn a_start_function_that_panics_during_init_stops_the_children_already_started() {
    grove_test(|_| async {
        let log = Log::new();
        // Traps exits and ignores everything but a kill, so only a supervisor that actually
        // stops it (shutdown, then kill after 50 ms) ends it.
        let started = Supervisor::one_for_one()
            .child(
                worker_with("stubborn", &log, OnShutdown::Ignore)
                    .shutdown(Shutdown::Timeout(ms(50))),
            )
            .child(panicking("p"))
            .start_link()
            .await;
        // As OTP's `{failed_to_start_child, Id, Reason}`: the child's id and its panic.
        assert!(
            matches!(&started, Err(StartError::Init(ExitReason::Error(message)))
                if message.contains("\"p\"") && message.contains("panicked")),
            "{started:?}"
        );
        // start_link returns once the supervisor is gone; its children must be gone first.
        let events = log.events();
        assert!(
            events.contains(&"stop stubborn".to_string()),
            "the child started before the panic was not stopped: {events:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// GenServer children and registered supervisors
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counter {
    calls: u64,
}

enum CounterCall {
    Count,
    Panic,
}

impl GenServer for Counter {}

impl Call<CounterCall> for Counter {
    type Reply = u64;

    async fn handle_call(
        &mut self,
        request: CounterCall,
        from: ReplyTo<u64>,
        _: &mut ServerContext<Self>,
    ) {
        match request {
            CounterCall::Count => {
                self.calls += 1;
                from.reply(self.calls);
            }
            CounterCall::Panic => panic!("asked to panic"),
        }
    }
}

#[test]
fn a_gen_server_child_is_restarted_after_it_panics() {
    grove_test(|_| async {
        let sup = Supervisor::one_for_one()
            .child(ChildSpec::new("srv", || {
                Server::start_link(Counter::default())
            }))
            .start_link()
            .await
            .unwrap();
        let first = pid_of(&sup, "srv").await;
        let server = Server::<Counter>::from_pid(first);
        assert_eq!(server.call(CounterCall::Count).await.unwrap(), 1);
        assert_eq!(server.call(CounterCall::Count).await.unwrap(), 2);

        let exited = exit_of(first);
        assert!(server.call(CounterCall::Panic).await.is_err());
        match exited.await {
            ExitReason::Panic(message) => assert!(message.contains("asked to panic")),
            other => panic!("expected a panic exit, got {other:?}"),
        }

        let second = pid_of(&sup, "srv").await;
        assert_ne!(second, first);
        let server = Server::<Counter>::from_pid(second);
        assert_eq!(
            server.call(CounterCall::Count).await.unwrap(),
            1,
            "a restarted server starts from a fresh state"
        );
    });
}

#[test]
fn a_registered_supervisor_is_found_by_name() {
    const NAME: &str = "grove_otp_supervisor_tests_registered";
    grove_test(|_| async {
        let log = Log::new();
        let spec = Supervisor::one_for_one().child(worker("a", &log));
        let sup = spec
            .clone()
            .start_opt(StartOptions::new().name(NAME))
            .await
            .unwrap();
        assert_eq!(SupervisorRef::whereis(NAME), Some(sup));
        assert_eq!(grove_runtime::whereis(NAME), Some(sup.pid()));

        let found = SupervisorRef::whereis(NAME).unwrap();
        assert_eq!(ids(&found).await, ["a"]);

        assert_eq!(
            spec.start_opt(StartOptions::new().name(NAME)).await,
            Err(StartError::AlreadyStarted(sup.pid()))
        );
        assert_eq!(log.take(), ["start a"], "a refused start starts no child");

        found.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(SupervisorRef::whereis(NAME), None);
        assert_eq!(log.take(), ["stop a"]);
    });
}

#[test]
fn a_process_child_is_spawned_afresh_on_each_restart() {
    grove_test(|_| async {
        let (starts_tx, mut starts) = mpsc::unbounded_channel();
        let sup = Supervisor::one_for_one()
            .child(ChildSpec::process("proc", move |mut ctx: Context<Cmd>| {
                let starts = starts_tx.clone();
                async move {
                    let _ = starts.send(ctx.pid());
                    match ctx.recv().await.into_user() {
                        Some(Cmd::Exit(reason)) => reason,
                        None => ExitReason::Normal,
                    }
                }
            }))
            .start_link()
            .await
            .unwrap();
        let first = pid_of(&sup, "proc").await;
        assert_eq!(starts.recv().await, Some(first));

        crash(first).await;
        let second = pid_of(&sup, "proc").await;
        assert_ne!(second, first);
        assert_eq!(starts.recv().await, Some(second));

        let second_exit = exit_of(second);
        sup.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(second_exit.await, ExitReason::Shutdown);
    });
}

#[test]
fn a_child_started_without_a_link_is_linked_by_the_supervisor() {
    grove_test(|_| async {
        let sup = Supervisor::one_for_one()
            .child(ChildSpec::new("unlinked", || {
                Server::start(Counter::default())
            }))
            .start_link()
            .await
            .unwrap();
        let first = pid_of(&sup, "unlinked").await;
        let exited = exit_of(first);
        assert!(Server::<Counter>::from_pid(first)
            .call(CounterCall::Panic)
            .await
            .is_err());
        assert!(matches!(exited.await, ExitReason::Panic(_)));
        let second = pid_of(&sup, "unlinked").await;
        assert_ne!(second, first);

        let second_exit = exit_of(second);
        sup.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(second_exit.await, ExitReason::Shutdown);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_supervisor_starts_outside_any_process_but_start_link_needs_one() {
    let log = Log::new();
    let tree = || Supervisor::one_for_one().child(worker("a", &log));
    assert_eq!(tree().start_link().await, Err(StartError::NoParent));
    assert!(log.take().is_empty());

    let root = tree().start().await.unwrap();
    let a = pid_of(&root, "a").await;
    crash(a).await;
    assert_ne!(pid_of(&root, "a").await, a);
    root.stop(ExitReason::Shutdown).await.unwrap();
    assert_eq!(log.take(), ["start a", "stop a", "start a", "stop a"]);
}

// ---------------------------------------------------------------------------------------------
// Backoff (on a paused clock: timers fire only when every process waits, so what the test sees
// between a crash and the delayed restart does not depend on the machine's speed)
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn with_backoff_a_crashed_child_is_restarting_until_its_delay_is_over() {
    in_process(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .backoff(Backoff::exponential(ms(50), ms(200)))
            .child(worker("a", &log))
            .child(worker("b", &log))
            .start_link()
            .await
            .unwrap();
        let first = pid_of(&sup, "a").await;
        let b = pid_of(&sup, "b").await;

        let crashed_at = Instant::now();
        crash(first).await;
        assert_eq!(status_of(&sup, "a").await, Some(ChildStatus::Restarting));
        // Waiting for a restart, the child can be neither deleted nor restarted by hand.
        assert_eq!(
            sup.delete_child("a").await,
            Err(SupervisorError::Restarting("a".into()))
        );
        assert_eq!(
            sup.restart_child("a").await,
            Err(SupervisorError::Restarting("a".into()))
        );
        assert_eq!(sup.count_children().await.unwrap().active, 1);

        let second = wait_running(&sup, "a", first).await;
        assert!(is_alive(second));
        assert!(
            crashed_at.elapsed() >= ms(50),
            "restarted before its backoff"
        );
        assert_eq!(pid_of(&sup, "b").await, b);
        sup.stop(ExitReason::Shutdown).await.unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn terminate_child_cancels_a_restart_that_waits_for_its_backoff() {
    in_process(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .backoff(Backoff::exponential(ms(50), ms(200)))
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        crash(pid_of(&sup, "a").await).await;
        assert_eq!(status_of(&sup, "a").await, Some(ChildStatus::Restarting));
        sup.terminate_child("a").await.unwrap();
        log.take();
        // Past the backoff: the cancelled restart did not happen.
        tokio::time::sleep(ms(500)).await;
        assert_eq!(status_of(&sup, "a").await, Some(ChildStatus::Stopped));
        assert!(log.take().is_empty());
        sup.stop(ExitReason::Shutdown).await.unwrap();
    })
    .await;
}

/// A child that crashes as soon as it starts, reporting the (virtual) time of each start.
fn crash_looping(starts: mpsc::UnboundedSender<Instant>) -> ChildSpec {
    ChildSpec::new("looping", move || {
        let _ = starts.send(Instant::now());
        let spawned = spawn_opt(SpawnOptions::new().link(true), |_: Context<()>| async {
            Err::<(), _>(ExitReason::error("crash loop"))
        });
        async move {
            spawned
                .map(|spawned| spawned.addr)
                .map_err(|error| StartError::Init(ExitReason::error(error)))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn backoff_stays_at_its_max_while_a_child_keeps_crashing() {
    let gaps = in_process(|_| async {
        let (starts_tx, mut starts) = mpsc::unbounded_channel();
        let sup = Supervisor::one_for_one()
            .intensity(100, Duration::from_secs(60))
            .backoff(Backoff::exponential(ms(50), ms(200)))
            .child(crash_looping(starts_tx))
            .start_link()
            .await
            .unwrap();
        let mut times = Vec::new();
        for _ in 0..6 {
            times.push(starts.recv().await.unwrap());
        }
        sup.stop(ExitReason::Shutdown).await.unwrap();
        times
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).as_millis())
            .collect::<Vec<_>>()
    })
    .await;
    // The child never stays up: each delay doubles up to the max and stays there.
    assert_eq!(gaps, [50, 100, 200, 200, 200]);
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

#[test]
fn stats_count_starts_restarts_stops_and_give_ups() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();

        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .start_link()
            .await
            .unwrap();
        crash(pid_of(&sup, "a").await).await;
        pid_of(&sup, "a").await;
        sup.stop(ExitReason::Shutdown).await.unwrap();

        let fragile = Supervisor::one_for_one()
            .intensity(0, Duration::from_secs(5))
            .child(worker("b", &log))
            .start_link()
            .await
            .unwrap();
        let fragile_exit = exit_of(fragile.pid());
        crash(pid_of(&fragile, "b").await).await;
        assert_eq!(fragile_exit.await, ExitReason::Shutdown);

        let after = stats::snapshot();
        // Other tests run in parallel and count too: at least ours were counted.
        assert!(after.children_started >= before.children_started + 3);
        assert!(after.restarts > before.restarts);
        assert!(after.children_stopped > before.children_stopped);
        assert!(after.give_ups > before.give_ups);
    });
}

/// OTP 25 lists `which_children` in reverse start order; Grove lists them in start order (see
/// "Where the behaviours differ from OTP" in docs/semantics.md), also for children added later.
#[test]
fn which_children_lists_children_in_start_order() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = Supervisor::one_for_one()
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(worker("c", &log))
            .start_link()
            .await
            .unwrap();
        sup.start_child(worker("d", &log)).await.unwrap();
        assert_eq!(ids(&sup).await, ["a", "b", "c", "d"]);
    });
}
