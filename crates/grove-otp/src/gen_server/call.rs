//! The request side of a `GenServer`: the reply handle a server answers through, the errors a
//! call can end with, and the call itself.
//!
//! A call sends the request with a one-shot reply channel (so callers outside processes work
//! too) and waits for the reply or the timeout. If the server exits first, the reply handle is
//! dropped with its mailbox or its state while the runtime takes the server down, and its `Drop`
//! tells the caller the server's exit reason once the server is gone (its name free, as after
//! OTP's `DOWN`): no monitor per call is needed to learn it. A
//! request to a server that is not alive is refused at once. The reply channel belongs to this
//! one call, so a reply that comes after a timeout is dropped with the channel: it can never land
//! in the caller's mailbox, which is the OTP pitfall this avoids.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::Duration;

use grove_runtime::{Addr, ExitReason, Pid, SendError};
use tokio::sync::oneshot;

/// OTP's default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a reply handle went away without a reply.
pub(crate) enum Unanswered {
    /// Dropped while its holder was exiting with this reason.
    Exited(ExitReason),
    /// Dropped by a live holder.
    Dropped,
    /// Failed on purpose by a proxy (see [`ReplyTo::fail`]).
    Failed(CallError),
}

type ReplySender<R> = oneshot::Sender<Result<R, Unanswered>>;

/// Where a reply goes: the one-shot channel of a local caller, or a function (the distribution
/// layer's, which sends the reply back over the wire).
enum Sink<R> {
    Channel(ReplySender<R>),
    Function(Box<dyn FnOnce(Result<R, CallError>) + Send>),
}

impl<R> Sink<R> {
    fn complete(self, outcome: Result<R, Unanswered>) -> bool {
        match self {
            Sink::Channel(tx) => tx.send(outcome).is_ok(),
            Sink::Function(f) => {
                f(outcome.map_err(Unanswered::into_call_error));
                true
            }
        }
    }
}

impl Unanswered {
    fn into_call_error(self) -> CallError {
        match self {
            Unanswered::Exited(reason) => CallError::Exited(reason),
            Unanswered::Dropped => CallError::NoReply,
            Unanswered::Failed(error) => error,
        }
    }
}

/// Where a call's reply goes (OTP's `From`). A server answers with [`ReplyTo::reply`], at once in
/// `handle_call` or later from anywhere (keep it in the state, hand it to another process).
/// Dropping it without replying fails the call: with the holder's exit reason if it is being
/// dropped because its process exits, with [`CallError::NoReply`] otherwise.
///
/// It holds nothing but the reply channel, so a request stays small in the server's mailbox; a
/// server that needs to know who called (to monitor a caller it will answer much later) takes
/// the pid as part of the request.
pub struct ReplyTo<R: Send + 'static> {
    sink: Option<Sink<R>>,
    /// The local server the request went to, if known: only a drop inside one of its
    /// callbacks waits for the callback's verdict (stop or go on). Dropped anywhere else (by
    /// the caller's own side, when the request could not be carried), the call fails at once.
    server: Option<Pid>,
}

