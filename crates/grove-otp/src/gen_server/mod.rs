//! `GenServer`: a process that owns some state and serves requests to it, as OTP's `gen_server`.
//!
//! The state is the type that implements [`GenServer`]. Each request is a type of its own, and
//! the server says which it takes: `impl Call<Get> for Kv` answers a call of `Get` with
//! `Call::Reply`, `impl Cast<Put> for Kv` handles a cast of `Put`. A caller of
//! `kv.call(Get(..))` gets `Get`'s reply type, checked when the program compiles. Everything
//! else (monitors' `Down`, trapped exits, the idle timeout) arrives at `handle_info`.
//! [`Server`] is the handle others use: `Copy`, typed, as small as a pid.
//!
//! ```
//! use grove_otp::prelude::*;
//!
//! #[derive(Default)]
//! struct Counter {
//!     count: u64,
//! }
//!
//! struct Get;
//! struct Add(u64);
//!
//! impl GenServer for Counter {}
//!
//! impl Call<Get> for Counter {
//!     type Reply = u64;
//!     async fn handle_call(&mut self, _: Get, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
//!         from.reply(self.count);
//!     }
//! }
//!
//! impl Cast<Add> for Counter {
//!     async fn handle_cast(&mut self, Add(n): Add, _: &mut ServerContext<Self>) {
//!         self.count += n;
//!     }
//! }
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let counter = Server::start_link(Counter::default()).await?;
//!     counter.cast(Add(2));
//!     counter.cast(Add(3));
//!     assert_eq!(counter.call(Get).await?, 5);
//!     counter.stop(ExitReason::Normal).await?;
//!     Ok(())
//! });
//! ```
//!
//! A server that answers later keeps the [`ReplyTo`] and replies when it can (OTP's `noreply` and
//! `gen_server:reply`). Calls time out after [`DEFAULT_CALL_TIMEOUT`] (5 s, as in OTP) unless
//! [`Server::call_timeout`] says otherwise, and fail cleanly when the server is not running or
//! exits first; a late reply is dropped, never delivered to the caller's mailbox.

mod call;
mod context;
mod request;
mod run;
mod stop;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use grove_runtime::remote::RemoteKey;
use grove_runtime::{
    send, spawn_opt, Addr, Dest, Down, Exit, ExitReason, Pid, Resolved, SpawnError, SpawnOptions,
};
use tokio::sync::oneshot;
use tracing::Instrument;

pub use call::{CallError, ReplyTo, DEFAULT_CALL_TIMEOUT};
pub use context::ServerContext;
pub use request::{ErasedRequest, RequestKey};

use crate::start::StartError;
use request::Request;

/// A server's state and the callbacks that are not about one request type: start, everything
/// that is not a request, and stop. Every callback has a default, so a server that only answers
/// requests implements it with an empty block. The requests it takes are [`Call`] and [`Cast`]
/// impls.
///
/// Callbacks are `async` and run one at a time, in the server's process: while one runs (and
/// awaits), the next message waits. A panic in a callback stops the server with the panic as
/// its reason, after `terminate`.
pub trait GenServer: Sized + Send + 'static {
    /// What kind of process this is, for its label in logs and introspection: `gen_server`
    /// (labelled `gen_server Kv`, or `gen_server kv` when registered as `kv`) unless a
    /// behaviour built on it says otherwise (`supervisor`, `agent`, ...).
    const KIND: &'static str = "gen_server";

    /// Runs in the new process before the starter is released. An error stops the server with
    /// that reason and is what the starter gets back. Keep it short: slow setup belongs in a
    /// request run right after, asked for here with [`ServerContext::continue_with`].
    fn init(
        &mut self,
        ctx: &mut ServerContext<Self>,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// The state as an operator sees it through `grove::sys::get_state` (OTP's
    /// `sys:get_state`), or `None` to decline, which is the default: a state may hold secrets.
    /// A server whose state is `Debug` can return `Some(format!("{self:?}"))`.
    fn format_state(&self) -> Option<String> {
        None
    }

    /// Handles what is not a request: a monitored process's `Down`, a linked process's exit
    /// while trapping exits, the idle timeout. The default logs the message's kind and carries
    /// on, as Elixir's does.
    fn handle_info(
        &mut self,
        info: Info,
        ctx: &mut ServerContext<Self>,
    ) -> impl Future<Output = ()> + Send {
        tracing::warn!(
            server = %ctx.pid(),
            kind = info.kind(),
            "{} got a message it does not handle (implement handle_info)",
            std::any::type_name::<Self>()
        );
        async {}
    }

    /// Runs when the server stops: asked by a callback ([`ServerContext::stop`]), by
    /// [`Server::stop`], by a panic in a callback, or by its parent's exit while trapping exits.
    /// Not when it is killed by a link without trapping, or with `Kill`: as in OTP, cleanup that
    /// must always happen belongs in a trapping server or in `Drop`.
    fn terminate(
        &mut self,
        reason: &ExitReason,
        ctx: &mut ServerContext<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        async {}
    }
}

