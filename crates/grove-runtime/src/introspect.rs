//! Introspection: the processes of this node and what each is doing, and facts about the node.
//!
//! ```
//! use grove_runtime::{processes, process_info, system_info, spawn, Context};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let pid = spawn(|mut ctx: Context<()>| async move { let _ = ctx.recv().await; }).pid();
//! assert!(processes().contains(&pid));
//! let info = process_info(pid).unwrap();
//! assert_eq!(info.mailbox_len, 0);
//! assert!(system_info().process_count >= 1);
//! # });
//! ```

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::cell::Status;
use crate::pid::{node, NodeIdentity, Pid, Ref};
use crate::table;

/// A snapshot of one process, as Erlang's `process_info/1`. A serde type, so a remote console
/// can ask for it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ProcessInfo {
    /// The process.
    pub pid: Pid,
    /// Its registered name, if any.
    pub name: Option<Arc<str>>,
    /// What it is, for people (`gen_server Kv`, `supervisor root`), if it was labelled: see
    /// [`crate::set_label`].
    pub label: Option<Arc<str>>,
    /// Where it is: running, waiting in receive, suspended on something else.
    pub status: Status,
    /// Messages in its mailbox.
    pub mailbox_len: usize,
    /// Messages it has received so far.
    pub messages_handled: u64,
    /// Messages a full bounded mailbox refused or dropped.
    pub dropped_messages: u64,
    /// Processes linked to it.
    pub links: Vec<Pid>,
    /// Monitors it holds: (reference, watched process).
    pub monitors: Vec<(Ref, Pid)>,
    /// Processes monitoring it.
    pub monitored_by: Vec<Pid>,
    /// Whether it traps exits.
    pub trap_exit: bool,
    /// The process that spawned it, if it was spawned from a process.
    pub parent: Option<Pid>,
    /// When it was spawned.
    pub started_at: SystemTime,
    /// What it runs: the type name of its function.
    pub function: std::borrow::Cow<'static, str>,
    /// Timers aimed at it.
    pub timers: usize,
    /// Watchers of its exit other than links and monitors: pending `await_exit` calls and the
    /// keyed registries it is in.
    pub exit_watchers: usize,
    /// An estimate of the memory it holds, in bytes: its record, its future's state, its
    /// mailbox's buffers and its relations. Heap memory its own data points to is not counted.
    pub memory: usize,
}

/// The pids of all live processes of this node, in order.
pub fn processes() -> Vec<Pid> {
    table::pids()
}

/// A snapshot of the process `pid`, or `None` if it is not alive.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    let cell = table::lookup(pid)?;
    let shared = cell.shared();
    let control = shared.control.lock();
    if !control.alive {
        return None;
    }
    let (links, monitors, monitored_by, timers, exit_watchers, relations_memory) = match &control
        .rel
    {
        Some(rel) => {
            let mut links: Vec<Pid> = rel.links.iter().copied().collect();
            links.sort_unstable();
            let monitors: Vec<(Ref, Pid)> = rel.monitoring.iter().map(|(r, p)| (*r, *p)).collect();
            let monitored_by: Vec<Pid> = rel.monitored_by.values().copied().collect();
            let memory = std::mem::size_of_val(&**rel)
                + rel.links.capacity() * std::mem::size_of::<Pid>()
                + (rel.monitoring.capacity() + rel.monitored_by.capacity())
                    * std::mem::size_of::<(Ref, Pid)>()
                + rel.timers.capacity() * 64;
            let watchers = rel.exit_hooks.len();
            (
                links,
                monitors,
                monitored_by,
                rel.timers.len(),
                watchers,
                memory,
            )
        }
        None => Default::default(),
    };
    let memory = std::mem::size_of_val(shared)
        + 64 // mailbox and reference counts
        + shared.future_size as usize
        + cell.mailbox_bytes()
        + control
            .about
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<crate::cell::About>())
        + relations_memory;
    Some(ProcessInfo {
        pid,
        name: control.name().cloned(),
        label: control.label().cloned(),
        status: shared.status(),
        mailbox_len: cell.mailbox_len(),
        messages_handled: shared.handled.load(Ordering::Relaxed),
        dropped_messages: shared.dropped.load(Ordering::Relaxed),
        links,
        monitors,
        monitored_by,
        trap_exit: control.trap_exit,
        parent: shared.parent,
        started_at: shared.started_at(),
        function: std::borrow::Cow::Borrowed(shared.function),
        timers,
        exit_watchers,
        memory,
    })
}

/// Facts about this node.
#[derive(Clone, Debug)]
pub struct SystemInfo {
    /// This node's name and creation.
    pub node: NodeIdentity,
    /// Live processes.
    pub process_count: usize,
    /// Tasks waiting in tokio's global run queue, or 0 outside a runtime. (The workers' local
    /// queues are not included: tokio reports them only with its unstable metrics.)
    pub run_queue: usize,
    /// Worker threads of the current runtime, or 0 outside one.
    pub workers: usize,
    /// Time since the runtime was first used in this OS process.
    pub uptime: Duration,
}

pub(crate) fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Facts about this node: process count, run-queue depth, workers, uptime.
pub fn system_info() -> SystemInfo {
    let (run_queue, workers) = match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let metrics = handle.metrics();
            (metrics.global_queue_depth(), metrics.num_workers())
        }
        Err(_) => (0, 0),
    };
    SystemInfo {
        node: node(),
        process_count: table::len(),
        run_queue,
        workers,
        uptime: started().elapsed(),
    }
}

/// Mailboxes across the node, summed in one walk of the process table (cheaper than
/// [`process_info`] for every process: no relations, no names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxSummary {
    /// Messages waiting in all mailboxes.
    pub queued: usize,
    /// The longest mailbox and its process, if any process has a message waiting.
    pub longest: Option<(Pid, usize)>,
    /// Messages received by the processes alive now, in all.
    pub handled: u64,
    /// Messages refused or dropped by full bounded mailboxes of the processes alive now.
    pub dropped: u64,
}

/// Sums the mailboxes of every live process (for metrics: queued messages, the longest queue).
pub fn mailbox_summary() -> MailboxSummary {
    let mut summary = MailboxSummary::default();
    table::for_each(|cell| {
        let len = cell.mailbox_len();
        let shared = cell.shared();
        summary.queued += len;
        summary.handled += shared.handled.load(Ordering::Relaxed);
        summary.dropped += shared.dropped.load(Ordering::Relaxed);
        if len > 0 && summary.longest.is_none_or(|(_, longest)| len > longest) {
            summary.longest = Some((shared.pid, len));
        }
    });
    summary
}
