//! Every table operation on every kind, and what readers see while writers run.
//!
//! The tables here are public and made outside processes, so plain threads can hammer them;
//! ownership and access have their own tests.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;

use grove_tables::{Access, BagTable, Kind, Table, TableError};

fn set<V: Clone + Send + Sync + 'static>() -> Table<u32, V> {
    Table::options().public().create().unwrap()
}

fn ordered<V: Clone + Send + Sync + 'static>() -> Table<u32, V> {
    Table::options().ordered().public().create().unwrap()
}

/// Both unique-key kinds, for tests that hold for either.
fn unique_kinds<V: Clone + Send + Sync + 'static>() -> [Table<u32, V>; 2] {
    [set(), ordered()]
}

#[test]
fn insert_lookup_member_and_overwrite() {
    for table in unique_kinds::<String>() {
        assert_eq!(table.lookup(&1), Ok(None));
        table.insert(1, "one".into()).unwrap();
        assert_eq!(table.lookup(&1), Ok(Some("one".into())));
        assert_eq!(table.member(&1), Ok(true));
        assert_eq!(table.member(&2), Ok(false));
        table.insert(1, "uno".into()).unwrap();
        assert_eq!(table.lookup(&1), Ok(Some("uno".into())));
        assert_eq!(table.lookup_with(&1, String::len), Ok(Some(3)));
        assert_eq!(table.count(), Ok(1));
    }
}

#[test]
fn insert_new_only_inserts_absent_keys() {
    for table in unique_kinds::<u8>() {
        assert_eq!(table.insert_new(1, 10), Ok(true));
        assert_eq!(table.insert_new(1, 11), Ok(false));
        assert_eq!(table.lookup(&1), Ok(Some(10)));
    }
}

#[test]
fn delete_delete_object_and_take() {
    for table in unique_kinds::<u8>() {
        table.insert_many([(1, 10), (2, 20), (3, 30)]).unwrap();
        assert_eq!(table.delete(&1), Ok(true));
        assert_eq!(table.delete(&1), Ok(false));
        assert_eq!(table.delete_object(&2, &99), Ok(false));
        assert_eq!(table.lookup(&2), Ok(Some(20)));
        assert_eq!(table.delete_object(&2, &20), Ok(true));
        assert_eq!(table.take(&3), Ok(Some(30)));
        assert_eq!(table.take(&3), Ok(None));
        assert_eq!(table.count(), Ok(0));
    }
}

#[test]
fn update_counter_adds_starts_from_a_default_and_refuses_overflow() {
    for table in unique_kinds::<u8>() {
        assert_eq!(table.update_counter(&1, 1), Err(TableError::KeyNotFound));
        assert_eq!(table.update_counter_or(1, 5, 10), Ok(15));
        assert_eq!(table.update_counter(&1, -15), Ok(0));
        assert_eq!(
            table.update_counter(&1, -1),
            Err(TableError::CounterOverflow)
        );
        assert_eq!(
            table.update_counter(&1, 300),
            Err(TableError::CounterOverflow)
        );
        // A refused update leaves the counter as it was.
        assert_eq!(table.lookup(&1), Ok(Some(0)));
    }
}

#[test]
fn update_element_changes_one_object_in_place() {
    #[derive(Clone, Debug, PartialEq)]
    struct Gig {
        name: &'static str,
        sold_out: bool,
    }
    for table in unique_kinds::<Gig>() {
        table
            .insert(
                7,
                Gig {
                    name: "Blur",
                    sold_out: false,
                },
            )
            .unwrap();
        assert_eq!(
            table.update_element(&7, |gig| gig.sold_out = true),
            Ok(true)
        );
        assert_eq!(
            table.update_element(&8, |gig| gig.sold_out = true),
            Ok(false)
        );
        assert_eq!(
            table.lookup(&7),
            Ok(Some(Gig {
                name: "Blur",
                sold_out: true
            }))
        );
    }
}

