//! What can go wrong with a table operation, each with what to do about it.

use std::fmt;
use std::sync::Arc;

use grove_runtime::Pid;

/// Who may read and write a table, as ETS's access option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Access {
    /// Any process reads and writes.
    Public,
    /// Any process reads; only the owner writes. The default, as in ETS.
    #[default]
    Protected,
    /// Only the owner reads and writes.
    Private,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Public => "public",
            Access::Protected => "protected",
            Access::Private => "private",
        })
    }
}

/// The kind of a table: how keys map to objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One object per key, hashed.
    Set,
    /// One object per key, kept in key order: `first`/`next`/`range` work.
    OrderedSet,
    /// Many objects per key, no two equal.
    Bag,
    /// Many objects per key, duplicates allowed.
    DuplicateBag,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Set => "set",
            Kind::OrderedSet => "ordered_set",
            Kind::Bag => "bag",
            Kind::DuplicateBag => "duplicate_bag",
        })
    }
}

/// Why a table operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The table is gone: its owner exited with no heir to take it, or it was deleted.
    #[error(
        "the table was deleted (its owner exited with no heir, or it was deleted explicitly); \
         name an heir or let a long-lived process own it so the data outlives a crash"
    )]
    Deleted,
    /// The calling process may not do this on a protected or private table.
    #[error(
        "only the owner ({owner}) may {operation} on this {access} table, and the caller is \
         {caller}; send the owner a message, or create the table public"
    )]
    AccessDenied {
        /// What was attempted: "write", "read", "give away", ...
        operation: &'static str,
        /// The table's access.
        access: Access,
        /// The table's owner.
        owner: OwnerName,
        /// Who asked.
        caller: OwnerName,
    },
    /// A protected or private table was created outside a process, so nobody could own it.
    #[error(
        "a {access} table needs an owner, and this code does not run in a process; create the \
         table from the process that should own it, or make it public"
    )]
    NoOwner {
        /// The access asked for.
        access: Access,
    },
    /// Another live table already has this name.
    #[error("a table named {0:?} already exists; pick another name or delete that table first")]
    NameTaken(Arc<str>),
    /// No live table has this name.
    #[error("no table is named {0:?}; it was never created or has been deleted")]
    NoSuchTable(Arc<str>),
    /// The named table holds other key or value types than asked for.
    #[error("the table named {name:?} is not a {expected}; look it up with the types it was created with")]
    WrongType {
        /// The name looked up.
        name: Arc<str>,
        /// The handle type asked for.
        expected: &'static str,
    },
    /// An ordered operation on a hashed table.
    #[error("{0} needs an ordered_set table; create it with TableOptions::ordered()")]
    NotOrdered(&'static str),
    /// `update_counter` or `update_element` on a key that is not in the table.
    #[error("no object has that key; use update_counter_or to start from a default")]
    KeyNotFound,
    /// `update_counter` would leave the counter's range.
    #[error("the counter would overflow its type; use a wider integer type")]
    CounterOverflow,
    /// `give_away` or `heir` named a process that is not alive on this node.
    #[error("{0} is not a live local process, so it cannot own the table")]
    NoProc(Pid),
    /// `give_away` to the process that already owns the table.
    #[error("{0} already owns the table")]
    AlreadyOwner(Pid),
}

/// A process or "no process", for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerName(pub Option<Pid>);

impl fmt::Display for OwnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) => write!(f, "{pid}"),
            None => f.write_str("not a process"),
        }
    }
}

impl From<TableError> for grove_runtime::ExitReason {
    fn from(error: TableError) -> Self {
        grove_runtime::ExitReason::error(error)
    }
}
