//! The handle a process runs with: its mailbox, its identity, and the Erlang primitives that act
//! on "self" (receive, links, monitors, trapping exits, spawning children).
//!
//! ```
//! use std::time::Duration;
//! use grove_runtime::{Context, Message, ExitReason};
//!
//! async fn parent(mut ctx: Context<()>) -> ExitReason {
//!     ctx.trap_exit(true);
//!     let child = ctx.spawn_link(|_: Context<()>| async { ExitReason::error("crashed") });
//!     match ctx.recv_timeout(Duration::from_secs(1)).await {
//!         Some(Message::Exit(exit)) if exit.from == child.pid() => exit.reason,
//!         _ => ExitReason::error("no exit signal"),
//!     }
//! }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Duration;

use crate::cell::{AnyCell, ProcessCell, Status};
use crate::current::LinkError;
use crate::dest::Dest;
use crate::exit::{ExitReason, IntoExitReason};
use crate::message::Message;
use crate::pid::{Addr, Pid, Ref};
use crate::process::{spawn_inner, SpawnError, SpawnOptions, Spawned};
use crate::{signal, table};

/// A running process's handle on itself. Owned by the process function; not `Clone`.
pub struct Context<M: Send + 'static> {
    cell: Arc<ProcessCell<M>>,
    /// Messages taken from the shared queue and not consumed yet, in arrival order.
    local: VecDeque<Message<M>>,
    handled: u64,
}

