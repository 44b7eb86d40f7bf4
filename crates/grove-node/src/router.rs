//! The runtime's side of distribution: what the process runtime calls when a signal is aimed
//! at a pid of another node. Each call finds (or starts) the session for the pid's node and
//! queues a frame; when the node cannot be reached the signal is answered at once, as Erlang
//! does: links break and monitors fire with `noconnection`, messages are dropped.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use grove_runtime::remote::RemoteRouter;

use crate::rt;
use grove_runtime::{ExitReason, Pid, Ref};

use crate::frame::Kind;
use crate::node::NodeInner;
use crate::outbound::Queued;
use crate::protocol::{Control, Dest, MessageHeader, WirePid};
use crate::session::{postcard_into, Phase, Session};
use crate::stats::bump;
use grove_otp::gen_server::CallError;

pub(crate) struct Router(pub(crate) Arc<NodeInner>);

/// How long a caller waiting for a connection pauses between attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// True for the pseudo-pid that stands for a node itself (what `monitor_node` watches).
pub(crate) fn is_node_pid(pid: Pid) -> bool {
    pid.id() == 0
}

impl Router {
    /// The session for a pid, starting a connection if needed; `None` when unreachable.
    fn session(&self, pid: Pid) -> Option<Arc<Session>> {
        self.0.session_for(pid, true)
    }

    /// The session for a pid only if one exists (for signals that need no new connection).
    fn existing(&self, pid: Pid) -> Option<Arc<Session>> {
        self.0.session_for(pid, false)
    }

    /// Fails a call that cannot be sent with `error` (a plain message is just dropped).
    fn refuse(&self, message: Box<dyn Any + Send>, error: CallError) {
        if let Some(entry) = self.0.registry.by_type((*message).type_id()) {
            entry.refuse(message, error);
        }
    }

    fn dropped_unreachable(&self, to: Pid) {
        if let Some(dropped) = bump(&self.0.stats.dropped_no_connection) {
            tracing::debug!(%to, node = %to.node_name(), dropped, "message dropped: its node is not reachable");
        }
    }
}

/// Sends `message` (registered under its type) to `dest` on `session`'s node.
pub(crate) fn send_message(
    node: &NodeInner,
    session: &Session,
    dest: Dest<'_>,
    message: Box<dyn Any + Send>,
    type_name: &'static str,
) {
    let Some(entry) = node.registry.by_type((*message).type_id()) else {
        if bump(&node.stats.unregistered_sends).is_some() {
            tracing::error!(
                type_name,
                peer = %session.peer_name,
                "message not sent: its type is not registered for distribution; register it on every node with NodeBuilder::message (or ::server for a GenServer's requests)"
            );
        }
        return;
    };
    let outgoing = match entry.describe(&*message) {
        Ok(outgoing) => outgoing,
        Err(error) => {
            if bump(&node.stats.unregistered_sends).is_some() {
                tracing::error!(type_name, peer = %session.peer_name, "message not sent: {error}; register it on every node with NodeBuilder::server");
            }
            entry.refuse(message, CallError::NotDistributed(error));
            return;
        }
    };
    let call = outgoing.is_call.then(|| session.next_id());
    let sender = grove_runtime::self_pid();
    let mut message = Some(message);
    let queued = {
        let mut out = session.out.lock();
        out.append(sender, Kind::Message, false, |buf| {
            let header = MessageHeader {
                to: dest,
                type_name: outgoing.name,
                call,
            };
            postcard_into(buf, &header)?;
            let Some(message) = message.take() else {
                return Err("message already taken".to_string());
            };
            if let (Some(reply), Some(id)) = (entry.encode(message, call, buf)?, call) {
                // Kept while the queue is still locked, so the writer cannot put the call on
                // the wire (and its reply come back) before the reply has somewhere to go.
                session.add_call(id, reply);
            }
            Ok(())
        })
    };
    match queued {
        Ok(queued @ (Queued::Wake | Queued::Busy)) => {
            node.stats.messages_out.fetch_add(1, Ordering::Relaxed);
            session.after_queue(queued, "message");
        }
        Ok(refused) => {
            let error = if refused == Queued::Full {
                CallError::Full
            } else {
                CallError::Exited(ExitReason::NoConnection)
            };
            // A call learns why at once; a plain message is dropped and counted.
            if let Some(message) = message.take() {
                entry.refuse(message, error);
            }
            session.after_queue(refused, "message");
        }
        Err(error) => {
            if bump(&node.stats.unregistered_sends).is_some() {
                tracing::error!(type_name, %error, "message not sent: it could not be encoded");
            }
        }
    }
}

impl RemoteRouter for Router {
    fn send(&self, to: Pid, message: Box<dyn Any + Send>, type_name: &'static str) {
        let Some(session) = self.session(to) else {
            self.dropped_unreachable(to);
            // A call hears at once that the node cannot be reached.
            self.refuse(message, CallError::NodeDown(to.node_name().to_string()));
            return;
        };
        if session.is_stale(to) {
            // A process of the peer's earlier life: gone, as a dead local pid.
            self.refuse(message, CallError::NoProc);
            return;
        }
        send_message(
            &self.0,
            &session,
            Dest::Pid(WirePid::of(to)),
            message,
            type_name,
        );
    }

