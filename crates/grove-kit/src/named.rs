//! Components findable by name: a cache, a queue, an alarm manager registered by its process
//! and looked up by anyone, typed. Names are per kind (per Rust type), so a cache and a queue
//! may share a name.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

type Key = (TypeId, Arc<str>);

fn names() -> &'static Mutex<HashMap<Key, Box<dyn Any + Send + Sync>>> {
    static NAMES: OnceLock<Mutex<HashMap<Key, Box<dyn Any + Send + Sync>>>> = OnceLock::new();
    NAMES.get_or_init(Default::default)
}

/// Registers `value` under `name` for its type, replacing what was there.
pub(crate) fn register<T: Clone + Send + Sync + 'static>(name: &str, value: T) {
    names()
        .lock()
        .insert((TypeId::of::<T>(), Arc::from(name)), Box::new(value));
}

/// The value of type `T` registered under `name`.
pub(crate) fn lookup<T: Clone + Send + Sync + 'static>(name: &str) -> Option<T> {
    names()
        .lock()
        .get(&(TypeId::of::<T>(), Arc::from(name)))
        .and_then(|value| value.downcast_ref::<T>())
        .cloned()
}
