//! Seed 004 ("Back on your feet"): gigs near a location, with the data moved out of the
//! processes into shared tables so it survives their crashes.
//!
//! - One refresher process per location, started under a DynamicSupervisor and registered in a
//!   registry by location name. A refresher only fetches (from a local fake of the concert API)
//!   and writes: events and releases go to shared tables, where locations share them instead of
//!   each process holding its own copy; the location's event ids go to a third table.
//! - Request handlers read the tables directly, never asking a refresher. A reference to
//!   missing data (an event id with no event) is answered as it is and triggers a refresh of
//!   that location, as the talk suggests.
//! - The fake API sometimes returns garbage that makes the Berlin refresher panic. Its
//!   supervisor restarts it; the tables belong to the long-lived root process, so the data stays
//!   and readers never see Berlin disappear.
//! - A sweeper deletes events no refresher has touched for a while (`select_delete` over the
//!   timestamp), the periodic cleanup the talk calls for after crashes.
//!
//! Run it: `cargo run --example gigs -p grove`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::prelude::*;
use grove::registry::{Keys, Registry};
use grove::supervisor::{DynamicSupervisor, Restart};

#[derive(Clone, Debug)]
struct Event {
    name: String,
    artists: Vec<u64>,
    /// When a refresher last wrote it (ms since start).
    refreshed_at: u64,
}

#[derive(Clone, Debug)]
struct Release {
    title: String,
}

#[derive(Clone, Debug)]
struct Location {
    event_ids: Vec<u64>,
    refreshed_at: u64,
}

const LOCATIONS: [&str; 4] = ["berlin", "london", "lisbon", "oslo"];

/// The local stand-in for the concert and music APIs.
mod fake_api {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub static CALLS: AtomicU64 = AtomicU64::new(0);
    static BERLIN_CALLS: AtomicU64 = AtomicU64::new(0);
    pub static GARBAGE: AtomicU64 = AtomicU64::new(0);

    /// Event ids near `location` this time round: a window that moves as gigs come and go.
    /// Neighbouring cities share some events (touring bands). Now and then the answer for
    /// Berlin is a body the client cannot parse.
    pub fn events_near(location: &str, round: u64) -> Result<Vec<(u64, String, Vec<u64>)>, String> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        if location == "berlin" && BERLIN_CALLS.fetch_add(1, Ordering::Relaxed) % 6 == 5 {
            GARBAGE.fetch_add(1, Ordering::Relaxed);
            return Err("<html>502 Bad Gateway</html>".into());
        }
        let base = super::LOCATIONS
            .iter()
            .position(|l| *l == location)
            .unwrap_or(0) as u64
            * 6;
        Ok((0..8)
            .map(|i| {
                let id = base + (round + i) % 12;
                (id, format!("gig #{id}"), vec![id % 5, (id + 1) % 5])
            })
            .collect())
    }

    pub fn latest_release(artist: u64) -> String {
        format!("album {} by artist {artist}", 2020 + artist)
    }
}

/// The tables, created and owned by the root process.
#[derive(Clone)]
struct Store {
    events: Table<u64, Event>,
    releases: Table<u64, Release>,
    locations: Table<String, Location>,
}

impl Store {
    fn create() -> Result<Store, TableError> {
        Ok(Store {
            events: Table::options().public().named("gig_events").create()?,
            releases: Table::options().public().named("gig_releases").create()?,
            locations: Table::options()
                .ordered()
                .public()
                .named("gig_locations")
                .create()?,
        })
    }
}

