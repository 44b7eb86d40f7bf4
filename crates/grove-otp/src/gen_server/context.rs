//! What a `GenServer`'s callbacks get besides their state: the server's identity, its parent, and
//! the requests a callback makes of the loop that runs it (stop, continue, idle timeout,
//! hibernate), plus the process primitives a server uses (timers, monitors, links).

use std::time::Duration;

use grove_runtime::{Context, Dest, ExitReason, Pid, Ref, TimerRef};

use super::request::Handler;
use super::{Cast, Envelope, GenServer, Server};

/// A running server's handle on itself, passed to every callback.
pub struct ServerContext<S: GenServer> {
    pub(crate) process: Context<Envelope<S>>,
    pub(crate) parent: Option<Pid>,
    pub(crate) stop: Option<ExitReason>,
    pub(crate) next: Option<Box<dyn Handler<S>>>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) hibernate: bool,
    /// Suspended by `sys::suspend`: only system requests (and the parent's exit) are handled.
    pub(crate) suspended: bool,
    /// `sys::trace` is on: each message is logged in and out.
    pub(crate) tracing: bool,
}

impl<S: GenServer> ServerContext<S> {
    pub(crate) fn new(process: Context<Envelope<S>>, parent: Option<Pid>) -> Self {
        ServerContext {
            process,
            parent,
            stop: None,
            next: None,
            idle_timeout: None,
            hibernate: false,
            suspended: false,
            tracing: false,
        }
    }

    /// This server's pid.
    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// This server's handle, to give to others.
    pub fn server(&self) -> Server<S> {
        Server::from_addr(self.process.addr())
    }

    /// The process that started this server linked (its supervisor), if any. An exit signal from
    /// it stops the server (calling `terminate`) when the server traps exits.
    pub fn parent(&self) -> Option<Pid> {
        self.parent
    }

    /// Stops the server once the current callback returns: `terminate` runs with `reason`, then
    /// the server exits with it (OTP's `{stop, Reason, ...}`). Reply first if a caller waits.
    pub fn stop(&mut self, reason: ExitReason) {
        self.stop = Some(reason);
    }

    /// Handles `next` as a cast right after the current callback, before any message is
    /// received (OTP's `{continue, Term}` and `handle_continue`): the way `init` returns quickly
    /// and leaves slow setup for just after the starter has been released.
    pub fn continue_with<M: Send + 'static>(&mut self, next: M)
    where
        S: Cast<M>,
    {
        self.next = Some(super::request::cast(next));
    }

    /// If no message arrives within `timeout` after the current callback, `handle_info` gets
    /// [`super::Info::Timeout`] (OTP's timeout in a callback's return). Any message cancels it;
    /// set it again in each callback that wants it.
    pub fn idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = Some(timeout);
    }

    /// After the current callback, gives back the memory the mailbox buffers hold beyond what the
    /// waiting messages need (OTP's `hibernate`, for the part Grove owns). Worth it for a server
    /// that just handled a burst and will now be idle for long.
    pub fn hibernate(&mut self) {
        self.hibernate = true;
    }

    /// Casts `message` to this server after `delay` (OTP's `erlang:send_after(Delay, self(),
    /// Msg)`; the message goes to `Cast<M>::handle_cast`). The timer dies with the server.
    pub fn send_after<M: Send + 'static>(&self, message: M, delay: Duration) -> TimerRef
    where
        S: Cast<M>,
    {
        grove_runtime::send_after(self.process.addr(), Envelope::cast_of(message), delay)
    }

    /// Monitors `to` (a pid, or whoever holds a name now): its exit arrives as
    /// [`super::Info::Down`].
    pub fn monitor(&mut self, to: impl Into<Dest>) -> Ref {
        self.process.monitor(to)
    }

    /// Stops a monitor; with `flush`, a `Down` already received is dropped too.
    pub fn demonitor(&mut self, reference: Ref, flush: bool) -> bool {
        self.process.demonitor(reference, flush)
    }

    /// Links this server with `to` (a pid, or whoever holds a local name now); see
    /// [`Context::link`].
    pub fn link(&mut self, to: impl Into<Dest>) {
        self.process.link(to)
    }

    /// Removes the link with `pid`.
    pub fn unlink(&mut self, pid: impl Into<Pid>) {
        self.process.unlink(pid)
    }

    /// Sets whether this server traps exits; returns the previous setting. A trapping server
    /// gets exits from its links as [`super::Info::Exit`], except its parent's, which stop it
    /// with `terminate` called.
    pub fn trap_exit(&mut self, trap: bool) -> bool {
        self.process.trap_exit(trap)
    }

    /// The process underneath, for what this type does not wrap (spawning linked helpers,
    /// sending exit signals). Do not receive from it: the server's loop owns the mailbox.
    pub fn process(&mut self) -> &mut Context<Envelope<S>> {
        &mut self.process
    }
}
