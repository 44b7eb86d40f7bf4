//! The async shell around a connection: accepting and dialing, TLS, driving the sans-IO
//! handshake, and then three tasks per connection: a reader that decodes frames and hands them
//! to the dispatcher, a writer that drains the outbound queue in batches, and a ticker that
//! sends heartbeats and declares the peer down when it goes quiet or stops reading.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::NodeError;
use crate::dispatch::Dispatcher;
use crate::frame::{FrameDecoder, Kind, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use crate::handshake::{Handshake, HandshakeError, PeerInfo, Role, Step};
use crate::node::{Decision, NodeInner, REFUSE_DUPLICATE, REFUSE_SIMULTANEOUS};
use crate::outbound::Queued;
use crate::record::{Opener, Sealer};
use crate::session::{Phase, Session};
use crate::transcript::{SessionKeys, EXPORTER_LABEL};

/// Why a connection attempt or an incoming connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error("the handshake did not finish within {0:?}")]
    Timeout(Duration),
    #[error("no hello within the hello timeout")]
    HelloTimeout,
    #[error("the node at this address is {found}, not {expected}")]
    WrongPeer { expected: String, found: String },
    #[error("the peer closed the connection during the handshake")]
    Closed,
    #[error("{0}")]
    Frame(#[from] crate::frame::FrameError),
    /// Not an error: the peer is connected through another connection.
    #[error("already connected")]
    AlreadyConnected(Arc<str>),
}

/// Reads and writes whole handshake frames.
struct HandshakeIo<S> {
    stream: S,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> HandshakeIo<S> {
    fn new(stream: S) -> Self {
        HandshakeIo {
            stream,
            buf: BytesMut::with_capacity(4096),
            decoder: FrameDecoder::new(MAX_HANDSHAKE_FRAME),
        }
    }

    async fn send(&mut self, frame: &[u8]) -> Result<(), ConnectError> {
        if !frame.is_empty() {
            self.stream.write_all(frame).await?;
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// The body (after the kind byte) of the next handshake frame.
    async fn receive(&mut self) -> Result<BytesMut, ConnectError> {
        loop {
            if let Some(mut body) = self.decoder.decode(&mut self.buf)? {
                if body[0] != Kind::Handshake as u8 {
                    return Err(HandshakeError::Garbage(format!(
                        "a frame of kind {} before the handshake finished",
                        body[0]
                    ))
                    .into());
                }
                let _ = body.split_to(1);
                return Ok(body);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ConnectError::Closed);
            }
        }
    }
}

fn nonce() -> [u8; 32] {
    rand::random()
}

/// The peer's end-entity certificate, on a TLS connection.
fn peer_certificate<D>(
    connection: &rustls::ConnectionCommon<D>,
) -> Option<CertificateDer<'static>> {
    connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|certificate| certificate.clone().into_owned())
}

/// With TLS, the name a peer claims must be one its certificate gives (`None`: no TLS, and every
/// secret holder is trusted with every name).
fn certified(
    certificate: Option<&CertificateDer<'static>>,
    peer: &str,
) -> Result<(), HandshakeError> {
    match certificate {
        None => Ok(()),
        Some(certificate) => crate::tls::certificate_names(certificate, peer).map_err(|why| {
            HandshakeError::NameNotCertified {
                peer: peer.to_string(),
                why,
            }
        }),
    }
}

/// The channel binding of a TLS session: a value exported from it (RFC 5705) that no other
/// session has, so a proof made on it is good on it only.
fn tls_binding<D>(connection: &rustls::ConnectionCommon<D>) -> Result<Vec<u8>, ConnectError> {
    connection
        .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
        .map(|binding| binding.to_vec())
        .map_err(|error| ConnectError::Tls(format!("no channel binding: {error}")))
}

/// Accepts connections for the life of the node. Each handshake runs in its own task, at most
/// `max_handshakes` at once; beyond that a connection is closed at once, logged and counted.
pub(crate) async fn accept_loop(node: Arc<NodeInner>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: back off rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match node.handshakes.admit(addr.ip()) {
            Ok(permit) => permit,
            Err(crate::admission::Refused::Full) => {
                if let Some(refused) = crate::stats::bump(&node.stats.connections_refused_flood) {
                    tracing::warn!(%addr, refused, "connection refused: too many handshakes under way (a flood?)");
                }
                continue;
            }
            Err(crate::admission::Refused::AddressFull) => {
                if let Some(refused) = crate::stats::bump(&node.stats.connections_refused_address) {
                    tracing::warn!(%addr, refused, "connection refused: its address has too many handshakes under way (slowloris?)");
                }
                continue;
            }
        };
        let node = node.clone();
        tokio::spawn(async move {
            let limit = node.config.handshake_timeout;
            let outcome = tokio::time::timeout(limit, accept(node.clone(), stream)).await;
            drop(permit);
            let error = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(ConnectError::Handshake(HandshakeError::Refused(reason))))
                    if reason == REFUSE_DUPLICATE =>
                {
                    // The dialer found it is connected to us already: nothing failed.
                    tracing::debug!(%addr, "incoming connection withdrawn: already connected");
                    return;
                }
                Ok(Err(error)) => error,
                Err(_) => ConnectError::Timeout(limit),
            };
            if matches!(error, ConnectError::HelloTimeout) {
                node.stats.hello_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            count_forged(&node, &error);
            // Counted always, logged at the first failure and then at each power of two: a
            // scanner or an attacker cycling connections cannot flood the log.
            if let Some(failed) = crate::stats::bump(&node.stats.handshakes_failed) {
                tracing::warn!(%addr, %error, failed, "incoming connection refused (handshakes failed so far: {failed})");
            } else {
                tracing::debug!(%addr, %error, "incoming connection refused");
            }
        });
    }
}

