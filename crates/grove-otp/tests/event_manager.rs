//! `EventManager` through its public API: handlers in order, notify and sync_notify, adding,
//! deleting, swapping and calling handlers, failing handlers removed while the manager goes on,
//! supervised handlers and their owners, and stopping.
//!
//! Every handler is a `Recorder` that writes what it sees into a shared log. Events are text;
//! `fail:NAME`, `panic:NAME` and `leave:NAME` make handler NAME fail, panic or ask to be removed.
//! A `sync_notify` or call answered by the manager means every earlier event has been handled.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use grove_otp::event_manager::{EventError, EventHandler, EventManager, HandlerRemoved, Removal};
use grove_otp::prelude::*;
use grove_runtime::{is_alive, Context, Message};
use tokio::sync::oneshot;

type Event = String;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().expect("log lock").push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

struct Recorder {
    name: &'static str,
    log: Log,
    seen: usize,
}

fn recorder(name: &'static str, log: &Log) -> Recorder {
    Recorder {
        name,
        log: log.clone(),
        seen: 0,
    }
}

impl EventHandler<Event> for Recorder {
    async fn init(&mut self) -> Result<(), ExitReason> {
        match self.name {
            "refuses" => Err(ExitReason::error("not today")),
            "panics_in_init" => panic!("init exploded"),
            _ => Ok(()),
        }
    }

    async fn handle_event(&mut self, event: &Event) -> Result<(), ExitReason> {
        if *event == format!("fail:{}", self.name) {
            return Err(ExitReason::error("bad event"));
        }
        if *event == format!("panic:{}", self.name) {
            panic!("handler {} blew up", self.name);
        }
        if *event == format!("leave:{}", self.name) {
            return Err(ExitReason::Normal);
        }
        self.seen += 1;
        self.log.push(format!("{} got {event}", self.name));
        Ok(())
    }

    async fn terminate(&mut self, removal: &Removal) {
        self.log
            .push(format!("{} terminate {removal:?}", self.name));
    }
}

/// Another handler type, for type mismatches and swaps.
struct Counter(usize);

impl EventHandler<Event> for Counter {
    async fn handle_event(&mut self, _: &Event) -> Result<(), ExitReason> {
        self.0 += 1;
        Ok(())
    }
}

async fn manager() -> EventManager<Event> {
    EventManager::start().await.expect("started")
}

