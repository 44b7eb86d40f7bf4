//! The bodies of the fuzz targets in `fuzz/` (run with `cargo fuzz`; see the README), and of the
//! unit tests that keep them working. Not part of Grove's API.
//!
//! Each entry point takes the fuzzer's bytes and panics only when it finds a bug: a panic in
//! the code under test, or a broken promise checked here.
//! - [`wire`]: the frame decoder, the reassembly of fragments and the decoding of what frames
//!   carry, on any bytes cut anywhere; and the record layer, which must refuse any record not
//!   sealed with its key and give back exactly what was sealed with it.
//! - [`handshake`]: one side of the handshake (either role) against a peer without the secret:
//!   whatever it sends, the side must never take it as authenticated.
//! - [`handshake_tamper`]: a real exchange between two nodes with the secret, with its messages
//!   altered, cut, replaced, dropped or repeated on the way: a side that authenticates must see
//!   the true peer and must have received every message it authenticates exactly as sent (the
//!   acceptor's accept included), and
//!   two sides that both finish must hold matching record keys.
//! - [`live_node`]: a running node, reached over TCP by an authenticated peer that then sends
//!   whatever the fuzzer makes (messages, signals, replies, fragments, garbage, all sealed as the
//!   node expects): the node must not panic, and must still complete the next handshake.

use std::sync::OnceLock;

use bytes::BytesMut;

use crate::frame::{self, FrameDecoder, Kind, Reassembler, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use crate::handshake::{Handshake, Identity, Role, Step};
use crate::protocol::{decode_exact, Control, Dest, MessageHeader, ReplyHeader, WirePid};
use crate::record::{Opener, Sealer};

const SECRET: &[u8] = b"the secret the fuzzer does not know";

/// Reads the fuzzer's bytes as a stream of small choices; past the end it reads zeros.
struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    fn done(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |value, _| (value << 8) | u64::from(self.byte()))
    }

    /// Up to `max` bytes, as many as the next byte says.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let wanted = (usize::from(self.u16()) % (max + 1)).min(self.data.len());
        let (taken, rest) = self.data.split_at(wanted);
        self.data = rest;
        taken
    }
}

/// The sans-IO wire: frames, fragments, frame contents, and records.
pub fn wire(data: &[u8]) {
    let mut choices = Choices { data };
    match choices.byte() % 3 {
        0 => frames(choices),
        1 => records_refuse_what_they_did_not_seal(choices.data),
        _ => records_round_trip(choices),
    }
}

