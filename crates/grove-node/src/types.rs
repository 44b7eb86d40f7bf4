//! The types that may cross between nodes, each under a stable name: plain messages, the
//! requests and replies of `GenServer`s, and the kinds of process a peer may spawn here.
//!
//! A Rust type name is not stable (it changes with a module move or a compiler upgrade), so
//! every type that travels is registered under a name the application chooses, the same on
//! every node: `NodeBuilder::message::<Ping>("demo.Ping")`. A message of a type that was not
//! registered is not sent (logged, counted); one that arrives under an unknown name, or does
//! not decode, is refused the same way, and the connection carries on. A call is never left
//! waiting for that: its caller hears [`CallError::NotDistributed`] (the request's type is not
//! registered on one side) or why the server's node refused it.
//!
//! A `GenServer`'s requests are registered one type at a time, inside the server's name:
//! `NodeBuilder::server::<Kv>("kv", |kv| kv.call::<Get>("Get").cast::<Put>("Put"))` sends a
//! `Get` as `"kv.Get"`. Stop requests travel under the server's name itself.
//!
//! The registry is built before the node starts and never changes after, so the hot path reads
//! it without a lock.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use grove_otp::gen_server::{
    Call, CallError, Cast, Envelope, ErasedRequest, GenServer, ReplyTo, RequestKey, ServerRequest,
};
use grove_runtime::{Addr, ExitReason, Pid, SendError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::CallFailure;
use crate::session::postcard_into;

/// Why an arriving message was not delivered.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The payload does not decode as the registered type.
    Undecodable(String),
    /// The receiving process takes another type.
    WrongType,
    /// The receiving process's bounded mailbox is full.
    Full,
    /// The receiving process is not alive (not an error for a send, as locally).
    NoProc,
}

impl<M> From<SendError<M>> for Refusal {
    fn from(error: SendError<M>) -> Self {
        match error {
            SendError::Full { .. } => Refusal::Full,
            SendError::WrongType { .. } => Refusal::WrongType,
            SendError::NoProc { .. } | SendError::NotRegistered { .. } => Refusal::NoProc,
        }
    }
}

/// A call on its way to another node, waiting for the reply frame.
pub(crate) trait PendingReply: Send {
    /// The reply frame arrived: `payload` is the encoded reply when `outcome` is `Ok`.
    fn complete(self: Box<Self>, outcome: Result<&[u8], CallFailure>);
    /// False once the caller stopped waiting (timed out); the entry can go.
    fn is_waiting(&self) -> bool;
}

/// Sends a server's reply back to the calling node, once: the call's id is already bound in.
/// Dropped unused (the call could not be delivered: its payload did not decode, or its wire
/// name is not a call here), it tells the caller so, who would otherwise wait out its timeout.
pub(crate) struct ReplyRoute(Option<SendReply>);

type SendReply = Box<dyn FnOnce(Result<Vec<u8>, CallFailure>) + Send>;

impl ReplyRoute {
    pub(crate) fn new(send: impl FnOnce(Result<Vec<u8>, CallFailure>) + Send + 'static) -> Self {
        ReplyRoute(Some(Box::new(send)))
    }

    /// Sends the call's outcome.
    pub(crate) fn send(mut self, outcome: Result<Vec<u8>, CallFailure>) {
        if let Some(send) = self.0.take() {
            send(outcome);
        }
    }
}

impl Drop for ReplyRoute {
    fn drop(&mut self) {
        if let Some(send) = self.0.take() {
            send(Err(CallFailure::Refused(
                "the server's node could not deliver the call: its request did not decode as the type registered under its name there (see that node's log)".into(),
            )));
        }
    }
}

/// How a message leaves: the name it travels under, and whether it is a call (which takes an
/// id for its reply).
pub(crate) struct Outgoing<'a> {
    pub(crate) name: &'a str,
    pub(crate) is_call: bool,
}

/// The sending half of a registered type: finds a message's wire name and writes it out.
pub(crate) trait Outbound: Send + Sync {
    /// The wire name and kind of `message`, or why it cannot travel (its type, or the
    /// request inside it, is not registered).
    fn describe(&self, message: &(dyn Any + Send)) -> Result<Outgoing<'_>, String>;

