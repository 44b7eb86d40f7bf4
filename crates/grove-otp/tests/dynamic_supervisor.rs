//! `DynamicSupervisor` through its public API: children started on demand and identified by pid,
//! the link to each child, `max_children`, the three restart types, restart intensity,
//! `terminate_child`, shutdown of all children (timeouts and brutal kills), failed and panicking
//! start functions, and a dynamic supervisor as the child of a `Supervisor`.
//!
//! Synchronization is as in `supervisor.rs`: a test child is stopped or crashed with
//! [`support::exit_child`], which returns once the child has exited; the dynamic supervisor
//! traps exits and is linked to it, and a link hears of an exit before an exit watch does, so
//! the next request to the supervisor is answered after it handled the exit (a restart happens
//! inside that handling). The only polling ([`wait_for_restart`]) is for a failed restart, which
//! is retried through the supervisor's mailbox. No test asserts on how long something took.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use grove_otp::gen_server::StartOptions;
use grove_otp::supervisor::{
    stats, ChildCounts, ChildKind, ChildSpec, ChildStatus, DynamicSupervisor, DynamicSupervisorRef,
    Restart, Shutdown, Supervisor, SupervisorError,
};
use grove_otp::StartError;
use grove_runtime::{is_alive, spawn, spawn_opt, Context, ExitReason, Pid, SpawnOptions};
use support::*;
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The pids of the supervisor's children, sorted (it lists them in no particular order); panics
/// if one is not running.
async fn running(sup: &DynamicSupervisorRef) -> Vec<Pid> {
    let mut pids: Vec<Pid> = sup
        .which_children()
        .await
        .expect("which_children failed")
        .into_iter()
        .map(|child| match child.status {
            ChildStatus::Running(pid) => pid,
            other => panic!("child {:?} is not running: {other:?}", child.id),
        })
        .collect();
    pids.sort();
    pids
}

fn sorted(mut pids: Vec<Pid>) -> Vec<Pid> {
    pids.sort();
    pids
}

/// The pid of the only running child with this id.
async fn pid_with_id(sup: &DynamicSupervisorRef, id: &str) -> Pid {
    let children: Vec<_> = sup
        .which_children()
        .await
        .expect("which_children failed")
        .into_iter()
        .filter(|child| &*child.id == id)
        .collect();
    match children.as_slice() {
        [child] => child.status.pid().expect("the child is not running"),
        other => panic!("expected one child {id:?}, found {other:?}"),
    }
}

async fn count(sup: &DynamicSupervisorRef) -> usize {
    sup.count_children()
        .await
        .expect("count_children failed")
        .active
}

fn workers(n: usize) -> ChildCounts {
    ChildCounts {
        specs: n,
        active: n,
        supervisors: 0,
        workers: n,
    }
}

/// Starts `spec` under `sup` and returns the child's pid; panics on failure or `ignore`.
async fn start(sup: &DynamicSupervisorRef, spec: ChildSpec) -> Pid {
    sup.start_child(spec)
        .await
        .expect("start_child failed")
        .expect("the child was ignored")
}

