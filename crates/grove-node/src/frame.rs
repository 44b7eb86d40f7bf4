//! The wire's outer layer, sans-IO: length-delimited frames with a maximum size, and the
//! reassembly of large messages sent in fragments.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of body; the body's first
//! byte says what it is ([`Kind`]). Nothing here touches a socket: [`FrameDecoder`] takes the
//! bytes read so far and hands out whole frame bodies, [`begin_frame`] and [`end_frame`] write
//! one into a buffer, and [`Reassembler`] puts fragments back together. The connection's async
//! shell only moves bytes.
//!
//! A message whose encoded body is larger than [`FRAGMENT_SIZE`] travels as a run of
//! [`Kind::Fragment`] frames, so that a large message holds the small ones sent after it (by other
//! processes) for at most one fragment's time. At most one fragmented message is in flight per
//! connection at a time; its fragments arrive in order, so reassembly needs no stream ids.

use bytes::{Buf, BytesMut};

/// The largest body a message frame carries before it is split into fragments.
pub(crate) const FRAGMENT_SIZE: usize = 64 * 1024;

/// The largest frame a decoder accepts after the handshake: a fragment plus headroom for its
/// header. A larger length prefix is a protocol violation and closes the connection.
pub(crate) const MAX_FRAME: usize = FRAGMENT_SIZE + 1024;

/// The largest frame accepted during the handshake, before the peer is authenticated.
pub(crate) const MAX_HANDSHAKE_FRAME: usize = 4 * 1024;

const LENGTH_PREFIX: usize = 4;

/// What a frame body holds (its first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A handshake message (before the connection is up).
    Handshake = 1,
    /// A signal or a request between the nodes: link, monitor, exit, down, spawn, whereis, ...
    Control = 2,
    /// A message to a process (or a call to a server): header and payload.
    Message = 3,
    /// A piece of a large frame body; see [`Reassembler`].
    Fragment = 4,
    /// Nothing; keeps the connection's heartbeat going when there is no traffic.
    Heartbeat = 5,
    /// The reply to a call.
    Reply = 6,
}

impl Kind {
    pub(crate) fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Handshake,
            2 => Kind::Control,
            3 => Kind::Message,
            4 => Kind::Fragment,
            5 => Kind::Heartbeat,
            6 => Kind::Reply,
            _ => return None,
        })
    }
}

/// Why the byte stream could not be read as frames. Each one ends the connection: after a bad
/// length the frame boundaries are lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A length prefix above the limit.
    #[error("frame of {length} bytes is over the limit of {limit} bytes")]
    Oversized {
        /// The length the peer announced.
        length: usize,
        /// The most this connection accepts.
        limit: usize,
    },
    /// A frame with no body (not even its kind byte).
    #[error("empty frame")]
    Empty,
    /// Fragments that do not add up: a continuation with no start, or more bytes than announced.
    #[error("fragments out of order: {0}")]
    BadFragment(&'static str),
    /// A reassembled message above the limit.
    #[error("message of {length} bytes is over the limit of {limit} bytes")]
    MessageTooLarge {
        /// The size the first fragment announced.
        length: usize,
        /// The most this node accepts.
        limit: usize,
    },
}

/// Splits a byte stream into frame bodies.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    max_frame: usize,
}

impl FrameDecoder {
    pub(crate) fn new(max_frame: usize) -> Self {
        FrameDecoder { max_frame }
    }

    /// Takes the next whole frame body off the front of `buf`, if all of it has arrived.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if length > self.max_frame {
            return Err(FrameError::Oversized {
                length,
                limit: self.max_frame,
            });
        }
        if length == 0 {
            return Err(FrameError::Empty);
        }
        if buf.len() < LENGTH_PREFIX + length {
            buf.reserve(LENGTH_PREFIX + length - buf.len());
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX);
        Ok(Some(buf.split_to(length)))
    }
}

