//! A TTL cache (Elixir's Cachex) on moka: a time to live per entry and by default, a maximum
//! size with eviction, `fetch` that runs its loader once per key however many callers miss at
//! once, atomic `get_and_update`, and hit, miss, eviction and expiry counts that
//! [`crate::metrics`] exports.
//!
//! Readers never go through a process: a [`Cache`] is a shared handle on moka's concurrent map.
//! The process a cache comes with ([`Cache::child_spec`]) is its janitor, as in Cachex: it runs
//! moka's housekeeping on an interval (so evictions and expiries are counted and their memory
//! returned even when the cache is idle) and makes the cache findable by name
//! ([`Cache::named`]). The entries belong to the cache, not to the janitor, so a restarted
//! janitor finds them all still there.
//!
//! Expiry follows tokio's clock, so tests can run on virtual time (moka's own expiry, on the
//! real clock, only reclaims the memory of entries this cache already treats as gone).
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::cache::Cache;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let cache: Cache<String, u64> = Cache::builder("prices")
//!     .max_capacity(10_000)
//!     .time_to_live(Duration::from_secs(60))
//!     .build();
//! let price = cache
//!     .fetch("berlin".to_string(), async { Ok::<_, std::io::Error>(42) })
//!     .await
//!     .unwrap();
//! assert_eq!(price, 42);
//! assert_eq!(cache.get("berlin").await, Some(42));
//! tokio::time::sleep(Duration::from_secs(61)).await;
//! assert_eq!(cache.get("berlin").await, None);
//! let stats = cache.stats();
//! assert_eq!((stats.hits, stats.misses, stats.expirations), (1, 2, 1));
//! # });
//! ```

use std::borrow::Borrow;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grove_otp::supervisor::ChildSpec;
use grove_otp::StartError;
use grove_runtime::{Context, ExitReason, SpawnOptions};
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use tokio::time::Instant;

use crate::named;

/// What a cache entry holds: the value, when it stops being visible, and whether its expiry
/// has been counted (by the first reader to find it expired, or by moka's reclaiming it).
/// Behind an `Arc`, so a hit clones a pointer before it clones the value.
struct SlotInner<V> {
    value: V,
    expires_at: Option<Instant>,
    ttl: Option<Duration>,
    expiry_counted: AtomicBool,
}

type Slot<V> = Arc<SlotInner<V>>;

/// What a lookup found.
enum Lookup<V> {
    Hit(V),
    Expired,
    Absent,
}

impl<V> SlotInner<V> {
    fn new(value: V, ttl: Option<Duration>, now: Instant) -> Slot<V> {
        Arc::new(SlotInner {
            value,
            // A time to live too long to add means never.
            expires_at: ttl.and_then(|ttl| now.checked_add(ttl)),
            ttl,
            expiry_counted: AtomicBool::new(false),
        })
    }

    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Live now; reads the clock only if the entry can expire.
    fn live_now(&self) -> bool {
        self.expires_at.is_none_or(|at| Instant::now() < at)
    }

    /// True the first time it is called: the caller counts the expiry.
    fn claim_expiry(&self) -> bool {
        !self.expiry_counted.swap(true, Ordering::Relaxed)
    }
}

/// Tells moka when to reclaim an entry: its own time to live, on moka's (real) clock.
struct SlotExpiry;

impl<K, V> moka::Expiry<K, Slot<V>> for SlotExpiry {
    fn expire_after_create(
        &self,
        _key: &K,
        slot: &Slot<V>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        slot.ttl
    }

    fn expire_after_update(
        &self,
        _key: &K,
        slot: &Slot<V>,
        _updated_at: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        slot.ttl
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    loads: AtomicU64,
    load_failures: AtomicU64,
}

/// A cache's counts since it was built.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheStats {
    /// The cache's name.
    pub name: Arc<str>,
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing (or an expired entry).
    pub misses: u64,
    /// Entries evicted to stay within the maximum size.
    pub evictions: u64,
    /// Entries that expired.
    pub expirations: u64,
    /// Loaders `fetch` ran (one per key per miss, however many callers waited on it).
    pub loads: u64,
    /// Loaders that returned an error (nothing was cached).
    pub load_failures: u64,
    /// Entries held (approximate until housekeeping has run).
    pub entries: u64,
}

impl CacheStats {
    /// Hits over lookups, 0 when there were none.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// How to build a [`Cache`].
pub struct CacheBuilder {
    name: Arc<str>,
    max_capacity: Option<u64>,
    ttl: Option<Duration>,
    janitor_interval: Duration,
}

impl CacheBuilder {
    /// At most `entries` entries; past that, the least likely to be used again are evicted
    /// (moka's TinyLFU). Unbounded by default.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = Some(entries);
        self
    }