/// Milliseconds since the program started: the tables' timestamps.
fn now(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Asks a refresher to refresh now.
struct RefreshNow;

/// One location's refresher: fetch, write to the tables, wait, again.
async fn refresher(
    mut ctx: Context<RefreshNow>,
    location: &'static str,
    store: Store,
    registry: Registry<String, ()>,
    start: Instant,
) -> ExitReason {
    if let Err(error) = registry.register(ctx.pid(), location.to_string(), ()) {
        return ExitReason::error(format!("cannot register {location}: {error}"));
    }
    let mut round = now(start) / 40;
    loop {
        // A response we cannot parse is a crash: the supervisor restarts us and the tables keep
        // what we wrote before.
        let events = match fake_api::events_near(location, round) {
            Ok(events) => events,
            Err(body) => panic!("unparseable response for {location}: {body}"),
        };
        let stamp = now(start);
        let mut ids = Vec::with_capacity(events.len());
        for (id, name, artists) in events {
            for &artist in &artists {
                // Releases are shared: fetch only what no location has fetched yet.
                if !store.releases.member(&artist).unwrap_or(true) {
                    let title = fake_api::latest_release(artist);
                    let _ = store.releases.insert_new(artist, Release { title });
                }
            }
            let event = Event {
                name,
                artists,
                refreshed_at: stamp,
            };
            if store.events.insert(id, event).is_err() {
                return ExitReason::error("the events table is gone");
            }
            ids.push(id);
        }
        let entry = Location {
            event_ids: ids,
            refreshed_at: stamp,
        };
        if store.locations.insert(location.to_string(), entry).is_err() {
            return ExitReason::error("the locations table is gone");
        }
        // Refresh every 40 ms, or sooner when a reader found a dangling reference; one refresh
        // answers every request that arrived meanwhile.
        let _ = tokio::time::timeout(Duration::from_millis(40), ctx.recv()).await;
        while tokio::time::timeout(Duration::ZERO, ctx.recv())
            .await
            .is_ok()
        {}
        round += 1;
    }
}

/// What the request handlers saw.
#[derive(Default)]
struct Served {
    requests: AtomicU64,
    gigs: AtomicU64,
    releases: AtomicU64,
    dangling: AtomicU64,
    location_missing: AtomicU64,
}

/// A request handler: "gigs near me", answered from the tables alone.
async fn handler(
    worker: usize,
    store: Store,
    registry: Registry<String, ()>,
    served: Arc<Served>,
    until: Instant,
) {
    let mut n = worker;
    while Instant::now() < until {
        n += 1;
        let location = LOCATIONS[n % LOCATIONS.len()];
        served.requests.fetch_add(1, Ordering::Relaxed);
        let Ok(Some(found)) = store.locations.lookup(&location.to_string()) else {
            served.location_missing.fetch_add(1, Ordering::Relaxed);
            tokio::task::yield_now().await;
            continue;
        };
        for id in &found.event_ids {
            match store.events.lookup(id) {
                Ok(Some(event)) => {
                    let releases = event
                        .artists
                        .iter()
                        .filter_map(|a| store.releases.lookup_with(a, |r| r.title.len()).ok()?)
                        .count();
                    served.gigs.fetch_add(1, Ordering::Relaxed);
                    served
                        .releases
                        .fetch_add(releases as u64, Ordering::Relaxed);
                }
                // The event was swept: answer what we have, and have the location refreshed.
                _ => {
                    served.dangling.fetch_add(1, Ordering::Relaxed);
                    let _ = registry.send(&location.to_string(), RefreshNow);
                }
            }
        }
        tokio::task::yield_now().await;
    }
}

fn main() {
    let reason = grove::run(|mut ctx: Context<()>| async move {
        let start = Instant::now();
        // The root process owns the tables: refreshers come and go, the data stays.
        let store = Store::create().map_err(|e| ExitReason::error(e.to_string()))?;
        let registry = Registry::<String, ()>::new(Keys::Unique);

        let refreshers = DynamicSupervisor::new()
            .intensity(50, Duration::from_secs(1))
            .start_link()
            .await?;
        for location in LOCATIONS {
            let (store, registry) = (store.clone(), registry.clone());
            let spec = ChildSpec::process(location, move |pctx: Context<RefreshNow>| {
                refresher(pctx, location, store.clone(), registry.clone(), start)
            })
            .restart(Restart::Permanent);
            refreshers
                .start_child(spec)
                .await
                .map_err(|e| ExitReason::error(e.to_string()))?;
        }

        // The sweeper: drop events no refresher has written for 100 ms.
        let sweeper_events = store.events.clone();
        let swept = Arc::new(AtomicU64::new(0));
        let swept_count = swept.clone();
        ctx.spawn_link(move |_: Context<()>| async move {
            loop {
                tokio::time::sleep(Duration::from_millis(60)).await;
                let cutoff = now(start).saturating_sub(100);
                match sweeper_events.select_delete(|_, e| e.refreshed_at < cutoff) {
                    Ok(n) => swept_count.fetch_add(n as u64, Ordering::Relaxed),
                    Err(error) => return ExitReason::error(error.to_string()),
                };
            }
        });

        // Request handlers, as a web server's would be: straight to the tables.
        let served = Arc::new(Served::default());
        let until = Instant::now() + Duration::from_millis(1500);
        let handlers: Vec<_> = (0..4)
            .map(|worker| {
                let (store, registry, served) = (store.clone(), registry.clone(), served.clone());
                ctx.spawn_link(move |_: Context<()>| {
                    handler(worker, store, registry, served, until)
                })
            })
            .collect();
        for handler in handlers {
            grove::process::await_exit(handler.pid()).await;
        }

        let crashes = fake_api::GARBAGE.load(Ordering::Relaxed);
        let berlin = store
            .locations
            .lookup(&"berlin".to_string())
            .map_err(|e| ExitReason::error(e.to_string()))?;
        let first_gig = berlin
            .as_ref()
            .and_then(|l| l.event_ids.first())
            .and_then(|id| store.events.lookup(id).ok().flatten())
            .map(|event| event.name);
        println!("in 1.5 s, 4 request handlers served:");
        println!(
            "  {} requests: {} gigs with {} releases, {} dangling event refs (each asked for a refresh), {} requests before a location's first refresh",
            served.requests.load(Ordering::Relaxed),
            served.gigs.load(Ordering::Relaxed),
            served.releases.load(Ordering::Relaxed),
            served.dangling.load(Ordering::Relaxed),
            served.location_missing.load(Ordering::Relaxed),
        );
        println!(
            "the Berlin refresher crashed {crashes} times on bad responses and was restarted each time; Berlin kept its {} events (first: {first_gig:?}), last refreshed at {} ms",
            berlin.as_ref().map_or(0, |l| l.event_ids.len()),
            berlin.as_ref().map_or(0, |l| l.refreshed_at),
        );
        println!(
            "tables: {} events (shared by {} locations), {} releases; the sweeper dropped {} stale events",
            store.events.count().unwrap_or(0),
            store.locations.count().unwrap_or(0),
            store.releases.count().unwrap_or(0),
            swept.load(Ordering::Relaxed),
        );
        println!(
            "fake API calls: {}; registered refreshers: {}",
            fake_api::CALLS.load(Ordering::Relaxed),
            registry.count()
        );
        refreshers.stop(ExitReason::Normal).await?;
        Ok::<(), ExitReason>(())
    });
    println!("done: {reason}");
}