/// Starts a frame of `kind` at the end of `out`; returns where it starts, for [`end_frame`].
pub(crate) fn begin_frame(out: &mut Vec<u8>, kind: Kind) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX]);
    out.push(kind as u8);
    start
}

/// Writes the length of the frame begun at `start`, now that its body is complete.
pub(crate) fn end_frame(out: &mut [u8], start: usize) {
    let length = (out.len() - start - LENGTH_PREFIX) as u32;
    out[start..start + LENGTH_PREFIX].copy_from_slice(&length.to_be_bytes());
}

/// The size of the frame begun at `start`, prefix included.
pub(crate) fn frame_len(out: &[u8], start: usize) -> usize {
    out.len() - start
}

/// A whole frame: `kind` and `body`.
pub(crate) fn frame(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LENGTH_PREFIX + 1 + body.len());
    let start = begin_frame(&mut out, kind);
    out.extend_from_slice(body);
    end_frame(&mut out, start);
    out
}

const FIRST: u8 = 1;
const LAST: u8 = 2;

/// Writes the next fragment of the frame body `body` (kind byte included, length prefix not)
/// into `out`, starting at `*offset`, and advances it. True when that was the last fragment.
pub(crate) fn write_fragment(out: &mut Vec<u8>, body: &[u8], offset: &mut usize) -> bool {
    let end = (*offset + FRAGMENT_SIZE).min(body.len());
    let mut flags = 0;
    if *offset == 0 {
        flags |= FIRST;
    }
    if end == body.len() {
        flags |= LAST;
    }
    let start = begin_frame(out, Kind::Fragment);
    out.push(flags);
    if flags & FIRST != 0 {
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    out.extend_from_slice(&body[*offset..end]);
    end_frame(out, start);
    *offset = end;
    flags & LAST != 0
}

/// The size a fragment frame body (kind byte included) announces, if it is the first of a
/// message; the reassembly budget is reserved from it before the fragment is taken.
pub(crate) fn announced_length(body: &[u8]) -> Option<usize> {
    let (&kind, rest) = body.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    if kind != Kind::Fragment as u8 || flags & FIRST == 0 {
        return None;
    }
    let length = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some(usize::try_from(length).unwrap_or(usize::MAX))
}

/// Puts a fragmented frame body back together.
#[derive(Debug)]
pub(crate) struct Reassembler {
    max_message: usize,
    partial: Option<Partial>,
}

/// The message being reassembled: its announced size, and its bytes so far (`None` while one
/// refused at its first fragment is skipped: only its size is followed).
#[derive(Debug)]
struct Partial {
    total: usize,
    received: usize,
    buffer: Option<BytesMut>,
}

impl Reassembler {
    pub(crate) fn new(max_message: usize) -> Self {
        Reassembler {
            max_message,
            partial: None,
        }
    }

    /// Takes one fragment (the body of a [`Kind::Fragment`] frame, after its kind byte);
    /// returns the whole frame body once the last fragment is in.
    pub(crate) fn push(&mut self, fragment: BytesMut) -> Result<Option<BytesMut>, FrameError> {
        self.take(fragment, true)
    }

    /// As [`Reassembler::push`] for the first fragment of a message the node will not take:
    /// the rest of its fragments are checked and dropped. Returns the first fragment's bytes
    /// of the message (the start of its frame body, which holds its header).
    pub(crate) fn skip(&mut self, fragment: BytesMut) -> Result<BytesMut, FrameError> {
        let mut first = fragment.clone();
        self.take(fragment, false)?;
        // Flags and length, checked by `take`.
        first.advance(1 + 8);
        Ok(first)
    }

    fn take(&mut self, mut fragment: BytesMut, keep: bool) -> Result<Option<BytesMut>, FrameError> {
        if fragment.is_empty() {
            return Err(FrameError::BadFragment("fragment without flags"));
        }
        let flags = fragment[0];
        fragment.advance(1);
        if flags & FIRST != 0 {
            if self.partial.is_some() {
                return Err(FrameError::BadFragment(
                    "a new message began inside another",
                ));
            }
            if fragment.len() < 8 {
                return Err(FrameError::BadFragment("first fragment without a length"));
            }
            let total = u64::from_be_bytes(fragment[..8].try_into().unwrap_or([0xff; 8]));
            fragment.advance(8);
            let total = usize::try_from(total).unwrap_or(usize::MAX);
            if total > self.max_message {
                return Err(FrameError::MessageTooLarge {
                    length: total,
                    limit: self.max_message,
                });
            }
            // The node reserved `total` from its reassembly budget before this fragment came
            // in, so the buffer is made that size at once (growing it by doubling could hold
            // up to twice the reservation).
            self.partial = Some(Partial {
                total,
                received: 0,
                buffer: keep.then(|| BytesMut::with_capacity(total)),
            });
        } else if !keep {
            return Err(FrameError::BadFragment(
                "only a first fragment can be skipped",
            ));
        }
        let Some(partial) = self.partial.as_mut() else {
            return Err(FrameError::BadFragment(
                "a continuation with no first fragment",
            ));
        };
        if partial.received + fragment.len() > partial.total {
            return Err(FrameError::BadFragment(
                "more bytes than the first fragment announced",
            ));
        }
        partial.received += fragment.len();
        if let Some(buffer) = &mut partial.buffer {
            buffer.extend_from_slice(&fragment);
        }
        if flags & LAST == 0 {
            return Ok(None);
        }
        let Some(Partial {
            total,
            received,
            buffer,
        }) = self.partial.take()
        else {
            return Ok(None);
        };
        if received != total {
            return Err(FrameError::BadFragment(
                "fewer bytes than the first fragment announced",
            ));
        }
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(decoder: &mut FrameDecoder, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(body) = decoder.decode(&mut buf)? {
            out.push(body.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn a_frame_round_trips() {
        let bytes = frame(Kind::Control, b"hello");
        let bodies = decode_all(&mut FrameDecoder::new(MAX_FRAME), &bytes).unwrap();
        assert_eq!(
            bodies,
            vec![[&[Kind::Control as u8][..], b"hello"].concat()]
        );
    }

    #[test]
    fn an_oversized_length_is_refused_before_any_body_arrives() {
        let mut buf = BytesMut::from(&(MAX_FRAME as u32 + 1).to_be_bytes()[..]);
        let error = FrameDecoder::new(MAX_FRAME).decode(&mut buf).unwrap_err();
        assert!(matches!(error, FrameError::Oversized { .. }));
    }

    #[test]
    fn an_empty_frame_is_refused() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(
            FrameDecoder::new(MAX_FRAME).decode(&mut buf),
            Err(FrameError::Empty)
        );
    }

    #[test]
    fn a_large_body_round_trips_through_fragments() {
        let body: Vec<u8> = (0..FRAGMENT_SIZE * 3 + 17).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        let mut offset = 0;
        let mut frames = 0;
        while !write_fragment(&mut wire, &body, &mut offset) {
            frames += 1;
        }
        assert_eq!(frames + 1, 4);
        let mut decoder = FrameDecoder::new(MAX_FRAME);
        let mut reassembler = Reassembler::new(1 << 20);
        let mut whole = None;
        for mut fragment in decode_all(&mut decoder, &wire)
            .unwrap()
            .into_iter()
            .map(|f| BytesMut::from(&f[..]))
        {
            assert_eq!(fragment[0], Kind::Fragment as u8);
            fragment.advance(1);
            if let Some(done) = reassembler.push(fragment).unwrap() {
                whole = Some(done);
            }
        }
        assert_eq!(whole.unwrap().to_vec(), body);
    }

    #[test]
    fn a_fragmented_message_over_the_limit_is_refused_at_its_first_fragment() {
        let mut reassembler = Reassembler::new(100);
        let mut first = BytesMut::new();
        first.extend_from_slice(&[FIRST]);
        first.extend_from_slice(&1_000_000u64.to_be_bytes());
        assert!(matches!(
            reassembler.push(first),
            Err(FrameError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn only_a_first_fragment_announces_a_length() {
        let body: Vec<u8> = vec![7; FRAGMENT_SIZE + 1];
        let mut wire = Vec::new();
        let mut offset = 0;
        write_fragment(&mut wire, &body, &mut offset);
        assert_eq!(announced_length(&wire[LENGTH_PREFIX..]), Some(body.len()));
        let first_end = wire.len();
        write_fragment(&mut wire, &body, &mut offset);
        assert_eq!(announced_length(&wire[first_end + LENGTH_PREFIX..]), None);
        assert_eq!(
            announced_length(&frame(Kind::Message, b"x")[LENGTH_PREFIX..]),
            None
        );
        assert_eq!(announced_length(&[Kind::Fragment as u8, FIRST, 0]), None);
    }

    #[test]
    fn a_skipped_message_is_followed_to_its_end_and_not_kept() {
        let body: Vec<u8> = (0..FRAGMENT_SIZE * 2 + 5).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        let mut offset = 0;
        while !write_fragment(&mut wire, &body, &mut offset) {}
        let fragments = decode_all(&mut FrameDecoder::new(MAX_FRAME), &wire).unwrap();
        let mut reassembler = Reassembler::new(1 << 20);
        let fragment = |f: &Vec<u8>| BytesMut::from(&f[1..]);
        let start = reassembler.skip(fragment(&fragments[0])).unwrap();
        assert_eq!(&start[..], &body[..FRAGMENT_SIZE]);
        assert_eq!(reassembler.push(fragment(&fragments[1])).unwrap(), None);
        assert_eq!(reassembler.push(fragment(&fragments[2])).unwrap(), None);
        // Then the next message is taken as usual.
        let small = b"next".to_vec();
        let mut wire = Vec::new();
        write_fragment(&mut wire, &small, &mut 0);
        let next = decode_all(&mut FrameDecoder::new(MAX_FRAME), &wire).unwrap();
        assert_eq!(
            reassembler
                .push(fragment(&next[0]))
                .unwrap()
                .map(|b| b.to_vec()),
            Some(small)
        );
        // Only a first fragment can be skipped.
        assert!(reassembler.skip(fragment(&fragments[1])).is_err());
    }

    #[test]
    fn a_continuation_without_a_start_is_refused() {
        let mut reassembler = Reassembler::new(100);
        assert!(reassembler.push(BytesMut::from(&[LAST, 1, 2][..])).is_err());
    }

    proptest! {
        /// Any bytes at all: the decoder hands out frames or an error, never panics, and never
        /// hands out a body over the limit.
        #[test]
        fn the_decoder_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut decoder = FrameDecoder::new(512);
            if let Ok(bodies) = decode_all(&mut decoder, &bytes) {
                prop_assert!(bodies.iter().all(|b| !b.is_empty() && b.len() <= 512));
            }
        }

        /// Any fragment bodies: the reassembler returns messages or errors, never panics, never
        /// returns more than its limit.
        #[test]
        fn the_reassembler_survives_arbitrary_fragments(
            fragments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)
        ) {
            let mut reassembler = Reassembler::new(256);
            for fragment in fragments {
                if let Ok(Some(whole)) = reassembler.push(BytesMut::from(&fragment[..])) {
                    prop_assert!(whole.len() <= 256);
                }
            }
        }

        /// Frames written back to back and read in arbitrary chunks come out whole and in order.
        #[test]
        fn frames_survive_any_split_of_the_stream(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20),
            cut in 1usize..97,
        ) {
            let mut wire = Vec::new();
            for body in &bodies {
                wire.extend(frame(Kind::Message, body));
            }
            let mut decoder = FrameDecoder::new(MAX_FRAME);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for chunk in wire.chunks(cut) {
                buf.extend_from_slice(chunk);
                while let Some(body) = decoder.decode(&mut buf).unwrap() {
                    out.push(body[1..].to_vec());
                }
            }
            prop_assert_eq!(out, bodies);
        }
    }
}
