//! The request side: handler processes answering "gigs near me" from the tables and the cache
//! alone. They never ask a refresher or the API, so neither a crashed refresher nor an API
//! outage makes them wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grove::prelude::*;
use grove::registry::Registry;

use crate::refresh::{RefreshNow, Store};
use crate::LOCATIONS;

/// What the request handlers answered, since the start.
#[derive(Default)]
pub struct Served {
    pub requests: AtomicU64,
    pub gigs: AtomicU64,
    pub releases_known: AtomicU64,
    pub releases_pending: AtomicU64,
    pub dangling: AtomicU64,
    pub location_unknown: AtomicU64,
    /// The age of the oldest data answered since the last look (ms).
    pub oldest_answer_ms: AtomicU64,
    /// Bytes of answers, as a web server would have sent them.
    pub answer_bytes: AtomicU64,
}

impl Served {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The age of the oldest data answered since the last call.
    pub fn take_oldest_answer(&self) -> Duration {
        Duration::from_millis(self.oldest_answer_ms.swap(0, Ordering::Relaxed))
    }
}

/// The request handlers, as children of a supervisor.
pub fn handlers(
    count: usize,
    store: &Store,
    registry: &Registry<String, ()>,
    served: &Arc<Served>,
) -> Vec<ChildSpec> {
    (0..count)
        .map(|worker| {
            let (store, registry, served) = (store.clone(), registry.clone(), served.clone());
            ChildSpec::process(format!("handler-{worker}"), move |_: Context<()>| {
                handler(worker, store.clone(), registry.clone(), served.clone())
            })
        })
        .collect()
}

/// One request handler. A real one would take requests off a socket; this one makes its own,
/// about one per millisecond, cycling through the locations.
async fn handler(
    worker: usize,
    store: Store,
    registry: Registry<String, ()>,
    served: Arc<Served>,
) -> ExitReason {
    let mut n = worker;
    loop {
        n += 1;
        let location = LOCATIONS[n % LOCATIONS.len()].to_string();
        served.requests.fetch_add(1, Ordering::Relaxed);
        match store.locations.lookup(&location) {
            Ok(Some(found)) => {
                let age = store.now().saturating_sub(found.refreshed_at);
                served.oldest_answer_ms.fetch_max(age, Ordering::Relaxed);
                let answer = answer(&found.event_ids, &location, &store, &registry, &served).await;
                served
                    .answer_bytes
                    .fetch_add(answer.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => {
                served.location_unknown.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => return ExitReason::error(error.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn answer(
    event_ids: &[u64],
    location: &String,
    store: &Store,
    registry: &Registry<String, ()>,
    served: &Served,
) -> String {
    let mut answer = String::new();
    for id in event_ids {
        match store.events.lookup(id) {
            Ok(Some(event)) => {
                served.gigs.fetch_add(1, Ordering::Relaxed);
                answer.push_str(&event.name);
                for artist in &event.artists {
                    // A release not fetched yet is answered as pending; the fetcher is on it.
                    match store.releases.get(artist).await {
                        Some(release) => {
                            served.releases_known.fetch_add(1, Ordering::Relaxed);
                            answer.push_str(&release.title);
                        }
                        None => {
                            served.releases_pending.fetch_add(1, Ordering::Relaxed);
                            answer.push_str("(pending)");
                        }
                    }
                }
            }
            // The event was swept: answer what we have, and have the location refreshed.
            _ => {
                served.dangling.fetch_add(1, Ordering::Relaxed);
                let _ = registry.send(location, RefreshNow);
            }
        }
    }
    answer
}
