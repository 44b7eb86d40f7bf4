//! `EventManager`: a process that passes every event it gets to a list of handlers (OTP's
//! `gen_event`). Logging, alarms and metrics hooks are built this way: whoever raises an event
//! does not know who listens, and listeners come and go at run time.
//!
//! A handler is a value implementing [`EventHandler`]; it lives inside the manager's process,
//! and its callbacks run there, one handler and one event at a time, in the order the handlers
//! were added. A handler that returns an error or panics is removed (its `terminate` runs) and
//! the manager and the other handlers go on. A *supervised* handler
//! ([`EventManager::add_sup_handler`]) is tied to the process that added it: its owner is told
//! when it is removed, and it is removed when its owner exits.
//!
//! ```
//! use grove_otp::event_manager::{EventHandler, EventManager};
//! use grove_runtime::ExitReason;
//!
//! #[derive(Debug)]
//! enum Alarm { Set(&'static str), Clear(&'static str) }
//!
//! #[derive(Default)]
//! struct ActiveAlarms(Vec<&'static str>);
//!
//! impl EventHandler<Alarm> for ActiveAlarms {
//!     async fn handle_event(&mut self, alarm: &Alarm) -> Result<(), ExitReason> {
//!         match alarm {
//!             Alarm::Set(id) => self.0.push(id),
//!             Alarm::Clear(id) => self.0.retain(|active| active != id),
//!         }
//!         Ok(())
//!     }
//! }
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let alarms = EventManager::<Alarm>::start_link().await?;
//!     alarms.add_handler("active", ActiveAlarms::default()).await?;
//!     alarms.notify(Alarm::Set("database_disconnected"));
//!     alarms.sync_notify(Alarm::Set("disk_full")).await?;
//!     let active = alarms.call("active", |h: &mut ActiveAlarms| h.0.clone()).await?;
//!     assert_eq!(active, ["database_disconnected", "disk_full"]);
//!     Ok(())
//! });
//! ```

mod server;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use grove_runtime::{ExitReason, Pid};

use crate::gen_server::{Call, CallError, Server, StartOptions, DEFAULT_CALL_TIMEOUT};
use crate::start::StartError;
use crate::supervisor::IntoChild;
use server::{
    AddHandler, CallHandler, DeleteHandler, EventServer, Notify, Owner, SwapHandler, SyncNotify,
    WhichHandlers,
};

/// A handler's name within its manager, chosen when it is added.
pub type HandlerId = Arc<str>;

/// An event handler: state plus callbacks, run inside the manager's process.
///
/// Callbacks are `async`, but the manager waits for each before passing the event on: slow
/// work belongs in a [`crate::task::Task`] the handler starts.
pub trait EventHandler<E>: Send + 'static {
    /// Runs when the handler is added; an error means it is not added.
    fn init(&mut self) -> impl Future<Output = Result<(), ExitReason>> + Send {
        async { Ok(()) }
    }

    /// Handles one event. An error removes the handler: `normal` quietly (the handler asked to
    /// go, OTP's `remove_handler`), anything else as a failure, logged. A panic is a failure.
    fn handle_event(&mut self, event: &E) -> impl Future<Output = Result<(), ExitReason>> + Send;

    /// Runs when the handler is removed, whatever the cause, except when the manager is killed.
    fn terminate(&mut self, removal: &Removal) -> impl Future<Output = ()> + Send {
        let _ = removal;
        async {}
    }
}

/// Why a handler was removed; what its `terminate` and its supervising owner are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// [`EventManager::delete_handler`] removed it.
    Deleted,
    /// It asked to go: its `handle_event` returned `Err(ExitReason::Normal)`.
    Removed,
    /// [`EventManager::swap_handler`] replaced it.
    Swapped,
    /// A callback returned an error or panicked (or a [`EventManager::call`] closure panicked).
    Failed(ExitReason),
    /// It was added with [`EventManager::add_sup_handler`] and its owner exited.
    OwnerExited(ExitReason),
    /// The manager stopped with this reason.
    ManagerStopped(ExitReason),
}

/// What a supervising owner is told when its handler is removed (OTP's `gen_event_EXIT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerRemoved {
    /// The handler's id.
    pub id: HandlerId,
    /// Why it was removed.
    pub removal: Removal,
}