/// Counts a handshake whose last word was forged, and says so (rate-limited): it means a party
/// without the secret is on the path.
fn count_forged(node: &NodeInner, error: &ConnectError) {
    if let ConnectError::Handshake(HandshakeError::ForgedDecision(word)) = error {
        if let Some(n) = crate::stats::bump(&node.stats.forged_decisions) {
            tracing::error!(word, forged = n, "a handshake's {word} was forged: someone without the cluster secret is on the path");
        }
    }
}

async fn accept(node: Arc<NodeInner>, stream: TcpStream) -> Result<(), ConnectError> {
    stream.set_nodelay(true)?;
    // The TLS handshake and the first Grove frame must both come by this deadline: a
    // connection that trickles them in gives its slot back.
    let hello_by = tokio::time::Instant::now() + node.config.hello_timeout;
    match &node.tls {
        Some(tls) => {
            let stream = tokio::time::timeout_at(hello_by, tls.acceptor.accept(stream))
                .await
                .map_err(|_| ConnectError::HelloTimeout)?
                .map_err(|error| ConnectError::Tls(error.to_string()))?;
            let binding = tls_binding(stream.get_ref().1)?;
            let certificate = peer_certificate(stream.get_ref().1);
            accept_handshake(node, stream, binding, certificate, hello_by).await
        }
        None => accept_handshake(node, stream, Vec::new(), None, hello_by).await,
    }
}

async fn accept_handshake<S>(
    node: Arc<NodeInner>,
    stream: S,
    binding: Vec<u8>,
    certificate: Option<CertificateDer<'static>>,
    hello_by: tokio::time::Instant,
) -> Result<(), ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut io = HandshakeIo::new(stream);
    let sealed = binding.is_empty();
    let (mut handshake, hello) = Handshake::start(
        Role::Acceptor,
        node.identity(),
        &node.config.secret,
        nonce(),
        binding,
    );
    io.send(&hello).await?;
    // Each step has its own deadline, the first one's counted from the connection's start: a
    // party that sends a good hello (which takes no secret) and then waits must not hold its
    // slot for the whole handshake timeout.
    let mut step_by = hello_by;
    loop {
        let body = tokio::time::timeout_at(step_by, io.receive())
            .await
            .map_err(|_| ConnectError::HelloTimeout)??;
        step_by = tokio::time::Instant::now() + node.config.hello_timeout;
        match handshake.receive(&body)? {
            Step::Send(frame) => io.send(&frame).await?,
            Step::Established(_) => unreachable!("only an initiator is established by a frame"),
            Step::Decide(peer) => {
                if let Err(error) = certified(certificate.as_ref(), &peer.name) {
                    io.send(&handshake.refuse(&error.to_string())).await?;
                    return Err(error.into());
                }
                return match node.decide_incoming(&peer) {
                    Decision::Refuse(reason) => {
                        io.send(&handshake.refuse(reason)).await?;
                        Ok(())
                    }
                    Decision::Accept(session) => {
                        if let Err(error) = io.send(&handshake.accept()).await {
                            node.close_session(&session, format!("handshake failed: {error}"));
                            return Err(error);
                        }
                        let keys = if sealed {
                            handshake.session_keys()
                        } else {
                            None
                        };
                        go_live(&node, &session, peer, io.stream, io.buf, keys);
                        Ok(())
                    }
                };
            }
        }
    }
}