impl<R: Send + 'static> ReplyTo<R> {
    /// A handle for a call to `server` (`None`: whichever server it is delivered to). A server
    /// on another node never holds it here, so a drop on this side fails the call at once.
    pub(crate) fn new(tx: ReplySender<R>, server: Option<Pid>) -> Self {
        ReplyTo {
            sink: Some(Sink::Channel(tx)),
            server,
        }
    }

    /// A reply handle that hands the call's outcome to `f`: the reply, or why there was none
    /// ([`CallError::Exited`] with the server's reason, [`CallError::NoReply`]). For the
    /// distribution layer, which sends a remote caller its reply over the wire; it takes that
    /// layer's key. `f` runs once, on whichever thread answers or drops the handle.
    pub fn from_fn(
        _: &grove_runtime::remote::RemoteKey,
        f: impl FnOnce(Result<R, CallError>) + Send + 'static,
    ) -> Self {
        ReplyTo {
            sink: Some(Sink::Function(Box::new(f))),
            // Delivered to a local server by the distribution layer: any callback that drops
            // it is that server's.
            server: None,
        }
    }

    /// Sends the reply. Returns false if the caller is no longer waiting (it timed out or
    /// exited); the reply is then dropped.
    pub fn reply(mut self, reply: R) -> bool {
        match self.sink.take() {
            Some(sink) => sink.complete(Ok(reply)),
            None => false,
        }
    }

    /// Fails the call with `error` instead of replying. For the distribution layer (it takes
    /// that layer's key), which fails a remote call with `Exited(noconnection)` when the
    /// server's node is lost, and with what the server's node reported otherwise. A server
    /// cannot fail a call with a made-up reason: it replies, or stops.
    pub fn fail(self, _: &grove_runtime::remote::RemoteKey, error: CallError) {
        self.fail_with(error);
    }

    pub(crate) fn fail_with(mut self, error: CallError) {
        if let Some(sink) = self.sink.take() {
            sink.complete(Err(Unanswered::Failed(error)));
        }
    }

    /// False once the caller has stopped waiting (timed out, gave up, exited). A handle made
    /// with [`ReplyTo::from_fn`] cannot tell, and stays true until answered.
    pub fn is_waiting(&self) -> bool {
        match &self.sink {
            Some(Sink::Channel(tx)) => !tx.is_closed(),
            Some(Sink::Function(_)) => true,
            None => false,
        }
    }
}

impl<R: Send + 'static> Drop for ReplyTo<R> {
    fn drop(&mut self) {
        let Some(sink) = self.sink.take() else { return };
        if let Some(reason) = grove_runtime::exiting_reason() {
            // The caller hears once the server is gone and its name is free, as OTP's caller
            // learns from its monitor's `DOWN`.
            grove_runtime::when_gone(move || {
                sink.complete(Err(Unanswered::Exited(reason)));
            });
            return;
        }
        // Dropped by a process other than the server (the caller's side, a request that could
        // not be carried): nothing to wait for.
        if self
            .server
            .is_some_and(|server| grove_runtime::self_pid() != Some(server))
        {
            sink.complete(Err(Unanswered::Dropped));
            return;
        }
        // Dropped inside a server callback: whether the server is stopping is known only when
        // the callback returns, so leave the verdict to the server's loop.
        let fail = move |why: Unanswered| {
            sink.complete(Err(why));
        };
        if let Err(fail) = park(Box::new(fail)) {
            fail(Unanswered::Dropped);
        }
    }
}

type Verdict = Box<dyn FnOnce(Unanswered) + Send>;

/// A thread's parking state: how many server callbacks are being polled on it (nested), and
/// how many reply handles are parked in [`PARKED`]. Plain cells, so the check every callback
/// poll makes ("did anything get dropped?") touches no `RefCell` and no destructor-carrying
/// thread local.
struct ParkingScope {
    depth: Cell<usize>,
    parked: Cell<usize>,
}

thread_local! {
    static PARKING: ParkingScope = const {
        ParkingScope {
            depth: Cell::new(0),
            parked: Cell::new(0),
        }
    };
    /// The reply handles dropped inside callbacks, in order: each callback's poll takes those
    /// dropped after it began. Touched only when a handle is dropped, which is rare.
    static PARKED: RefCell<Vec<Verdict>> = const { RefCell::new(Vec::new()) };
}

fn park(verdict: Verdict) -> Result<(), Verdict> {
    if PARKING.with(|scope| scope.depth.get()) == 0 {
        return Err(verdict);
    }
    PARKED.with(|parked| match parked.try_borrow_mut() {
        Ok(mut parked) => {
            parked.push(verdict);
            PARKING.with(|scope| scope.parked.set(parked.len()));
            Ok(())
        }
        Err(_) => Err(verdict),
    })
}

