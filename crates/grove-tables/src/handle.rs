//! The methods every table handle has the same way (ownership, heir, info, deletion), written
//! once and stamped onto `Table` and `BagTable`.

/// Adds the shared methods to a handle type `$handle<K, V>` whose field `inner` is an
/// `Arc<Inner<$store<K, V>>>` and whose bounds are `$($bounds)*`.
macro_rules! handle_methods {
    ($handle:ident, $store:ident, [$($bounds:tt)*]) => {
        impl<K: $crate::set::TableKey, V: $($bounds)*> Clone for $handle<K, V> {
            fn clone(&self) -> Self {
                $handle { inner: self.inner.clone() }
            }
        }

        impl<K: $crate::set::TableKey, V: $($bounds)*> std::fmt::Debug for $handle<K, V> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                use $crate::core::Store as _;
                f.debug_struct(stringify!($handle))
                    .field("kind", &self.inner.store.kind())
                    .field("name", &self.inner.name())
                    .field("access", &self.inner.access())
                    .finish_non_exhaustive()
            }
        }

        /// Two handles are equal when they name the same table.
        impl<K: $crate::set::TableKey, V: $($bounds)*> PartialEq for $handle<K, V> {
            fn eq(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.inner, &other.inner)
            }
        }

        impl<K: $crate::set::TableKey, V: $($bounds)*> Eq for $handle<K, V> {}

        impl<K: $crate::set::TableKey, V: $($bounds)*> $handle<K, V> {
            /// The live table named `name`.
            pub fn whereis(name: &str) -> Result<Self, $crate::TableError> {
                $crate::core::whereis::<$store<K, V>>(name).map(|inner| $handle { inner })
            }

            /// Number of objects.
            pub fn count(&self) -> Result<usize, $crate::TableError> {
                use $crate::core::Store as _;
                self.inner.check_read()?;
                Ok(self.inner.store.len())
            }

            /// Deletes every object; the table stays (ETS's `delete_all_objects`).
            pub fn clear(&self) -> Result<(), $crate::TableError> {
                use $crate::core::Store as _;
                self.inner.check_write()?;
                self.inner.store.clear();
                Ok(())
            }

            /// Name, kind, access, owner, heir, size and memory.
            pub fn info(&self) -> Result<$crate::TableInfo, $crate::TableError> {
                self.inner.info()
            }

            /// The owning process; `None` once deleted, or for a public table made outside
            /// processes.
            pub fn owner(&self) -> Option<grove_runtime::Pid> {
                self.inner.owner()
            }

            /// Deletes the table itself (ETS's `delete/1`): every handle's next operation fails
            /// with `Deleted`. Needs write access.
            pub fn delete_table(&self) -> Result<(), $crate::TableError> {
                self.inner.delete()
            }

            /// Makes `to` the owner and sends it a [`TableTransfer`](crate::TableTransfer)
            /// carrying `data`. Only the owner may; `to` must be a live local process.
            pub fn give_away<M, D>(
                &self,
                to: grove_runtime::Addr<M>,
                data: D,
            ) -> Result<(), $crate::TableError>
            where
                D: Send + 'static,
                M: From<$crate::TableTransfer<Self, D>> + Send + 'static,
            {
                let (pid, deliver) = $crate::core::deliver_to(to, data);
                $crate::core::give_away(&self.inner, pid, deliver)
            }

            /// Names the process that inherits the table when the owner exits; it is sent a
            /// [`TableTransfer`](crate::TableTransfer) carrying `data`. Only the owner may.
            pub fn set_heir<M, D>(
                &self,
                heir: grove_runtime::Addr<M>,
                data: D,
            ) -> Result<(), $crate::TableError>
            where
                D: Send + 'static,
                M: From<$crate::TableTransfer<Self, D>> + Send + 'static,
            {
                self.inner.set_heir(Some($crate::core::deliver_to(heir, data)))
            }

            /// Removes the heir: the table will be deleted with its owner. Only the owner may.
            pub fn clear_heir(&self) -> Result<(), $crate::TableError> {
                self.inner.set_heir(None)
            }

            /// ETS's `foldl`: folds every object into `init`, walking as `for_each` does.
            pub fn fold<A>(
                &self,
                init: A,
                mut fold: impl FnMut(A, &K, &V) -> A,
            ) -> Result<A, $crate::TableError> {
                let mut acc = Some(init);
                self.for_each(|key, value| {
                    acc = acc.take().map(|current| fold(current, key, value));
                })?;
                // `acc` is put back after every step, so it is always there.
                acc.ok_or($crate::TableError::Deleted)
            }

            /// ETS's `select`/`match`: for each object, keeps what `select` returns (filter and
            /// map in one closure).
            pub fn select<R>(
                &self,
                mut select: impl FnMut(&K, &V) -> Option<R>,
            ) -> Result<Vec<R>, $crate::TableError> {
                let mut selected = Vec::new();
                self.for_each(|key, value| selected.extend(select(key, value)))?;
                Ok(selected)
            }

            /// How many objects `matches` accepts.
            pub fn select_count(
                &self,
                mut matches: impl FnMut(&K, &V) -> bool,
            ) -> Result<usize, $crate::TableError> {
                self.fold(0, |count, key, value| count + usize::from(matches(key, value)))
            }

            /// Copies of every object (ETS's `tab2list`).
            pub fn to_list(&self) -> Result<Vec<(K, V)>, $crate::TableError> {
                self.select(|key, value| Some((key.clone(), value.clone())))
            }
        }
    };
}

pub(crate) use handle_methods;
