//! The supervisor's decisions, without IO: given its children and what just happened (a child
//! exited, a restart failed, an operator asked for something), what to stop, what to start and
//! whether to give up. The process around it (`server.rs`) carries the decisions out and reports
//! back. Times are offsets from an origin the caller picks, so everything here runs without a
//! clock and is tested on its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use grove_runtime::{ExitReason, Pid};

use super::intensity::{Backoff, Intensity, RestartWindow};
use super::spec::{Restart, Strategy};

/// A child's id: unique within its supervisor.
pub type ChildId = Arc<str>;

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Running with this pid.
    Running(Pid),
    /// Not running: not started yet, exited without needing a restart, ignored its start, or
    /// terminated by an operator.
    Stopped,
    /// Waiting to be (re)started: a backoff delay or a failed start being retried.
    Restarting,
}

#[derive(Debug, Clone)]
pub(crate) struct ChildState {
    pub(crate) id: ChildId,
    pub(crate) restart: Restart,
    pub(crate) slot: Slot,
    /// Quick successive failures, for backoff.
    failures: u32,
    /// When it last started (for resetting `failures`).
    started_at: Duration,
}

/// What the supervisor must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing: not a child (a stale exit), or a child that needs no restart.
    Nothing,
    /// Stop `stop` (running children, in this order: reverse start order), then, after `delay`,
    /// start `start` (in start order). Children in `start` are marked restarting.
    Restart {
        stop: Vec<(ChildId, Pid)>,
        start: Vec<ChildId>,
        delay: Duration,
    },
    /// The restart intensity is exceeded: stop every child in reverse start order and exit.
    GiveUp,
}

/// Why an operator request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound,
    AlreadyPresent,
    Running(Pid),
    Restarting,
}

/// The supervisor's children and restart history.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    strategy: Strategy,
    window: RestartWindow,
    backoff: Option<Backoff>,
    /// Children by start order.
    children: BTreeMap<u64, ChildState>,
    by_id: HashMap<ChildId, u64>,
    by_pid: HashMap<Pid, u64>,
    next_order: u64,
}

impl Core {
    pub(crate) fn new(strategy: Strategy, intensity: Intensity, backoff: Option<Backoff>) -> Self {
        Core {
            strategy,
            window: RestartWindow::new(intensity),
            backoff,
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            by_pid: HashMap::new(),
            next_order: 0,
        }
    }

    /// Adds a child spec after the others, not started yet.
    pub(crate) fn add(&mut self, id: ChildId, restart: Restart) -> Result<(), Refusal> {
        if let Some(order) = self.by_id.get(&id) {
            return Err(match self.children[order].slot {
                Slot::Running(pid) => Refusal::Running(pid),
                _ => Refusal::AlreadyPresent,
            });
        }
        let order = self.next_order;
        self.next_order += 1;
        self.by_id.insert(id.clone(), order);
        self.children.insert(
            order,
            ChildState {
                id,
                restart,
                slot: Slot::Stopped,
                failures: 0,
                started_at: Duration::ZERO,
            },
        );
        Ok(())
    }

    /// Records that `id` started as `pid` at `now` (`None`: its start said to ignore it).
    pub(crate) fn started(&mut self, id: &ChildId, pid: Option<Pid>, now: Duration) {
        let Some(&order) = self.by_id.get(id) else {
            return;
        };
        let child = self
            .children
            .get_mut(&order)
            .expect("by_id points at a child");
        if let Slot::Running(old) = child.slot {
            self.by_pid.remove(&old);
        }
        match pid {
            Some(pid) => {
                child.slot = Slot::Running(pid);
                if let Some(backoff) = self.backoff {
                    if now.saturating_sub(child.started_at) >= backoff.reset_after {
                        child.failures = 0;
                    }
                }
                child.started_at = now;
                self.by_pid.insert(pid, order);
            }
            None => child.slot = Slot::Stopped,
        }
    }

    /// Records that `id` was stopped on purpose (by the supervisor or an operator). A temporary
    /// child is forgotten, as in OTP.
    pub(crate) fn stopped(&mut self, id: &ChildId) {
        let Some(&order) = self.by_id.get(id) else {
            return;
        };
        let child = self
            .children
            .get_mut(&order)
            .expect("by_id points at a child");
        if let Slot::Running(pid) = child.slot {
            self.by_pid.remove(&pid);
        }
        child.slot = Slot::Stopped;
        if child.restart == Restart::Temporary {
            self.remove(order);
        }
    }

    /// Removes a stopped child's spec.
    pub(crate) fn delete(&mut self, id: &ChildId) -> Result<(), Refusal> {
        let &order = self.by_id.get(id).ok_or(Refusal::NotFound)?;
        match self.children[&order].slot {
            Slot::Running(pid) => Err(Refusal::Running(pid)),
            Slot::Restarting => Err(Refusal::Restarting),
            Slot::Stopped => {
                self.remove(order);
                Ok(())
            }
        }
    }