    /// Writes `message` to `out`. A call (`call` holds its id) returns where its reply goes,
    /// to be kept until the reply frame comes back; if it cannot be written, its caller is told.
    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        call: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String>;

    /// Gives up on `message`, which cannot be sent: a call's caller hears `error`.
    fn refuse(&self, message: Box<dyn Any + Send>, error: CallError);
}

/// The receiving half of a registered wire name: decodes a payload and delivers it.
pub(crate) trait Inbound: Send + Sync {
    /// Decodes `payload` and delivers it to the local process `to`. A call (`reply` is where
    /// its answer goes) is failed through `reply` when it cannot be delivered.
    fn deliver(&self, to: Pid, payload: &[u8], reply: Option<ReplyRoute>) -> Result<(), Refusal>;
}

/// A plain message type.
struct Plain<M> {
    name: Arc<str>,
    _type: PhantomData<fn(M) -> M>,
}

impl<M> Outbound for Plain<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    fn describe(&self, _: &(dyn Any + Send)) -> Result<Outgoing<'_>, String> {
        Ok(Outgoing {
            name: &self.name,
            is_call: false,
        })
    }

    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        _: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String> {
        let message = message
            .downcast::<M>()
            .map_err(|_| "registry entry of another type".to_string())?;
        postcard_into(out, &*message)?;
        Ok(None)
    }

    fn refuse(&self, _: Box<dyn Any + Send>, _: CallError) {}
}

impl<M> Inbound for Plain<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    fn deliver(&self, to: Pid, payload: &[u8], _: Option<ReplyRoute>) -> Result<(), Refusal> {
        let message: M = decode(payload)?;
        grove_runtime::try_deliver(to.assume_type::<M>(), message).map_err(Refusal::from)
    }
}

/// The sending half of one request type of a server.
trait RequestOut<S: GenServer>: Send + Sync {
    fn name(&self) -> &str;
    fn is_call(&self) -> bool;
    fn encode(
        &self,
        request: ErasedRequest<S>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String>;
}

/// A call of `M` to an `S`, under its wire name.
struct CallWire<S, M> {
    name: Arc<str>,
    _types: PhantomData<fn(S, M)>,
}

impl<S, M> RequestOut<S> for CallWire<S, M>
where
    S: Call<M>,
    M: Serialize + DeserializeOwned + Send + 'static,
    <S as Call<M>>::Reply: Serialize + DeserializeOwned,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn is_call(&self) -> bool {
        true
    }

    fn encode(
        &self,
        request: ErasedRequest<S>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String> {
        let (request, from) = request
            .downcast_call::<M>()
            .map_err(|_| "registry entry of another type".to_string())?;
        if let Err(error) = postcard_into(out, &request) {
            let refused = CallError::Refused(format!("the request could not be encoded: {error}"));
            fail(from, refused);
            return Err(error);
        }
        Ok(Some(Box::new(TypedPending {
            from,
            wire_name: self.name.clone(),
        })))
    }
}

impl<S, M> Inbound for CallWire<S, M>
where
    S: Call<M>,
    M: Serialize + DeserializeOwned + Send + 'static,
    <S as Call<M>>::Reply: Serialize + DeserializeOwned,
{
    fn deliver(&self, to: Pid, payload: &[u8], reply: Option<ReplyRoute>) -> Result<(), Refusal> {
        let request: M = decode(payload)?;
        let Some(reply) = reply else {
            return Err(Refusal::Undecodable(format!(
                "{} is a call, but came without a call id",
                self.name
            )));
        };
        let key = key()?;
        let from = ReplyTo::from_fn(
            key,
            move |outcome: Result<<S as Call<M>>::Reply, CallError>| {
                reply.send(match outcome {
                    Ok(value) => postcard::to_allocvec(&value).map_err(|error| {
                        CallFailure::Refused(format!("the reply could not be encoded: {error}"))
                    }),
                    Err(error) => Err(failure_of(error)),
                });
            },
        );
        deliver_envelope::<S>(to, Envelope::call(key, request, from))
    }
}

/// A cast of `M` to an `S`, under its wire name.
struct CastWire<S, M> {
    name: Arc<str>,
    _types: PhantomData<fn(S, M)>,
}

impl<S, M> RequestOut<S> for CastWire<S, M>
where
    S: Cast<M>,
    M: Serialize + DeserializeOwned + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn is_call(&self) -> bool {
        false
    }

