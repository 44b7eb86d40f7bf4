//! For tests of misbehaving peers only: a raw, authenticated secret-only (no TLS) connection that can then
//! write any frames at all (sealed as the node expects, or not), and the frames a test needs to
//! write. Not part of Grove's API.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::frame::{self, FrameDecoder, Kind, MAX_HANDSHAKE_FRAME};
use crate::handshake::{Handshake, Identity, Role, Step};
use crate::protocol::{Dest, MessageHeader, WirePid};
use crate::record::Sealer;

/// A connection that passed the handshake, writing whatever a test asks.
pub struct RawPeer {
    stream: TcpStream,
    writer: RawWriter,
}

/// The writing side of a [`RawPeer`]: seals what it sends, as the node expects, unless told not
/// to.
pub struct RawWriter {
    sealer: Sealer,
    half: Option<OwnedWriteHalf>,
}

impl RawPeer {
    /// Sends `bytes` (frames, or any bytes) sealed in records, as a real peer would.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let sealed = self.writer.seal(bytes)?;
        self.stream.write_all(&sealed).await
    }

    /// Sends `bytes` as they are, not sealed: what a party without the secret could inject.
    pub async fn send_unsealed(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The socket, to read from (or to see it closed).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The reading and writing halves.
    pub fn into_split(self) -> (OwnedReadHalf, RawWriter) {
        let (read, write) = self.stream.into_split();
        let mut writer = self.writer;
        writer.half = Some(write);
        (read, writer)
    }
}

impl RawWriter {
    fn seal(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut sealed = Vec::new();
        self.sealer
            .seal(bytes, &mut sealed)
            .map_err(std::io::Error::other)?;
        Ok(sealed)
    }

    /// Sends `bytes` sealed in records (after [`RawPeer::into_split`]).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let sealed = self.seal(bytes)?;
        match &mut self.half {
            Some(half) => half.write_all(&sealed).await,
            None => Err(std::io::Error::other("not split")),
        }
    }
}

/// Connects to a secret-only node at `addr` as `name` (creation `creation`) with `secret`, runs
/// the handshake, and hands back the connection. Returns the node's creation too.
pub async fn connect_raw(
    addr: &str,
    name: &str,
    creation: u32,
    secret: &[u8],
) -> Result<(RawPeer, u32), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let me = Identity {
        name: name.to_string(),
        creation,
        listen: None,
    };
    let (mut handshake, hello) =
        Handshake::start(Role::Initiator, me, secret, rand::random(), Vec::new());
    stream.write_all(&hello).await.map_err(|e| e.to_string())?;
    let mut buf = bytes::BytesMut::new();
    let mut decoder = FrameDecoder::new(MAX_HANDSHAKE_FRAME);
    loop {
        let body = loop {
            if let Some(body) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
                break body;
            }
            if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err("closed during the handshake".into());
            }
        };
        match handshake.receive(&body[1..]).map_err(|e| e.to_string())? {
            Step::Send(frame) => stream.write_all(&frame).await.map_err(|e| e.to_string())?,
            Step::Established(peer) => {
                let keys = handshake.session_keys().ok_or("established without keys")?;
                let writer = RawWriter {
                    sealer: Sealer::new(&keys.send),
                    half: None,
                };
                return Ok((RawPeer { stream, writer }, peer.creation));
            }
            Step::Decide(_) => return Err("an initiator does not decide".into()),
        }
    }
}

/// A well-formed hello frame from a node named `name`: what anyone can send without the secret.
pub fn hello_frame(name: &str) -> Vec<u8> {
    let me = Identity {
        name: name.to_string(),
        creation: 1,
        listen: None,
    };
    Handshake::start(Role::Initiator, me, b"", rand::random(), Vec::new()).1
}

/// A handshake `Refuse` frame with `reason`, made without the secret (its tag is zeros): what a
/// party on the path could write in place of the real last word.
pub fn forged_refusal_frame(reason: &str) -> Vec<u8> {
    crate::handshake::forged_refusal(reason)
}

/// A heartbeat frame.
pub fn heartbeat_frame() -> Vec<u8> {
    frame::frame(Kind::Heartbeat, &[])
}

/// A message frame for the process `(creation, id)` of the receiving node, with a payload
/// claimed to be of the type registered as `type_name`.
pub fn message_frame(creation: u32, id: u64, type_name: &str, payload: &[u8]) -> Vec<u8> {
    let header = MessageHeader {
        to: Dest::Pid(WirePid { creation, id }),
        type_name,
        call: None,
    };
    let mut body = postcard::to_allocvec(&header).unwrap_or_default();
    body.extend_from_slice(payload);
    frame::frame(Kind::Message, &body)
}

/// A whole frame (length prefix included) cut into the fragment frames a node sends a large
/// message as.
pub fn fragment_frames(whole: &[u8]) -> Vec<Vec<u8>> {
    let body = &whole[4.min(whole.len())..];
    let mut frames = Vec::new();
    let mut offset = 0;
    loop {
        let mut out = Vec::new();
        let last = frame::write_fragment(&mut out, body, &mut offset);
        frames.push(out);
        if last {
            return frames;
        }
    }
}

/// The size on the wire of the frame that carries `value`, registered as `type_name`, to a
/// process by pid (as a call when `call`), for the benchmark suite.
pub fn message_frame_len<T: serde::Serialize>(type_name: &str, value: &T, call: bool) -> usize {
    let header = MessageHeader {
        to: Dest::Pid(WirePid {
            creation: u32::MAX,
            id: u64::from(u32::MAX),
        }),
        type_name,
        call: call.then_some(u64::from(u32::MAX)),
    };
    let header = postcard::to_allocvec(&header).map_or(0, |h| h.len());
    let payload = postcard::to_allocvec(value).map_or(0, |p| p.len());
    4 + 1 + header + payload
}

/// What the record layer (connections without TLS) costs, for the benchmark suite: seals
/// `records` records, each holding `frames_per_record` frames of `frame_len` bytes, the way a
/// connection's writer does, opens them the way its reader does, and returns how long that took.
pub fn record_cost(
    frame_len: usize,
    frames_per_record: usize,
    records: usize,
) -> std::time::Duration {
    let key = [0x5a; 32];
    let batch: Vec<u8> = (0..frame_len * frames_per_record.max(1))
        .map(|i| i as u8)
        .collect();
    let (mut sealer, mut opener) = (Sealer::new(&key), crate::record::Opener::new(&key));
    let (mut sealed, mut input, mut opened) =
        (Vec::new(), bytes::BytesMut::new(), bytes::BytesMut::new());
    let started = std::time::Instant::now();
    for _ in 0..records {
        sealed.clear();
        if sealer.seal(&batch, &mut sealed).is_err() {
            break;
        }
        input.extend_from_slice(&sealed);
        if opener.open(&mut input, &mut opened).is_err() {
            break;
        }
        // The reader hands the frames on; their bytes are not kept.
        opened.clear();
    }
    let took = started.elapsed();
    std::hint::black_box(&opened);
    took
}

/// The length prefix of a frame larger than any node accepts.
pub fn oversized_frame_prefix() -> Vec<u8> {
    ((frame::MAX_FRAME as u32) + 1).to_be_bytes().to_vec()
}
