//! The supervisor's process: a `GenServer` that traps exits, starts its children in order,
//! carries out what `core` decides when one exits, answers operator requests, and stops its
//! children in reverse order when it stops.

use std::collections::HashMap;
use std::time::Duration;
use tracing::Instrument;

use grove_runtime::{Context, ExitReason, Message, Pid};
use tokio::time::Instant;

use super::core::{ChildId, Core, Decision, Refusal, Slot};
use super::spec::{ChildKind, ChildSpec, Shutdown};
use super::{stats, ChildCounts, ChildInfo, ChildStatus, Supervisor, SupervisorError};
use crate::gen_server::{Call, Cast, GenServer, Info, ReplyTo, ServerContext};
use crate::start::StartError;

/// Requests an operator makes of a supervisor, each answered with its own reply type.
pub(super) struct WhichChildren;
pub(super) struct CountChildren;
pub(super) struct StartChild(pub(super) ChildSpec);
pub(super) struct TerminateChild(pub(super) ChildId);
pub(super) struct RestartChild(pub(super) ChildId);
pub(super) struct DeleteChild(pub(super) ChildId);

/// The supervisor's note to itself: a backoff delay is over, or a failed start is retried:
/// start these.
pub(super) struct RestartDue(Vec<ChildId>);

/// A running supervisor's state.
pub(super) struct SupervisorServer {
    core: Core,
    specs: HashMap<ChildId, ChildSpec>,
    /// The children as configured, consumed by `init`.
    initial: Vec<ChildSpec>,
    origin: Instant,
}

