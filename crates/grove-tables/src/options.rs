//! How a table is created: kind, access, name and heir.

use std::marker::PhantomData;
use std::sync::Arc;

use grove_runtime::Addr;

use crate::core::{deliver_to, Setup, TableTransfer};
use crate::error::{Access, Kind};

/// Options for creating a table, from [`Table::options`](crate::Table::options) or
/// [`BagTable::options`](crate::BagTable::options). `T` is the handle type being created.
///
/// ```
/// use grove_tables::{Access, Table};
///
/// let scores = Table::<String, u64>::options()
///     .ordered()
///     .public()
///     .create()
///     .unwrap();
/// assert_eq!(scores.info().unwrap().access, Access::Public);
/// ```
pub struct TableOptions<T> {
    pub(crate) kind: Kind,
    pub(crate) setup: Setup<T>,
    _handle: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> TableOptions<T> {
    pub(crate) fn new(kind: Kind) -> Self {
        TableOptions {
            kind,
            setup: Setup::default(),
            _handle: PhantomData,
        }
    }

    /// Any process reads and writes.
    pub fn public(self) -> Self {
        self.access(Access::Public)
    }

    /// Any process reads, only the owner writes (the default).
    pub fn protected(self) -> Self {
        self.access(Access::Protected)
    }

    /// Only the owner reads and writes.
    pub fn private(self) -> Self {
        self.access(Access::Private)
    }

    /// Sets the access rule.
    pub fn access(mut self, access: Access) -> Self {
        self.setup.access = access;
        self
    }

    /// Names the table, so any code on the node finds it with `whereis`. Names are unique
    /// while the table lives.
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.setup.name = Some(name.into());
        self
    }

    /// Names the process that inherits the table when the owner exits; it is sent a
    /// [`TableTransfer`] carrying `data`. If the heir is dead by then, the table is deleted.
    pub fn heir<M, D>(mut self, heir: Addr<M>, data: D) -> Self
    where
        D: Send + 'static,
        M: From<TableTransfer<T, D>> + Send + 'static,
    {
        self.setup.heir = Some(deliver_to(heir, data));
        self
    }
}
