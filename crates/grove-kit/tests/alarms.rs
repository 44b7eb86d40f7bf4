//! Alarms and watchdogs through their public API.

mod support;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grove_kit::alarm::{AlarmEvent, AlarmManager};
use grove_kit::watchdog::Watchdog;
use grove_otp::event_manager::EventHandler;
use grove_otp::prelude::*;
use parking_lot::Mutex;
use support::on_virtual_time;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl EventHandler<AlarmEvent> for Recorder {
    async fn handle_event(&mut self, event: &AlarmEvent) -> Result<(), ExitReason> {
        let line = match event {
            AlarmEvent::Set(alarm) => format!("set {} ({})", alarm.id, alarm.description),
            AlarmEvent::Cleared { id, .. } => format!("cleared {id}"),
        };
        self.0.lock().push(line);
        Ok(())
    }
}

/// Events are cast to the handlers; any call to the manager is answered after the casts sent
/// before it have been handled.
async fn settle(alarms: &AlarmManager) {
    alarms
        .events()
        .expect("running")
        .which_handlers()
        .await
        .unwrap();
}

#[test]
fn handlers_hear_each_change_once_and_the_default_can_be_swapped() {
    let reason = on_virtual_time(|| async {
        let alarms = AlarmManager::new("alarms_swap");
        let _tree = Supervisor::one_for_one()
            .child(alarms.child_spec())
            .start_link()
            .await
            .unwrap();
        let extra = Recorder::default();
        alarms.add_handler("recorder", extra.clone()).await.unwrap();
        assert!(alarms.set_alarm("disk_full", "/var at 97%"));
        assert!(!alarms.set_alarm("disk_full", "/var at 99%"), "already set");
        assert_eq!(alarms.active()[0].description, "/var at 99%");
        assert!(alarms.clear_alarm("disk_full"));
        assert!(!alarms.clear_alarm("disk_full"), "already clear");
        let replacement = Recorder::default();
        alarms
            .swap_default_handler(replacement.clone())
            .await
            .unwrap();
        alarms.set_alarm("db_down", "no answer");
        settle(&alarms).await;
        assert_eq!(
            extra.0.lock()[..],
            [
                "set disk_full (/var at 97%)",
                "cleared disk_full",
                "set db_down (no answer)"
            ]
        );
        assert_eq!(replacement.0.lock()[0], "set db_down (no answer)");
        let handlers = alarms.events().unwrap().which_handlers().await.unwrap();
        assert_eq!(handlers.len(), 2);
        assert!(AlarmManager::named("alarms_swap").is_some_and(|a| a.is_set("db_down")));
    });
    assert!(reason.is_normal(), "{reason:?}");
}

#[test]
fn a_watchdog_raises_after_failures_in_a_row_and_clears_after_passes() {
    let reason = on_virtual_time(|| async {
        let alarms = AlarmManager::new("alarms_watchdog");
        // 0: pass, 1: fail, 2: hang past the timeout, 3: panic.
        let mode = Arc::new(AtomicU8::new(0));
        let check_mode = mode.clone();
        let watchdog = Watchdog::new("database_disconnected", move || {
            let mode = check_mode.load(Ordering::SeqCst);
            async move {
                match mode {
                    0 => Ok(()),
                    1 => Err("connection refused"),
                    2 => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok(())
                    }
                    _ => panic!("driver bug"),
                }
            }
        })
        .interval(Duration::from_secs(1))
        .timeout(Duration::from_millis(500))
        .raise_after(3)
        .clear_after(2);
        let _tree = Supervisor::one_for_one()
            .child(alarms.child_spec())
            .child(watchdog.child_spec(&alarms))
            .start_link()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(alarms.is_clear());
        for failing in [1u8, 2, 3] {
            mode.store(failing, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Three failures in a row (an error, a timeout, a panic): raised.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let active = alarms.active();
        assert_eq!(active.len(), 1, "{active:?}");
        assert!(
            active[0]
                .description
                .contains("3 checks failed in a row; last: the check panicked"),
            "{}",
            active[0].description
        );
        mode.store(0, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!alarms.is_clear(), "one pass is not enough");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(alarms.is_clear());
    });
    assert!(reason.is_normal(), "{reason:?}");
}
