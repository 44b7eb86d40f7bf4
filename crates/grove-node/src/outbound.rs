//! A connection's outbound queue, sans-IO: bounded, with a lane that lets small messages pass a
//! large one, and per-sender order kept.
//!
//! Senders encode their frames straight into the queue (no copy, no channel per message); the
//! connection's writer takes everything queued in one batch and writes it with one syscall.
//!
//! **Large messages.** A frame bigger than a fragment goes to the *large lane* and is written one
//! fragment per batch, with everything that queued on the small lane meanwhile in between. So a
//! 50 MB message delays a small one sent after it (by another process) by one fragment, not by
//! 50 MB: Erlang's head-of-line blocking, avoided. Order between one sender and one receiver is
//! kept because once a process has a frame in the large lane, its later frames queue behind it
//! there, until the lane has drained what it sent.
//!
//! **Bounds.** User messages are refused (the caller drops and counts them) once the queue holds
//! `limit` bytes: a peer that stops reading cannot grow this node's memory without bound.
//! Signals (links, monitors, exits, replies) are never dropped, since a lost `Down` would leave
//! a watcher waiting forever; if they pile up past twice the limit the connection is closed
//! instead, and every link and monitor over it fires with `noconnection`.

use std::collections::{HashMap, VecDeque};

use grove_runtime::Pid;

use crate::frame::{self, FRAGMENT_SIZE};

/// What the queue did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Queued; the writer must be woken (the queue was empty).
    Wake,
    /// Queued behind others; the writer is already busy.
    Busy,
    /// Refused: the queue is over its limit (a user message is dropped).
    Full,
    /// Refused: signals are over the hard limit; the connection must close.
    Overflow,
    /// Refused: the connection is closed.
    Closed,
}

enum LargeItem {
    /// A frame body (kind byte first) written one fragment at a time.
    Fragmented {
        sender: Option<Pid>,
        body: Vec<u8>,
        offset: usize,
    },
    /// A whole frame from a sender with an earlier frame in this lane.
    Whole { sender: Option<Pid>, frame: Vec<u8> },
}

impl LargeItem {
    fn sender(&self) -> Option<Pid> {
        match self {
            LargeItem::Fragmented { sender, .. } | LargeItem::Whole { sender, .. } => *sender,
        }
    }
}

/// The queue. Frames are appended by [`Outbound::append`]; the writer drains with
/// [`Outbound::take_batch`].
pub(crate) struct Outbound {
    small: Vec<u8>,
    large: VecDeque<LargeItem>,
    /// How many items each sender has in the large lane.
    in_large: HashMap<Option<Pid>, usize>,
    bytes: usize,
    limit: usize,
    closed: bool,
}

impl Outbound {
    pub(crate) fn new(limit: usize) -> Self {
        Outbound {
            small: Vec::new(),
            large: VecDeque::new(),
            in_large: HashMap::new(),
            bytes: 0,
            limit,
            closed: false,
        }
    }

    /// Bytes waiting to be written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes the queue and drops what it held; returns how many bytes were dropped.
    pub(crate) fn close(&mut self) -> usize {
        self.closed = true;
        let dropped = self.bytes;
        self.small = Vec::new();
        self.large.clear();
        self.in_large.clear();
        self.bytes = 0;
        dropped
    }

