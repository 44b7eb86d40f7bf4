//! For tests of misbehaving peers only: a raw, authenticated plaintext connection that can then
//! write any bytes at all, and the frames a test needs to write. Not part of Grove's API.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::frame::{self, FrameDecoder, Kind, MAX_HANDSHAKE_FRAME};
use crate::handshake::{Handshake, Identity, Role, Step};
use crate::protocol::{Dest, MessageHeader, WirePid};

/// Connects to a plaintext node at `addr` as `name` (creation `creation`) with `secret`, runs
/// the handshake, and hands back the socket. Returns the node's creation too.
pub async fn connect_raw(
    addr: &str,
    name: &str,
    creation: u32,
    secret: &[u8],
) -> Result<(TcpStream, u32), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let me = Identity {
        name: name.to_string(),
        creation,
        listen: None,
    };
    let (mut handshake, hello) = Handshake::start(Role::Initiator, me, secret, rand::random());
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
            Step::Established(peer) => return Ok((stream, peer.creation)),
            Step::Decide(_) => return Err("an initiator does not decide".into()),
        }
    }
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

/// The length prefix of a frame larger than any node accepts.
pub fn oversized_frame_prefix() -> Vec<u8> {
    ((frame::MAX_FRAME as u32) + 1).to_be_bytes().to_vec()
}