fn frames(mut choices: Choices<'_>) {
    let cut = usize::from(choices.byte()).max(1);
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut reassembler = Reassembler::new(256 * 1024);
    let mut buf = BytesMut::new();
    for chunk in choices.data.chunks(cut) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(body)) => {
                    assert!(!body.is_empty() && body.len() <= MAX_FRAME);
                    if !frame_contents(body, &mut reassembler) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Decodes one frame body as the dispatcher would; false when the connection would close.
fn frame_contents(mut body: BytesMut, reassembler: &mut Reassembler) -> bool {
    let announced = frame::announced_length(&body);
    match Kind::from_byte(body[0]) {
        Some(Kind::Message) => {
            if let Ok((header, payload)) = postcard::take_from_bytes::<MessageHeader>(&body[1..]) {
                let _ = (header.to, header.type_name, header.call, payload.len());
            }
        }
        Some(Kind::Reply) => {
            let _ = postcard::take_from_bytes::<ReplyHeader>(&body[1..]);
        }
        Some(Kind::Control) => {
            let _ = decode_exact::<Control>(&body[1..]);
        }
        Some(Kind::Fragment) => {
            bytes::Buf::advance(&mut body, 1);
            match reassembler.push(body) {
                Ok(Some(whole)) => {
                    assert!(whole.len() <= 256 * 1024, "reassembled past the limit");
                    if let Some(length) = announced {
                        assert_eq!(
                            whole.len(),
                            length,
                            "a one-fragment message of another size"
                        );
                    }
                    if whole.is_empty() || whole[0] == Kind::Fragment as u8 {
                        return false;
                    }
                    return frame_contents(whole, reassembler);
                }
                Ok(None) => {}
                Err(_) => return false,
            }
        }
        Some(Kind::Heartbeat | Kind::Handshake) | None => {}
    }
    true
}

fn records_refuse_what_they_did_not_seal(data: &[u8]) {
    let mut opener = Opener::new(&[7; 32]);
    let mut input = BytesMut::from(data);
    let mut out = BytesMut::new();
    let _ = opener.open(&mut input, &mut out);
    assert!(out.is_empty(), "a record nobody sealed opened");
}

fn records_round_trip(mut choices: Choices<'_>) {
    let key = [choices.byte(); 32];
    let cut = usize::from(choices.u16()).max(1);
    let batches: Vec<&[u8]> = (0..4).map(|_| choices.bytes(200_000)).collect();
    let mut sealer = Sealer::new(&key);
    let mut wire = Vec::new();
    for batch in &batches {
        if sealer.seal(batch, &mut wire).is_err() {
            return;
        }
    }
    let mut opener = Opener::new(&key);
    let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
    for chunk in wire.chunks(cut) {
        input.extend_from_slice(chunk);
        opener
            .open(&mut input, &mut out)
            .unwrap_or_else(|error| panic!("a record sealed with the key did not open: {error}"));
    }
    assert!(input.is_empty());
    assert_eq!(
        &out[..],
        &batches.concat()[..],
        "records changed what was sealed"
    );
}

fn identity(name: &str, creation: u32) -> Identity {
    Identity {
        name: name.to_string(),
        creation,
        listen: Some(format!("{}:4370", name.split('@').nth(1).unwrap_or("x"))),
    }
}

/// One side of a handshake, fed whatever a party without the secret sends.
pub fn handshake(data: &[u8]) {
    let mut choices = Choices { data };
    let role = if choices.byte() % 2 == 0 {
        Role::Initiator
    } else {
        Role::Acceptor
    };
    let (mut side, _hello) = Handshake::start(
        role,
        identity("target@127.0.0.1", 1),
        SECRET,
        [choices.byte(); 32],
        Vec::new(),
    );
    let mut decoder = FrameDecoder::new(MAX_HANDSHAKE_FRAME);
    let mut buf = BytesMut::from(choices.data);
    while let Ok(Some(body)) = decoder.decode(&mut buf) {
        if body[0] != Kind::Handshake as u8 {
            return;
        }
        match side.receive(&body[1..]) {
            Ok(Step::Send(_)) => {}
            Ok(step) => panic!("a party without the secret got through the handshake: {step:?}"),
            Err(_) => return,
        }
    }
}

/// What the network may do to a handshake message on its way.
enum Tamper {
    Flip { at: usize, with: u8 },
    Cut { to: usize },
    Replace(Vec<u8>),
    Insert { at: usize, bytes: Vec<u8> },
    Drop,
    Twice,
}

/// How far a tampered exchange got.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The acceptor authenticated the initiator (and took the connection).
    pub acceptor_authenticated: bool,
    /// The initiator authenticated the acceptor and saw its accept.
    pub initiator_established: bool,
}

/// A real handshake between two nodes with the secret, through a network that tampers.
pub fn handshake_tamper(data: &[u8]) -> Exchange {
    let mut exchange = Exchange::default();
    let mut choices = Choices { data };
    let (a_me, b_me) = (identity("a@127.0.0.1", 1), identity("b@127.0.0.2", 2));
    let (mut a, a_hello) = Handshake::start(
        Role::Initiator,
        a_me.clone(),
        SECRET,
        [choices.byte(); 32],
        Vec::new(),
    );
    let (mut b, b_hello) = Handshake::start(
        Role::Acceptor,
        b_me.clone(),
        SECRET,
        [choices.byte(); 32],
        Vec::new(),
    );
    // What the network does to messages 0 to 4, in the order they are sent: a's hello, b's
    // hello, b's proof, a's proof, b's accept.
    let mut tampers: Vec<Option<Tamper>> = (0..5).map(|_| None).collect();
    while !choices.done() {
        let index = usize::from(choices.byte() % 5);
        let tamper = match choices.byte() % 6 {
            0 => Tamper::Flip {
                at: usize::from(choices.u16()),
                with: choices.byte(),
            },
            1 => Tamper::Cut {
                to: usize::from(choices.u16()),
            },
            2 => Tamper::Replace(choices.bytes(512).to_vec()),
            3 => Tamper::Insert {
                at: usize::from(choices.u16()),
                bytes: choices.bytes(64).to_vec(),
            },
            4 => Tamper::Drop,
            _ => Tamper::Twice,
        };
        tampers[index] = Some(tamper);
    }
    let mut intact = [true; 5];
    let (mut a_failed, mut b_failed) = (false, false);
    let to_b = deliver(&mut tampers, &mut intact, 0, &a_hello);
    let to_a = deliver(&mut tampers, &mut intact, 1, &b_hello);
    let b_proof = sent_frame(feed(&mut b, &mut b_failed, to_b));
    let a_proof = sent_frame(feed(&mut a, &mut a_failed, to_a));
    let to_a = b_proof
        .map(|proof| deliver(&mut tampers, &mut intact, 2, &proof))
        .unwrap_or_default();
    feed(&mut a, &mut a_failed, to_a);
    let to_b = a_proof
        .map(|proof| deliver(&mut tampers, &mut intact, 3, &proof))
        .unwrap_or_default();
    let mut b_decided = false;
    for step in feed(&mut b, &mut b_failed, to_b) {
        if let Step::Decide(peer) = step {
            authenticated("the acceptor", &peer, &a_me, &intact, &[0, 1, 3]);
            b_decided = true;
        }
    }
    if !b_decided {
        return exchange;
    }
    exchange.acceptor_authenticated = true;
    let accept = b.accept();
    let to_a = deliver(&mut tampers, &mut intact, 4, &accept);
    for step in feed(&mut a, &mut a_failed, to_a) {
        if let Step::Established(peer) = step {
            authenticated("the initiator", &peer, &b_me, &intact, &[0, 1, 2, 4]);
            let (a_keys, b_keys) = (a.session_keys(), b.session_keys());
            let (Some(a_keys), Some(b_keys)) = (a_keys, b_keys) else {
                panic!("both sides finished without record keys");
            };
            assert!(a_keys.send == b_keys.receive && a_keys.receive == b_keys.send);
            assert!(a_keys.send != a_keys.receive, "one key for both directions");
            exchange.initiator_established = true;
        }
    }
    exchange
}

