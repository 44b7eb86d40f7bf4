//! Seed 004 ("Back on your feet"): gigs near a location, served from shared tables and a cache,
//! fed from a rate-limited external API, while a chaos monkey kills the workers.
//!
//! ```text
//! root (one_for_one)
//! ├── health           /healthz, /readyz, /metrics on loopback (first: it answers throughout)
//! ├── alarms           the alarm manager
//! ├── cache:gig_releases   the releases cache's janitor
//! ├── watchdog         checks the API's /health; raises `gigs_api_down` after 2 failures
//! ├── release_fetcher  a rate-limited queue; its workers fill the releases cache
//! ├── refreshers       a DynamicSupervisor: one refresher per location, in a registry
//! ├── sweeper          drops events no refresher has written lately
//! └── frontend         a supervisor of request handlers, reading tables and cache only
//! ```
//!
//! - The "external" API ([`fake_api`]) is an HTTP server on loopback with its own rate limit. It
//!   sometimes answers Berlin with garbage, which crashes Berlin's refresher (and its supervisor
//!   restarts it), and it has an outage in the middle of the run.
//! - The client ([`client`]) waits for its own rate limiter, so the API never throttles it,
//!   goes through a circuit breaker that opens during the outage, and retries transient errors
//!   with backoff and jitter.
//! - A chaos monkey kills a refresher, a request handler or a release-fetcher worker every
//!   100 ms. The table on the screen shows the handlers answering through all of it, and
//!   `/readyz` turning 503 while the watchdog's alarm is up.
//!
//! The program checks what it claims and exits with an error if a claim failed.
//!
//! Run it: `cargo run --example gigs -p grove` (`RUST_LOG=info` shows the logs too).

mod client;
mod fake_api;
mod frontend;
mod refresh;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::kit::health::HealthServer;
use grove::kit::prelude::{AlarmManager, BreakerState, RateLimitedQueue, Watchdog};
use grove::prelude::*;
use grove::registry::{Keys, Registry};
use grove::supervisor::SupervisorRef;
use grove::supervisor::{stats, DynamicSupervisorRef, Restart};

use client::ApiClient;
use fake_api::FakeApi;
use frontend::Served;
use refresh::{Running, Store, RELEASE_FETCHER};

const LOCATIONS: [&str; 4] = ["berlin", "london", "lisbon", "oslo"];

/// How long the program runs, and when the API is down.
const RUN_FOR: Duration = Duration::from_millis(3200);
const OUTAGE: (Duration, Duration) = (Duration::from_millis(1200), Duration::from_millis(2000));
const TICK: Duration = Duration::from_millis(200);

/// The API allows 300 requests a second; the client keeps to 150, the fetcher to 60 of those.
const API_LIMIT: u32 = 300;
const CLIENT_LIMIT: u32 = 150;
const FETCHER_LIMIT: u32 = 60;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let reason = grove::run(|ctx: Context<()>| run(ctx));
    if reason.is_normal() {
        ExitCode::SUCCESS
    } else {
        eprintln!("gigs failed: {reason}");
        ExitCode::FAILURE
    }
}

/// One row of the table on the screen.
struct Tick {
    at: Duration,
    requests: u64,
    outage: bool,
    breaker: BreakerState,
    alarm: bool,
    readyz: u16,
    oldest_answer: Duration,
}

