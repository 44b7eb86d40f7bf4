//! `Server::stop`: a stop request, then the wait until the server has exited, on this node or
//! on another (OTP's `gen_server:stop/2,3`, which also take `{Name, Node}`).
//!
//! A server on another node is watched the way OTP's `proc_lib:stop` watches one: a helper
//! process monitors it, sends the stop request over the same connection (so the monitor is in
//! place before the request arrives), and reports the `DOWN`'s reason. The helper ends when the
//! `DOWN` comes or when the caller stops waiting (a timeout), whichever is first.

use std::sync::Arc;
use std::time::Duration;

use grove_runtime::{watch_exit, Context, Dest, ExitReason, Message, Pid, SpawnOptions};
use tokio::sync::oneshot;

use super::{CallError, Envelope, GenServer, DEFAULT_CALL_TIMEOUT};

/// Stops the local server `pid` with `reason` and waits until it has exited.
pub(super) async fn stop_local<S: GenServer>(
    pid: Pid,
    reason: ExitReason,
) -> Result<(), CallError> {
    let Some(exited) = watch_exit(pid) else {
        return Err(CallError::NoProc);
    };
    grove_runtime::try_deliver(pid.assume_type(), Envelope::<S>::stop_of(reason.clone()))?;
    verdict(reason, exited.await)
}

/// Stops the server at `dest` on the node `node` with `reason`, and waits until it has exited
/// or its node is lost. Connects to `node` first if needed, within [`DEFAULT_CALL_TIMEOUT`].
pub(super) async fn stop_remote<S: GenServer>(
    dest: Dest,
    node: Arc<str>,
    reason: ExitReason,
) -> Result<(), CallError> {
    if !grove_runtime::remote::connected(&node, DEFAULT_CALL_TIMEOUT).await {
        return Err(CallError::NodeDown(node.to_string()));
    }
    let (mut report, reported) = oneshot::channel();
    let request = reason.clone();
    let target = dest.clone();
    let watcher = SpawnOptions::new().label(format!("stop of {dest}"));
    let spawned = grove_runtime::spawn_opt(watcher, move |mut ctx: Context<()>| async move {
        let reference = ctx.monitor(target.clone());
        let envelope = Envelope::<S>::stop_of(request);
        match &target {
            Dest::Pid(pid) => grove_runtime::send(pid.assume_type(), envelope),
            Dest::Remote { name, node } => grove_runtime::remote::send_named(name, node, envelope),
            // Only the two remote forms reach here.
            Dest::Name(_) | Dest::Via(_) => {}
        }
        let down = ctx.recv_match(
            |message| matches!(message, Message::Down(down) if down.reference == reference),
        );
        tokio::select! {
            down = down => {
                if let Message::Down(down) = down {
                    let _ = report.send(down.reason);
                }
            }
            // The caller gave up (its timeout): so does the helper, with its monitor.
            () = report.closed() => {
                ctx.demonitor(reference, true);
            }
        }
    });
    if let Err(error) = spawned {
        return Err(CallError::Refused(format!(
            "no process could watch {dest} stop: {error}"
        )));
    }
    // The helper ends only with the runtime, before the server's DOWN came.
    let exited = reported.await.map_err(|_| {
        CallError::Refused(format!(
            "the runtime stopped before {dest} was seen to exit"
        ))
    })?;
    match exited {
        ExitReason::NoConnection => Err(CallError::NodeDown(node.to_string())),
        // A DOWN with `noproc` at once: nothing was there. (A server that exits with `noproc`
        // itself reads the same way from here.) Named as a call to that free name is answered
        // by its node.
        ExitReason::NoProc => match dest {
            Dest::Remote { name, .. } => Err(CallError::NotRegistered(name.to_string())),
            _ => Err(CallError::NoProc),
        },
        exited => verdict(reason, exited),
    }
}

/// Waits for `stop` up to `timeout` (`Duration::MAX`: as long as it takes, OTP's `infinity`).
pub(super) async fn within(
    timeout: Duration,
    stop: impl std::future::Future<Output = Result<(), CallError>>,
) -> Result<(), CallError> {
    if timeout == Duration::MAX {
        return stop.await;
    }
    tokio::time::timeout(timeout, stop)
        .await
        .unwrap_or(Err(CallError::Timeout(timeout)))
}

/// A stop's outcome: the server exited with the reason it was asked to (a `kill` is reported
/// as `killed`), or with another one meanwhile.
fn verdict(asked: ExitReason, exited: ExitReason) -> Result<(), CallError> {
    match exited {
        exited if exited == asked => Ok(()),
        ExitReason::Killed if asked == ExitReason::Kill => Ok(()),
        other => Err(CallError::Exited(other)),
    }
}
