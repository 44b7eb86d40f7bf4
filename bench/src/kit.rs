//! The production kit's scenarios, each run twice: through the Grove kit piece, and on the bare
//! crate underneath it (the "bare" side), so that what the wrapper costs is visible.
//!
//! - `cache-hit`: `Cache::get` on a hit, against moka's `future::Cache::get`.
//! - `cache-fetch`: a herd of concurrent `fetch`es of one missing key (the loader must run once),
//!   against moka's `try_get_with`, which coalesces the same way.
//! - `limiter-check`: `RateLimiter::check` on a limiter that always allows, against governor's
//!   direct limiter on its default clock.
//! - `breaker-call`: a call through a closed `CircuitBreaker`, against the same call without one.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use grove::kit::breaker::{BreakerConfig, CircuitBreaker};
use grove::kit::cache::Cache;
use grove::kit::limiter::{Rate, RateLimiter};

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))
}

fn nanos_per(started: Instant, n: usize) -> f64 {
    started.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per `get` of a present key, over `keys` hot keys.
pub fn cache_hit(bare: bool, keys: u64, gets: usize) -> Result<f64, String> {
    runtime()?.block_on(async move {
        if bare {
            let cache: moka::future::Cache<u64, u64> = moka::future::Cache::new(keys * 2);
            for key in 0..keys {
                cache.insert(key, key).await;
            }
            let cache = &cache;
            Ok(time_gets(keys, gets, |key| async move { cache.get(&key).await }).await)
        } else {
            let cache: Cache<u64, u64> = Cache::builder("bench-hit").max_capacity(keys * 2).build();
            for key in 0..keys {
                cache.insert(key, key).await;
            }
            let cache = &cache;
            Ok(time_gets(keys, gets, |key| async move { cache.get(&key).await }).await)
        }
    })
}

/// Nanoseconds per `get`, cycling over `keys` keys.
async fn time_gets<F, Fut>(keys: u64, gets: usize, get: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Option<u64>>,
{
    let started = Instant::now();
    for i in 0..gets as u64 {
        black_box(get(i % keys).await);
    }
    nanos_per(started, gets)
}

/// The cache a herd fetches from: Grove's, or moka's alone.
#[derive(Clone)]
enum HerdCache {
    Grove(Cache<u64, u64>),
    Bare(moka::future::Cache<u64, u64>),
}

impl HerdCache {
    async fn fetch(
        &self,
        key: u64,
        loader: impl std::future::Future<Output = Result<u64, String>>,
    ) -> bool {
        match self {
            HerdCache::Grove(cache) => cache.fetch(key, loader).await.is_ok(),
            HerdCache::Bare(cache) => cache.try_get_with(key, loader).await.is_ok(),
        }
    }
}

/// Microseconds per herd: `callers` tasks at once ask for one missing key; the loader (which
/// yields once, as an I/O call would) must run once per herd.
pub fn cache_fetch(bare: bool, herds: u64, callers: usize) -> Result<f64, String> {
    runtime()?.block_on(async move {
        let loads = Arc::new(AtomicU64::new(0));
        let cache = if bare {
            HerdCache::Bare(moka::future::Cache::new(u64::MAX))
        } else {
            HerdCache::Grove(Cache::builder("bench-fetch").build())
        };
        let started = Instant::now();
        for key in 0..herds {
            let mut herd = Vec::with_capacity(callers);
            for _ in 0..callers {
                let (loads, cache) = (loads.clone(), cache.clone());
                herd.push(tokio::spawn(async move {
                    let loader = async {
                        loads.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                        Ok(key)
                    };
                    cache.fetch(key, loader).await
                }));
            }
            for caller in herd {
                if !caller.await.unwrap_or(false) {
                    return Err("a fetch failed".to_string());
                }
            }
        }
        let elapsed = started.elapsed();
        let loads = loads.load(Ordering::Relaxed);
        if loads != herds {
            return Err(format!("the loader ran {loads} times for {herds} herds"));
        }
        Ok(elapsed.as_secs_f64() * 1e6 / herds as f64)
    })
}

/// Nanoseconds per `check` of a limiter that always allows.
pub fn limiter_check(bare: bool, checks: usize) -> Result<f64, String> {
    const RATE: u32 = 1_000_000_000;
    runtime()?.block_on(async move {
        let started = Instant::now();
        let mut allowed = 0usize;
        if bare {
            let rate = NonZeroU32::new(RATE).ok_or("a zero rate")?;
            let limiter = governor::RateLimiter::direct(governor::Quota::per_second(rate));
            for _ in 0..checks {
                allowed += usize::from(black_box(limiter.check()).is_ok());
            }
        } else {
            let limiter = RateLimiter::new("bench", Rate::per_second(RATE));
            for _ in 0..checks {
                allowed += usize::from(black_box(limiter.check()).is_ok());
            }
        }
        let per_check = nanos_per(started, checks);
        // Both allow a burst of a billion a second; nearly every check must pass.
        if allowed < checks / 2 {
            return Err(format!("only {allowed} of {checks} checks were allowed"));
        }
        Ok(per_check)
    })
}

/// Nanoseconds per call: through a closed breaker, or the bare call.
pub fn breaker_call(bare: bool, calls: usize) -> Result<f64, String> {
    runtime()?.block_on(async move {
        let breaker = CircuitBreaker::new(
            "bench",
            BreakerConfig::new(
                5,
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1),
            ),
        );
        let started = Instant::now();
        let mut sum = 0u64;
        for i in 0..calls as u64 {
            let call = async move { Ok::<u64, ()>(black_box(i)) };
            let value = if bare {
                call.await.ok()
            } else {
                breaker.call(call).await.ok()
            };
            sum = sum.wrapping_add(value.unwrap_or(0));
        }
        black_box(sum);
        Ok(nanos_per(started, calls))
    })
}
