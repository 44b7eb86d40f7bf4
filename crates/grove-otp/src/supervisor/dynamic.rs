//! `DynamicSupervisor`: children started on demand, all alike, identified by pid (Elixir's
//! `DynamicSupervisor`). The same restart rules as [`super::Supervisor`]'s `one_for_one`, a
//! restart intensity, and an optional cap on the number of children. On shutdown every child is
//! told to stop at once, and each is killed if it outlives its own shutdown timeout.
//!
//! ```
//! use grove_otp::prelude::*;
//! use grove_otp::supervisor::DynamicSupervisor;
//! use grove_runtime::Context;
//!
//! let reason = grove_runtime::run(|_: Context<()>| async {
//!     let pool = DynamicSupervisor::new().max_children(100).start_link().await?;
//!     let spec = ChildSpec::process("session", |mut ctx: Context<()>| async move {
//!         let _ = ctx.recv().await;
//!     });
//!     let first = pool.start_child(spec.clone()).await?;
//!     let second = pool.start_child(spec).await?;
//!     assert_ne!(first, second);
//!     assert_eq!(pool.count_children().await?.active, 2);
//!     // `normal`: a linked caller that does not trap exits is not taken down with it.
//!     pool.stop(ExitReason::Normal).await?;
//!     Ok(())
//! });
//! assert_eq!(reason, ExitReason::Normal);
//! ```

use std::collections::HashMap;
use std::time::Duration;
use tracing::Instrument;

use grove_runtime::{ExitReason, Message, Pid, Ref};
use tokio::time::Instant;

use super::intensity::{Intensity, RestartWindow};
use super::spec::{ChildKind, ChildSpec, Shutdown};
use super::{stats, ChildCounts, ChildInfo, ChildStatus, SupervisorError, OPERATOR_TIMEOUT};
use crate::gen_server::{
    Call, CallError, Cast, GenServer, Info, ReplyTo, Server, ServerContext, StartOptions,
};
use crate::start::StartError;

/// A dynamic supervisor's configuration.
#[derive(Debug, Clone, Default)]
pub struct DynamicSupervisor {
    intensity: Intensity,
    max_children: Option<usize>,
}

impl DynamicSupervisor {
    /// OTP's default intensity (3 restarts in 5 seconds), no cap on children.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max_restarts` restarts within `period`.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            period,
        };
        self
    }

    /// At most `max` children at once; `start_child` past it fails with
    /// [`SupervisorError::MaxChildren`].
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }

    /// Starts it linked to the calling process.
    pub async fn start_link(self) -> Result<DynamicSupervisorRef, StartError> {
        self.start_opt(StartOptions::new().link()).await
    }

    /// Starts it without a link.
    pub async fn start(self) -> Result<DynamicSupervisorRef, StartError> {
        self.start_opt(StartOptions::new()).await
    }

    /// Starts it with options (a registered name, say).
    pub async fn start_opt(
        self,
        options: StartOptions,
    ) -> Result<DynamicSupervisorRef, StartError> {
        let server = DynamicServer {
            window: RestartWindow::new(self.intensity),
            max_children: self.max_children,
            children: HashMap::new(),
            restarting: HashMap::new(),
            next_retry: 0,
            origin: Instant::now(),
        };
        Server::start_opt(server, options)
            .await
            .map(DynamicSupervisorRef)
    }

    /// A child spec that starts this dynamic supervisor under another supervisor.
    pub fn into_child_spec(self, id: impl Into<std::sync::Arc<str>>) -> ChildSpec {
        ChildSpec::new(id, move || self.clone().start_link()).supervisor()
    }
}

/// A handle on a running dynamic supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynamicSupervisorRef(Server<DynamicServer>);

impl super::IntoChild for DynamicSupervisorRef {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl DynamicSupervisorRef {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    /// The handle of the dynamic supervisor at `pid`.
    pub fn from_pid(pid: Pid) -> Self {
        DynamicSupervisorRef(Server::from_pid(pid))
    }

    /// The dynamic supervisor registered as `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(DynamicSupervisorRef)
    }

