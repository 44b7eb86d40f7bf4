//! Prometheus metrics for a Grove node: the runtime (processes, run queue, queued messages and
//! the longest mailbox, memory), supervision (starts, restarts, give-ups), the kit's caches,
//! circuit breakers, rate limiters and alarms, and (with the `node` feature) the running node's
//! distribution counters, such as `grove_node_handshakes_failed_total`, computed when scraped. Programs add their own
//! metrics to the same registry with [`register`].
//!
//! [`render`] gives the OpenMetrics text a scrape returns; [`crate::health::HealthServer`]
//! serves it at `/metrics`.
//!
//! ```
//! use prometheus_client::metrics::counter::Counter;
//!
//! let orders: Counter = Counter::default();
//! grove_kit::metrics::register("shop_orders", "Orders taken", orders.clone());
//! orders.inc();
//! let text = grove_kit::metrics::render();
//! assert!(text.contains("shop_orders_total 1"));
//! assert!(text.contains("grove_processes"));
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry};

use crate::alarm::AlarmManager;
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::cache::CacheStats;
use crate::limiter::LimiterStats;

type Source<T> = Arc<dyn Fn() -> T + Send + Sync>;
type Named<T> = Mutex<Vec<(Arc<str>, T)>>;

fn caches() -> &'static Named<Source<CacheStats>> {
    static CACHES: OnceLock<Named<Source<CacheStats>>> = OnceLock::new();
    CACHES.get_or_init(Default::default)
}

fn limiters() -> &'static Named<Source<LimiterStats>> {
    static LIMITERS: OnceLock<Named<Source<LimiterStats>>> = OnceLock::new();
    LIMITERS.get_or_init(Default::default)
}

fn alarm_managers() -> &'static Named<AlarmManager> {
    static ALARMS: OnceLock<Named<AlarmManager>> = OnceLock::new();
    ALARMS.get_or_init(Default::default)
}

/// Puts `value` under `name`, replacing an earlier one of that name.
fn replace<T>(list: &Named<T>, name: &str, value: T) {
    let mut list = list.lock();
    list.retain(|(existing, _)| &**existing != name);
    list.push((Arc::from(name), value));
}

fn collect<T>(list: &Named<Source<T>>) -> Vec<T> {
    let sources: Vec<Source<T>> = list.lock().iter().map(|(_, s)| s.clone()).collect();
    sources.iter().map(|source| source()).collect()
}

/// Exports a cache's stats under its name (replacing an earlier cache of that name).
pub(crate) fn register_cache(name: &str, source: Source<CacheStats>) {
    replace(caches(), name, source);
}

/// The stats of every cache whose janitor has started.
pub fn cache_stats() -> Vec<CacheStats> {
    collect(caches())
}

/// Exports a rate limiter's counts.
pub fn register_limiter(limiter: &crate::limiter::RateLimiter) {
    let exported = limiter.clone();
    replace(
        limiters(),
        limiter.name(),
        Arc::new(move || exported.stats()),
    );
}

/// Exports an alarm manager's active alarms (done by its child spec).
pub(crate) fn register_alarms(alarms: &AlarmManager) {
    replace(alarm_managers(), alarms.name(), alarms.clone());
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(GroveCollector));
        Mutex::new(registry)
    })
}

/// Adds a metric of the program's own to what `/metrics` serves (a counter is exported with
/// `_total` appended, as OpenMetrics wants).
pub fn register(name: &str, help: &str, metric: impl Metric) {
    registry().lock().register(name, help, metric);
}

/// The OpenMetrics text of every metric, as a scrape gets it.
pub fn render() -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry().lock()) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    text
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Computes Grove's own metrics at each scrape.
#[derive(Debug)]
struct GroveCollector;

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// One metric with a label per row.
fn family(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: &[(Vec<(&str, String)>, f64)],
) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let mut metric = e.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let row = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(*value as u64).encode(row)?,
            _ => ConstGauge::new(*value).encode(row)?,
        }
    }
    Ok(())
}

/// Resident memory of this OS process, from /proc's `VmRSS` (0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

