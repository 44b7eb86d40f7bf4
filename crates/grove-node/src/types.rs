//! The types that may cross between nodes, each under a stable name: plain messages, the
//! requests and replies of `GenServer`s, and the kinds of process a peer may spawn here.
//!
//! A Rust type name is not stable (it changes with a module move or a compiler upgrade), so
//! every type that travels is registered under a name the application chooses, the same on
//! every node: `NodeBuilder::message::<Ping>("demo.Ping")`. A message of a type that was not
//! registered is not sent (logged, counted); one that arrives under an unknown name, or does
//! not decode, is refused the same way, and the connection carries on.
//!
//! The registry is built before the node starts and never changes after, so the hot path reads
//! it without a lock.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use grove_otp::gen_server::{CallError, Envelope, GenServer, ReplyTo, Server, ServerRequest};
use grove_runtime::{Addr, ExitReason, Pid, SendError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// A call's id and where its reply goes, returned by [`WireType::encode`].
pub(crate) type PendingCall = (u64, Box<dyn PendingReply>);

/// Sends a server's reply back to the calling node; made by the connection for each call.
pub(crate) type ReplyRoute = Box<dyn FnOnce(u64, Result<Vec<u8>, CallFailure>) + Send>;

/// One registered type.
pub(crate) trait WireType: Send + Sync {
    /// The stable name it travels under.
    fn name(&self) -> &str;

    /// Writes `message` (of this type) to `out`. A call takes an id from `next_call` and
    /// returns it with its pending reply, to be kept until the reply frame comes back.
    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        next_call: &mut dyn FnMut() -> u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<PendingCall>, String>;

    /// Decodes `payload` and delivers it to the local process `to`. A call's reply goes
    /// through `reply`.
    fn deliver(&self, to: Pid, payload: &[u8], reply: ReplyRoute) -> Result<(), Refusal>;
}

/// A plain message type.
struct Plain<M> {
    name: Arc<str>,
    _type: std::marker::PhantomData<fn(M) -> M>,
}

impl<M> WireType for Plain<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        _next_call: &mut dyn FnMut() -> u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<PendingCall>, String> {
        let message = message
            .downcast::<M>()
            .map_err(|_| "registry entry of another type".to_string())?;
        postcard_into(out, &*message)?;
        Ok(None)
    }

    fn deliver(&self, to: Pid, payload: &[u8], _reply: ReplyRoute) -> Result<(), Refusal> {
        let message: M = decode(payload)?;
        grove_runtime::try_deliver(to.assume_type::<M>(), message).map_err(Refusal::from)
    }
}

/// How a server's requests travel: the call id ties a call to its reply frame.
#[derive(Serialize, Deserialize)]
enum ServerWire<C, K, I> {
    Call { id: u64, request: C },
    Cast(K),
    Info(I),
    Stop(ExitReason),
}

/// A `GenServer`'s requests and replies.
struct ServerType<S> {
    name: Arc<str>,
    _type: std::marker::PhantomData<fn(S) -> S>,
}

impl<S> WireType for ServerType<S>
where
    S: GenServer,
    S::Call: Serialize + DeserializeOwned,
    S::Reply: Serialize + DeserializeOwned,
    S::Cast: Serialize + DeserializeOwned,
    S::Info: Serialize + DeserializeOwned,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(
        &self,
        message: Box<dyn Any + Send>,
        next_call: &mut dyn FnMut() -> u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<PendingCall>, String> {
        let envelope = message
            .downcast::<Envelope<S>>()
            .map_err(|_| "registry entry of another type".to_string())?;
        match envelope.into_request() {
            ServerRequest::Call(request, from) => {
                let call = next_call();
                let wire: ServerWire<&S::Call, (), ()> = ServerWire::Call {
                    id: call,
                    request: &request,
                };
                if let Err(error) = postcard_into(out, &wire) {
                    from.fail(CallError::Refused(format!(
                        "the request could not be encoded: {error}"
                    )));
                    return Err(error);
                }
                Ok(Some((call, Box::new(TypedPending::<S::Reply> { from }))))
            }
            ServerRequest::Cast(request) => {
                postcard_into(out, &ServerWire::<(), &S::Cast, ()>::Cast(&request)).map(|()| None)
            }
            ServerRequest::Info(info) => {
                postcard_into(out, &ServerWire::<(), (), &S::Info>::Info(&info)).map(|()| None)
            }
            ServerRequest::Stop(reason) => {
                postcard_into(out, &ServerWire::<(), (), ()>::Stop(reason)).map(|()| None)
            }
        }
    }

    fn deliver(&self, to: Pid, payload: &[u8], reply: ReplyRoute) -> Result<(), Refusal> {
        let wire: ServerWire<S::Call, S::Cast, S::Info> = decode(payload)?;
        let server = Server::<S>::from_pid(to);
        let request = match wire {
            ServerWire::Call { id, request } => {
                let from = ReplyTo::from_fn(move |outcome: Result<S::Reply, CallError>| {
                    let encoded = match outcome {
                        Ok(value) => postcard::to_allocvec(&value).map_err(|error| {
                            CallFailure::Refused(format!("the reply could not be encoded: {error}"))
                        }),
                        Err(error) => Err(failure_of(error)),
                    };
                    reply(id, encoded);
                });
                ServerRequest::Call(request, from)
            }
            ServerWire::Cast(request) => ServerRequest::Cast(request),
            ServerWire::Info(info) => ServerRequest::Info(info),
            ServerWire::Stop(reason) => ServerRequest::Stop(reason),
        };
        let addr: Addr<Envelope<S>> = server.pid().assume_type();
        match grove_runtime::try_deliver(addr, Envelope::from_request(request)) {
            Ok(()) => Ok(()),
            Err(error) => {
                let refusal = match &error {
                    SendError::Full { .. } => (Refusal::Full, CallError::Full),
                    SendError::WrongType { pid, .. } => {
                        (Refusal::WrongType, CallError::WrongType(*pid))
                    }
                    _ => (Refusal::NoProc, CallError::NoProc),
                };
                // A call learns why at once, as a local one would.
                if let ServerRequest::Call(_, from) = error.into_message().into_request() {
                    from.fail(refusal.1);
                }
                Err(refusal.0)
            }
        }
    }
}