impl SupervisorServer {
    pub(crate) fn new(config: Supervisor) -> Self {
        SupervisorServer {
            core: Core::new(config.strategy, config.intensity, config.backoff),
            specs: HashMap::new(),
            initial: config.children,
            origin: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Starts `id` (its spec must be known); records the outcome in the core.
    async fn start_child(
        &mut self,
        id: &ChildId,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Option<Pid>, StartError> {
        let Some(spec) = self.specs.get(id) else {
            return Ok(None);
        };
        let pid = spec.start_under(ctx.pid()).await?;
        self.core.started(id, pid, self.now());
        if self.core.child(id).is_none() {
            // A temporary child that chose not to run is forgotten.
            self.specs.remove(id);
        }
        Ok(pid)
    }

    /// Stops a running child as its spec says and waits until it is gone.
    async fn stop_child(&mut self, id: &ChildId, pid: Pid, ctx: &mut ServerContext<Self>) {
        let shutdown = self
            .specs
            .get(id)
            .map_or(Shutdown::BrutalKill, |spec| spec.shutdown);
        let reason = shutdown_process(ctx.process(), pid, shutdown).await;
        stats::CHILDREN_STOPPED.inc();
        let expected = match shutdown {
            Shutdown::BrutalKill => reason == ExitReason::Killed,
            _ => reason == ExitReason::Shutdown,
        };
        if expected || reason == ExitReason::NoProc {
            tracing::debug!(supervisor = %ctx.pid(), child = %id, %pid, %reason, "child stopped");
        } else {
            tracing::warn!(supervisor = %ctx.pid(), child = %id, %pid, %reason, "child stopped with an unexpected reason");
        }
        if let Some(child) = self.core.child(id) {
            if child.slot == Slot::Running(pid) {
                self.core.stopped(id);
            }
        }
    }

    /// Stops every running child, last started first.
    async fn stop_all(&mut self, ctx: &mut ServerContext<Self>) {
        let running: Vec<(ChildId, Pid)> = self
            .core
            .children()
            .rev()
            .filter_map(|child| match child.slot {
                Slot::Running(pid) => Some((child.id.clone(), pid)),
                _ => None,
            })
            .collect();
        for (id, pid) in running {
            self.stop_child(&id, pid, ctx).await;
        }
    }

    async fn apply(&mut self, decision: Decision, ctx: &mut ServerContext<Self>) {
        match decision {
            Decision::Nothing => {}
            Decision::GiveUp => self.give_up(ctx),
            Decision::Restart { stop, start, delay } => {
                let span = restart_span(ctx.pid(), &start);
                async {
                    for (id, pid) in stop {
                        self.stop_child(&id, pid, ctx).await;
                    }
                    if delay.is_zero() {
                        self.restart_group(start, ctx).await;
                    } else {
                        tracing::info!(supervisor = %ctx.pid(), children = ?start, ?delay, "restart delayed by backoff");
                        ctx.send_after(RestartDue(start), delay);
                    }
                }
                .instrument(span)
                .await
            }
        }
    }

    fn give_up(&mut self, ctx: &mut ServerContext<Self>) {
        stats::GIVE_UPS.inc();
        tracing::error!(
            supervisor = %ctx.pid(),
            restarts = self.core.recent_restarts(),
            "reached the maximum restart intensity; stopping all children and exiting with shutdown"
        );
        // `terminate` stops the children.
        ctx.stop(ExitReason::Shutdown);
    }

    /// Starts `ids` in order; a failure counts as a restart and is retried (or gives up).
    async fn restart_group(&mut self, ids: Vec<ChildId>, ctx: &mut ServerContext<Self>) {
        for (index, id) in ids.iter().enumerate() {
            // An operator may have terminated or deleted it meanwhile.
            if self.core.child(id).map(|child| child.slot) != Some(Slot::Restarting) {
                continue;
            }
            match self.start_child(id, ctx).await {
                Ok(_) => stats::RESTARTS.inc(),
                Err(_) => {
                    let now = self.now();
                    match self.core.start_failed(id, &ids[index + 1..], now) {
                        Decision::GiveUp => self.give_up(ctx),
                        Decision::Restart { start, delay, .. } => {
                            // Through the mailbox, so requests and exits are served in between.
                            ctx.send_after(RestartDue(start), delay);
                        }
                        Decision::Nothing => {}
                    }
                    return;
                }
            }
        }
    }

    fn info(&self, child: &super::core::ChildState) -> ChildInfo {
        let kind = self
            .specs
            .get(&child.id)
            .map_or(ChildKind::Worker, |spec| spec.kind);
        ChildInfo {
            id: child.id.clone(),
            status: match child.slot {
                Slot::Running(pid) => ChildStatus::Running(pid),
                Slot::Restarting => ChildStatus::Restarting,
                Slot::Stopped => ChildStatus::Stopped,
            },
            kind,
        }
    }

    fn counts(&self) -> ChildCounts {
        let mut counts = ChildCounts::default();
        for child in self.core.children() {
            counts.specs += 1;
            if matches!(child.slot, Slot::Running(_)) {
                counts.active += 1;
            }
            match self.specs.get(&child.id).map(|spec| spec.kind) {
                Some(ChildKind::Supervisor) => counts.supervisors += 1,
                _ => counts.workers += 1,
            }
        }
        counts
    }

    async fn add_child(
        &mut self,
        spec: ChildSpec,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Option<Pid>, SupervisorError> {
        let id = spec.id.clone();
        self.core
            .add(id.clone(), spec.restart)
            .map_err(|refusal| refused(refusal, &id))?;
        self.specs.insert(id.clone(), spec);
        let started = self.start_child(&id, ctx).await;
        if started.is_err() {
            // As OTP: a child that fails to start is not added.
            let _ = self.core.delete(&id);
            self.specs.remove(&id);
        }
        started.map_err(SupervisorError::Start)
    }

    async fn terminate_child(
        &mut self,
        id: ChildId,
        ctx: &mut ServerContext<Self>,
    ) -> Result<(), SupervisorError> {
        let Some(child) = self.core.child(&id) else {
            return Err(SupervisorError::NotFound(id.to_string()));
        };
        match child.slot {
            Slot::Running(pid) => self.stop_child(&id, pid, ctx).await,
            // Cancels a pending restart.
            Slot::Restarting | Slot::Stopped => self.core.stopped(&id),
        }
        if self.core.child(&id).is_none() {
            self.specs.remove(&id);
        }
        Ok(())
    }

    async fn restart_child(
        &mut self,
        id: ChildId,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Option<Pid>, SupervisorError> {
        self.core
            .may_restart(&id)
            .map_err(|refusal| refused(refusal, &id))?;
        self.start_child(&id, ctx)
            .await
            .map_err(SupervisorError::Start)
    }

    fn delete_child(&mut self, id: ChildId) -> Result<(), SupervisorError> {
        self.core
            .delete(&id)
            .map_err(|refusal| refused(refusal, &id))?;
        self.specs.remove(&id);
        Ok(())
    }
}

impl Call<WhichChildren> for SupervisorServer {
    type Reply = Vec<ChildInfo>;
    async fn handle_call(
        &mut self,
        _: WhichChildren,
        from: ReplyTo<Self::Reply>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.core.children().map(|c| self.info(c)).collect());
    }
}

impl Call<CountChildren> for SupervisorServer {
    type Reply = ChildCounts;
    async fn handle_call(
        &mut self,
        _: CountChildren,
        from: ReplyTo<ChildCounts>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.counts());
    }
}

impl Call<StartChild> for SupervisorServer {
    type Reply = Result<Option<Pid>, SupervisorError>;
    async fn handle_call(
        &mut self,
        StartChild(spec): StartChild,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        from.reply(self.add_child(spec, ctx).await);
    }
}

impl Call<TerminateChild> for SupervisorServer {
    type Reply = Result<(), SupervisorError>;
    async fn handle_call(
        &mut self,
        TerminateChild(id): TerminateChild,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        from.reply(self.terminate_child(id, ctx).await);
    }
}

impl Call<RestartChild> for SupervisorServer {
    type Reply = Result<Option<Pid>, SupervisorError>;
    async fn handle_call(
        &mut self,
        RestartChild(id): RestartChild,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        from.reply(self.restart_child(id, ctx).await);
    }
}

impl Call<DeleteChild> for SupervisorServer {
    type Reply = Result<(), SupervisorError>;
    async fn handle_call(
        &mut self,
        DeleteChild(id): DeleteChild,
        from: ReplyTo<Self::Reply>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.delete_child(id));
    }
}

impl Cast<RestartDue> for SupervisorServer {
    async fn handle_cast(&mut self, RestartDue(ids): RestartDue, ctx: &mut ServerContext<Self>) {
        let span = restart_span(ctx.pid(), &ids);
        self.restart_group(ids, ctx).instrument(span).await
    }
}

fn refused(refusal: Refusal, id: &ChildId) -> SupervisorError {
    match refusal {
        Refusal::NotFound => SupervisorError::NotFound(id.to_string()),
        Refusal::AlreadyPresent => SupervisorError::AlreadyPresent(id.to_string()),
        Refusal::Running(pid) => SupervisorError::Running(id.to_string(), pid),
        Refusal::Restarting => SupervisorError::Restarting(id.to_string()),
    }
}

/// Stops `pid` as `shutdown` says and returns its exit reason. As OTP: monitor, unlink, send
/// the signal, wait for the `Down` (an exit from the removed link that was already queued is
/// ignored later, since the pid is no longer a child).
pub(crate) async fn shutdown_process<M: Send + 'static>(
    process: &mut Context<M>,
    pid: Pid,
    shutdown: Shutdown,
) -> ExitReason {
    let monitor = process.monitor(pid);
    process.unlink(pid);
    let is_down = move |m: &Message<M>| matches!(m, Message::Down(d) if d.reference == monitor);
    let reason_of = |m: Message<M>| match m {
        Message::Down(down) => down.reason,
        _ => ExitReason::NoProc,
    };
    match shutdown {
        Shutdown::BrutalKill => {
            process.exit(pid, ExitReason::Kill);
            reason_of(process.recv_match(is_down).await)
        }
        Shutdown::Infinity => {
            process.exit(pid, ExitReason::Shutdown);
            reason_of(process.recv_match(is_down).await)
        }
        Shutdown::Timeout(timeout) => {
            process.exit(pid, ExitReason::Shutdown);
            match process.recv_match_timeout(is_down, timeout).await {
                Some(message) => reason_of(message),
                None => {
                    stats::SHUTDOWN_TIMEOUTS.inc();
                    tracing::warn!(%pid, ?timeout, "child did not stop within its shutdown timeout; killing it");
                    process.exit(pid, ExitReason::Kill);
                    reason_of(process.recv_match(is_down).await)
                }
            }
        }
    }
}

impl GenServer for SupervisorServer {
    const KIND: &'static str = "supervisor";

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        for spec in std::mem::take(&mut self.initial) {
            let id = spec.id.clone();
            if let Err(refusal) = self.core.add(id.clone(), spec.restart) {
                self.stop_all(ctx).await;
                return Err(ExitReason::error(refused(refusal, &id)));
            }
            self.specs.insert(id.clone(), spec);
            if let Err(error) = self.start_child(&id, ctx).await {
                self.stop_all(ctx).await;
                return Err(ExitReason::error(format!(
                    "failed to start child {id:?}: {error}"
                )));
            }
        }
        Ok(())
    }

