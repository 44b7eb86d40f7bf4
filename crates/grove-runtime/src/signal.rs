//! The link, monitor and exit-signal protocol between two process records.
//!
//! Each process has one short lock (its `Control`). No code ever holds two of them at once, so
//! there is no lock order to get wrong; instead each operation is arranged so that every race
//! ends in the state Erlang promises:
//!
//! - An exit travelling along a link is delivered only if the *receiver* still has the link, and
//!   the check and delivery happen under the receiver's lock. So once `unlink` has removed the link
//!   on the caller's side, no exit from that link can reach the caller afterwards (one may already
//!   be queued as a trapped `Exit` message, as in Erlang).
//! - `link` adds the link on the caller's side *before* the other side, so if the other process
//!   dies in between, its exit finds the link and is delivered.
//! - A `Down` is delivered only if the watcher still holds the monitor, checked under the
//!   watcher's lock; `demonitor` removes it under the same lock, so no `Down` follows it.
//!
//! These functions take the records they act on and a `lookup` for the ones they find by pid, so
//! the protocol is checked with loom without a process table or a scheduler.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cell::{AnyCell, Relations, SystemMessage};
use crate::exit::ExitReason;
use crate::message::{Down, Exit};
use crate::pid::{Pid, Ref};

/// Finds the live record of a local pid.
pub(crate) trait Lookup {
    fn lookup(&self, pid: Pid) -> Option<Arc<dyn AnyCell>>;
}

impl<F: Fn(Pid) -> Option<Arc<dyn AnyCell>>> Lookup for F {
    fn lookup(&self, pid: Pid) -> Option<Arc<dyn AnyCell>> {
        self(pid)
    }
}