    fn encode(
        &self,
        request: ErasedRequest<S>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String> {
        let request = request
            .downcast_cast::<M>()
            .map_err(|_| "registry entry of another type".to_string())?;
        postcard_into(out, &request).map(|()| None)
    }
}

impl<S, M> Inbound for CastWire<S, M>
where
    S: Cast<M>,
    M: Serialize + DeserializeOwned + Send + 'static,
{
    fn deliver(&self, to: Pid, payload: &[u8], _: Option<ReplyRoute>) -> Result<(), Refusal> {
        let request: M = decode(payload)?;
        deliver_envelope::<S>(to, Envelope::cast(key()?, request))
    }
}

/// A stop request to an `S`, under the server's own wire name.
struct StopWire<S> {
    _server: PhantomData<fn(S)>,
}

impl<S: GenServer> Inbound for StopWire<S> {
    fn deliver(&self, to: Pid, payload: &[u8], _: Option<ReplyRoute>) -> Result<(), Refusal> {
        let reason: ExitReason = decode(payload)?;
        deliver_envelope::<S>(to, Envelope::stop(key()?, reason))
    }
}

/// Hands an arrived request to the server `to`; a call that cannot be delivered learns why at
/// once, as a local one would.
fn deliver_envelope<S: GenServer>(to: Pid, envelope: Envelope<S>) -> Result<(), Refusal> {
    let addr: Addr<Envelope<S>> = to.assume_type();
    match grove_runtime::try_deliver(addr, envelope) {
        Ok(()) => Ok(()),
        Err(error) => {
            let (refusal, call_error) = match &error {
                SendError::Full { .. } => (Refusal::Full, CallError::Full),
                SendError::WrongType { pid, .. } => {
                    (Refusal::WrongType, CallError::WrongType(*pid))
                }
                _ => (Refusal::NoProc, CallError::NoProc),
            };
            if let Ok(key) = key() {
                if let ServerRequest::Request(request) = error.into_message().into_request(key) {
                    request.fail(call_error);
                }
            }
            Err(refusal)
        }
    }
}

/// The sending half of a server type: its requests by key, and its stop requests.
struct ServerOut<S: GenServer> {
    name: Arc<str>,
    requests: HashMap<RequestKey, Arc<dyn RequestOut<S>>>,
}

impl<S: GenServer> ServerOut<S> {
    fn request_of(&self, key: RequestKey) -> Option<&Arc<dyn RequestOut<S>>> {
        self.requests.get(&key)
    }
}

impl<S: GenServer> Outbound for ServerOut<S> {
    fn describe(&self, message: &(dyn Any + Send)) -> Result<Outgoing<'_>, String> {
        let envelope = message
            .downcast_ref::<Envelope<S>>()
            .ok_or_else(|| "registry entry of another type".to_string())?;
        let Some(key) = envelope.request_key() else {
            return Ok(Outgoing {
                name: &self.name,
                is_call: false,
            });
        };
        match self.request_of(key) {
            Some(request) => Ok(Outgoing {
                name: request.name(),
                is_call: request.is_call(),
            }),
            None => Err(format!(
                "a request to {} (server {:?}) is not registered for distribution",
                std::any::type_name::<S>(),
                self.name
            )),
        }
    }

    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        _: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Box<dyn PendingReply>>, String> {
        let envelope = message
            .downcast::<Envelope<S>>()
            .map_err(|_| "registry entry of another type".to_string())?;
        match envelope.into_request(key().map_err(|refusal| format!("{refusal:?}"))?) {
            ServerRequest::Request(request) => match self.request_of(request.key()) {
                Some(wire) => wire.encode(request, out),
                None => {
                    let error = format!(
                        "the request type {} is not registered for distribution",
                        request.type_name()
                    );
                    request.fail(CallError::NotDistributed(error.clone()));
                    Err(error)
                }
            },
            ServerRequest::Stop(reason) => postcard_into(out, &reason).map(|()| None),
            ServerRequest::Local => Err("a request for this node's own servers only".to_string()),
        }
    }