/// Takes the verdicts parked since `start` off the thread.
fn unpark_since(start: usize) -> Vec<Verdict> {
    PARKED.with(|parked| match parked.try_borrow_mut() {
        Ok(mut parked) => {
            let start = start.min(parked.len());
            let taken = parked.drain(start..).collect();
            PARKING.with(|scope| scope.parked.set(parked.len()));
            taken
        }
        Err(_) => Vec::new(),
    })
}

/// Reply handles a callback dropped unanswered, waiting to learn whether the server stops.
/// Dropped with verdicts still in it (the server's future dropped because it was killed), it
/// gives them the exit reason once the server is gone: no caller is left without an answer.
#[derive(Default)]
pub(crate) struct UnansweredCalls {
    verdicts: Vec<Verdict>,
}

impl UnansweredCalls {
    pub(crate) fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }

    /// The server goes on: their callers learn the request was dropped.
    pub(crate) fn dropped(mut self) {
        fail_dropped(std::mem::take(&mut self.verdicts));
    }

    /// The server exits with `reason`: their callers get it, once the server is gone.
    pub(crate) fn exited(mut self, reason: &ExitReason) {
        fail_exited(std::mem::take(&mut self.verdicts), reason.clone());
    }

    pub(crate) fn extend(&mut self, other: Option<UnansweredCalls>) {
        if let Some(mut other) = other {
            self.verdicts.append(&mut other.verdicts);
        }
    }
}

impl Drop for UnansweredCalls {
    fn drop(&mut self) {
        // Nearly always empty: then there is nothing to decide, and no thread local to read.
        if self.verdicts.is_empty() {
            return;
        }
        let verdicts = std::mem::take(&mut self.verdicts);
        match grove_runtime::exiting_reason() {
            Some(reason) => fail_exited(verdicts, reason),
            None => fail_dropped(verdicts),
        }
    }
}

fn fail_dropped(verdicts: Vec<Verdict>) {
    for verdict in verdicts {
        verdict(Unanswered::Dropped);
    }
}

fn fail_exited(verdicts: Vec<Verdict>, reason: ExitReason) {
    if verdicts.is_empty() {
        return;
    }
    grove_runtime::when_gone(move || {
        for verdict in verdicts {
            verdict(Unanswered::Exited(reason.clone()));
        }
    });
}

pin_project_lite::pin_project! {
    /// Polls a callback with reply-handle drops parked, and hands them out with its output.
    pub(crate) struct Parking<F> {
        #[pin]
        callback: F,
        // `None` until a handle is dropped: nearly every callback ends with nothing to hand
        // out, and then nothing is made or dropped for it.
        parked: Option<UnansweredCalls>,
    }
}

/// Runs `callback`, collecting the reply handles it drops unanswered (`None` if it drops
/// none).
pub(crate) fn parking<F: std::future::Future>(callback: F) -> Parking<F> {
    Parking {
        callback,
        parked: None,
    }
}

/// Leaves a callback poll's parking scope if the poll unwinds (it is forgotten otherwise), and
/// fails the reply handles dropped meanwhile at once rather than leaving them parked on the
/// thread. Holds how many verdicts were parked on the thread when the poll began.
struct Unwinding(usize);

impl Drop for Unwinding {
    fn drop(&mut self) {
        PARKING.with(|scope| scope.depth.set(scope.depth.get().saturating_sub(1)));
        fail_dropped(unpark_since(self.0));
    }
}

