//! The per-process record shared between the process itself and everyone who signals it.
//!
//! A process's task owns its future; everything other processes need (its mailbox, its links and
//! monitors, whether it traps exits, its pending exit) lives in one reference-counted cell that the
//! process table maps its pid to. Relations are allocated only when a process first links, is
//! monitored, registers or starts a timer, so an idle process pays for none of it.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::SystemTime;

use crate::exit::ExitReason;
use crate::mailbox::{Mailbox, Overflow};
use crate::message::{Down, Exit, Message};
use crate::pid::{Pid, Ref};
use crate::sync::{AtomicBool, Mutex};

/// A hook run once when the process exits (registries use it to drop the process's keys).
pub(crate) type ExitHook = Box<dyn FnOnce(Pid, &ExitReason) + Send>;

/// A timer aimed at this process; aborted when the process exits.
pub(crate) struct TimerEntry {
    pub(crate) deadline: tokio::time::Instant,
    pub(crate) abort: Option<tokio::task::AbortHandle>,
    /// For an interval: false once cancelled. A tick sends while holding this lock, so after
    /// `cancel_timer` has cleared it no further tick can be delivered.
    pub(crate) active: Option<Arc<parking_lot::Mutex<bool>>>,
}

/// Links, monitors, timers and exit hooks of one process.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: HashSet<Pid>,
    /// Monitors other processes hold on this one: reference -> watcher.
    pub(crate) monitored_by: HashMap<Ref, Pid>,
    /// Monitors this process holds: reference -> watched process.
    pub(crate) monitoring: HashMap<Ref, Pid>,
    pub(crate) timers: HashMap<Ref, TimerEntry>,
    /// Hooks by id, so that one can be removed before it runs (an abandoned `await_exit`).
    pub(crate) exit_hooks: Vec<(u64, ExitHook)>,
}

/// What other processes may change about a process, behind one short lock.
pub(crate) struct Control {
    pub(crate) alive: bool,
    pub(crate) trap_exit: bool,
    /// Set by a fatal signal; the task stops at its next poll with this reason.
    pub(crate) pending_exit: Option<ExitReason>,
    /// The task's own waker, to wake it for a fatal signal whatever it is waiting on.
    pub(crate) task_waker: Option<Waker>,
    /// Name, label, last message and system lane: allocated when one is first set, so a plain
    /// process pays a pointer for them.
    pub(crate) about: Option<Box<About>>,
    pub(crate) rel: Option<Box<Relations>>,
}

/// What a process may be told about itself; see [`Control::about`].
#[derive(Default)]
pub(crate) struct About {
    pub(crate) name: Option<Arc<str>>,
    /// What the process is, for people: `gen_server Kv`, `supervisor root`.
    pub(crate) label: Option<Arc<str>>,
    /// The kind of the message it was handling when it stopped abnormally, for its crash report.
    pub(crate) last_message: Option<&'static str>,
    /// Where system requests go, for a behaviour (see `crate::sys`).
    pub(crate) system: Option<crate::sys::SystemLane>,
}

impl Control {
    pub(crate) fn rel(&mut self) -> &mut Relations {
        self.rel.get_or_insert_with(Default::default)
    }

    /// The process's name, label and so on, to set one.
    pub(crate) fn about_mut(&mut self) -> &mut About {
        self.about.get_or_insert_with(Default::default)
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.about.as_ref()?.name.as_ref()
    }

    pub(crate) fn label(&self) -> Option<&Arc<str>> {
        self.about.as_ref()?.label.as_ref()
    }

    pub(crate) fn last_message(&self) -> Option<&'static str> {
        self.about.as_ref()?.last_message
    }

    pub(crate) fn system(&self) -> Option<&crate::sys::SystemLane> {
        self.about.as_ref()?.system.as_ref()
    }

    /// Records a fatal exit; returns the waker to wake once the lock is released.
    pub(crate) fn set_pending_exit(
        &mut self,
        exiting: &AtomicBool,
        reason: ExitReason,
    ) -> Option<Waker> {
        if !self.alive || self.pending_exit.is_some() {
            return None;
        }
        self.pending_exit = Some(reason);
        exiting.store(true, std::sync::atomic::Ordering::Release);
        self.task_waker.clone()
    }
}

/// Where a process is, for introspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Status {
    /// Started but not polled yet, or woken and waiting for a worker thread.
    Runnable = 0,
    /// Being polled on a worker thread right now.
    Running = 1,
    /// Parked in a receive, waiting for a message.
    Waiting = 2,
    /// Parked on something else (a timer, I/O, another future).
    Suspended = 3,
    /// Exited; its record is being taken down.
    Exiting = 4,
}