/// Polls until the child `id` runs as a pid other than `old`, and returns it. Only for restarts
/// that go through the supervisor's mailbox (a failed start being retried).
async fn wait_for_restart(sup: &DynamicSupervisorRef, id: &str, old: Pid) -> Pid {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let found = sup
            .which_children()
            .await
            .expect("which_children failed")
            .into_iter()
            .find(|child| &*child.id == id)
            .and_then(|child| child.status.pid());
        if let Some(pid) = found {
            if pid != old {
                return pid;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "child {id:?} never came back"
        );
        tokio::time::sleep(ms(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Starting children, introspection, links
// ---------------------------------------------------------------------------------------------

#[test]
fn start_child_returns_distinct_pids_that_which_children_and_count_children_report() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        assert!(sup.which_children().await.unwrap().is_empty());
        assert_eq!(sup.count_children().await.unwrap(), ChildCounts::default());

        // Children are alike: the same spec (and id) may be started any number of times.
        let spec = worker("w", &log);
        let first = start(&sup, spec.clone()).await;
        let second = start(&sup, spec.clone()).await;
        let third = start(&sup, spec).await;
        assert_ne!(first, second);
        assert_ne!(first, third);
        assert_ne!(second, third);
        assert!([first, second, third].into_iter().all(is_alive));
        assert_eq!(log.take(), events("start", &["w", "w", "w"]));

        let children = sup.which_children().await.unwrap();
        assert_eq!(children.len(), 3);
        assert!(children
            .iter()
            .all(|child| &*child.id == "w" && child.kind == ChildKind::Worker));
        assert_eq!(running(&sup).await, sorted(vec![first, second, third]));
        assert_eq!(sup.count_children().await.unwrap(), workers(3));
    });
}

#[test]
fn children_are_linked_so_killing_the_supervisor_takes_them_down() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let a = start(&sup, worker("a", &log)).await;
        let b = start(&sup, worker("b", &log)).await;
        let (a_exit, b_exit, sup_exit) = (exit_of(a), exit_of(b), exit_of(sup.pid()));

        grove_runtime::exit(sup.pid(), ExitReason::Kill);
        assert_eq!(sup_exit.await, ExitReason::Killed);
        assert_eq!(a_exit.await, ExitReason::Killed);
        assert_eq!(b_exit.await, ExitReason::Killed);
        assert!(!is_alive(a) && !is_alive(b));
    });
}

#[test]
fn a_child_started_without_a_link_is_linked_by_the_supervisor() {
    grove_test(|_| async {
        // A plain process spawned without a link: only the supervisor's own link can tell it of
        // the child's exit.
        let unlinked = ChildSpec::new("unlinked", || async {
            Ok::<_, StartError>(spawn(|mut ctx: Context<()>| async move {
                let _ = ctx.recv().await;
            }))
        });
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let first = start(&sup, unlinked).await;

        let first_exit = exit_of(first);
        grove_runtime::exit(first, boom());
        assert_eq!(first_exit.await, boom());
        let [second] = running(&sup).await[..] else {
            panic!("expected exactly one child");
        };
        assert_ne!(second, first, "the crashed child was not restarted");
        assert!(is_alive(second));

        // And the link works both ways: the restarted child goes down with the supervisor.
        let second_exit = exit_of(second);
        grove_runtime::exit(sup.pid(), ExitReason::Kill);
        assert_eq!(second_exit.await, ExitReason::Killed);
    });
}

// ---------------------------------------------------------------------------------------------
// max_children
// ---------------------------------------------------------------------------------------------

#[test]
fn max_children_refuses_a_start_past_the_cap_until_a_child_is_terminated() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new()
            .max_children(2)
            .start_link()
            .await
            .unwrap();
        let a = start(&sup, worker("a", &log)).await;
        let b = start(&sup, worker("b", &log)).await;
        log.take();

        assert_eq!(
            sup.start_child(worker("c", &log)).await,
            Err(SupervisorError::MaxChildren(2))
        );
        assert!(log.take().is_empty(), "a refused child must not be started");
        assert_eq!(running(&sup).await, sorted(vec![a, b]));

        sup.terminate_child(a).await.unwrap();
        let c = start(&sup, worker("c", &log)).await;
        assert!(is_alive(c));
        assert_eq!(running(&sup).await, sorted(vec![b, c]));
        assert_eq!(log.take(), ["stop a", "start c"]);
        assert_eq!(
            sup.start_child(worker("d", &log)).await,
            Err(SupervisorError::MaxChildren(2))
        );
    });
}

#[test]
fn a_temporary_child_that_exits_frees_its_place_under_max_children() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new()
            .max_children(1)
            .start_link()
            .await
            .unwrap();
        let temp = start(&sup, worker("temp", &log).restart(Restart::Temporary)).await;
        assert_eq!(
            sup.start_child(worker("b", &log)).await,
            Err(SupervisorError::MaxChildren(1))
        );
        exit_child(temp, ExitReason::Normal).await;
        let b = start(&sup, worker("b", &log)).await;
        assert_eq!(running(&sup).await, [b]);
    });
}

