//! Shared tables for Grove processes, as Erlang's ETS and DETS.
//!
//! A process that keeps all its state inside itself becomes a bottleneck (every read is a
//! message and a wait) and loses that state when it crashes. Moving the data into a table fixes
//! both: request handlers read the table directly, concurrently, without asking the process; the
//! process only refreshes and expires; and the table outlives a crash of a worker that writes to
//! it, because it belongs to a long-lived owner (or passes to an heir when the owner dies).
//!
//! - [`Table<K, V>`]: one object per key, hashed (`set`) or ordered (`ordered_set`).
//! - [`BagTable<K, V>`]: many objects per key (`bag`, `duplicate_bag`).
//! - [`DurableTable<K, V>`]: the same operations on a crash-safe file (redb), as DETS, with
//!   snapshot and restore of in-memory tables.
//!
//! Readers never wait for the owner or for writers: hashed tables are a lock-free map (papaya),
//! ordered ones a concurrent skiplist. Each operation on one key is atomic.
//!
//! ```
//! use grove_runtime::{run, Context, ExitReason};
//! use grove_tables::{Table, TableError};
//!
//! run(|mut ctx: Context<()>| async move {
//!     // This process owns the table; other processes read it directly.
//!     let prices = Table::<String, u32>::options().named("prices").create().unwrap();
//!     prices.insert("apple".into(), 3).unwrap();
//!
//!     let reader = ctx.spawn_link(|_: Context<()>| async move {
//!         let prices = Table::<String, u32>::whereis("prices").unwrap();
//!         assert_eq!(prices.lookup(&"apple".to_string()).unwrap(), Some(3));
//!         // Protected (the default): only the owner writes.
//!         assert!(matches!(
//!             prices.insert("pear".into(), 4),
//!             Err(TableError::AccessDenied { .. })
//!         ));
//!     });
//!     grove_runtime::await_exit(reader.pid()).await;
//!     ExitReason::Normal
//! });
//! // The owner exited: the table went with it.
//! assert!(Table::<String, u32>::whereis("prices").is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod bag;
mod core;
mod counter;
mod counters;
mod durable;
mod error;
mod handle;
mod hashed;
mod options;
mod ordered;
mod set;

pub use crate::bag::{BagTable, BagValue};
pub use crate::core::{named_tables, TableInfo, TableTransfer};
pub use crate::counter::Counter;
pub use crate::durable::{DurableError, DurableInfo, DurableKind, DurableTable, Transaction};
pub use crate::error::{Access, Kind, OwnerName, TableError};
pub use crate::options::TableOptions;
pub use crate::set::{Table, TableKey, TableValue};
