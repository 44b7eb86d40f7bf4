//! The health server over real HTTP: a node scraped by an HTTP client, the text parsed by a
//! Prometheus parser, and readiness flipping with alarms. (Readiness during shutdown is in
//! `http_shutdown.rs`: "stopping" is process-wide, so it gets a test binary of its own.)

mod http_support;

use http_support::{get, listener};

use std::time::Duration;

use grove_kit::alarm::AlarmManager;
use grove_kit::breaker::{BreakerConfig, CircuitBreaker};
use grove_kit::cache::Cache;
use grove_kit::health::HealthServer;
use grove_otp::prelude::*;
use grove_runtime::Context;
use prometheus_parse::{Scrape, Value};

fn value(scrape: &Scrape, metric: &str, label: Option<(&str, &str)>) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .find_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[test]
fn metrics_are_scraped_and_parsed_and_readiness_follows_alarms() {
    let reason = grove_runtime::run(|_: Context<()>| async {
        let (socket, port) = listener();
        let alarms = AlarmManager::new("http_alarms");
        let cache: Cache<String, u32> = Cache::builder("http_cache").build();
        let breaker = CircuitBreaker::install(
            "http_breaker",
            BreakerConfig::new(1, Duration::from_secs(10), Duration::from_secs(60)),
        );
        let _tree = Supervisor::one_for_one()
            .child(alarms.child_spec())
            .child(cache.child_spec())
            .child(
                HealthServer::from_listener(socket)
                    .alarms(&alarms)
                    .child_spec(),
            )
            .start_link()
            .await
            .expect("the tree starts");
        cache.insert("a".into(), 1).await;
        let _ = cache.get("a").await;
        let _ = cache.get("b").await;
        let _ = breaker.call(async { Err::<(), _>("down") }).await;

        assert_eq!(get(port, "/healthz").await, (200, "ok".to_string()));
        assert_eq!(get(port, "/readyz").await, (200, "ready\n".to_string()));

        let (status, text) = get(port, "/metrics").await;
        assert_eq!(status, 200);
        let scrape =
            Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
        assert!(
            value(&scrape, "grove_processes", None).is_some_and(|n| n >= 3.0),
            "{text}"
        );
        assert!(
            value(&scrape, "grove_workers", None).is_some_and(|n| n >= 1.0),
            "{text}"
        );
        assert!(
            value(&scrape, "grove_memory_resident_bytes", None).is_some_and(|n| n > 0.0),
            "{text}"
        );
        assert!(
            value(&scrape, "grove_supervisor_children_started_total", None)
                .is_some_and(|n| n >= 3.0),
            "{text}"
        );
        assert_eq!(
            value(
                &scrape,
                "grove_cache_hits_total",
                Some(("cache", "http_cache"))
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &scrape,
                "grove_cache_misses_total",
                Some(("cache", "http_cache"))
            ),
            Some(1.0),
            "{text}"
        );
        let open = scrape.samples.iter().find(|s| {
            s.metric == "grove_breaker_state"
                && s.labels.get("breaker") == Some("http_breaker")
                && s.labels.get("state") == Some("open")
        });
        assert!(
            open.is_some_and(
                |s| matches!(s.value, Value::Gauge(v) | Value::Untyped(v) if v == 1.0)
            ),
            "{text}"
        );
        assert!(
            value(&scrape, "grove_messages_queued", None).is_some(),
            "{text}"
        );
        assert!(
            value(&scrape, "grove_mailbox_longest", None).is_some(),
            "{text}"
        );

        alarms.set_alarm("database_disconnected", "db-1 does not answer");
        let (status, body) = get(port, "/readyz").await;
        assert_eq!(status, 503);
        assert!(
            body.contains("alarm database_disconnected: db-1 does not answer"),
            "{body}"
        );
        let (_, text) = get(port, "/metrics").await;
        assert!(text.contains("grove_alarms_active 1"), "{text}");
        alarms.clear_alarm("database_disconnected");
        assert_eq!(get(port, "/readyz").await.0, 200);
        assert_eq!(get(port, "/nothing-here").await.0, 404);
        CircuitBreaker::uninstall("http_breaker");
    });
    assert!(reason.is_normal(), "{reason:?}");
}
