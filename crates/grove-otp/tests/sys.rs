//! The system lane (OTP's `sys`): every behaviour answers state, statistics, suspend/resume and
//! trace requests outside its callbacks, in order with its other messages.

mod common;

use common::*;
use grove_otp::gen_server::{Call, Cast, GenServer, ReplyTo, Server, ServerContext};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_and_replace_state_are_answered_outside_the_callbacks() {
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