/// A call the server answers: `impl Call<Get> for Kv` makes `kv.call(Get(..))` return
/// `Result<Self::Reply, CallError>`.
pub trait Call<M: Send + 'static>: GenServer {
    /// What the caller gets back.
    type Reply: Send + 'static;

    /// Handles the call. Answer through `from`, now or later (keep it in the state, hand it to
    /// another process); dropping it unanswered fails the call with
    /// [`CallError::NoReply`].
    fn handle_call(
        &mut self,
        request: M,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) -> impl Future<Output = ()> + Send;
}

/// A request the server handles without a reply: what [`Server::cast`] sends, and what
/// [`ServerContext::send_after`] and [`ServerContext::continue_with`] carry to the server itself.
pub trait Cast<M: Send + 'static>: GenServer {
    /// Handles the request.
    fn handle_cast(
        &mut self,
        request: M,
        ctx: &mut ServerContext<Self>,
    ) -> impl Future<Output = ()> + Send;
}

/// What `handle_info` gets: every message that is not a request.
#[derive(Debug)]
pub enum Info {
    /// A monitored process exited.
    Down(Down),
    /// A linked process exited and this server traps exits.
    Exit(Exit),
    /// No message arrived within [`ServerContext::idle_timeout`].
    Timeout,
}

impl Info {
    fn kind(&self) -> &'static str {
        match self {
            Info::Down(_) => "down",
            Info::Exit(_) => "exit",
            Info::Timeout => "timeout",
        }
    }
}

/// What a server's mailbox holds. Opaque: build messages through [`Server`].
pub struct Envelope<S: GenServer>(pub(crate) Request<S>);

impl<S: GenServer> Envelope<S> {
    pub(crate) fn cast_of<M: Send + 'static>(request: M) -> Self
    where
        S: Cast<M>,
    {
        Envelope(Request::Handle(request::cast(request)))
    }

    pub(crate) fn stop_of(reason: ExitReason) -> Self {
        Envelope(Request::Stop(Box::new(reason)))
    }

    /// A call of `M` answered through `from`: what the distribution layer delivers for a
    /// remote caller. Takes the distribution layer's key.
    pub fn call<M: Send + 'static>(
        _: &RemoteKey,
        request: M,
        from: ReplyTo<<S as Call<M>>::Reply>,
    ) -> Self
    where
        S: Call<M>,
    {
        Envelope(Request::Handle(request::call(request, from, None)))
    }

    /// A cast of `M`, for the distribution layer (applications use [`Server::cast`]).
    pub fn cast<M: Send + 'static>(_: &RemoteKey, request: M) -> Self
    where
        S: Cast<M>,
    {
        Self::cast_of(request)
    }

    /// A stop request, for the distribution layer (applications use [`Server::stop`]).
    pub fn stop(_: &RemoteKey, reason: ExitReason) -> Self {
        Self::stop_of(reason)
    }

    /// Which call or cast the envelope holds; `None` for a stop or system request.
    pub fn request_key(&self) -> Option<RequestKey> {
        match &self.0 {
            Request::Handle(handler) => Some(handler.key()),
            _ => None,
        }
    }

    /// Takes the envelope apart, for the distribution layer, which turns a request to a server
    /// on another node into bytes this way. Takes its key.
    pub fn into_request(self, _: &RemoteKey) -> ServerRequest<S> {
        match self.0 {
            Request::Handle(handler) => ServerRequest::Request(ErasedRequest(handler)),
            Request::Stop(reason) => ServerRequest::Stop(*reason),
            // Built only by this node for its own servers: never carried to another node.
            Request::System(_) | Request::Replace(_) => ServerRequest::Local,
        }
    }
}