    async fn request<M: Send + 'static>(
        &self,
        request: M,
    ) -> Result<<DynamicServer as Call<M>>::Reply, SupervisorError>
    where
        DynamicServer: Call<M>,
    {
        Ok(self.0.call_timeout(request, OPERATOR_TIMEOUT).await?)
    }

    /// Starts a child from `spec`; `Ok(None)` if its start said to ignore it.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<Option<Pid>, SupervisorError> {
        self.request(StartChild(spec)).await?
    }

    /// Stops the child `pid` as its spec says; it is not restarted.
    pub async fn terminate_child(&self, pid: Pid) -> Result<(), SupervisorError> {
        self.request(TerminateChild(pid)).await?
    }

    /// The children, in no particular order.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.request(WhichChildren).await
    }

    /// How many children.
    pub async fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        self.request(CountChildren).await
    }

    /// Stops every child (all at once), then the supervisor.
    pub async fn stop(&self, reason: ExitReason) -> Result<(), CallError> {
        self.0.stop(reason).await
    }
}

/// The requests a dynamic supervisor answers, each with its own reply type.
pub(super) struct StartChild(ChildSpec);
pub(super) struct TerminateChild(Pid);
pub(super) struct WhichChildren;
pub(super) struct CountChildren;

/// A failed restart to try again: the key of a child waiting in `restarting`.
pub(super) struct Retry(u64);

/// A running dynamic supervisor.
pub(super) struct DynamicServer {
    window: RestartWindow,
    max_children: Option<usize>,
    children: HashMap<Pid, ChildSpec>,
    /// Children whose restart failed and waits for its retry: they keep their place.
    restarting: HashMap<u64, ChildSpec>,
    next_retry: u64,
    origin: Instant,
}

impl DynamicServer {
    async fn start(
        &mut self,
        spec: ChildSpec,
        ctx: &mut ServerContext<Self>,
    ) -> Result<Option<Pid>, StartError> {
        let pid = spec.start_under(ctx.pid()).await?;
        if let Some(pid) = pid {
            self.children.insert(pid, spec);
        }
        Ok(pid)
    }

    /// Counts a restart; gives up past the intensity. True if the restart may go ahead.
    fn may_restart(&mut self, ctx: &mut ServerContext<Self>) -> bool {
        if self.window.add(self.origin.elapsed()) {
            return true;
        }
        stats::GIVE_UPS.inc();
        tracing::error!(supervisor = %ctx.pid(), "reached the maximum restart intensity; stopping all children and exiting with shutdown");
        ctx.stop(ExitReason::Shutdown);
        false
    }

    async fn restart(&mut self, spec: ChildSpec, ctx: &mut ServerContext<Self>) {
        if !self.may_restart(ctx) {
            return;
        }
        let span = super::server::restart_span(ctx.pid(), std::slice::from_ref(&spec.id));
        match self.start(spec.clone(), ctx).instrument(span).await {
            Ok(_) => stats::RESTARTS.inc(),
            // Through the mailbox, so requests and exits are served in between; meanwhile the
            // child keeps its place under `max_children`.
            Err(_) => {
                let key = self.next_retry;
                self.next_retry += 1;
                self.restarting.insert(key, spec);
                ctx.server().cast(Retry(key));
            }
        }
    }

    /// Tells every child to stop at once, then waits for each, killing any that outlives its
    /// shutdown timeout.
    async fn stop_all(&mut self, ctx: &mut ServerContext<Self>) {
        let now = Instant::now();
        let mut waiting: HashMap<Ref, (Pid, Option<Instant>)> = HashMap::new();
        for (pid, spec) in self.children.drain() {
            let process = ctx.process();
            let monitor = process.monitor(pid);
            process.unlink(pid);
            let deadline = match spec.shutdown {
                Shutdown::BrutalKill => {
                    process.exit(pid, ExitReason::Kill);
                    None
                }
                Shutdown::Infinity => {
                    process.exit(pid, ExitReason::Shutdown);
                    None
                }
                Shutdown::Timeout(timeout) => {
                    process.exit(pid, ExitReason::Shutdown);
                    now.checked_add(timeout)
                }
            };
            waiting.insert(monitor, (pid, deadline));
        }
        while !waiting.is_empty() {
            let next_deadline = waiting.values().filter_map(|(_, d)| *d).min();
            let is_ours = |m: &Message<_>| matches!(m, Message::Down(d) if waiting.contains_key(&d.reference));
            let received = match next_deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    ctx.process().recv_match_timeout(is_ours, left).await
                }
                None => Some(ctx.process().recv_match(is_ours).await),
            };
            match received {
                Some(Message::Down(down)) => {
                    waiting.remove(&down.reference);
                    stats::CHILDREN_STOPPED.inc();
                }
                Some(_) => {}
                None => {
                    let now = Instant::now();
                    for (pid, deadline) in waiting.values_mut() {
                        if deadline.is_some_and(|d| d <= now) {
                            stats::SHUTDOWN_TIMEOUTS.inc();
                            tracing::warn!(%pid, "child did not stop within its shutdown timeout; killing it");
                            ctx.process().exit(*pid, ExitReason::Kill);
                            *deadline = None;
                        }
                    }
                }
            }
        }
    }

    fn info(pid: Pid, spec: &ChildSpec) -> ChildInfo {
        ChildInfo {
            id: spec.id.clone(),
            status: ChildStatus::Running(pid),
            kind: spec.kind,
        }
    }
}

