//! The circuit breaker's state machine, without clocks or locks: it is told the time and what
//! happened, and says whether a call may go ahead. The shell in the parent module owns it
//! behind a mutex and feeds it tokio's clock.

use std::collections::VecDeque;
use std::time::Duration;

/// When a breaker melts and how it heals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures within `window` that melt the breaker (open it).
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a melted breaker rejects every call before it lets probes through.
    pub reset_after: Duration,
    /// Probe calls allowed at once while half-open; the others are rejected.
    pub probes: u32,
    /// Successful probes that close the breaker again.
    pub successes_to_close: u32,
}

impl BreakerConfig {
    /// Melts after `max_failures` failures within `window`, heals after `reset_after`, with one
    /// probe at a time and one success to close (fuse's behaviour, plus half-open probing).
    pub fn new(max_failures: u32, window: Duration, reset_after: Duration) -> Self {
        BreakerConfig {
            max_failures: max_failures.max(1),
            window,
            reset_after,
            probes: 1,
            successes_to_close: 1,
        }
    }

    /// Allows `probes` probe calls at once while half-open.
    pub fn probes(mut self, probes: u32) -> Self {
        self.probes = probes.max(1);
        self
    }

    /// Requires `successes` successful probes before closing.
    pub fn successes_to_close(mut self, successes: u32) -> Self {
        self.successes_to_close = successes.max(1);
        self
    }
}

/// What a breaker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Melted: calls are rejected until the reset time.
    Open,
    /// Healing: a few probe calls go through; their outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The state's name as metrics and logs show it.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Leave to make one call, to be reported back with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// Whether the call is a half-open probe.
    pub probe: bool,
    /// The state generation it was issued in; an outcome from an older one no longer counts.
    generation: u64,
}

impl Ticket {
    /// The ticket `ask` gives while closed in `generation` (see [`Machine::closed_generation`]).
    pub fn regular(generation: u64) -> Ticket {
        Ticket {
            probe: false,
            generation,
        }
    }
}

/// The machine's answer to "may I call?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call may go ahead; report its outcome with this ticket.
    Allow(Ticket),
    /// Rejected; the breaker may let calls through again after this long (zero while half-open
    /// with every probe slot taken).
    Reject {
        /// How long until the breaker may let a call through again.
        retry_after: Duration,
    },
}

/// A state change, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before the change.
    pub from: BreakerState,
    /// The state after it.
    pub to: BreakerState,
}

