//! The rate-limited queue through its public API, on tokio's paused clock.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grove_kit::limiter::Rate;
use grove_kit::queue::{QueueError, QueueOptions, RateLimitedQueue};
use grove_kit::retry::{Jitter, RetryPolicy};
use parking_lot::Mutex;
use proptest::prelude::*;
use support::on_virtual_time;
use tokio::time::Instant;

/// The queue's running workers: the processes it spawned.
fn workers_of(queue: grove_runtime::Pid) -> Vec<grove_runtime::Pid> {
    grove_runtime::processes()
        .into_iter()
        .filter(|pid| {
            grove_runtime::process_info(*pid).is_some_and(|info| info.parent == Some(queue))
        })
        .collect()
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::exponential(Duration::from_millis(10), Duration::from_millis(100))
        .max_attempts(attempts)
}

#[test]
fn jobs_go_out_no_faster_than_the_rate() {
    let reason = on_virtual_time(|| async {
        let started = Arc::new(Mutex::new(Vec::new()));
        let log = started.clone();
        let queue = RateLimitedQueue::start_link(
            "paced",
            QueueOptions::new(Rate::every(Duration::from_millis(100))).concurrency(8),
            move |job: u32| {
                let log = log.clone();
                async move {
                    log.lock().push((job, Instant::now()));
                    Ok::<_, String>(())
                }
            },
        )
        .await
        .unwrap();
        let t0 = Instant::now();
        for job in 0..10 {
            queue.push(job).await.unwrap();
        }
        queue.drain().await.unwrap();
        let started = started.lock().clone();
        let order: Vec<u32> = started.iter().map(|(job, _)| *job).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>(), "jobs start in order");
        for pair in started.windows(2) {
            assert!(
                pair[1].1 - pair[0].1 >= Duration::from_millis(100),
                "{pair:?}"
            );
        }
        assert!(t0.elapsed() >= Duration::from_millis(900));
        let stats = queue.stats().await.unwrap();
        assert_eq!((stats.pushed, stats.completed), (10, 10));
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn a_full_queue_refuses_with_an_error() {
    let reason = on_virtual_time(|| async {
        let queue = RateLimitedQueue::start_link(
            "small",
            QueueOptions::new(Rate::every(Duration::from_secs(1))).capacity(3),
            |_: u32| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, String>(())
            },
        )
        .await
        .unwrap();
        for job in 0..3 {
            queue.push(job).await.unwrap();
        }
        match queue.push(99).await {
            Err(QueueError::Full { capacity, name }) => {
                assert_eq!((capacity, &*name), (3, "small"));
            }
            other => panic!("expected Full, got {other:?}"),
        }
        queue.drain().await.unwrap();
        queue.push(4).await.expect("room again once drained");
        assert_eq!(queue.stats().await.unwrap().rejected, 1);
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn failed_jobs_are_retried_with_backoff_and_dead_letters_are_kept() {
    let reason = on_virtual_time(|| async {
        let attempts = Arc::new(Mutex::new(HashMap::<u32, Vec<Instant>>::new()));
        let log = attempts.clone();
        let policy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(1))
            .jitter(Jitter::None)
            .max_attempts(3);
        let queue = RateLimitedQueue::start_link(
            "flaky",
            QueueOptions::new(Rate::per_second(1000)).retry(policy),
            move |job: u32| {
                let log = log.clone();
                async move {
                    let tries = {
                        let mut log = log.lock();
                        let tries = log.entry(job).or_default();
                        tries.push(Instant::now());
                        tries.len()
                    };
                    // Job 1 fails twice then succeeds; job 2 always fails.
                    if job == 2 || tries < 3 {
                        Err(format!("job {job} try {tries} failed"))
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await
        .unwrap();
        queue.push(1).await.unwrap();
        queue.push(2).await.unwrap();
        queue.drain().await.unwrap();
        let attempts = attempts.lock().clone();
        let gaps: Vec<Duration> = attempts[&1].windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(
            gaps,
            [Duration::from_millis(100), Duration::from_millis(200)]
        );
        let stats = queue.stats().await.unwrap();
        assert_eq!(
            (stats.completed, stats.dead, stats.failed_attempts),
            (1, 1, 5)
        );
        let dead = queue.dead_letters().await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].job, dead[0].attempts), (2, 3));
        assert!(
            dead[0].reason.to_string().contains("job 2 try 3 failed"),
            "{}",
            dead[0].reason
        );
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn a_killed_worker_loses_nothing() {
    let reason = on_virtual_time(|| async {
        let done = Arc::new(Mutex::new(Vec::new()));
        let log = done.clone();
        let queue = RateLimitedQueue::start_link(
            "slow",
            QueueOptions::new(Rate::per_second(1000)).retry(quick_retries(5)),
            move |job: u32| {
                let log = log.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    log.lock().push(job);
                    Ok::<_, String>(())
                }
            },
        )
        .await
        .unwrap();
        for job in 0..4 {
            queue.push(job).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Kill every running worker mid-job, as an operator or an OOM would.
        let workers = workers_of(queue.pid());
        assert_eq!(workers.len(), 4, "four jobs run at once by default");
        for worker in workers {
            grove_runtime::exit(worker, grove_runtime::ExitReason::Kill);
        }
        queue.drain().await.unwrap();
        let mut done = done.lock().clone();
        done.sort();
        assert_eq!(done, [0, 1, 2, 3]);
        let stats = queue.stats().await.unwrap();
        assert_eq!(
            (stats.completed, stats.failed_attempts, stats.dead),
            (4, 4, 0)
        );
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn a_queue_stopped_by_its_supervisor_stops_its_running_workers() {
    let reason = on_virtual_time(|| async {
        let tree = grove_otp::supervisor::Supervisor::one_for_one()
            .child(RateLimitedQueue::child_spec(
                "stopping",
                QueueOptions::new(Rate::per_second(1000)),
                |_: u32| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, String>(())
                },
            ))
            .start()
            .await
            .unwrap();
        let queue = RateLimitedQueue::<u32>::whereis("stopping").unwrap();
        for job in 0..3 {
            queue.push(job).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let queue_pid = queue.pid();
        let workers = workers_of(queue_pid);
        assert_eq!(workers.len(), 3);
        tree.stop(grove_runtime::ExitReason::Shutdown)
            .await
            .unwrap();
        assert!(!grove_runtime::is_alive(queue_pid));
        for worker in workers {
            assert!(
                !grove_runtime::is_alive(worker),
                "a worker outlived its queue"
            );
        }
    });
    assert!(reason.is_normal(), "{reason:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the workers do (succeed, return errors, panic) on each attempt, every pushed
    /// job ends exactly once: it succeeds once, or it is a dead letter after using up its
    /// attempts. Nothing is lost and nothing succeeds twice.
    #[test]
    fn no_job_is_lost_whatever_the_workers_do(
        plans in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..6), 1..30),
        concurrency in 1usize..5,
    ) {
        const ATTEMPTS: u32 = 4;
        let plans = Arc::new(plans);
        let outcome = Arc::new(Mutex::new((HashMap::<usize, u32>::new(), HashMap::<usize, usize>::new())));
        let (plans_in, log) = (plans.clone(), outcome.clone());
        let reason = on_virtual_time(move || async move {
            let attempts_seen = log.clone();
            let queue = RateLimitedQueue::start_link(
                "prop",
                QueueOptions::new(Rate::per_second(50)).concurrency(concurrency).retry(quick_retries(ATTEMPTS)),
                move |job: usize| {
                    let plans = plans_in.clone();
                    let seen = attempts_seen.clone();
                    async move {
                        let attempt = {
                            let mut seen = seen.lock();
                            let n = seen.1.entry(job).or_insert(0);
                            *n += 1;
                            *n
                        };
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        // The plan says how attempt n goes: 0 succeeds, 1 errs, 2 panics;
                        // past the end of the plan, attempts succeed.
                        match plans[job].get(attempt - 1).copied().unwrap_or(0) {
                            0 => {
                                *seen.lock().0.entry(job).or_insert(0) += 1;
                                Ok(())
                            }
                            1 => Err("planned error"),
                            _ => panic!("planned panic"),
                        }
                    }
                },
            )
            .await
            .unwrap();
            for job in 0..plans.len() {
                queue.push(job).await.unwrap();
            }
            queue.drain().await.unwrap();
            let stats = queue.stats().await.unwrap();
            let dead: Vec<usize> = queue.dead_letters().await.unwrap().into_iter().map(|d| d.job).collect();
            let (succeeded, _) = &*log.lock();
            for (job, plan) in plans.iter().enumerate() {
                let first_success = plan.iter().position(|step| *step == 0).unwrap_or(plan.len());
                if (first_success as u32) < ATTEMPTS {
                    assert_eq!(succeeded.get(&job), Some(&1), "job {job} with plan {plan:?}");
                    assert!(!dead.contains(&job));
                } else {
                    assert_eq!(succeeded.get(&job), None, "job {job} with plan {plan:?}");
                    assert_eq!(dead.iter().filter(|d| **d == job).count(), 1);
                }
            }
            assert_eq!(stats.completed + stats.dead, plans.len() as u64);
            assert_eq!((stats.waiting, stats.running, stats.backing_off), (0, 0, 0));
        });
        prop_assert!(reason.is_normal(), "{reason:?}");
    }
}