// ---------------------------------------------------------------------------------------------
// Restart types
// ---------------------------------------------------------------------------------------------

#[test]
fn a_permanent_child_is_restarted_under_a_new_pid_after_a_crash_and_a_normal_exit() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new()
            .intensity(10, Duration::from_secs(5))
            .start_link()
            .await
            .unwrap();
        let a = start(&sup, worker("a", &log)).await;
        let b = start(&sup, worker("b", &log)).await;
        log.take();

        assert_eq!(crash(a).await, boom());
        let a2 = pid_with_id(&sup, "a").await;
        assert_ne!(a2, a);
        assert!(is_alive(a2));
        assert_eq!(pid_with_id(&sup, "b").await, b, "a sibling is left alone");
        assert_eq!(sup.count_children().await.unwrap(), workers(2));
        assert_eq!(log.take(), ["stop a", "start a"]);

        exit_child(a2, ExitReason::Normal).await;
        let a3 = pid_with_id(&sup, "a").await;
        assert_ne!(a3, a2);
        assert!(is_alive(a3));
        assert_eq!(count(&sup).await, 2);
        assert_eq!(log.take(), ["stop a", "start a"]);
    });
}

#[test]
fn a_transient_child_is_restarted_after_an_abnormal_exit_only() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new()
            .intensity(10, Duration::from_secs(5))
            .start_link()
            .await
            .unwrap();
        let transient = |id| worker(id, &log).restart(Restart::Transient);
        let crashes = start(&sup, transient("crashes")).await;
        let ends = start(&sup, transient("ends")).await;
        let shuts_down = start(&sup, transient("shuts_down")).await;
        log.take();

        crash(crashes).await;
        let restarted = pid_with_id(&sup, "crashes").await;
        assert_ne!(restarted, crashes);
        assert!(is_alive(restarted));
        assert_eq!(log.take(), ["stop crashes", "start crashes"]);

        exit_child(ends, ExitReason::Normal).await;
        exit_child(shuts_down, ExitReason::Shutdown).await;
        assert_eq!(running(&sup).await, [restarted]);
        assert_eq!(sup.count_children().await.unwrap(), workers(1));
        assert_eq!(log.take(), ["stop ends", "stop shuts_down"]);
    });
}

#[test]
fn a_temporary_child_is_never_restarted_and_disappears() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let keep = start(&sup, worker("keep", &log)).await;
        let crashes = start(&sup, worker("crashes", &log).restart(Restart::Temporary)).await;
        let ends = start(&sup, worker("ends", &log).restart(Restart::Temporary)).await;
        log.take();

        crash(crashes).await;
        exit_child(ends, ExitReason::Normal).await;
        assert_eq!(running(&sup).await, [keep]);
        assert_eq!(sup.count_children().await.unwrap(), workers(1));
        assert_eq!(log.take(), ["stop crashes", "stop ends"]);
        // Forgotten: there is nothing left to terminate either.
        assert_eq!(
            sup.terminate_child(crashes).await,
            Err(SupervisorError::NotFound(crashes.to_string()))
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Intensity
// ---------------------------------------------------------------------------------------------

#[test]
fn more_restarts_than_the_intensity_allows_stop_the_supervisor_and_its_children() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = DynamicSupervisor::new()
            .intensity(1, Duration::from_secs(5))
            .start_link()
            .await
            .unwrap();
        let flaky = start(&sup, worker("flaky", &log)).await;
        let other = start(&sup, worker("other", &log)).await;
        let other_exit = exit_of(other);
        let sup_exit = exit_of(sup.pid());

        crash(flaky).await;
        let flaky = pid_with_id(&sup, "flaky").await;
        assert!(is_alive(sup.pid()), "one restart is within the intensity");
        log.take();

        crash(flaky).await;
        assert_eq!(sup_exit.await, ExitReason::Shutdown);
        assert_eq!(other_exit.await, ExitReason::Shutdown);
        assert!(!is_alive(flaky) && !is_alive(other));
        assert_eq!(log.take(), ["stop flaky", "stop other"]);
        assert!(stats::snapshot().give_ups > before.give_ups);
        assert!(matches!(
            sup.count_children().await,
            Err(SupervisorError::Call(_))
        ));
    });
}