    fn refuse(&self, message: Box<dyn Any + Send>, error: CallError) {
        if let (Ok(envelope), Ok(key)) = (message.downcast::<Envelope<S>>(), key()) {
            if let ServerRequest::Request(request) = envelope.into_request(key) {
                request.fail(error);
            }
        }
    }
}

/// The caller's side of a remote call: decodes the reply for its `ReplyTo`.
struct TypedPending<R: Send + 'static> {
    from: ReplyTo<R>,
    wire_name: Arc<str>,
}

impl<R: DeserializeOwned + Send + 'static> PendingReply for TypedPending<R> {
    fn complete(self: Box<Self>, outcome: Result<&[u8], CallFailure>) {
        match outcome {
            Ok(payload) => match crate::protocol::decode_exact::<R>(payload) {
                Ok(reply) => {
                    self.from.reply(reply);
                }
                Err(error) => fail(
                    self.from,
                    CallError::Refused(format!(
                        "the reply to {} did not decode: {error}",
                        self.wire_name
                    )),
                ),
            },
            Err(failure) => fail(self.from, call_error_of(failure)),
        }
    }

    fn is_waiting(&self) -> bool {
        self.from.is_waiting()
    }
}

fn failure_of(error: CallError) -> CallFailure {
    match error {
        CallError::Exited(reason) => CallFailure::Exited(reason),
        CallError::NoProc => CallFailure::NoProc,
        CallError::Full => CallFailure::Full,
        CallError::WrongType(_) => CallFailure::WrongType,
        CallError::NotRegistered(name) => CallFailure::NotRegistered(name),
        CallError::Refused(why) => CallFailure::Refused(why),
        CallError::NotDistributed(why) => CallFailure::NotDistributed(why),
        CallError::NoReply | CallError::Timeout(_) => CallFailure::NoReply,
        // Only a proxy fails a handle this way; carry the reason a caller would exit with.
        error @ (CallError::CallingSelf | CallError::NodeDown(_)) => {
            CallFailure::Exited(error.into_exit_reason())
        }
    }
}

/// What a caller sees for what the server's node reported.
pub(crate) fn call_error_of(failure: CallFailure) -> CallError {
    match failure {
        CallFailure::Exited(reason) => CallError::Exited(reason),
        CallFailure::NoReply => CallError::NoReply,
        CallFailure::NoProc => CallError::NoProc,
        CallFailure::Full => CallError::Full,
        CallFailure::WrongType => {
            CallError::Refused("the process is not a server of this type".into())
        }
        CallFailure::NotRegistered(name) => CallError::NotRegistered(name),
        CallFailure::Refused(why) => CallError::Refused(why),
        CallFailure::NotDistributed(why) => CallError::NotDistributed(why),
    }
}

/// The runtime's key for delivering what arrives; only a started node has it.
fn key() -> Result<&'static grove_runtime::remote::RemoteKey, Refusal> {
    crate::rt::key().ok_or_else(|| Refusal::Undecodable("distribution is not running".into()))
}

/// Fails a call with `error` (through the node's key; without one the handle is dropped, and
/// its caller hears `NoReply`).
fn fail<R: Send + 'static>(from: ReplyTo<R>, error: CallError) {
    if let Some(key) = crate::rt::key() {
        from.fail(key, error);
    }
}

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Refusal> {
    crate::protocol::decode_exact(payload).map_err(Refusal::Undecodable)
}

/// The request types of one server, registered with [`crate::NodeBuilder::server`]: each under
/// `"{server name}.{wire name}"`.
pub struct ServerTypes<S: GenServer> {
    name: Arc<str>,
    requests: HashMap<RequestKey, Arc<dyn RequestOut<S>>>,
    inbound: Vec<(String, Arc<dyn Inbound>)>,
}

impl<S: GenServer> ServerTypes<S> {
    fn full_name(&self, name: &str) -> Arc<str> {
        Arc::from(format!("{}.{}", self.name, name))
    }

