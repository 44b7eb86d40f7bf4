//! `Agent`: state behind a process, read and changed with functions sent to it (Elixir's
//! `Agent`). For state that several processes share and that needs no protocol of its own;
//! when it grows one, make it a [`GenServer`].
//!
//! The functions run inside the agent's process, one at a time, so every change is atomic with
//! respect to the others. A function that panics crashes the agent (its supervisor restarts it),
//! and the caller gets [`CallError::Exited`].
//!
//! ```
//! use grove_otp::agent::Agent;
//!
//! grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let visits = Agent::start_link(|| 0u64).await?;
//!     visits.update(|n| *n += 1).await?;
//!     visits.cast(|n| *n += 1);
//!     let before = visits.get_and_update(|n| std::mem::replace(n, 10)).await?;
//!     assert_eq!(before, 2);
//!     assert_eq!(visits.get(|n| *n).await?, 10);
//!     visits.stop().await?;
//!     Ok(())
//! });
//! ```

use std::fmt;
use std::time::Duration;

use grove_runtime::{ExitReason, Pid};

use crate::gen_server::{
    Call, CallError, Cast, GenServer, ReplyTo, Server, ServerContext, StartOptions,
    DEFAULT_CALL_TIMEOUT,
};
use crate::start::StartError;
use crate::supervisor::IntoChild;

/// A function run on the state, whose result is the call's reply.
pub struct Job<S, R>(Box<dyn FnOnce(&mut S) -> R + Send>);
/// A change of the state that nobody waits for.
pub struct Update<S>(Box<dyn FnOnce(&mut S) + Send>);
type Init<S> = Box<dyn FnOnce() -> S + Send>;

/// The agent's process: its state, built by the start function inside the process.
pub struct AgentServer<S: Send + 'static> {
    init: Option<Init<S>>,
    state: Option<S>,
}

impl<S: Send + 'static> GenServer for AgentServer<S> {
    const KIND: &'static str = "agent";

    async fn init(&mut self, _: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        if let Some(init) = self.init.take() {
            self.state = Some(init());
        }
        Ok(())
    }
}

impl<S: Send + 'static, R: Send + 'static> Call<Job<S, R>> for AgentServer<S> {
    type Reply = R;

    async fn handle_call(&mut self, job: Job<S, R>, from: ReplyTo<R>, _: &mut ServerContext<Self>) {
        // `init` always sets the state before the first request is served.
        if let Some(state) = self.state.as_mut() {
            from.reply((job.0)(state));
        }
    }
}

impl<S: Send + 'static> Cast<Update<S>> for AgentServer<S> {
    async fn handle_cast(&mut self, update: Update<S>, _: &mut ServerContext<Self>) {
        if let Some(state) = self.state.as_mut() {
            (update.0)(state);
        }
    }
}

/// A handle on a running agent holding an `S`: `Copy`, the size of a pid.
pub struct Agent<S: Send + 'static> {
    server: Server<AgentServer<S>>,
}

impl<S: Send + 'static> Clone for Agent<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Send + 'static> Copy for Agent<S> {}

impl<S: Send + 'static> PartialEq for Agent<S> {
    fn eq(&self, other: &Self) -> bool {
        self.server == other.server
    }
}

impl<S: Send + 'static> Eq for Agent<S> {}

impl<S: Send + 'static> fmt::Debug for Agent<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Agent({})", self.pid())
    }
}

impl<S: Send + 'static> IntoChild for Agent<S> {
    fn into_child(self) -> Option<Pid> {
        Some(self.pid())
    }
}

impl<S: Send + 'static> Agent<S> {
    /// Starts an agent (not linked) whose state is what `init` returns; `init` runs in the
    /// agent's process, and a panic in it is a failed start.
    pub async fn start(init: impl FnOnce() -> S + Send + 'static) -> Result<Self, StartError> {
        Self::start_opt(init, StartOptions::new()).await
    }

    /// Starts an agent linked to the calling process.
    pub async fn start_link(init: impl FnOnce() -> S + Send + 'static) -> Result<Self, StartError> {
        Self::start_opt(init, StartOptions::new().link()).await
    }

    /// Starts an agent with options (a registered name, a link).
    pub async fn start_opt(
        init: impl FnOnce() -> S + Send + 'static,
        options: StartOptions,
    ) -> Result<Self, StartError> {
        let server = AgentServer {
            init: Some(Box::new(init)),
            state: None,
        };
        let server = Server::start_opt(server, options).await?;
        Ok(Agent { server })
    }

    /// The agent at `pid`. If it is not an agent of this state type, requests fail with
    /// [`CallError::WrongType`].
    pub fn from_pid(pid: Pid) -> Self {
        Agent {
            server: Server::from_pid(pid),
        }
    }

    /// The agent of this state type registered as `name`.
    pub fn whereis(name: &str) -> Option<Self> {
        Server::whereis(name).map(|server| Agent { server })
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.server.pid()
    }

    /// Reads the state through `read` and returns what it returns.
    pub async fn get<R: Send + 'static>(
        &self,
        read: impl FnOnce(&S) -> R + Send + 'static,
    ) -> Result<R, CallError> {
        self.get_and_update(move |state| read(state)).await
    }

    /// Changes the state with `update` and waits until it is done.
    pub async fn update(
        &self,
        update: impl FnOnce(&mut S) + Send + 'static,
    ) -> Result<(), CallError> {
        self.get_and_update(update).await
    }

    /// Changes the state with `update` and returns what it returns, in one step.
    pub async fn get_and_update<R: Send + 'static>(
        &self,
        update: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Result<R, CallError> {
        self.get_and_update_timeout(update, DEFAULT_CALL_TIMEOUT)
            .await
    }

    /// [`Agent::get_and_update`] waiting at most `timeout` (the others wait
    /// [`DEFAULT_CALL_TIMEOUT`]).
    pub async fn get_and_update_timeout<R: Send + 'static>(
        &self,
        update: impl FnOnce(&mut S) -> R + Send + 'static,
        timeout: Duration,
    ) -> Result<R, CallError> {
        self.server
            .call_timeout(Job(Box::new(update)), timeout)
            .await
    }

    /// Changes the state with `update` without waiting (a cast): never fails, even if the agent
    /// is gone.
    pub fn cast(&self, update: impl FnOnce(&mut S) + Send + 'static) {
        self.server.cast(Update(Box::new(update)));
    }

    /// Stops the agent with reason `normal` and waits until it has exited.
    pub async fn stop(&self) -> Result<(), CallError> {
        self.server.stop(ExitReason::Normal).await
    }
}