    /// The default time to live of an entry (none by default: entries live until evicted or
    /// removed). [`Cache::insert_with_ttl`] overrides it per entry.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How often the janitor runs housekeeping (1 s by default).
    pub fn janitor_interval(mut self, interval: Duration) -> Self {
        self.janitor_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Builds the cache. Its janitor is started separately, with [`Cache::child_spec`].
    pub fn build<K, V>(self) -> Cache<K, V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let counters = Arc::new(Counters::default());
        let listener_counters = counters.clone();
        let mut builder = moka::future::Cache::builder()
            .expire_after(SlotExpiry)
            .eviction_listener(move |_key, slot: Slot<V>, cause| match cause {
                RemovalCause::Size => {
                    listener_counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Expired => {
                    if slot.claim_expiry() {
                        listener_counters
                            .expirations
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            });
        if let Some(max) = self.max_capacity {
            builder = builder.max_capacity(max);
        }
        Cache {
            inner: builder.build(),
            shared: Arc::new(Shared {
                name: self.name,
                ttl: self.ttl,
                janitor_interval: self.janitor_interval,
                counters,
            }),
        }
    }
}

struct Shared {
    name: Arc<str>,
    ttl: Option<Duration>,
    janitor_interval: Duration,
    counters: Arc<Counters>,
}

/// A concurrent cache with expiry and a size bound. Cheap to clone; clones share the cache.
pub struct Cache<K, V> {
    inner: moka::future::Cache<K, Slot<V>>,
    shared: Arc<Shared>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.shared.name)
            .finish()
    }
}

impl Cache<(), ()> {
    /// Starts building a cache called `name` (the name its metrics and logs carry).
    pub fn builder(name: impl Into<Arc<str>>) -> CacheBuilder {
        CacheBuilder {
            name: name.into(),
            max_capacity: None,
            ttl: None,
            janitor_interval: Duration::from_secs(1),
        }
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The cache's name, as its metrics and logs carry it.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn slot(&self, value: V, ttl: Option<Duration>) -> Slot<V> {
        SlotInner::new(value, ttl, Instant::now())
    }

    fn count_expiry(&self, slot: &SlotInner<V>) {
        if slot.claim_expiry() {
            self.shared
                .counters
                .expirations
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The live value under `key`, counting a hit or a miss.
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.lookup(key).await {
            Lookup::Hit(value) => Some(value),
            Lookup::Expired | Lookup::Absent => None,
        }
    }

    /// The live value under `key`, or why not; counts a hit or a miss.
    async fn lookup<Q>(&self, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let counters = &self.shared.counters;
        match self.inner.get(key).await {
            Some(slot) if slot.live_now() => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(slot.value.clone())
            }
            Some(slot) => {
                counters.misses.fetch_add(1, Ordering::Relaxed);
                // An expired entry stays invisible until moka reclaims it on its own clock
                // (or `fetch` replaces it); its expiry is counted once.
                self.count_expiry(&slot);
                Lookup::Expired
            }
            None => {
                counters.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Absent
            }
        }
    }

    /// Removes the entry under `key` if it has expired (and not been refreshed meanwhile).
    async fn remove_if_expired(&self, key: &K) {
        let now = Instant::now();
        self.inner
            .entry(key.clone())
            .and_compute_with(|entry| {
                std::future::ready(match entry {
                    Some(entry) if !entry.value().live(now) => {
                        self.count_expiry(entry.value());
                        Op::Remove
                    }
                    _ => Op::Nop,
                })
            })
            .await;
    }

    /// Whether a live entry is under `key` (counts nothing).
    pub async fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .get(key)
            .await
            .is_some_and(|slot| slot.live_now())
    }

    /// Puts `value` under `key` with the cache's default time to live.
    pub async fn insert(&self, key: K, value: V) {
        self.inner
            .insert(key, self.slot(value, self.shared.ttl))
            .await;
    }