impl GenServer for DynamicServer {
    const KIND: &'static str = "dynamic_supervisor";

    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle_info(&mut self, info: Info, ctx: &mut ServerContext<Self>) {
        if let Info::Exit(exit) = info {
            let Some(spec) = self.children.remove(&exit.from) else {
                return;
            };
            super::spec::log_child_exit(ctx.pid(), &spec.id, &exit);
            if spec.restart.restarts_after(&exit.reason) {
                self.restart(spec, ctx).await;
            }
        }
        // `Down`s are from shutdowns that already ended; nothing else is expected.
    }

    async fn terminate(&mut self, reason: &ExitReason, ctx: &mut ServerContext<Self>) {
        let span =
            tracing::debug_span!("grove.supervisor.shutdown", supervisor = %ctx.pid(), %reason);
        self.stop_all(ctx).instrument(span).await;
    }
}

impl Call<StartChild> for DynamicServer {
    type Reply = Result<Option<Pid>, SupervisorError>;

    async fn handle_call(
        &mut self,
        StartChild(spec): StartChild,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        if let Some(max) = self.max_children {
            if self.children.len() + self.restarting.len() >= max {
                from.reply(Err(SupervisorError::MaxChildren(max)));
                return;
            }
        }
        from.reply(self.start(spec, ctx).await.map_err(SupervisorError::Start));
    }
}

impl Call<TerminateChild> for DynamicServer {
    type Reply = Result<(), SupervisorError>;

    async fn handle_call(
        &mut self,
        TerminateChild(pid): TerminateChild,
        from: ReplyTo<Self::Reply>,
        ctx: &mut ServerContext<Self>,
    ) {
        let Some(spec) = self.children.remove(&pid) else {
            from.reply(Err(SupervisorError::NotFound(pid.to_string())));
            return;
        };
        let reason = super::server::shutdown_process(ctx.process(), pid, spec.shutdown).await;
        stats::CHILDREN_STOPPED.inc();
        tracing::debug!(supervisor = %ctx.pid(), %pid, %reason, "child terminated on request");
        from.reply(Ok(()));
    }
}

impl Call<WhichChildren> for DynamicServer {
    type Reply = Vec<ChildInfo>;

    async fn handle_call(
        &mut self,
        _: WhichChildren,
        from: ReplyTo<Self::Reply>,
        _: &mut ServerContext<Self>,
    ) {
        let restarting = self.restarting.values().map(|spec| ChildInfo {
            id: spec.id.clone(),
            status: ChildStatus::Restarting,
            kind: spec.kind,
        });
        from.reply(
            self.children
                .iter()
                .map(|(pid, spec)| Self::info(*pid, spec))
                .chain(restarting)
                .collect(),
        );
    }
}

impl Call<CountChildren> for DynamicServer {
    type Reply = ChildCounts;

    async fn handle_call(
        &mut self,
        _: CountChildren,
        from: ReplyTo<ChildCounts>,
        _: &mut ServerContext<Self>,
    ) {
        let supervisors = self
            .children
            .values()
            .filter(|spec| spec.kind == ChildKind::Supervisor)
            .count();
        from.reply(ChildCounts {
            specs: self.children.len() + self.restarting.len(),
            active: self.children.len(),
            supervisors,
            workers: self.children.len() - supervisors,
        });
    }
}

impl Cast<Retry> for DynamicServer {
    async fn handle_cast(&mut self, Retry(key): Retry, ctx: &mut ServerContext<Self>) {
        if let Some(spec) = self.restarting.remove(&key) {
            self.restart(spec, ctx).await;
        }
    }
}
