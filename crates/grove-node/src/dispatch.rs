//! What a connection does with each frame that arrives: deliver messages, answer calls, apply
//! signals, serve requests. Bad content (an unknown type, a payload that does not decode, a
//! process of another type) is refused, logged and counted, and the connection carries on; only
//! a broken frame structure ends it, since after that frame boundaries cannot be trusted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::rt;
use bytes::{Buf, BytesMut};
use grove_runtime::{ExitReason, Pid};

use crate::frame::{FrameError, Kind, Reassembler};
use crate::node::NodeInner;
use crate::protocol::{
    CallFailure, Control, Dest, MessageHeader, ReplyHeader, Request, Response, WirePid,
};
use crate::session::Session;
use crate::stats::bump as count;
use crate::types::{Refusal, ReplyRoute};

/// The memory that large messages still arriving in fragments may hold, across all the node's
/// connections: each reserves the size its first fragment announces, in KiB, and gives it back
/// when the message is complete (or its connection is gone). A whole message's size is reserved
/// at once, so a connection holding a reservation needs nothing more than its own peer's bytes to
/// finish: waiting connections always make progress.
pub(crate) struct ReassemblyBudget {
    kib: Arc<tokio::sync::Semaphore>,
}

impl ReassemblyBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        let kib = bytes
            .div_ceil(1024)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        ReassemblyBudget {
            kib: Arc::new(tokio::sync::Semaphore::new(kib)),
        }
    }
}

pub(crate) struct Dispatcher {
    node: Arc<NodeInner>,
    session: Arc<Session>,
    reassembler: Reassembler,
    /// The budget reserved for the fragmented message being reassembled.
    reserved: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The next frame starts a message refused for want of room in the budget.
    skip_next: bool,
}

impl Dispatcher {
    pub(crate) fn new(node: Arc<NodeInner>, session: Arc<Session>) -> Self {
        let reassembler = Reassembler::new(node.config.max_message_bytes);
        Dispatcher {
            node,
            session,
            reassembler,
            reserved: None,
            skip_next: false,
        }
    }

