//! The handshake two nodes run before anything else crosses a connection, sans-IO.
//!
//! Both sides open with a `Hello`: protocol versions, node name, creation, listen address and a
//! fresh 32-byte random nonce. Each side then proves it knows the cluster secret with an
//! HMAC-SHA256 over the transcript: both hellos as they crossed the wire, and, with TLS, a value
//! exported from this TLS session ([`crate::transcript`]). The secret never crosses the wire; a
//! proof is good for this connection only (the other side's nonce is new each time, and a relay
//! between two connections cannot make the transcripts match); every hello field is covered;
//! and a proof cannot be reflected back, because the role is part of it. Once the acceptor has
//! checked the initiator's proof it decides whether to take the connection (the node may
//! already be connected to that peer) and says `Accept` or `Refuse`, with an HMAC over that word
//! and the transcript; the initiator waits for that word before it sends anything else. Without TLS, everything after that word travels in
//! sealed records ([`crate::record`]) under keys derived from the transcript
//! ([`Handshake::session_keys`]).
//!
//! [`Handshake`] is a state machine: feed it the bodies of handshake frames with
//! [`Handshake::receive`] and send the frames it returns. It never reads a clock or a socket;
//! the connection code puts a time limit around it.

use serde::{Deserialize, Serialize};

use crate::frame::{frame, Kind};
use crate::transcript::{SessionKeys, Transcript};

/// The protocol versions this build speaks. Version 1 is the first; version 3 binds the proof
/// to the transcript and seals frames without TLS; version 4 puts a tag on the accept and the
/// refusal. Each version changed the handshake's messages, so a node speaks only its own.
pub(crate) const MIN_VERSION: u16 = 4;
pub(crate) const MAX_VERSION: u16 = 4;

const MAGIC: [u8; 8] = *b"GROVE\0\0\x01";

/// Which end of the connection this node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    Initiator,
    Acceptor,
}

/// What this node says about itself.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) creation: u32,
    /// Where this node listens, so the peer can tell others (full mesh).
    pub(crate) listen: Option<String>,
}

/// What the peer said about itself, once its proof checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PeerInfo {
    pub(crate) name: String,
    pub(crate) creation: u32,
    pub(crate) listen: Option<String>,
    pub(crate) version: u16,
}

#[derive(Debug, Serialize, Deserialize)]
enum HandshakeMessage {
    Hello {
        magic: [u8; 8],
        min_version: u16,
        max_version: u16,
        name: String,
        creation: u32,
        listen: Option<String>,
        nonce: [u8; 32],
    },
    Proof {
        mac: [u8; 32],
    },
    /// The acceptor takes the connection; `tag` proves it is the acceptor's word.
    Accept {
        tag: [u8; 32],
    },
    /// Either side ends the handshake, saying why; `tag` proves it is the peer's word.
    Refuse {
        reason: String,
        tag: [u8; 32],
    },
}

/// Why a handshake failed. The connection is closed; the node carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Bytes that are not a Grove handshake (another protocol, garbage, a scanner).
    #[error("the peer did not speak the Grove handshake: {0}")]
    Garbage(String),
    /// A handshake message out of its turn.
    #[error("unexpected handshake message: {0}")]
    OutOfOrder(&'static str),
    /// No protocol version both sides speak.
    #[error("no common protocol version: the peer speaks {peer_min}..={peer_max}, this node {MIN_VERSION}..={MAX_VERSION}; upgrade the older node")]
    NoCommonVersion {
        /// The oldest version the peer speaks.
        peer_min: u16,
        /// The newest version the peer speaks.
        peer_max: u16,
    },
    /// The peer's proof does not match: it does not know the cluster secret.
    #[error("the peer {peer} failed authentication: its proof does not match the cluster secret; check that every node has the same secret")]
    BadProof {
        /// The name the peer claimed.
        peer: String,
    },
    /// The peer claimed a name that cannot be right.
    #[error(
        "the peer's name {0:?} is not valid here (it must be name@host and not this node's own)"
    )]
    BadName(String),
    /// With TLS: the peer claimed a node name whose host its certificate does not name.
    #[error("the peer claims to be {peer}, but {why}; a node's certificate must name the host of its node name (its SANs)")]
    NameNotCertified {
        /// The name the peer claimed.
        peer: String,
        /// What the certificate does not say.
        why: String,
    },
    /// The other side refused the connection after authenticating.
    #[error("the peer refused the connection: {0}")]
    Refused(String),
    /// An `Accept` or `Refuse` that the peer did not make (its tag does not match): a party
    /// without the secret on the path.
    #[error("the peer's {0} does not carry its proof: someone without the cluster secret is on the path")]
    ForgedDecision(&'static str),
}