async fn run(_: Context<()>) -> Result<(), ExitReason> {
    let fail =
        |what: &str, error: &dyn std::fmt::Display| ExitReason::error(format!("{what}: {error}"));
    let api = FakeApi::serve(API_LIMIT)
        .await
        .map_err(|e| fail("the fake API cannot listen", &e))?;
    let client = ApiClient::new(api.address, CLIENT_LIMIT);
    // The root process owns the tables: refreshers come and go, the data stays.
    let store = Store::create().map_err(|e| fail("cannot create the tables", &e))?;
    let registry = Registry::<String, ()>::new(Keys::Unique);
    let served = Arc::new(Served::default());
    let running: Running = Running::default();
    let alarms = AlarmManager::new("gigs_alarms");
    let health = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| Ok((l.local_addr()?.port(), l)))
        .map_err(|e| fail("the health server cannot listen", &e))?;
    let (health_port, health_listener) = health;

    let watched = client.clone();
    let root = Supervisor::one_for_one()
        .intensity(100, Duration::from_secs(1))
        .child(
            HealthServer::from_listener(health_listener)
                .alarms(&alarms)
                .child_spec(),
        )
        .child(alarms.child_spec())
        .child(store.releases.child_spec())
        .child(
            Watchdog::new("gigs_api_down", move || {
                let client = watched.clone();
                async move { client.health().await }
            })
            .interval(Duration::from_millis(100))
            .timeout(Duration::from_millis(300))
            .raise_after(2)
            .clear_after(2)
            .child_spec(&alarms),
        )
        .child(refresh::release_fetcher(
            store.clone(),
            client.clone(),
            running.clone(),
            FETCHER_LIMIT,
        ))
        .child(
            ChildSpec::new("refreshers", || {
                DynamicSupervisor::new()
                    .intensity(100, Duration::from_secs(1))
                    .start_opt(StartOptions::new().link().name("refreshers"))
            })
            .supervisor(),
        )
        .child(ChildSpec::process("sweeper", {
            let store = store.clone();
            move |_: Context<()>| sweeper(store.clone())
        }))
        .child(
            Supervisor::one_for_one()
                .intensity(100, Duration::from_secs(1))
                .children(frontend::handlers(4, &store, &registry, &served))
                .into_child_spec("frontend"),
        )
        .start()
        .await?;

    let refreshers = DynamicSupervisorRef::whereis("refreshers").ok_or(ExitReason::NoProc)?;
    for location in LOCATIONS {
        let (store, client, registry) = (store.clone(), client.clone(), registry.clone());
        let spec = ChildSpec::process(location, move |pctx: Context<refresh::RefreshNow>| {
            refresh::refresher(
                pctx,
                location,
                store.clone(),
                client.clone(),
                registry.clone(),
            )
        })
        .restart(Restart::Permanent);
        refreshers
            .start_child(spec)
            .await
            .map_err(|e| fail("cannot start a refresher", &e))?;
    }

    let kills = Arc::new(Kills::default());
    let monkey = {
        let (registry, running, kills) = (registry.clone(), running.clone(), kills.clone());
        // Not linked: stopping it must not take the root process along.
        grove::spawn(move |_: Context<()>| chaos_monkey(root, registry, running, kills))
    };

    println!(
        "gigs: API on {}, health on http://127.0.0.1:{health_port}",
        api.address
    );
    println!(
        "the API goes down from {:?} to {:?}; a chaos monkey kills a worker every 100 ms\n",
        OUTAGE.0, OUTAGE.1
    );
    println!(
        "{:>6}  {:>8}  {:>10}  {:>5}  {:>9}  {:>5}  {:>6}  {:>5}",
        "t", "requests", "oldest data", "API", "breaker", "alarm", "readyz", "kills"
    );
    let started = Instant::now();
    let mut ticks = Vec::new();
    let mut last_requests = served.requests();
    while started.elapsed() < RUN_FOR {
        let outage = (OUTAGE.0..OUTAGE.1).contains(&started.elapsed());
        api.set_outage(outage);
        tokio::time::sleep(TICK).await;
        let at = started.elapsed();
        let (readyz, _) = http_get(health_port, "/readyz").await;
        let requests = served.requests();
        let tick = Tick {
            at,
            requests: requests - last_requests,
            outage,
            breaker: client.breaker().state(),
            alarm: alarms.is_set("gigs_api_down"),
            readyz,
            oldest_answer: served.take_oldest_answer(),
        };
        last_requests = requests;
        println!(
            "{:>5.1}s  {:>8}  {:>8}ms  {:>5}  {:>9}  {:>5}  {:>6}  {:>5}",
            tick.at.as_secs_f64(),
            tick.requests,
            tick.oldest_answer.as_millis(),
            if tick.outage { "DOWN" } else { "up" },
            tick.breaker.as_str(),
            if tick.alarm { "SET" } else { "-" },
            tick.readyz,
            kills.total(),
        );
        ticks.push(tick);
    }
    grove::exit(monkey.pid(), ExitReason::Kill);

    let fetcher = RateLimitedQueue::<u64>::whereis(RELEASE_FETCHER).ok_or(ExitReason::NoProc)?;
    let queue = fetcher.stats().await?;
    let (_, metrics) = http_get(health_port, "/metrics").await;
    summary(&api, &client, &store, &served, &kills, &queue, &metrics);
    let verdict = check(&ticks, &api, &store, &kills);
    root.stop(ExitReason::Shutdown).await?;
    verdict
}

/// Drops events no refresher has written for 300 ms: the periodic cleanup the talk calls for.
async fn sweeper(store: Store) -> ExitReason {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cutoff = store.now().saturating_sub(300);
        if let Err(error) = store.events.select_delete(|_, e| e.refreshed_at < cutoff) {
            return ExitReason::error(error.to_string());
        }
    }
}

#[derive(Default)]
struct Kills {
    refreshers: AtomicU64,
    handlers: AtomicU64,
    fetchers: AtomicU64,
}

impl Kills {
    fn total(&self) -> u64 {
        [&self.refreshers, &self.handlers, &self.fetchers]
            .iter()
            .map(|k| k.load(Ordering::Relaxed))
            .sum()
    }
}