#[test]
fn ordered_tables_walk_in_key_order_and_answer_ranges() {
    let table = ordered::<char>();
    for (key, value) in [(30, 'c'), (10, 'a'), (20, 'b'), (40, 'd')] {
        table.insert(key, value).unwrap();
    }
    assert_eq!(table.first(), Ok(Some(10)));
    assert_eq!(table.last(), Ok(Some(40)));
    assert_eq!(table.next(&10), Ok(Some(20)));
    // `next` and `prev` work from keys that are not in the table.
    assert_eq!(table.next(&25), Ok(Some(30)));
    assert_eq!(table.prev(&25), Ok(Some(20)));
    assert_eq!(table.next(&40), Ok(None));
    assert_eq!(table.prev(&10), Ok(None));
    assert_eq!(table.range(15..=30), Ok(vec![(20, 'b'), (30, 'c')]));
    assert_eq!(table.range(..), Ok(table.to_list().unwrap()));
    assert_eq!(
        table.select_range(20.., |key, value| (*key != 30).then_some(*value)),
        Ok(vec!['b', 'd'])
    );
    let mut walked = Vec::new();
    let mut key = table.first().unwrap();
    while let Some(k) = key {
        walked.push(k);
        key = table.next(&k).unwrap();
    }
    assert_eq!(walked, vec![10, 20, 30, 40]);
}

#[test]
fn hashed_tables_refuse_ordered_operations_with_a_clear_error() {
    let table = set::<u8>();
    assert_eq!(table.first(), Err(TableError::NotOrdered("first")));
    assert_eq!(
        table.range(1..3),
        Err(TableError::NotOrdered("select_range"))
    );
    let text = table.next(&1).unwrap_err().to_string();
    assert!(text.contains("ordered()"), "{text}");
}

#[test]
fn select_fold_count_and_select_delete() {
    for table in unique_kinds::<u32>() {
        table.insert_many((0..100).map(|n| (n, n * 10))).unwrap();
        let mut evens = table
            .select(|key, value| (key % 2 == 0).then_some(*value))
            .unwrap();
        evens.sort_unstable();
        assert_eq!(evens.len(), 50);
        assert_eq!(evens[..3], [0, 20, 40]);
        assert_eq!(table.select_count(|key, _| *key < 10), Ok(10));
        assert_eq!(
            table.fold(0u64, |sum, _, value| sum + u64::from(*value)),
            Ok(49_500)
        );
        // An expiry sweep: drop everything "older" than 50.
        assert_eq!(table.select_delete(|_, stamp| *stamp < 500), Ok(50));
        assert_eq!(table.count(), Ok(50));
        assert_eq!(table.select_count(|_, stamp| *stamp < 500), Ok(0));
    }
}

#[test]
fn clear_keeps_the_table_and_info_describes_it() {
    for (table, kind) in unique_kinds::<u64>()
        .into_iter()
        .zip([Kind::Set, Kind::OrderedSet])
    {
        table.insert_many((0..10).map(|n| (n, 1))).unwrap();
        let info = table.info().unwrap();
        assert_eq!(info.kind, kind);
        assert_eq!(info.access, Access::Public);
        assert_eq!(info.size, 10);
        assert!(info.memory >= 10 * 12, "{info:?}");
        assert_eq!((info.owner, info.heir, info.name), (None, None, None));
        table.clear().unwrap();
        assert_eq!(table.count(), Ok(0));
        table.insert(1, 1).unwrap();
        assert_eq!(table.count(), Ok(1));
    }
}

#[test]
fn a_bag_keeps_distinct_objects_per_key_in_insertion_order() {
    let bag = BagTable::<&str, u32>::options().public().create().unwrap();
    assert_eq!(bag.info().unwrap().kind, Kind::Bag);
    assert_eq!(bag.insert("a", 1), Ok(true));
    assert_eq!(bag.insert("a", 2), Ok(true));
    assert_eq!(bag.insert("a", 1), Ok(false));
    assert_eq!(bag.insert("b", 3), Ok(true));
    assert_eq!(bag.lookup(&"a"), Ok(vec![1, 2]));
    assert_eq!(bag.lookup(&"z"), Ok(vec![]));
    assert_eq!(bag.lookup_with(&"a", <[u32]>::len), Ok(Some(2)));
    assert_eq!(bag.count(), Ok(3));
    assert_eq!(bag.insert_new("a", 9), Ok(false));
    assert_eq!(bag.insert_new("c", 9), Ok(true));
    assert_eq!(bag.member(&"c"), Ok(true));
    assert_eq!(bag.delete_object(&"a", &1), Ok(1));
    assert_eq!(bag.lookup(&"a"), Ok(vec![2]));
    assert_eq!(bag.take(&"a"), Ok(vec![2]));
    assert_eq!(bag.member(&"a"), Ok(false));
    assert_eq!(bag.delete(&"c"), Ok(1));
    assert_eq!(bag.to_list(), Ok(vec![("b", 3)]));
    assert_eq!(bag.count(), Ok(1));
}