impl Status {
    fn from_u8(value: u8) -> Status {
        match value {
            1 => Status::Running,
            2 => Status::Waiting,
            3 => Status::Suspended,
            4 => Status::Exiting,
            _ => Status::Runnable,
        }
    }
}

/// The untyped part of a process's record.
pub(crate) struct Shared {
    pub(crate) pid: Pid,
    pub(crate) control: Mutex<Control>,
    /// Mirrors `control.pending_exit.is_some()` so the task can check it on every poll cheaply.
    pub(crate) exiting: AtomicBool,
    pub(crate) parent: Option<Pid>,
    /// When it started, in microseconds since the Unix epoch (half a `SystemTime`).
    started_micros: u64,
    pub(crate) function: &'static str,
    /// The size of its future in bytes (a `u32` packs with the flags).
    pub(crate) future_size: u32,
    pub(crate) handled: AtomicU64,
    pub(crate) dropped: AtomicU64,
    status: AtomicU8,
    pub(crate) large_mailbox_reported: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn started_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(self.started_micros)
    }

    pub(crate) fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn set_status(&self, status: Status) {
        self.status.store(status as u8, Ordering::Relaxed);
    }
}

/// A system signal that becomes a message in the receiver's mailbox.
pub(crate) enum SystemMessage {
    Exit(Exit),
    Down(Down),
}

/// A process record seen without its message type: what signals, the registry and introspection
/// need.
pub(crate) trait AnyCell: Send + Sync + 'static {
    fn shared(&self) -> &Shared;
    /// Queues a trapped exit or a down message (bounds never refuse these). False if closed.
    fn push_system(&self, message: SystemMessage) -> bool;
    fn mailbox_len(&self) -> usize;
    fn mailbox_bytes(&self) -> usize;
    /// Closes the mailbox and drops what it held.
    fn close_mailbox(&self);
    /// Removes queued `Down` messages of this monitor (demonitor with flush).
    fn purge_down(&self, reference: Ref);
    fn as_any(&self) -> &dyn Any;
}

/// A process record with its typed mailbox.
pub(crate) struct ProcessCell<M> {
    pub(crate) shared: Shared,
    pub(crate) mailbox: Mailbox<Message<M>>,
}

/// What a new process starts with.
pub(crate) struct CellInit {
    pub(crate) pid: Pid,
    pub(crate) parent: Option<Pid>,
    pub(crate) trap_exit: bool,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) rel: Option<Box<Relations>>,
    pub(crate) function: &'static str,
    pub(crate) future_size: usize,
    pub(crate) mailbox_bound: Option<(usize, Overflow)>,
}

impl<M: Send + 'static> ProcessCell<M> {
    pub(crate) fn new(init: CellInit) -> Self {
        ProcessCell {
            shared: Shared {
                pid: init.pid,
                control: Mutex::new(Control {
                    alive: true,
                    trap_exit: init.trap_exit,
                    pending_exit: None,
                    task_waker: None,
                    about: (init.name.is_some() || init.label.is_some()).then(|| {
                        Box::new(About {
                            name: init.name,
                            label: init.label,
                            ..About::default()
                        })
                    }),
                    rel: init.rel,
                }),
                exiting: AtomicBool::new(false),
                parent: init.parent,
                started_micros: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |since| {
                        u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
                    }),
                function: init.function,
                future_size: u32::try_from(init.future_size).unwrap_or(u32::MAX),
                handled: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                status: AtomicU8::new(Status::Runnable as u8),
                large_mailbox_reported: std::sync::atomic::AtomicBool::new(false),
            },
            mailbox: Mailbox::new(init.mailbox_bound),
        }
    }
}

impl<M: Send + 'static> AnyCell for ProcessCell<M> {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn push_system(&self, message: SystemMessage) -> bool {
        let message = match message {
            SystemMessage::Exit(exit) => Message::Exit(Box::new(exit)),
            SystemMessage::Down(down) => Message::Down(Box::new(down)),
        };
        matches!(
            self.mailbox.push(message, true),
            crate::mailbox::Push::Queued(_)
        )
    }

    fn mailbox_len(&self) -> usize {
        self.mailbox.len()
    }

    fn mailbox_bytes(&self) -> usize {
        self.mailbox.capacity_bytes()
    }

    fn close_mailbox(&self) {
        drop(self.mailbox.close());
    }

    fn purge_down(&self, reference: Ref) {
        self.mailbox
            .purge(|message| matches!(message, Message::Down(down) if down.reference == reference));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
