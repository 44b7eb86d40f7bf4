//! Alarms (OTP's `alarm_handler`, seed 000): a named condition that is either set or clear,
//! raised by whoever notices it ("database_disconnected", "disk_almost_full") and cleared when it
//! goes away. An [`AlarmManager`] keeps the active set and passes every change to its handlers
//! on an [`EventManager`]; the default handler logs. Swap it for your own (paging, Slack) with
//! [`AlarmManager::swap_default_handler`], or add more next to it.
//!
//! The active set is shared memory, not handler state: readiness checks and metrics read it
//! without a message, and it survives a restart of the event manager. Setting an active alarm
//! again only updates its description (no new event); clearing a clear one does nothing.
//!
//! ```
//! use grove_kit::alarm::AlarmManager;
//! use grove_otp::prelude::*;
//!
//! let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {
//!     let alarms = AlarmManager::new("doc_alarms");
//!     let _tree = Supervisor::one_for_one().child(alarms.child_spec()).start_link().await.unwrap();
//!     alarms.set_alarm("database_disconnected", "no answer from db-1 for 5 s");
//!     assert_eq!(alarms.active()[0].id.as_ref(), "database_disconnected");
//!     alarms.clear_alarm("database_disconnected");
//!     assert!(alarms.is_clear());
//! });
//! assert!(reason.is_normal());
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use grove_otp::event_manager::{EventError, EventHandler, EventManager};
use grove_otp::gen_server::StartOptions;
use grove_otp::supervisor::ChildSpec;
use grove_runtime::ExitReason;
use parking_lot::Mutex;

use crate::named;

/// An active alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// The alarm's id, as given to [`AlarmManager::set_alarm`].
    pub id: Arc<str>,
    /// What is wrong, in words; setting the alarm again replaces it.
    pub description: String,
    /// When the alarm was set (setting it again while active does not change this).
    pub raised_at: SystemTime,
}

/// What alarm handlers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmEvent {
    /// An alarm that was clear has been set.
    Set(Alarm),
    /// An active alarm has been cleared.
    Cleared {
        /// The alarm's id.
        id: Arc<str>,
        /// The alarm as it was while active.
        was: Alarm,
    },
}

/// The id of the handler every alarm manager starts with.
pub const DEFAULT_HANDLER: &str = "log";

/// The default handler: logs each alarm as it is set (a warning) and cleared.
#[derive(Debug, Default)]
pub struct LogAlarms;

impl EventHandler<AlarmEvent> for LogAlarms {
    async fn handle_event(&mut self, event: &AlarmEvent) -> Result<(), ExitReason> {
        match event {
            AlarmEvent::Set(alarm) => {
                tracing::warn!(alarm = %alarm.id, description = %alarm.description, "alarm set")
            }
            AlarmEvent::Cleared { id, .. } => tracing::info!(alarm = %id, "alarm cleared"),
        }
        Ok(())
    }
}

/// A set of alarms and their handlers. Cheap to clone; clones share the set.
#[derive(Clone)]
pub struct AlarmManager {
    name: Arc<str>,
    active: Arc<Mutex<BTreeMap<Arc<str>, Alarm>>>,
}

impl std::fmt::Debug for AlarmManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlarmManager")
            .field("name", &self.name)
            .field("active", &self.active.lock().len())
            .finish()
    }
}

impl AlarmManager {
    /// An alarm manager whose event manager will be registered as `name` once started by
    /// [`AlarmManager::child_spec`]. Alarms can be set before it runs; handlers hear of changes
    /// made while it runs.
    pub fn new(name: &str) -> Self {
        AlarmManager {
            name: Arc::from(name),
            active: Arc::default(),
        }
    }

    /// The manager registered under `name` by a running child spec.
    pub fn named(name: &str) -> Option<Self> {
        named::lookup::<Self>(name)
    }

    /// The name it is registered under, for its event manager and for [`AlarmManager::named`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event manager handlers live in, if it is running.
    pub fn events(&self) -> Option<EventManager<AlarmEvent>> {
        EventManager::whereis(&self.name)
    }

    /// The event manager as a child for a supervision tree, with the default handler added. On
    /// a restart the active alarms are kept (handlers added later must be added again, as with
    /// any event manager).
    pub fn child_spec(&self) -> ChildSpec {
        let manager = self.clone();
        ChildSpec::new(format!("alarms:{}", self.name), move || {
            let manager = manager.clone();
            async move {
                named::register(&manager.name, manager.clone());
                crate::metrics::register_alarms(&manager);
                let events = EventManager::<AlarmEvent>::start_opt(
                    StartOptions::new().link().name(manager.name.clone()),
                )
                .await?;
                if let Err(error) = events.add_handler(DEFAULT_HANDLER, LogAlarms).await {
                    tracing::error!(alarms = %manager.name, %error, "cannot add the default alarm handler");
                }
                Ok(events)
            }
        })
    }

    /// Sets alarm `id`. Returns false if it was already set (its description is updated).
    pub fn set_alarm(&self, id: &str, description: impl Into<String>) -> bool {
        let description = description.into();
        let alarm = {
            let mut active = self.active.lock();
            if let Some(existing) = active.get_mut(id) {
                existing.description = description;
                return false;
            }
            let alarm = Alarm {
                id: Arc::from(id),
                description,
                raised_at: SystemTime::now(),
            };
            active.insert(alarm.id.clone(), alarm.clone());
            alarm
        };
        self.notify(AlarmEvent::Set(alarm));
        true
    }

    /// Clears alarm `id`. Returns false if it was not set.
    pub fn clear_alarm(&self, id: &str) -> bool {
        let Some(was) = self.active.lock().remove(id) else {
            return false;
        };
        self.notify(AlarmEvent::Cleared {
            id: was.id.clone(),
            was,
        });
        true
    }

    fn notify(&self, event: AlarmEvent) {
        match self.events() {
            Some(events) => events.notify(event),
            None => {
                tracing::warn!(alarms = %self.name, ?event, "alarm manager not running: the change is recorded but no handler hears of it")
            }
        }
    }

    /// The active alarms, by id.
    pub fn active(&self) -> Vec<Alarm> {
        self.active.lock().values().cloned().collect()
    }

    /// Whether alarm `id` is set.
    pub fn is_set(&self, id: &str) -> bool {
        self.active.lock().contains_key(id)
    }

    /// True when no alarm is set.
    pub fn is_clear(&self) -> bool {
        self.active.lock().is_empty()
    }

    /// Adds a handler next to the others.
    pub async fn add_handler<H: EventHandler<AlarmEvent>>(
        &self,
        id: &str,
        handler: H,
    ) -> Result<(), EventError> {
        self.running()?.add_handler(id, handler).await
    }

    /// Replaces the default handler with `handler` (OTP's `gen_event:swap_handler` on
    /// `alarm_handler`), under the id [`DEFAULT_HANDLER`].
    pub async fn swap_default_handler<H: EventHandler<AlarmEvent>>(
        &self,
        handler: H,
    ) -> Result<(), EventError> {
        self.running()?
            .swap_handler::<LogAlarms, H>(DEFAULT_HANDLER, DEFAULT_HANDLER, move |_| handler)
            .await
    }

    fn running(&self) -> Result<EventManager<AlarmEvent>, EventError> {
        self.events().ok_or(EventError::Manager(
            grove_otp::gen_server::CallError::NoProc,
        ))
    }
}