/// Why an event manager refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A handler with this id is installed already; delete it first or use another id.
    #[error(
        "a handler with the id {0:?} is installed already; delete it first or pick another id"
    )]
    AlreadyPresent(HandlerId),
    /// No handler has this id.
    #[error("no handler has the id {0:?}")]
    NotFound(HandlerId),
    /// The handler with this id is of another type than the call expected.
    #[error("the handler {0:?} is not of the type the call expected")]
    WrongType(HandlerId),
    /// The handler's `init` failed (or panicked); it was not added.
    #[error("the handler's init failed: {0}")]
    Init(ExitReason),
    /// The handler failed while handling the request, and was removed.
    #[error("the handler failed and was removed: {0}")]
    HandlerFailed(ExitReason),
    /// A supervised handler needs an owner: call `add_sup_handler` from inside a process.
    #[error("add_sup_handler needs an owning process; call it from inside a process")]
    NoOwner,
    /// The manager did not answer.
    #[error("the event manager did not answer: {0}")]
    Manager(CallError),
}

impl From<EventError> for ExitReason {
    fn from(error: EventError) -> Self {
        ExitReason::error(error)
    }
}

impl From<CallError> for EventError {
    fn from(error: CallError) -> Self {
        EventError::Manager(error)
    }
}

/// A handler behind a box: what the manager holds. Implemented for every [`EventHandler`].
pub(crate) trait DynHandler<E>: Send {
    fn init(&mut self) -> BoxFuture<'_, Result<(), ExitReason>>;
    fn handle_event<'a>(&'a mut self, event: &'a E) -> BoxFuture<'a, Result<(), ExitReason>>;
    fn terminate<'a>(&'a mut self, removal: &'a Removal) -> BoxFuture<'a, ()>;
    fn as_any(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<E: Sync + 'static, H: EventHandler<E>> DynHandler<E> for H {
    fn init(&mut self) -> BoxFuture<'_, Result<(), ExitReason>> {
        Box::pin(EventHandler::init(self))
    }

    fn handle_event<'a>(&'a mut self, event: &'a E) -> BoxFuture<'a, Result<(), ExitReason>> {
        Box::pin(EventHandler::handle_event(self, event))
    }

    fn terminate<'a>(&'a mut self, removal: &'a Removal) -> BoxFuture<'a, ()> {
        Box::pin(EventHandler::terminate(self, removal))
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A handle on a running event manager for events of type `E`: `Copy`, the size of a pid.
pub struct EventManager<E: Send + Sync + 'static> {
    server: Server<EventServer<E>>,
}

impl<E: Send + Sync + 'static> Clone for EventManager<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Send + Sync + 'static> Copy for EventManager<E> {}

impl<E: Send + Sync + 'static> PartialEq for EventManager<E> {
    fn eq(&self, other: &Self) -> bool {
        self.server == other.server
    }
}

impl<E: Send + Sync + 'static> Eq for EventManager<E> {}

impl<E: Send + Sync + 'static> fmt::Debug for EventManager<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventManager({})", self.pid())
    }
}

