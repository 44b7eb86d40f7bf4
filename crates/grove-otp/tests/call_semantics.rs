//! Calls follow OTP to the observable detail: a caller learns that a server exited only after the
//! server is gone and its name is free; a server calling itself fails at once; and `?` on a failed
//! call exits with Erlang's reasons (`noproc`, `timeout`, `calling_self`), so a linked process or
//! a supervisor can match on them.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{exit_of, in_process, LONG};
use grove_otp::gen_server::{
    Call, CallError, Cast, GenServer, ReplyTo, Server, ServerContext, StartOptions,
};
use grove_otp::StartError;
use grove_runtime::{whereis, Context, ExitReason, Message, Pid};

/// The servers now hanging in a `Hang` or `DropThenHang` call, so that a test kills its own server
/// only once that server hangs (tests in this file run in parallel).
static HANGING: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// A server that fails a call in one of the ways a server can go away.
struct Fragile;

#[derive(Debug, Clone, Copy)]
enum Req {
    /// Answers.
    Ping,
    /// Stops in `handle_call` without answering.
    Stop,
    /// Panics in `handle_call`.
    Panic,
    /// Never answers; the test kills the server meanwhile.
    Hang,
    /// Never answers (for timeouts).
    Ignore,
    /// Drops the reply handle, then hangs in the same callback; the test kills the server.
    DropThenHang,
    /// Calls itself.
    CallSelf,
}

impl GenServer for Fragile {}

/// Stops the server with an error.
struct Fail;

impl Cast<Fail> for Fragile {
    async fn handle_cast(&mut self, _: Fail, ctx: &mut ServerContext<Self>) {
        ctx.stop(ExitReason::error("told to fail"));
    }
}

impl Call<Req> for Fragile {
    type Reply = Result<(), CallError>;

    async fn handle_call(
        &mut self,
        request: Req,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        match request {
            Req::Ping => {
                from.reply(Ok(()));
            }
            Req::Stop => ctx.stop(ExitReason::error("asked to stop")),
            Req::Panic => panic!("asked to panic"),
            Req::Hang => {
                HANGING.lock().unwrap().push(ctx.pid());
                std::future::pending::<()>().await
            }
            Req::Ignore => std::future::pending::<()>().await,
            Req::DropThenHang => {
                drop(from);
                HANGING.lock().unwrap().push(ctx.pid());
                std::future::pending::<()>().await
            }
            Req::CallSelf => {
                // Would wait forever without the check: the server is busy in this very call.
                let me = Server::<Fragile>::from_pid(ctx.pid());
                let outcome = me.call_timeout(Req::Ping, Duration::MAX).await;
                from.reply(outcome.map(|_| ()));
            }
        }
    }
}

/// Kills `pid` from another task as soon as that server hangs in a `Hang` or `DropThenHang` call.
fn kill_once_it_hangs(pid: Pid) {
    tokio::spawn(async move {
        while !HANGING.lock().unwrap().contains(&pid) {
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
        HANGING.lock().unwrap().retain(|hanging| *hanging != pid);
        grove_runtime::exit(pid, ExitReason::Kill);
    });
}

async fn start_named(name: &str) -> Result<Server<Fragile>, StartError> {
    Server::start_opt(Fragile, StartOptions::new().name(name)).await
}

/// "The call failed, so start the server again under its name" must never find the name taken:
/// the caller hears of the exit after the server is gone, as OTP's caller does from its monitor's
/// `DOWN`. Thousands of rounds, with the server stopping, panicking or being killed mid-call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_under_the_name_right_after_a_failed_call_never_finds_it_taken() {
    const ROUNDS: usize = 3_000;
    const NAME: &str = "restarted_after_a_failed_call";
    let mut server = start_named(NAME).await.expect("first start");
    for round in 0..ROUNDS {
        let outcome = match round % 3 {
            0 => server.call(Req::Stop).await,
            1 => server.call(Req::Panic).await,
            _ => {
                // Killed from another thread while the call waits in `handle_call`.
                kill_once_it_hangs(server.pid());
                server.call(Req::Hang).await
            }
        };
        match outcome {
            Err(CallError::Exited(_)) => {}
            other => panic!("round {round}: expected Exited, got {other:?}"),
        }
        // The caller heard: by now the server is out of the process table and its name is free.
        assert!(!grove_runtime::is_alive(server.pid()), "round {round}");
        assert_eq!(whereis(NAME), None, "round {round}");
        server = match start_named(NAME).await {
            Ok(server) => server,
            Err(error) => panic!("round {round}: restart under the name failed: {error}"),
        };
    }
    server.stop(ExitReason::Normal).await.expect("stop");
}