    /// Checks that a stopped child may be started again by an operator.
    pub(crate) fn may_restart(&self, id: &ChildId) -> Result<(), Refusal> {
        let &order = self.by_id.get(id).ok_or(Refusal::NotFound)?;
        match self.children[&order].slot {
            Slot::Running(pid) => Err(Refusal::Running(pid)),
            Slot::Restarting => Err(Refusal::Restarting),
            Slot::Stopped => Ok(()),
        }
    }

    fn remove(&mut self, order: u64) {
        if let Some(child) = self.children.remove(&order) {
            self.by_id.remove(&child.id);
            if let Slot::Running(pid) = child.slot {
                self.by_pid.remove(&pid);
            }
        }
    }

    /// The child running as `pid`.
    pub(crate) fn child_of(&self, pid: Pid) -> Option<&ChildState> {
        self.by_pid.get(&pid).map(|order| &self.children[order])
    }

    /// A child by id.
    pub(crate) fn child(&self, id: &ChildId) -> Option<&ChildState> {
        self.by_id.get(id).map(|order| &self.children[order])
    }

    /// All children in start order.
    pub(crate) fn children(&self) -> impl DoubleEndedIterator<Item = &ChildState> {
        self.children.values()
    }

    /// Restarts within the current intensity period.
    pub(crate) fn recent_restarts(&self) -> usize {
        self.window.recent()
    }

    /// A child exited on its own (the supervisor did not stop it).
    pub(crate) fn exited(&mut self, pid: Pid, reason: &ExitReason, now: Duration) -> Decision {
        let Some(order) = self.by_pid.remove(&pid) else {
            return Decision::Nothing;
        };
        let child = self
            .children
            .get_mut(&order)
            .expect("by_pid points at a child");
        child.slot = Slot::Stopped;
        let restart = match child.restart {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_clean(),
            Restart::Temporary => false,
        };
        if !restart {
            if child.restart == Restart::Temporary {
                self.remove(order);
            }
            return Decision::Nothing;
        }
        child.failures = child.failures.saturating_add(1);
        let failures = child.failures;
        if !self.window.add(now) {
            return Decision::GiveUp;
        }
        let delay = self.backoff.map_or(Duration::ZERO, |b| b.delay(failures));
        let (stop, start) = self.group(order);
        Decision::Restart { stop, start, delay }
    }

    /// Starting `failed` during a restart failed; `rest` are the children after it that were to
    /// start too. Counts as another restart, as in OTP: retry them all, or give up.
    pub(crate) fn start_failed(
        &mut self,
        failed: &ChildId,
        rest: &[ChildId],
        now: Duration,
    ) -> Decision {
        let Some(&order) = self.by_id.get(failed) else {
            return Decision::Nothing;
        };
        let child = self
            .children
            .get_mut(&order)
            .expect("by_id points at a child");
        child.failures = child.failures.saturating_add(1);
        let failures = child.failures;
        if !self.window.add(now) {
            return Decision::GiveUp;
        }
        let mut start = Vec::with_capacity(rest.len() + 1);
        start.push(failed.clone());
        start.extend(
            rest.iter()
                .filter(|id| self.by_id.contains_key(*id))
                .cloned(),
        );
        self.mark_restarting(&start);
        Decision::Restart {
            stop: Vec::new(),
            start,
            delay: self.backoff.map_or(Duration::ZERO, |b| b.delay(failures)),
        }
    }

    /// What the strategy stops and restarts when the child at `order` failed. Temporary
    /// siblings that are stopped are forgotten, never restarted (OTP's rule).
    fn group(&mut self, order: u64) -> (Vec<(ChildId, Pid)>, Vec<ChildId>) {
        let affected: Vec<u64> = match self.strategy {
            Strategy::OneForOne => vec![order],
            Strategy::OneForAll => self.children.keys().copied().collect(),
            Strategy::RestForOne => self.children.range(order..).map(|(k, _)| *k).collect(),
        };
        let mut stop = Vec::new();
        let mut start = Vec::new();
        for key in &affected {
            let child = &self.children[key];
            if *key != order {
                if let Slot::Running(pid) = child.slot {
                    stop.push((child.id.clone(), pid));
                }
            }
            if child.restart != Restart::Temporary {
                start.push(child.id.clone());
            }
        }
        stop.reverse();
        self.mark_restarting(&start);
        (stop, start)
    }

    fn mark_restarting(&mut self, ids: &[ChildId]) {
        for id in ids {
            if let Some(order) = self.by_id.get(id) {
                if let Some(child) = self.children.get_mut(order) {
                    if let Slot::Running(pid) = child.slot {
                        self.by_pid.remove(&pid);
                    }
                    child.slot = Slot::Restarting;
                }
            }
        }
    }
}