impl<E: Send + Sync + 'static> IntoChild for EventManager<E> {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl<E: Send + Sync + 'static> EventManager<E> {
    /// Starts a manager with no handlers, not linked.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_opt(StartOptions::new()).await
    }

    /// Starts a manager with no handlers, linked to the calling process.
    pub async fn start_link() -> Result<Self, StartError> {
        Self::start_opt(StartOptions::new().link()).await
    }

    /// Starts a manager with options (a registered name, say).
    pub async fn start_opt(options: StartOptions) -> Result<Self, StartError> {
        let server = Server::start_opt(EventServer::new(), options).await?;
        Ok(EventManager { server })
    }

    /// The manager at `pid`. If it manages events of another type, requests fail with
    /// [`CallError::WrongType`].
    pub fn from_pid(pid: Pid) -> Self {
        EventManager {
            server: Server::from_pid(pid),
        }
    }

    /// The manager for this event type registered as `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(|server| EventManager { server })
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.server.pid()
    }

    /// Asks the manager and waits as long as it lives (OTP's `infinity` for these requests: a
    /// slow handler delays the answer, it does not make the request fail after the fact).
    async fn request<M: Send + 'static>(
        &self,
        request: M,
    ) -> Result<<EventServer<E> as Call<M>>::Reply, EventError>
    where
        EventServer<E>: Call<M>,
    {
        Ok(self.server.call_timeout(request, Duration::MAX).await?)
    }

    /// Adds `handler` as `id`, after its `init` succeeds.
    pub async fn add_handler<H: EventHandler<E>>(
        &self,
        id: impl Into<HandlerId>,
        handler: H,
    ) -> Result<(), EventError> {
        self.request(AddHandler {
            id: id.into(),
            handler: Box::new(handler),
            owner: None,
        })
        .await?
    }

    /// Adds `handler` as `id`, supervised by the calling process (OTP's `add_sup_handler`): when
    /// the handler is removed for any reason but its owner's exit, `on_removed` runs (in the
    /// manager's process; send yourself a message from it), and when the owner exits, the
    /// handler is removed.
    pub async fn add_sup_handler<H: EventHandler<E>>(
        &self,
        id: impl Into<HandlerId>,
        handler: H,
        on_removed: impl FnOnce(HandlerRemoved) + Send + 'static,
    ) -> Result<(), EventError> {
        let owner = grove_runtime::self_pid().ok_or(EventError::NoOwner)?;
        self.request(AddHandler {
            id: id.into(),
            handler: Box::new(handler),
            owner: Some(Owner {
                pid: owner,
                on_removed: Box::new(on_removed),
            }),
        })
        .await?
    }

    /// Removes the handler `id`, running its `terminate` with [`Removal::Deleted`], and gives
    /// it back.
    pub async fn delete_handler<H: EventHandler<E>>(
        &self,
        id: impl Into<HandlerId>,
    ) -> Result<H, EventError> {
        let id = id.into();
        let removed = self.request(DeleteHandler(id.clone())).await??;
        removed
            .downcast::<H>()
            .map(|handler| *handler)
            .map_err(|_| EventError::WrongType(id))
    }

    /// Replaces handler `old` (of type `Old`) by the one `make` builds, in one step: no event
    /// falls between them. `old`'s `terminate` runs with [`Removal::Swapped`]; `make` gets it
    /// (`None` if there was no handler `old` of type `Old`), so state can be carried over, and
    /// the new handler is added as `new` (OTP's `swap_handler`). A supervised `old` stays
    /// supervised by the same owner.
    pub async fn swap_handler<Old, New>(
        &self,
        old: impl Into<HandlerId>,
        new: impl Into<HandlerId>,
        make: impl FnOnce(Option<Old>) -> New + Send + 'static,
    ) -> Result<(), EventError>
    where
        Old: EventHandler<E>,
        New: EventHandler<E>,
    {
        let make = move |old: Option<Box<dyn Any + Send>>| {
            let old = old
                .and_then(|old| old.downcast::<Old>().ok())
                .map(|old| *old);
            let new: Box<dyn DynHandler<E>> = Box::new(make(old));
            new
        };
        self.request(SwapHandler {
            old: old.into(),
            new: new.into(),
            make: Box::new(make),
        })
        .await?
    }

    /// Sends `event` to every handler without waiting (OTP's `notify`).
    pub fn notify(&self, event: E) {
        self.server.cast(Notify(event));
    }

    /// Sends `event` to every handler and waits until all have handled it.
    pub async fn sync_notify(&self, event: E) -> Result<(), EventError> {
        self.request(SyncNotify(event)).await
    }

    /// Runs `request` on the handler `id` (of type `H`) inside the manager and returns what it
    /// returns (OTP's `gen_event:call`), waiting up to [`DEFAULT_CALL_TIMEOUT`]; the other
    /// requests wait as long as the manager lives, as in OTP. A panic in it removes the handler and gives
    /// [`EventError::HandlerFailed`].
    pub async fn call<H, R>(
        &self,
        id: impl Into<HandlerId>,
        request: impl FnOnce(&mut H) -> R + Send + 'static,
    ) -> Result<R, EventError>
    where
        H: EventHandler<E>,
        R: Send + 'static,
    {
        let id = id.into();
        let wrong_type = id.clone();
        let request = move |handler: &mut dyn Any| match handler.downcast_mut::<H>() {
            Some(handler) => Ok(request(handler)),
            None => Err(EventError::WrongType(wrong_type)),
        };
        let call = CallHandler {
            id,
            request: Box::new(request),
        };
        self.server.call_timeout(call, DEFAULT_CALL_TIMEOUT).await?
    }

    /// The handlers' ids, in the order events reach them.
    pub async fn which_handlers(&self) -> Result<Vec<HandlerId>, EventError> {
        self.request(WhichHandlers).await
    }

    /// Removes every handler (each `terminate` runs with [`Removal::ManagerStopped`]) and stops
    /// the manager with `normal`.
    pub async fn stop(&self) -> Result<(), CallError> {
        self.server.stop(ExitReason::Normal).await
    }
}
