//! Rate limiters on tokio's paused clock.

mod support;

use std::time::Duration;

use grove_kit::limiter::{KeyedRateLimiter, Rate, RateLimiter};
use support::paused;
use tokio::time::Instant;

#[test]
fn a_limiter_allows_its_burst_then_one_per_period() {
    paused().block_on(async {
        let limiter = RateLimiter::new("api", Rate::every(Duration::from_millis(100)).burst(3));
        for _ in 0..3 {
            assert!(limiter.check().is_ok());
        }
        let refused = limiter.check().unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        let start = Instant::now();
        for _ in 0..10 {
            limiter.until_ready().await;
        }
        // Ten more cells at one per 100 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let stats = limiter.stats();
        assert_eq!(stats.allowed, 13);
        // The refused check, and each of the ten calls that had to wait.
        assert_eq!(stats.limited, 11);
    });
}

#[test]
fn a_call_that_waits_is_counted_limited_once_however_long_it_waits() {
    paused().block_on(async {
        let limiter = RateLimiter::new("busy", Rate::every(Duration::from_millis(10)));
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.until_ready().await })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        // Twenty callers competing for one cell per 10 ms wake up and lose many times, but
        // each call is one allowed and, for all but the first, one limited.
        let stats = limiter.stats();
        assert_eq!(stats.allowed, 20);
        assert_eq!(stats.limited, 19);
    });
}

#[test]
fn clones_share_one_allowance() {
    paused().block_on(async {
        let limiter = RateLimiter::new("shared", Rate::per_second(2));
        let other = limiter.clone();
        assert!(limiter.check().is_ok());
        assert!(other.check().is_ok());
        assert!(limiter.check().is_err());
        assert!(other.check().is_err());
    });
}

#[test]
fn each_key_has_its_own_allowance() {
    paused().block_on(async {
        let limiter = KeyedRateLimiter::new("per-user", Rate::per_minute(1));
        assert!(limiter.check(&"alice").is_ok());
        assert!(limiter.check(&"alice").is_err());
        assert!(limiter.check(&"bob").is_ok());
        assert_eq!(limiter.len(), 2);
        tokio::time::sleep(Duration::from_secs(121)).await;
        limiter.forget_idle_keys();
        assert!(limiter.is_empty());
        assert!(limiter.check(&"alice").is_ok());
    });
}