    /// Puts `value` under `key`, to expire after `ttl`.
    pub async fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) {
        self.inner.insert(key, self.slot(value, Some(ttl))).await;
    }

    /// Removes the entry under `key`, returning its value if it was live.
    pub async fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .remove(key)
            .await
            .filter(|slot| slot.live_now())
            .map(|slot| slot.value.clone())
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }

    /// The value under `key`; on a miss, runs `loader` and caches what it returns (with the
    /// default time to live). Callers that miss on the same key at the same time share one run
    /// of the loader and all get its result, error included (errors are not cached).
    pub async fn fetch<E, F>(&self, key: K, loader: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        match self.lookup(&key).await {
            Lookup::Hit(value) => return Ok(value),
            // moka's loader would take the expired entry for a live one: remove it first.
            Lookup::Expired => self.remove_if_expired(&key).await,
            Lookup::Absent => {}
        }
        let counters = self.shared.counters.clone();
        let ttl = self.shared.ttl;
        let slot = self
            .inner
            .try_get_with(key, async move {
                counters.loads.fetch_add(1, Ordering::Relaxed);
                match loader.await {
                    Ok(value) => Ok(SlotInner::new(value, ttl, Instant::now())),
                    Err(error) => {
                        counters.load_failures.fetch_add(1, Ordering::Relaxed);
                        Err(error)
                    }
                }
            })
            .await?;
        Ok(slot.value.clone())
    }

    /// Atomically replaces the value under `key` with what `update` makes of the current one
    /// (`None` if absent or expired); `update` returning `None` removes the entry. Returns the
    /// new value. A replaced entry keeps its expiry time; a new one gets the default time to
    /// live. Concurrent updates of one key run one after the other.
    pub async fn get_and_update<F>(&self, key: K, update: F) -> Option<V>
    where
        F: FnOnce(Option<V>) -> Option<V>,
    {
        let default_ttl = self.shared.ttl;
        let now = Instant::now();
        let result = self
            .inner
            .entry(key)
            .and_compute_with(|entry| {
                let current = entry.map(|entry| entry.into_value());
                let live = current.as_ref().filter(|slot| slot.live(now));
                if let Some(expired) = current.as_ref().filter(|slot| !slot.live(now)) {
                    self.count_expiry(expired);
                }
                let (expires_at, ttl) = match live {
                    Some(slot) => (
                        slot.expires_at,
                        slot.expires_at.map(|at| at.saturating_duration_since(now)),
                    ),
                    None => (
                        default_ttl.and_then(|ttl| now.checked_add(ttl)),
                        default_ttl,
                    ),
                };
                let op = match update(live.map(|slot| slot.value.clone())) {
                    Some(value) => Op::Put(Arc::new(SlotInner {
                        value,
                        expires_at,
                        ttl,
                        expiry_counted: AtomicBool::new(false),
                    })),
                    None => Op::Remove,
                };
                std::future::ready(op)
            })
            .await;
        use moka::ops::compute::CompResult;
        match result {
            CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) => {
                Some(entry.into_value().value.clone())
            }
            CompResult::Unchanged(entry) => Some(entry.into_value().value.clone()),
            CompResult::Removed(_) | CompResult::StillNone(_) => None,
        }
    }

    /// Counts and size.
    pub fn stats(&self) -> CacheStats {
        let c = &self.shared.counters;
        CacheStats {
            name: self.shared.name.clone(),
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            expirations: c.expirations.load(Ordering::Relaxed),
            loads: c.loads.load(Ordering::Relaxed),
            load_failures: c.load_failures.load(Ordering::Relaxed),
            entries: self.inner.entry_count(),
        }
    }

    /// Runs housekeeping now: evictions, moka's expiries, their counts. The janitor does this
    /// on its interval.
    pub async fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks().await;
    }

    /// The cache registered under `name` by its janitor ([`Cache::child_spec`]), if its key
    /// and value types are `K` and `V`.
    pub fn named(name: &str) -> Option<Self> {
        named::lookup::<Self>(name)
    }

    /// The janitor as a child for a supervision tree: registers the cache under its name for
    /// [`Cache::named`] and exports its stats, then runs housekeeping on the janitor interval.
    pub fn child_spec(&self) -> ChildSpec {
        let cache = self.clone();
        ChildSpec::new(format!("cache:{}", self.shared.name), move || {
            // Registered before the janitor runs, so the cache is findable as soon as the
            // supervisor has started it.
            named::register(&cache.shared.name, cache.clone());
            let stats = cache.clone();
            crate::metrics::register_cache(&cache.shared.name, Arc::new(move || stats.stats()));
            let janitor = cache.clone();
            let started = grove_runtime::spawn_opt(
                SpawnOptions::new().link(true),
                move |_: Context<()>| async move {
                    let mut tick = tokio::time::interval(janitor.shared.janitor_interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        janitor.inner.run_pending_tasks().await;
                    }
                    #[allow(unreachable_code)]
                    ExitReason::Normal
                },
            )
            .map(|spawned| spawned.addr.pid())
            .map_err(|error| StartError::Init(ExitReason::error(error)));
            std::future::ready(started)
        })
    }
}