#[test]
fn a_failed_restart_is_retried_until_the_child_starts() {
    grove_test(|_| async {
        let log = Log::new();
        let refusals = Arc::new(AtomicU32::new(0));
        let sup = DynamicSupervisor::new()
            .intensity(5, Duration::from_secs(5))
            .start_link()
            .await
            .unwrap();
        let a = start(&sup, refusing_worker("a", &log, refusals.clone())).await;
        let b = start(&sup, worker("b", &log)).await;
        log.take();

        refusals.store(2, Ordering::SeqCst);
        crash(a).await;
        let restarted = wait_for_restart(&sup, "a", a).await;
        assert!(is_alive(restarted));
        assert_eq!(log.take(), ["stop a", "refuse a", "refuse a", "start a"]);
        assert_eq!(running(&sup).await, sorted(vec![restarted, b]));
    });
}

#[test]
fn failed_restarts_count_towards_the_intensity() {
    grove_test(|_| async {
        let log = Log::new();
        let refusals = Arc::new(AtomicU32::new(0));
        let sup = DynamicSupervisor::new()
            .intensity(2, Duration::from_secs(5))
            .start_link()
            .await
            .unwrap();
        let a = start(&sup, refusing_worker("a", &log, refusals.clone())).await;
        let b = start(&sup, worker("b", &log)).await;
        log.take();

        let sup_exit = exit_of(sup.pid());
        refusals.store(100, Ordering::SeqCst);
        crash(a).await;
        // The restart and two retries are three restarts: one more than allowed.
        assert_eq!(sup_exit.await, ExitReason::Shutdown);
        assert!(!is_alive(b));
        assert_eq!(log.take(), ["stop a", "refuse a", "refuse a", "stop b"]);
    });
}

/// Lets a test hold a child's next start: the start reports on `refusing`, waits for `go`, then
/// fails. Armed by putting the pair in; a start finding it empty starts the child.
type Gate = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// A child that exits when sent [`Cmd::Exit`], whose start can be held and failed with a [`Gate`].
fn gated(id: &'static str, gate: Gate) -> ChildSpec {
    ChildSpec::new(id, move || {
        let held = gate.lock().unwrap().take();
        async move {
            if let Some((refusing, go)) = held {
                let _ = refusing.send(());
                let _ = go.await;
                return Err(StartError::Init(ExitReason::error("refused to start")));
            }
            spawn_opt(
                SpawnOptions::new().link(true),
                |mut ctx: Context<Cmd>| async move {
                    match ctx.recv().await.into_user() {
                        Some(Cmd::Exit(reason)) => reason,
                        None => ExitReason::Normal,
                    }
                },
            )
            .map(|spawned| spawned.addr)
            .map_err(|error| StartError::Init(ExitReason::error(error)))
        }
    })
}

#[test]
fn a_child_waiting_for_a_retried_restart_keeps_its_place_under_max_children() {
    grove_test(|_| async {
        let log = Log::new();
        let gate: Gate = Arc::default();
        let sup = DynamicSupervisor::new()
            .max_children(1)
            .start_link()
            .await
            .unwrap();
        let a = start(&sup, gated("a", gate.clone())).await;

        let (refusing_tx, refusing) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        *gate.lock().unwrap() = Some((refusing_tx, go_rx));
        crash(a).await;
        // The supervisor is now inside the first restart of `a`, which will fail.
        refusing.await.unwrap();
        // Put a start request in its mailbox (a call delivers its request on its first poll),
        // then let the restart fail: the retry is queued behind the request.
        let mut start_b = std::pin::pin!(sup.start_child(worker("b", &log)));
        std::future::poll_fn(|cx| {
            assert!(start_b.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        go.send(()).unwrap();
        let started_b = start_b.await;

        let restarted = wait_for_restart(&sup, "a", a).await;
        assert!(is_alive(restarted));
        let active = count(&sup).await;
        assert!(active <= 1, "{active} children run under max_children(1)");
        assert_eq!(started_b, Err(SupervisorError::MaxChildren(1)));
    });
}

// ---------------------------------------------------------------------------------------------
// terminate_child
// ---------------------------------------------------------------------------------------------

#[test]
fn terminate_child_stops_the_child_and_it_is_not_restarted() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let a = start(&sup, worker("a", &log)).await;
        let b = start(&sup, worker("b", &log)).await;
        log.take();

        let a_exit = exit_of(a);
        sup.terminate_child(a).await.unwrap();
        assert_eq!(a_exit.await, ExitReason::Shutdown);
        assert_eq!(running(&sup).await, [b]);
        assert_eq!(sup.count_children().await.unwrap(), workers(1));
        assert_eq!(
            log.take(),
            ["stop a"],
            "a permanent child terminated on request stays down"
        );
        assert_eq!(
            sup.terminate_child(a).await,
            Err(SupervisorError::NotFound(a.to_string()))
        );
    });
}

