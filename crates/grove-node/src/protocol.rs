//! What travels inside frames once a connection is up, sans-IO: message headers, reply headers
//! and control signals, all postcard-encoded.
//!
//! Pids in headers travel without their node: a pid in a frame is either on the sending node
//! (`from`, `watcher` of a monitor request, ...) or on the receiving one (`to`), so its creation
//! and serial are enough. Pids inside user messages carry their node by name (see
//! `grove_runtime::pid`), so they stay valid on any node they are passed to.

use grove_runtime::{ExitReason, Pid, Ref};
use serde::{Deserialize, Serialize};

/// Decodes a whole value from `bytes`: bytes left over after it are an error, as a value of
/// another type whose encoding starts like this one's would leave some (`postcard::from_bytes`
/// ignores them).
pub(crate) fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!(
            "{} bytes left over after the value (a value of another type?)",
            rest.len()
        )),
        Err(error) => Err(error.to_string()),
    }
}

/// A pid whose node is implied by the frame's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct WirePid {
    pub(crate) creation: u32,
    pub(crate) id: u64,
}

impl WirePid {
    pub(crate) fn of(pid: Pid) -> WirePid {
        WirePid {
            creation: pid.creation(),
            id: pid.id(),
        }
    }

    /// The pid on `node` (a name) that this names.
    pub(crate) fn on(self, node: &str) -> Pid {
        Pid::from_parts(node, self.creation, self.id)
    }
}

/// Where a message goes on the receiving node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Dest<'a> {
    /// A process, by pid.
    Pid(WirePid),
    /// The process registered under this name (Erlang's `{Name, Node} ! Msg`).
    Name(&'a str),
}

/// The header of a [`crate::frame::Kind::Message`] frame; the message's payload follows it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MessageHeader<'a> {
    pub(crate) to: Dest<'a>,
    /// The registered name of the payload's type.
    #[serde(borrow)]
    pub(crate) type_name: &'a str,
    /// For a call, its id: the reply frame carries it back. In the header, so that a call to a
    /// name nobody holds, or of a type this node does not know, is answered without decoding.
    pub(crate) call: Option<u64>,
}

/// Why a remote call got no reply, as the server's node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CallFailure {
    Exited(ExitReason),
    NoReply,
    NoProc,
    Full,
    WrongType,
    NotRegistered(String),
    /// The request's type is not registered for distribution on the server's node.
    NotDistributed(String),
    /// The server's node could not take the request (an undecodable payload).
    Refused(String),
}

/// The header of a [`crate::frame::Kind::Reply`] frame; on success the reply's payload follows.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReplyHeader {
    pub(crate) call: u64,
    pub(crate) outcome: Result<(), CallFailure>,
}

/// A request one node makes of another, answered by a [`Response`] with the same id.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Spawn a process of a kind the receiving node registered, with encoded arguments.
    Spawn { kind: String, args: Vec<u8> },
    /// Which pid is registered under `name`?
    Whereis { name: String },
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Spawned(Result<WirePid, String>),
    Whereis(Option<WirePid>),
}

/// Signals between processes on the two nodes, and the nodes' own requests.
///
/// In the field names, `from`, `watcher` (in `Monitor`/`Demonitor`) and `target` (in `Down`) are
/// pids on the sending node; `to`, `target` (in `Monitor`/`Demonitor`) and `watcher` (in `Down`)
/// on the receiving node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    Link {
        from: WirePid,
        to: WirePid,
    },
    Unlink {
        from: WirePid,
        to: WirePid,
    },
    /// `from` exited with `reason`; `to` was linked to it.
    LinkExit {
        from: WirePid,
        to: WirePid,
        reason: ExitReason,
    },
    /// An explicit exit signal (`exit/2`).
    Exit {
        from: WirePid,
        to: WirePid,
        reason: ExitReason,
    },
    Monitor {
        watcher: WirePid,
        target: WirePid,
        reference: Ref,
    },
    Demonitor {
        watcher: WirePid,
        target: WirePid,
        reference: Ref,
    },
    Down {
        target: WirePid,
        watcher: WirePid,
        reference: Ref,
        reason: ExitReason,
    },
    Request {
        id: u64,
        request: Request,
    },
    Response {
        id: u64,
        response: Response,
    },
    /// The nodes the sender is connected to, with their listen addresses, so the receiver can
    /// connect to them too (full mesh).
    Peers {
        nodes: Vec<(String, String)>,
    },
    /// `watcher` monitors whoever holds `name` on the receiving node (Erlang's
    /// `monitor(process, {Name, Node})`): the receiver resolves it, and answers with `Down` and
    /// `noproc` (for the node's pseudo-pid) if nobody holds it.
    MonitorName {
        watcher: WirePid,
        name: String,
        reference: Ref,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoding_is_exact_bytes_left_over_are_refused() {
        let bytes = postcard::to_allocvec(&(7u32, "x")).unwrap();
        assert_eq!(decode_exact::<(u32, &str)>(&bytes), Ok((7, "x")));
        // A u32 reads from the front of the pair's bytes: strict decoding refuses it.
        assert!(decode_exact::<u32>(&bytes)
            .unwrap_err()
            .contains("left over"));
        assert!(decode_exact::<u64>(&[]).is_err());
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_message_header_round_trips_and_leaves_the_payload() {
        let mut bytes = postcard::to_allocvec(&MessageHeader {
            to: Dest::Name("counter"),
            type_name: "demo.Ping",
            call: Some(7),
        })
        .unwrap();
        bytes.extend_from_slice(b"payload");
        let (header, rest): (MessageHeader, _) = postcard::take_from_bytes(&bytes).unwrap();
        assert!(matches!(header.to, Dest::Name("counter")));
        assert_eq!(header.type_name, "demo.Ping");
        assert_eq!(rest, b"payload");
    }

    #[test]
    fn control_signals_round_trip() {
        let control = Control::Down {
            target: WirePid { creation: 1, id: 2 },
            watcher: WirePid { creation: 3, id: 4 },
            reference: Ref::new(),
            reason: ExitReason::NoConnection,
        };
        let bytes = postcard::to_allocvec(&control).unwrap();
        let back: Control = postcard::from_bytes(&bytes).unwrap();
        assert!(matches!(
            back,
            Control::Down {
                reason: ExitReason::NoConnection,
                ..
            }
        ));
    }

    proptest! {
        /// Arbitrary bytes never panic the decoders of what follows the handshake.
        #[test]
        fn decoders_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = postcard::from_bytes::<Control>(&bytes);
            let _ = postcard::take_from_bytes::<MessageHeader>(&bytes);
            let _ = postcard::take_from_bytes::<ReplyHeader>(&bytes);
        }
    }
}
