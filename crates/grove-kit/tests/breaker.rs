//! Circuit breakers through their public API, on tokio's paused clock.

mod support;

use std::time::Duration;

use grove_kit::breaker::{BreakerConfig, BreakerError, BreakerState, CircuitBreaker};
use support::paused;

fn config() -> BreakerConfig {
    BreakerConfig::new(3, Duration::from_secs(10), Duration::from_secs(30))
}

async fn fail(breaker: &CircuitBreaker) -> Result<(), BreakerError<&'static str>> {
    breaker.call(async { Err("boom") }).await
}

#[test]
fn melts_rejects_fast_heals_and_probes() {
    paused().block_on(async {
        let breaker = CircuitBreaker::new("api", config());
        for _ in 0..3 {
            assert_eq!(fail(&breaker).await, Err(BreakerError::Failed("boom")));
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        // Rejected without running the call.
        let mut ran = false;
        let rejected = breaker
            .call(async {
                ran = true;
                Ok::<_, &str>(())
            })
            .await;
        assert!(!ran);
        match rejected {
            Err(BreakerError::Open { retry_after, name }) => {
                assert_eq!(&*name, "api");
                assert_eq!(retry_after, Duration::from_secs(30));
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // A failed probe opens it again.
        assert_eq!(fail(&breaker).await, Err(BreakerError::Failed("boom")));
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(breaker.call(async { Ok::<_, &str>(5) }).await, Ok(5));
        assert_eq!(breaker.state(), BreakerState::Closed);
        let stats = breaker.stats();
        assert_eq!(
            (
                stats.calls,
                stats.successes,
                stats.failures,
                stats.rejected,
                stats.melts
            ),
            (5, 1, 4, 1, 2)
        );
    });
}

#[test]
fn errors_the_predicate_excuses_do_not_melt_it() {
    paused().block_on(async {
        let breaker = CircuitBreaker::new("lookups", config());
        for _ in 0..10 {
            let outcome = breaker
                .call_with(|e: &&str| *e != "not found", async {
                    Err::<(), _>("not found")
                })
                .await;
            assert_eq!(outcome, Err(BreakerError::Failed("not found")));
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    });
}

#[test]
fn a_cancelled_probe_frees_its_slot_and_a_panicking_call_counts_as_a_failure() {
    paused().block_on(async {
        let breaker = CircuitBreaker::new("probe", config());
        breaker.trip();
        tokio::time::sleep(Duration::from_secs(30)).await;
        // The probe is cancelled by a timeout: nothing is counted, the slot is free again.
        let slow = breaker.call(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, &str>(())
        });
        assert!(tokio::time::timeout(Duration::from_secs(1), slow)
            .await
            .is_err());
        let permit = breaker.ask().expect("the slot was given back");
        assert!(permit.is_probe());
        drop(permit);
        let panicking = breaker.clone();
        let joined = tokio::spawn(async move {
            let _ = panicking
                .call(async {
                    if true {
                        panic!("the client crashed");
                    }
                    Ok::<(), &str>(())
                })
                .await;
        })
        .await;
        assert!(joined.is_err());
        assert_eq!(breaker.state(), BreakerState::Open);
    });
}

#[test]
fn installed_breakers_are_found_by_name_and_keep_their_state() {
    paused().block_on(async {
        let breaker = CircuitBreaker::install("installed-db", config());
        breaker.trip();
        let again = CircuitBreaker::install(
            "installed-db",
            BreakerConfig::new(100, Duration::from_secs(1), Duration::from_secs(1)),
        );
        assert_eq!(again.state(), BreakerState::Open);
        let named = CircuitBreaker::named("installed-db").expect("installed");
        named.reset();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(CircuitBreaker::all_installed()
            .iter()
            .any(|b| b.name() == "installed-db"));
        assert!(CircuitBreaker::uninstall("installed-db").is_some());
        assert!(CircuitBreaker::named("installed-db").is_none());
    });
}
