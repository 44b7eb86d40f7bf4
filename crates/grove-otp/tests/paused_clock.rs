//! With the `test-util` feature, call timeouts follow tokio's clock: a paused test clock drives
//! an hour-long timeout at once (run with `--features test-util`; empty otherwise).
#![cfg(feature = "test-util")]

use std::time::Duration;

use grove_otp::gen_server::{Call, CallError, GenServer, ReplyTo, Server, ServerContext};

/// Keeps every call's reply handle and never answers.
#[derive(Default)]
struct Silent(Vec<ReplyTo<()>>);

struct Ask;

impl GenServer for Silent {}

impl Call<Ask> for Silent {
    type Reply = ();
    async fn handle_call(&mut self, _: Ask, from: ReplyTo<()>, _: &mut ServerContext<Self>) {
        self.0.push(from);
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_follows_tokios_paused_clock() {
    let server = Server::start(Silent::default()).await.expect("starts");
    let hour = Duration::from_secs(3600);
    // With the clock paused, tokio moves it to the timeout as soon as everything is idle: the
    // test ends at once instead of after an hour.
    assert_eq!(
        server.call_timeout(Ask, hour).await,
        Err(CallError::Timeout(hour))
    );
}
