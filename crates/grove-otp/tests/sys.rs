//! The system lane (OTP's `sys`): every behaviour answers state, statistics, suspend/resume and
//! trace requests outside its callbacks, in order with its other messages.

mod common;

use common::*;
use grove_otp::gen_server::{Call, Cast, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_otp::prelude::*;
use grove_runtime::sys::{self, SysError};
use grove_runtime::{spawn, Context};

#[derive(Default, Debug)]
struct Counter {
    count: u64,
}

struct Get;
struct Bump;

impl GenServer for Counter {
    fn format_state(&self) -> Option<String> {
        Some(format!("{self:?}"))
    }
}

impl Call<Get> for Counter {
    type Reply = u64;
    async fn handle_call(&mut self, _: Get, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(self.count);
    }
}

impl Cast<Bump> for Counter {
    async fn handle_cast(&mut self, _: Bump, _: &mut ServerContext<Self>) {
        self.count += 1;
    }
}

/// A server that keeps its state to itself (the default).
struct Secretive;

impl GenServer for Secretive {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_state_shows_the_servers_own_view_or_is_declined() {
    let counter = Server::start(Counter::default()).await.expect("starts");
    counter.cast(Bump);
    // In order with the cast before it.
    assert_eq!(
        sys::get_state(counter.pid()).await,
        Ok("Counter { count: 1 }".to_string())
    );
    let secretive = Server::start(Secretive).await.expect("starts");
    assert_eq!(
        sys::get_state(secretive.pid()).await,
        Err(SysError::Declined)
    );
    counter.stop(ExitReason::Normal).await.expect("stops");
    assert_eq!(
        sys::get_state(counter.pid()).await,
        Err(SysError::NoProc(counter.pid()))
    );
    secretive.stop(ExitReason::Normal).await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_name_the_label_the_messages_and_the_last_one() {
    let counter = Server::start(Counter::default()).await.expect("starts");
    counter.cast(Bump);
    assert_eq!(counter.call(Get).await, Ok(1));
    let stats = sys::statistics(counter.pid()).await.expect("answers");
    assert_eq!(stats.label.as_deref(), Some("gen_server Counter"));
    assert!(stats.messages_handled >= 2, "{stats:?}");
    assert_eq!(stats.current.last_message.as_deref(), Some("sys::Get"));
    assert!(!stats.current.suspended && !stats.current.tracing);
    // A serde type, for a remote console.
    let json = serde_json::to_string(&stats).expect("serializes");
    assert_eq!(
        serde_json::from_str::<sys::Statistics>(&json).ok(),
        Some(stats)
    );
    counter.stop(ExitReason::Normal).await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_server_answers_only_system_requests_until_resumed() {
    let counter = Server::start(Counter::default()).await.expect("starts");
    sys::suspend(counter.pid()).await.expect("suspends");
    for _ in 0..3 {
        counter.cast(Bump);
    }
    // The casts wait in the mailbox; system requests are still answered.
    assert_eq!(
        sys::get_state(counter.pid()).await,
        Ok("Counter { count: 0 }".to_string())
    );
    let stats = sys::statistics(counter.pid()).await.expect("answers");
    assert!(stats.current.suspended);
    sys::resume(counter.pid()).await.expect("resumes");
    assert_eq!(counter.call(Get).await, Ok(3));
    counter.stop(ExitReason::Normal).await.expect("stops");
}

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Collected(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Collected {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_and_replace_state_are_answered_outside_the_callbacks() {
    let collected = Collected::default();
    let writer = collected.clone();
    let _ = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init();
    let counter = Server::start(Counter::default()).await.expect("starts");
    sys::trace(counter.pid(), true).await.expect("traces");
    counter.cast(Bump);
    assert!(
        sys::statistics(counter.pid())
            .await
            .expect("answers")
            .current
            .tracing
    );
    counter
        .replace_state(|state| state.count = 41)
        .await
        .expect("replaced");
    counter.cast(Bump);
    assert_eq!(counter.call(Get).await, Ok(42));
    sys::trace(counter.pid(), false)
        .await
        .expect("stops tracing");
    counter.stop(ExitReason::Normal).await.expect("stops");
    let logs =
        String::from_utf8_lossy(&collected.0.lock().unwrap_or_else(|e| e.into_inner())).to_string();
    let server = counter.pid().to_string();
    let traced = |event: &str| {
        logs.lines().any(|line| {
            line.contains(event) && line.contains("sys::Bump") && line.contains(&server)
        })
    };
    assert!(
        traced("handling a message") && traced("handled a message"),
        "{logs}"
    );
}

/// Blocks in a callback until told to go on.
struct Busy;

impl GenServer for Busy {}

/// Says it is inside its callback, then waits to be told to go on.
struct Wait(
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Receiver<()>,
);
struct Nudge;

impl Cast<Wait> for Busy {
    async fn handle_cast(&mut self, Wait(inside, go): Wait, _: &mut ServerContext<Self>) {
        let _ = inside.send(());
        let _ = go.await;
    }
}

impl Cast<Nudge> for Busy {
    async fn handle_cast(&mut self, _: Nudge, _: &mut ServerContext<Self>) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_refuses_a_system_request_as_full() {
    use grove_runtime::{Overflow, SpawnOptions};
    let options =
        StartOptions::new().spawn_options(SpawnOptions::new().mailbox_bound(1, Overflow::Reject));
    let busy = Server::start_opt(Busy, options).await.expect("starts");
    let (go, wait) = tokio::sync::oneshot::channel();
    let (inside, entered) = tokio::sync::oneshot::channel();
    busy.cast(Wait(inside, wait));
    entered.await.expect("the server runs Wait's callback");
    // The server is busy: one more message fills its mailbox, and a system request finds it
    // full.
    busy.cast(Nudge);
    let refused = sys::statistics(busy.pid())
        .await
        .expect_err("the mailbox is full");
    assert_eq!(refused, SysError::Full(busy.pid()));
    let _ = go.send(());
    // Its mailbox may still be full: a stop request could be refused too.
    grove_runtime::exit(busy.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_behaviour_answers_and_a_plain_process_does_not() {
    in_process(|_: Context<()>| async {
        let tree = Supervisor::one_for_one()
            .start_link()
            .await
            .expect("starts");
        let stats = sys::statistics(tree.pid())
            .await
            .expect("a supervisor answers");
        assert_eq!(stats.label.as_deref(), Some("supervisor"));
        let agent = Agent::start_link(|| 5u32).await.expect("starts");
        assert!(sys::statistics(agent.pid()).await.is_ok());
        let plain = spawn(|mut ctx: Context<()>| async move {
            let _ = ctx.recv().await;
        });
        assert_eq!(
            sys::statistics(plain.pid()).await,
            Err(SysError::NotSystem(plain.pid()))
        );
        grove_runtime::send(plain, ());
        tree.stop(ExitReason::Normal).await.expect("stops");
    })
    .await;
}