/// Checks what `side` authenticated: the true peer `expected`, and every message it depends on
/// (by index, see [`handshake_tamper`]) as sent.
fn authenticated(
    side: &str,
    peer: &crate::handshake::PeerInfo,
    expected: &Identity,
    intact: &[bool; 5],
    depends_on: &[usize],
) {
    assert_eq!(
        peer.name, expected.name,
        "{side} authenticated someone else"
    );
    assert_eq!(peer.creation, expected.creation);
    assert_eq!(peer.listen, expected.listen);
    assert!(
        depends_on.iter().all(|&index| intact[index]),
        "{side} authenticated a handshake altered on the way: {intact:?}"
    );
}

/// Message `index` through the network: what arrives (none, one or two copies); notes whether
/// it arrived exactly as sent.
fn deliver(
    tampers: &mut [Option<Tamper>],
    intact: &mut [bool; 5],
    index: usize,
    sent: &[u8],
) -> Vec<Vec<u8>> {
    let body = sent.get(5..).unwrap_or_default().to_vec();
    let arriving = match tampers[index].take() {
        None => vec![body.clone()],
        Some(Tamper::Flip { at, with }) => {
            let mut altered = body.clone();
            if let Some(byte) = altered.get_mut(at % body.len().max(1)) {
                *byte ^= with;
            }
            vec![altered]
        }
        Some(Tamper::Cut { to }) => vec![body[..to.min(body.len())].to_vec()],
        Some(Tamper::Replace(bytes)) => vec![bytes],
        Some(Tamper::Insert { at, bytes }) => {
            let at = at % (body.len() + 1);
            vec![[&body[..at], &bytes[..], &body[at..]].concat()]
        }
        Some(Tamper::Drop) => Vec::new(),
        Some(Tamper::Twice) => vec![body.clone(), body.clone()],
    };
    intact[index] = arriving.first() == Some(&body);
    arriving
}

/// Feeds what arrived to one side, until it fails; returns its steps.
fn feed(side: &mut Handshake, failed: &mut bool, arriving: Vec<Vec<u8>>) -> Vec<Step> {
    let mut steps = Vec::new();
    for body in arriving {
        if *failed {
            break;
        }
        match side.receive(&body) {
            Ok(step) => steps.push(step),
            Err(_) => *failed = true,
        }
    }
    steps
}

fn sent_frame(steps: Vec<Step>) -> Option<Vec<u8>> {
    steps.into_iter().find_map(|step| match step {
        Step::Send(frame) if !frame.is_empty() => Some(frame),
        _ => None,
    })
}

/// The name of the fuzzed node's threads: a panic on one of them is a finding, though tokio
/// would catch it (under libFuzzer every panic aborts; the unit tests look at [`NODE_PANICS`]).
const NODE_THREAD: &str = "grove-fuzzed-node";

/// Panics seen on the fuzzed node's threads (counted when its test hook is installed).
#[cfg(test)]
static NODE_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The node the live target talks to, started once per process.
struct LiveNode {
    runtime: tokio::runtime::Runtime,
    addr: String,
    creation: u32,
    sink: u64,
    next_creation: std::sync::atomic::AtomicU32,
}

fn live() -> &'static LiveNode {
    static LIVE: OnceLock<LiveNode> = OnceLock::new();
    LIVE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(NODE_THREAD)
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("no tokio runtime for the fuzzed node: {error}"));
        let (node, sink) = runtime.block_on(async {
            let node = crate::NodeBuilder::new("fuzzed@127.0.0.1")
                .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                .secret(SECRET)
                .secret_only()
                .max_message_bytes(1 << 20)
                .message::<String>("fuzz.Text")
                .start()
                .await
                .unwrap_or_else(|error| panic!("the fuzzed node did not start: {error}"));
            // A process that takes what arrives, so that messages go all the way in.
            let sink = grove_runtime::spawn(|mut ctx: grove_runtime::Context<String>| async move {
                while let grove_runtime::Message::User(_) = ctx.recv().await {}
            });
            let _ = grove_runtime::register("sink", sink.pid());
            (node, sink.pid())
        });
        LiveNode {
            runtime,
            addr: node.listen_addr().to_string(),
            creation: node.creation(),
            sink: sink.id(),
            next_creation: std::sync::atomic::AtomicU32::new(1),
        }
    })
}

