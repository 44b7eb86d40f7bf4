//! `Task`, `TaskSupervisor` and `async_stream` through their public API: results and crashes,
//! links to the caller (and their absence under a task supervisor), timeouts, yield and
//! shutdown, and bounded, ordered and unordered concurrency.
//!
//! Tasks that must not finish on their own wait on a channel the test holds (`hold`), so no test
//! depends on how fast anything runs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use grove_otp::prelude::*;
use grove_otp::supervisor::Shutdown;
use grove_otp::supervisor::SupervisorError;
use grove_otp::task::{async_stream, async_stream_iter, AsyncStreamOptions};
use grove_otp::task::{TaskError, TaskSupervisor, TaskSupervisorRef};
use grove_runtime::{is_alive, Context, Message, SpawnOptions};
use tokio::sync::oneshot;

fn trapping() -> SpawnOptions {
    SpawnOptions::new().trap_exit(true)
}

/// A future that finishes only when the returned sender is used or dropped.
fn hold() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

fn never() -> impl std::future::Future<Output = ()> {
    std::future::pending()
}

// ---------------------------------------------------------------------------------------------
// Task
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_in_its_own_process_and_gives_its_result() {
    let (outcome, task_exit) = in_process(|_: Context<()>| async move {
        let task = Task::spawn(async { grove_runtime::self_pid() });
        let task_pid = task.pid();
        let exited = exit_of(task_pid);
        let ran_in = task.await_timeout(LONG).await;
        (ran_in.map(|pid| pid == Some(task_pid)), exited.await)
    })
    .await;
    assert_eq!(outcome, Ok(true));
    assert_eq!(task_exit, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_spawned_outside_a_process_works_unlinked() {
    let task = Task::spawn(async { 6 * 7 });
    assert_eq!(task.await, Ok(42));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_task_takes_its_linked_caller_down() {
    let (tx, rx) = oneshot::channel();
    let caller = grove_runtime::spawn(move |mut ctx: Context<()>| async move {
        let _ = ctx.recv().await; // watched before it starts: it may die at once
        let task = Task::spawn(async {
            panic!("parse error on line 3");
        });
        let _ = tx.send(task.pid());
        let _ = task.await;
        // Not reached: the link kills the caller first, or at the latest when the await ends.
        std::future::pending::<()>().await;
    });
    let exited = exit_of(caller);
    grove_runtime::send(caller, ());
    let task = rx.await.expect("the caller sent the task's pid");
    let reason = exited.await;
    assert!(
        matches!(&reason, ExitReason::Panic(m) if m.contains("parse error")),
        "{reason:?}"
    );
    assert!(!is_alive(task));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_caller_gets_the_crash_as_the_result_and_an_exit_message() {
    let (result, exit) = in_process_opt(trapping(), |mut ctx: Context<()>| async move {
        let task = Task::spawn(async {
            panic!("boom");
        });
        let pid = task.pid();
        let result: Result<(), TaskError> = task.await;
        let exit = match ctx.recv_timeout(LONG).await {
            Some(Message::Exit(exit)) if exit.from == pid => Some(exit.reason),
            _ => None,
        };
        (result, exit)
    })
    .await;
    assert!(matches!(
        result,
        Err(TaskError::Exited(ExitReason::Panic(_)))
    ));
    assert!(matches!(exit, Some(ExitReason::Panic(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_timeout_kills_a_slow_task_and_leaves_the_caller_running() {
    let (result, task_alive) = in_process(|_: Context<()>| async move {
        let task = Task::spawn(never());
        let pid = task.pid();
        let result = task.await_timeout(Duration::from_millis(20)).await;
        (result, is_alive(pid))
    })
    .await;
    assert_eq!(result, Err(TaskError::Timeout(Duration::from_millis(20))));
    assert!(!task_alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yield_leaves_a_running_task_running_and_gives_the_result_once() {
    let (release, held) = hold();
    let mut task = Task::spawn(async move {
        held.await;
        "done"
    });
    assert_eq!(task.yield_timeout(Duration::from_millis(10)).await, None);
    assert!(is_alive(task.pid()));
    release.send(()).expect("the task is waiting");
    assert_eq!(task.yield_timeout(LONG).await, Some(Ok("done")));
    assert_eq!(
        task.yield_timeout(LONG).await,
        Some(Err(TaskError::AlreadyTaken))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_running_task_and_reports_how_it_ended() {
    // Still running: stopped, no result.
    let task = Task::spawn(never());
    let pid = task.pid();
    let exited = exit_of(pid);
    assert_eq!(task.shutdown(Shutdown::Timeout(LONG)).await, None);
    assert_eq!(exited.await, ExitReason::Shutdown);

    let task = Task::spawn(never());
    let exited = exit_of(task.pid());
    assert_eq!(task.shutdown(Shutdown::BrutalKill).await, None);
    assert_eq!(exited.await, ExitReason::Killed);

    // Already finished: its result.
    let (release, held) = hold();
    let task = Task::spawn(async move {
        held.await;
        5
    });
    let exited = exit_of(task.pid());
    drop(release);
    assert_eq!(exited.await, ExitReason::Normal);
    assert_eq!(task.shutdown(Shutdown::BrutalKill).await, Some(Ok(5)));

    // Already crashed: its reason.
    let (release, held) = hold();
    let task = Task::spawn(async move {
        held.await;
        panic!("crashed before the shutdown");
    });
    let exited = exit_of(task.pid());
    drop(release);
    assert!(matches!(exited.await, ExitReason::Panic(_)));
    assert!(matches!(
        task.shutdown(Shutdown::BrutalKill).await,
        Some(Err(TaskError::Exited(ExitReason::Panic(_))))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_unlinks_first_so_the_caller_survives() {
    let alive = in_process(|ctx: Context<()>| async move {
        let task = Task::spawn(never());
        assert_eq!(task.shutdown(Shutdown::Timeout(LONG)).await, None);
        is_alive(ctx.pid())
    })
    .await;
    assert!(alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_may_stop_a_linked_task() {
    let (tx, rx) = oneshot::channel();
    let (go, went) = hold();
    let owner = grove_runtime::spawn(move |_: Context<()>| async move {
        let task = Task::spawn(never());
        let _ = tx.send(task);
        went.await;
    });
    let task = rx.await.expect("the owner sent its task");
    let pid = task.pid();
    // From another process: refused, and nobody is taken down.
    let refused = in_process(|_: Context<()>| async move {
        let refused = task.shutdown(Shutdown::BrutalKill).await;
        matches!(refused, Some(Err(TaskError::NotOwner(_))))
    })
    .await;
    assert!(refused);
    assert!(is_alive(pid) && is_alive(owner.pid()));
    let owner_exit = exit_of(owner);
    drop(go);
    assert_eq!(owner_exit.await, ExitReason::Normal);
    grove_runtime::exit(pid, ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_async_stream_early_stops_its_running_tasks() {
    let running = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = running.clone();
    // A non-trapping caller: had a task been killed while still linked, it would die too.
    let (first, tasks) = in_process(|_: Context<()>| async move {
        let first = {
            let mut stream = std::pin::pin!(async_stream_iter(
                0..4u32,
                AsyncStreamOptions::new().max_concurrency(4).ordered(false),
                move |n| {
                    let running = seen.clone();
                    async move {
                        let me = grove_runtime::self_pid().expect("a task is a process");
                        running.lock().expect("lock").push(me);
                        if n > 0 {
                            never().await;
                        }
                        // Item 0 finishes once all four are running.
                        eventually("all four tasks run", || {
                            running.lock().expect("lock").len() == 4
                        })
                        .await;
                        n
                    }
                },
            ));
            stream.next().await
        };
        // The stream, and the three tasks still running, were dropped above.
        (first, running.lock().expect("lock").clone())
    })
    .await;
    assert_eq!(first, Some(Ok(0)));
    assert_eq!(tasks.len(), 4);
    eventually("every task has stopped", || {
        tasks.iter().all(|pid| !is_alive(*pid))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_task_dies_with_its_caller() {
    let (tx, rx) = oneshot::channel();
    let (go, went) = hold();
    let caller = grove_runtime::spawn(move |_: Context<()>| async move {
        let task = Task::spawn(never());
        let _ = tx.send(task.pid());
        went.await;
        drop(task);
        ExitReason::error("the caller gave up")
    });
    let task = rx.await.expect("the caller sent the task's pid");
    let (task_exit, caller_exit) = (exit_of(task), exit_of(caller));
    drop(go);
    assert!(matches!(caller_exit.await, ExitReason::Error(_)));
    assert!(matches!(task_exit.await, ExitReason::Error(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_unlinks_the_task_and_lets_it_run_on() {
    let (tx, rx) = oneshot::channel();
    let (go, went) = hold();
    let caller = grove_runtime::spawn(move |_: Context<()>| async move {
        let task = Task::spawn(never());
        let _ = tx.send(task.pid());
        task.ignore();
        went.await;
        ExitReason::error("the caller crashed")
    });
    let task = rx.await.expect("the caller sent the task's pid");
    let caller_exit = exit_of(caller);
    drop(go);
    assert!(matches!(caller_exit.await, ExitReason::Error(_)));
    assert!(is_alive(task));
    grove_runtime::exit(task, ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_many_gives_every_result_in_order_under_one_deadline() {
    let results = in_process_opt(trapping(), |_: Context<()>| async move {
        let tasks = vec![
            Task::spawn(async { 1 }),
            Task::spawn(async {
                never().await;
                2
            }),
            Task::spawn(async { panic!("three") }),
            Task::spawn(async { 4 }),
        ];
        Task::await_many(tasks, Duration::from_secs(1)).await
    })
    .await;
    assert_eq!(results[0], Ok(1));
    assert_eq!(results[1], Err(TaskError::Timeout(Duration::from_secs(1))));
    assert!(matches!(
        results[2],
        Err(TaskError::Exited(ExitReason::Panic(_)))
    ));
    assert_eq!(results[3], Ok(4));
}

// ---------------------------------------------------------------------------------------------
// TaskSupervisor
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nolink_task_crashes_do_not_reach_the_caller() {
    let (result, alive) = in_process(|ctx: Context<()>| async move {
        let tasks = TaskSupervisor::new().start_link().await.expect("started");
        let task = tasks
            .async_nolink(async { panic!("bad row") })
            .await
            .expect("started the task");
        let result: Result<(), TaskError> = task.await_timeout(LONG).await;
        (result, is_alive(ctx.pid()))
    })
    .await;
    assert!(matches!(
        result,
        Err(TaskError::Exited(ExitReason::Panic(_)))
    ));
    assert!(alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervised_tasks_outlive_their_caller_and_stop_with_the_supervisor() {
    let tasks = TaskSupervisor::new().start().await.expect("started");
    let (tx, rx) = oneshot::channel();
    let (go, went) = hold();
    let caller = grove_runtime::spawn(move |_: Context<()>| async move {
        let task = tasks.async_nolink(never()).await.expect("started the task");
        let fire_and_forget = tasks.start_child(never()).await.expect("started the task");
        let _ = tx.send((task.pid(), fire_and_forget));
        went.await;
        ExitReason::error("the caller crashed")
    });
    let (task, other) = rx.await.expect("the caller sent the pids");
    let caller_exit = exit_of(caller);
    drop(go);
    assert!(matches!(caller_exit.await, ExitReason::Error(_)));
    assert!(is_alive(task) && is_alive(other));
    let mut children = tasks.children().await.expect("listed");
    children.sort();
    let mut expected = vec![task, other];
    expected.sort();
    assert_eq!(children, expected);

    let (task_exit, other_exit) = (exit_of(task), exit_of(other));
    tasks.stop(ExitReason::Shutdown).await.expect("stopped");
    assert_eq!(task_exit.await, ExitReason::Shutdown);
    assert_eq!(other_exit.await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_child_stops_one_task_and_finished_tasks_leave_the_list() {
    let tasks = TaskSupervisor::new().start().await.expect("started");
    let stuck = tasks.start_child(never()).await.expect("started");
    let quick = tasks.async_nolink(async { "ok" }).await.expect("started");
    let quick_pid = quick.pid();
    let quick_exit = exit_of(quick_pid);
    assert_eq!(quick.await_timeout(LONG).await, Ok("ok"));
    quick_exit.await;
    let stuck_exit = exit_of(stuck);
    tasks.terminate_child(stuck).await.expect("terminated");
    assert_eq!(stuck_exit.await, ExitReason::Shutdown);
    assert_eq!(tasks.children().await, Ok(vec![]));
    tasks.stop(ExitReason::Normal).await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_supervisor_refuses_tasks_past_max_children() {
    let tasks = TaskSupervisor::new()
        .max_children(1)
        .start()
        .await
        .expect("started");
    let first = tasks.async_nolink(never()).await.expect("started");
    let refused = tasks.async_nolink(async { 1 }).await;
    assert!(matches!(refused, Err(SupervisorError::MaxChildren(1))));
    assert_eq!(first.shutdown(Shutdown::BrutalKill).await, None);
    tasks.stop(ExitReason::Normal).await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_task_supervisor_under_a_supervisor_is_found_by_name() {
    let root = Supervisor::one_for_one()
        .child(TaskSupervisor::new().into_named_child_spec("tasks", "test_named_task_sup"))
        .start()
        .await
        .expect("started");
    let tasks = TaskSupervisorRef::whereis("test_named_task_sup").expect("registered");
    let task = tasks.async_nolink(async { 3 }).await.expect("started");
    assert_eq!(task.await_timeout(LONG).await, Ok(3));
    root.stop(ExitReason::Shutdown).await.expect("stopped");
    assert!(TaskSupervisorRef::whereis("test_named_task_sup").is_none());
}

// ---------------------------------------------------------------------------------------------
// async_stream
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_keeps_input_order_when_ordered() {
    let results: Vec<_> = in_process(|_: Context<()>| async move {
        // The first item finishes last.
        async_stream_iter(
            0..6u64,
            AsyncStreamOptions::new().max_concurrency(3),
            |n| async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                n * 10
            },
        )
        .collect()
        .await
    })
    .await;
    assert_eq!(results, (0..6u64).map(|n| Ok(n * 10)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_unordered_gives_results_as_they_finish() {
    let results: Vec<_> = in_process(|_: Context<()>| async move {
        let (release, held) = hold();
        let held = Arc::new(tokio::sync::Mutex::new(Some(held)));
        let mut release = Some(release);
        let mut stream = std::pin::pin!(async_stream_iter(
            0..3u64,
            AsyncStreamOptions::new().max_concurrency(3).ordered(false),
            move |n| {
                let held = held.clone();
                async move {
                    if n == 0 {
                        let wait = held.lock().await.take();
                        if let Some(wait) = wait {
                            wait.await;
                        }
                    }
                    n
                }
            },
        ));
        let mut results = Vec::new();
        while let Some(result) = stream.next().await {
            results.push(result);
            // Item 0 is held until both others have come through.
            if results.len() == 2 {
                if let Some(release) = release.take() {
                    let _ = release.send(());
                }
            }
        }
        results
    })
    .await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[2], Ok(0));
    let mut first_two = vec![results[0].clone(), results[1].clone()];
    first_two.sort_by_key(|result| result.clone().ok());
    assert_eq!(first_two, vec![Ok(1), Ok(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_runs_at_most_max_concurrency_tasks_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (running2, peak2) = (running.clone(), peak.clone());
    let results: Vec<_> = in_process(|_: Context<()>| async move {
        async_stream_iter(
            0..40,
            AsyncStreamOptions::new().max_concurrency(4),
            move |n| {
                let (running, peak) = (running2.clone(), peak2.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    n
                }
            },
        )
        .collect()
        .await
    })
    .await;
    assert_eq!(results, (0..40).map(Ok).collect::<Vec<_>>());
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=4).contains(&peak), "peak concurrency {peak}");
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_pulls_items_only_as_slots_free_up() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let pulled2 = pulled.clone();
    let items = futures_util::stream::iter(0..100).inspect(move |_| {
        pulled2.fetch_add(1, Ordering::SeqCst);
    });
    let mut stream = std::pin::pin!(async_stream(
        items,
        AsyncStreamOptions::new().max_concurrency(2),
        |n| async move { n }
    ));
    assert_eq!(stream.next().await, Some(Ok(0)));
    // Two in flight at most, plus the one just given back.
    assert!(
        pulled.load(Ordering::SeqCst) <= 3,
        "{}",
        pulled.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_reports_timeouts_and_crashes_in_place_and_goes_on() {
    let results: Vec<_> = in_process_opt(trapping(), |_: Context<()>| async move {
        async_stream_iter(
            0..4u32,
            AsyncStreamOptions::new()
                .max_concurrency(4)
                .timeout(Duration::from_secs(1)),
            |n| async move {
                match n {
                    1 => never().await,
                    2 => panic!("item two is malformed"),
                    _ => {}
                }
                n
            },
        )
        .collect()
        .await
    })
    .await;
    assert_eq!(results[0], Ok(0));
    assert_eq!(results[1], Err(TaskError::Timeout(Duration::from_secs(1))));
    assert!(matches!(
        results[2],
        Err(TaskError::Exited(ExitReason::Panic(_)))
    ));
    assert_eq!(results[3], Ok(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_nolink_runs_under_the_supervisor_and_reports_refusals() {
    let (results, alive) = in_process(|ctx: Context<()>| async move {
        let tasks = TaskSupervisor::new().start_link().await.expect("started");
        let results: Vec<_> = tasks
            .async_stream_nolink(
                futures_util::stream::iter(0..5u32),
                AsyncStreamOptions::new().max_concurrency(2),
                |n| async move {
                    if n == 3 {
                        panic!("bad chunk");
                    }
                    n
                },
            )
            .collect()
            .await;
        (results, is_alive(ctx.pid()))
    })
    .await;
    assert!(
        alive,
        "a crashing nolink task must not take the caller down"
    );
    assert_eq!(&results[..3], &[Ok(0), Ok(1), Ok(2)]);
    assert!(matches!(
        results[3],
        Err(TaskError::Exited(ExitReason::Panic(_)))
    ));
    assert_eq!(results[4], Ok(4));

    let tasks = TaskSupervisor::new()
        .max_children(1)
        .start()
        .await
        .expect("started");
    let results: Vec<_> = tasks
        .async_stream_nolink(
            futures_util::stream::iter(0..2u32),
            AsyncStreamOptions::new().max_concurrency(2).ordered(false),
            |_| never(),
        )
        .take(1)
        .collect()
        .await;
    // The second task is refused while the first is (and stays) running.
    assert_eq!(
        results,
        vec![Err(TaskError::NotStarted(SupervisorError::MaxChildren(1)))]
    );
    tasks.stop(ExitReason::Normal).await.expect("stopped");
}
