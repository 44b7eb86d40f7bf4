//! The store of a hashed table of integers (of at most 64 bits): each value sits in a cell that
//! changes in place, so `update_counter` costs a lock and a store on that one cell, as ETS adds
//! to a counter in place, rather than a new map entry (an allocation, a compare-and-swap on
//! the bucket and a deferred free) per change.
//!
//! The map is papaya's, as for other values; only what an entry holds differs: a [`Cell`] with
//! the value's bits in an atomic, which lookups read without locking, and a small lock that
//! every change to the value takes. The lock also holds whether the cell has left the map:
//!
//! - `update_counter` (and `update_counter_or` on a present key) finds the cell, locks it, checks
//!   it is still in the map, adds, and stores: the lock is held for a load and a store. If the
//!   cell has left the map (a removal marked it), it looks the key up again.
//! - A change by a closure of the user (`update_element`) reads the value, runs the closure
//!   outside the lock, then locks and stores only if the cell is still in the map and its value
//!   unchanged; else it runs the closure again on the new value (as papaya's compare-and-swap
//!   does for other values). User code never runs under the lock, so a closure that writes the
//!   table cannot deadlock on it.
//! - A removal (`delete`, `take`, `delete_object`, `select_delete`) checks the value (a user's
//!   predicate, again outside the lock), then locks, makes sure the value is unchanged, marks
//!   the cell gone and takes it out of the map before unlocking: a change either came before
//!   (and the removal saw it) or waits on the lock, finds the mark, and starts over on whatever
//!   the key holds by then.
//! - An overwrite (`insert`) or `clear` replaces or drops cells without reading them, like any
//!   blind write: a change that found the old cell before counts as made before the overwrite.
//! - A lookup reads the atomic: the value of the last change, or of the overwrite.
//!
//! The lock is `parking_lot`'s one-byte mutex; it is held for a load and a store, or for a
//! removal from the map.

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

    /// Removes `key` if `remove` says yes for its value; returns the removed value. `remove`
    /// runs outside the cell's lock, and again if the value changed meanwhile.
    pub(crate) fn remove_if(&self, key: &K, remove: impl Fn(&V) -> bool) -> Option<V> {
        let map = self.map.pin();
        loop {
            let cell = map.get(key)?;
            let seen = cell.bits.load(Ordering::Acquire);
            let current = value::<V>(cell);
            if !remove(&current) {
                return None;
            }
            let Some(mut gone) = lock_unchanged(cell, seen) else {
                continue;
            };
            *gone = true;
            // Out of the map before the lock is let go, so a change waiting on the lock finds
            // the key gone (or holding a new cell) when it looks again. Only this cell: if an
            // insert replaced it meanwhile, the removal came before the insert.
            let _ = map.remove_if(key, |_, held| std::ptr::eq(held, cell));
            drop(gone);
            return Some(current);
        }
    }

    /// Replaces the value of `key` with what `update` makes of it; `Err(None)` if `key` is
    /// absent, `Err(Some(e))` if `update` refused. `update` (a user's closure) runs outside the
    /// cell's lock, and again if the value changed meanwhile.
    pub(crate) fn update<R, E>(
        &self,
        key: &K,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        let map = self.map.pin();
        loop {
            let cell = map.get(key).ok_or(None)?;
            let seen = cell.bits.load(Ordering::Acquire);
            let (next, result) = update(&value(cell)).map_err(Some)?;
            let Some(gone) = lock_unchanged(cell, seen) else {
                continue;
            };
            cell.bits.store(bits(&next), Ordering::Release);
            drop(gone);
            return Ok(result);
        }
    }

    /// As `update`, for a step of this crate's own (an addition), which touches no table: it
    /// runs once, under the cell's lock.
    pub(crate) fn step<R, E>(
        &self,
        key: &K,
        step: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        let map = self.map.pin();
        loop {
            let cell = map.get(key).ok_or(None)?;
            if let Some(outcome) = change(cell, &step) {
                return outcome.map_err(Some);
            }
        }
    }

    /// As `step`, starting from `default` when `key` is absent (`update_counter_or`).
    pub(crate) fn upsert<R, E>(
        &self,
        key: K,
        default: V,
        step: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        let map = self.map.pin();
        loop {
            if let Some(cell) = map.get(&key) {
                if let Some(outcome) = change(cell, &step) {
                    return outcome;
                }
                continue;
            }
            let (next, result) = step(&default)?;
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

/// Locks `cell` if it is still in the map and still holds the bits `seen` when a user's closure
/// looked at it; `None` if it was removed or changed meanwhile (look again).
#[inline]
fn lock_unchanged(cell: &Cell, seen: u64) -> Option<parking_lot::MutexGuard<'_, bool>> {
    let gone = cell.gone.lock();
    (!*gone && cell.bits.load(Ordering::Acquire) == seen).then_some(gone)
}

/// Applies `step` (this crate's own, touching no table) to `cell` under its lock; `None` if the
/// cell has left the map (look the key up again: a removal takes it out before it unlocks).
#[inline]
fn change<V: TableValue, R, E>(
    cell: &Cell,
    step: impl Fn(&V) -> Result<(V, R), E>,
) -> Option<Result<R, E>> {
    let gone = cell.gone.lock();
    if *gone {
        return None;
    }
    let outcome = step(&value(cell)).map(|(next, result)| {
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

    /// User closures run outside the cells' locks: two threads each changing one counter with a
    /// closure that adds to the other's, and a sweep whose predicate writes another key, finish
    /// (holding a cell's lock while running them would deadlock).
    #[test]
    fn closures_that_write_the_table_do_not_deadlock() {
        let table = Table::<u64, u64>::options().public().create().unwrap();
        table.insert(1, 0).unwrap();
        table.insert(2, 0).unwrap();
        std::thread::scope(|scope| {
            for (mine, other) in [(1u64, 2u64), (2, 1)] {
                let t = &table;
                scope.spawn(move || {
                    for _ in 0..10_000 {
                        t.update_element(&mine, |_| {
                            t.update_counter(&other, 1).unwrap();
                        })
                        .unwrap();
                    }
                });
            }
        });
        table.insert(3, 0).unwrap();
        let deleted = table
            .select_delete(|key, _| {
                table.update_counter(&1, 1).unwrap();
                *key == 3
            })
            .unwrap();
        assert_eq!(deleted, 1);
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