/// What an [`Envelope`] carries, taken apart. [`Server`]'s methods build these; only code that
/// carries requests between nodes needs to see them.
pub enum ServerRequest<S: GenServer> {
    /// A call or a cast, still boxed: take it out by type with
    /// [`ErasedRequest::downcast_call`] or [`ErasedRequest::downcast_cast`].
    Request(ErasedRequest<S>),
    /// Stop with this reason (what [`Server::stop`] sends).
    Stop(ExitReason),
    /// A request only this node makes of its own servers (a system request, a state
    /// replacement): it does not travel.
    Local,
}

/// A handle on a server, typed by the server's state type. What [`Server::start`] gives (a
/// `Server<S>`) names the server by its pid: `Copy`, the size of a pid. A handle made with
/// [`Server::named`], [`Server::remote`] or [`Server::to`] (a `Server<S, Dest>`) names it by a
/// name looked up at each use, so it reaches the server again after a restart under the name:
/// Elixir's `GenServer.call(:kv, ...)`, `{:kv, node}` and `{:via, Registry, key}`.
pub struct Server<S: GenServer, T: Target = Pid> {
    to: T,
    _server: PhantomData<fn() -> S>,
}

/// What a [`Server`] handle points at: a [`Pid`], or a [`Dest`] looked up at each use.
pub trait Target: target::Sealed + Clone + fmt::Display + Send + Sync + 'static {
    /// Who it names now.
    fn resolve(&self) -> Resolved;
    /// The destination itself (a name stays a name, looked up at each use).
    fn to_dest(&self) -> Dest;
}

mod target {
    pub trait Sealed {}
    impl Sealed for grove_runtime::Pid {}
    impl Sealed for grove_runtime::Dest {}
}

impl Target for Pid {
    fn resolve(&self) -> Resolved {
        Resolved::Pid(*self)
    }

    fn to_dest(&self) -> Dest {
        Dest::Pid(*self)
    }
}

impl Target for Dest {
    fn resolve(&self) -> Resolved {
        Dest::resolve(self)
    }

    fn to_dest(&self) -> Dest {
        self.clone()
    }
}

impl<S: GenServer, T: Target> Clone for Server<S, T> {
    fn clone(&self) -> Self {
        Server {
            to: self.to.clone(),
            _server: PhantomData,
        }
    }
}

impl<S: GenServer> Copy for Server<S> {}

impl<S: GenServer, T: Target + PartialEq> PartialEq for Server<S, T> {
    fn eq(&self, other: &Self) -> bool {
        self.to == other.to
    }
}

impl<S: GenServer, T: Target + Eq> Eq for Server<S, T> {}

impl<S: GenServer, T: Target + std::hash::Hash> std::hash::Hash for Server<S, T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to.hash(state)
    }
}

impl<S: GenServer, T: Target> fmt::Debug for Server<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Server<{}>({})", short_type_name::<S>(), self.to)
    }
}

impl<S: GenServer> From<Server<S>> for Pid {
    fn from(server: Server<S>) -> Pid {
        server.pid()
    }
}

impl<S: GenServer, T: Target> From<Server<S, T>> for Dest {
    fn from(server: Server<S, T>) -> Dest {
        server.to.to_dest()
    }
}

impl<S: GenServer, T: Target> From<&Server<S, T>> for Dest {
    fn from(server: &Server<S, T>) -> Dest {
        server.to.to_dest()
    }
}

fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

impl<S: GenServer> Server<S, Dest> {
    /// The server's pid now, if it can be known here: `None` when nobody holds the name, and
    /// for a name on another node.
    pub fn pid(&self) -> Option<Pid> {
        self.to.whereis()
    }

    /// Where the handle points.
    pub fn dest(&self) -> &Dest {
        &self.to
    }
}

impl<S: GenServer> Server<S> {
    pub(crate) fn from_addr(addr: Addr<Envelope<S>>) -> Self {
        Server {
            to: addr.pid(),
            _server: PhantomData,
        }
    }

