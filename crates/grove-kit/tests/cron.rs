//! Cron jobs on a virtual clock: a paused tokio clock drives the crontab's wall time.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use grove_kit::cron::{Cron, CronRef, Overlap, Schedule, ScheduleError};
use support::on_virtual_time;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn schedules_follow_seconds_and_time_zones() {
    let every_ten = Schedule::new("*/10 * * * * *", "UTC").unwrap();
    assert_eq!(
        every_ten.upcoming(at("2026-01-01T00:00:05Z"), 3),
        [
            at("2026-01-01T00:00:10Z"),
            at("2026-01-01T00:00:20Z"),
            at("2026-01-01T00:00:30Z")
        ]
    );
    // 9:30 in Berlin is 8:30 UTC in winter and 7:30 UTC in summer.
    let berlin = Schedule::new("0 30 9 * * *", "Europe/Berlin").unwrap();
    assert_eq!(
        berlin.next_after(at("2026-01-15T00:00:00Z")),
        Some(at("2026-01-15T08:30:00Z"))
    );
    assert_eq!(
        berlin.next_after(at("2026-07-15T00:00:00Z")),
        Some(at("2026-07-15T07:30:00Z"))
    );
    assert!(matches!(
        Schedule::new("61 * * * *", "UTC"),
        Err(ScheduleError::Pattern { .. })
    ));
    assert!(matches!(
        Schedule::new("* * * * *", "Mars/Olympus"),
        Err(ScheduleError::Zone(_))
    ));
}

#[test]
fn jobs_run_on_schedule_and_failures_do_not_stop_the_schedule() {
    let reason = on_virtual_time(|| async {
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = ticks.clone();
        let flaky_runs = Arc::new(AtomicU32::new(0));
        let flaky = flaky_runs.clone();
        let cron = Cron::new("cron_schedule")
            .virtual_clock(at("2026-01-01T00:00:05Z"))
            .job("tick", "*/10 * * * * *", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), String>(()) }
            })
            .unwrap()
            .job("flaky", "*/10 * * * * *", move || {
                let run = flaky.fetch_add(1, Ordering::SeqCst);
                async move {
                    match run {
                        0 => Err("the API said no".to_string()),
                        1 => panic!("a bug in the job"),
                        _ => Ok(()),
                    }
                }
            })
            .unwrap()
            .start_link()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        assert_eq!(flaky_runs.load(Ordering::SeqCst), 3);
        let jobs = cron.jobs().await.unwrap();
        let flaky = jobs.iter().find(|j| &*j.name == "flaky").unwrap();
        assert_eq!((flaky.runs, flaky.failures), (3, 2));
        assert_eq!(flaky.next_run, Some(at("2026-01-01T00:00:40Z")));
        assert!(CronRef::whereis("cron_schedule").is_some());
        assert!(cron.run_now("tick").await.unwrap());
        assert!(!cron.run_now("nope").await.unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 4);
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn a_run_still_going_makes_the_next_one_skip_or_wait() {
    let reason = on_virtual_time(|| async {
        let started = Arc::new(AtomicU32::new(0));
        let queued_started = Arc::new(AtomicU32::new(0));
        let (skip_count, queue_count) = (started.clone(), queued_started.clone());
        let cron = Cron::new("cron_overlap")
            .virtual_clock(at("2026-01-01T00:00:05Z"))
            .job_in(
                "slow_skip",
                "*/10 * * * * *",
                "UTC",
                Overlap::Skip,
                move || {
                    skip_count.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_secs(25)).await;
                        Ok::<(), String>(())
                    }
                },
            )
            .unwrap()
            .job_in(
                "slow_queue",
                "*/10 * * * * *",
                "UTC",
                Overlap::Queue,
                move || {
                    queue_count.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_secs(25)).await;
                        Ok::<(), String>(())
                    }
                },
            )
            .unwrap()
            .start_link()
            .await
            .unwrap();
        // From 00:00:05 to 00:00:46: due at 10, 20, 30 and 40 s; each run takes 25 s.
        tokio::time::sleep(Duration::from_secs(41)).await;
        let jobs = cron.jobs().await.unwrap();
        let skip = jobs.iter().find(|j| &*j.name == "slow_skip").unwrap();
        // Runs at 10 and 40; skipped at 20 and 30.
        assert_eq!((skip.runs, skip.skipped), (2, 2));
        assert_eq!(started.load(Ordering::SeqCst), 2);
        // Runs at 10 and, queued at 20 and 30 (one waiting at most), at 35 when the first ends.
        let queue = jobs.iter().find(|j| &*j.name == "slow_queue").unwrap();
        assert_eq!((queue.runs, queue.skipped, queue.running), (2, 0, 1));
    });
    assert!(reason.is_normal(), "{reason:?}");
}