/// Monitors, links and `await_exit` also see a death only once the name is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_links_and_await_exit_see_a_death_after_the_name_is_free() {
    const ROUNDS: usize = 1_000;
    const NAME: &str = "watched_while_it_exits";
    let failures = in_process(|mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        let mut failures = Vec::new();
        for round in 0..ROUNDS {
            let server = start_named(NAME).await.expect("start");
            let reference = ctx.monitor(server.pid());
            ctx.link(server.pid());
            let exited = grove_runtime::watch_exit(server.pid()).expect("alive");
            server.cast(Fail);
            let mut seen = 0;
            while seen < 2 {
                match tokio::time::timeout(LONG, ctx.recv())
                    .await
                    .expect("signals")
                {
                    Message::Down(down) if down.reference == reference => {}
                    Message::Exit(exit) if exit.from == server.pid() => {}
                    other => panic!("unexpected {other:?}"),
                }
                seen += 1;
                if whereis(NAME).is_some() {
                    failures.push(format!(
                        "round {round}: a signal came while the name was held"
                    ));
                }
            }
            exited.await;
            if whereis(NAME).is_some() {
                failures.push(format!(
                    "round {round}: await_exit returned with the name held"
                ));
            }
        }
        failures
    })
    .await;
    assert!(failures.is_empty(), "{failures:?}");
}

/// OTP exits a server that calls itself with `calling_self` at once; Grove's call fails at once
/// with `CallingSelf` rather than waiting out the timeout (here: forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_calling_itself_fails_at_once_with_calling_self() {
    let server = Server::start(Fragile).await.expect("start");
    let outcome = tokio::time::timeout(LONG, server.call(Req::CallSelf))
        .await
        .expect("the self-call must fail at once, not wait");
    assert_eq!(outcome, Ok(Err(CallError::CallingSelf)));
    assert_eq!(
        CallError::CallingSelf.into_exit_reason(),
        ExitReason::CallingSelf
    );
    server.stop(ExitReason::Normal).await.expect("stop");
}

/// `?` on a failed call exits with Erlang's reason, which a linked, trapping process sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_mark_on_a_failed_call_exits_with_erlangs_reasons() {
    async fn exit_reason_of_a_caller(
        call: impl std::future::Future<Output = Result<(), CallError>> + Send + 'static,
    ) -> ExitReason {
        let caller = grove_runtime::spawn(move |mut ctx: Context<()>| async move {
            let _ = ctx.recv().await; // watched before it starts
            call.await?;
            Ok(())
        });
        let exited = exit_of(caller.pid());
        grove_runtime::send(caller, ());
        exited.await
    }

    // A dead pid, and a name nobody holds: noproc (OTP: `{noproc, {gen_server, call, ...}}`).
    let server = Server::start(Fragile).await.expect("start");
    let pid: Pid = server.pid();
    server.stop(ExitReason::Normal).await.expect("stop");
    let reason = exit_reason_of_a_caller(async move {
        Server::<Fragile>::from_pid(pid).call(Req::Ping).await?.ok();
        Ok(())
    })
    .await;
    assert_eq!(reason, ExitReason::NoProc);
    assert_eq!(
        CallError::NotRegistered("nobody".into()).into_exit_reason(),
        ExitReason::NoProc
    );

    // A timeout: `timeout`.
    let server = Server::start(Fragile).await.expect("start");
    let reason = exit_reason_of_a_caller(async move {
        server
            .call_timeout(Req::Ignore, Duration::from_millis(20))
            .await?
            .ok();
        Ok(())
    })
    .await;
    assert_eq!(reason, ExitReason::Timeout);
    assert_eq!(reason.to_string(), "timeout");
    grove_runtime::exit(server.pid(), ExitReason::Kill);

    // The server's own reason when it exits during the call.
    let server = Server::start(Fragile).await.expect("start");
    let reason = exit_reason_of_a_caller(async move {
        server.call(Req::Stop).await?.ok();
        Ok(())
    })
    .await;
    assert_eq!(reason, ExitReason::error("asked to stop"));

    // The prose stays for people: Display explains.
    assert!(CallError::CallingSelf.to_string().contains("calling_self"));
    assert_eq!(
        ExitReason::NodeDown("b@host".into()).to_string(),
        "{nodedown, b@host}"
    );
}

/// A server killed in a callback that had already dropped the reply handle: whether the server
/// would stop was not known when the handle went, so the verdict waited; the kill must still give
/// the caller `Exited(killed)` (not `NoReply`, which says the server runs on), after the name is
/// free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_after_dropping_a_reply_handle_gives_exited_killed() {
    const NAME: &str = "killed_after_dropping_a_reply";
    for round in 0..200 {
        let server = start_named(NAME).await.expect("start");
        kill_once_it_hangs(server.pid());
        let outcome =
            tokio::time::timeout(LONG, server.call_timeout(Req::DropThenHang, Duration::MAX))
                .await
                .expect("the caller must hear of the kill");
        assert_eq!(
            outcome,
            Err(CallError::Exited(ExitReason::Killed)),
            "round {round}"
        );
        assert_eq!(whereis(NAME), None, "round {round}");
    }
}

/// Whoever finds a process dead (`is_alive`, a monitor's `noproc`) finds its name free: the name
/// is released under the same lock that marks the process dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_found_dead_has_already_released_its_name() {
    const NAME: &str = "found_dead";
    for round in 0..2_000 {
        let server = start_named(NAME).await.expect("start");
        let pid = server.pid();
        // Another thread stops it while this one watches the process table, not the server.
        tokio::spawn(async move {
            let _ = Server::<Fragile>::from_pid(pid).call(Req::Stop).await;
        });
        let deadline = tokio::time::Instant::now() + LONG;
        while grove_runtime::is_alive(pid) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: never died"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(whereis(NAME), None, "round {round}: dead but still named");
    }
}