#[test]
fn terminate_child_of_a_pid_that_is_not_a_child_is_not_found() {
    grove_test(|ctx| async move {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let a = start(&sup, worker("a", &log)).await;
        // A live process that is not its child (the test itself), and the supervisor itself.
        for stranger in [ctx.pid(), sup.pid()] {
            assert_eq!(
                sup.terminate_child(stranger).await,
                Err(SupervisorError::NotFound(stranger.to_string()))
            );
        }
        assert!(is_alive(ctx.pid()) && is_alive(sup.pid()));
        assert_eq!(running(&sup).await, [a]);
    });
}

#[test]
fn terminate_child_kills_a_brutal_kill_child_even_if_it_traps_exits() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let k = start(
            &sup,
            worker_with("k", &log, OnShutdown::Ignore).shutdown(Shutdown::BrutalKill),
        )
        .await;
        log.take();

        let k_exit = exit_of(k);
        sup.terminate_child(k).await.unwrap();
        assert_eq!(k_exit.await, ExitReason::Killed);
        assert_eq!(log.take(), ["stop k"], "a kill is not trapped");
        assert!(running(&sup).await.is_empty());
    });
}

#[test]
fn terminate_child_kills_a_child_that_ignores_its_shutdown_after_the_timeout() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let stubborn = start(
            &sup,
            worker_with("stubborn", &log, OnShutdown::Ignore).shutdown(Shutdown::Timeout(ms(50))),
        )
        .await;

        let stubborn_exit = exit_of(stubborn);
        sup.terminate_child(stubborn).await.unwrap();
        assert_eq!(stubborn_exit.await, ExitReason::Killed);
        assert!(running(&sup).await.is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// Stopping the supervisor
// ---------------------------------------------------------------------------------------------

#[test]
fn stop_stops_every_child_and_kills_those_that_outlive_their_shutdown() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let plain = start(&sup, worker("plain", &log)).await;
        let tidy = start(
            &sup,
            worker_with("tidy", &log, OnShutdown::CleanUp).shutdown(Shutdown::Timeout(LONG)),
        )
        .await;
        let stubborn = start(
            &sup,
            worker_with("stubborn", &log, OnShutdown::Ignore).shutdown(Shutdown::Timeout(ms(50))),
        )
        .await;
        let brutal = start(
            &sup,
            worker_with("brutal", &log, OnShutdown::Ignore).shutdown(Shutdown::BrutalKill),
        )
        .await;
        let exits = [plain, tidy, stubborn, brutal].map(exit_of);
        log.take();

        sup.stop(ExitReason::Normal).await.unwrap();
        let [plain_exit, tidy_exit, stubborn_exit, brutal_exit] = exits;
        assert_eq!(plain_exit.await, ExitReason::Shutdown);
        assert_eq!(tidy_exit.await, ExitReason::Shutdown);
        assert_eq!(stubborn_exit.await, ExitReason::Killed);
        assert_eq!(brutal_exit.await, ExitReason::Killed);
        assert!([plain, tidy, stubborn, brutal]
            .into_iter()
            .all(|pid| !is_alive(pid)));
        assert!(!is_alive(sup.pid()));

        // All are told at once, so only the set of events is fixed, not their order; whether
        // the stubborn child got round to logging that it ignored the signal within its 50 ms
        // depends on the machine.
        let mut stopped: Vec<_> = log
            .take()
            .into_iter()
            .filter(|event| event != "stubborn ignored shutdown")
            .collect();
        stopped.sort();
        assert_eq!(
            stopped,
            [
                "stop brutal",
                "stop plain",
                "stop stubborn",
                "stop tidy",
                "tidy cleaned up"
            ]
        );
        assert!(stats::snapshot().shutdown_timeouts > before.shutdown_timeouts);
    });
}