/// Connects to a node by name, for a session created on first use. On failure the session
/// closes, and everything queued or linked over it learns `noconnection`.
pub(crate) async fn connect_named(node: Arc<NodeInner>, session: Arc<Session>) {
    let addr = node.address_of(&session.peer_name);
    let expected = session.peer_name.clone();
    match dial(&node, &addr, None, Some(session.clone())).await {
        Ok(_) => {}
        Err(ConnectError::AlreadyConnected(_)) => {}
        Err(error) => {
            node.attempt_failed(&session, format!("{addr}: {error}"));
            tracing::debug!(peer = %expected, %addr, %error, "connection attempt failed");
        }
    }
}

/// Connects to whatever node listens at `addr` (discovery, `Node::connect`); returns its name.
///
/// `tls_host` is the `host:port` that `addr` was resolved from, if it was: TLS checks the peer's
/// certificate against that host name rather than the address.
pub(crate) async fn connect_addr(
    node: Arc<NodeInner>,
    addr: String,
    tls_host: Option<String>,
) -> Result<Arc<str>, NodeError> {
    match dial(&node, &addr, tls_host.as_deref(), None).await {
        Ok(name) | Err(ConnectError::AlreadyConnected(name)) => Ok(name),
        Err(error) => Err(NodeError::Connect {
            peer: addr,
            reason: error.to_string(),
        }),
    }
}

/// Dials `addr` and runs the initiator's handshake, within the connect and handshake limits.
/// With TLS, the peer's certificate must name the host of `tls_host` (default: of `addr`).
async fn dial(
    node: &Arc<NodeInner>,
    addr: &str,
    tls_host: Option<&str>,
    session: Option<Arc<Session>>,
) -> Result<Arc<str>, ConnectError> {
    let connect_limit = node.config.connect_timeout;
    let stream = tokio::time::timeout(connect_limit, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(connect_limit))??;
    stream.set_nodelay(true)?;
    let limit = node.config.handshake_timeout;
    let run = async {
        match &node.tls {
            Some(tls) => {
                let named = tls_host.unwrap_or(addr);
                let host = named.rsplit_once(':').map_or(named, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|error| ConnectError::Tls(format!("{host}: {error}")))?;
                let stream = tls
                    .connector
                    .connect(server_name, stream)
                    .await
                    .map_err(|error| ConnectError::Tls(error.to_string()))?;
                let binding = tls_binding(stream.get_ref().1)?;
                let certificate = peer_certificate(stream.get_ref().1);
                initiate(node, stream, session, binding, certificate).await
            }
            None => initiate(node, stream, session, Vec::new(), None).await,
        }
    };
    match tokio::time::timeout(limit, run).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ConnectError::Timeout(limit)),
    }
}