    async fn handle_info(&mut self, info: Info, ctx: &mut ServerContext<Self>) {
        match info {
            Info::Exit(exit) => {
                let Some(child) = self.core.child_of(exit.from) else {
                    return;
                };
                let id = child.id.clone();
                super::spec::log_child_exit(ctx.pid(), &id, &exit);
                let now = self.now();
                let decision = self.core.exited(exit.from, &exit.reason, now);
                if self.core.child(&id).is_none() {
                    self.specs.remove(&id);
                }
                self.apply(decision, ctx).await;
            }
            // Monitors from shutdowns that already ended; nothing else is expected.
            Info::Down(_) | Info::Timeout => {}
        }
    }

    async fn terminate(&mut self, reason: &ExitReason, ctx: &mut ServerContext<Self>) {
        let span =
            tracing::debug_span!("grove.supervisor.shutdown", supervisor = %ctx.pid(), %reason);
        async {
            tracing::debug!("supervisor stopping its children");
            self.stop_all(ctx).await;
        }
        .instrument(span)
        .await
    }
}

/// The span a restart runs in: the stops, the starts and whatever they log.
pub(crate) fn restart_span(supervisor: Pid, children: &[ChildId]) -> tracing::Span {
    tracing::info_span!("grove.supervisor.restart", %supervisor, children = ?children)
}
