//! What a process receives: its own messages, and system signals turned into messages.
//!
//! As in Erlang, everything arrives through one receive loop: user messages, trapped exit
//! signals ([`Exit`]) and monitor notifications ([`Down`]). Timers deliver ordinary user messages.
//!
//! ```
//! use grove_runtime::{Context, Message};
//! async fn server(mut ctx: Context<String>) {
//!     ctx.trap_exit(true);
//!     loop {
//!         match ctx.recv().await {
//!             Message::User(text) => println!("got {text}"),
//!             Message::Exit(exit) => {
//!                 println!("{} exited: {}", exit.from, exit.reason);
//!                 break;
//!             }
//!             Message::Down(down) => println!("{} is down: {}", down.pid, down.reason),
//!         }
//!     }
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::exit::ExitReason;
use crate::pid::{Pid, Ref};

/// One item taken from a mailbox.
///
/// The system variants are boxed so that a mailbox slot costs no more than the user's message
/// (16 bytes for a `u64` message instead of 64): mailboxes hold many user messages and few
/// signals. Their fields read through the box as usual (`exit.from`, `down.reason`).
#[derive(Debug, Clone, PartialEq)]
pub enum Message<M> {
    /// A message of the process's own type.
    User(M),
    /// An exit signal, delivered as a message because the process traps exits.
    Exit(Box<Exit>),
    /// A monitored process (or the connection to it) is gone.
    Down(Box<Down>),
}

impl<M> Message<M> {
    /// The user message, if this is one.
    pub fn into_user(self) -> Option<M> {
        match self {
            Message::User(message) => Some(message),
            _ => None,
        }
    }

    /// A reference to the user message, if this is one.
    pub fn user(&self) -> Option<&M> {
        match self {
            Message::User(message) => Some(message),
            _ => None,
        }
    }
}

/// A trapped exit signal: `from` exited (or called `exit` on us) with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The process the signal came from.
    pub from: Pid,
    /// Why it exited, or the reason it sent.
    pub reason: ExitReason,
}

/// A monitor fired: the process `pid` watched under `reference` exited with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Down {
    /// The reference `monitor` returned.
    pub reference: Ref,
    /// The process that was watched.
    pub pid: Pid,
    /// Why it exited; `noproc` if it was not alive when the monitor was set.
    pub reason: ExitReason,
}
