//! The client for the concert API: every request waits for the client's own rate limiter (so
//! the API never has to throttle us), goes through a circuit breaker (so an outage costs one
//! quick refusal per request instead of a timeout), and transient failures are retried with
//! exponential backoff and jitter.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use grove::kit::prelude::{
    retry_if, BreakerConfig, BreakerError, CircuitBreaker, Rate, RateLimiter, RetryPolicy,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// One event near a location, as the API sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiEvent {
    pub id: u64,
    pub name: String,
    pub artists: Vec<u64>,
}

/// An artist's latest release, as the API sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiRelease {
    pub title: String,
}

/// Why a request failed.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// The API answered with an error status.
    Status(u16),
    /// No answer: the connection failed or the request timed out.
    Transport(String),
    /// An answer, but not one we can read.
    Garbage(String),
    /// Our breaker is open: we did not even ask.
    BreakerOpen(Duration),
}

impl ApiError {
    /// Worth another try soon: the API is busy or briefly unreachable.
    fn is_transient(&self) -> bool {
        matches!(self, ApiError::Status(429 | 500..) | ApiError::Transport(_))
    }

    /// A sign the API itself is sick, which is what the breaker counts. An unreadable body is
    /// a bug on one route, not an outage.
    fn is_outage(&self) -> bool {
        matches!(self, ApiError::Status(500..) | ApiError::Transport(_))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status(code) => write!(f, "the API answered {code}"),
            ApiError::Transport(error) => write!(f, "no answer from the API: {error}"),
            ApiError::Garbage(body) => write!(f, "an unreadable answer: {body}"),
            ApiError::BreakerOpen(after) => {
                write!(f, "the API breaker is open; retry in {after:?}")
            }
        }
    }
}

/// A cheap, cloneable client: the HTTP connection pool, the limiter and the breaker are shared
/// by every clone.
#[derive(Clone)]
pub struct ApiClient {
    http: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    limiter: RateLimiter,
    breaker: CircuitBreaker,
    retry: RetryPolicy,
}

impl ApiClient {
    pub fn new(address: SocketAddr, per_second: u32) -> ApiClient {
        ApiClient {
            http: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{address}"),
            limiter: RateLimiter::new("gigs_api", Rate::per_second(per_second).burst(5)),
            // Melts after 5 failures within a second; after 300 ms one probe may try again.
            breaker: CircuitBreaker::install(
                "gigs_api",
                BreakerConfig::new(5, Duration::from_secs(1), Duration::from_millis(300)),
            ),
            retry: RetryPolicy::exponential(Duration::from_millis(20), Duration::from_millis(200))
                .max_attempts(3),
        }
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    pub async fn events_near(&self, location: &str, round: u64) -> Result<Vec<ApiEvent>, ApiError> {
        self.get_json(&format!("/events/{location}/{round}")).await
    }

    pub async fn latest_release(&self, artist: u64) -> Result<ApiRelease, ApiError> {
        self.get_json(&format!("/artists/{artist}/release")).await
    }

    /// The API's own health check, for the watchdog. It skips the breaker on purpose: the
    /// watchdog must see the API come back even while the breaker still refuses calls.
    pub async fn health(&self) -> Result<(), ApiError> {
        self.limiter.until_ready().await;
        self.get_once("/health").await.map(|_| ())
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let outcome = retry_if(&self.retry, ApiError::is_transient, || async {
            self.limiter.until_ready().await;
            let body = self
                .breaker
                .call_with(ApiError::is_outage, self.get_once(path))
                .await
                .map_err(|error| match error {
                    BreakerError::Open { retry_after, .. } => ApiError::BreakerOpen(retry_after),
                    BreakerError::Failed(error) => error,
                })?;
            serde_json::from_slice(&body).map_err(|_| {
                ApiError::Garbage(String::from_utf8_lossy(&body).chars().take(60).collect())
            })
        })
        .await;
        outcome.map_err(|error| {
            error
                .into_last_error()
                .unwrap_or_else(|| ApiError::Transport("the retry deadline passed".into()))
        })
    }

    /// One GET: the body of a 200, or why not.
    async fn get_once(&self, path: &str) -> Result<Bytes, ApiError> {
        let uri: axum::http::Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|error| ApiError::Transport(format!("bad URI {path}: {error}")))?;
        let response = tokio::time::timeout(Duration::from_millis(500), self.http.get(uri))
            .await
            .map_err(|_| ApiError::Transport("timed out after 500 ms".into()))?
            .map_err(|error| ApiError::Transport(error.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ApiError::Status(status));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| ApiError::Transport(error.to_string()))?;
        Ok(body.to_bytes())
    }
}