#[test]
fn a_duplicate_bag_keeps_equal_objects_and_deletes_them_together() {
    let bag = BagTable::<u8, char>::options()
        .duplicates()
        .public()
        .create()
        .unwrap();
    assert_eq!(bag.info().unwrap().kind, Kind::DuplicateBag);
    for value in ['x', 'y', 'x', 'x'] {
        assert_eq!(bag.insert(1, value), Ok(true));
    }
    assert_eq!(bag.lookup(&1), Ok(vec!['x', 'y', 'x', 'x']));
    assert_eq!(bag.count(), Ok(4));
    assert_eq!(bag.select_count(|_, v| *v == 'x'), Ok(3));
    assert_eq!(bag.delete_object(&1, &'x'), Ok(3));
    assert_eq!(bag.lookup(&1), Ok(vec!['y']));
    bag.insert(2, 'z').unwrap();
    assert_eq!(bag.select_delete(|key, _| *key == 2), Ok(1));
    assert_eq!(bag.fold(0, |n, _, _| n + 1), Ok(1));
    bag.clear().unwrap();
    assert_eq!((bag.count(), bag.member(&1)), (Ok(0), Ok(false)));
}

#[test]
fn a_deleted_table_refuses_every_operation() {
    let table = set::<u8>();
    let bag = BagTable::<u8, u8>::options().public().create().unwrap();
    table.delete_table().unwrap();
    bag.delete_table().unwrap();
    assert_eq!(table.insert(1, 1), Err(TableError::Deleted));
    assert_eq!(table.lookup(&1), Err(TableError::Deleted));
    assert_eq!(table.select(|_, _| Some(())), Err(TableError::Deleted));
    assert_eq!(table.delete_table(), Err(TableError::Deleted));
    assert_eq!(bag.insert(1, 1), Err(TableError::Deleted));
    assert_eq!(bag.lookup(&1), Err(TableError::Deleted));
    assert!(table.info().is_err());
}

#[test]
fn concurrent_counter_updates_lose_nothing() {
    for table in unique_kinds::<u64>() {
        table.insert(0, 0).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let table = table.clone();
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        table.update_counter(&0, 1).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(table.lookup(&0), Ok(Some(40_000)));
    }
}

#[test]
fn readers_never_see_an_overwritten_key_missing() {
    for table in unique_kinds::<u64>() {
        table.insert(0, 0).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (table, stop) = (table.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    table.insert(0, n).unwrap();
                }
            })
        };
        let mut last = 0;
        for _ in 0..200_000 {
            let seen = table
                .lookup(&0)
                .unwrap()
                .expect("the key never goes missing");
            assert!(seen >= last, "values only grow: {seen} after {last}");
            last = seen;
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    }
}

#[test]
fn iteration_during_concurrent_writes_sees_every_stable_object_once() {
    for table in unique_kinds::<u32>() {
        // Keys below 1000 stay put; keys from 1000 come and go while readers walk.
        table.insert_many((0..1000).map(|n| (n, n))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU32::new(0));
        let writer = {
            let (table, stop, rounds) = (table.clone(), stop.clone(), rounds.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let round = rounds.load(Ordering::Relaxed);
                    for key in 1000..1200 {
                        table.insert(key, round).unwrap();
                    }
                    for key in 1000..1200 {
                        table.delete(&key).unwrap();
                    }
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Walk at least 50 times, and until the writer has done a few rounds meanwhile.
        let mut walks = 0;
        while walks < 50 || rounds.load(Ordering::Relaxed) < 5 {
            let mut seen = vec![0u8; 1000];
            table
                .for_each(|key, value| {
                    if *key < 1000 {
                        assert_eq!(key, value, "a stable object is seen as it is");
                        seen[*key as usize] += 1;
                    }
                })
                .unwrap();
            assert!(
                seen.iter().all(|&n| n == 1),
                "each stable object exactly once"
            );
            walks += 1;
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    }
}

#[test]
fn select_delete_spares_objects_refreshed_meanwhile() {
    // The predicate is checked again at deletion, against the object as it is then.
    let table = set::<u64>();
    table.insert(1, 0).unwrap();
    let refreshed = table.clone();
    let deleted = table
        .select_delete(move |_, stamp| {
            // The first evaluation (the scan) finds it stale; a "refresh" lands before the
            // deletion re-checks.
            if *stamp == 0 {
                refreshed.insert(1, 100).unwrap();
                true
            } else {
                *stamp < 50
            }
        })
        .unwrap();
    assert_eq!(deleted, 0);
    assert_eq!(table.lookup(&1), Ok(Some(100)));
}
