//! The event manager's process: a `GenServer` holding the installed handlers.

use std::any::Any;

use grove_runtime::{ExitReason, Pid, Ref};

use super::{DynHandler, EventError, HandlerId, HandlerRemoved, Removal};
use crate::gen_server::{Call, Cast, GenServer, Info, ReplyTo, ServerContext};
use crate::start::{guarded, guarded_sync};

/// The process that supervises a handler, and what to run when the handler is removed.
pub(crate) struct Owner {
    pub(crate) pid: Pid,
    pub(crate) on_removed: Box<dyn FnOnce(HandlerRemoved) + Send>,
}

type Make<E> = Box<dyn FnOnce(Option<Box<dyn Any + Send>>) -> Box<dyn DynHandler<E>> + Send>;

/// What the manager is asked, each a type with its own reply: the result
/// [`super::EventManager`]'s method for it returns.
pub(super) struct AddHandler<E> {
    pub(super) id: HandlerId,
    pub(super) handler: Box<dyn DynHandler<E>>,
    pub(super) owner: Option<Owner>,
}
/// Answered with the removed handler, of whatever type it is.
pub(super) struct DeleteHandler(pub(super) HandlerId);
pub(super) struct SwapHandler<E> {
    pub(super) old: HandlerId,
    pub(super) new: HandlerId,
    pub(super) make: Make<E>,
}
pub(super) struct SyncNotify<E>(pub(super) E);
type HandlerFn<R> = Box<dyn FnOnce(&mut dyn Any) -> Result<R, EventError> + Send>;

/// Runs a function on the handler `id`; the function finds out whether it is of the type it
/// expects.
pub(super) struct CallHandler<R> {
    pub(super) id: HandlerId,
    pub(super) request: HandlerFn<R>,
}
pub(super) struct WhichHandlers;
/// An event that nobody waits for (`notify`).
pub(super) struct Notify<E>(pub(super) E);

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

    async fn call_handler<R>(
        &mut self,
        call: CallHandler<R>,
        ctx: &mut ServerContext<Self>,
    ) -> Result<R, EventError> {
        let Some(index) = self.position(&call.id) else {
            return Err(EventError::NotFound(call.id));
        };
        let handler = self.handlers[index].handler.as_any();
        match guarded_sync(|| (call.request)(handler)) {
            Ok(result) => result,
            Err(reason) => {
                let installed = self.handlers.remove(index);
                remove(installed, Removal::Failed(reason.clone()), ctx).await;
                Err(EventError::HandlerFailed(reason))
            }
        }
    }

    async fn delete(
        &mut self,
        id: HandlerId,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Box<dyn Any + Send>, EventError> {
        let index = self.position(&id).ok_or(EventError::NotFound(id))?;
        let installed = self.handlers.remove(index);
        Ok(remove(installed, Removal::Deleted, ctx).await.into_any())
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
    const KIND: &'static str = "event_manager";

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // So a supervisor's shutdown runs every handler's terminate.
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle_info(&mut self, info: Info, ctx: &mut ServerContext<Self>) {
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
            Info::Timeout => {}
        }
    }

    async fn terminate(&mut self, reason: &ExitReason, ctx: &mut ServerContext<Self>) {
        for installed in std::mem::take(&mut self.handlers) {
            remove(installed, Removal::ManagerStopped(reason.clone()), ctx).await;
        }
    }
}

type Ctx<E> = ServerContext<EventServer<E>>;

impl<E: Send + Sync + 'static> Call<AddHandler<E>> for EventServer<E> {
    type Reply = Result<(), EventError>;
    async fn handle_call(
        &mut self,
        add: AddHandler<E>,
        from: ReplyTo<Self::Reply>,
        ctx: &mut Ctx<E>,
    ) {
        from.reply(self.add(add.id, add.handler, add.owner, ctx).await);
    }
}

impl<E: Send + Sync + 'static> Call<DeleteHandler> for EventServer<E> {
    type Reply = Result<Box<dyn Any + Send>, EventError>;
    async fn handle_call(
        &mut self,
        DeleteHandler(id): DeleteHandler,
        from: ReplyTo<Self::Reply>,
        ctx: &mut Ctx<E>,
    ) {
        from.reply(self.delete(id, ctx).await);
    }
}

impl<E: Send + Sync + 'static> Call<SwapHandler<E>> for EventServer<E> {
    type Reply = Result<(), EventError>;
    async fn handle_call(
        &mut self,
        swap: SwapHandler<E>,
        from: ReplyTo<Self::Reply>,
        ctx: &mut Ctx<E>,
    ) {
        from.reply(self.swap(swap.old, swap.new, swap.make, ctx).await);
    }
}

impl<E: Send + Sync + 'static> Call<SyncNotify<E>> for EventServer<E> {
    type Reply = ();
    async fn handle_call(
        &mut self,
        SyncNotify(event): SyncNotify<E>,
        from: ReplyTo<()>,
        ctx: &mut Ctx<E>,
    ) {
        self.dispatch(&event, ctx).await;
        from.reply(());
    }
}

impl<E: Send + Sync + 'static, R: Send + 'static> Call<CallHandler<R>> for EventServer<E> {
    type Reply = Result<R, EventError>;
    async fn handle_call(
        &mut self,
        call: CallHandler<R>,
        from: ReplyTo<Self::Reply>,
        ctx: &mut Ctx<E>,
    ) {
        from.reply(self.call_handler(call, ctx).await);
    }
}

impl<E: Send + Sync + 'static> Call<WhichHandlers> for EventServer<E> {
    type Reply = Vec<HandlerId>;
    async fn handle_call(&mut self, _: WhichHandlers, from: ReplyTo<Self::Reply>, _: &mut Ctx<E>) {
        from.reply(self.handlers.iter().map(|h| h.id.clone()).collect());
    }
}

impl<E: Send + Sync + 'static> Cast<Notify<E>> for EventServer<E> {
    async fn handle_cast(&mut self, Notify(event): Notify<E>, ctx: &mut Ctx<E>) {
        self.dispatch(&event, ctx).await;
    }
}
