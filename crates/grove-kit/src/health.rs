//! Health, readiness and metrics over HTTP (axum), for Kubernetes and Prometheus:
//!
//! - `GET /healthz`: liveness, 200 while the node's runtime answers.
//! - `GET /readyz`: readiness, 200 `ready`, or 503 with the reasons while an alarm is set (on
//!   the alarm managers given) or while the application is stopping. Put the health server
//!   first in the root supervisor: children stop in reverse order, so it is the last to stop
//!   and answers 503 while the others finish their work. To give Kubernetes time to see the
//!   503 before anything stops, set `Application::drain_delay`: the whole tree keeps serving,
//!   not ready, for that long after the stop signal.
//! - `GET /metrics`: [`crate::metrics::render`], OpenMetrics text.
//!
//! Probes are not logged per request (a probe every few seconds would bury everything else);
//! readiness turning false is logged with its reasons, and again every minute while it stays
//! false, and its return to ready is logged once.
//!
//! ```no_run
//! use grove_kit::alarm::AlarmManager;
//! use grove_kit::health::HealthServer;
//! use grove_otp::prelude::*;
//!
//! let alarms = AlarmManager::new("alarms");
//! // First, so it is stopped last: it answers 503 while the rest of the tree stops.
//! let tree = Supervisor::one_for_one()
//!     .child(HealthServer::new("0.0.0.0:9090".parse().unwrap()).alarms(&alarms).child_spec())
//!     .child(alarms.child_spec());
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use grove_otp::supervisor::ChildSpec;
use grove_otp::StartError;
use grove_runtime::{Context, ExitReason, SpawnOptions};
use parking_lot::Mutex;

use crate::alarm::AlarmManager;

/// How often a readiness that stays false is logged again.
const NOT_READY_LOG_EVERY: Duration = Duration::from_secs(60);

/// Where the server listens: an address bound at each start, or a listener bound already.
#[derive(Clone)]
enum Bind {
    Address(SocketAddr),
    Listener(Arc<std::net::TcpListener>),
}

/// The health server's settings; [`HealthServer::child_spec`] makes the process.
#[derive(Clone)]
pub struct HealthServer {
    bind: Bind,
    alarms: Vec<AlarmManager>,
}

/// What readiness looked like at the last probe, for logging changes only.
#[derive(Default)]
struct LastProbe {
    ready: Option<bool>,
    logged_at: Option<Instant>,
}

#[derive(Clone)]
struct ProbeState {
    alarms: Arc<Vec<AlarmManager>>,
    last: Arc<Mutex<LastProbe>>,
}

impl HealthServer {
    /// Listens on `address`, bound each time the server starts.
    pub fn new(address: SocketAddr) -> Self {
        HealthServer {
            bind: Bind::Address(address),
            alarms: Vec::new(),
        }
    }

    /// Serves on a listener bound already (port 0 in tests); restarts serve on the same socket.
    pub fn from_listener(listener: std::net::TcpListener) -> Self {
        HealthServer {
            bind: Bind::Listener(Arc::new(listener)),
            alarms: Vec::new(),
        }
    }

    /// Reports not ready while any alarm of `alarms` is set.
    pub fn alarms(mut self, alarms: &AlarmManager) -> Self {
        self.alarms.push(alarms.clone());
        self
    }

    /// The routes, for serving inside an axum app of the program's own.
    pub fn router(&self) -> Router {
        let state = ProbeState {
            alarms: Arc::new(self.alarms.clone()),
            last: Arc::default(),
        };
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(state)
    }

    async fn listener(&self) -> std::io::Result<tokio::net::TcpListener> {
        match &self.bind {
            Bind::Address(address) => tokio::net::TcpListener::bind(address).await,
            Bind::Listener(listener) => {
                let listener = listener.try_clone()?;
                listener.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(listener)
            }
        }
    }

    /// The server as a child for a supervision tree. The socket is bound when the child starts,
    /// so a port in use fails the start with a clear error instead of a crash loop later.
    pub fn child_spec(self) -> ChildSpec {
        ChildSpec::new("health", move || {
            let server = self.clone();
            async move {
                let listener = server.listener().await.map_err(|error| {
                    StartError::Init(ExitReason::error(format!(
                        "the health server cannot listen: {error}"
                    )))
                })?;
                let address = listener
                    .local_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                let app = server.router();
                grove_runtime::spawn_opt(
                    SpawnOptions::new().link(true),
                    move |_: Context<()>| async move {
                        tracing::info!(%address, "health server listening: /healthz /readyz /metrics");
                        match axum::serve(listener, app).await {
                            Ok(()) => ExitReason::Normal,
                            Err(error) => ExitReason::error(format!("health server failed: {error}")),
                        }
                    },
                )
                .map(|spawned| spawned.addr.pid())
                .map_err(|error| StartError::Init(ExitReason::error(error)))
            }
        })
    }
}

async fn readyz(State(state): State<ProbeState>) -> impl IntoResponse {
    let mut reasons = Vec::new();
    if grove_otp::application::is_stopping() {
        reasons.push("the application is stopping".to_string());
    }
    for manager in state.alarms.iter() {
        for alarm in manager.active() {
            reasons.push(format!("alarm {}: {}", alarm.id, alarm.description));
        }
    }
    let ready = reasons.is_empty();
    {
        let mut last = state.last.lock();
        let changed = last.ready != Some(ready);
        let stale = last
            .logged_at
            .is_none_or(|at| at.elapsed() >= NOT_READY_LOG_EVERY);
        if ready && changed && last.ready.is_some() {
            tracing::info!("readiness: ready again");
        } else if !ready && (changed || stale) {
            tracing::warn!(reasons = %reasons.join("; "), "readiness: not ready");
            last.logged_at = Some(Instant::now());
        }
        last.ready = Some(ready);
    }
    if ready {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", reasons.join("\n")),
        )
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(),
    )
}