/// What the caller must do after feeding the handshake.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these frames and wait for more.
    Send(Vec<u8>),
    /// (Acceptor) The peer is authenticated: decide, then call [`Handshake::accept`] or
    /// [`Handshake::refuse`].
    Decide(PeerInfo),
    /// (Initiator) The acceptor took the connection: it is up.
    Established(PeerInfo),
}

#[derive(Debug)]
enum State {
    AwaitHello,
    AwaitProof {
        peer: PeerInfo,
    },
    /// Acceptor: authenticated, waiting for the caller's decision.
    Deciding,
    /// Initiator: proof checked, waiting for `Accept`.
    AwaitAccept {
        peer: PeerInfo,
    },
    Done,
}

/// One side of a handshake.
pub(crate) struct Handshake {
    role: Role,
    me: Identity,
    secret: Vec<u8>,
    /// The body of this side's hello, for the transcript.
    hello: Vec<u8>,
    /// What binds the proof to the channel: a TLS exporter value, or nothing.
    binding: Vec<u8>,
    /// Known once both hellos are.
    transcript: Option<Transcript>,
    state: State,
}

impl Handshake {
    /// Starts a handshake on a channel bound by `binding` (a TLS exporter value; empty without
    /// TLS); returns it and the `Hello` frame to send at once.
    pub(crate) fn start(
        role: Role,
        me: Identity,
        secret: &[u8],
        nonce: [u8; 32],
        binding: Vec<u8>,
    ) -> (Handshake, Vec<u8>) {
        let hello = body(&HandshakeMessage::Hello {
            magic: MAGIC,
            min_version: MIN_VERSION,
            max_version: MAX_VERSION,
            name: me.name.clone(),
            creation: me.creation,
            listen: me.listen.clone(),
            nonce,
        });
        let frame = frame(Kind::Handshake, &hello);
        let handshake = Handshake {
            role,
            me,
            secret: secret.to_vec(),
            hello,
            binding,
            transcript: None,
            state: State::AwaitHello,
        };
        (handshake, frame)
    }