#[test]
fn stop_returns_only_once_every_child_has_exited() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let spec =
            worker_with("stubborn", &log, OnShutdown::Ignore).shutdown(Shutdown::Timeout(ms(20)));
        let children = [
            start(&sup, spec.clone()).await,
            start(&sup, spec.clone()).await,
            start(&sup, spec).await,
        ];
        sup.stop(ExitReason::Shutdown).await.unwrap();
        // No waiting on exit watches: by the time stop returns, all are gone.
        assert!(children.into_iter().all(|pid| !is_alive(pid)));
        let stops = log
            .events()
            .iter()
            .filter(|event| *event == "stop stubborn")
            .count();
        assert_eq!(stops, 3);
    });
}

#[test]
fn when_its_parent_exits_the_supervisor_stops_its_children_and_exits_with_its_reason() {
    grove_test(|_| async {
        let log = Log::new();
        let (started, sup) = oneshot::channel();
        let parent = spawn(move |mut ctx: Context<()>| async move {
            let sup = DynamicSupervisor::new().start_link().await?;
            let _ = started.send(sup);
            let _ = ctx.recv().await;
            Err::<(), _>(ExitReason::error("the parent failed"))
        });
        let sup: DynamicSupervisorRef = sup.await.unwrap();
        let a = start(&sup, worker("a", &log)).await;
        let b = start(&sup, worker("b", &log)).await;
        let (a_exit, b_exit, sup_exit) = (exit_of(a), exit_of(b), exit_of(sup.pid()));

        grove_runtime::send(parent, ());
        assert_eq!(sup_exit.await, ExitReason::error("the parent failed"));
        assert_eq!(a_exit.await, ExitReason::Shutdown);
        assert_eq!(b_exit.await, ExitReason::Shutdown);
    });
}

// ---------------------------------------------------------------------------------------------
// Failed starts
// ---------------------------------------------------------------------------------------------

#[test]
fn a_start_function_that_fails_is_an_error_and_adds_no_child() {
    grove_test(|_| async {
        let log = Log::new();
        let before = stats::snapshot();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let a = start(&sup, worker("a", &log)).await;

        assert_eq!(
            sup.start_child(failing("bad")).await,
            Err(SupervisorError::Start(StartError::Init(ExitReason::error(
                "refused to start"
            ))))
        );
        assert_eq!(running(&sup).await, [a]);
        assert_eq!(sup.count_children().await.unwrap(), workers(1));
        assert!(stats::snapshot().start_failures > before.start_failures);
    });
}

#[test]
fn a_start_that_ignores_returns_none_and_adds_no_child() {
    grove_test(|_| async {
        let sup = DynamicSupervisor::new()
            .max_children(1)
            .start_link()
            .await
            .unwrap();
        let ignore = ChildSpec::new("ignored", || async { Ok::<Option<Pid>, StartError>(None) });
        assert_eq!(sup.start_child(ignore.clone()).await, Ok(None));
        // An ignored child takes no place: it can be asked for again, past max_children.
        assert_eq!(sup.start_child(ignore).await, Ok(None));
        assert_eq!(sup.count_children().await.unwrap(), ChildCounts::default());
    });
}

fn explode() -> Result<Pid, StartError> {
    panic!("the start function panicked")
}

