//! The loop a server's process runs: `init`, then one message at a time to the callbacks, with
//! the continue, idle timeout, hibernate and stop requests they leave in the context, and
//! `terminate` on the way out.

use super::call::{parking, UnansweredCalls};
use super::request::Request;
use super::{Envelope, GenServer, Info, ServerContext};
use crate::start::{guarded, Ack, StartError};
use std::sync::Arc;

use grove_runtime::sys::{LaneClosed, LoopStatistics, SysError, SystemRequest};
use grove_runtime::{Context, ExitReason, Message, Pid};

/// Registers the new server in a `via` registry, from inside its process; returns what undoes
/// it (for a failed `init`, so the key is free when the starter hears of the failure).
pub(crate) type ViaRegistration =
    Box<dyn FnOnce(Pid) -> Result<Box<dyn FnOnce() + Send>, StartError> + Send>;

pub(crate) async fn serve<S: GenServer>(
    process: Context<Envelope<S>>,
    mut state: S,
    parent: Option<Pid>,
    via: Option<ViaRegistration>,
    name: Option<Arc<str>>,
    ack: Ack,
) -> ExitReason {
    grove_runtime::set_label(label::<S>(name));
    let me = process.addr();
    grove_runtime::sys::set_system_lane(Arc::new(move |request| {
        grove_runtime::try_deliver(me, Envelope::<S>(Request::System(request))).map_err(|error| {
            match error {
                grove_runtime::SendError::Full { .. } => LaneClosed::Full,
                _ => LaneClosed::Gone,
            }
        })
    }));
    let mut ctx = ServerContext::new(process, parent);
    if let Err(error) = initialize(&mut state, &mut ctx, via).await {
        // The starter gets the error back; it must not also get an exit signal.
        if let Some(parent) = parent {
            ctx.process.unlink(parent);
        }
        let reason = match &error {
            StartError::Init(reason) => reason.clone(),
            _ => ExitReason::Normal,
        };
        ack.send(Err(error));
        return reason;
    }
    ack.send(Ok(()));
    let (reason, mut unanswered, last) = serve_messages(&mut state, &mut ctx).await;
    if !reason.is_normal() {
        if let Some(kind) = last {
            grove_runtime::note_last_message(kind);
        }
    }
    // `terminate` runs unless the server is going down from a panic inside `terminate` itself.
    let (terminated, dropped) = parking(guarded(state.terminate(&reason, &mut ctx))).await;
    unanswered.extend(dropped);
    if let Err(panic) = terminated {
        tracing::error!(server = %ctx.pid(), %reason, "terminate panicked: {panic}");
    }
    // The state and the mailbox buffer go now, not after this function returns: calls they
    // still hold (deferred replies, queued requests) then hear why the server went too.
    let (_, dropped) = parking(async move { drop((state, ctx)) }).await;
    unanswered.extend(dropped);
    // Calls the server dropped on its way out hear why it went.
    unanswered.exited(&reason);
    reason
}

async fn initialize<S: GenServer>(
    state: &mut S,
    ctx: &mut ServerContext<S>,
    via: Option<ViaRegistration>,
) -> Result<(), StartError> {
    let unregister = match via {
        Some(register) => Some(register(ctx.pid())?),
        None => None,
    };
    let outcome = match guarded(state.init(ctx)).await {
        Ok(Ok(())) => match ctx.stop.take() {
            Some(reason) => Err(StartError::Init(reason)),
            None => Ok(()),
        },
        Ok(Err(reason)) | Err(reason) => Err(StartError::Init(reason)),
    };
    if let (Err(_), Some(unregister)) = (&outcome, unregister) {
        unregister();
    }
    outcome
}

/// What the server is called in logs and introspection: `gen_server Kv`, or the behaviour's
/// kind and its registered name (`supervisor root`).
fn label<S: GenServer>(name: Option<Arc<str>>) -> String {
    match (name, S::KIND) {
        (Some(name), kind) => format!("{kind} {name}"),
        (None, "gen_server") => format!("gen_server {}", super::short_type_name::<S>()),
        (None, kind) => kind.to_string(),
    }
}

