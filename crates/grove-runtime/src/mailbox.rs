//! A process's mailbox: many senders, one receiver, no allocation while idle.
//!
//! Written by hand rather than taken from tokio's or crossbeam's channels because an idle process
//! must cost a few hundred bytes in all (their queues preallocate a block or pad to cache lines),
//! and because Erlang's receive needs what channels do not offer: a receiver-side buffer that a
//! selective receive scans and leaves in order, removal of specific items (`demonitor` with flush),
//! a bound with an overflow policy, and closing with everything still queued handed back.
//!
//! The shared queue sits behind a short mutex; the receiver moves the whole queue into its private
//! buffer in one step (swapping the two `VecDeque`s), so a busy receiver takes the lock once per
//! batch, not once per message, and senders almost never meet it there.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::task::Waker;

use crate::sync::{AtomicUsize, Mutex};

/// What to do with a message that arrives at a full bounded mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the message: `try_send` returns it with an error; `send` drops it, logs and counts.
    Reject,
    /// Drop the newest (arriving) message; it is counted and logged.
    DropNewest,
    /// Kill the receiver with reason `mailbox_overflow`.
    Kill,
}

/// The outcome of a push.
#[derive(Debug)]
pub(crate) enum Push<T> {
    /// Queued; the mailbox now holds this many items in all.
    Queued(usize),
    /// The mailbox is closed (its process exited): the item is handed back.
    Closed(T),
    /// The mailbox is full; the item is handed back with the policy that applies.
    Full(T, Overflow),
}

struct Inbox<T> {
    queue: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
    /// Here rather than beside `bound`, where it would take a word of its own.
    overflow: Overflow,
}

pub(crate) struct Mailbox<T> {
    inbox: Mutex<Inbox<T>>,
    /// Items the receiver has taken into its private buffer but not consumed yet.
    receiver_len: AtomicUsize,
    bound: usize,
}

impl<T> Mailbox<T> {
    pub(crate) fn new(bound: Option<(usize, Overflow)>) -> Self {
        let (bound, overflow) = bound.unwrap_or((usize::MAX, Overflow::Reject));
        Mailbox {
            inbox: Mutex::new(Inbox {
                queue: VecDeque::new(),
                waker: None,
                closed: false,
                overflow,
            }),
            receiver_len: AtomicUsize::new(0),
            bound,
        }
    }

    /// Queues `item`. `bypass_bound` is for system signals (exits, downs), which a bound never
    /// refuses: losing one would break links and monitors.
    pub(crate) fn push(&self, item: T, bypass_bound: bool) -> Push<T> {
        let waker;
        let len;
        {
            let mut inbox = self.inbox.lock();
            if inbox.closed {
                return Push::Closed(item);
            }
            let held = inbox.queue.len() + self.receiver_len.load(Ordering::Relaxed);
            if !bypass_bound && held >= self.bound {
                return Push::Full(item, inbox.overflow);
            }
            inbox.queue.push_back(item);
            len = held + 1;
            waker = inbox.waker.take();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        Push::Queued(len)
    }

    /// Moves everything queued into the receiver's buffer `local`. When nothing is queued,
    /// registers `waker` to be woken by the next push and returns false.
    pub(crate) fn take_into(&self, local: &mut VecDeque<T>, waker: &Waker) -> bool {
        let mut inbox = self.inbox.lock();
        if inbox.queue.is_empty() {
            match &inbox.waker {
                Some(existing) if existing.will_wake(waker) => {}
                _ => inbox.waker = Some(waker.clone()),
            }
            return false;
        }
        if local.is_empty() {
            std::mem::swap(local, &mut inbox.queue);
        } else {
            local.append(&mut inbox.queue);
        }
        self.receiver_len.store(local.len(), Ordering::Relaxed);
        true
    }

    /// Records how many items the receiver's buffer still holds (for bounds and introspection).
    pub(crate) fn set_receiver_len(&self, len: usize) {
        self.receiver_len.store(len, Ordering::Relaxed);
    }

    /// Called by the receiver after it consumed an item. A bounded mailbox needs the exact count
    /// at every step; an unbounded one records it only when the buffer runs dry, sparing the
    /// receiver a write per message to a cache line the senders are using.
    pub(crate) fn note_receiver_len(&self, len: usize) {
        if self.bound != usize::MAX || len == 0 {
            self.receiver_len.store(len, Ordering::Relaxed);
        }
    }

    /// Closes the mailbox: later pushes are refused. Returns what was queued, to be dropped by the
    /// caller outside the lock.
    pub(crate) fn close(&self) -> VecDeque<T> {
        let mut inbox = self.inbox.lock();
        inbox.closed = true;
        inbox.waker = None;
        std::mem::take(&mut inbox.queue)
    }

    /// Gives back the memory the shared queue holds beyond what it needs now.
    pub(crate) fn shrink(&self) {
        self.inbox.lock().queue.shrink_to_fit();
    }

    /// Removes queued items for which `remove` is true (the receiver's buffer is the caller's).
    pub(crate) fn purge(&self, mut remove: impl FnMut(&T) -> bool) {
        let mut inbox = self.inbox.lock();
        inbox.queue.retain(|item| !remove(item));
    }

    /// Items held in all: queued plus in the receiver's buffer. For an unbounded mailbox the
    /// receiver's part is counted as of its last batch, so this may include messages of the
    /// batch it is working through.
    pub(crate) fn len(&self) -> usize {
        let queued = self.inbox.lock().queue.len();
        queued + self.receiver_len.load(Ordering::Relaxed)
    }

    /// Bytes allocated for queued items (capacity, not length).
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.inbox.lock().queue.capacity() * std::mem::size_of::<T>()
    }
}