impl<F: std::future::Future> std::future::Future for Parking<F> {
    type Output = (F::Output, Option<UnansweredCalls>);

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let start = PARKING.with(|scope| {
            scope.depth.set(scope.depth.get() + 1);
            scope.parked.get()
        });
        let unwinding = Unwinding(start);
        let polled = this.callback.poll(cx);
        std::mem::forget(unwinding);
        let grew = PARKING.with(|scope| {
            scope.depth.set(scope.depth.get().saturating_sub(1));
            scope.parked.get() > start
        });
        if grew {
            this.parked
                .get_or_insert_with(UnansweredCalls::default)
                .verdicts
                .extend(unpark_since(start));
        }
        polled.map(|output| (output, this.parked.take()))
    }
}

impl<R: Send + 'static> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTo")
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// Why a call got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the timeout. The server may still handle the request; its reply will be
    /// discarded.
    #[error("no reply within {0:?}; the server may still handle the request (its reply will be discarded): raise the timeout or find what keeps the server busy")]
    Timeout(Duration),
    /// The server was not running when the call was made.
    #[error(
        "the server is not running (noproc): start it, or look it up again if it was restarted"
    )]
    NoProc,
    /// The server exited before it replied (or the process it handed the request to did).
    #[error("the server exited with reason {0} before replying")]
    Exited(ExitReason),
    /// The server dropped the request without replying and is still running.
    #[error("the server dropped the request without replying; check its handle_call keeps or answers every ReplyTo")]
    NoReply,
    /// No server is registered under the name.
    #[error("no server is registered as {0:?}: start it under your supervisor or check the name")]
    NotRegistered(String),
    /// The server's bounded mailbox is full and refuses requests.
    #[error("the server's mailbox is full; retry later or shed load")]
    Full,
    /// The pid is a process of another type than the server the call was made for.
    #[error("{0} is not a server of this type; check where the pid came from")]
    WrongType(Pid),
    /// The server is the calling process itself: it could never answer (OTP's `calling_self`).
    #[error("a server cannot call itself (calling_self): handle the request directly, or cast it")]
    CallingSelf,
    /// The server's node was lost before it replied (OTP's `{nodedown, Node}`).
    #[error("the node {0} of the server went down before it replied (nodedown)")]
    NodeDown(String),
    /// The request's type is not registered for distribution, on this node or on the
    /// server's: the text says which.
    #[error("{0}; register the request on every node with NodeBuilder::server::<S>(name, |s| s.call::<Request>(wire name)) (or .cast)")]
    NotDistributed(String),
    /// The server's node could not take the request or the caller could not read the reply
    /// (a type not registered for distribution on one side, or registered differently).
    #[error("the server's node refused the call: {0}; register the server's types under the same names on every node")]
    Refused(String),
}

impl CallError {
    /// The exit reason a process that makes this call failure its own (with `?`) exits with:
    /// Erlang's reasons, so a linked process or a supervisor can match on them. The server's
    /// reason when it exited, `noproc` when no server was there (by pid or by name), `timeout`,
    /// `calling_self`, `{nodedown, Node}`; an error reason with this error's text otherwise.
    pub fn into_exit_reason(self) -> ExitReason {
        match self {
            CallError::Exited(reason) => reason,
            CallError::NoProc | CallError::NotRegistered(_) => ExitReason::NoProc,
            CallError::Timeout(_) => ExitReason::Timeout,
            CallError::CallingSelf => ExitReason::CallingSelf,
            CallError::NodeDown(node) => ExitReason::NodeDown(node.into()),
            other => ExitReason::error(other),
        }
    }
}

impl<M> From<SendError<M>> for CallError {
    /// Why a request could not be handed to the server (the request itself is dropped).
    fn from(error: SendError<M>) -> Self {
        match error {
            SendError::Full { .. } => CallError::Full,
            SendError::NoProc { .. } => CallError::NoProc,
            SendError::WrongType { pid, .. } => CallError::WrongType(pid),
            SendError::NotRegistered { name, .. } => CallError::NotRegistered(name.to_string()),
        }
    }
}

impl From<CallError> for ExitReason {
    fn from(error: CallError) -> Self {
        error.into_exit_reason()
    }
}