impl<M: Send + 'static> Context<M> {
    pub(crate) fn new(cell: Arc<ProcessCell<M>>) -> Self {
        Context {
            cell,
            local: VecDeque::new(),
            handled: 0,
        }
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.cell.shared.pid
    }

    /// This process's typed address, to hand to others so they can send to it.
    pub fn addr(&self) -> Addr<M> {
        self.cell.shared.pid.assume_type()
    }

    fn me(&self) -> &dyn AnyCell {
        &*self.cell
    }

    /// Receives the next message, waiting as long as it takes.
    ///
    /// Cancel-safe: if the future is dropped (in a `select!`, or by a timeout), no message is
    /// lost; it stays first in the mailbox.
    pub fn recv(&mut self) -> Recv<'_, M> {
        Recv { ctx: self }
    }

    /// Receives the next message, or `None` if none arrives within `timeout`
    /// (Erlang's `receive ... after`).
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Message<M>> {
        tokio::time::timeout(timeout, self.recv()).await.ok()
    }

    /// Selective receive: takes the first message for which `matches` is true, leaving the
    /// others in the mailbox in their order. Cancel-safe like [`Context::recv`].
    pub fn recv_match<F>(&mut self, matches: F) -> RecvMatch<'_, M, F>
    where
        F: FnMut(&Message<M>) -> bool,
    {
        RecvMatch {
            ctx: self,
            matches,
            scanned: 0,
        }
    }

    /// Selective receive with a timeout: `None` if no matching message arrives in time.
    pub async fn recv_match_timeout<F>(
        &mut self,
        matches: F,
        timeout: Duration,
    ) -> Option<Message<M>>
    where
        F: FnMut(&Message<M>) -> bool,
    {
        tokio::time::timeout(timeout, self.recv_match(matches))
            .await
            .ok()
    }

    /// Messages waiting in the mailbox (queued plus taken but not yet received).
    pub fn mailbox_len(&self) -> usize {
        self.cell.mailbox.len()
    }

    /// Gives back the memory the mailbox's buffers hold beyond what the waiting messages need:
    /// after a burst, a process that will now sit idle for a long time stops holding the burst's
    /// peak. This is the part of Erlang's `hibernate` that applies to Grove: a process's own
    /// state is the program's to shrink.
    pub fn shrink_mailbox(&mut self) {
        self.local.shrink_to_fit();
        self.cell.mailbox.shrink();
    }

    /// Sets whether this process traps exits. Trapping turns exit signals from links (and
    /// `exit/2`) into [`Message::Exit`] messages instead of killing the process, except an
    /// explicit [`ExitReason::Kill`]. Returns the previous setting.
    pub fn trap_exit(&mut self, trap: bool) -> bool {
        let mut control = self.cell.shared.control.lock();
        std::mem::replace(&mut control.trap_exit, trap)
    }

    /// Links this process with `to` (a pid, or whoever holds a local or `via` name now): when
    /// either exits abnormally, the other gets an exit signal.
    ///
    /// Linking to a process that is not alive (or a name nobody holds) delivers `noproc` at
    /// once, as a broken link would: a [`Message::Exit`] if this process traps exits, and
    /// otherwise this process *dies with `noproc` at its next await*. To handle a dead pid
    /// instead, use [`Context::try_link`], which is OTP's `link/1`. A name on another node
    /// cannot be linked by name (OTP's `link/1` takes pids): it is logged and treated as
    /// `noproc`; [`Context::try_link`] refuses it.
    pub fn link(&mut self, to: impl Into<Dest>) {
        link_from(self.me(), to.into());
    }

    /// Links this process with `to` as OTP's `link/1` does: if `to` is a local process that is
    /// not alive (or a name nobody holds), a process that traps exits gets
    /// `Exit { reason: noproc }` and `Ok`; one that does not gets [`LinkError::NoProc`] and no
    /// signal, so it can carry on. (A pid of another node is linked through the distribution
    /// layer, which reports a lost node as `noconnection` on the link.)
    ///
    /// ```
    /// use grove_runtime::{run, Context, LinkError};
    ///
    /// run(|mut ctx: Context<()>| async move {
    ///     let short = ctx.spawn(|_: Context<()>| async {});
    ///     grove_runtime::await_exit(short.pid()).await;
    ///     assert_eq!(ctx.try_link(short), Err(LinkError::NoProc(short.pid())));
    ///     // Still alive: the failed link sent no signal.
    /// });
    /// ```
    pub fn try_link(&mut self, to: impl Into<Dest>) -> Result<(), LinkError> {
        crate::current::try_link_from(self.me(), to.into())
    }

    /// Removes the link with `pid`. Once this returns, that link can no longer affect this
    /// process (a trapped `Exit` may already be in the mailbox, as in Erlang).
    pub fn unlink(&mut self, pid: impl Into<Pid>) {
        signal::unlink(self.me(), pid.into(), &table::Global);
    }

    /// Watches `to`: when it exits, this process receives one [`Message::Down`] with the
    /// returned reference. `to` is a pid, or a name: whoever holds it now is watched (a name on
    /// another node is resolved there). Watching a dead process, or a name nobody holds, gives
    /// `Down` with `noproc` at once.
    pub fn monitor(&mut self, to: impl Into<Dest>) -> Ref {
        crate::dest::monitor(self.me(), to.into())
    }

    /// Stops the monitor `reference`; no `Down` for it arrives afterwards. With `flush`, a `Down`
    /// that had already arrived is removed from the mailbox too. Returns true if the monitor was
    /// still active.
    pub fn demonitor(&mut self, reference: Ref, flush: bool) -> bool {
        let active = signal::demonitor(self.me(), reference, &table::Global);
        if flush {
            let is_down =
                |m: &Message<M>| matches!(m, Message::Down(down) if down.reference == reference);
            self.local.retain(|m| !is_down(m));
            self.cell.mailbox.set_receiver_len(self.local.len());
            self.cell.purge_down(reference);
        }
        active
    }

    /// Sends an exit signal with `reason` to `pid`, as Erlang's `exit/2`: `Kill` kills it even if
    /// it traps exits; `Normal` is ignored unless it traps exits; any other reason kills it unless
    /// it traps exits, in which case it receives [`Message::Exit`].
    pub fn exit(&self, pid: impl Into<Pid>, reason: ExitReason) {
        let pid = pid.into();
        if !pid.is_local() {
            crate::remote::exit(pid, self.pid(), reason);
        } else if let Some(cell) = table::lookup(pid) {
            signal::deliver_exit(&*cell, self.pid(), reason, false);
        }
    }

    /// Spawns a child process (not linked). Its parent, for introspection, is this process.
    pub fn spawn<N, F, Fut>(&mut self, f: F) -> Addr<N>
    where
        N: Send + 'static,
        F: FnOnce(Context<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_or_panic(SpawnOptions::new(), f).addr
    }

    /// Spawns a child linked to this process, atomically (Erlang's `spawn_link`).
    pub fn spawn_link<N, F, Fut>(&mut self, f: F) -> Addr<N>
    where
        N: Send + 'static,
        F: FnOnce(Context<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_or_panic(SpawnOptions::new().link(true), f).addr
    }

    /// Spawns a child monitored by this process, atomically (Erlang's `spawn_monitor`).
    pub fn spawn_monitor<N, F, Fut>(&mut self, f: F) -> (Addr<N>, Ref)
    where
        N: Send + 'static,
        F: FnOnce(Context<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let spawned = self.spawn_or_panic(SpawnOptions::new().monitor(true), f);
        let reference = spawned.monitor.unwrap_or_default();
        (spawned.addr, reference)
    }

    /// Spawns a child with options (name, trapping, mailbox bound, link, monitor).
    pub fn spawn_opt<N, F, Fut>(
        &mut self,
        options: SpawnOptions,
        f: F,
    ) -> Result<Spawned<N>, SpawnError>
    where
        N: Send + 'static,
        F: FnOnce(Context<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        spawn_inner(Some(self.me()), options, f)
    }

    fn spawn_or_panic<N, F, Fut>(&mut self, options: SpawnOptions, f: F) -> Spawned<N>
    where
        N: Send + 'static,
        F: FnOnce(Context<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        match spawn_inner(Some(self.me()), options, f) {
            Ok(spawned) => spawned,
            // Only a name can make spawning fail, and these calls take no name; and a process
            // always runs inside a runtime.
            Err(error) => panic!("grove spawn failed: {error}"),
        }
    }

    fn consumed(&mut self) {
        self.handled += 1;
        self.cell
            .shared
            .handled
            .store(self.handled, Ordering::Relaxed);
        self.cell.mailbox.note_receiver_len(self.local.len());
    }

    fn fill(&mut self, cx: &mut TaskContext<'_>) -> bool {
        if self.cell.mailbox.take_into(&mut self.local, cx.waker()) {
            true
        } else {
            let shared = &self.cell.shared;
            shared.set_status(Status::Waiting);
            // Caught up with the mailbox: a later flood may be reported again.
            if shared.large_mailbox_reported.load(Ordering::Relaxed) {
                shared
                    .large_mailbox_reported
                    .store(false, Ordering::Relaxed);
            }
            false
        }
    }
}

