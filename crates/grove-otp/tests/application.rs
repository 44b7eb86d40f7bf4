//! `Application` inside the test's runtime, stopped by a future (`serve_until`): the tree starts,
//! stops in reverse order, and the outcome says how it ended. The same with real signals, in a
//! real binary, is tested in `crates/grove-demo/tests/app_signals.rs`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use grove_otp::application::{Application, ApplicationExit, StopCause};
use grove_otp::prelude::*;
use grove_otp::supervisor::Shutdown;
use grove_runtime::Context;
use tokio::sync::oneshot;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().expect("log lock").push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lock").clone()
    }
}

/// A GenServer child that logs its start and its `terminate`.
struct Logged {
    name: &'static str,
    log: Log,
    started: Option<oneshot::Sender<()>>,
}

impl GenServer for Logged {
    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        self.log.push(format!("start {}", self.name));
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
        Ok(())
    }

    async fn terminate(&mut self, reason: &ExitReason, _: &mut ServerContext<Self>) {
        self.log.push(format!("stop {} {reason}", self.name));
    }
}

fn child(name: &'static str, log: &Log, started: Option<oneshot::Sender<()>>) -> ChildSpec {
    let log = log.clone();
    let started = Arc::new(Mutex::new(started));
    ChildSpec::new(name, move || {
        let started = started.lock().expect("lock").take();
        Server::start_link(Logged {
            name,
            log: log.clone(),
            started,
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_starts_in_order_and_stops_in_reverse_order() {
    let log = Log::default();
    let (started, all_started) = oneshot::channel();
    let tree_log = log.clone();
    let exit = Application::new("test")
        .config(vec!["config", "repo"])
        .serve_until(
            move |names: &Vec<&'static str>| {
                Supervisor::one_for_one()
                    .child(child(names[0], &tree_log, None))
                    .child(child(names[1], &tree_log, None))
                    .child(
                        Supervisor::one_for_one()
                            .child(child("endpoint", &tree_log, Some(started)))
                            .into_child_spec("web"),
                    )
            },
            async move {
                let _ = all_started.await;
            },
        )
        .await;
    assert_eq!(exit, ApplicationExit::Stopped(StopCause::Requested));
    assert_eq!(exit.code(), 0);
    assert_eq!(
        log.lines(),
        [
            "start config",
            "start repo",
            "start endpoint",
            "stop endpoint shutdown",
            "stop repo shutdown",
            "stop config shutdown",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_does_not_stop_in_time_is_killed_at_the_deadline() {
    let (started, all_started) = oneshot::channel::<Pid>();
    let started = Arc::new(Mutex::new(Some(started)));
    let (stubborn_tx, stubborn) = oneshot::channel();
    let stubborn_child = ChildSpec::process("stubborn", move |mut ctx: Context<()>| {
        let started = started.lock().expect("lock").take();
        async move {
            ctx.trap_exit(true);
            if let Some(started) = started {
                let _ = started.send(ctx.pid());
            }
            // Ignores its shutdown signal; nobody sends it a message.
            while ctx.recv().await.into_user().is_none() {}
        }
    })
    .shutdown(Shutdown::Infinity);
    let exit = Application::new("test")
        .shutdown_timeout(Duration::from_millis(100))
        .serve_until(
            // Under an inner supervisor, which waits for it forever.
            move |_: &()| {
                Supervisor::one_for_one().child(
                    Supervisor::one_for_one()
                        .child(stubborn_child)
                        .into_child_spec("inner"),
                )
            },
            async move {
                if let Ok(pid) = all_started.await {
                    let _ = stubborn_tx.send(pid);
                }
            },
        )
        .await;
    assert_eq!(
        exit,
        ApplicationExit::DeadlineExceeded(Duration::from_millis(100))
    );
    assert_eq!(exit.code(), 2);
    // Killed with the rest of the tree, though it traps exits and its supervisor waits for it.
    let stubborn = stubborn.await.expect("the stubborn child started");
    eventually("the stubborn child is killed", || {
        !grove_runtime::is_alive(stubborn)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_supervisor_that_gives_up_fails_the_application() {
    let exit = Application::new("test")
        .serve_until(
            |_: &()| {
                Supervisor::one_for_one()
                    .intensity(0, LONG)
                    .child(ChildSpec::process("crasher", |_: Context<()>| async {
                        Err::<(), _>(ExitReason::error("no database"))
                    }))
            },
            std::future::pending(),
        )
        .await;
    assert!(matches!(exit, ApplicationExit::Failed(_)), "{exit:?}");
    assert_eq!(exit.code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_does_not_start_is_a_failed_start() {
    let exit = Application::new("test")
        .serve_until(
            |_: &()| {
                Supervisor::one_for_one().child(ChildSpec::new("broken", || async {
                    Err::<Pid, _>(StartError::Init(ExitReason::error("bad config")))
                }))
            },
            std::future::pending(),
        )
        .await;
    assert!(matches!(exit, ApplicationExit::StartFailed(_)), "{exit:?}");
    assert_eq!(exit.code(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_drain_delay_keeps_the_tree_up_while_not_ready() {
    let log = Log::default();
    let tree_log = log.clone();
    let (stop, stop_requested) = oneshot::channel::<()>();
    let (started, all_started) = oneshot::channel();
    let application = tokio::spawn(
        Application::new("draining")
            .drain_delay(Duration::from_secs(5))
            .serve_until(
                move |_: &()| {
                    Supervisor::one_for_one().child(child("endpoint", &tree_log, Some(started)))
                },
                async move {
                    let _ = stop_requested.await;
                },
            ),
    );
    all_started.await.expect("the tree started");
    let _ = stop.send(());
    // Well into the delay: not ready, and the tree still runs.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(grove_otp::application::is_stopping());
    assert_eq!(log.lines(), ["start endpoint"]);
    // After it, the tree stops in order.
    let exit = application.await.expect("the application task");
    assert_eq!(exit, ApplicationExit::Stopped(StopCause::Requested));
    assert_eq!(log.lines(), ["start endpoint", "stop endpoint shutdown"]);
}