    /// A handle for the server at `pid` (one found in a registry, say). If `pid` is a process of
    /// another kind, calls fail with [`CallError::WrongType`] and casts are dropped and logged.
    pub fn from_pid(pid: Pid) -> Self {
        Server {
            to: pid,
            _server: PhantomData,
        }
    }

    /// The server registered as `name` now, if one of this type is (a handle by its pid).
    pub fn whereis(name: &str) -> Option<Self> {
        grove_runtime::whereis_addr::<Envelope<S>>(name).map(Self::from_addr)
    }

    /// A handle on whoever is registered as `name` on this node, looked up at each use
    /// (Elixir's `GenServer.call(:kv, ...)`). A call when nobody holds the name fails with
    /// [`CallError::NotRegistered`] (`noproc` as an exit reason).
    pub fn named(name: impl Into<Arc<str>>) -> Server<S, Dest> {
        Self::to(Dest::Name(name.into()))
    }

    /// A handle on whoever is registered as `name` on the node `node`, looked up there at each
    /// use (Erlang's `{Name, Node}`). The first call connects to `node` if needed and waits
    /// for the connection, within the call's timeout.
    pub fn remote(name: impl Into<Arc<str>>, node: impl Into<Arc<str>>) -> Server<S, Dest> {
        Self::to(Dest::remote(name, node))
    }