/// A call's reply channel, on the caller's side.
pub(crate) type ReplyReceiver<R> = oneshot::Receiver<Result<R, Unanswered>>;

/// Hands a request built around a fresh reply handle to a server on this node; the channel its
/// reply comes back on. Fails at once if the server is the caller, or cannot take the request.
pub(crate) fn send_local<M, R>(
    to: Addr<M>,
    make: impl FnOnce(ReplyTo<R>) -> M,
) -> Result<ReplyReceiver<R>, CallError>
where
    M: Send + 'static,
    R: Send + 'static,
{
    let pid = to.pid();
    if grove_runtime::self_pid() == Some(pid) {
        return Err(CallError::CallingSelf);
    }
    let (tx, rx) = oneshot::channel();
    grove_runtime::try_deliver(to, make(ReplyTo::new(tx, Some(pid))))?;
    Ok(rx)
}

/// Sends a request built around a fresh reply handle and waits for the reply, the handle's
/// loss, or the timeout. A pid of another node is connected to first, within the timeout.
pub(crate) async fn call<M, R>(
    to: Addr<M>,
    make: impl FnOnce(ReplyTo<R>) -> M,
    timeout: Duration,
) -> Result<R, CallError>
where
    M: Send + 'static,
    R: Send + 'static,
{
    let pid = to.pid();
    if !pid.is_local() {
        let node = pid.node_name();
        return call_remote(&node, pid, timeout, |from| {
            grove_runtime::try_deliver(to, make(from)).map_err(CallError::from)
        })
        .await;
    }
    let rx = send_local(to, make)?;
    await_reply(rx, timeout, timeout, None).await
}

/// A call to whoever holds `name` on the node `node`: connects to `node` first if needed, and
/// waits for the reply, all within the timeout. That node answers for a name nobody holds.
pub(crate) async fn call_named<M, R>(
    name: &str,
    node: &str,
    make: impl FnOnce(ReplyTo<R>) -> M,
    timeout: Duration,
) -> Result<R, CallError>
where
    M: Send + 'static,
    R: Send + 'static,
{
    // The node's pseudo-pid: no local process, so a drop on this side fails the call at once.
    let server = Pid::from_parts(node, 0, 0);
    call_remote(node, server, timeout, |from| {
        grove_runtime::remote::send_named(name, node, make(from));
        Ok(())
    })
    .await
}

/// A call to a server (`server`) on the node `node`: connects first if needed, then hands a
/// fresh reply handle to `send` and waits for the reply in what is left of `timeout`.
async fn call_remote<R: Send + 'static>(
    node: &str,
    server: Pid,
    timeout: Duration,
    send: impl FnOnce(ReplyTo<R>) -> Result<(), CallError>,
) -> Result<R, CallError> {
    let started = tokio::time::Instant::now();
    if !grove_runtime::remote::connected(node, timeout).await {
        return Err(CallError::NodeDown(node.to_string()));
    }
    let (tx, rx) = oneshot::channel();
    send(ReplyTo::new(tx, Some(server)))?;
    let left = timeout.saturating_sub(started.elapsed());
    await_reply(rx, left, timeout, Some(node)).await
}

/// Waits up to `left` for a call's outcome (a timeout reports the call's whole `timeout`). For
/// a server on another node, losing the node is OTP's `{nodedown, Node}`.
pub(crate) async fn await_reply<R>(
    rx: ReplyReceiver<R>,
    left: Duration,
    timeout: Duration,
    node: Option<&str>,
) -> Result<R, CallError> {
    let outcome = match crate::deadline::timeout(left, rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Err(Unanswered::Dropped),
        Err(_) => return Err(CallError::Timeout(timeout)),
    };
    outcome.map_err(|unanswered| match (unanswered.into_call_error(), node) {
        (CallError::Exited(ExitReason::NoConnection), Some(node)) => {
            CallError::NodeDown(node.to_string())
        }
        (other, _) => other,
    })
}