    /// Takes the body of one handshake frame (after its kind byte).
    pub(crate) fn receive(&mut self, body: &[u8]) -> Result<Step, HandshakeError> {
        let message: HandshakeMessage =
            crate::protocol::decode_exact(body).map_err(HandshakeError::Garbage)?;
        match (std::mem::replace(&mut self.state, State::Done), message) {
            (
                State::AwaitHello,
                HandshakeMessage::Hello {
                    magic,
                    min_version,
                    max_version,
                    name,
                    creation,
                    listen,
                    nonce: _,
                },
            ) => {
                if magic != MAGIC {
                    return Err(HandshakeError::Garbage("wrong magic".into()));
                }
                let version = MAX_VERSION.min(max_version);
                if version < MIN_VERSION.max(min_version) {
                    return Err(HandshakeError::NoCommonVersion {
                        peer_min: min_version,
                        peer_max: max_version,
                    });
                }
                if !valid_node_name(&name) || name == self.me.name {
                    return Err(HandshakeError::BadName(name));
                }
                let peer = PeerInfo {
                    name,
                    creation,
                    listen,
                    version,
                };
                // The peer's hello exactly as it came: its nonce and every other field.
                let transcript = match self.role {
                    Role::Initiator => Transcript::new(&self.hello, body, &self.binding),
                    Role::Acceptor => Transcript::new(body, &self.hello, &self.binding),
                };
                let mac = transcript.proof(&self.secret, self.role);
                self.transcript = Some(transcript);
                self.state = State::AwaitProof { peer };
                Ok(Step::Send(encode(&HandshakeMessage::Proof { mac })))
            }
            (State::AwaitProof { peer }, HandshakeMessage::Proof { mac }) => {
                let peer_role = match self.role {
                    Role::Initiator => Role::Acceptor,
                    Role::Acceptor => Role::Initiator,
                };
                let proven = self
                    .transcript
                    .as_ref()
                    .is_some_and(|transcript| transcript.verify(&self.secret, peer_role, &mac));
                if !proven {
                    return Err(HandshakeError::BadProof { peer: peer.name });
                }
                match self.role {
                    Role::Acceptor => {
                        self.state = State::Deciding;
                        Ok(Step::Decide(peer))
                    }
                    Role::Initiator => {
                        self.state = State::AwaitAccept { peer };
                        Ok(Step::Send(Vec::new()))
                    }
                }
            }
            (State::AwaitAccept { peer }, HandshakeMessage::Accept { tag }) => {
                if !self.peers_decision(None, &tag) {
                    return Err(HandshakeError::ForgedDecision("accept"));
                }
                Ok(Step::Established(peer))
            }
            (_, HandshakeMessage::Refuse { reason, tag }) => {
                if !self.peers_decision(Some(&reason), &tag) {
                    return Err(HandshakeError::ForgedDecision("refusal"));
                }
                Err(HandshakeError::Refused(reason))
            }
            (_, HandshakeMessage::Hello { .. }) => {
                Err(HandshakeError::OutOfOrder("a second hello"))
            }
            (_, HandshakeMessage::Proof { .. }) => {
                Err(HandshakeError::OutOfOrder("a proof before the hello"))
            }
            (_, HandshakeMessage::Accept { .. }) => {
                Err(HandshakeError::OutOfOrder("an unasked accept"))
            }
        }
    }

    /// The peer, once its hello has arrived (its proof may not have yet).
    pub(crate) fn peer(&self) -> Option<&PeerInfo> {
        match &self.state {
            State::AwaitProof { peer, .. } | State::AwaitAccept { peer } => Some(peer),
            _ => None,
        }
    }

    /// Whether `tag` is the peer's on this decision. Both hellos are known before any decision
    /// is made (each side decides only after the other's hello), so a decision without a
    /// transcript is not the peer's.
    fn peers_decision(&self, refusal: Option<&str>, tag: &[u8; 32]) -> bool {
        let peer_role = match self.role {
            Role::Initiator => Role::Acceptor,
            Role::Acceptor => Role::Initiator,
        };
        self.transcript.as_ref().is_some_and(|transcript| {
            transcript.verify_decision(&self.secret, peer_role, refusal, tag)
        })
    }

    /// This side's tag on a decision (zeros before the peer's hello: the peer cannot check
    /// it then, and refuses it as forged, which is what a decision that early is).
    fn decision_tag(&self, refusal: Option<&str>) -> [u8; 32] {
        self.transcript.as_ref().map_or([0; 32], |transcript| {
            transcript.decision(&self.secret, self.role, refusal)
        })
    }

    /// (Acceptor) Takes the connection: the frame to send.
    pub(crate) fn accept(&mut self) -> Vec<u8> {
        self.state = State::Done;
        encode(&HandshakeMessage::Accept {
            tag: self.decision_tag(None),
        })
    }

    /// Refuses the connection, telling the peer why: the frame to send before closing.
    pub(crate) fn refuse(&mut self, reason: &str) -> Vec<u8> {
        self.state = State::Done;
        encode(&HandshakeMessage::Refuse {
            reason: reason.to_string(),
            tag: self.decision_tag(Some(reason)),
        })
    }