async fn initiate<S>(
    node: &Arc<NodeInner>,
    stream: S,
    session: Option<Arc<Session>>,
    binding: Vec<u8>,
    certificate: Option<CertificateDer<'static>>,
) -> Result<Arc<str>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut io = HandshakeIo::new(stream);
    let sealed = binding.is_empty();
    let (mut handshake, hello) = Handshake::start(
        Role::Initiator,
        node.identity(),
        &node.config.secret,
        nonce(),
        binding,
    );
    io.send(&hello).await?;
    // The peer's hello: now its name is known, check it is the one wanted (or claim a session
    // for it) before proving anything.
    let body = io.receive().await?;
    let proof = match handshake.receive(&body)? {
        Step::Send(proof) => proof,
        _ => return Err(HandshakeError::OutOfOrder("expected a hello").into()),
    };
    let peer_name = handshake
        .peer()
        .cloned()
        .ok_or(HandshakeError::OutOfOrder("expected a hello"))?;
    if let Err(error) = certified(certificate.as_ref(), &peer_name.name) {
        let _ = io.send(&handshake.refuse(&error.to_string())).await;
        return Err(error.into());
    }
    let session = match session {
        Some(session) => {
            if *session.peer_name != *peer_name.name {
                return Err(ConnectError::WrongPeer {
                    expected: session.peer_name.to_string(),
                    found: peer_name.name,
                });
            }
            session
        }
        None => match node.claim_outgoing(&peer_name) {
            Some(session) => session,
            None => {
                // Say why rather than hang up mid-handshake, so the peer does not count it as
                // a failure.
                let _ = io.send(&handshake.refuse(REFUSE_DUPLICATE)).await;
                return Err(ConnectError::AlreadyConnected(Arc::from(peer_name.name)));
            }
        },
    };
    let outcome = async {
        io.send(&proof).await?;
        loop {
            let body = io.receive().await?;
            match handshake.receive(&body)? {
                Step::Send(frame) => io.send(&frame).await?,
                Step::Established(peer) => return Ok(peer),
                Step::Decide(_) => unreachable!("only an acceptor decides"),
            }
        }
    }
    .await;
    match outcome {
        Ok(peer) => {
            let keys = if sealed {
                handshake.session_keys()
            } else {
                None
            };
            go_live(node, &session, peer, io.stream, io.buf, keys);
            Ok(session.peer_name.clone())
        }
        Err(ConnectError::Handshake(HandshakeError::Refused(reason)))
            if reason == REFUSE_DUPLICATE || reason == REFUSE_SIMULTANEOUS =>
        {
            // The peer keeps another connection with us (its own, or one it just accepted):
            // this session comes up through that one.
            let within = node.config.handshake_timeout;
            if crate::node::session_up(&session, within).await.is_err() {
                node.attempt_failed(
                    &session,
                    format!("the peer said {reason:?} but no connection came up"),
                );
            }
            Err(ConnectError::AlreadyConnected(session.peer_name.clone()))
        }
        Err(error) => {
            count_forged(node, &error);
            node.attempt_failed(&session, format!("handshake failed: {error}"));
            Err(error)
        }
    }
}

/// The handshake is done: start the reader, writer and ticker of `session` on `stream`. `read`
/// holds what was read past the handshake. With `keys` (a connection without TLS), every byte
/// after the handshake is sealed in records ([`crate::record`]).
fn go_live<S>(
    node: &Arc<NodeInner>,
    session: &Arc<Session>,
    peer: PeerInfo,
    stream: S,
    read: BytesMut,
    keys: Option<SessionKeys>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !session.set_up(peer.clone()) {
        return; // closed meanwhile; dropping the stream closes the socket
    }
    let (opener, sealer) = match keys {
        Some(keys) => (
            Some(Opener::new(&keys.receive)),
            Some(Sealer::new(&keys.send)),
        ),
        None => (None, None),
    };
    let (reader, writer) = tokio::io::split(stream);
    let reader = tokio::spawn(read_loop(
        node.clone(),
        session.clone(),
        reader,
        read,
        opener,
    ));
    let writer = tokio::spawn(write_loop(node.clone(), session.clone(), writer, sealer));
    let ticker = tokio::spawn(tick_loop(node.clone(), session.clone()));
    for task in [reader, writer, ticker] {
        session.add_task(task.abort_handle());
    }
    node.session_up(session, &peer);
    if node.config.mesh {
        session.signal(
            None,
            &crate::protocol::Control::Peers {
                nodes: node.known_peers(),
            },
        );
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    node: Arc<NodeInner>,
    session: Arc<Session>,
    mut reader: R,
    read: BytesMut,
    mut opener: Option<Opener>,
) {
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut dispatcher = Dispatcher::new(node.clone(), session.clone());
    // What comes off the socket (`raw`), and the frame bytes in it (`buf`): the same buffer
    // when the connection is not sealed.
    let (mut raw, mut buf) = match opener {
        Some(_) => (read, BytesMut::with_capacity(64 * 1024)),
        None => (BytesMut::new(), read),
    };
    let why = loop {
        let mut broken = None;
        if let Some(opener) = &mut opener {
            if let Err(error) = opener.open(&mut raw, &mut buf) {
                node.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                break format!("protocol violation: {error}");
            }
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(body)) => {
                    if let Some(length) = crate::frame::announced_length(&body) {
                        dispatcher.reserve(length).await;
                    }
                    if let Err(error) = dispatcher.frame(body) {
                        broken = Some(error);
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    broken = Some(error);
                    break;
                }
            }
        }
        if let Some(error) = broken {
            node.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            break format!("protocol violation: {error}");
        }
        let into = if opener.is_some() { &mut raw } else { &mut buf };
        if into.capacity() - into.len() < 16 * 1024 {
            into.reserve(64 * 1024);
        }
        match reader.read_buf(into).await {
            Ok(0) => break "the peer closed the connection".to_string(),
            Ok(n) => {
                tracing::trace!(peer = %session.peer_name, bytes = n, "read");
                session.last_read.store(session.now_ms(), Ordering::Relaxed)
            }
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                // TLS says so when the peer vanished without closing the session: killed.
                break "the peer closed the connection without a goodbye (it exited or was killed)"
                    .to_string();
            }
            Err(error) => break format!("read failed: {error}"),
        }
    };
    node.close_session(&session, why);
}