    /// Before a frame that begins a fragmented message (whose first fragment announces
    /// `length`): reserves that size from the node's reassembly budget. While other
    /// connections' messages hold the budget, this waits, reading nothing more from this peer (TCP slows it down), but for less than half
    /// the heartbeat timeout: the peer's writes must not stall long enough for it to take this
    /// node for hung. If there is still no room then, the message is refused: its fragments
    /// are dropped as they come, and a call gets a `Refused` reply.
    pub(crate) async fn reserve(&mut self, length: usize) {
        // Over the limit, or a second start: the reassembler refuses it; nothing to reserve.
        if length > self.node.config.max_message_bytes || self.reserved.is_some() {
            return;
        }
        let kib = u32::try_from(length.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let budget = self.node.reassembly.kib.clone();
        if let Ok(permit) = budget.clone().try_acquire_many_owned(kib) {
            self.reserved = Some(permit);
            return;
        }
        if let Some(n) = count(&self.node.stats.reassembly_waits) {
            tracing::warn!(
                peer = self.peer(),
                bytes = length,
                waits = n,
                "a large message waits for room: other connections' partial messages fill max_reassembly_bytes"
            );
        }
        self.session.reading_paused.store(true, Ordering::Relaxed);
        let patience = self.node.config.heartbeat_timeout / 2;
        let permit = tokio::time::timeout(patience, budget.acquire_many_owned(kib)).await;
        self.session
            .last_read
            .store(self.session.now_ms(), Ordering::Relaxed);
        self.session.reading_paused.store(false, Ordering::Relaxed);
        match permit {
            Ok(Ok(permit)) => self.reserved = Some(permit),
            // No room in time (the budget itself is never closed).
            Ok(Err(_)) | Err(_) => self.skip_next = true,
        }
    }

    /// The first fragment of a message refused for want of room: drops the message, tells a
    /// caller, and counts it.
    fn refuse_for_room(&mut self, first: BytesMut) -> Result<(), FrameError> {
        let start = self.reassembler.skip(first)?;
        let stats = &self.node.stats;
        let call = match Kind::from_byte(start.first().copied().unwrap_or(0)) {
            Some(Kind::Message) => postcard::take_from_bytes::<MessageHeader>(&start[1..])
                .ok()
                .and_then(|(header, _)| header.call),
            _ => None,
        };
        if let Some(call) = call {
            self.session.send_reply(
                call,
                Err(CallFailure::Refused(format!(
                    "node {} had no room for the request: other large messages filled its max_reassembly_bytes for longer than it waits",
                    self.node.name
                ))),
            );
        }
        if let Some(n) = count(&stats.refused_reassembly_full) {
            tracing::error!(
                peer = self.peer(),
                refused = n,
                "a large message refused: other connections' partial messages filled max_reassembly_bytes for longer than half the heartbeat timeout"
            );
        }
        Ok(())
    }

    fn peer(&self) -> &str {
        &self.session.peer_name
    }

    /// A local pid from a frame: a pid of this node's current life, or `None` (a process of an
    /// earlier life, which is gone).
    fn local(&self, pid: WirePid) -> Option<Pid> {
        let pid = pid.on(&self.node.name);
        pid.is_local().then_some(pid)
    }

    fn remote(&self, pid: WirePid) -> Pid {
        pid.on(&self.session.peer_name)
    }

    /// Handles one frame body (kind byte first). An error ends the connection.
    pub(crate) fn frame(&mut self, mut body: BytesMut) -> Result<(), FrameError> {
        let kind = body[0];
        match Kind::from_byte(kind) {
            Some(Kind::Message) => self.message(&body[1..]),
            Some(Kind::Reply) => self.reply(&body[1..]),
            Some(Kind::Control) => self.control(&body[1..]),
            Some(Kind::Heartbeat) => {}
            Some(Kind::Fragment) => {
                body.advance(1);
                if std::mem::take(&mut self.skip_next) {
                    return self.refuse_for_room(body);
                }
                let pushed = self.reassembler.push(body);
                if !matches!(pushed, Ok(None)) {
                    // Complete or refused: either way its reservation is free again.
                    self.reserved = None;
                }
                if let Some(whole) = pushed? {
                    if whole.first() == Some(&(Kind::Fragment as u8)) || whole.is_empty() {
                        return Err(FrameError::BadFragment("a fragment inside a fragment"));
                    }
                    return self.frame(whole);
                }
            }
            Some(Kind::Handshake) | None => {
                if let Some(n) = count(&self.node.stats.protocol_errors) {
                    tracing::warn!(
                        peer = self.peer(),
                        kind,
                        refused = n,
                        "frame of an unknown kind ignored"
                    );
                }
            }
        }
        Ok(())
    }

    fn message(&self, bytes: &[u8]) {
        let stats = &self.node.stats;
        let Ok((header, payload)) = postcard::take_from_bytes::<MessageHeader>(bytes) else {
            if let Some(n) = count(&stats.refused_undecodable) {
                tracing::error!(
                    peer = self.peer(),
                    refused = n,
                    "message refused: its header does not decode"
                );
            }
            return;
        };
        let Some(entry) = self.node.registry.by_name(header.type_name) else {
            if let Some(n) = count(&stats.refused_unknown_type) {
                tracing::error!(
                    peer = self.peer(),
                    type_name = header.type_name,
                    refused = n,
                    "message refused: no type is registered under this name here; register it on every node"
                );
            }
            if let Some(call) = header.call {
                self.session.send_reply(
                    call,
                    Err(CallFailure::NotDistributed(format!(
                        "node {} has no request type registered as {:?}",
                        self.node.name, header.type_name
                    ))),
                );
            }
            return;
        };
        let to = match header.to {
            Dest::Pid(pid) => self.local(pid),
            Dest::Name(name) => {
                let holder = grove_runtime::whereis(name);
                if let (None, Some(call)) = (holder, header.call) {
                    // A call to a name nobody holds fails as it would locally.
                    self.session
                        .send_reply(call, Err(CallFailure::NotRegistered(name.to_string())));
                }
                holder
            }
        };
        let Some(to) = to else {
            if let (Dest::Pid(_), Some(call)) = (&header.to, header.call) {
                self.session.send_reply(call, Err(CallFailure::NoProc));
            }
            return; // a process that is gone, or a name nobody holds: dropped, as locally
        };
        let reply: Option<ReplyRoute> = header.call.map(|call| {
            let session = Arc::downgrade(&self.session);
            ReplyRoute::new(move |outcome| {
                if let Some(session) = Weak::upgrade(&session) {
                    session.send_reply(call, outcome);
                }
            })
        });
        match entry.deliver(to, payload, reply) {
            Ok(()) => {
                stats.messages_in.fetch_add(1, Ordering::Relaxed);
            }
            Err(Refusal::NoProc) => {}
            Err(Refusal::Undecodable(error)) => {
                if let Some(n) = count(&stats.refused_undecodable) {
                    tracing::error!(
                        peer = self.peer(),
                        type_name = header.type_name,
                        %error,
                        refused = n,
                        "message refused: it does not decode as the type registered under its name"
                    );
                }
            }
            Err(Refusal::WrongType) => {
                if let Some(n) = count(&stats.refused_wrong_type) {
                    tracing::error!(
                        peer = self.peer(),
                        %to,
                        type_name = header.type_name,
                        refused = n,
                        "message refused: the process takes another type"
                    );
                }
            }
            Err(Refusal::Full) => {
                if let Some(n) = count(&stats.refused_mailbox_full) {
                    tracing::warn!(peer = self.peer(), %to, refused = n, "message dropped: the process's mailbox is full");
                }
            }
        }
    }

    fn reply(&self, bytes: &[u8]) {
        let Ok((header, payload)) = postcard::take_from_bytes::<ReplyHeader>(bytes) else {
            if let Some(n) = count(&self.node.stats.refused_undecodable) {
                tracing::error!(
                    peer = self.peer(),
                    refused = n,
                    "reply refused: its header does not decode"
                );
            }
            return;
        };
        // No entry: the caller timed out and its entry was swept, or the peer is confused.
        if let Some(pending) = self.session.take_call(header.call) {
            pending.complete(header.outcome.map(|()| payload));
        }
    }

    fn control(&self, bytes: &[u8]) {
        let control: Control = match crate::protocol::decode_exact(bytes) {
            Ok(control) => control,
            Err(error) => {
                if let Some(n) = count(&self.node.stats.refused_undecodable) {
                    tracing::error!(peer = self.peer(), %error, refused = n, "signal refused: it does not decode");
                }
                return;
            }
        };
        let session = &self.session;
        match control {
            Control::Link { from, to } => {
                let remote = self.remote(from);
                let linked = self
                    .local(to)
                    .is_some_and(|local| session.accept_link(local, remote));
                if !linked {
                    session.signal(
                        None,
                        &Control::LinkExit {
                            from: to,
                            to: from,
                            reason: ExitReason::NoProc,
                        },
                    );
                }
            }
            Control::Unlink { from, to } => {
                if let Some(local) = self.local(to) {
                    let remote = self.remote(from);
                    session.remove_link(local, remote);
                    rt::remove_link(local, remote);
                }
            }
            Control::LinkExit { from, to, reason } => {
                if let Some(local) = self.local(to) {
                    let remote = self.remote(from);
                    session.remove_link(local, remote);
                    rt::deliver_link_exit(local, remote, reason);
                }
            }
            Control::Exit { from, to, reason } => {
                if let Some(local) = self.local(to) {
                    rt::deliver_exit(local, self.remote(from), reason);
                }
            }
            Control::Monitor {
                watcher,
                target,
                reference,
            } => {
                let remote = self.remote(watcher);
                let watching = self
                    .local(target)
                    .is_some_and(|local| session.accept_monitor(reference, local, remote));
                if !watching {
                    session.signal(
                        None,
                        &Control::Down {
                            target,
                            watcher,
                            reference,
                            reason: ExitReason::NoProc,
                        },
                    );
                }
            }
            Control::Demonitor { reference, .. } => {
                // The session knows which local process the monitor watches, also when it
                // was made by name.
                if let Some(local) = session.remove_monitored(reference) {
                    rt::remove_monitor(local, reference);
                }
            }
            Control::MonitorName {
                watcher,
                name,
                reference,
            } => {
                let remote = self.remote(watcher);
                let holder = grove_runtime::whereis(&name);
                let watching =
                    holder.is_some_and(|local| session.accept_monitor(reference, local, remote));
                if !watching {
                    // Nobody holds the name (or its holder just exited): `noproc`, for the node
                    // itself, as the target was never resolved.
                    session.signal(
                        None,
                        &Control::Down {
                            target: WirePid { creation: 0, id: 0 },
                            watcher,
                            reference,
                            reason: ExitReason::NoProc,
                        },
                    );
                }
            }
            Control::Down {
                target,
                watcher,
                reference,
                reason,
            } => {
                session.remove_monitor(reference);
                if let Some(local) = self.local(watcher) {
                    rt::deliver_down(local, reference, self.remote(target), reason);
                }
            }
            Control::Request { id, request } => {
                let response = self.serve(request);
                session.signal(None, &Control::Response { id, response });
            }
            Control::Response { id, response } => session.respond(id, response),
            Control::Peers { nodes } => crate::discovery::learned_peers(&self.node, nodes),
        }
    }

    fn serve(&self, request: Request) -> Response {
        match request {
            Request::Whereis { name } => {
                Response::Whereis(grove_runtime::whereis(&name).map(WirePid::of))
            }
            Request::Spawn { kind, args } => {
                let Some(spawn) = self.node.registry.spawn_fn(&kind) else {
                    tracing::warn!(peer = self.peer(), %kind, "remote spawn refused: no process kind is registered under this name");
                    return Response::Spawned(Err(format!(
                        "no process kind {kind:?} is registered on {}; register it with NodeBuilder::spawnable",
                        self.node.name
                    )));
                };
                // The kind's start function is the application's code: a panic in it is its
                // bug, reported to the caller rather than taking the connection down.
                let started =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawn(&args)));
                Response::Spawned(match started {
                    Ok(Ok(pid)) => Ok(WirePid::of(pid)),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(format!("starting a {kind} panicked on {}", self.node.name)),
                })
            }
        }
    }
}