/// An authenticated peer sends the fuzzer's frames to a running node.
pub fn live_node(data: &[u8]) {
    let node = live();
    let stream = frames_for_node(node, Choices { data });
    let creation = node
        .next_creation
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.runtime.block_on(async {
        let patience = std::time::Duration::from_secs(10);
        let mut raw = handshake_with(node, "fuzzer@127.0.0.1", creation).await;
        for piece in stream {
            if raw.send(&piece).await.is_err() {
                break;
            }
        }
        // Done writing: the node reads all of it, then the end, and closes the connection; so
        // whatever this input does to the node happens before the next input.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = raw.stream().shutdown().await;
        let mut sink = [0u8; 4096];
        let drained = tokio::time::timeout(patience, async {
            while matches!(raw.stream().read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        assert!(drained.is_ok(), "the node did not finish reading the input");
        // And it still takes a new peer.
        drop(handshake_with(node, "fuzz-check@127.0.0.1", creation).await);
    });
}

async fn handshake_with(node: &LiveNode, name: &str, creation: u32) -> crate::testing::RawPeer {
    let connected = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        crate::testing::connect_raw(&node.addr, name, creation, SECRET),
    )
    .await;
    match connected {
        Ok(Ok((raw, _))) => raw,
        Ok(Err(error)) => panic!("the node stopped taking connections: {error}"),
        Err(_) => panic!("the node stopped answering handshakes"),
    }
}

fn frames_for_node(node: &LiveNode, mut choices: Choices<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !choices.done() {
        out.push(match choices.byte() % 6 {
            0 => {
                let to = match choices.byte() % 3 {
                    0 => Dest::Name("sink"),
                    1 => Dest::Pid(WirePid {
                        creation: node.creation,
                        id: node.sink,
                    }),
                    _ => Dest::Pid(WirePid {
                        creation: node.creation,
                        id: choices.u64() % 64,
                    }),
                };
                let type_name = match choices.byte() % 3 {
                    0 => "fuzz.Text",
                    1 => "fuzz.Unknown",
                    _ => std::str::from_utf8(choices.bytes(16)).unwrap_or("?"),
                };
                let call = (choices.byte() % 2 == 0).then(|| choices.u64());
                let header = MessageHeader {
                    to,
                    type_name,
                    call,
                };
                let mut body = postcard::to_allocvec(&header).unwrap_or_default();
                body.extend_from_slice(choices.bytes(4096));
                let whole = frame::frame(Kind::Message, &body);
                if choices.byte() % 4 == 0 {
                    crate::testing::fragment_frames(&whole).concat()
                } else {
                    whole
                }
            }
            1 => frame::frame(Kind::Control, choices.bytes(256)),
            2 => frame::frame(Kind::Reply, choices.bytes(256)),
            3 => frame::frame(Kind::Fragment, choices.bytes(1024)),
            4 => frame::frame(Kind::Heartbeat, &[]),
            _ => choices.bytes(64).to_vec(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handful of inputs through each target: they run, and the promises they check hold on
    /// these.
    #[test]
    fn the_fuzz_targets_run() {
        let inputs: Vec<Vec<u8>> = (0..64u8)
            .map(|seed| {
                (0..600u32)
                    .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
                    .collect()
            })
            .collect();
        for input in &inputs {
            wire(input);
            handshake(input);
            handshake_tamper(input);
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(NODE_THREAD) {
                NODE_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            previous(info);
        }));
        for input in inputs.iter().take(8) {
            live_node(input);
        }
        assert_eq!(NODE_PANICS.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn an_untampered_exchange_completes_and_a_tampered_one_fails() {
        let both = Exchange {
            acceptor_authenticated: true,
            initiator_established: true,
        };
        assert_eq!(handshake_tamper(&[9, 9]), both);
        // Two copies of the accept: the first one counts.
        assert_eq!(handshake_tamper(&[9, 9, 4, 5]), both);
        // A bit flipped in the acceptor's hello, message 1: neither side authenticates.
        assert_eq!(
            handshake_tamper(&[9, 9, 1, 0, 0, 3, 1]),
            Exchange::default()
        );
        // The initiator's proof lost: the initiator has checked the acceptor, but the acceptor
        // never decides, so the initiator never hears an accept.
        assert_eq!(handshake_tamper(&[9, 9, 3, 4]), Exchange::default());
    }
}