/// Handles messages until a callback asks to stop, a stop request or the parent's exit arrives,
/// or a callback panics; returns the reason to stop with, the calls the last callback dropped
/// unanswered (their callers learn the reason once `terminate` has run), and the kind of the
/// last message handled.
async fn serve_messages<S: GenServer>(
    state: &mut S,
    ctx: &mut ServerContext<S>,
) -> (ExitReason, UnansweredCalls, Option<&'static str>) {
    let mut unanswered = UnansweredCalls::default();
    let mut last = None;
    loop {
        if let Some(reason) = ctx.stop.take() {
            return (reason, unanswered, last);
        }
        // The server goes on: calls dropped by the last callback were dropped for good.
        if !unanswered.is_empty() {
            std::mem::take(&mut unanswered).dropped();
        }
        let (handled, dropped) = if let Some(next) = ctx.next.take() {
            last = Some(next.kind());
            parking(guarded(next.handle(state, ctx))).await
        } else {
            if std::mem::take(&mut ctx.hibernate) {
                ctx.process.shrink_mailbox();
            }
            let message = if ctx.suspended {
                let parent = ctx.parent;
                let wanted = move |m: &Message<Envelope<S>>| match m {
                    Message::User(Envelope(Request::System(_))) => true,
                    Message::Exit(exit) => Some(exit.from) == parent,
                    _ => false,
                };
                Some(ctx.process.recv_match(wanted).await)
            } else {
                match ctx.idle_timeout {
                    None => Some(ctx.process.recv().await),
                    Some(timeout) => ctx.process.recv_timeout(timeout).await,
                }
            };
            // Any message but a system request cancels the idle timeout (OTP keeps it across
            // system messages).
            if !matches!(
                &message,
                Some(Message::User(Envelope(
                    Request::System(_) | Request::Replace(_)
                )))
            ) {
                ctx.idle_timeout = None;
            }
            match message {
                None => {
                    last = Some("timeout");
                    parking(guarded(state.handle_info(Info::Timeout, ctx))).await
                }
                Some(Message::User(Envelope(Request::Handle(request)))) => {
                    let kind = request.kind();
                    last = Some(kind);
                    if ctx.tracing {
                        traced(
                            kind,
                            ctx.pid(),
                            parking(guarded(request.handle(state, ctx))),
                        )
                        .await
                    } else {
                        parking(guarded(request.handle(state, ctx))).await
                    }
                }
                Some(Message::User(Envelope(Request::System(request)))) => {
                    answer_system(state, ctx, request, last);
                    continue;
                }
                Some(Message::User(Envelope(Request::Replace(replace)))) => {
                    replace(state);
                    continue;
                }
                Some(Message::User(Envelope(Request::Stop(reason)))) => {
                    return (*reason, unanswered, Some("stop"))
                }
                // The parent going down takes a trapping server with it, through `terminate`.
                Some(Message::Exit(exit)) if Some(exit.from) == ctx.parent => {
                    return (exit.reason, unanswered, Some("exit"))
                }
                Some(Message::Exit(exit)) => {
                    last = Some("exit");
                    parking(guarded(state.handle_info(Info::Exit(*exit), ctx))).await
                }
                Some(Message::Down(down)) => {
                    last = Some("down");
                    parking(guarded(state.handle_info(Info::Down(*down), ctx))).await
                }
            }
        };
        if let Some(dropped) = dropped {
            unanswered = dropped;
        }
        if let Err(panic) = handled {
            return (panic, unanswered, last);
        }
    }
}

/// Answers a system request (`grove_runtime::sys`), outside the callbacks.
fn answer_system<S: GenServer>(
    state: &S,
    ctx: &mut ServerContext<S>,
    request: SystemRequest,
    last: Option<&'static str>,
) {
    match request {
        SystemRequest::GetState(answer) => {
            let _ = answer.send(state.format_state().ok_or(SysError::Declined));
        }
        SystemRequest::Statistics(answer) => {
            let _ = answer.send(LoopStatistics {
                last_message: last.map(String::from),
                suspended: ctx.suspended,
                tracing: ctx.tracing,
            });
        }
        SystemRequest::Suspend(answer) => {
            ctx.suspended = true;
            let _ = answer.send(());
        }
        SystemRequest::Resume(answer) => {
            ctx.suspended = false;
            let _ = answer.send(());
        }
        SystemRequest::Trace(on, answer) => {
            ctx.tracing = on;
            let _ = answer.send(());
        }
    }
}

/// Runs a callback with `sys::trace` on: one event as it starts on a message, one when done.
async fn traced<F: std::future::Future>(kind: &'static str, server: Pid, callback: F) -> F::Output {
    tracing::info!(%server, message = kind, "handling a message");
    let started = std::time::Instant::now();
    let output = callback.await;
    tracing::info!(%server, message = kind, took = ?started.elapsed(), "handled a message");
    output
}
