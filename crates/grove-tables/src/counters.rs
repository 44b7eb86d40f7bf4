//! The store of a hashed table of integers (of at most 64 bits): each value sits in a cell that
//! changes in place, so `update_counter` costs a lock and a store on that one cell, as ETS adds
//! to a counter in place, rather than a new map entry (an allocation, a compare-and-swap on
//! the bucket and a deferred free) per change.
//!
//! The map is papaya's, as for other values; only what an entry holds differs: a [`Cell`] with
//! the value's bits in an atomic, which lookups read without locking, and a small lock that
//! every change to the value takes. The lock also holds whether the cell has left the map:
//!
//! - A change (`update_counter`, `update_element`, `upsert`) finds the cell, locks it, and
//!   checks it is still in the map; if it has left (a removal marked it), it looks the key up
//!   again. So no change lands on a cell nobody can see any more.
//! - A removal (`delete`, `take`, `delete_object`) locks the cell, decides on its value, marks
//!   it as gone, and only then takes it out of the map: a change either came before (and the
//!   removal saw it) or finds the mark and starts over on whatever the key holds by then.
//! - An overwrite (`insert`) replaces the cell without reading it, like any blind write: a
//!   change that found the old cell before the overwrite counts as made before it.
//! - A lookup reads the atomic: the value of the last change, or of the overwrite.
//!
//! The lock is `parking_lot`'s one-byte mutex; it is held for a load and a store.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::counter::{from_bits, to_bits};
use crate::set::{TableKey, TableValue};

/// One value of a counter table.
pub(crate) struct Cell {
    bits: AtomicU64,
    /// Taken by every change to `bits`; true once the cell has been taken out of the map.
    gone: Mutex<bool>,
}

impl Cell {
    fn new(bits: u64) -> Cell {
        Cell {
            bits: AtomicU64::new(bits),
            gone: Mutex::new(false),
        }
    }
}

/// Integer values, each in a [`Cell`].
pub(crate) struct CounterMap<K, V> {
    map: papaya::HashMap<K, Cell, foldhash::fast::RandomState>,
    values: PhantomData<fn() -> V>,
}

/// What a cell's bits are as a `V`. Only called on a map made for a `V` that
/// [`crate::counter::small_integer`] accepts, where it always is one.
#[inline]
fn value<V: TableValue>(cell: &Cell) -> V {
    match from_bits(cell.bits.load(Ordering::Acquire)) {
        Some(value) => value,
        None => unreachable!("a counter table holds only integers of at most 64 bits"),
    }
}

#[inline]
fn bits<V: TableValue>(value: &V) -> u64 {
    match to_bits(value) {
        Some(bits) => bits,
        None => unreachable!("a counter table holds only integers of at most 64 bits"),
    }
}

impl<K: TableKey, V: TableValue> CounterMap<K, V> {
    pub(crate) fn new() -> Self {
        CounterMap {
            map: crate::hashed::new_map(),
            values: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn clear(&self) {
        self.map.pin().clear();
    }

    #[inline]
    pub(crate) fn get_with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.map.pin().get(key).map(|cell| f(&value(cell)))
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.pin().contains_key(key)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        self.map.pin().insert(key, Cell::new(bits(&value)));
    }

    pub(crate) fn insert_new(&self, key: K, value: V) -> bool {
        self.map
            .pin()
            .try_insert(key, Cell::new(bits(&value)))
            .is_ok()
    }

    /// Removes `key` if `remove` says yes for its value; returns the removed value.
    pub(crate) fn remove_if(&self, key: &K, remove: impl Fn(&V) -> bool) -> Option<V> {
        let map = self.map.pin();
        loop {
            let cell = map.get(key)?;
            let mut gone = cell.gone.lock();
            if *gone {
                drop(gone);
                // Another removal is taking it out of the map: look again.
                std::thread::yield_now();
                continue;
            }
            let current = value::<V>(cell);
            if !remove(&current) {
                return None;
            }
            *gone = true;
            drop(gone);
            // Takes out this cell only: if an insert replaced it meanwhile, the removal came
            // before the insert, and the inserted value stays.
            let _ = map.remove_if(key, |_, held| std::ptr::eq(held, cell));
            return Some(current);
        }
    }

    /// Replaces the value of `key` with what `update` makes of it; `Err(None)` if `key` is
    /// absent, `Err(Some(e))` if `update` refused. `update` runs once, under the cell's lock.
    pub(crate) fn update<R, E>(
        &self,
        key: &K,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        let map = self.map.pin();
        loop {
            let cell = map.get(key).ok_or(None)?;
            if let Some(outcome) = change(cell, &update) {
                return outcome.map_err(Some);
            }
        }
    }

    /// As `update`, starting from `default` when `key` is absent.
    pub(crate) fn upsert<R, E>(
        &self,
        key: K,
        default: V,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        let map = self.map.pin();
        loop {
            if let Some(cell) = map.get(&key) {
                if let Some(outcome) = change(cell, &update) {
                    return outcome;
                }
                continue;
            }
            let (next, result) = update(&default)?;
            match map.try_insert(key.clone(), Cell::new(bits(&next))) {
                Ok(_) => return Ok(result),
                // Someone else started it first: add to theirs.
                Err(_) => continue,
            }
        }
    }

    /// Visits every object; writers go on meanwhile.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&K, &V)) {
        for (key, cell) in self.map.pin().iter() {
            visit(key, &value(cell));
        }
    }