    /// Lets calls of `M` to this server travel, under `name` (within the server's name).
    pub fn call<M>(mut self, name: &str) -> Self
    where
        S: Call<M>,
        M: Serialize + DeserializeOwned + Send + 'static,
        <S as Call<M>>::Reply: Serialize + DeserializeOwned,
    {
        let wire = Arc::new(CallWire::<S, M> {
            name: self.full_name(name),
            _types: PhantomData,
        });
        self.inbound.push((wire.name.to_string(), wire.clone()));
        self.requests.insert(RequestKey::call::<S, M>(), wire);
        self
    }

    /// Lets casts of `M` to this server travel, under `name` (within the server's name).
    pub fn cast<M>(mut self, name: &str) -> Self
    where
        S: Cast<M>,
        M: Serialize + DeserializeOwned + Send + 'static,
    {
        let wire = Arc::new(CastWire::<S, M> {
            name: self.full_name(name),
            _types: PhantomData,
        });
        self.inbound.push((wire.name.to_string(), wire.clone()));
        self.requests.insert(RequestKey::cast::<S, M>(), wire);
        self
    }
}

impl<S: GenServer> fmt::Debug for ServerTypes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTypes")
            .field("name", &self.name)
            .field(
                "requests",
                &self
                    .inbound
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Starts a process of a registered kind from encoded arguments; returns its pid.
pub(crate) type SpawnFn = Arc<dyn Fn(&[u8]) -> Result<Pid, String> + Send + Sync>;

/// Why a type could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two types under one name.
    #[error("the name {0:?} is registered twice; every type that crosses between nodes needs a name of its own")]
    DuplicateName(String),
    /// One type under two names.
    #[error("the type {type_name} is registered under both {first:?} and {second:?}; pick one")]
    DuplicateType {
        /// The Rust type.
        type_name: &'static str,
        /// Its first name.
        first: String,
        /// The second.
        second: String,
    },
}

