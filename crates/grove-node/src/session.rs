//! One peer node as this node sees it: the outbound queue, the links and monitors that cross
//! to it, the calls and requests waiting for its answers, and what happens when it goes away.
//!
//! A session exists from the first use of a peer (or its first connection) until the
//! connection is lost. Messages sent while it is still connecting queue up and go out once the
//! handshake is done. When it closes, every local process linked to a process there gets the
//! exit signal `noconnection`, every monitor of one fires `Down` with `noconnection`, calls
//! waiting for a reply fail with `Exited(noconnection)`, and what was still queued is dropped
//! and counted. The next use of the peer starts a new session.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::rt;
use grove_runtime::{ExitReason, Pid, Ref};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{oneshot, Notify};

use crate::frame::Kind;
use crate::handshake::PeerInfo;
use crate::node::NodeInner;
use crate::outbound::{Outbound, Queued};
use crate::protocol::{CallFailure, Control, ReplyHeader, Response};
use crate::types::PendingReply;

/// Where a session is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Handshaking (ours or the peer's); frames queue until it is done.
    Connecting,
    /// Up with this peer.
    Up(PeerInfo),
    /// Gone; its relations have fired.
    Closed,
}

/// Links and monitors that cross this connection.
#[derive(Default)]
struct Relations {
    /// (local, remote) pairs, whichever side made the link.
    links: HashSet<(Pid, Pid)>,
    /// Monitors local processes hold on the peer's processes (or on the peer node itself):
    /// reference -> (local watcher, remote target).
    monitors: HashMap<Ref, (Pid, Pid)>,
    /// Monitors the peer's processes hold on local ones: reference -> (local target, remote
    /// watcher).
    monitored: HashMap<Ref, (Pid, Pid)>,
}

use crate::stats::Stats;

pub(crate) struct Session {
    /// The node, to close this session through (which also forgets it and reports it).
    node: Weak<NodeInner>,
    pub(crate) peer_name: Arc<str>,
    pub(crate) node_index: u32,
    phase: Mutex<Phase>,
    pub(crate) out: Mutex<Outbound>,
    /// Wakes the writer when the queue goes from empty to not.
    pub(crate) wake: Notify,
    /// Wakes those in [`Session::wait_for_room`] when the writer has taken the queue down to
    /// `busy_limit`, or the session closed.
    pub(crate) room: Notify,
    pub(crate) busy_limit: usize,
    /// Wakes those waiting for the session to come up or close.
    pub(crate) phase_changed: Notify,
    rel: Mutex<Relations>,
    calls: Mutex<HashMap<u64, Box<dyn PendingReply>>>,
    requests: Mutex<HashMap<u64, oneshot::Sender<Response>>>,
    closed: AtomicBool,
    /// The peer's creation once up (0 before).
    peer_creation: AtomicU32,
    next_id: AtomicU64,
    /// Milliseconds since `epoch` of the last bytes read, the last bytes written, and the last
    /// progress of a write that is under way.
    pub(crate) last_read: AtomicU64,
    pub(crate) last_write: AtomicU64,
    pub(crate) writing_since: AtomicU64,
    /// Set while the reader waits for room in the node's reassembly budget: it reads nothing
    /// then, so the peer's silence says nothing about the peer.
    pub(crate) reading_paused: AtomicBool,
    epoch: Instant,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    stats: Arc<Stats>,
}