    /// Approximate bytes per object: papaya's node for the key and cell, its slot and its
    /// metadata byte.
    pub(crate) fn object_footprint() -> usize {
        std::mem::size_of::<(K, Cell)>() + 16 + 9
    }
}

/// Applies `update` to `cell` under its lock; `None` if the cell has left the map (look the key
/// up again).
#[inline]
fn change<V: TableValue, R, E>(
    cell: &Cell,
    update: impl Fn(&V) -> Result<(V, R), E>,
) -> Option<Result<R, E>> {
    let gone = cell.gone.lock();
    if *gone {
        drop(gone);
        std::thread::yield_now();
        return None;
    }
    let outcome = update(&value(cell)).map(|(next, result)| {
        cell.bits.store(bits(&next), Ordering::Release);
        result
    });
    drop(gone);
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use crate::Table;

    /// Two writers add to a counter while a third keeps taking it out and starting it again:
    /// every successful increment ends up either in a value taken out or in the final value,
    /// exactly once. An increment that landed on a cell already taken out would be missing.
    #[test]
    fn no_increment_is_lost_to_a_concurrent_take() {
        let table = Table::<u64, u64>::options().public().create().unwrap();
        table.insert(0, 0).unwrap();
        let added = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(0));
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let (table, added) = (&table, added.clone());
                scope.spawn(move || {
                    for _ in 0..50_000 {
                        if table.update_counter(&0, 1).is_ok() {
                            added.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            let (table, taken) = (&table, taken.clone());
            scope.spawn(move || {
                for _ in 0..5_000 {
                    if let Some(value) = table.take(&0).unwrap() {
                        taken.fetch_add(value, Ordering::Relaxed);
                    }
                    table.insert_new(0, 0).unwrap();
                }
            });
        });
        let left = table.lookup(&0).unwrap().unwrap_or(0);
        assert_eq!(
            taken.load(Ordering::Relaxed) + left,
            added.load(Ordering::Relaxed)
        );
    }

    /// `delete_object` removes only the value it checked: while one thread adds 1 and then
    /// takes it away again, another deletes the counter whenever it is 0 (and starts it again).
    /// A delete that checked a 0 and then removed the 1 added since would make the taking away
    /// fail.
    #[test]
    fn a_conditional_delete_never_removes_a_value_it_did_not_see() {
        let table = Table::<u64, i32>::options().public().create().unwrap();
        table.insert(0, 0).unwrap();
        std::thread::scope(|scope| {
            let t = &table;
            scope.spawn(move || {
                for _ in 0..50_000 {
                    if t.update_counter(&0, 1).is_ok() {
                        assert_eq!(t.update_counter(&0, -1), Ok(0), "a 1 was deleted");
                    }
                }
            });
            scope.spawn(move || {
                for _ in 0..50_000 {
                    if t.delete_object(&0, &0).unwrap() {
                        t.insert_new(0, 0).unwrap();
                    }
                }
            });
        });
    }

    #[test]
    fn counter_tables_behave_as_value_tables() {
        let table = Table::<&'static str, i8>::options()
            .public()
            .create()
            .unwrap();
        assert_eq!(table.update_counter_or("a", 5, 1).unwrap(), 6);
        assert_eq!(table.update_counter(&"a", -10).unwrap(), -4);
        assert!(
            table.update_counter(&"a", -200).is_err(),
            "i8 overflow refused"
        );
        assert_eq!(table.lookup(&"a").unwrap(), Some(-4));
        assert!(table.update_element(&"a", |v| *v = 100).unwrap());
        assert_eq!(table.take(&"a").unwrap(), Some(100));
        assert!(table.update_counter(&"a", 1).is_err(), "gone");
        table.insert("b", 1).unwrap();
        table.insert("b", 2).unwrap();
        assert!(!table.insert_new("b", 3).unwrap());
        let mut seen = Vec::new();
        table.for_each(|k, v| seen.push((*k, *v))).unwrap();
        assert_eq!(seen, vec![("b", 2)]);
        assert_eq!(table.count().unwrap(), 1);
    }
}