impl Collector for GroveCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let system = grove_runtime::system_info();
        gauge(
            &mut e,
            "grove_processes",
            "Live processes",
            system.process_count as f64,
        )?;
        gauge(
            &mut e,
            "grove_run_queue",
            "Tasks waiting in the runtime's global run queue",
            system.run_queue as f64,
        )?;
        gauge(
            &mut e,
            "grove_workers",
            "Scheduler worker threads",
            system.workers as f64,
        )?;
        gauge(
            &mut e,
            "grove_uptime_seconds",
            "Time since the runtime started",
            system.uptime.as_secs_f64(),
        )?;
        gauge(
            &mut e,
            "grove_memory_resident_bytes",
            "Resident memory of this OS process",
            resident_bytes() as f64,
        )?;
        let mailboxes = grove_runtime::mailbox_summary();
        gauge(
            &mut e,
            "grove_messages_queued",
            "Messages waiting in all mailboxes",
            mailboxes.queued as f64,
        )?;
        gauge(
            &mut e,
            "grove_mailbox_longest",
            "The longest mailbox (its high-water mark at this scrape)",
            mailboxes.longest.map_or(0, |(_, len)| len) as f64,
        )?;
        gauge(
            &mut e,
            "grove_messages_handled",
            "Messages received by the live processes",
            mailboxes.handled as f64,
        )?;
        gauge(
            &mut e,
            "grove_messages_dropped",
            "Messages refused by full bounded mailboxes of the live processes",
            mailboxes.dropped as f64,
        )?;
        let supervision = grove_otp::supervisor::stats::snapshot();
        counter(
            &mut e,
            "grove_supervisor_children_started",
            "Children started, first starts and restarts",
            supervision.children_started,
        )?;
        counter(
            &mut e,
            "grove_supervisor_restarts",
            "Children restarted after a failure",
            supervision.restarts,
        )?;
        counter(
            &mut e,
            "grove_supervisor_start_failures",
            "Child starts that failed",
            supervision.start_failures,
        )?;
        counter(
            &mut e,
            "grove_supervisor_give_ups",
            "Supervisors that reached their restart intensity",
            supervision.give_ups,
        )?;
        counter(
            &mut e,
            "grove_supervisor_shutdown_timeouts",
            "Children killed for not stopping in time",
            supervision.shutdown_timeouts,
        )?;

        let caches = cache_stats();
        let by_cache = |f: &dyn Fn(&CacheStats) -> f64| -> Vec<(Vec<(&str, String)>, f64)> {
            caches
                .iter()
                .map(|s| (vec![("cache", s.name.to_string())], f(s)))
                .collect()
        };
        family(
            &mut e,
            "grove_cache_hits",
            "Cache lookups that found a live entry",
            MetricType::Counter,
            &by_cache(&|s| s.hits as f64),
        )?;
        family(
            &mut e,
            "grove_cache_misses",
            "Cache lookups that found nothing",
            MetricType::Counter,
            &by_cache(&|s| s.misses as f64),
        )?;
        family(
            &mut e,
            "grove_cache_evictions",
            "Entries evicted to stay within the size bound",
            MetricType::Counter,
            &by_cache(&|s| s.evictions as f64),
        )?;
        family(
            &mut e,
            "grove_cache_expirations",
            "Entries that expired",
            MetricType::Counter,
            &by_cache(&|s| s.expirations as f64),
        )?;
        family(
            &mut e,
            "grove_cache_loads",
            "Loaders run by fetch",
            MetricType::Counter,
            &by_cache(&|s| s.loads as f64),
        )?;
        family(
            &mut e,
            "grove_cache_load_failures",
            "Loaders that failed",
            MetricType::Counter,
            &by_cache(&|s| s.load_failures as f64),
        )?;
        family(
            &mut e,
            "grove_cache_entries",
            "Entries held",
            MetricType::Gauge,
            &by_cache(&|s| s.entries as f64),
        )?;

        let breakers: Vec<_> = CircuitBreaker::all_installed()
            .iter()
            .map(CircuitBreaker::stats)
            .collect();
        let mut states = Vec::new();
        for stats in &breakers {
            for state in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
            ] {
                states.push((
                    vec![
                        ("breaker", stats.name.to_string()),
                        ("state", state.as_str().to_string()),
                    ],
                    if stats.state == state { 1.0 } else { 0.0 },
                ));
            }
        }
        family(
            &mut e,
            "grove_breaker_state",
            "1 for the state each breaker is in",
            MetricType::Gauge,
            &states,
        )?;
        let by_breaker =
            |f: &dyn Fn(&crate::breaker::BreakerStats) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
                breakers
                    .iter()
                    .map(|s| (vec![("breaker", s.name.to_string())], f(s) as f64))
                    .collect()
            };
        family(
            &mut e,
            "grove_breaker_calls",
            "Calls let through",
            MetricType::Counter,
            &by_breaker(&|s| s.calls),
        )?;
        family(
            &mut e,
            "grove_breaker_failures",
            "Calls that failed",
            MetricType::Counter,
            &by_breaker(&|s| s.failures),
        )?;
        family(
            &mut e,
            "grove_breaker_rejected",
            "Calls rejected while open",
            MetricType::Counter,
            &by_breaker(&|s| s.rejected),
        )?;
        family(
            &mut e,
            "grove_breaker_melts",
            "Times the breaker opened",
            MetricType::Counter,
            &by_breaker(&|s| s.melts),
        )?;

        let limiters = collect(limiters());
        let by_limiter = |f: &dyn Fn(&LimiterStats) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
            limiters
                .iter()
                .map(|s| (vec![("limiter", s.name.to_string())], f(s) as f64))
                .collect()
        };
        family(
            &mut e,
            "grove_limiter_allowed",
            "Cells a rate limiter handed out",
            MetricType::Counter,
            &by_limiter(&|s| s.allowed),
        )?;
        family(
            &mut e,
            "grove_limiter_limited",
            "Checks a rate limiter refused",
            MetricType::Counter,
            &by_limiter(&|s| s.limited),
        )?;

        let alarms: Vec<AlarmManager> = alarm_managers()
            .lock()
            .iter()
            .map(|(_, a)| a.clone())
            .collect();
        let mut active = Vec::new();
        for manager in &alarms {
            for alarm in manager.active() {
                active.push((
                    vec![
                        ("manager", manager.name().to_string()),
                        ("alarm", alarm.id.to_string()),
                    ],
                    1.0,
                ));
            }
        }
        gauge(
            &mut e,
            "grove_alarms_active",
            "Alarms set now",
            active.len() as f64,
        )?;
        family(
            &mut e,
            "grove_alarm",
            "1 for each alarm set now",
            MetricType::Gauge,
            &active,
        )?;
        #[cfg(feature = "node")]
        node_counters(&mut e)?;
        Ok(())
    }
}

/// The running node's counters (what crossed, and everything refused, dropped or failed), as
/// `grove_node_<counter>_total`; nothing before a node is started.
#[cfg(feature = "node")]
fn node_counters(e: &mut DescriptorEncoder) -> fmt::Result {
    let Some(node) = grove_node::Node::current() else {
        return Ok(());
    };
    for (name, help, value) in node.stats().counters() {
        counter(e, &format!("grove_node_{name}"), help, value)?;
    }
    Ok(())
}
