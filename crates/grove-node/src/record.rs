//! The record layer of a connection without TLS, sans-IO: after the handshake every byte, either
//! way, travels inside records sealed with AES-256-GCM under keys only the two ends of this
//! connection hold (derived from the cluster secret and the handshake's transcript, both nonces
//! in it: see [`crate::transcript`]). A party without the secret can neither read a record nor
//! inject, alter, drop, reorder or replay one without the receiver closing the connection: each
//! record's nonce is its sequence number in its direction, and its length is authenticated.
//!
//! With TLS, rustls is the record layer and this one is not used.
//!
//! A record is `[length: u32 big-endian][ciphertext][tag: 16 bytes]`, where `length` counts the
//! ciphertext and the tag, and the plaintext is at most [`MAX_PLAINTEXT`] bytes: a stream of
//! ordinary frames ([`crate::frame`]), cut anywhere. Written by hand over `ring`'s AEAD because
//! the frame stream only needs sealing in batches as the writer already makes them (one record
//! per 64 KiB of a batch), which a general-purpose framing crate would copy once more.

use bytes::{Buf, BytesMut};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// The most plaintext bytes one record carries.
pub(crate) const MAX_PLAINTEXT: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4;

/// A direction's key, 32 bytes.
pub(crate) type Key = [u8; 32];

/// Why the stream of records broke: the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// A record did not open: it was altered, replayed, reordered, or not sealed with this
    /// connection's key (injected by a party without the secret).
    #[error("a record failed authentication (altered, replayed or injected)")]
    Forged,
    /// A record's length is impossible.
    #[error("a record of {0} bytes is longer than the limit")]
    TooLong(usize),
    /// More records than a 64-bit sequence counts (never in practice): the connection must be
    /// made again with new keys.
    #[error("the record sequence ran out; reconnect")]
    Exhausted,
}

fn nonce(sequence: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&sequence.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn key(bytes: &Key) -> LessSafeKey {
    // AES-256 takes exactly 32 bytes, which `Key` is: this cannot fail.
    let unbound = UnboundKey::new(&AES_256_GCM, bytes)
        .unwrap_or_else(|_| unreachable!("a 32-byte key is an AES-256 key"));
    LessSafeKey::new(unbound)
}

/// Seals outgoing bytes into records.
pub(crate) struct Sealer {
    key: LessSafeKey,
    sequence: u64,
}

impl Sealer {
    pub(crate) fn new(key_bytes: &Key) -> Sealer {
        Sealer {
            key: key(key_bytes),
            sequence: 0,
        }
    }

    /// Seals `plaintext` into as many records as it takes, appended to `out`.
    pub(crate) fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        for chunk in plaintext.chunks(MAX_PLAINTEXT) {
            let sequence = self.sequence;
            self.sequence = sequence.checked_add(1).ok_or(RecordError::Exhausted)?;
            let header = ((chunk.len() + TAG_LEN) as u32).to_be_bytes();
            out.extend_from_slice(&header);
            let start = out.len();
            out.extend_from_slice(chunk);
            let tag = self
                .key
                .seal_in_place_separate_tag(nonce(sequence), Aad::from(header), &mut out[start..])
                .map_err(|_| RecordError::Exhausted)?;
            out.extend_from_slice(tag.as_ref());
        }
        Ok(())
    }
}

/// Opens incoming records.
pub(crate) struct Opener {
    key: LessSafeKey,
    sequence: u64,
}

impl Opener {
    pub(crate) fn new(key_bytes: &Key) -> Opener {
        Opener {
            key: key(key_bytes),
            sequence: 0,
        }
    }