#[cfg(all(test, not(grove_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn push_wakes_a_waiting_receiver_once() {
        let mailbox = Mailbox::new(None);
        let flag = Arc::new(Flag(Default::default()));
        let waker = Waker::from(flag.clone());
        let mut local = VecDeque::new();
        assert!(!mailbox.take_into(&mut local, &waker));
        assert!(matches!(mailbox.push(1, false), Push::Queued(1)));
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(mailbox.take_into(&mut local, &waker));
        assert_eq!(local, [1]);
    }

    #[test]
    fn bound_counts_the_receiver_buffer_and_bypass_ignores_it() {
        let mailbox = Mailbox::new(Some((2, Overflow::Reject)));
        let waker = Waker::noop();
        let mut local = VecDeque::new();
        assert!(matches!(mailbox.push(1, false), Push::Queued(1)));
        assert!(mailbox.take_into(&mut local, waker));
        assert!(matches!(mailbox.push(2, false), Push::Queued(2)));
        assert!(matches!(
            mailbox.push(3, false),
            Push::Full(3, Overflow::Reject)
        ));
        assert!(matches!(mailbox.push(4, true), Push::Queued(3)));
        assert_eq!(mailbox.len(), 3);
    }

    #[test]
    fn close_hands_back_the_queue_and_refuses_more() {
        let mailbox = Mailbox::new(None);
        mailbox.push("a", false);
        mailbox.push("b", false);
        let left = mailbox.close();
        assert_eq!(left, ["a", "b"]);
        assert!(matches!(mailbox.push("c", false), Push::Closed("c")));
    }
}

#[cfg(all(test, grove_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::loom_model as model;
    use loom::sync::Arc;

    /// Two senders and a receiver: every item arrives exactly once, each sender's in order,
    /// whatever the interleaving of pushes, takes and waker registration.
    #[test]
    fn loom_mailbox_loses_nothing_and_keeps_sender_order() {
        model(|| {
            let mailbox = Arc::new(Mailbox::new(None));
            let senders: Vec<_> = (0..2)
                .map(|s| {
                    let mailbox = mailbox.clone();
                    loom::thread::spawn(move || {
                        for i in 0..2 {
                            assert!(matches!(mailbox.push((s, i), false), Push::Queued(_)));
                        }
                    })
                })
                .collect();
            let mut local = VecDeque::new();
            let mut got = Vec::new();
            loom::future::block_on(std::future::poll_fn(|cx| {
                while got.len() < 4 {
                    if let Some(item) = local.pop_front() {
                        got.push(item);
                        continue;
                    }
                    if !mailbox.take_into(&mut local, cx.waker()) {
                        return std::task::Poll::Pending;
                    }
                }
                std::task::Poll::Ready(())
            }));
            for sender in senders {
                sender.join().unwrap();
            }
            for s in 0..2 {
                let mine: Vec<_> = got.iter().filter(|(who, _)| *who == s).collect();
                assert_eq!(mine, [&(s, 0), &(s, 1)]);
            }
        });
    }

    /// A push racing with close is either queued before the close (and handed back by it) or
    /// refused: never silently lost.
    #[test]
    fn loom_close_races_push_without_loss() {
        model(|| {
            let mailbox = Arc::new(Mailbox::new(None));
            let sender = {
                let mailbox = mailbox.clone();
                loom::thread::spawn(move || matches!(mailbox.push(7, false), Push::Queued(_)))
            };
            let left = mailbox.close();
            let queued = sender.join().unwrap();
            assert_eq!(queued, left.contains(&7));
        });
    }
}