impl Session {
    pub(crate) fn new(
        node: Weak<NodeInner>,
        peer_name: Arc<str>,
        node_index: u32,
        queue_limit: usize,
        busy_limit: usize,
        stats: Arc<Stats>,
    ) -> Arc<Session> {
        Arc::new(Session {
            node,
            peer_name,
            node_index,
            phase: Mutex::new(Phase::Connecting),
            out: Mutex::new(Outbound::new(queue_limit)),
            wake: Notify::new(),
            room: Notify::new(),
            busy_limit,
            phase_changed: Notify::new(),
            rel: Mutex::new(Relations::default()),
            calls: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            peer_creation: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            last_read: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            writing_since: AtomicU64::new(0),
            reading_paused: AtomicBool::new(false),
            epoch: Instant::now(),
            tasks: Mutex::new(Vec::new()),
            stats,
        })
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase.lock().clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Milliseconds since the session began (the time base of `last_*`).
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks the session up with `peer`; false if it was closed meanwhile.
    pub(crate) fn set_up(&self, peer: PeerInfo) -> bool {
        {
            let mut phase = self.phase.lock();
            if *phase == Phase::Closed {
                return false;
            }
            self.peer_creation.store(peer.creation, Ordering::Release);
            *phase = Phase::Up(peer);
        }
        let now = self.now_ms();
        self.last_read.store(now, Ordering::Relaxed);
        self.last_write.store(now, Ordering::Relaxed);
        self.phase_changed.notify_waiters();
        true
    }

    pub(crate) fn add_task(&self, handle: tokio::task::AbortHandle) {
        if self.is_closed() {
            handle.abort();
        } else {
            self.tasks.lock().push(handle);
        }
    }

    /// True when `pid` is from an earlier life of the peer: it names a process that is gone.
    pub(crate) fn is_stale(&self, pid: Pid) -> bool {
        let creation = self.peer_creation.load(Ordering::Acquire);
        creation != 0 && pid.id() != 0 && pid.creation() != creation
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a control signal. Signals are never dropped for space: past the hard limit the
    /// session closes instead, and everything over it fires `noconnection`.
    pub(crate) fn signal(&self, sender: Option<Pid>, control: &Control) {
        let queued = self.out.lock().append(sender, Kind::Control, true, |buf| {
            postcard_into(buf, control)
        });
        self.after_queue(queued.unwrap_or(Queued::Busy), "signal");
    }

    /// Reacts to what the queue did with a frame.
    pub(crate) fn after_queue(&self, queued: Queued, what: &str) {
        match queued {
            Queued::Wake => self.wake.notify_one(),
            Queued::Busy | Queued::Closed => {}
            Queued::Full => {
                if let Some(dropped) = crate::stats::bump(&self.stats.dropped_queue_full) {
                    tracing::warn!(
                        peer = %self.peer_name,
                        dropped,
                        "the outbound queue to this node is full (it is not reading fast enough): {what} dropped"
                    );
                }
            }
            Queued::Overflow => {
                let why = format!(
                    "signals to {} overflowed the outbound queue (the peer stopped reading)",
                    self.peer_name
                );
                match self.node.upgrade() {
                    Some(node) => node.close_session(self, why),
                    None => {
                        self.close(why);
                    }
                }
            }
        }
    }

    /// Moves the next batch to write into `batch` (see `Outbound::take_batch`) and wakes the
    /// producers in [`Session::wait_for_room`] if that took the queue down to the busy limit.
    /// False when the session is closed.
    pub(crate) fn take_batch(&self, batch: &mut Vec<u8>) -> bool {
        let mut out = self.out.lock();
        if out.is_closed() {
            return false;
        }
        let was_busy = out.queued_bytes() > self.busy_limit;
        out.take_batch(batch);
        if was_busy && out.queued_bytes() <= self.busy_limit {
            // Waiters checked under this lock, so none can miss this. They fill the next batch
            // while this one is written.
            self.room.notify_waiters();
        }
        true
    }

    /// Returns once at most `busy_limit` bytes wait in the queue, or the session is closed.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between the check and the wait counts.
            notified.as_mut().enable();
            {
                let out = self.out.lock();
                if out.is_closed() || out.queued_bytes() <= self.busy_limit {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Queues the reply to a remote call.
    pub(crate) fn send_reply(&self, call: u64, outcome: Result<Vec<u8>, CallFailure>) {
        let (header, payload) = match outcome {
            Ok(payload) => (
                ReplyHeader {
                    call,
                    outcome: Ok(()),
                },
                payload,
            ),
            Err(failure) => (
                ReplyHeader {
                    call,
                    outcome: Err(failure),
                },
                Vec::new(),
            ),
        };
        let queued = self.out.lock().append(None, Kind::Reply, true, |buf| {
            postcard_into(buf, &header)?;
            buf.extend_from_slice(&payload);
            Ok::<(), String>(())
        });
        self.after_queue(queued.unwrap_or(Queued::Busy), "reply");
    }

    /// Keeps a call's pending reply under `id`. If the session closed meanwhile, the call fails
    /// at once with `noconnection`.
    pub(crate) fn add_call(&self, id: u64, pending: Box<dyn PendingReply>) {
        if self.is_closed() {
            pending.complete(Err(CallFailure::Exited(ExitReason::NoConnection)));
            return;
        }
        let mut calls = self.calls.lock();
        if calls.len() >= 1024 && calls.len().is_power_of_two() {
            // Callers that timed out leave their entries behind; sweep them now and then.
            calls.retain(|_, pending| pending.is_waiting());
        }
        calls.insert(id, pending);
    }

    pub(crate) fn take_call(&self, id: u64) -> Option<Box<dyn PendingReply>> {
        self.calls.lock().remove(&id)
    }

    /// Sends a request and returns its id and where its response will arrive; the receiver
    /// errors if the session closes first.
    pub(crate) fn request(
        &self,
        request: crate::protocol::Request,
    ) -> (u64, oneshot::Receiver<Response>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id();
        if !self.is_closed() {
            self.requests.lock().insert(id, tx);
            self.signal(None, &Control::Request { id, request });
        }
        (id, rx)
    }

    /// Drops a request whose caller stopped waiting; a late response is then ignored.
    pub(crate) fn forget_request(&self, id: u64) {
        self.requests.lock().remove(&id);
    }

    pub(crate) fn respond(&self, id: u64, response: Response) {
        if let Some(tx) = self.requests.lock().remove(&id) {
            let _ = tx.send(response);
        }
    }

    /// Records a link between the local `local` and the peer's `remote`. False if the session
    /// is closed: the caller fires `noconnection`.
    pub(crate) fn add_link(&self, local: Pid, remote: Pid) -> bool {
        let mut rel = self.rel.lock();
        if self.is_closed() {
            return false;
        }
        rel.links.insert((local, remote));
        true
    }

    /// The peer asks to link its `remote` with the local `local`. False (adding nothing) when
    /// `local` is not alive or the session is closed.
    pub(crate) fn accept_link(&self, local: Pid, remote: Pid) -> bool {
        let mut rel = self.rel.lock();
        if self.is_closed() || !local.is_local() || !rt::accept_link(local, remote) {
            return false;
        }
        rel.links.insert((local, remote));
        true
    }

    pub(crate) fn remove_link(&self, local: Pid, remote: Pid) {
        self.rel.lock().links.remove(&(local, remote));
    }

    /// Records a monitor the local `watcher` holds on the peer's `target`. False if closed.
    pub(crate) fn add_monitor(&self, reference: Ref, watcher: Pid, target: Pid) -> bool {
        let mut rel = self.rel.lock();
        if self.is_closed() {
            return false;
        }
        rel.monitors.insert(reference, (watcher, target));
        true
    }

    pub(crate) fn remove_monitor(&self, reference: Ref) -> bool {
        self.rel.lock().monitors.remove(&reference).is_some()
    }

    /// The peer's `watcher` monitors the local `target`. False when `target` is not alive or
    /// the session is closed.
    pub(crate) fn accept_monitor(&self, reference: Ref, target: Pid, watcher: Pid) -> bool {
        let mut rel = self.rel.lock();
        if self.is_closed() || !target.is_local() || !rt::accept_monitor(target, reference, watcher)
        {
            return false;
        }
        rel.monitored.insert(reference, (target, watcher));
        true
    }

    /// Forgets the peer's monitor `reference`; returns the local process it watched.
    pub(crate) fn remove_monitored(&self, reference: Ref) -> Option<Pid> {
        self.rel
            .lock()
            .monitored
            .remove(&reference)
            .map(|(target, _)| target)
    }

    /// Closes the session only if it never came up: a failed connection attempt must not close
    /// a session that came up meanwhile through the peer's own connection to us.
    pub(crate) fn close_if_connecting(&self, why: String) -> bool {
        {
            let mut phase = self.phase.lock();
            if *phase != Phase::Connecting {
                return false;
            }
            *phase = Phase::Closed;
        }
        self.close(why)
    }

    /// Closes the session: stops its tasks, drops its queue, and fires `noconnection` for
    /// every link, monitor and call over it. Idempotent; returns false if it was closed already.
    pub(crate) fn close(&self, why: String) -> bool {
        let relations = {
            let mut rel = self.rel.lock();
            if self.closed.swap(true, Ordering::AcqRel) {
                return false;
            }
            std::mem::take(&mut *rel)
        };
        let was_up = matches!(
            std::mem::replace(&mut *self.phase.lock(), Phase::Closed),
            Phase::Up(_)
        );
        let dropped = self.out.lock().close();
        if dropped > 0 {
            self.stats
                .dropped_on_disconnect_bytes
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.wake.notify_one();
        self.room.notify_waiters();
        self.phase_changed.notify_waiters();
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        if was_up {
            tracing::warn!(peer = %self.peer_name, "connection lost: {why}");
        } else {
            tracing::info!(peer = %self.peer_name, "could not connect: {why}");
        }
        for (local, remote) in relations.links {
            rt::deliver_link_exit(local, remote, ExitReason::NoConnection);
        }
        for (reference, (watcher, target)) in relations.monitors {
            rt::deliver_down(watcher, reference, target, ExitReason::NoConnection);
        }
        for (reference, (target, _)) in relations.monitored {
            rt::remove_monitor(target, reference);
        }
        let calls = std::mem::take(&mut *self.calls.lock());
        for (_, pending) in calls {
            pending.complete(Err(CallFailure::Exited(ExitReason::NoConnection)));
        }
        self.requests.lock().clear();
        true
    }
}

/// Writes `value` postcard-encoded at the end of `buf`.
pub(crate) fn postcard_into<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), String> {
    postcard::to_io(value, buf)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(queue_limit: usize, busy_limit: usize) -> Arc<Session> {
        Session::new(
            Weak::new(),
            Arc::from("peer@host"),
            1,
            queue_limit,
            busy_limit,
            Arc::default(),
        )
    }

    /// Queues a message of about `bytes` bytes, as a send does.
    fn fill(session: &Session, bytes: usize) {
        let queued = session
            .out
            .lock()
            .append(None, Kind::Message, false, |buf| {
                buf.resize(buf.len() + bytes, 0);
                Ok::<(), ()>(())
            });
        assert!(
            matches!(queued, Ok(Queued::Wake | Queued::Busy)),
            "{queued:?}"
        );
    }

    fn waiter(session: &Arc<Session>) -> tokio::task::JoinHandle<()> {
        let session = session.clone();
        tokio::spawn(async move { session.wait_for_room().await })
    }

    /// True if `task` is still waiting after the (single-threaded) runtime ran everything else.
    async fn still_waiting(task: &tokio::task::JoinHandle<()>) -> bool {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        !task.is_finished()
    }

    async fn finishes(task: tokio::task::JoinHandle<()>) {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the producer was released")
            .expect("the producer ran");
    }

    #[tokio::test]
    async fn a_producer_waits_while_the_queue_is_past_the_busy_limit_until_the_writer_takes_it() {
        let session = session(1 << 20, 1000);
        fill(&session, 600);
        // At or below the busy limit: no wait.
        session.wait_for_room().await;
        fill(&session, 600);
        let producer = waiter(&session);
        assert!(still_waiting(&producer).await);
        // A batch the writer takes while the queue is not busy wakes nobody, and hurts nothing.
        let mut batch = Vec::new();
        assert!(session.take_batch(&mut batch));
        assert!(batch.len() > 1200);
        finishes(producer).await;
        assert_eq!(session.out.lock().queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_closed_session_releases_its_waiting_producers() {
        let session = session(1 << 20, 100);
        fill(&session, 500);
        let producers = [waiter(&session), waiter(&session)];
        for producer in &producers {
            assert!(still_waiting(producer).await);
        }
        session.close("closed by the test".to_string());
        for producer in producers {
            finishes(producer).await;
        }
        let mut batch = Vec::new();
        assert!(
            !session.take_batch(&mut batch),
            "a closed session has nothing to write"
        );
        // And a producer that comes later does not wait at all.
        session.wait_for_room().await;
    }
}
