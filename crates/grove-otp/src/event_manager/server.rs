//! The event manager's process: a `GenServer` holding the installed handlers.

use std::any::Any;

use grove_runtime::{ExitReason, Pid, Ref};

use super::{DynHandler, EventError, HandlerId, HandlerRemoved, Removal};
use crate::gen_server::{GenServer, Info, ReplyTo, ServerContext};
use crate::start::{guarded, guarded_sync};

/// The process that supervises a handler, and what to run when the handler is removed.
pub(crate) struct Owner {
    pub(crate) pid: Pid,
    pub(crate) on_removed: Box<dyn FnOnce(HandlerRemoved) + Send>,
}

type Make<E> = Box<dyn FnOnce(Option<Box<dyn Any + Send>>) -> Box<dyn DynHandler<E>> + Send>;
type HandlerRequest =
    Box<dyn FnOnce(&mut dyn Any) -> Result<Box<dyn Any + Send>, EventError> + Send>;

/// What the manager is asked. Each is answered with a boxed `Result<T, EventError>`, where `T` is
/// what [`super::EventManager`]'s method for it returns.
pub(super) enum Call<E> {
    Add {
        id: HandlerId,
        handler: Box<dyn DynHandler<E>>,
        owner: Option<Owner>,
    },
    Delete(HandlerId),
    Swap {
        old: HandlerId,
        new: HandlerId,
        make: Make<E>,
    },
    SyncNotify(E),
    Handler(HandlerId, HandlerRequest),
    Which,
}

struct Installed<E> {
    id: HandlerId,
    handler: Box<dyn DynHandler<E>>,
    owner: Option<(Owner, Ref)>,
}

/// The manager's state: its handlers, in the order events reach them.
pub(super) struct EventServer<E> {
    handlers: Vec<Installed<E>>,
}

impl<E> EventServer<E> {
    pub(crate) fn new() -> Self {
        EventServer {
            handlers: Vec::new(),
        }
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.handlers.iter().position(|h| &*h.id == id)
    }
}

fn reply<T: Send + 'static>(from: ReplyTo<Box<dyn Any + Send>>, result: Result<T, EventError>) {
    from.reply(Box::new(result));
}

impl<E: Send + Sync + 'static> EventServer<E> {
    /// Passes `event` to every handler in order, removing those that fail or ask to go.
    async fn dispatch(&mut self, event: &E, ctx: &mut ServerContext<Self>) {
        let mut index = 0;
        while index < self.handlers.len() {
            let handled = guarded(self.handlers[index].handler.handle_event(event)).await;
            let removal = match handled {
                Ok(Ok(())) => None,
                Ok(Err(ExitReason::Normal)) => Some(Removal::Removed),
                Ok(Err(reason)) | Err(reason) => Some(Removal::Failed(reason)),
            };
            match removal {
                None => index += 1,
                Some(removal) => {
                    let installed = self.handlers.remove(index);
                    remove(installed, removal, ctx).await;
                }
            }
        }
    }

    async fn add(
        &mut self,
        id: HandlerId,
        mut handler: Box<dyn DynHandler<E>>,
        owner: Option<Owner>,
        ctx: &mut ServerContext<Self>,
    ) -> Result<(), EventError> {
        if self.position(&id).is_some() {
            return Err(EventError::AlreadyPresent(id));
        }
        match guarded(handler.init()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) | Err(reason) => return Err(EventError::Init(reason)),
        }
        let owner = owner.map(|owner| {
            let monitor = ctx.monitor(owner.pid);
            (owner, monitor)
        });
        tracing::debug!(manager = %ctx.pid(), handler = %id, "event handler added");
        self.handlers.push(Installed { id, handler, owner });
        Ok(())
    }

    async fn swap(
        &mut self,
        old: HandlerId,
        new: HandlerId,
        make: Make<E>,
        ctx: &mut ServerContext<Self>,
    ) -> Result<(), EventError> {
        if old != new && self.position(&new).is_some() {
            return Err(EventError::AlreadyPresent(new));
        }
        let (previous, owner) = match self.position(&old) {
            Some(index) => {
                let mut installed = self.handlers.remove(index);
                terminate(&mut installed, &Removal::Swapped, ctx.pid()).await;
                (Some(installed.handler.into_any()), installed.owner)
            }
            None => (None, None),
        };
        // A supervised handler's owner knows it by its old id: tell it under that one if the
        // replacement fails.
        let mut handler = match guarded_sync(|| make(previous)) {
            Ok(handler) => handler,
            Err(reason) => {
                tell_owner(owner, &old, Removal::Failed(reason.clone()), ctx);
                return Err(EventError::Init(reason));
            }
        };
        // A supervised handler's owner (and the monitor on it) carries over to the new one.
        match guarded(handler.init()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) | Err(reason) => {
                tell_owner(owner, &old, Removal::Failed(reason.clone()), ctx);
                return Err(EventError::Init(reason));
            }
        }
        tracing::debug!(manager = %ctx.pid(), %old, %new, "event handler swapped");
        self.handlers.push(Installed {
            id: new,
            handler,
            owner,
        });
        Ok(())
    }

    async fn call_handler(
        &mut self,
        id: HandlerId,
        request: HandlerRequest,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Box<dyn Any + Send>, EventError> {
        let Some(index) = self.position(&id) else {
            return Err(EventError::NotFound(id));
        };
        let handler = self.handlers[index].handler.as_any();
        match guarded_sync(|| request(handler)) {
            Ok(result) => result,
            Err(reason) => {
                let installed = self.handlers.remove(index);
                remove(installed, Removal::Failed(reason.clone()), ctx).await;
                Err(EventError::HandlerFailed(reason))
            }
        }
    }
}

