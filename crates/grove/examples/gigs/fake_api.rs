//! The "external" concert API, served over HTTP on loopback so the client below talks to it as
//! it would to the real one.
//!
//! It behaves like the APIs in the talk: it enforces its own rate limit (429 past it), now and
//! then answers Berlin with a body no client can parse, and it can be switched into an outage in
//! which every request gets a 503.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use grove::kit::prelude::{Rate, RateLimiter};

/// What the API saw and answered.
#[derive(Default)]
pub struct ApiStats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub refused_in_outage: AtomicU64,
    pub garbage: AtomicU64,
    berlin_calls: AtomicU64,
}

/// A running fake API.
#[derive(Clone)]
pub struct FakeApi {
    pub address: SocketAddr,
    pub stats: Arc<ApiStats>,
    outage: Arc<AtomicBool>,
}

impl FakeApi {
    /// Serves the API on a free loopback port, in a task of its own: it is not part of the
    /// program's supervision tree, as an external service would not be.
    pub async fn serve(allowed_per_second: u32) -> std::io::Result<FakeApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = FakeApi {
            address: listener.local_addr()?,
            stats: Arc::default(),
            outage: Arc::default(),
        };
        let state = Served {
            api: api.clone(),
            // The API's own limit, with a small burst: a client that ignores it gets 429s.
            limit: RateLimiter::new(
                "fake_api_server",
                Rate::per_second(allowed_per_second).burst(allowed_per_second / 10),
            ),
        };
        let app = Router::new()
            .route("/health", get(health))
            .route("/events/{location}/{round}", get(events))
            .route("/artists/{artist}/release", get(release))
            .with_state(state);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("the fake API stopped: {error}");
            }
        });
        Ok(api)
    }

    /// Starts or ends an outage.
    pub fn set_outage(&self, down: bool) {
        self.outage.store(down, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct Served {
    api: FakeApi,
    limit: RateLimiter,
}

impl Served {
    /// The answer every request gets before its own: a 503 in an outage, a 429 past the limit.
    fn refusal(&self) -> Option<Response> {
        let stats = &self.api.stats;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if self.api.outage.load(Ordering::Relaxed) {
            stats.refused_in_outage.fetch_add(1, Ordering::Relaxed);
            return Some((StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response());
        }
        if self.limit.check().is_err() {
            stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Some((StatusCode::TOO_MANY_REQUESTS, "slow down").into_response());
        }
        None
    }
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn health(State(served): State<Served>) -> Response {
    served
        .refusal()
        .unwrap_or_else(|| (StatusCode::OK, "ok").into_response())
}

/// Event ids near `location` in `round`: a window that moves as gigs come and go, overlapping
/// the neighbouring city's (touring bands).
async fn events(
    State(served): State<Served>,
    Path((location, round)): Path<(String, u64)>,
) -> Response {
    if let Some(refusal) = served.refusal() {
        return refusal;
    }
    let stats = &served.api.stats;
    if location == "berlin" && stats.berlin_calls.fetch_add(1, Ordering::Relaxed) % 6 == 5 {
        stats.garbage.fetch_add(1, Ordering::Relaxed);
        return json("<html>502 Bad Gateway</html>".into());
    }
    let base = super::LOCATIONS
        .iter()
        .position(|l| *l == location)
        .unwrap_or(0) as u64
        * 6;
    let events: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            let id = base + (round + i) % 12;
            serde_json::json!({
                "id": id,
                "name": format!("gig #{id}"),
                "artists": [id % 40, (id * 7 + 3) % 40],
            })
        })
        .collect();
    json(serde_json::Value::from(events).to_string())
}

/// An artist's latest release. Slower than the event list: a second service behind it.
async fn release(State(served): State<Served>, Path(artist): Path<u64>) -> Response {
    if let Some(refusal) = served.refusal() {
        return refusal;
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    json(
        serde_json::json!({ "title": format!("album {} by artist {artist}", 2000 + artist) })
            .to_string(),
    )
}