    /// A handle on any destination: a pid, a name, `(name, node)`, or a registry key
    /// (`registry.via(key)`, Elixir's `{:via, Registry, key}`).
    pub fn to(dest: impl Into<Dest>) -> Server<S, Dest> {
        Server {
            to: dest.into(),
            _server: PhantomData,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> Pid {
        self.to
    }

    /// Starts a server with `state` (not linked) and waits until `init` has run.
    pub async fn start(state: S) -> Result<Self, StartError> {
        Self::start_opt(state, StartOptions::new()).await
    }

    /// Starts a server linked to the calling process and waits until `init` has run. If `init`
    /// fails, the link is removed before the server exits, so the caller gets the error back
    /// rather than an exit signal. Outside a process, fails with [`StartError::NoParent`].
    pub async fn start_link(state: S) -> Result<Self, StartError> {
        Self::start_opt(state, StartOptions::new().link()).await
    }

    /// Starts a server linked to the calling process and registered as `name` (Elixir's
    /// `GenServer.start_link(Module, arg, name: name)`), and waits until `init` has run. Fails
    /// with [`StartError::AlreadyStarted`] if the name is taken.
    pub async fn start_link_named(name: impl Into<Arc<str>>, state: S) -> Result<Self, StartError> {
        Self::start_opt(state, StartOptions::new().link().name(name)).await
    }

    /// Starts a server with options (a name, a link, a mailbox bound, an init timeout).
    pub async fn start_opt(state: S, options: StartOptions) -> Result<Self, StartError> {
        let parent = if options.link {
            Some(grove_runtime::self_pid().ok_or(StartError::NoParent)?)
        } else {
            None
        };
        let (ack, acked) = oneshot::channel();
        let ack = crate::start::ack(ack);
        let mut spawn = options.spawn.link(options.link);
        if let Some(name) = options.name.clone() {
            spawn = spawn.name(name);
        }
        let via = options.via;
        let name = options.name.clone();
        let spawned = spawn_opt(spawn, move |process| {
            run::serve(process, state, parent, via, name, ack)
        })
        .map_err(|error| match error {
            SpawnError::NameTaken { holder, .. } => StartError::AlreadyStarted(holder),
            SpawnError::NoParent => StartError::NoParent,
            SpawnError::NoRuntime => StartError::NoRuntime,
        })?;
        let server = Self::from_addr(spawned.addr);
        crate::start::await_ack(server.pid(), acked, options.timeout).await?;
        Ok(server)
    }
}

impl<S: GenServer, T: Target> Server<S, T> {
    /// Calls the server and waits up to [`DEFAULT_CALL_TIMEOUT`] for the reply: `M`'s reply
    /// type, `<S as Call<M>>::Reply`.
    // The reply type is a parameter `R` rather than the projection `<S as Call<M>>::Reply`, so a
    // caller's future holds `R` itself: a projection inside a future whose `Send` is checked
    // (every process body's) fails with "not general enough" when the reply has a lifetime.
    pub async fn call<M, R>(&self, request: M) -> Result<R, CallError>
    where
        S: Call<M, Reply = R>,
        M: Send + 'static,
        R: Send + 'static,
    {
        self.call_timeout(request, DEFAULT_CALL_TIMEOUT).await
    }

    /// Calls the server and waits up to `timeout` for the reply (`Duration::MAX` waits as long
    /// as the server lives).
    pub async fn call_timeout<M, R>(&self, request: M, timeout: Duration) -> Result<R, CallError>
    where
        S: Call<M, Reply = R>,
        M: Send + 'static,
        R: Send + 'static,
    {
        let span = tracing::debug_span!(
            "grove.call",
            server = %self.to,
            request = std::any::type_name::<M>(),
        );
        // Carried to the server only when a subscriber records it; a disabled span costs one
        // check per poll.
        let parent = (!span.is_disabled()).then(|| Box::new(span.clone()));
        let make = |from| Envelope::<S>(Request::Handle(request::call(request, from, parent)));
        // Only the reply channel is held across the wait on this node: the request is
        // delivered before it, and a remote call's longer future is boxed, so every call's
        // future stays small (it is moved into its caller's on each call).
        let outcome = match self.to.resolve() {
            Resolved::Pid(pid) if pid.is_local() => {
                match span.in_scope(|| call::send_local(pid.assume_type(), make)) {
                    // A span no subscriber records is not entered on every poll.
                    Ok(reply) if span.is_disabled() => {
                        call::await_reply(reply, timeout, timeout, None).await
                    }
                    Ok(reply) => {
                        call::await_reply(reply, timeout, timeout, None)
                            .instrument(span.clone())
                            .await
                    }
                    Err(error) => Err(error),
                }
            }
            Resolved::Pid(pid) => {
                Box::pin(call::call(pid.assume_type(), make, timeout).instrument(span.clone()))
                    .await
            }
            Resolved::Remote { name, node } => {
                Box::pin(
                    async move { call::call_named(&name, &node, make, timeout).await }
                        .instrument(span.clone()),
                )
                .await
            }
            Resolved::Nobody => Err(CallError::NotRegistered(self.to.to_string())),
        };
        if let Err(error) = &outcome {
            span.in_scope(|| tracing::debug!(%error, "call failed"));
        }
        outcome
    }

    /// Sends a request without waiting (OTP's `cast`): never fails, even if the server is gone
    /// or nobody holds the name.
    pub fn cast<M: Send + 'static>(&self, request: M)
    where
        S: Cast<M>,
    {
        match self.to.resolve() {
            Resolved::Pid(pid) => send(pid.assume_type(), Envelope::<S>::cast_of(request)),
            Resolved::Remote { name, node } => {
                grove_runtime::remote::send_named(&name, &node, Envelope::<S>::cast_of(request))
            }
            Resolved::Nobody => {}
        }
    }

    /// Changes the server's state with `f`, outside its callbacks, once the messages before this
    /// request are handled (OTP's `sys:replace_state`): for tests. Fails as a call does.
    pub async fn replace_state(
        &self,
        f: impl FnOnce(&mut S) + Send + 'static,
    ) -> Result<(), CallError> {
        let make = |from: ReplyTo<()>| {
            Envelope::<S>(Request::Replace(Box::new(move |state: &mut S| {
                f(state);
                from.reply(());
            })))
        };
        match self.to.resolve() {
            Resolved::Pid(pid) if pid.is_local() => {
                call::call(pid.assume_type(), make, DEFAULT_CALL_TIMEOUT).await
            }
            Resolved::Nobody => Err(CallError::NotRegistered(self.to.to_string())),
            _ => Err(CallError::Refused(format!(
                "{} is on another node: replace_state works on this node's servers",
                self.to
            ))),
        }
    }

    /// Stops the server with `reason` (calling its `terminate`) and waits until it has exited,
    /// as long as that takes (OTP's `gen_server:stop/2`). Fails with
    /// [`CallError::CallingSelf`] from the server itself (use [`ServerContext::stop`] there),
    /// with [`CallError::NoProc`] if it is not running (a name nobody holds:
    /// [`CallError::NotRegistered`]), with [`CallError::Full`] if its bounded mailbox refuses
    /// the request (kill it with `grove::exit` if it must go), or with [`CallError::Exited`] if
    /// it exited with another reason meanwhile. A server on another node (by pid or by
    /// `(name, node)`) is stopped over the connection, which is made first if needed; losing
    /// that node before the server exits is [`CallError::NodeDown`]. A stop request the other
    /// node cannot deliver (the server's type is not registered there, its bounded mailbox is
    /// full) is dropped there as any message is, and the stop waits: bound it with
    /// [`Server::stop_timeout`].
    pub async fn stop(&self, reason: ExitReason) -> Result<(), CallError> {
        self.stop_timeout(reason, Duration::MAX).await
    }

    /// [`Server::stop`], waiting at most `timeout` for the server to exit (OTP's
    /// `gen_server:stop/3`); then fails with [`CallError::Timeout`] (the server may still
    /// stop). `Duration::MAX` waits as long as it takes.
    pub async fn stop_timeout(
        &self,
        reason: ExitReason,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let stopping = async move {
            match self.to.resolve() {
                Resolved::Nobody => Err(CallError::NotRegistered(self.to.to_string())),
                Resolved::Pid(pid) if grove_runtime::self_pid() == Some(pid) => {
                    Err(CallError::CallingSelf)
                }
                Resolved::Pid(pid) if pid.is_local() => stop::stop_local::<S>(pid, reason).await,
                Resolved::Pid(pid) => {
                    stop::stop_remote::<S>(Dest::Pid(pid), pid.node_name(), reason).await
                }
                Resolved::Remote { name, node } => {
                    let dest = Dest::Remote {
                        name,
                        node: node.clone(),
                    };
                    stop::stop_remote::<S>(dest, node, reason).await
                }
            }
        };
        stop::within(timeout, stopping).await
    }
}

/// How to start a server.
pub struct StartOptions {
    link: bool,
    name: Option<Arc<str>>,
    via: Option<run::ViaRegistration>,
    spawn: SpawnOptions,
    timeout: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            link: false,
            name: None,
            via: None,
            spawn: SpawnOptions::new(),
            timeout: Duration::MAX,
        }
    }
}