/// Runs the handler's `terminate`; a panic there is logged and goes no further.
async fn terminate<E>(installed: &mut Installed<E>, removal: &Removal, manager: Pid) {
    if let Err(panic) = guarded(installed.handler.terminate(removal)).await {
        tracing::error!(%manager, handler = %installed.id, %panic, "event handler panicked in terminate");
    }
}

/// Takes a removed handler down: its `terminate`, a log line, and word to its owner. Gives the
/// handler back.
async fn remove<E: Send + Sync + 'static>(
    mut installed: Installed<E>,
    removal: Removal,
    ctx: &mut ServerContext<EventServer<E>>,
) -> Box<dyn DynHandler<E>> {
    terminate(&mut installed, &removal, ctx.pid()).await;
    match &removal {
        Removal::Failed(reason) => {
            tracing::error!(manager = %ctx.pid(), handler = %installed.id, %reason, "event handler failed and was removed");
        }
        other => {
            tracing::debug!(manager = %ctx.pid(), handler = %installed.id, removal = ?other, "event handler removed");
        }
    }
    tell_owner(installed.owner.take(), &installed.id, removal, ctx);
    installed.handler
}

/// Tells a supervised handler's owner it was removed, unless the owner's own exit was the cause;
/// stops watching the owner either way.
fn tell_owner<E: Send + Sync + 'static>(
    owner: Option<(Owner, Ref)>,
    id: &HandlerId,
    removal: Removal,
    ctx: &mut ServerContext<EventServer<E>>,
) {
    let Some((owner, monitor)) = owner else {
        return;
    };
    ctx.demonitor(monitor, true);
    if matches!(removal, Removal::OwnerExited(_)) {
        return;
    }
    let removed = HandlerRemoved {
        id: id.clone(),
        removal,
    };
    if let Err(panic) = guarded_sync(|| (owner.on_removed)(removed)) {
        tracing::error!(manager = %ctx.pid(), handler = %id, %panic, "a handler owner's on_removed panicked");
    }
}

impl<E: Send + Sync + 'static> GenServer for EventServer<E> {
    type Call = Call<E>;
    type Reply = Box<dyn Any + Send>;
    type Cast = E;
    type Info = ();

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // So a supervisor's shutdown runs every handler's terminate.
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        call: Call<E>,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        match call {
            Call::Add { id, handler, owner } => {
                reply(from, self.add(id, handler, owner, ctx).await);
            }
            Call::Delete(id) => {
                let result = match self.position(&id) {
                    Some(index) => {
                        let installed = self.handlers.remove(index);
                        Ok(remove(installed, Removal::Deleted, ctx).await.into_any())
                    }
                    None => Err(EventError::NotFound(id)),
                };
                reply(from, result);
            }
            Call::Swap { old, new, make } => reply(from, self.swap(old, new, make, ctx).await),
            Call::SyncNotify(event) => {
                self.dispatch(&event, ctx).await;
                reply(from, Ok(()));
            }
            Call::Handler(id, request) => {
                reply(from, self.call_handler(id, request, ctx).await);
            }
            Call::Which => {
                let ids: Vec<HandlerId> = self.handlers.iter().map(|h| h.id.clone()).collect();
                reply(from, Ok(ids));
            }
        }
    }

    async fn handle_cast(&mut self, event: E, ctx: &mut ServerContext<Self>) {
        self.dispatch(&event, ctx).await;
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &mut ServerContext<Self>) {
        match info {
            Info::Down(down) => {
                let mut index = 0;
                while index < self.handlers.len() {
                    let owned = matches!(&self.handlers[index].owner, Some((_, monitor)) if *monitor == down.reference);
                    if owned {
                        let installed = self.handlers.remove(index);
                        remove(installed, Removal::OwnerExited(down.reason.clone()), ctx).await;
                    } else {
                        index += 1;
                    }
                }
            }
            // Exits of linked processes other than the parent (the parent's is handled by the
            // server loop): nothing of the manager's depends on them.
            Info::Exit(exit) => {
                tracing::debug!(manager = %ctx.pid(), from = %exit.from, reason = %exit.reason, "event manager ignored an exit")
            }
            Info::Message(()) | Info::Timeout => {}
        }
    }

    async fn terminate(&mut self, reason: &ExitReason, ctx: &mut ServerContext<Self>) {
        for installed in std::mem::take(&mut self.handlers) {
            remove(installed, Removal::ManagerStopped(reason.clone()), ctx).await;
        }
    }
}
