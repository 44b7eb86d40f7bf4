//! What a server's mailbox holds: each request boxed with the code that hands it to the right
//! callback (`Call<M>::handle_call` or `Cast<M>::handle_cast`), so one server takes requests of
//! many types, each typed end to end, and the loop that runs it needs no `match` on them.
//!
//! The box is made where the caller knows both the server's type and the request's; the loop
//! only runs it. The distribution layer takes a request back out of its box by type
//! ([`ErasedRequest::downcast_call`]) to put it on the wire.

use std::any::{Any, TypeId};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use tracing::Instrument;

use super::{Call, CallError, Cast, GenServer, ReplyTo, ServerContext};
use grove_runtime::ExitReason;

type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One request with its route to a callback of `S`.
pub(crate) trait Handler<S: GenServer>: Send + 'static {
    /// Runs the callback this request is for.
    fn handle<'a>(
        self: Box<Self>,
        server: &'a mut S,
        ctx: &'a mut ServerContext<S>,
    ) -> BoxFuture<'a>;
    /// The request's type name, for logs, traces and statistics.
    fn kind(&self) -> &'static str;
    /// Identifies the request's kind (call or cast) and type, for the distribution layer.
    fn key(&self) -> RequestKey;
    /// The box as `Any`, to take the request back out.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// Gives up on the request: a caller hears `error`.
    fn fail(self: Box<Self>, error: CallError);
}

/// A call of `M` and where its reply goes, with the caller's `grove.call` span when tracing
/// records it: the server's `grove.handle_call` span is its child, so a trace follows a call
/// across processes.
struct CallOf<M, R: Send + 'static> {
    request: M,
    from: ReplyTo<R>,
    caller: Option<Box<tracing::Span>>,
}

impl<S, M> Handler<S> for CallOf<M, <S as Call<M>>::Reply>
where
    S: Call<M>,
    M: Send + 'static,
{
    fn handle<'a>(
        self: Box<Self>,
        server: &'a mut S,
        ctx: &'a mut ServerContext<S>,
    ) -> BoxFuture<'a> {
        let CallOf {
            request,
            from,
            caller,
        } = *self;
        match caller {
            None => Box::pin(server.handle_call(request, from, ctx)),
            Some(caller) => {
                let span = tracing::debug_span!(
                    parent: &*caller,
                    "grove.handle_call",
                    server = %ctx.pid(),
                    request = std::any::type_name::<M>(),
                );
                Box::pin(server.handle_call(request, from, ctx).instrument(span))
            }
        }
    }

    fn kind(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn key(&self) -> RequestKey {
        RequestKey::call::<S, M>()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }

    fn fail(self: Box<Self>, error: CallError) {
        self.from.fail_with(error);
    }
}

/// A cast of `M` (also what `continue_with` and `send_after` carry).
struct CastOf<S, M> {
    request: M,
    _server: PhantomData<fn(S)>,
}

impl<S, M> Handler<S> for CastOf<S, M>
where
    S: Cast<M>,
    M: Send + 'static,
{
    fn handle<'a>(
        self: Box<Self>,
        server: &'a mut S,
        ctx: &'a mut ServerContext<S>,
    ) -> BoxFuture<'a> {
        Box::pin(server.handle_cast(self.request, ctx))
    }

    fn kind(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn key(&self) -> RequestKey {
        RequestKey::cast::<S, M>()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }

    fn fail(self: Box<Self>, _: CallError) {}
}

/// Which request a box holds: a call or a cast of one type to one server type. The distribution
/// layer keys its wire names by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey(TypeId);

impl RequestKey {
    /// The key of a call of `M` to an `S`.
    pub fn call<S: Call<M>, M: Send + 'static>() -> Self {
        RequestKey(TypeId::of::<CallOf<M, <S as Call<M>>::Reply>>())
    }

    /// The key of a cast of `M` to an `S`.
    pub fn cast<S: Cast<M>, M: Send + 'static>() -> Self {
        RequestKey(TypeId::of::<CastOf<S, M>>())
    }
}

