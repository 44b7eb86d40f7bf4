//! The cache through its public API, on tokio's paused clock.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grove_kit::cache::Cache;
use support::paused;

#[test]
fn entries_expire_after_their_own_ttl_or_the_default() {
    paused().block_on(async {
        let cache: Cache<&'static str, u32> = Cache::builder("ttl")
            .time_to_live(Duration::from_secs(10))
            .build();
        cache.insert("default", 1).await;
        cache
            .insert_with_ttl("short", 2, Duration::from_secs(2))
            .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(cache.get("short").await, None);
        assert_eq!(cache.get("default").await, Some(1));
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert_eq!(cache.get("default").await, None);
        let stats = cache.stats();
        assert_eq!(stats.expirations, 2);
        assert_eq!((stats.hits, stats.misses), (1, 2));
        // Re-inserting starts a fresh time to live.
        cache.insert("default", 3).await;
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(cache.get("default").await, Some(3));
    });
}

#[test]
fn concurrent_misses_on_one_key_run_the_loader_once() {
    paused().block_on(async {
        let cache: Cache<String, u64> = Cache::builder("herd").build();
        let loads = Arc::new(AtomicU32::new(0));
        let fetches = (0..50).map(|_| {
            let cache = cache.clone();
            let loads = loads.clone();
            async move {
                cache
                    .fetch("hot".to_string(), async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, String>(7)
                    })
                    .await
            }
        });
        let results = futures_util::future::join_all(fetches).await;
        assert!(results.iter().all(|r| matches!(r, Ok(7))), "{results:?}");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().loads, 1);
    });
}

#[test]
fn a_failed_load_is_shared_by_its_waiters_and_not_cached() {
    paused().block_on(async {
        let cache: Cache<u32, u32> = Cache::builder("failing").build();
        let first = cache
            .fetch(1, async { Err::<u32, _>("backend down".to_string()) })
            .await;
        assert_eq!(first.unwrap_err().as_str(), "backend down");
        let second = cache.fetch(1, async { Ok::<_, String>(5) }).await;
        assert_eq!(second.unwrap(), 5);
        let stats = cache.stats();
        assert_eq!((stats.loads, stats.load_failures), (2, 1));
    });
}

#[test]
fn get_and_update_is_atomic_per_key_and_keeps_the_expiry() {
    paused().block_on(async {
        let cache: Cache<&'static str, u64> = Cache::builder("counters")
            .time_to_live(Duration::from_secs(10))
            .build();
        let bumps = (0..100).map(|_| {
            let cache = cache.clone();
            async move {
                cache
                    .get_and_update("hits", |n| Some(n.unwrap_or(0) + 1))
                    .await
            }
        });
        futures_util::future::join_all(bumps).await;
        assert_eq!(cache.get("hits").await, Some(100));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(
            cache.get_and_update("hits", |n| n.map(|n| n * 2)).await,
            Some(200)
        );
        // Still the first entry's expiry: 10 s after it was created.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(cache.get("hits").await, None);
        // Returning None removes.
        cache.insert("gone", 1).await;
        assert_eq!(cache.get_and_update("gone", |_| None).await, None);
        assert!(!cache.contains("gone").await);
    });
}

#[test]
fn a_bounded_cache_evicts_and_counts_evictions() {
    paused().block_on(async {
        let cache: Cache<u32, u32> = Cache::builder("bounded").max_capacity(100).build();
        for i in 0..1_000 {
            cache.insert(i, i).await;
            // Make every key worth keeping for moka's admission policy.
            let _ = cache.get(&i).await;
        }
        cache.run_pending_tasks().await;
        let stats = cache.stats();
        assert!(stats.entries <= 100, "{stats:?}");
        assert!(stats.evictions >= 900, "{stats:?}");
    });
}

#[test]
fn the_janitor_makes_the_cache_findable_and_survives_restarts_with_its_entries() {
    use grove_otp::prelude::*;
    let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {
        let cache: Cache<String, u32> = Cache::builder("sessions").build();
        cache.insert("alice".into(), 1).await;
        let sup = Supervisor::one_for_one()
            .child(cache.child_spec())
            .start_link()
            .await
            .expect("the supervisor starts");
        let named = Cache::<String, u32>::named("sessions").expect("registered by the janitor");
        assert_eq!(named.get("alice").await, Some(1));
        let janitor = sup.which_children().await.unwrap()[0]
            .status
            .pid()
            .expect("janitor running");
        grove_runtime::exit(janitor, ExitReason::Kill);
        for _ in 0..100 {
            let children = sup.which_children().await.unwrap();
            if children[0].status.pid().is_some_and(|pid| pid != janitor) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let again = Cache::<String, u32>::named("sessions").expect("still registered");
        assert_eq!(again.get("alice").await, Some(1));
        assert!(grove_kit::metrics::cache_stats()
            .iter()
            .any(|s| &*s.name == "sessions"));
        assert!(
            Cache::<u64, u32>::named("sessions").is_none(),
            "names are per type"
        );
    });
    assert!(reason.is_normal(), "{reason:?}");
}
