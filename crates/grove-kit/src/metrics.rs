//! Metrics the kit's components export (placeholder registry filled in by the HTTP layer).

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::cache::CacheStats;

type CacheSource = Arc<dyn Fn() -> CacheStats + Send + Sync>;

type Sources<T> = Mutex<Vec<(Arc<str>, T)>>;

fn caches() -> &'static Sources<CacheSource> {
    static CACHES: OnceLock<Sources<CacheSource>> = OnceLock::new();
    CACHES.get_or_init(Default::default)
}

/// Exports a cache's stats under its name (replacing an earlier cache of that name).
pub(crate) fn register_cache(name: &str, source: CacheSource) {
    let mut caches = caches().lock();
    caches.retain(|(existing, _)| &**existing != name);
    caches.push((Arc::from(name), source));
}

/// The stats of every cache whose janitor has started.
pub fn cache_stats() -> Vec<CacheStats> {
    let sources: Vec<CacheSource> = caches().lock().iter().map(|(_, s)| s.clone()).collect();
    sources.iter().map(|source| source()).collect()
}