    /// Opens the whole records at the front of `input`, appending their plaintext to `out`;
    /// a partial record stays in `input` for the next read.
    pub(crate) fn open(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), RecordError> {
        while input.len() >= HEADER_LEN {
            let header: [u8; HEADER_LEN] = [input[0], input[1], input[2], input[3]];
            let length = u32::from_be_bytes(header) as usize;
            if !(TAG_LEN..=MAX_PLAINTEXT + TAG_LEN).contains(&length) {
                return Err(RecordError::TooLong(length));
            }
            if input.len() < HEADER_LEN + length {
                input.reserve(HEADER_LEN + length - input.len());
                return Ok(());
            }
            input.advance(HEADER_LEN);
            let mut record = input.split_to(length);
            let sequence = self.sequence;
            self.sequence = sequence.checked_add(1).ok_or(RecordError::Exhausted)?;
            let plaintext = self
                .key
                .open_in_place(nonce(sequence), Aad::from(header), &mut record)
                .map_err(|_| RecordError::Forged)?;
            out.extend_from_slice(plaintext);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open_all(opener: &mut Opener, sealed: &[u8]) -> Result<Vec<u8>, RecordError> {
        let mut input = BytesMut::from(sealed);
        let mut out = BytesMut::new();
        opener.open(&mut input, &mut out)?;
        assert!(input.is_empty(), "every record was whole");
        Ok(out.to_vec())
    }

    #[test]
    fn records_open_in_order_with_the_same_key() {
        let mut sealer = Sealer::new(&[7; 32]);
        let mut opener = Opener::new(&[7; 32]);
        let mut sealed = Vec::new();
        sealer.seal(b"first", &mut sealed).unwrap();
        sealer.seal(b"second", &mut sealed).unwrap();
        assert_eq!(open_all(&mut opener, &sealed).unwrap(), b"firstsecond");
    }

    #[test]
    fn a_large_batch_is_cut_into_records_and_put_back_together() {
        let plaintext: Vec<u8> = (0..(3 * MAX_PLAINTEXT + 17)).map(|i| i as u8).collect();
        let mut sealed = Vec::new();
        Sealer::new(&[1; 32]).seal(&plaintext, &mut sealed).unwrap();
        assert_eq!(sealed.len(), plaintext.len() + 4 * (HEADER_LEN + TAG_LEN));
        assert_eq!(
            open_all(&mut Opener::new(&[1; 32]), &sealed).unwrap(),
            plaintext
        );
    }

    #[test]
    fn a_partial_record_waits_for_the_rest() {
        let mut sealed = Vec::new();
        Sealer::new(&[3; 32])
            .seal(b"split me", &mut sealed)
            .unwrap();
        let mut opener = Opener::new(&[3; 32]);
        let mut input = BytesMut::from(&sealed[..7]);
        let mut out = BytesMut::new();
        opener.open(&mut input, &mut out).unwrap();
        assert!(out.is_empty());
        input.extend_from_slice(&sealed[7..]);
        opener.open(&mut input, &mut out).unwrap();
        assert_eq!(&out[..], b"split me");
    }

    #[test]
    fn another_key_altered_bytes_a_replay_and_a_reorder_are_refused() {
        let mut sealer = Sealer::new(&[9; 32]);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        sealer.seal(b"one", &mut one).unwrap();
        sealer.seal(b"two", &mut two).unwrap();
        // Sealed without the key (another secret, or made up).
        assert_eq!(
            open_all(&mut Opener::new(&[8; 32]), &one),
            Err(RecordError::Forged)
        );
        // A flipped bit anywhere: in the ciphertext, the tag, or the length.
        for at in HEADER_LEN..one.len() {
            let mut altered = one.clone();
            altered[at] ^= 1;
            assert_eq!(
                open_all(&mut Opener::new(&[9; 32]), &altered),
                Err(RecordError::Forged)
            );
        }
        // Replayed: the same record twice.
        let mut opener = Opener::new(&[9; 32]);
        assert_eq!(open_all(&mut opener, &one).unwrap(), b"one");
        assert_eq!(open_all(&mut opener, &one), Err(RecordError::Forged));
        // Reordered: the second record first.
        assert_eq!(
            open_all(&mut Opener::new(&[9; 32]), &two),
            Err(RecordError::Forged)
        );
    }

    #[test]
    fn an_impossible_length_is_refused_before_anything_is_buffered() {
        let mut input = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert_eq!(
            Opener::new(&[0; 32]).open(&mut input, &mut BytesMut::new()),
            Err(RecordError::TooLong(u32::MAX as usize))
        );
        let mut input = BytesMut::from(&3u32.to_be_bytes()[..]);
        assert_eq!(
            Opener::new(&[0; 32]).open(&mut input, &mut BytesMut::new()),
            Err(RecordError::TooLong(3))
        );
    }

    proptest! {
        /// Whatever the batches and however the bytes arrive, the receiver gets the same bytes.
        #[test]
        fn any_batches_read_in_any_pieces_come_out_whole(
            batches in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cut in 1usize..50,
        ) {
            let mut sealer = Sealer::new(&[5; 32]);
            let mut sealed = Vec::new();
            for batch in &batches {
                sealer.seal(batch, &mut sealed).unwrap();
            }
            let mut opener = Opener::new(&[5; 32]);
            let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
            for piece in sealed.chunks(cut) {
                input.extend_from_slice(piece);
                opener.open(&mut input, &mut out).unwrap();
            }
            prop_assert!(input.is_empty());
            prop_assert_eq!(out.to_vec(), batches.concat());
        }
    }
}