#[derive(Debug, Clone)]
enum Phase {
    Closed { failures: VecDeque<Duration> },
    Open { until: Duration },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// The state machine. Times are offsets from any fixed origin the caller picks.
#[derive(Debug, Clone)]
pub struct Machine {
    config: BreakerConfig,
    phase: Phase,
    generation: u64,
}

impl Machine {
    /// A closed breaker with no failures counted, configured by `config`.
    pub fn new(config: BreakerConfig) -> Self {
        Machine {
            config,
            phase: Phase::Closed {
                failures: VecDeque::new(),
            },
            generation: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The generation while closed, `None` otherwise. While closed, every call is allowed with
    /// a [`Ticket::regular`] of this generation, and its success changes nothing: a shell may
    /// mirror this value in an atomic and skip the machine on that path.
    pub fn closed_generation(&self) -> Option<u64> {
        match self.phase {
            Phase::Closed { .. } => Some(self.generation),
            _ => None,
        }
    }

    /// The state at `now` (an open breaker past its reset time reads as half-open).
    pub fn state(&self, now: Duration) -> BreakerState {
        match &self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if now < *until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Failures counted in the current window (closed only).
    pub fn recent_failures(&self, now: Duration) -> usize {
        match &self.phase {
            Phase::Closed { failures } => failures
                .iter()
                .filter(|at| now.saturating_sub(**at) < self.config.window)
                .count(),
            _ => 0,
        }
    }

    /// May a call go ahead at `now`?
    pub fn ask(&mut self, now: Duration) -> (Decision, Option<Transition>) {
        let mut transition = None;
        if let Phase::Open { until } = self.phase {
            if now < until {
                return (
                    Decision::Reject {
                        retry_after: until - now,
                    },
                    None,
                );
            }
            transition = self.enter(Phase::HalfOpen {
                in_flight: 0,
                successes: 0,
            });
        }
        let generation = self.generation;
        let decision = match &mut self.phase {
            Phase::Closed { .. } => Decision::Allow(Ticket {
                probe: false,
                generation,
            }),
            Phase::HalfOpen { in_flight, .. } if *in_flight < self.config.probes => {
                *in_flight += 1;
                Decision::Allow(Ticket {
                    probe: true,
                    generation,
                })
            }
            _ => Decision::Reject {
                retry_after: Duration::ZERO,
            },
        };
        (decision, transition)
    }

    /// The call made with `ticket` succeeded.
    pub fn succeeded(&mut self, ticket: Ticket) -> Option<Transition> {
        if ticket.generation != self.generation {
            return None;
        }
        match &mut self.phase {
            Phase::HalfOpen {
                in_flight,
                successes,
            } if ticket.probe => {
                *in_flight = in_flight.saturating_sub(1);
                *successes += 1;
                if *successes >= self.config.successes_to_close {
                    return self.enter(Phase::Closed {
                        failures: VecDeque::new(),
                    });
                }
                None
            }
            _ => None,
        }
    }

    /// The call made with `ticket` failed at `now`.
    pub fn failed(&mut self, ticket: Ticket, now: Duration) -> Option<Transition> {
        if ticket.generation != self.generation {
            return None;
        }
        if ticket.probe {
            if let Phase::HalfOpen { .. } = self.phase {
                return self.melt_now(now);
            }
            return None;
        }
        self.record_failure(now)
    }

    /// The call made with `ticket` ended without an outcome (it was cancelled): a probe gives
    /// its slot back.
    pub fn abandoned(&mut self, ticket: Ticket) {
        if ticket.generation != self.generation || !ticket.probe {
            return;
        }
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Counts a failure seen outside a call (fuse's `melt`): while closed it counts as any
    /// failure; while half-open it re-opens the breaker.
    pub fn record_failure(&mut self, now: Duration) -> Option<Transition> {
        let window = self.config.window;
        let max = self.config.max_failures as usize;
        match &mut self.phase {
            Phase::Closed { failures } => {
                failures.push_back(now);
                while failures
                    .front()
                    .is_some_and(|at| now.saturating_sub(*at) >= window)
                {
                    failures.pop_front();
                }
                if failures.len() >= max {
                    return self.melt_now(now);
                }
                None
            }
            Phase::HalfOpen { .. } => self.melt_now(now),
            Phase::Open { .. } => None,
        }
    }

    /// Opens the breaker now, whatever its state (an operator's manual trip).
    pub fn melt_now(&mut self, now: Duration) -> Option<Transition> {
        let until = now.saturating_add(self.config.reset_after);
        self.enter(Phase::Open { until })
    }

    /// Closes the breaker now and forgets its failures (an operator's manual reset).
    pub fn reset(&mut self) -> Option<Transition> {
        self.enter(Phase::Closed {
            failures: VecDeque::new(),
        })
    }

    fn enter(&mut self, phase: Phase) -> Option<Transition> {
        let from = self.phase_state();
        self.phase = phase;
        self.generation += 1;
        let to = self.phase_state();
        (from != to).then_some(Transition { from, to })
    }

    fn phase_state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> BreakerConfig {
        BreakerConfig::new(3, 100 * MS, 50 * MS)
    }

    fn allow(machine: &mut Machine, now: Duration) -> Ticket {
        match machine.ask(now).0 {
            Decision::Allow(ticket) => ticket,
            other => panic!("expected a call to be allowed at {now:?}, got {other:?}"),
        }
    }

    #[test]
    fn melts_after_n_failures_within_the_window_and_rejects_until_the_reset() {
        let mut m = Machine::new(config());
        for at in [0, 10, 20] {
            let t = allow(&mut m, at * MS);
            let transition = m.failed(t, at * MS);
            assert_eq!(transition.is_some(), at == 20);
        }
        assert_eq!(m.state(20 * MS), BreakerState::Open);
        assert_eq!(
            m.ask(30 * MS).0,
            Decision::Reject {
                retry_after: 40 * MS
            }
        );
        assert_eq!(m.state(70 * MS), BreakerState::HalfOpen);
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_melt_it() {
        let mut m = Machine::new(config());
        for i in 0..20u32 {
            let at = i * 60 * MS;
            let t = allow(&mut m, at);
            assert_eq!(m.failed(t, at), None);
        }
        assert_eq!(m.state(2000 * MS), BreakerState::Closed);
    }

    #[test]
    fn a_half_open_breaker_lets_one_probe_through_and_its_outcome_decides() {
        let mut m = Machine::new(config());
        m.melt_now(Duration::ZERO);
        let probe = allow(&mut m, 60 * MS);
        assert!(probe.probe);
        assert_eq!(
            m.ask(61 * MS).0,
            Decision::Reject {
                retry_after: Duration::ZERO
            }
        );
        assert_eq!(
            m.succeeded(probe),
            Some(Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed
            })
        );
        m.melt_now(100 * MS);
        let probe = allow(&mut m, 150 * MS);
        m.failed(probe, 150 * MS);
        assert_eq!(m.state(151 * MS), BreakerState::Open);
        // A cancelled probe gives its slot back.
        let probe = allow(&mut m, 200 * MS);
        m.abandoned(probe);
        assert!(allow(&mut m, 201 * MS).probe);
    }

    #[test]
    fn an_outcome_from_before_a_state_change_does_not_count() {
        let mut m = Machine::new(config());
        let early = allow(&mut m, Duration::ZERO);
        m.melt_now(MS);
        let probe = allow(&mut m, 60 * MS);
        // The call started while closed fails late: it must not re-open the healing breaker.
        assert_eq!(m.failed(early, 61 * MS), None);
        assert_eq!(m.state(61 * MS), BreakerState::HalfOpen);
        assert!(m.succeeded(probe).is_some());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ask,
        Succeed(usize),
        Fail(usize),
        Abandon(usize),
        Advance(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Ask),
            2 => (0usize..8).prop_map(Op::Succeed),
            3 => (0usize..8).prop_map(Op::Fail),
            1 => (0usize..8).prop_map(Op::Abandon),
            2 => (0u32..80).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Whatever happens: an open breaker rejects until its reset time; half-open probes in
        /// flight never exceed the limit; the breaker only opens on a probe failure or on
        /// `max_failures` failures of calls within one window; and it only closes on a probe
        /// success.
        #[test]
        fn the_breaker_keeps_its_promises(ops in proptest::collection::vec(op(), 1..200), probes in 1u32..3) {
            let config = config().probes(probes);
            let mut m = Machine::new(config.clone());
            let mut now = Duration::ZERO;
            let mut tickets: Vec<Ticket> = Vec::new();
            let mut failures_at: Vec<Duration> = Vec::new();
            let mut opened_until: Option<Duration> = None;
            for op in ops {
                let before = m.state(now);
                let transition = match op {
                    Op::Ask => {
                        let (decision, transition) = m.ask(now);
                        if let Some(until) = opened_until {
                            if now < until {
                                prop_assert!(matches!(decision, Decision::Reject { .. }), "open breaker let a call through");
                            }
                        }
                        if let Decision::Allow(ticket) = decision {
                            tickets.push(ticket);
                        }
                        transition
                    }
                    Op::Succeed(i) | Op::Fail(i) | Op::Abandon(i) if i < tickets.len() => {
                        let ticket = tickets.remove(i);
                        let current = ticket.generation == m.generation;
                        match op {
                            Op::Succeed(_) => m.succeeded(ticket),
                            Op::Fail(_) => {
                                if current && !ticket.probe { failures_at.push(now); }
                                m.failed(ticket, now)
                            }
                            _ => { m.abandoned(ticket); None }
                        }
                    }
                    Op::Advance(ms) => { now += ms * MS; None }
                    _ => None,
                };
                let probes_out = tickets.iter().filter(|t| t.probe && t.generation == m.generation).count();
                prop_assert!(probes_out <= probes as usize, "{probes_out} probes in flight");
                if let Some(t) = transition {
                    match (t.from, t.to) {
                        (BreakerState::Closed, BreakerState::Open) => {
                            let recent = failures_at.iter().filter(|at| now.saturating_sub(**at) < config.window).count();
                            prop_assert!(recent >= config.max_failures as usize, "opened on {recent} recent failures");
                            opened_until = Some(now + config.reset_after);
                            failures_at.clear();
                        }
                        (BreakerState::HalfOpen, BreakerState::Open) => {
                            opened_until = Some(now + config.reset_after);
                        }
                        (BreakerState::HalfOpen, BreakerState::Closed) => {
                            prop_assert_eq!(before, BreakerState::HalfOpen);
                            opened_until = None;
                            failures_at.clear();
                        }
                        (BreakerState::Open, BreakerState::HalfOpen) => {
                            prop_assert!(opened_until.is_some_and(|until| now >= until));
                        }
                        other => prop_assert!(false, "unexpected transition {other:?}"),
                    }
                }
            }
        }
    }
}