async fn write_loop<W: AsyncWrite + Unpin>(
    node: Arc<NodeInner>,
    session: Arc<Session>,
    mut writer: W,
    mut sealer: Option<Sealer>,
) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut sealed = Vec::new();
    let why = loop {
        if !session.take_batch(&mut batch) {
            return;
        }
        if batch.is_empty() {
            session.wake.notified().await;
            continue;
        }
        if let Some(sealer) = &mut sealer {
            sealed.clear();
            if let Err(error) = sealer.seal(&batch, &mut sealed) {
                break error.to_string();
            }
            std::mem::swap(&mut batch, &mut sealed);
        }
        // `writing_since` is the time of the last progress while a write is under way (0 when
        // idle): the ticker closes a connection whose peer stops reading for too long.
        session
            .writing_since
            .store(session.now_ms().max(1), Ordering::Relaxed);
        let mut written = 0;
        let mut failed = None;
        while written < batch.len() {
            match writer.write(&batch[written..]).await {
                Ok(0) => {
                    failed = Some("the connection stopped taking bytes".to_string());
                    break;
                }
                Ok(n) => {
                    written += n;
                    session
                        .writing_since
                        .store(session.now_ms().max(1), Ordering::Relaxed);
                }
                Err(error) => {
                    failed = Some(format!("write failed: {error}"));
                    break;
                }
            }
        }
        if failed.is_none() {
            if let Err(error) = writer.flush().await {
                failed = Some(format!("write failed: {error}"));
            }
        }
        session.writing_since.store(0, Ordering::Relaxed);
        tracing::trace!(peer = %session.peer_name, bytes = written, "written");
        if let Some(why) = failed {
            break why;
        }
        session
            .last_write
            .store(session.now_ms(), Ordering::Relaxed);
        batch.clear();
        if batch.capacity() > 4 << 20 {
            batch = Vec::with_capacity(64 * 1024);
        }
    };
    node.close_session(&session, why);
}

async fn tick_loop(node: Arc<NodeInner>, session: Arc<Session>) {
    let interval = node.config.heartbeat_interval;
    let timeout = node.config.heartbeat_timeout.as_millis() as u64;
    let mut ticker = tokio::time::interval((interval / 2).max(Duration::from_millis(5)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = session.now_ms();
        let quiet = now.saturating_sub(session.last_read.load(Ordering::Relaxed));
        if quiet > timeout && !session.reading_paused.load(Ordering::Relaxed) {
            node.stats
                .heartbeat_timeouts
                .fetch_add(1, Ordering::Relaxed);
            node.close_session(
                &session,
                format!("nothing heard for {quiet} ms (heartbeat timeout): the node is hung, partitioned or overloaded"),
            );
            return;
        }
        let writing = session.writing_since.load(Ordering::Relaxed);
        if writing != 0 && now.saturating_sub(writing) > timeout {
            node.close_session(
                &session,
                format!("the peer has not read for {} ms", now - writing),
            );
            return;
        }
        if now.saturating_sub(session.last_write.load(Ordering::Relaxed))
            >= interval.as_millis() as u64
        {
            let queued = session
                .out
                .lock()
                .append(None, Kind::Heartbeat, true, |_| Ok::<(), ()>(()))
                .unwrap_or(Queued::Busy);
            session.after_queue(queued, "heartbeat");
        }
        if matches!(session.phase(), Phase::Closed) {
            return;
        }
    }
}