/// A manager with a `Recorder` for each of `names`, added in that order.
async fn manager_with(log: &Log, names: &[&'static str]) -> EventManager<Event> {
    let events = manager().await;
    for name in names {
        events
            .add_handler(*name, recorder(name, log))
            .await
            .expect("added");
    }
    events
}

/// The manager's handler ids, in the order events reach them.
async fn ids_of(events: &EventManager<Event>) -> Vec<String> {
    let ids = events.which_handlers().await.expect("listed");
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_every_handler_in_the_order_handlers_were_added() {
    let log = Log::default();
    let events = manager_with(&log, &["a", "b"]).await;
    events.notify("one".into());
    events.sync_notify("two".into()).await.expect("notified");
    assert_eq!(
        log.take(),
        ["a got one", "b got one", "a got two", "b got two"]
    );
    assert_eq!(ids_of(&events).await, ["a", "b"]);
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_refuses_duplicates_and_handlers_whose_init_fails() {
    let log = Log::default();
    let events = manager_with(&log, &["a"]).await;
    assert_eq!(
        events.add_handler("a", recorder("a", &log)).await,
        Err(EventError::AlreadyPresent("a".into()))
    );
    assert_eq!(
        events.add_handler("r", recorder("refuses", &log)).await,
        Err(EventError::Init(ExitReason::error("not today")))
    );
    let panicked = events
        .add_handler("p", recorder("panics_in_init", &log))
        .await;
    assert!(
        matches!(&panicked, Err(EventError::Init(ExitReason::Panic(m))) if m.contains("init exploded")),
        "{panicked:?}"
    );
    let ids = events.which_handlers().await.expect("listed");
    assert_eq!(ids.len(), 1);
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_panicking_handler_is_removed_and_the_manager_goes_on() {
    let log = Log::default();
    let events = manager_with(&log, &["a", "b", "c"]).await;
    events.sync_notify("fail:a".into()).await.expect("notified");
    events
        .sync_notify("panic:b".into())
        .await
        .expect("notified");
    events.sync_notify("after".into()).await.expect("notified");
    let lines = log.take();
    // A failed handler is removed at once; the event goes on to the next handlers.
    assert_eq!(lines[0], r#"a terminate Failed(Error("bad event"))"#);
    assert_eq!(lines[1], "b got fail:a");
    assert_eq!(lines[2], "c got fail:a");
    assert!(
        lines[3].starts_with("b terminate Failed(Panic("),
        "{lines:?}"
    );
    assert_eq!(lines[4..], ["c got panic:b", "c got after"]);
    assert_eq!(ids_of(&events).await, ["c"]);
    assert!(is_alive(events.pid()));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_returning_normal_leaves_quietly() {
    let log = Log::default();
    let events = manager_with(&log, &["a"]).await;
    events
        .sync_notify("leave:a".into())
        .await
        .expect("notified");
    assert_eq!(log.take(), ["a terminate Removed"]);
    assert_eq!(events.which_handlers().await, Ok(vec![]));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_handler_runs_terminate_and_gives_the_handler_back() {
    let log = Log::default();
    let events = manager_with(&log, &["a"]).await;
    events.add_handler("n", Counter(0)).await.expect("added");
    events.sync_notify("x".into()).await.expect("notified");
    let a: Recorder = events.delete_handler("a").await.expect("deleted");
    assert_eq!(a.seen, 1);
    assert_eq!(log.take(), ["a got x", "a terminate Deleted"]);
    assert!(matches!(
        events.delete_handler::<Recorder>("a").await,
        Err(EventError::NotFound(_))
    ));
    // Removed even when the caller names the wrong type; it just cannot be handed back.
    assert!(matches!(
        events.delete_handler::<Recorder>("n").await,
        Err(EventError::WrongType(_))
    ));
    assert_eq!(events.which_handlers().await, Ok(vec![]));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_handler_carries_the_old_handlers_state_to_the_new_one() {
    let log = Log::default();
    let events = manager_with(&log, &["old"]).await;
    events
        .add_handler("other", Counter(0))
        .await
        .expect("added");
    events.sync_notify("x".into()).await.expect("notified");
    events
        .swap_handler("old", "new", |old: Option<Recorder>| {
            Counter(old.map_or(0, |old| old.seen * 100))
        })
        .await
        .expect("swapped");
    assert_eq!(log.take(), ["old got x", "old terminate Swapped"]);
    events.sync_notify("y".into()).await.expect("notified");
    assert_eq!(events.call("new", |c: &mut Counter| c.0).await, Ok(101));
    assert_eq!(ids_of(&events).await, ["other", "new"]);

    // Swapping out a handler that is not there still installs the new one, told so.
    events
        .swap_handler("missing", "fresh", |old: Option<Counter>| {
            Counter(if old.is_none() { 7 } else { 0 })
        })
        .await
        .expect("swapped");
    assert_eq!(events.call("fresh", |c: &mut Counter| c.0).await, Ok(7));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_runs_on_one_handler_and_a_panic_removes_it() {
    let log = Log::default();
    let events = manager_with(&log, &["a"]).await;
    events.sync_notify("x".into()).await.expect("notified");
    assert_eq!(events.call("a", |r: &mut Recorder| r.seen).await, Ok(1));
    assert_eq!(
        events.call("a", |c: &mut Counter| c.0).await,
        Err(EventError::WrongType("a".into()))
    );
    assert_eq!(
        events.call("zz", |c: &mut Counter| c.0).await,
        Err(EventError::NotFound("zz".into()))
    );
    let failed = events
        .call("a", |_: &mut Recorder| -> usize { panic!("bad request") })
        .await;
    assert!(matches!(
        failed,
        Err(EventError::HandlerFailed(ExitReason::Panic(_)))
    ));
    assert_eq!(events.which_handlers().await, Ok(vec![]));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_handlers_owner_is_told_when_it_is_removed() {
    let log = Log::default();
    let events = manager().await;
    let log2 = log.clone();
    let removed = in_process(|mut ctx: Context<HandlerRemoved>| async move {
        let me = ctx.addr();
        events
            .add_sup_handler("watched", recorder("watched", &log2), move |removed| {
                grove_runtime::send(me, removed)
            })
            .await
            .expect("added");
        events.notify("fail:watched".into());
        match ctx.recv_timeout(LONG).await {
            Some(Message::User(removed)) => removed,
            other => panic!("expected the removal, got {other:?}"),
        }
    })
    .await;
    assert_eq!(
        removed,
        HandlerRemoved {
            id: "watched".into(),
            removal: Removal::Failed(ExitReason::error("bad event")),
        }
    );
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_handler_is_removed_when_its_owner_exits() {
    let log = Log::default();
    let events = manager().await;
    let (added, was_added) = oneshot::channel();
    let (go, went) = oneshot::channel::<()>();
    let log2 = log.clone();
    let told = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let told2 = told.clone();
    let owner = grove_runtime::spawn(move |_: Context<()>| async move {
        events
            .add_sup_handler("owned", recorder("owned", &log2), move |_| {
                told2.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .expect("added");
        let _ = added.send(());
        let _ = went.await;
        ExitReason::error("owner crashed")
    });
    was_added.await.expect("the owner added its handler");
    let owner_exit = exit_of(owner);
    drop(go);
    owner_exit.await;
    eventually("the handler is removed", || {
        log.0
            .lock()
            .expect("log lock")
            .iter()
            .any(|line| line.starts_with("owned terminate OwnerExited"))
    })
    .await;
    assert_eq!(events.which_handlers().await, Ok(vec![]));
    assert!(is_alive(events.pid()));
    // The owner's own exit is not reported to the owner.
    assert!(!told.load(std::sync::atomic::Ordering::SeqCst));
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_sup_handler_outside_a_process_is_refused() {
    let events = manager().await;
    assert_eq!(
        events.add_sup_handler("x", Counter(0), |_| {}).await,
        Err(EventError::NoOwner)
    );
    events.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_manager_terminates_every_handler() {
    let log = Log::default();
    let events = manager_with(&log, &["a", "b"]).await;
    events.stop().await.expect("stopped");
    assert_eq!(
        log.take(),
        [
            "a terminate ManagerStopped(Normal)",
            "b terminate ManagerStopped(Normal)"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_shutting_the_manager_down_terminates_its_handlers() {
    let log = Log::default();
    let sup = Supervisor::one_for_one()
        .child(ChildSpec::new("events", || {
            EventManager::<Event>::start_opt(StartOptions::new().link().name("test_events"))
        }))
        .start()
        .await
        .expect("started");
    let events = EventManager::<Event>::whereis("test_events").expect("registered");
    events
        .add_handler("a", recorder("a", &log))
        .await
        .expect("added");
    sup.stop(ExitReason::Shutdown).await.expect("stopped");
    assert_eq!(log.take(), ["a terminate ManagerStopped(Shutdown)"]);
}
