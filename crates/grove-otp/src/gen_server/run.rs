//! The loop a server's process runs: `init`, then one message at a time to the callbacks, with
//! the continue, idle timeout, hibernate and stop requests they leave in the context, and
//! `terminate` on the way out.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use grove_runtime::{Context, ExitReason, Message, Pid};

use super::{Envelope, GenServer, Info, Request, ServerContext};
use crate::start::{Ack, StartError};

/// Registers the new server in a `via` registry, from inside its process.
pub(crate) type ViaRegistration = Box<dyn FnOnce(Pid) -> Result<(), StartError> + Send>;

/// Runs a callback, turning a panic into the server's exit reason.
async fn guarded<T>(callback: impl Future<Output = T>) -> Result<T, ExitReason> {
    AssertUnwindSafe(callback)
        .catch_unwind()
        .await
        .map_err(|payload| ExitReason::from_panic(&*payload))
}

pub(crate) async fn serve<S: GenServer>(
    process: Context<Envelope<S>>,
    mut state: S,
    parent: Option<Pid>,
    via: Option<ViaRegistration>,
    ack: Ack,
) -> ExitReason {
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
        let _ = ack.send(Err(error));
        return reason;
    }
    let _ = ack.send(Ok(()));
    let reason = serve_messages(&mut state, &mut ctx).await;
    // `terminate` runs unless the server is going down from a panic inside `terminate` itself.
    match guarded(state.terminate(&reason, &mut ctx)).await {
        Ok(()) => reason,
        Err(panic) => {
            tracing::error!(server = %ctx.pid(), %reason, "terminate panicked: {panic}");
            reason
        }
    }
}

async fn initialize<S: GenServer>(
    state: &mut S,
    ctx: &mut ServerContext<S>,
    via: Option<ViaRegistration>,
) -> Result<(), StartError> {
    if let Some(register) = via {
        register(ctx.pid())?;
    }
    match guarded(state.init(ctx)).await {
        Ok(Ok(())) => match ctx.stop.take() {
            Some(reason) => Err(StartError::Init(reason)),
            None => Ok(()),
        },
        Ok(Err(reason)) | Err(reason) => Err(StartError::Init(reason)),
    }
}

/// Handles messages until a callback asks to stop, a stop request or the parent's exit arrives,
/// or a callback panics; returns the reason to stop with.
async fn serve_messages<S: GenServer>(state: &mut S, ctx: &mut ServerContext<S>) -> ExitReason {
    loop {
        if let Some(reason) = ctx.stop.take() {
            return reason;
        }
        if let Some(next) = ctx.next.take() {
            if let Err(panic) = guarded(state.handle_continue(next, ctx)).await {
                return panic;
            }
            continue;
        }
        if std::mem::take(&mut ctx.hibernate) {
            ctx.process.shrink_mailbox();
        }
        let message = match ctx.idle_timeout.take() {
            None => Some(ctx.process.recv().await),
            Some(timeout) => ctx.process.recv_timeout(timeout).await,
        };
        let handled = match message {
            None => guarded(state.handle_info(Info::Timeout, ctx)).await,
            Some(Message::User(Envelope(request))) => match request {
                Request::Call(request, from) => {
                    guarded(state.handle_call(request, from, ctx)).await
                }
                Request::Cast(request) => guarded(state.handle_cast(request, ctx)).await,
                Request::Info(info) => guarded(state.handle_info(Info::Message(info), ctx)).await,
                Request::Stop(reason) => return *reason,
            },
            // The parent going down takes a trapping server with it, through `terminate`.
            Some(Message::Exit(exit)) if Some(exit.from) == ctx.parent => return exit.reason,
            Some(Message::Exit(exit)) => guarded(state.handle_info(Info::Exit(*exit), ctx)).await,
            Some(Message::Down(down)) => guarded(state.handle_info(Info::Down(*down), ctx)).await,
        };
        if let Err(panic) = handled {
            return panic;
        }
    }
}