#[test]
fn a_start_function_that_panics_is_a_failed_start_and_the_supervisor_survives() {
    grove_test(|_| async {
        let log = Log::new();
        let sup = DynamicSupervisor::new().start_link().await.unwrap();
        let a = start(&sup, worker("a", &log)).await;

        let started = sup
            .start_child(ChildSpec::new("p", || async { explode() }))
            .await;
        match started {
            Err(SupervisorError::Start(StartError::Init(ExitReason::Panic(message)))) => {
                assert!(message.contains("the start function panicked"), "{message}");
            }
            other => panic!("expected a panicking start, got {other:?}"),
        }
        assert!(
            is_alive(sup.pid()),
            "the supervisor must survive a bad start function"
        );
        assert!(is_alive(a));
        assert_eq!(running(&sup).await, [a]);
        // And it goes on serving requests.
        let b = start(&sup, worker("b", &log)).await;
        assert_eq!(running(&sup).await, sorted(vec![a, b]));
    });
}

// ---------------------------------------------------------------------------------------------
// Under a Supervisor; registered names
// ---------------------------------------------------------------------------------------------

#[test]
fn into_child_spec_runs_it_under_a_supervisor_that_restarts_it_after_a_kill() {
    grove_test(|_| async {
        let outer = Supervisor::one_for_one()
            .child(DynamicSupervisor::new().into_child_spec("pool"))
            .start_link()
            .await
            .unwrap();
        let children = outer.which_children().await.unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(&*children[0].id, "pool");
        assert_eq!(children[0].kind, ChildKind::Supervisor);
        assert_eq!(outer.count_children().await.unwrap().supervisors, 1);
        let first = pid_of(&outer, "pool").await;
        assert!(is_alive(first));

        let first_exit = exit_of(first);
        grove_runtime::exit(first, ExitReason::Kill);
        assert_eq!(first_exit.await, ExitReason::Killed);
        let second = pid_of(&outer, "pool").await;
        assert_ne!(second, first);
        assert!(is_alive(second));

        // Stopped with the outer supervisor (an infinite shutdown: it stops its children first).
        let second_exit = exit_of(second);
        outer.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(second_exit.await, ExitReason::Shutdown);
    });
}

#[test]
fn a_registered_dynamic_supervisor_under_a_supervisor_comes_back_empty_after_a_kill() {
    const NAME: &str = "grove_otp_dynamic_supervisor_tests_pool";
    grove_test(|_| async {
        let log = Log::new();
        let pool = ChildSpec::new("pool", || {
            DynamicSupervisor::new().start_opt(StartOptions::new().link().name(NAME))
        })
        .supervisor();
        let outer = Supervisor::one_for_one()
            .child(pool)
            .start_link()
            .await
            .unwrap();
        let first = DynamicSupervisorRef::whereis(NAME).expect("the pool is not registered");
        assert_eq!(first.pid(), pid_of(&outer, "pool").await);
        let a = start(&first, worker("a", &log)).await;
        let a_exit = exit_of(a);

        let first_exit = exit_of(first.pid());
        grove_runtime::exit(first.pid(), ExitReason::Kill);
        assert_eq!(first_exit.await, ExitReason::Killed);
        assert_eq!(
            a_exit.await,
            ExitReason::Killed,
            "its children went down with it"
        );

        // Asked first: the outer supervisor answers once it has handled the exit (restarted it).
        let second_pid = pid_of(&outer, "pool").await;
        let second = DynamicSupervisorRef::whereis(NAME).expect("the pool was not re-registered");
        assert_ne!(second, first);
        assert_eq!(second.pid(), second_pid);
        assert!(
            running(&second).await.is_empty(),
            "a restarted pool starts empty"
        );

        // Stopping the outer supervisor stops the pool, which stops its children first.
        let b = start(&second, worker("b", &log)).await;
        log.take();
        let b_exit = exit_of(b);
        outer.stop(ExitReason::Shutdown).await.unwrap();
        assert_eq!(b_exit.await, ExitReason::Shutdown);
        assert_eq!(log.take(), ["stop b"]);
        assert_eq!(DynamicSupervisorRef::whereis(NAME), None);
    });
}