/// A boxed call or cast, taken out of an [`super::Envelope`] by the distribution layer.
pub struct ErasedRequest<S: GenServer>(pub(crate) Box<dyn Handler<S>>);

impl<S: GenServer> ErasedRequest<S> {
    /// Which request this is.
    pub fn key(&self) -> RequestKey {
        self.0.key()
    }

    /// The request's Rust type name.
    pub fn type_name(&self) -> &'static str {
        self.0.kind()
    }

    /// Gives up on the request: if it is a call, its caller gets `error` (a cast is dropped).
    /// For the distribution layer, when a request cannot be carried to its server's node.
    pub fn fail(self, error: CallError) {
        self.0.fail(error);
    }

    /// The call of `M` inside, with its reply handle; the request back if it holds another.
    pub fn downcast_call<M>(self) -> Result<(M, ReplyTo<<S as Call<M>>::Reply>), Self>
    where
        S: Call<M>,
        M: Send + 'static,
    {
        if self.key() != RequestKey::call::<S, M>() {
            return Err(self);
        }
        match self
            .0
            .into_any()
            .downcast::<CallOf<M, <S as Call<M>>::Reply>>()
        {
            Ok(call) => Ok((call.request, call.from)),
            // The key matched, so the type does: this arm is never taken.
            Err(_) => Err(ErasedRequest(Box::new(Gone))),
        }
    }

    /// The cast of `M` inside; the request back if it holds another.
    pub fn downcast_cast<M>(self) -> Result<M, Self>
    where
        S: Cast<M>,
        M: Send + 'static,
    {
        if self.key() != RequestKey::cast::<S, M>() {
            return Err(self);
        }
        match self.0.into_any().downcast::<CastOf<S, M>>() {
            Ok(cast) => Ok(cast.request),
            Err(_) => Err(ErasedRequest(Box::new(Gone))),
        }
    }
}

/// Stands in for a request that could not be taken back out (which a matching key rules out).
struct Gone;

impl<S: GenServer> Handler<S> for Gone {
    fn handle<'a>(self: Box<Self>, _: &'a mut S, _: &'a mut ServerContext<S>) -> BoxFuture<'a> {
        Box::pin(async {})
    }
    fn kind(&self) -> &'static str {
        "(gone)"
    }
    fn key(&self) -> RequestKey {
        RequestKey(TypeId::of::<Gone>())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn fail(self: Box<Self>, _: CallError) {}
}

pub(crate) fn call<S, M>(
    request: M,
    from: ReplyTo<<S as Call<M>>::Reply>,
    caller: Option<Box<tracing::Span>>,
) -> Box<dyn Handler<S>>
where
    S: Call<M>,
    M: Send + 'static,
{
    Box::new(CallOf {
        request,
        from,
        caller,
    })
}

pub(crate) fn cast<S, M>(request: M) -> Box<dyn Handler<S>>
where
    S: Cast<M>,
    M: Send + 'static,
{
    Box::new(CastOf {
        request,
        _server: PhantomData::<fn(S)>,
    })
}

/// A change of the state that bypasses the callbacks (`Server::replace_state`), which answers
/// its caller once made.
pub(crate) type Replace<S> = Box<dyn FnOnce(&mut S) + Send>;

/// What an envelope holds.
pub(crate) enum Request<S: GenServer> {
    /// A call or a cast.
    Handle(Box<dyn Handler<S>>),
    /// Stop with this reason (what `Server::stop` sends).
    Stop(Box<ExitReason>),
    /// A system request (`grove_runtime::sys`), answered outside the callbacks.
    System(grove_runtime::sys::SystemRequest),
    /// Replace the state, for tests (`Server::replace_state`). One box holds the change and
    /// its reply handle, so the envelope stays two words and a tag: every queued message
    /// costs its size.
    Replace(Replace<S>),
}