/// The caller's side of a remote call: decodes the reply for its `ReplyTo`.
struct TypedPending<R: Send + 'static> {
    from: ReplyTo<R>,
}

impl<R: DeserializeOwned + Send + 'static> PendingReply for TypedPending<R> {
    fn complete(self: Box<Self>, outcome: Result<&[u8], CallFailure>) {
        match outcome {
            Ok(payload) => match postcard::from_bytes::<R>(payload) {
                Ok(reply) => {
                    self.from.reply(reply);
                }
                Err(error) => self.from.fail(CallError::Refused(format!(
                    "the reply did not decode: {error}"
                ))),
            },
            Err(failure) => self.from.fail(call_error_of(failure)),
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
    }
}

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Refusal> {
    postcard::from_bytes(payload).map_err(|error| Refusal::Undecodable(error.to_string()))
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
    by_type: HashMap<TypeId, Arc<dyn WireType>>,
    by_name: HashMap<String, Arc<dyn WireType>>,
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
    fn add(&mut self, type_id: TypeId, type_name: &'static str, entry: Arc<dyn WireType>) {
        let name = entry.name().to_string();
        if self.by_name.contains_key(&name) {
            self.errors.push(RegistryError::DuplicateName(name));
            return;
        }
        if let Some(existing) = self.by_type.get(&type_id) {
            self.errors.push(RegistryError::DuplicateType {
                type_name,
                first: existing.name().to_string(),
                second: name,
            });
            return;
        }
        self.by_type.insert(type_id, entry.clone());
        self.by_name.insert(name, entry);
    }

    pub(crate) fn message<M>(&mut self, name: &str)
    where
        M: Serialize + DeserializeOwned + Send + 'static,
    {
        let entry = Arc::new(Plain::<M> {
            name: Arc::from(name),
            _type: std::marker::PhantomData,
        });
        self.add(TypeId::of::<M>(), std::any::type_name::<M>(), entry);
    }

    pub(crate) fn server<S>(&mut self, name: &str)
    where
        S: GenServer,
        S::Call: Serialize + DeserializeOwned,
        S::Reply: Serialize + DeserializeOwned,
        S::Cast: Serialize + DeserializeOwned,
        S::Info: Serialize + DeserializeOwned,
    {
        let entry = Arc::new(ServerType::<S> {
            name: Arc::from(name),
            _type: std::marker::PhantomData,
        });
        self.add(
            TypeId::of::<Envelope<S>>(),
            std::any::type_name::<S>(),
            entry,
        );
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

    pub(crate) fn by_type(&self, type_id: TypeId) -> Option<&Arc<dyn WireType>> {
        self.by_type.get(&type_id)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<dyn WireType>> {
        self.by_name.get(name)
    }

    pub(crate) fn spawn_fn(&self, kind: &str) -> Option<&SpawnFn> {
        self.spawnable.get(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(entry.name(), "demo.Ping");
        let mut out = Vec::new();
        assert!(entry
            .encode(Box::new(Ping(7)), &mut || 0, &mut out)
            .unwrap()
            .is_none());
        assert_eq!(postcard::from_bytes::<Ping>(&out).unwrap(), Ping(7));
        let dead = Pid::from_parts("x@y", 1, 1);
        let refusal = entry.deliver(dead, &[], Box::new(|_, _| {})).unwrap_err();
        assert!(matches!(refusal, Refusal::Undecodable(_)));
    }
}