/// The future returned by [`Context::recv`].
pub struct Recv<'a, M: Send + 'static> {
    ctx: &'a mut Context<M>,
}

impl<M: Send + 'static> Future for Recv<'_, M> {
    type Output = Message<M>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Message<M>> {
        let ctx = &mut *self.get_mut().ctx;
        // Take part in tokio's cooperative budget, so a process with a full mailbox still lets
        // the other processes on its worker thread run.
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        loop {
            if let Some(message) = ctx.local.pop_front() {
                coop.made_progress();
                ctx.consumed();
                return Poll::Ready(message);
            }
            if !ctx.fill(cx) {
                return Poll::Pending;
            }
        }
    }
}

/// The future returned by [`Context::recv_match`].
pub struct RecvMatch<'a, M: Send + 'static, F> {
    ctx: &'a mut Context<M>,
    matches: F,
    /// Messages at the front of the buffer already found not to match.
    scanned: usize,
}

// The predicate is only ever called through `&mut`, never pinned, so the future may move.
impl<M: Send + 'static, F> Unpin for RecvMatch<'_, M, F> {}

impl<M: Send + 'static, F: FnMut(&Message<M>) -> bool> Future for RecvMatch<'_, M, F> {
    type Output = Message<M>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Message<M>> {
        let this = self.get_mut();
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        loop {
            while this.scanned < this.ctx.local.len() {
                if (this.matches)(&this.ctx.local[this.scanned]) {
                    if let Some(message) = this.ctx.local.remove(this.scanned) {
                        coop.made_progress();
                        this.ctx.consumed();
                        return Poll::Ready(message);
                    }
                }
                this.scanned += 1;
            }
            if !this.ctx.fill(cx) {
                return Poll::Pending;
            }
        }
    }
}

/// `Context::link` for the process `me`.
pub(crate) fn link_from(me: &dyn crate::cell::AnyCell, to: Dest) {
    let pid = match crate::dest::link_target(to) {
        Ok(pid) => pid,
        Err(crate::dest::Unlinkable::RemoteName(name, node)) => {
            tracing::warn!(%name, %node, "a name on another node cannot be linked by name (link to its pid); treated as noproc");
            Pid::nobody()
        }
    };
    let _ = signal::link(me, pid, &table::Global, signal::IfDead::Signal);
}
