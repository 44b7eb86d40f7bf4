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
pub(super) type ChildId = Arc<str>;

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
                child.started_at = now;
                self.by_pid.insert(pid, order);
            }
            // A temporary child that chose not to run is forgotten, as OTP does.
            None if child.restart == Restart::Temporary => self.remove(order),
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
        if !child.restart.restarts_after(reason) {
            if child.restart == Restart::Temporary {
                self.remove(order);
            }
            return Decision::Nothing;
        }
        // A child that stayed up long enough fails afresh: its backoff starts over.
        if let Some(backoff) = self.backoff {
            if now.saturating_sub(child.started_at) >= backoff.reset_after {
                child.failures = 0;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{
        prop_assert, prop_assert_eq, prop_assert_ne, prop_oneof, proptest, Just,
    };
    use proptest::strategy::Strategy as Gen;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A core with children "a", "b", "c"... started with pids 1, 2, 3...
    fn core_with(strategy: Strategy, restarts: &[Restart], intensity: Intensity) -> Core {
        let mut core = Core::new(strategy, intensity, None);
        for (i, restart) in restarts.iter().enumerate() {
            let id: ChildId = ((b'a' + i as u8) as char).to_string().into();
            core.add(id.clone(), *restart).unwrap();
            core.started(&id, Some(pid(i as u64 + 1)), ms(0));
        }
        core
    }

    fn pid(n: u64) -> Pid {
        Pid::from_parts("test@core", 0, n)
    }

    fn ids(names: &[&str]) -> Vec<ChildId> {
        names.iter().map(|n| ChildId::from(*n)).collect()
    }

    fn lots() -> Intensity {
        Intensity {
            max_restarts: 1000,
            period: ms(1000),
        }
    }

    #[test]
    fn one_for_one_restarts_only_the_failed_child() {
        let mut core = core_with(Strategy::OneForOne, &[Restart::Permanent; 3], lots());
        let decision = core.exited(pid(2), &ExitReason::error("boom"), ms(1));
        assert_eq!(
            decision,
            Decision::Restart {
                stop: vec![],
                start: ids(&["b"]),
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn one_for_all_stops_the_others_in_reverse_and_restarts_all_in_order() {
        let mut core = core_with(Strategy::OneForAll, &[Restart::Permanent; 3], lots());
        let decision = core.exited(pid(2), &ExitReason::error("boom"), ms(1));
        assert_eq!(
            decision,
            Decision::Restart {
                stop: vec![("c".into(), pid(3)), ("a".into(), pid(1))],
                start: ids(&["a", "b", "c"]),
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
        let mut core = core_with(Strategy::RestForOne, &[Restart::Permanent; 4], lots());
        let decision = core.exited(pid(2), &ExitReason::error("boom"), ms(1));
        assert_eq!(
            decision,
            Decision::Restart {
                stop: vec![("d".into(), pid(4)), ("c".into(), pid(3))],
                start: ids(&["b", "c", "d"]),
                delay: Duration::ZERO
            }
        );
        assert_eq!(core.child(&"a".into()).unwrap().slot, Slot::Running(pid(1)));
    }

    #[test]
    fn restart_types_decide_by_exit_reason() {
        use Restart::*;
        let cases = [
            (Permanent, ExitReason::Normal, true),
            (Permanent, ExitReason::error("x"), true),
            (Transient, ExitReason::Normal, false),
            (Transient, ExitReason::Shutdown, false),
            (Transient, ExitReason::error("x"), true),
            (Transient, ExitReason::Killed, true),
            (Temporary, ExitReason::error("x"), false),
            (Temporary, ExitReason::Normal, false),
        ];
        for (restart, reason, restarted) in cases {
            let mut core = core_with(Strategy::OneForOne, &[restart], lots());
            let decision = core.exited(pid(1), &reason, ms(1));
            assert_eq!(
                matches!(decision, Decision::Restart { .. }),
                restarted,
                "{restart:?} exiting with {reason}"
            );
            let kept = core.child(&"a".into()).is_some();
            assert_eq!(kept, restart != Temporary, "{restart:?} spec kept");
        }
    }

    #[test]
    fn temporary_siblings_are_stopped_but_never_restarted() {
        use Restart::*;
        let mut core = core_with(
            Strategy::OneForAll,
            &[Permanent, Temporary, Permanent],
            lots(),
        );
        let decision = core.exited(pid(1), &ExitReason::error("boom"), ms(1));
        assert_eq!(
            decision,
            Decision::Restart {
                stop: vec![("c".into(), pid(3)), ("b".into(), pid(2))],
                start: ids(&["a", "c"]),
                delay: Duration::ZERO
            }
        );
        core.stopped(&"b".into());
        assert!(core.child(&"b".into()).is_none());
    }

    #[test]
    fn an_exit_from_an_unknown_or_replaced_pid_changes_nothing() {
        let mut core = core_with(Strategy::OneForOne, &[Restart::Permanent], lots());
        assert_eq!(
            core.exited(pid(99), &ExitReason::Killed, ms(1)),
            Decision::Nothing
        );
        core.exited(pid(1), &ExitReason::Killed, ms(1));
        core.started(&"a".into(), Some(pid(7)), ms(1));
        assert_eq!(
            core.exited(pid(1), &ExitReason::Killed, ms(2)),
            Decision::Nothing
        );
    }

    #[test]
    fn giving_up_past_the_intensity() {
        let limits = Intensity {
            max_restarts: 2,
            period: ms(100),
        };
        let mut core = core_with(Strategy::OneForOne, &[Restart::Permanent], limits);
        let mut next = 10;
        let mut crash = |core: &mut Core, at| {
            let current = core.child(&"a".into()).unwrap().slot;
            let Slot::Running(running) = current else {
                panic!("not running")
            };
            let decision = core.exited(running, &ExitReason::error("x"), ms(at));
            if matches!(decision, Decision::Restart { .. }) {
                core.started(&"a".into(), Some(pid(next)), ms(at));
                next += 1;
            }
            decision
        };
        assert!(matches!(crash(&mut core, 0), Decision::Restart { .. }));
        assert!(matches!(crash(&mut core, 50), Decision::Restart { .. }));
        assert!(
            matches!(crash(&mut core, 100), Decision::Restart { .. }),
            "the first left the window"
        );
        assert_eq!(crash(&mut core, 120), Decision::GiveUp);
    }

    #[test]
    fn a_failed_start_counts_as_a_restart_and_retries_the_rest() {
        let limits = Intensity {
            max_restarts: 1,
            period: ms(100),
        };
        let mut core = core_with(Strategy::RestForOne, &[Restart::Permanent; 3], limits);
        core.exited(pid(1), &ExitReason::error("x"), ms(0));
        let decision = core.start_failed(&"a".into(), &ids(&["b", "c"]), ms(1));
        assert_eq!(decision, Decision::GiveUp);

        let limits = Intensity {
            max_restarts: 5,
            period: ms(100),
        };
        let mut core = core_with(Strategy::RestForOne, &[Restart::Permanent; 3], limits);
        core.exited(pid(1), &ExitReason::error("x"), ms(0));
        core.started(&"a".into(), Some(pid(10)), ms(0));
        let decision = core.start_failed(&"b".into(), &ids(&["c"]), ms(1));
        assert_eq!(
            decision,
            Decision::Restart {
                stop: vec![],
                start: ids(&["b", "c"]),
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn backoff_grows_with_quick_failures_and_resets_after_a_good_run() {
        let backoff = Backoff::exponential(ms(10), ms(1000));
        let mut core = Core::new(Strategy::OneForOne, lots(), Some(backoff));
        let a: ChildId = "a".into();
        core.add(a.clone(), Restart::Permanent).unwrap();
        core.started(&a, Some(pid(1)), ms(0));
        let delay_of = |d: Decision| match d {
            Decision::Restart { delay, .. } => delay,
            other => panic!("expected a restart, got {other:?}"),
        };
        assert_eq!(
            delay_of(core.exited(pid(1), &ExitReason::Killed, ms(1))),
            ms(10)
        );
        core.started(&a, Some(pid(2)), ms(11));
        assert_eq!(
            delay_of(core.exited(pid(2), &ExitReason::Killed, ms(12))),
            ms(20)
        );
        // Crashing at once after each start: the delay keeps doubling up to its max, however
        // long the child spent waiting for its restart.
        core.started(&a, Some(pid(3)), ms(5000));
        assert_eq!(
            delay_of(core.exited(pid(3), &ExitReason::Killed, ms(5001))),
            ms(40)
        );
        // Up for longer than `reset_after` before failing again: back to the first delay.
        core.started(&a, Some(pid(4)), ms(6000));
        assert_eq!(
            delay_of(core.exited(pid(4), &ExitReason::Killed, ms(9000))),
            ms(10)
        );
    }

    #[test]
    fn operator_refusals() {
        let mut core = core_with(Strategy::OneForOne, &[Restart::Permanent], lots());
        let a: ChildId = "a".into();
        assert_eq!(
            core.add(a.clone(), Restart::Permanent),
            Err(Refusal::Running(pid(1)))
        );
        assert_eq!(core.delete(&a), Err(Refusal::Running(pid(1))));
        assert_eq!(core.may_restart(&a), Err(Refusal::Running(pid(1))));
        core.stopped(&a);
        assert_eq!(
            core.add(a.clone(), Restart::Permanent),
            Err(Refusal::AlreadyPresent)
        );
        assert_eq!(core.may_restart(&a), Ok(()));
        assert_eq!(core.delete(&a), Ok(()));
        assert_eq!(core.delete(&a), Err(Refusal::NotFound));
    }

    #[derive(Debug, Clone)]
    enum Event {
        /// Child at this position (modulo the count) exits with this reason.
        Exit(usize, ExitReason),
        /// Time passes.
        Wait(u64),
        /// The start of the first child to be restarted fails.
        FailNextStart,
    }

    fn reason() -> impl Gen<Value = ExitReason> {
        prop_oneof![
            Just(ExitReason::Normal),
            Just(ExitReason::Shutdown),
            Just(ExitReason::Killed),
            Just(ExitReason::error("crash")),
        ]
    }

    fn event() -> impl Gen<Value = Event> {
        prop_oneof![
            6 => (0..8usize, reason()).prop_map(|(i, r)| Event::Exit(i, r)),
            2 => (0..400u64).prop_map(Event::Wait),
            1 => Just(Event::FailNextStart),
        ]
    }

    fn restart_type() -> impl Gen<Value = Restart> {
        prop_oneof![
            Just(Restart::Permanent),
            Just(Restart::Transient),
            Just(Restart::Temporary)
        ]
    }

    fn strategy_kind() -> impl Gen<Value = super::Strategy> {
        prop_oneof![
            Just(super::Strategy::OneForOne),
            Just(super::Strategy::OneForAll),
            Just(super::Strategy::RestForOne)
        ]
    }

    proptest! {
        /// Drives a core with random exits, failed starts and time, carrying its decisions out
        /// as the shell does, and checks OTP's invariants after every step.
        #[test]
        fn supervisor_invariants_hold_under_random_failures(
            strategy in strategy_kind(),
            restarts in proptest::collection::vec(restart_type(), 1..6),
            max_restarts in 0u32..6,
            events in proptest::collection::vec(event(), 1..60),
        ) {
            let limits = Intensity { max_restarts, period: ms(1000) };
            let mut core = core_with(strategy, &restarts, limits);
            let order: Vec<ChildId> = core.children().map(|c| c.id.clone()).collect();
            let mut next_pid = 100;
            let mut now = 0;
            let mut restart_times: Vec<u64> = Vec::new();
            let mut fail_next = false;
            for event in events {
                let decision = match event {
                    Event::Wait(t) => { now += t; continue; }
                    Event::FailNextStart => { fail_next = true; continue; }
                    Event::Exit(i, reason) => {
                        let running: Vec<(ChildId, Pid)> = core.children().filter_map(|c| match c.slot {
                            Slot::Running(p) => Some((c.id.clone(), p)),
                            _ => None,
                        }).collect();
                        if running.is_empty() { continue; }
                        let (id, victim) = running[i % running.len()].clone();
                        let before: Vec<(ChildId, Slot)> = core.children().map(|c| (c.id.clone(), c.slot)).collect();
                        let child_restart = core.child(&id).unwrap().restart;
                        let decision = core.exited(victim, &reason, ms(now));
                        let should_restart = match child_restart {
                            Restart::Permanent => true,
                            Restart::Transient => !reason.is_clean(),
                            Restart::Temporary => false,
                        };
                        prop_assert_eq!(matches!(decision, Decision::Nothing), !should_restart);
                        if should_restart {
                            restart_times.push(now);
                            let in_window = restart_times.iter().filter(|t| now - **t < 1000).count();
                            prop_assert_eq!(
                                decision == Decision::GiveUp,
                                in_window > max_restarts as usize,
                                "give up exactly past the intensity"
                            );
                        }
                        if let Decision::Restart { stop, start, .. } = &decision {
                            // Strategy: who is affected.
                            let position = before.iter().position(|(c, _)| *c == id).unwrap();
                            for (k, (child, slot)) in before.iter().enumerate() {
                                let affected = match strategy {
                                    super::Strategy::OneForOne => k == position,
                                    super::Strategy::OneForAll => true,
                                    super::Strategy::RestForOne => k >= position,
                                };
                                let stopped = stop.iter().any(|(s, _)| s == child);
                                let running = matches!(slot, Slot::Running(_));
                                prop_assert_eq!(stopped, affected && running && k != position);
                            }
                            // Stops go last-started first; starts go in start order.
                            let stop_positions: Vec<usize> = stop.iter().map(|(s, _)| order.iter().position(|o| o == s).unwrap()).collect();
                            prop_assert!(stop_positions.windows(2).all(|w| w[0] > w[1]));
                            let start_positions: Vec<usize> = start.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
                            prop_assert!(start_positions.windows(2).all(|w| w[0] < w[1]));
                        }
                        decision
                    }
                };
                // Carry the decision out, as the shell does.
                let mut pending = decision;
                loop {
                    match pending {
                        Decision::Nothing => break,
                        Decision::GiveUp => return Ok(()),
                        Decision::Restart { stop, start, .. } => {
                            for (id, _) in &stop {
                                if matches!(core.child(id).map(|c| c.slot), Some(Slot::Running(_))) {
                                    core.stopped(id);
                                }
                            }
                            pending = Decision::Nothing;
                            for (k, id) in start.iter().enumerate() {
                                if std::mem::take(&mut fail_next) {
                                    restart_times.push(now);
                                    pending = core.start_failed(id, &start[k + 1..], ms(now));
                                    let in_window = restart_times.iter().filter(|t| now - **t < 1000).count();
                                    prop_assert_eq!(pending == Decision::GiveUp, in_window > max_restarts as usize);
                                    if let Decision::Restart { start: retry, .. } = &pending {
                                        prop_assert_eq!(&retry[..], &start[k..]);
                                    }
                                    break;
                                }
                                core.started(id, Some(pid(next_pid)), ms(now));
                                next_pid += 1;
                            }
                        }
                    }
                }
                // After a decision is carried out: nothing is left restarting, every running
                // child maps back by pid, and children keep their relative order.
                let ids_now: Vec<ChildId> = core.children().map(|c| c.id.clone()).collect();
                let mut last = None;
                for id in &ids_now {
                    let position = order.iter().position(|o| o == id);
                    prop_assert!(position.is_some());
                    prop_assert!(position > last);
                    last = position;
                }
                for child in core.children() {
                    prop_assert_ne!(child.slot, Slot::Restarting);
                    if let Slot::Running(p) = child.slot {
                        prop_assert_eq!(&core.child_of(p).unwrap().id, &child.id);
                    } else {
                        prop_assert!(child.restart != Restart::Temporary, "a stopped temporary child is forgotten");
                    }
                }
                prop_assert_eq!(core.by_pid.len(), core.children().filter(|c| matches!(c.slot, Slot::Running(_))).count());
            }
        }
    }
}