impl fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartOptions")
            .field("link", &self.link)
            .field("name", &self.name)
            .field("via", &self.via.is_some())
            .field("spawn", &self.spawn)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl StartOptions {
    /// Not linked, no name, an unbounded mailbox, no init timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Links the server to the calling process (what [`Server::start_link`] does).
    pub fn link(mut self) -> Self {
        self.link = true;
        self
    }

    /// Registers the server under `name` before `init` runs; starting fails with
    /// [`StartError::AlreadyStarted`] if the name is taken.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Registers the server in `registry` under `key` (with `value`) before `init` runs, as
    /// Elixir's `{:via, Registry, ...}` names; starting fails with
    /// [`StartError::AlreadyStarted`] if a unique key is taken.
    pub fn via<K, V>(
        mut self,
        registry: &grove_runtime::registry::Registry<K, V>,
        key: K,
        value: V,
    ) -> Self
    where
        K: Eq + std::hash::Hash + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        let registry = registry.clone();
        self.via = Some(Box::new(move |pid| {
            match registry.register(pid, key.clone(), value) {
                Ok(()) => {
                    let unregister: Box<dyn FnOnce() + Send> =
                        Box::new(move || registry.unregister(pid, &key));
                    Ok(unregister)
                }
                Err(grove_runtime::registry::RegistryError::AlreadyRegistered { holder }) => {
                    Err(StartError::AlreadyStarted(holder))
                }
                Err(other) => Err(StartError::Init(ExitReason::error(other))),
            }
        }));
        self
    }

    /// Spawn options for the server's process (a mailbox bound, say). Its link and monitor
    /// settings are replaced by this type's; a name set there is used when
    /// [`StartOptions::name`] gives none.
    pub fn spawn_options(mut self, spawn: SpawnOptions) -> Self {
        self.spawn = spawn.monitor(false);
        self
    }

    /// Gives `init` at most `timeout`; past it the server is killed and starting fails with
    /// [`StartError::Timeout`]. Without it, the starter waits as long as `init` takes (OTP's
    /// default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
