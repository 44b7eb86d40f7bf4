//! The node's counters: what crossed, and everything refused, dropped or failed, so that bad
//! input is never lost silently. Read them with [`crate::Node::stats`].

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! stats {
    ($($(#[doc = $doc:literal])* $field:ident),* $(,)?) => {
        /// Live counters, bumped as things happen.
        #[derive(Default)]
        pub(crate) struct Stats {
            $(pub(crate) $field: AtomicU64,)*
        }

        /// A snapshot of the node's counters ([`crate::Node::stats`]).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct NodeStats {
            $($(#[doc = $doc])* pub $field: u64,)*
        }

        impl NodeStats {
            /// Every counter as `(name, what it counts, value)`, for exporters (the kit's
            /// `/metrics` serves them as `grove_node_<name>_total`).
            pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$((stringify!($field), concat!($($doc),*).trim_ascii(), self.$field),)*]
            }
        }

        impl Stats {
            pub(crate) fn snapshot(&self) -> NodeStats {
                NodeStats {
                    $($field: self.$field.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

stats! {
    /// Messages handed to a connection for another node.
    messages_out,
    /// Messages that arrived and were delivered to a local process.
    messages_in,
    /// Connections that completed the handshake.
    connections_up,
    /// Connections lost after they were up.
    connections_lost,
    /// Handshakes that failed: garbage, a wrong secret, a bad certificate, a timeout.
    handshakes_failed,
    /// Incoming connections refused because too many handshakes were under way (a flood).
    connections_refused_flood,
    /// Incoming connections refused because their address held its share of the handshakes.
    connections_refused_address,
    /// Incoming connections closed for not sending a handshake frame within the hello timeout.
    hello_timeouts,
    /// Connections closed for breaking the wire protocol (an oversized frame, bad fragments).
    protocol_errors,
    /// Arriving messages of a type this node has not registered.
    refused_unknown_type,
    /// Arriving messages that did not decode as their registered type.
    refused_undecodable,
    /// Arriving messages for a process that takes another type.
    refused_wrong_type,
    /// Arriving messages refused by a full bounded mailbox.
    refused_mailbox_full,
    /// Messages not sent because their type is not registered on this node.
    unregistered_sends,
    /// Messages dropped because the outbound queue to their node was full.
    dropped_queue_full,
    /// Messages dropped because their node could not be reached.
    dropped_no_connection,
    /// Bytes still queued for a node when its connection was lost.
    dropped_on_disconnect_bytes,
    /// Connections closed because the peer sent nothing within the heartbeat timeout.
    heartbeat_timeouts,
    /// Times a connection stopped reading until other connections' large messages, still
    /// arriving in fragments, left room in the reassembly budget (`max_reassembly_bytes`).
    reassembly_waits,
    /// Large messages refused because the reassembly budget stayed full for longer than a
    /// connection waits (half the heartbeat timeout); a call among them gets a `Refused` reply.
    refused_reassembly_full,
    /// Handshakes whose last word (accept or refusal) was not the peer's: someone without the
    /// secret on the path.
    forged_decisions,
}

/// Bumps `counter` and returns its new value when it is one to log: the first, then each power
/// of two. A flood of bad input or drops cannot flood the log, and the counter keeps the exact
/// number.
pub(crate) fn bump(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_power_of_two().then_some(n)
}