    fn send_named(
        &self,
        name: &str,
        node: &str,
        message: Box<dyn Any + Send>,
        type_name: &'static str,
    ) {
        let target = crate::remote::node_pid(node);
        let Some(session) = self.session(target) else {
            self.dropped_unreachable(target);
            // A call hears at once that the node cannot be reached.
            self.refuse(message, CallError::NodeDown(node.to_string()));
            return;
        };
        send_message(&self.0, &session, Dest::Name(name), message, type_name);
    }

    fn connect(&self, node: &str, within: Duration) -> Option<rt::Connecting> {
        let target = crate::remote::node_pid(node);
        if self
            .existing(target)
            .is_some_and(|session| matches!(session.phase(), Phase::Up(_)))
        {
            return None;
        }
        let inner = self.0.clone();
        Some(Box::pin(async move {
            // `Duration::MAX` (wait as long as it takes) must not overflow the clock.
            let deadline = tokio::time::Instant::now()
                .checked_add(within)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
            loop {
                if let Some(session) = inner.session_for(target, true) {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if crate::node::session_up(&session, left).await.is_ok() {
                        return true;
                    }
                }
                // Not reachable just now (a failed attempt is retried after a pause): try
                // again until the time is up.
                let pause = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .min(RECONNECT_PAUSE);
                if pause.is_zero() {
                    return false;
                }
                tokio::time::sleep(pause).await;
            }
        }))
    }

    fn link(&self, from: Pid, to: Pid) {
        let Some(session) = self.session(to) else {
            rt::deliver_link_exit(from, to, ExitReason::NoConnection);
            return;
        };
        if session.is_stale(to) || is_node_pid(to) {
            rt::deliver_link_exit(from, to, ExitReason::NoProc);
            return;
        }
        if !session.add_link(from, to) {
            rt::deliver_link_exit(from, to, ExitReason::NoConnection);
            return;
        }
        session.signal(
            Some(from),
            &Control::Link {
                from: WirePid::of(from),
                to: WirePid::of(to),
            },
        );
    }

    fn unlink(&self, from: Pid, to: Pid) {
        if let Some(session) = self.existing(to) {
            session.remove_link(from, to);
            session.signal(
                Some(from),
                &Control::Unlink {
                    from: WirePid::of(from),
                    to: WirePid::of(to),
                },
            );
        }
    }

    fn link_exit(&self, to: Pid, from: Pid, reason: &ExitReason) {
        if let Some(session) = self.existing(to) {
            session.remove_link(from, to);
            session.signal(
                Some(from),
                &Control::LinkExit {
                    from: WirePid::of(from),
                    to: WirePid::of(to),
                    reason: reason.clone(),
                },
            );
        }
    }

    fn exit(&self, to: Pid, from: Pid, reason: ExitReason) {
        if let Some(session) = self.session(to) {
            if !session.is_stale(to) {
                session.signal(
                    Some(from),
                    &Control::Exit {
                        from: WirePid::of(from),
                        to: WirePid::of(to),
                        reason,
                    },
                );
            }
        }
    }

    fn monitor(&self, watcher: Pid, target: Pid, reference: Ref) {
        let Some(session) = self.session(target) else {
            rt::deliver_down(watcher, reference, target, ExitReason::NoConnection);
            return;
        };
        if session.is_stale(target) {
            rt::deliver_down(watcher, reference, target, ExitReason::NoProc);
            return;
        }
        if !session.add_monitor(reference, watcher, target) {
            rt::deliver_down(watcher, reference, target, ExitReason::NoConnection);
            return;
        }
        if !is_node_pid(target) {
            session.signal(
                Some(watcher),
                &Control::Monitor {
                    watcher: WirePid::of(watcher),
                    target: WirePid::of(target),
                    reference,
                },
            );
        }
    }

    fn monitor_name(&self, watcher: Pid, name: &str, node: &str, reference: Ref) {
        let target = crate::remote::node_pid(node);
        let Some(session) = self.session(target) else {
            rt::deliver_down(watcher, reference, target, ExitReason::NoConnection);
            return;
        };
        if !session.add_monitor(reference, watcher, target) {
            rt::deliver_down(watcher, reference, target, ExitReason::NoConnection);
            return;
        }
        session.signal(
            Some(watcher),
            &Control::MonitorName {
                watcher: WirePid::of(watcher),
                name: name.to_string(),
                reference,
            },
        );
    }

    fn demonitor(&self, watcher: Pid, target: Pid, reference: Ref) {
        if let Some(session) = self.existing(target) {
            // Also for the node's pseudo-pid: a monitor by name has it as its target until the
            // name's holder is known (a `monitor_node`'s `Demonitor` finds nothing there).
            if session.remove_monitor(reference) {
                session.signal(
                    Some(watcher),
                    &Control::Demonitor {
                        watcher: WirePid::of(watcher),
                        target: WirePid::of(target),
                        reference,
                    },
                );
            }
        }
    }

    fn down(&self, watcher: Pid, reference: Ref, target: Pid, reason: &ExitReason) {
        if let Some(session) = self.existing(watcher) {
            session.remove_monitored(reference);
            session.signal(
                Some(target),
                &Control::Down {
                    target: WirePid::of(target),
                    watcher: WirePid::of(watcher),
                    reference,
                    reason: reason.clone(),
                },
            );
        }
    }
}