    /// Appends one frame from `sender`, written by `write` into the queue's buffer (after
    /// [`frame::begin_frame`], before [`frame::end_frame`], both done here). `signal` frames are
    /// never refused for being over the soft limit. If `write` fails, nothing is queued and its
    /// error is returned.
    pub(crate) fn append<E>(
        &mut self,
        sender: Option<Pid>,
        kind: frame::Kind,
        signal: bool,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Queued, E> {
        if self.closed {
            return Ok(Queued::Closed);
        }
        if self.bytes >= self.limit {
            if !signal {
                return Ok(Queued::Full);
            }
            if self.bytes >= self.limit.saturating_mul(2) {
                return Ok(Queued::Overflow);
            }
        }
        let was_empty = self.bytes == 0;
        let start = frame::begin_frame(&mut self.small, kind);
        if let Err(error) = write(&mut self.small) {
            self.small.truncate(start);
            return Err(error);
        }
        frame::end_frame(&mut self.small, start);
        let len = frame::frame_len(&self.small, start);
        self.bytes += len;
        let behind_large = !self.in_large.is_empty() && self.in_large.contains_key(&sender);
        if len > frame::MAX_FRAME {
            // Too big for one frame: the body (without its length prefix) goes out in fragments.
            let mut body = self.small.split_off(start);
            body.drain(..4);
            self.push_large(LargeItem::Fragmented {
                sender,
                body,
                offset: 0,
            });
        } else if behind_large {
            let frame = self.small.split_off(start);
            self.push_large(LargeItem::Whole { sender, frame });
        }
        Ok(if was_empty {
            Queued::Wake
        } else {
            Queued::Busy
        })
    }

    fn push_large(&mut self, item: LargeItem) {
        *self.in_large.entry(item.sender()).or_default() += 1;
        self.large.push_back(item);
    }

    fn pop_large(&mut self) {
        if let Some(item) = self.large.pop_front() {
            let sender = item.sender();
            if let Some(count) = self.in_large.get_mut(&sender) {
                *count -= 1;
                if *count == 0 {
                    self.in_large.remove(&sender);
                }
            }
        }
    }

    /// Moves what should be written next into `batch` (which must be empty): everything on the
    /// small lane, then one fragment's worth of the large lane.
    pub(crate) fn take_batch(&mut self, batch: &mut Vec<u8>) {
        debug_assert!(batch.is_empty());
        std::mem::swap(&mut self.small, batch);
        let mut budget = FRAGMENT_SIZE;
        while budget > 0 {
            match self.large.front_mut() {
                Some(LargeItem::Whole { frame, .. }) => {
                    budget = budget.saturating_sub(frame.len());
                    batch.extend_from_slice(frame);
                    self.pop_large();
                }
                Some(LargeItem::Fragmented { body, offset, .. }) => {
                    budget = 0;
                    if frame::write_fragment(batch, body, offset) {
                        self.pop_large();
                    }
                }
                None => break,
            }
        }
        self.bytes = self.small.len() + self.large_bytes();
    }

    fn large_bytes(&self) -> usize {
        self.large
            .iter()
            .map(|item| match item {
                LargeItem::Fragmented { body, offset, .. } => body.len() - offset,
                LargeItem::Whole { frame, .. } => frame.len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameDecoder, Kind, Reassembler};
    use bytes::{Buf, BytesMut};

    fn push(out: &mut Outbound, sender: u64, payload: &[u8]) -> Queued {
        let sender = Some(Pid::from_parts("s@host", 1, sender));
        out.append(sender, Kind::Message, false, |buf| {
            buf.extend_from_slice(payload);
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    /// Drains the queue batch by batch and returns the payloads in the order they are read.
    fn drain(out: &mut Outbound) -> Vec<Vec<u8>> {
        let mut decoder = FrameDecoder::new(frame::MAX_FRAME);
        let mut reassembler = Reassembler::new(usize::MAX);
        let mut received = Vec::new();
        loop {
            let mut batch = Vec::new();
            out.take_batch(&mut batch);
            if batch.is_empty() {
                return received;
            }
            let mut buf = BytesMut::from(&batch[..]);
            while let Some(mut body) = decoder.decode(&mut buf).unwrap() {
                if body[0] == Kind::Fragment as u8 {
                    body.advance(1);
                    if let Some(whole) = reassembler.push(body).unwrap() {
                        received.push(whole[1..].to_vec());
                    }
                } else {
                    received.push(body[1..].to_vec());
                }
            }
        }
    }

    #[test]
    fn small_frames_go_out_in_one_batch_in_order() {
        let mut out = Outbound::new(1 << 20);
        assert_eq!(push(&mut out, 1, b"a"), Queued::Wake);
        assert_eq!(push(&mut out, 2, b"b"), Queued::Busy);
        assert_eq!(drain(&mut out), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(out.queued_bytes(), 0);
    }

    #[test]
    fn a_small_message_from_another_sender_passes_a_large_one() {
        let mut out = Outbound::new(usize::MAX);
        let large = vec![7u8; FRAGMENT_SIZE * 4];
        push(&mut out, 1, &large);
        push(&mut out, 2, b"small");
        let received = drain(&mut out);
        assert_eq!(received[0], b"small");
        assert_eq!(received[1], large);
    }

    #[test]
    fn one_senders_messages_stay_in_order_behind_its_large_one() {
        let mut out = Outbound::new(usize::MAX);
        let large = vec![7u8; FRAGMENT_SIZE * 3];
        push(&mut out, 1, &large);
        push(&mut out, 1, b"after");
        push(&mut out, 2, b"other");
        let received = drain(&mut out);
        assert_eq!(received, vec![b"other".to_vec(), large, b"after".to_vec()]);
        // The lane is empty again: the sender's next message takes the small lane.
        push(&mut out, 1, b"later");
        assert_eq!(drain(&mut out), vec![b"later".to_vec()]);
    }

    #[test]
    fn user_messages_are_refused_past_the_limit_and_signals_close_past_twice_it() {
        let mut out = Outbound::new(100);
        assert_eq!(push(&mut out, 1, &[0; 120]), Queued::Wake);
        assert_eq!(push(&mut out, 1, b"x"), Queued::Full);
        let signal = |out: &mut Outbound| {
            out.append(None, Kind::Control, true, |buf| {
                buf.extend_from_slice(&[0; 50]);
                Ok::<(), ()>(())
            })
            .unwrap()
        };
        // 125 bytes of message, then 55 per signal (5 bytes of frame header each): the third
        // signal finds 235 bytes queued, past twice the limit.
        assert_eq!(signal(&mut out), Queued::Busy);
        assert_eq!(signal(&mut out), Queued::Busy);
        assert_eq!(signal(&mut out), Queued::Overflow);
        assert_eq!(out.close(), 235);
        assert_eq!(push(&mut out, 1, b"x"), Queued::Closed);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let mut out = Outbound::new(100);
        push(&mut out, 1, b"kept");
        let result = out.append(None, Kind::Message, false, |buf| {
            buf.extend_from_slice(b"half");
            Err("no")
        });
        assert_eq!(result, Err("no"));
        assert_eq!(drain(&mut out), vec![b"kept".to_vec()]);
    }
}
