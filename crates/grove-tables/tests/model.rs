//! Random operation sequences run against each table kind and against a plain model (a
//! `BTreeMap` for sets, a map of `Vec`s for bags); after every step both must agree.

use std::collections::BTreeMap;

use grove_tables::{BagTable, Table, TableError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u16),
    InsertNew(u8, u16),
    Delete(u8),
    DeleteObject(u8, u16),
    Take(u8),
    UpdateCounter(u8, i8),
    UpdateCounterOr(u8, i8, u16),
    SelectDelete(u16),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    let value = 0u16..6;
    prop_oneof![
        6 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::InsertNew(k, v)),
        2 => key.clone().prop_map(Op::Delete),
        2 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::DeleteObject(k, v)),
        2 => key.clone().prop_map(Op::Take),
        2 => (key.clone(), any::<i8>()).prop_map(|(k, n)| Op::UpdateCounter(k, n)),
        2 => (key, any::<i8>(), value.clone()).prop_map(|(k, n, d)| Op::UpdateCounterOr(k, n, d)),
        1 => value.prop_map(Op::SelectDelete),
        1 => Just(Op::Clear),
    ]
}

/// The model's answer to `update_counter` on a `u16`.
fn add(counter: u16, increment: i8) -> Result<u16, TableError> {
    u16::try_from(i32::from(counter) + i32::from(increment))
        .map_err(|_| TableError::CounterOverflow)
}

fn check_set(table: &Table<u8, u16>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = BTreeMap::<u8, u16>::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => {
                table.insert(k, v).unwrap();
                model.insert(k, v);
            }
            Op::InsertNew(k, v) => {
                let fresh = !model.contains_key(&k);
                if fresh {
                    model.insert(k, v);
                }
                prop_assert_eq!(table.insert_new(k, v), Ok(fresh));
            }
            Op::Delete(k) => prop_assert_eq!(table.delete(&k), Ok(model.remove(&k).is_some())),
            Op::DeleteObject(k, v) => {
                let matches = model.get(&k) == Some(&v);
                if matches {
                    model.remove(&k);
                }
                prop_assert_eq!(table.delete_object(&k, &v), Ok(matches));
            }
            Op::Take(k) => prop_assert_eq!(table.take(&k), Ok(model.remove(&k))),
            Op::UpdateCounter(k, n) => {
                let expected = match model.get(&k) {
                    None => Err(TableError::KeyNotFound),
                    Some(&counter) => add(counter, n),
                };
                if let Ok(next) = expected {
                    model.insert(k, next);
                }
                prop_assert_eq!(table.update_counter(&k, i64::from(n)), expected);
            }
            Op::UpdateCounterOr(k, n, default) => {
                let expected = add(*model.get(&k).unwrap_or(&default), n);
                if let Ok(next) = expected {
                    model.insert(k, next);
                }
                prop_assert_eq!(table.update_counter_or(k, i64::from(n), default), expected);
            }
            Op::SelectDelete(below) => {
                let before = model.len();
                model.retain(|_, v| *v >= below);
                prop_assert_eq!(
                    table.select_delete(|_, v| *v < below),
                    Ok(before - model.len())
                );
            }
            Op::Clear => {
                model.clear();
                table.clear().unwrap();
            }
        }
        let mut contents = table.to_list().unwrap();
        contents.sort_unstable();
        prop_assert_eq!(contents, model.clone().into_iter().collect::<Vec<_>>());
        prop_assert_eq!(table.count(), Ok(model.len()));
    }
    Ok(())
}

fn check_ordered_walk(table: &Table<u8, u16>) -> Result<(), TestCaseError> {
    let listed: Vec<u8> = table
        .to_list()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut walked = Vec::new();
    let mut key = table.first().unwrap();
    while let Some(k) = key {
        walked.push(k);
        key = table.next(&k).unwrap();
    }
    prop_assert_eq!(&walked, &listed);
    prop_assert_eq!(table.last().unwrap(), listed.last().copied());
    let in_range: Vec<u8> = table
        .range(3..8)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let expected: Vec<u8> = listed.into_iter().filter(|k| (3..8).contains(k)).collect();
    prop_assert_eq!(in_range, expected);
    Ok(())
}

fn check_bag(bag: &BagTable<u8, u16>, duplicates: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = BTreeMap::<u8, Vec<u16>>::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => {
                let values = model.entry(k).or_default();
                let added = duplicates || !values.contains(&v);
                if added {
                    values.push(v);
                }
                prop_assert_eq!(bag.insert(k, v), Ok(added));
            }
            Op::InsertNew(k, v) => {
                let fresh = !model.contains_key(&k);
                if fresh {
                    model.insert(k, vec![v]);
                }
                prop_assert_eq!(bag.insert_new(k, v), Ok(fresh));
            }
            Op::Delete(k) => {
                let removed = model.remove(&k).map_or(0, |values| values.len());
                prop_assert_eq!(bag.delete(&k), Ok(removed));
            }
            Op::DeleteObject(k, v) => {
                let mut removed = 0;
                if let Some(values) = model.get_mut(&k) {
                    let before = values.len();
                    values.retain(|x| *x != v);
                    removed = before - values.len();
                }
                prop_assert_eq!(bag.delete_object(&k, &v), Ok(removed));
            }
            Op::Take(k) => prop_assert_eq!(bag.take(&k), Ok(model.remove(&k).unwrap_or_default())),
            // Counters are for sets; bags get the other operations in their place.
            Op::UpdateCounter(k, _) | Op::UpdateCounterOr(k, _, _) => prop_assert_eq!(
                bag.lookup(&k),
                Ok(model.get(&k).cloned().unwrap_or_default())
            ),
            Op::SelectDelete(below) => {
                let before: usize = model.values().map(Vec::len).sum();
                for values in model.values_mut() {
                    values.retain(|v| *v >= below);
                }
                let after: usize = model.values().map(Vec::len).sum();
                prop_assert_eq!(bag.select_delete(|_, v| *v < below), Ok(before - after));
            }
            Op::Clear => {
                model.clear();
                bag.clear().unwrap();
            }
        }
        model.retain(|_, values| !values.is_empty());
        for (key, values) in &model {
            prop_assert_eq!(&bag.lookup(key).unwrap(), values);
        }
        let objects: usize = model.values().map(Vec::len).sum();
        prop_assert_eq!(bag.count(), Ok(objects));
        prop_assert_eq!(bag.to_list().unwrap().len(), objects);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_set_behaves_like_a_map(ops in proptest::collection::vec(op(), 1..60)) {
        let table = Table::<u8, u16>::options().public().create().unwrap();
        check_set(&table, &ops)?;
    }

    #[test]
    fn an_ordered_set_behaves_like_a_sorted_map(ops in proptest::collection::vec(op(), 1..60)) {
        let table = Table::<u8, u16>::options().ordered().public().create().unwrap();
        check_set(&table, &ops)?;
        check_ordered_walk(&table)?;
    }

    #[test]
    fn a_bag_behaves_like_a_map_of_distinct_lists(ops in proptest::collection::vec(op(), 1..60)) {
        let bag = BagTable::<u8, u16>::options().public().create().unwrap();
        check_bag(&bag, false, &ops)?;
    }

    #[test]
    fn a_duplicate_bag_behaves_like_a_map_of_lists(ops in proptest::collection::vec(op(), 1..60)) {
        let bag = BagTable::<u8, u16>::options().duplicates().public().create().unwrap();
        check_bag(&bag, true, &ops)?;
    }
}