    /// This side's record keys, once both hellos are known (used without TLS, after the
    /// handshake has succeeded).
    pub(crate) fn session_keys(&self) -> Option<SessionKeys> {
        self.transcript
            .as_ref()
            .map(|transcript| transcript.session_keys(&self.secret, self.role))
    }
}

/// A `Refuse` with a tag of zeros, for tests of forged refusals.
pub(crate) fn forged_refusal(reason: &str) -> Vec<u8> {
    encode(&HandshakeMessage::Refuse {
        reason: reason.to_string(),
        tag: [0; 32],
    })
}

fn body(message: &HandshakeMessage) -> Vec<u8> {
    // Serializing plain owned data into a Vec cannot fail.
    postcard::to_allocvec(message).unwrap_or_default()
}

fn encode(message: &HandshakeMessage) -> Vec<u8> {
    frame(Kind::Handshake, &body(message))
}

/// `name@host`, both parts non-empty, printable, and short.
pub(crate) fn valid_node_name(name: &str) -> bool {
    let Some((name_part, host)) = name.split_once('@') else {
        return false;
    };
    !name_part.is_empty()
        && !host.is_empty()
        && name.len() <= 255
        && !host.contains('@')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:[]@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn identity(name: &str, creation: u32) -> Identity {
        Identity {
            name: name.into(),
            creation,
            listen: Some("127.0.0.1:4370".into()),
        }
    }

    /// The body of a handshake frame (strips the length prefix and kind byte).
    fn body(frame: &[u8]) -> &[u8] {
        &frame[5..]
    }

    struct Pair {
        a: Handshake,
        b: Handshake,
        a_hello: Vec<u8>,
        b_hello: Vec<u8>,
    }

    fn pair(secret_a: &[u8], secret_b: &[u8]) -> Pair {
        let (a, a_hello) = Handshake::start(
            Role::Initiator,
            identity("a@host", 1),
            secret_a,
            [1; 32],
            Vec::new(),
        );
        let (b, b_hello) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            secret_b,
            [2; 32],
            Vec::new(),
        );
        Pair {
            a,
            b,
            a_hello,
            b_hello,
        }
    }

    fn sent(step: Step) -> Vec<u8> {
        match step {
            Step::Send(frame) => frame,
            other => panic!("expected a frame to send, got {other:?}"),
        }
    }

    #[test]
    fn two_nodes_with_the_same_secret_connect() {
        let Pair {
            mut a,
            mut b,
            a_hello,
            b_hello,
        } = pair(b"secret", b"secret");
        let a_proof = sent(a.receive(body(&b_hello)).unwrap());
        let b_proof = sent(b.receive(body(&a_hello)).unwrap());
        let Step::Decide(peer) = b.receive(body(&a_proof)).unwrap() else {
            panic!("the acceptor must decide")
        };
        assert_eq!(peer.name, "a@host");
        assert_eq!(peer.creation, 1);
        assert_eq!(sent(a.receive(body(&b_proof)).unwrap()), Vec::<u8>::new());
        let accept = b.accept();
        let Step::Established(peer) = a.receive(body(&accept)).unwrap() else {
            panic!("the initiator must be up")
        };
        assert_eq!(peer.name, "b@host");
        assert_eq!(peer.listen.as_deref(), Some("127.0.0.1:4370"));
        assert_eq!(peer.version, MAX_VERSION);
    }

    #[test]
    fn a_wrong_secret_fails_on_both_sides() {
        let Pair {
            mut a,
            mut b,
            a_hello,
            b_hello,
        } = pair(b"secret", b"other");
        let a_proof = sent(a.receive(body(&b_hello)).unwrap());
        let b_proof = sent(b.receive(body(&a_hello)).unwrap());
        assert!(matches!(
            b.receive(body(&a_proof)),
            Err(HandshakeError::BadProof { .. })
        ));
        assert!(matches!(
            a.receive(body(&b_proof)),
            Err(HandshakeError::BadProof { .. })
        ));
    }

    #[test]
    fn a_recorded_proof_fails_against_a_fresh_nonce() {
        // A genuine exchange, recorded by an eavesdropper: a's hello and a's proof.
        let Pair {
            mut a,
            a_hello,
            b_hello,
            ..
        } = pair(b"secret", b"secret");
        let recorded_proof = sent(a.receive(body(&b_hello)).unwrap());
        // Replayed to b on a new connection, where b has picked a new nonce.
        let (mut b, _) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            b"secret",
            [9; 32],
            Vec::new(),
        );
        sent(b.receive(body(&a_hello)).unwrap());
        assert!(matches!(
            b.receive(body(&recorded_proof)),
            Err(HandshakeError::BadProof { .. })
        ));
    }

    #[test]
    fn a_proof_reflected_back_to_its_maker_fails() {
        // An attacker without the secret connects to b and, when b proves itself, sends b's
        // own proof back as its own.
        let (mut b, _) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            b"secret",
            [2; 32],
            Vec::new(),
        );
        let (_, attacker_hello) = Handshake::start(
            Role::Initiator,
            identity("a@host", 1),
            b"?",
            [2; 32],
            Vec::new(),
        );
        let b_proof = sent(b.receive(body(&attacker_hello)).unwrap());
        assert!(matches!(
            b.receive(body(&b_proof)),
            Err(HandshakeError::BadProof { .. })
        ));
    }

    #[test]
    fn a_refusal_reaches_the_initiator() {
        let Pair {
            mut a,
            mut b,
            a_hello,
            b_hello,
        } = pair(b"s", b"s");
        let a_proof = sent(a.receive(body(&b_hello)).unwrap());
        let b_proof = sent(b.receive(body(&a_hello)).unwrap());
        b.receive(body(&a_proof)).unwrap();
        sent(a.receive(body(&b_proof)).unwrap());
        let refusal = b.refuse("already connected");
        assert_eq!(
            a.receive(body(&refusal)),
            Err(HandshakeError::Refused("already connected".into()))
        );
    }

    #[test]
    fn a_peer_claiming_our_own_name_is_refused() {
        let (mut b, _) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            b"s",
            [2; 32],
            Vec::new(),
        );
        let (_, hello) = Handshake::start(
            Role::Initiator,
            identity("b@host", 7),
            b"s",
            [1; 32],
            Vec::new(),
        );
        assert!(matches!(
            b.receive(body(&hello)),
            Err(HandshakeError::BadName(_))
        ));
    }

    /// The initiator, having checked the acceptor's proof, waiting for its word.
    fn awaiting_the_word() -> (Handshake, Handshake) {
        let Pair {
            mut a,
            mut b,
            a_hello,
            b_hello,
        } = pair(b"secret", b"secret");
        let a_proof = sent(a.receive(body(&b_hello)).unwrap());
        let b_proof = sent(b.receive(body(&a_hello)).unwrap());
        assert!(matches!(b.receive(body(&a_proof)), Ok(Step::Decide(_))));
        assert_eq!(sent(a.receive(body(&b_proof)).unwrap()), Vec::<u8>::new());
        (a, b)
    }

    #[test]
    fn an_accept_or_a_refusal_the_peer_did_not_make_is_refused_as_forged() {
        for forged in [
            HandshakeMessage::Accept { tag: [0; 32] },
            HandshakeMessage::Refuse {
                reason: "already connected".into(),
                tag: [0; 32],
            },
        ] {
            let (mut a, _) = awaiting_the_word();
            assert!(matches!(
                a.receive(body(&encode(&forged))),
                Err(HandshakeError::ForgedDecision(_))
            ));
        }
        // The acceptor's real refusal, and a copy with its reason changed on the way.
        let (mut a, mut b) = awaiting_the_word();
        let refusal = b.refuse("busy");
        assert_eq!(
            a.receive(body(&refusal)),
            Err(HandshakeError::Refused("busy".into()))
        );
        let (mut a, mut b) = awaiting_the_word();
        let altered = refusal_with_other_reason(&b.refuse("busy"));
        assert!(matches!(
            a.receive(body(&altered)),
            Err(HandshakeError::ForgedDecision(_))
        ));
        // A real accept from another connection (a replay) does not fit this one: an acceptor
        // that answered the same initiator's hello with another nonce of its own.
        let (mut a, _) = awaiting_the_word();
        let (mut c, _) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            b"secret",
            [3; 32],
            Vec::new(),
        );
        let (_, a_hello) = Handshake::start(
            Role::Initiator,
            identity("a@host", 1),
            b"secret",
            [1; 32],
            Vec::new(),
        );
        sent(c.receive(body(&a_hello)).unwrap());
        assert!(matches!(
            a.receive(body(&c.accept())),
            Err(HandshakeError::ForgedDecision(_))
        ));
    }

    fn refusal_with_other_reason(frame: &[u8]) -> Vec<u8> {
        let HandshakeMessage::Refuse { tag, .. } =
            crate::protocol::decode_exact(body(frame)).unwrap()
        else {
            panic!("not a refusal")
        };
        encode(&HandshakeMessage::Refuse {
            reason: "already connected".into(),
            tag,
        })
    }

    #[test]
    fn messages_out_of_turn_are_refused() {
        let Pair { mut b, .. } = pair(b"s", b"s");
        let accept = encode(&HandshakeMessage::Accept { tag: [0; 32] });
        assert!(matches!(
            b.receive(body(&accept)),
            Err(HandshakeError::OutOfOrder(_))
        ));
        let Pair { mut a, .. } = pair(b"s", b"s");
        let proof = encode(&HandshakeMessage::Proof { mac: [0; 32] });
        assert!(matches!(
            a.receive(body(&proof)),
            Err(HandshakeError::OutOfOrder(_))
        ));
    }

    #[test]
    fn no_common_version_is_refused_with_both_ranges() {
        let (mut b, _) = Handshake::start(
            Role::Acceptor,
            identity("b@host", 2),
            b"s",
            [2; 32],
            Vec::new(),
        );
        let hello = encode(&HandshakeMessage::Hello {
            magic: MAGIC,
            min_version: 7,
            max_version: 9,
            name: "a@host".into(),
            creation: 1,
            listen: None,
            nonce: [0; 32],
        });
        assert_eq!(
            b.receive(body(&hello)),
            Err(HandshakeError::NoCommonVersion {
                peer_min: 7,
                peer_max: 9
            })
        );
    }

    #[test]
    fn node_names_are_checked() {
        assert!(valid_node_name("a@127.0.0.1"));
        assert!(valid_node_name("web-1@grove-0.grove.default.svc"));
        assert!(!valid_node_name("a"));
        assert!(!valid_node_name("@host"));
        assert!(!valid_node_name("a@"));
        assert!(!valid_node_name("a@b@c"));
        assert!(!valid_node_name("a b@host"));
    }

    proptest! {
        /// Arbitrary bytes fed to either side at any step: an error or a step, never a panic,
        /// and never a connection without a valid proof.
        #[test]
        fn the_handshake_survives_arbitrary_input(
            inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6),
            acceptor in any::<bool>(),
        ) {
            let role = if acceptor { Role::Acceptor } else { Role::Initiator };
            let (mut h, _) = Handshake::start(role, identity("b@host", 2), b"secret", [3; 32], Vec::new());
            for input in inputs {
                match h.receive(&input) {
                    Ok(Step::Decide(_)) | Ok(Step::Established(_)) => {
                        prop_assert!(false, "random bytes passed authentication");
                    }
                    Ok(Step::Send(_)) => {}
                    Err(_) => break,
                }
            }
        }
    }
}
