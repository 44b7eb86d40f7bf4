//! The data side: one refresher process per location, registered by location name, writing
//! what it fetches into shared tables; and the release fetcher, a rate-limited queue whose
//! workers fill the releases cache.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::kit::prelude::{Cache, QueueOptions, Rate, RateLimitedQueue, RetryPolicy};
use grove::prelude::*;
use grove::registry::Registry;
use parking_lot::Mutex;

use crate::client::{ApiClient, ApiError};

#[derive(Clone, Debug)]
pub struct Event {
    pub name: String,
    pub artists: Vec<u64>,
    /// When a refresher last wrote it (ms since start).
    pub refreshed_at: u64,
}

#[derive(Clone, Debug)]
pub struct Release {
    pub title: String,
}

#[derive(Clone, Debug)]
pub struct Location {
    pub event_ids: Vec<u64>,
    pub refreshed_at: u64,
}

/// Where the data lives, apart from any process that fetches or reads it: events and locations
/// in tables owned by the long-lived root process, releases in a cache with a time to live.
#[derive(Clone)]
pub struct Store {
    pub events: Table<u64, Event>,
    pub locations: Table<String, Location>,
    pub releases: Cache<u64, Release>,
    /// Artists whose release was asked of the fetcher, and when: so four refreshers do not
    /// queue the same artist forty times.
    requested: Arc<Mutex<HashMap<u64, Instant>>>,
    pub stale_rounds: Arc<AtomicU64>,
    start: Instant,
}

impl Store {
    pub fn create() -> Result<Store, TableError> {
        Ok(Store {
            events: Table::options().public().named("gig_events").create()?,
            locations: Table::options()
                .ordered()
                .public()
                .named("gig_locations")
                .create()?,
            releases: Cache::builder("gig_releases")
                .time_to_live(Duration::from_millis(1500))
                .max_capacity(10_000)
                .build(),
            requested: Arc::default(),
            stale_rounds: Arc::default(),
            start: Instant::now(),
        })
    }

    /// Milliseconds since the program started: the tables' timestamps.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// True if `artist` should be queued now: not asked for, or asked for long enough ago that
    /// the job must have failed for good.
    fn should_request(&self, artist: u64) -> bool {
        let now = Instant::now();
        let mut requested = self.requested.lock();
        match requested.get(&artist) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(2) => false,
            _ => {
                requested.insert(artist, now);
                true
            }
        }
    }

    fn fetched(&self, artist: u64) {
        self.requested.lock().remove(&artist);
    }
}

/// Asks a refresher to refresh now.
pub struct RefreshNow;

/// One location's refresher: fetch, write to the tables, queue what releases are missing,
/// wait, again.
pub async fn refresher(
    mut ctx: Context<RefreshNow>,
    location: &'static str,
    store: Store,
    client: ApiClient,
    registry: Registry<String, ()>,
) -> ExitReason {
    if let Err(error) = registry.register(ctx.pid(), location.to_string(), ()) {
        return ExitReason::error(format!("cannot register {location}: {error}"));
    }
    let Some(fetcher) = RateLimitedQueue::<u64>::whereis(RELEASE_FETCHER) else {
        return ExitReason::error("the release fetcher is not running");
    };
    loop {
        let round = store.now() / 50;
        match client.events_near(location, round).await {
            Ok(events) => {
                let stamp = store.now();
                let mut ids = Vec::with_capacity(events.len());
                for event in events {
                    for &artist in &event.artists {
                        if !store.releases.contains(&artist).await && store.should_request(artist) {
                            // A full queue refuses: the artist is asked for again later.
                            if fetcher.push(artist).await.is_err() {
                                store.fetched(artist);
                            }
                        }
                    }
                    let row = Event {
                        name: event.name,
                        artists: event.artists,
                        refreshed_at: stamp,
                    };
                    if store.events.insert(event.id, row).is_err() {
                        return ExitReason::error("the events table is gone");
                    }
                    ids.push(event.id);
                }
                let entry = Location {
                    event_ids: ids,
                    refreshed_at: stamp,
                };
                if store.locations.insert(location.to_string(), entry).is_err() {
                    return ExitReason::error("the locations table is gone");
                }
            }
            // A response we cannot parse is a crash: the supervisor restarts us, and the tables
            // keep what we wrote before.
            Err(ApiError::Garbage(body)) => panic!("unparseable response for {location}: {body}"),
            // The API is down or the breaker is open: readers keep getting the last good data.
            Err(error) => {
                store.stale_rounds.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(location, %error, "refresh failed; serving the last data");
            }
        }
        // Refresh every 50 ms, or sooner when a reader found a dangling reference; one refresh
        // answers every request that arrived meanwhile.
        let _ = tokio::time::timeout(Duration::from_millis(50), ctx.recv()).await;
        while tokio::time::timeout(Duration::ZERO, ctx.recv())
            .await
            .is_ok()
        {}
    }
}

/// The release fetcher's registered name.
pub const RELEASE_FETCHER: &str = "release_fetcher";

/// Pids of the release fetcher's workers that are running now: the chaos monkey's targets.
pub type Running = Arc<Mutex<HashSet<Pid>>>;

/// The release fetcher: a queue that calls the API no faster than `per_second`, four at a
/// time, retrying failures with backoff. Each job runs in a worker process of its own; a worker
/// that is killed is a failed attempt, and the job runs again.
pub fn release_fetcher(
    store: Store,
    client: ApiClient,
    running: Running,
    per_second: u32,
) -> ChildSpec {
    let options = QueueOptions::new(Rate::per_second(per_second))
        .capacity(200)
        .concurrency(4)
        .retry(
            RetryPolicy::exponential(Duration::from_millis(50), Duration::from_millis(400))
                .max_attempts(6),
        );
    RateLimitedQueue::child_spec(RELEASE_FETCHER, options, move |artist: u64| {
        let (store, client, running) = (store.clone(), client.clone(), running.clone());
        async move {
            let _listed = grove::process::self_pid().map(|pid| Listed::new(pid, running));
            // Two workers on one artist share one request.
            let loaded = store
                .releases
                .fetch(artist, async {
                    let release = client.latest_release(artist).await?;
                    Ok::<_, ApiError>(Release {
                        title: release.title,
                    })
                })
                .await;
            match loaded {
                Ok(_) => {
                    store.fetched(artist);
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            }
        }
    })
}

/// Keeps a worker's pid in the running set while it runs.
struct Listed {
    pid: Pid,
    running: Running,
}

impl Listed {
    fn new(pid: Pid, running: Running) -> Listed {
        running.lock().insert(pid);
        Listed { pid, running }
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.running.lock().remove(&self.pid);
    }
}