/// Delivers an exit signal from `from` to `target` following Erlang's rules.
///
/// `via_link`: the signal comes from a broken link, and is dropped if the target no longer has
/// that link. Otherwise it was sent explicitly with `exit/2`.
pub(crate) fn deliver_exit(target: &dyn AnyCell, from: Pid, reason: ExitReason, via_link: bool) {
    let shared = target.shared();
    let waker = {
        let mut control = shared.control.lock();
        if !control.alive {
            return;
        }
        if via_link {
            let had_link = control
                .rel
                .as_mut()
                .is_some_and(|rel| rel.links.remove(&from));
            if !had_link {
                return;
            }
        }
        if !via_link && reason == ExitReason::Kill {
            control.set_pending_exit(&shared.exiting, ExitReason::Killed)
        } else if control.trap_exit {
            // Queued under the receiver's lock so that `unlink` cannot slip in between the link
            // check and the delivery.
            target.push_system(SystemMessage::Exit(Exit { from, reason }));
            None
        } else if reason.is_normal() {
            if from == shared.pid {
                control.set_pending_exit(&shared.exiting, ExitReason::Normal)
            } else {
                None
            }
        } else {
            let reason = if reason == ExitReason::Kill {
                ExitReason::Killed
            } else {
                reason
            };
            control.set_pending_exit(&shared.exiting, reason)
        }
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Kills `target` with `reason` whatever it traps (mailbox overflow, runtime decisions).
pub(crate) fn force_exit(target: &dyn AnyCell, reason: ExitReason) {
    let shared = target.shared();
    let waker = shared
        .control
        .lock()
        .set_pending_exit(&shared.exiting, reason);
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Delivers a `Down` to `watcher` if it still holds the monitor `reference`.
pub(crate) fn deliver_down(watcher: &dyn AnyCell, reference: Ref, pid: Pid, reason: ExitReason) {
    let mut control = watcher.shared().control.lock();
    if !control.alive {
        return;
    }
    let held = control
        .rel
        .as_mut()
        .is_some_and(|rel| rel.monitoring.remove(&reference).is_some());
    if held {
        watcher.push_system(SystemMessage::Down(Down {
            reference,
            pid,
            reason,
        }));
    }
}

/// What [`link`] does when the other process is not alive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IfDead {
    /// `me` gets the exit signal `noproc` as if the link had broken at once: a message if it
    /// traps exits, death at its next await otherwise.
    Signal,
    /// As OTP's `link/1`: a message if `me` traps exits; otherwise nothing happens to `me` and
    /// the link fails with `Err(NoProc)`.
    Refuse,
}

/// Links `me` with `other` (found by `lookup`); what happens when `other` is not alive is
/// `if_dead`'s to say.
pub(crate) fn link(
    me: &dyn AnyCell,
    other: Pid,
    lookup: &impl Lookup,
    if_dead: IfDead,
) -> Result<(), ExitReason> {
    let my_pid = me.shared().pid;
    if other == my_pid {
        return Ok(());
    }
    {
        let mut control = me.shared().control.lock();
        if !control.alive {
            return Ok(());
        }
        // As OTP: linking again to a process already linked does nothing. Its exit signal may
        // be on its way; the link must stay for it.
        if !control.rel().links.insert(other) {
            return Ok(());
        }
    }
    if !other.is_local() && crate::remote::link(my_pid, other) {
        return Ok(()); // the distribution layer answers for the other side
    }
    let linked = lookup.lookup(other).is_some_and(|cell| {
        let mut control = cell.shared().control.lock();
        if control.alive {
            control.rel().links.insert(my_pid);
            true
        } else {
            false
        }
    });
    if !linked {
        let reason = if other.is_local() {
            ExitReason::NoProc
        } else {
            ExitReason::NoConnection
        };
        // Only a local pid is known to be dead; a remote one without distribution is not.
        if if_dead == IfDead::Refuse && other.is_local() {
            let mut control = me.shared().control.lock();
            if !control.trap_exit {
                if let Some(rel) = control.rel.as_mut() {
                    rel.links.remove(&other);
                }
                return Err(reason);
            }
        }
        deliver_exit(me, other, reason, true);
    }
    Ok(())
}

/// Removes the link between `me` and `other`, on both sides.
pub(crate) fn unlink(me: &dyn AnyCell, other: Pid, lookup: &impl Lookup) {
    let my_pid = me.shared().pid;
    {
        let mut control = me.shared().control.lock();
        if let Some(rel) = control.rel.as_mut() {
            rel.links.remove(&other);
        }
    }
    if !other.is_local() {
        crate::remote::unlink(my_pid, other);
        return;
    }
    if let Some(cell) = lookup.lookup(other) {
        let mut control = cell.shared().control.lock();
        if let Some(rel) = control.rel.as_mut() {
            rel.links.remove(&my_pid);
        }
    }
}

/// `me` starts watching `target`. If `target` is not alive, `me` gets `Down` with `noproc` (or
/// `noconnection` for a pid of another node) at once.
pub(crate) fn monitor(me: &dyn AnyCell, target: Pid, lookup: &impl Lookup) -> Ref {
    let reference = Ref::new();
    let my_pid = me.shared().pid;
    me.shared()
        .control
        .lock()
        .rel()
        .monitoring
        .insert(reference, target);
    if !target.is_local() && crate::remote::monitor(my_pid, target, reference) {
        return reference;
    }
    let watching = lookup.lookup(target).is_some_and(|cell| {
        let mut control = cell.shared().control.lock();
        if control.alive {
            control.rel().monitored_by.insert(reference, my_pid);
            true
        } else {
            false
        }
    });
    if !watching {
        let reason = if target.is_local() {
            ExitReason::NoProc
        } else {
            ExitReason::NoConnection
        };
        deliver_down(me, reference, target, reason);
    }
    reference
}

/// `me` starts watching whoever holds `name` on the other node `node`, which resolves it. Until
/// then the monitor's target is the node itself, so losing the node fires it with
/// `noconnection`.
pub(crate) fn monitor_name(me: &dyn AnyCell, name: &str, node: &str) -> Ref {
    let reference = Ref::new();
    let my_pid = me.shared().pid;
    let node_pid = Pid::from_parts(node, 0, 0);
    me.shared()
        .control
        .lock()
        .rel()
        .monitoring
        .insert(reference, node_pid);
    if !crate::remote::monitor_name(my_pid, name, node, reference) {
        deliver_down(me, reference, node_pid, ExitReason::NoConnection);
    }
    reference
}

/// Stops the monitor `reference`. True if it was still active (no `Down` had been delivered).
pub(crate) fn demonitor(me: &dyn AnyCell, reference: Ref, lookup: &impl Lookup) -> bool {
    let my_pid = me.shared().pid;
    let target = {
        let mut control = me.shared().control.lock();
        control
            .rel
            .as_mut()
            .and_then(|rel| rel.monitoring.remove(&reference))
    };
    let Some(target) = target else {
        return false;
    };
    if !target.is_local() {
        crate::remote::demonitor(my_pid, target, reference);
        return true;
    }
    if let Some(cell) = lookup.lookup(target) {
        let mut control = cell.shared().control.lock();
        if let Some(rel) = control.rel.as_mut() {
            if rel.monitored_by.get(&reference) == Some(&my_pid) {
                rel.monitored_by.remove(&reference);
            }
        }
    }
    true
}

/// What a process leaves behind when it exits, to be handed to [`notify_departure`].
pub(crate) struct Departure {
    pub(crate) pid: Pid,
    pub(crate) rel: Option<Box<Relations>>,
}

/// Marks `me` dead and closes its mailbox. After this nobody can link to or monitor it (they get
/// `noproc`), and messages to it are dropped.
pub(crate) fn depart(me: &dyn AnyCell) -> Departure {
    let shared = me.shared();
    let rel = {
        let mut control = shared.control.lock();
        // Free the name under the same lock that marks the process dead, so that whoever finds
        // it dead (a monitor's `noproc`, `is_alive`, a closed mailbox) finds the name free too.
        // The names map is lock-free, and `names::register` also writes it under this lock.
        if let Some(name) = control.about.as_mut().and_then(|about| about.name.take()) {
            crate::names::remove_exact(&name, shared.pid);
        }
        control.alive = false;
        control.task_waker = None;
        control.rel.take()
    };
    shared.exiting.store(true, Ordering::Release);
    me.close_mailbox();
    Departure {
        pid: shared.pid,
        rel,
    }
}

/// Tells everyone linked to or monitoring the departed process that it exited with `reason`,
/// drops the monitors it held, stops its timers and runs its exit hooks.
pub(crate) fn notify_departure(departure: Departure, reason: &ExitReason, lookup: &impl Lookup) {
    let Some(rel) = departure.rel else {
        return;
    };
    let Relations {
        links,
        monitored_by,
        monitoring,
        timers,
        exit_hooks,
    } = *rel;
    let pid = departure.pid;
    for timer in timers.into_values() {
        if let Some(abort) = timer.abort {
            abort.abort();
        }
    }
    for linked in links {
        match lookup.lookup(linked) {
            Some(cell) => deliver_exit(&*cell, pid, reason.clone(), true),
            None => crate::remote::link_exit(linked, pid, reason),
        }
    }
    for (reference, watcher) in monitored_by {
        match lookup.lookup(watcher) {
            Some(cell) => deliver_down(&*cell, reference, pid, reason.clone()),
            None => crate::remote::down(watcher, reference, pid, reason),
        }
    }
    for (reference, target) in monitoring {
        if !target.is_local() {
            crate::remote::demonitor(pid, target, reference);
        } else if let Some(cell) = lookup.lookup(target) {
            let mut control = cell.shared().control.lock();
            if let Some(rel) = control.rel.as_mut() {
                rel.monitored_by.remove(&reference);
            }
        }
    }
    for (_, hook) in exit_hooks {
        hook(pid, reason);
    }
}

#[cfg(all(test, grove_loom))]
mod loom_tests {
    use super::*;
    use crate::cell::{CellInit, ProcessCell};
    use crate::message::Message;
    use crate::sync::loom_model as model;
    use std::collections::VecDeque;

    type Cells = Vec<Arc<dyn AnyCell>>;

    fn cell(id: u64, trap_exit: bool) -> Arc<dyn AnyCell> {
        Arc::new(ProcessCell::<()>::new(CellInit {
            pid: Pid::new_local(id),
            parent: None,
            trap_exit,
            name: None,
            label: None,
            rel: None,
            function: "test",
            future_size: 0,
            mailbox_bound: None,
        }))
    }

    fn lookup_in(cells: &Cells) -> impl Lookup + '_ {
        move |pid: Pid| {
            cells
                .iter()
                .find(|c| c.shared().pid == pid && c.shared().control.lock().alive)
                .cloned()
        }
    }

    fn exits_received(cell: &Arc<dyn AnyCell>) -> usize {
        let typed = cell.as_any().downcast_ref::<ProcessCell<()>>().unwrap();
        let mut local = VecDeque::new();
        typed
            .mailbox
            .take_into(&mut local, std::task::Waker::noop());
        local
            .iter()
            .filter(|m| matches!(m, Message::Exit(_)))
            .count()
    }

    /// A (trapping) unlinks B while B exits abnormally. Whatever the interleaving: A is never
    /// killed, gets at most one `Exit` message, and gets none if the unlink finished before B
    /// began to exit.
    #[test]
    fn loom_unlink_races_exit() {
        model(|| {
            let a = cell(1, true);
            let b = cell(2, false);
            let cells: Cells = vec![a.clone(), b.clone()];
            let _ = link(&*a, b.shared().pid, &lookup_in(&cells), IfDead::Signal);
            let cells = Arc::new(cells);
            let unlinked_first = Arc::new(crate::sync::AtomicBool::new(false));
            let exiter = {
                let cells = cells.clone();
                let b = b.clone();
                let unlinked_first = unlinked_first.clone();
                loom::thread::spawn(move || {
                    let before = unlinked_first.load(Ordering::SeqCst);
                    let departure = depart(&*b);
                    notify_departure(departure, &ExitReason::error("boom"), &lookup_in(&cells));
                    before
                })
            };
            unlink(&*a, b.shared().pid, &lookup_in(&cells));
            unlinked_first.store(true, Ordering::SeqCst);
            let exit_saw_unlink_done = exiter.join().unwrap();
            let got = exits_received(&a);
            assert!(got <= 1);
            if exit_saw_unlink_done {
                assert_eq!(got, 0, "an exit arrived after unlink returned");
            }
            assert!(a.shared().control.lock().pending_exit.is_none());
        });
    }

    /// A links to B while B exits: A always learns of it, by the link (B's reason) or by
    /// `noproc`, exactly once, and no link is left dangling.
    #[test]
    fn loom_link_races_exit() {
        model(|| {
            let a = cell(1, true);
            let b = cell(2, false);
            let cells = Arc::new(vec![a.clone(), b.clone()]);
            let exiter = {
                let cells = cells.clone();
                let b = b.clone();
                loom::thread::spawn(move || {
                    let departure = depart(&*b);
                    notify_departure(departure, &ExitReason::error("boom"), &lookup_in(&cells));
                })
            };
            let _ = link(&*a, b.shared().pid, &lookup_in(&cells), IfDead::Signal);
            exiter.join().unwrap();
            assert_eq!(exits_received(&a), 1);
            let control = a.shared().control.lock();
            assert!(control.rel.as_ref().is_none_or(|rel| rel.links.is_empty()));
        });
    }
}
