//! Unique local names: Erlang's `register`, `whereis`, `unregister`, and sending by name.
//!
//! A name belongs to one live process; it is removed when the process exits. A process has at
//! most one name.
//!
//! ```
//! use grove_runtime::{register, whereis, send_named, spawn, Context};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let logger = spawn(|mut ctx: Context<String>| async move { let _ = ctx.recv().await; });
//! register("doc_logger", logger).unwrap();
//! assert_eq!(whereis("doc_logger"), Some(logger.pid()));
//! send_named("doc_logger", "hello".to_string()).unwrap();
//! # });
//! ```

use std::sync::{Arc, OnceLock};

use crate::pid::{Addr, Pid};
use crate::process::{try_send, SendError, SpawnError};
use crate::table;

type Names = papaya::HashMap<Arc<str>, Pid, foldhash::fast::RandomState>;

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()))
}

/// Why a name could not be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    /// Another process holds the name.
    #[error("the name {name:?} is already registered to {holder}; unregister it first or pick another name")]
    NameTaken {
        /// The name.
        name: Arc<str>,
        /// The process holding it.
        holder: Pid,
    },
    /// The process is not alive.
    #[error("{0} is not alive, so it cannot be registered")]
    NotAlive(Pid),
    /// The process already has a name (a process has at most one).
    #[error("{pid} is already registered as {name:?}; unregister that name first")]
    AlreadyNamed {
        /// The process.
        pid: Pid,
        /// Its current name.
        name: Arc<str>,
    },
}

/// Takes `name` for a process being spawned (not yet in the table).
pub(crate) fn claim(name: Arc<str>, pid: Pid) -> Result<(), SpawnError> {
    match names().pin().try_insert(name.clone(), pid) {
        Ok(_) => Ok(()),
        Err(occupied) => Err(SpawnError::NameTaken {
            name,
            holder: *occupied.current,
        }),
    }
}

/// Removes `name` if it still belongs to `pid` (a process exiting).
pub(crate) fn remove_exact(name: &Arc<str>, pid: Pid) {
    let _ = names().pin().remove_if(name, |_, holder| *holder == pid);
}

/// Registers the process `pid` under `name`.
pub fn register(name: impl Into<Arc<str>>, pid: impl Into<Pid>) -> Result<(), RegisterError> {
    let name = name.into();
    let pid = pid.into();
    let cell = table::lookup(pid).ok_or(RegisterError::NotAlive(pid))?;
    let mut control = cell.shared().control.lock();
    if !control.alive {
        return Err(RegisterError::NotAlive(pid));
    }
    if let Some(existing) = control.name() {
        return Err(RegisterError::AlreadyNamed {
            pid,
            name: existing.clone(),
        });
    }
    if let Err(occupied) = names().pin().try_insert(name.clone(), pid) {
        return Err(RegisterError::NameTaken {
            name,
            holder: *occupied.current,
        });
    }
    control.about_mut().name = Some(name);
    Ok(())
}

/// Removes `name`. Returns false if no process was registered under it.
pub fn unregister(name: &str) -> bool {
    let Some(pid) = whereis(name) else {
        return false;
    };
    if let Some(cell) = table::lookup(pid) {
        let mut control = cell.shared().control.lock();
        if let Some(about) = control.about.as_mut() {
            if about.name.as_deref() == Some(name) {
                about.name = None;
            }
        }
    }
    names()
        .pin()
        .remove_if(name, |_, holder| *holder == pid)
        .is_ok_and(|removed| removed.is_some())
}

/// The pid registered under `name`, if any.
pub fn whereis(name: &str) -> Option<Pid> {
    names().pin().get(name).copied()
}

/// The typed address registered under `name`, if a process is registered there and accepts `M`.
pub fn whereis_addr<M: Send + 'static>(name: &str) -> Option<Addr<M>> {
    let pid = whereis(name)?;
    let accepts = table::with(pid, |cell| {
        cell.as_any()
            .downcast_ref::<crate::cell::ProcessCell<M>>()
            .is_some()
    })?;
    accepts.then(|| pid.assume_type())
}

/// All registered names, sorted.
pub fn registered() -> Vec<Arc<str>> {
    let guard = names().pin();
    let mut all: Vec<Arc<str>> = guard.iter().map(|(name, _)| name.clone()).collect();
    all.sort();
    all
}

/// Sends `message` to the process registered as `name`. Like Erlang's `Name ! Msg`, a name that
/// is not registered is an error (the message is handed back); so is a process that accepts
/// another type, or a full bounded mailbox.
pub fn send_named<M: Send + 'static>(name: &str, message: M) -> Result<(), SendError<M>> {
    match whereis(name) {
        Some(pid) => try_send(pid.assume_type::<M>(), message),
        None => Err(SendError::NotRegistered {
            name: Arc::from(name),
            message,
        }),
    }
}