/// The registry, frozen once the node starts.
#[derive(Default, Clone)]
pub(crate) struct Registry {
    by_type: HashMap<TypeId, Arc<dyn Outbound>>,
    /// The first name each type was registered under, for the duplicate check.
    type_names: HashMap<TypeId, String>,
    by_name: HashMap<String, Arc<dyn Inbound>>,
    spawnable: HashMap<String, SpawnFn>,
    errors: Vec<RegistryError>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("types", &self.by_name.keys().collect::<Vec<_>>())
            .field("spawnable", &self.spawnable.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    fn add_outbound(
        &mut self,
        type_id: TypeId,
        type_name: &'static str,
        name: &str,
        entry: Arc<dyn Outbound>,
    ) {
        if let Some(first) = self.type_names.get(&type_id) {
            self.errors.push(RegistryError::DuplicateType {
                type_name,
                first: first.clone(),
                second: name.to_string(),
            });
            return;
        }
        self.type_names.insert(type_id, name.to_string());
        self.by_type.insert(type_id, entry);
    }

    fn add_inbound(&mut self, name: String, entry: Arc<dyn Inbound>) {
        if self.by_name.contains_key(&name) {
            self.errors.push(RegistryError::DuplicateName(name));
            return;
        }
        self.by_name.insert(name, entry);
    }

    pub(crate) fn message<M>(&mut self, name: &str)
    where
        M: Serialize + DeserializeOwned + Send + 'static,
    {
        let entry = Arc::new(Plain::<M> {
            name: Arc::from(name),
            _type: PhantomData,
        });
        if self.by_name.contains_key(name) {
            self.errors
                .push(RegistryError::DuplicateName(name.to_string()));
            return;
        }
        self.add_outbound(
            TypeId::of::<M>(),
            std::any::type_name::<M>(),
            name,
            entry.clone(),
        );
        self.add_inbound(name.to_string(), entry);
    }

    pub(crate) fn server<S: GenServer>(
        &mut self,
        name: &str,
        requests: impl FnOnce(ServerTypes<S>) -> ServerTypes<S>,
    ) {
        let types = requests(ServerTypes {
            name: Arc::from(name),
            requests: HashMap::new(),
            inbound: Vec::new(),
        });
        let entry = Arc::new(ServerOut::<S> {
            name: types.name.clone(),
            requests: types.requests,
        });
        self.add_outbound(
            TypeId::of::<Envelope<S>>(),
            std::any::type_name::<S>(),
            name,
            entry,
        );
        self.add_inbound(
            name.to_string(),
            Arc::new(StopWire::<S> {
                _server: PhantomData,
            }),
        );
        for (name, inbound) in types.inbound {
            self.add_inbound(name, inbound);
        }
    }

    pub(crate) fn spawnable(&mut self, name: &str, spawn: SpawnFn) {
        if self.spawnable.insert(name.to_string(), spawn).is_some() {
            self.errors
                .push(RegistryError::DuplicateName(name.to_string()));
        }
    }

    /// The first registration mistake, if any.
    pub(crate) fn check(&self) -> Result<(), RegistryError> {
        match self.errors.first() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn by_type(&self, type_id: TypeId) -> Option<&Arc<dyn Outbound>> {
        self.by_type.get(&type_id)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<dyn Inbound>> {
        self.by_name.get(name)
    }

    pub(crate) fn spawn_fn(&self, kind: &str) -> Option<&SpawnFn> {
        self.spawnable.get(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ping(u32);

    #[test]
    fn a_type_under_two_names_or_a_name_twice_is_a_startup_error() {
        let mut registry = Registry::default();
        registry.message::<Ping>("demo.Ping");
        registry.message::<Ping>("demo.Ping2");
        assert!(matches!(
            registry.check(),
            Err(RegistryError::DuplicateType { .. })
        ));
        let mut registry = Registry::default();
        registry.message::<Ping>("demo.Ping");
        registry.message::<u32>("demo.Ping");
        assert_eq!(
            registry.check(),
            Err(RegistryError::DuplicateName("demo.Ping".into()))
        );
    }

    #[test]
    fn a_plain_message_encodes_under_its_name_and_refuses_garbage() {
        let mut registry = Registry::default();
        registry.message::<Ping>("demo.Ping");
        let entry = registry.by_type(TypeId::of::<Ping>()).unwrap();
        let message: Box<dyn Any + Send> = Box::new(Ping(7));
        assert_eq!(entry.describe(&*message).unwrap().name, "demo.Ping");
        let mut out = Vec::new();
        assert!(entry.encode(message, None, &mut out).unwrap().is_none());
        assert_eq!(postcard::from_bytes::<Ping>(&out).unwrap(), Ping(7));
        let dead = Pid::from_parts("x@y", 1, 1);
        let inbound = registry.by_name("demo.Ping").unwrap();
        let refusal = inbound.deliver(dead, &[], None).unwrap_err();
        assert!(matches!(refusal, Refusal::Undecodable(_)));
    }

    struct Echo;
    impl GenServer for Echo {}
    impl Call<u32> for Echo {
        type Reply = u32;
        async fn handle_call(
            &mut self,
            n: u32,
            from: ReplyTo<u32>,
            _: &mut grove_otp::gen_server::ServerContext<Self>,
        ) {
            from.reply(n);
        }
    }

    #[test]
    fn a_call_that_cannot_be_delivered_is_answered_not_left_to_time_out() {
        let mut registry = Registry::default();
        registry.message::<Ping>("demo.Ping");
        registry.server::<Echo>("demo.Echo", |echo| echo.call::<u32>("u32"));
        let answers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let route = |answers: &std::sync::Arc<std::sync::Mutex<Vec<_>>>| {
            let answers = answers.clone();
            Some(ReplyRoute::new(move |outcome| {
                answers.lock().unwrap().push(outcome);
            }))
        };
        let somewhere = Pid::from_parts("x@y", 1, 1);
        // A payload that does not decode as the call's request.
        let call = registry.by_name("demo.Echo.u32").unwrap();
        assert!(call
            .deliver(somewhere, &[0xff; 12], route(&answers))
            .is_err());
        // A call id on a wire name that is a plain message here.
        let plain = registry.by_name("demo.Ping").unwrap();
        assert!(plain.deliver(somewhere, &[], route(&answers)).is_err());
        let answers = answers.lock().unwrap();
        assert_eq!(answers.len(), 2);
        assert!(answers
            .iter()
            .all(|outcome| matches!(outcome, Err(CallFailure::Refused(_)))));
    }
}