/// Every 100 ms, kills a refresher, a request handler or a release-fetcher worker, in turn.
async fn chaos_monkey(
    root: SupervisorRef,
    registry: Registry<String, ()>,
    running: Running,
    kills: Arc<Kills>,
) -> ExitReason {
    for round in 0usize.. {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (victim, counter) = match round % 3 {
            0 => (
                registry.whereis(&LOCATIONS[round / 3 % LOCATIONS.len()].to_string()),
                &kills.refreshers,
            ),
            1 => (a_handler(root, round).await, &kills.handlers),
            _ => (running.lock().iter().next().copied(), &kills.fetchers),
        };
        if let Some(pid) = victim {
            grove::exit(pid, ExitReason::Kill);
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
    ExitReason::Normal
}

/// One of the frontend's running request handlers.
async fn a_handler(root: SupervisorRef, round: usize) -> Option<Pid> {
    let children = root.which_children().await.ok()?;
    let frontend = children
        .iter()
        .find(|c| &*c.id == "frontend")?
        .status
        .pid()?;
    let handlers = SupervisorRef::from_pid(frontend)
        .which_children()
        .await
        .ok()?;
    let pids: Vec<Pid> = handlers.iter().filter_map(|c| c.status.pid()).collect();
    pids.get(round % pids.len().max(1)).copied()
}

fn summary(
    api: &FakeApi,
    client: &ApiClient,
    store: &Store,
    served: &Served,
    kills: &Kills,
    queue: &grove::kit::queue::QueueStats,
    metrics: &str,
) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!("\nrequest handlers: {} requests ({} KiB of answers), {} gigs, {} releases known and {} still being fetched, {} dangling event refs (each asked for a refresh)",
        served.requests(), load(&served.answer_bytes) / 1024, load(&served.gigs), load(&served.releases_known), load(&served.releases_pending), load(&served.dangling));
    println!(
        "chaos monkey: killed {} refreshers, {} request handlers, {} release-fetcher workers; supervisors restarted {} children",
        load(&kills.refreshers), load(&kills.handlers), load(&kills.fetchers), stats::snapshot().restarts
    );
    let a = &api.stats;
    println!(
        "the API: {} requests, {} refused during the outage, {} throttled (429), {} garbage answers to Berlin",
        load(&a.requests), load(&a.refused_in_outage), load(&a.throttled), load(&a.garbage)
    );
    let (limiter, breaker) = (client.limiter().stats(), client.breaker().stats());
    println!(
        "the client: its limiter let {} requests through and held {} back; its breaker saw {} calls, {} failures, melted {} times and refused {} calls at once",
        limiter.allowed, limiter.limited, breaker.calls, breaker.failures, breaker.melts, breaker.rejected
    );
    println!(
        "release fetcher: {} jobs queued, {} done, {} attempts failed and were retried, {} dead; {} refused while full",
        queue.pushed, queue.completed, queue.failed_attempts, queue.dead, queue.rejected
    );
    let cache = store.releases.stats();
    println!(
        "releases cache: {} hits, {} misses, {} loads, {} expired; refreshers served stale data for {} rounds",
        cache.hits, cache.misses, cache.loads, cache.expirations, load(&store.stale_rounds)
    );
    println!(
        "tables: {} events, {} locations",
        store.events.count().unwrap_or(0),
        store.locations.count().unwrap_or(0)
    );
    println!("from /metrics:");
    for line in metrics.lines().filter(|l| {
        [
            "grove_processes ",
            "grove_supervisor_restarts_total",
            "grove_breaker_melts_total",
            "grove_cache_hits_total",
            "grove_alarms_active",
        ]
        .iter()
        .any(|name| l.starts_with(name))
    }) {
        println!("  {line}");
    }
}

/// What the program claims, checked.
fn check(ticks: &[Tick], api: &FakeApi, store: &Store, kills: &Kills) -> Result<(), ExitReason> {
    let mut failed = Vec::new();
    if let Some(idle) = ticks.iter().find(|t| t.requests == 0) {
        failed.push(format!(
            "no request answered in the tick ending at {:?}",
            idle.at
        ));
    }
    if !ticks.iter().any(|t| t.outage && t.alarm && t.readyz == 503) {
        failed.push("the outage never raised the alarm and turned /readyz to 503".into());
    }
    if !ticks
        .iter()
        .any(|t| t.outage && t.breaker != BreakerState::Closed)
    {
        failed.push("the breaker never opened during the outage".into());
    }
    if ticks.last().is_none_or(|t| t.readyz != 200 || t.alarm) {
        failed.push("the alarm did not clear and /readyz did not turn 200 after the outage".into());
    }
    let throttled = api.stats.throttled.load(Ordering::Relaxed);
    if throttled > 0 {
        failed.push(format!("the API throttled {throttled} requests"));
    }
    for location in LOCATIONS {
        if !matches!(store.locations.lookup(&location.to_string()), Ok(Some(_))) {
            failed.push(format!("{location} has no data"));
        }
    }
    if kills.refreshers.load(Ordering::Relaxed) == 0 || kills.handlers.load(Ordering::Relaxed) == 0
    {
        failed.push("the chaos monkey killed nothing".into());
    }
    if failed.is_empty() {
        println!("\nchecked: answered in every tick, the breaker and /readyz followed the outage, never throttled, every location has data");
        Ok(())
    } else {
        Err(ExitReason::error(failed.join("; ")))
    }
}

/// GETs `path` from the health server: the status and the body (status 0 if it did not answer).
async fn http_get(port: u16, path: &str) -> (u16, String) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let Ok(uri) = format!("http://127.0.0.1:{port}{path}").parse::<axum::http::Uri>() else {
        return (0, String::new());
    };
    let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), client.get(uri)).await
    else {
        return (0, String::new());
    };
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    (status, body)
}
