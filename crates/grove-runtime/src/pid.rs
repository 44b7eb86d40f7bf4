//! Process identifiers, typed addresses, references and node identity.
//!
//! A [`Pid`] names one process anywhere: it carries the node the process lives on, the
//! *creation* (incarnation) of that node, and a serial number. Like Erlang's pids it is a plain
//! value: small (16 bytes), `Copy`, ordered, hashable and serializable. A pid of a process that has
//! exited, of a process on another node, or of a process from an earlier life of this node is still
//! a normal value; sending to it simply delivers nothing.
//!
//! An [`Addr<M>`] is a `Pid` that also knows the type of message its process accepts, so that
//! sending the wrong type is a compile error. It is just as small and `Copy`.
//!
//! ```
//! use grove_runtime::pid::{Pid, node};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let addr = grove_runtime::spawn(|mut ctx: grove_runtime::Context<u32>| async move {
//!     let _ = ctx.recv().await;
//! });
//! let pid: Pid = addr.pid();
//! assert!(pid.is_local());
//! assert_eq!(pid.node_name(), node().name);
//! println!("{pid}"); // <0.42.0>
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name this node has until distribution gives it another, as in Erlang.
pub const DEFAULT_NODE_NAME: &str = "nonode@nohost";

/// Interned node names: a pid stores a small index instead of the name.
///
/// Index 0 is always this node. Written by hand because it is a tiny append-only table, the
/// equivalent of Erlang's atom table for node names.
struct NodeTable {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
    local_creation: u32,
}

fn node_table() -> &'static RwLock<NodeTable> {
    static TABLE: OnceLock<RwLock<NodeTable>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let name: Arc<str> = Arc::from(DEFAULT_NODE_NAME);
        let mut index = HashMap::new();
        index.insert(name.clone(), 0);
        RwLock::new(NodeTable {
            names: vec![name],
            index,
            local_creation: fresh_creation(),
        })
    })
}

/// A creation number that differs between starts of the node (time-based, never zero).
fn fresh_creation() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    let mixed = (nanos as u64) ^ ((nanos >> 64) as u64) ^ u64::from(std::process::id());
    let folded = (mixed ^ (mixed >> 32)) as u32;
    folded.max(1)
}

/// The identity of this node: its name and creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// `name@host`; [`DEFAULT_NODE_NAME`] until distribution names the node.
    pub name: Arc<str>,
    /// Changes on every start of the node, so pids from an earlier life can be told apart.
    pub creation: u32,
}

/// This node's name and creation.
pub fn node() -> NodeIdentity {
    let table = node_table().read();
    NodeIdentity {
        name: table.names[0].clone(),
        creation: table.local_creation,
    }
}

/// Gives this node its distribution name (`name@host`). Pids created earlier stay valid: they
/// name this node by index, not by name. Called by the distribution layer at start.
pub fn set_node_name(name: &str) {
    let mut table = node_table().write();
    let old = table.names[0].clone();
    table.index.remove(&old);
    let name: Arc<str> = Arc::from(name);
    // A remote entry with this name (seen before we took it) now means us only when the creation
    // matches; keep it so earlier pids keep resolving to a name.
    table.names[0] = name.clone();
    table.index.insert(name, 0);
}

fn intern_node(name: &str, creation: u32) -> u32 {
    {
        let table = node_table().read();
        if *table.names[0] == *name {
            if table.local_creation == creation {
                return 0;
            }
        } else if let Some(&i) = table.index.get(name) {
            return i;
        }
    }
    let mut table = node_table().write();
    let is_earlier_self = *table.names[0] == *name;
    if is_earlier_self {
        // This node's name but another life: a pid of a process that no longer exists. It gets
        // an index of its own so that it never compares equal to a live local pid.
        if let Some(i) = (1..table.names.len()).find(|&i| *table.names[i] == *name) {
            return i as u32;
        }
    } else if let Some(&i) = table.index.get(name) {
        return i;
    }
    let i = table.names.len() as u32;
    let name: Arc<str> = Arc::from(name);
    table.names.push(name.clone());
    if !is_earlier_self {
        table.index.insert(name, i);
    }
    i
}

fn node_name_of(index: u32) -> Arc<str> {
    let table = node_table().read();
    table
        .names
        .get(index as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from("unknown@unknown"))
}

/// Read on every spawn, so cached outside the node table's lock.
fn local_creation() -> u32 {
    static CREATION: OnceLock<u32> = OnceLock::new();
    *CREATION.get_or_init(|| node_table().read().local_creation)
}

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_serial() -> u64 {
    NEXT_SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// A process identifier: which node, which life of that node, which process.
///
/// Displays like Erlang's pids, `<node.number.serial>`, where `node` is 0 for this node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid {
    node: u32,
    creation: u32,
    id: u64,
}

impl Pid {
    pub(crate) fn new_local(id: u64) -> Pid {
        Pid {
            node: 0,
            creation: local_creation(),
            id,
        }
    }

    /// The pid of no process on this node (serial 0 is never given out): what a monitor or a
    /// link to a name nobody holds reports, with `noproc`.
    pub(crate) fn nobody() -> Pid {
        Pid::new_local(0)
    }

    /// Builds a pid from its parts, as the distribution layer does for a pid that arrives from
    /// another node. `node` is a `name@host`.
    pub fn from_parts(node: &str, creation: u32, id: u64) -> Pid {
        Pid {
            node: intern_node(node, creation),
            creation,
            id,
        }
    }

    /// True when the pid names a process of this node in its current life.
    pub fn is_local(&self) -> bool {
        self.node == 0
    }

    /// The `name@host` of the node the process lives (or lived) on.
    pub fn node_name(&self) -> Arc<str> {
        node_name_of(self.node)
    }

    /// A small number that names the pid's node within this OS process: 0 for this node, the
    /// same number for every pid of one other node (whatever its creation), and another number
    /// for pids of an earlier life of this node. It is what [`Display`](fmt::Display) shows
    /// first, and a cheap key for per-node state (the distribution layer's connections).
    pub fn node_index(&self) -> u32 {
        self.node
    }

    /// The creation of the node at the time the process was spawned.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The process's serial number on its node.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Treats this pid as the address of a process that accepts `M`.
    ///
    /// Nothing checks this at compile time: if the process accepts another type, sends are
    /// dropped and logged. Prefer the [`Addr`] that `spawn` returned.
    pub fn assume_type<M>(self) -> Addr<M> {
        Addr {
            pid: self,
            _message: PhantomData,
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.id & 0xFFFF_FFFF;
        let serial = self.id >> 32;
        write!(f, "<{}.{}.{}>", self.node, number, serial)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How a pid crosses the wire: the node by name, so it means the same thing on every node.
#[derive(Serialize, Deserialize)]
struct PidRepr<'a> {
    #[serde(borrow)]
    node: std::borrow::Cow<'a, str>,
    creation: u32,
    id: u64,
}

impl Serialize for Pid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = self.node_name();
        PidRepr {
            node: std::borrow::Cow::Borrowed(&name),
            creation: self.creation,
            id: self.id,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Pid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = PidRepr::deserialize(deserializer)?;
        let node = intern_node(&repr.node, repr.creation);
        Ok(Pid {
            node,
            creation: repr.creation,
            id: repr.id,
        })
    }
}

/// The address of a process that accepts messages of type `M`.
///
/// `Copy` and as small as a [`Pid`]; serializes exactly like one. Get it from `spawn`, from
/// [`crate::Context::addr`], or from a message.
pub struct Addr<M> {
    pid: Pid,
    _message: PhantomData<fn(M) -> M>,
}

impl<M> Addr<M> {
    /// The untyped identity of the process.
    pub fn pid(&self) -> Pid {
        self.pid
    }
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for Addr<M> {}
impl<M> PartialEq for Addr<M> {
    fn eq(&self, other: &Self) -> bool {
        self.pid == other.pid
    }
}
impl<M> Eq for Addr<M> {}
impl<M> PartialEq<Pid> for Addr<M> {
    fn eq(&self, other: &Pid) -> bool {
        self.pid == *other
    }
}
impl<M> PartialEq<Addr<M>> for Pid {
    fn eq(&self, other: &Addr<M>) -> bool {
        *self == other.pid
    }
}
impl<M> PartialOrd for Addr<M> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Addr<M> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pid.cmp(&other.pid)
    }
}
impl<M> std::hash::Hash for Addr<M> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.pid.hash(state)
    }
}
impl<M> fmt::Display for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.pid, f)
    }
}
impl<M> fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.pid, f)
    }
}
impl<M> From<Addr<M>> for Pid {
    fn from(addr: Addr<M>) -> Pid {
        addr.pid
    }
}
impl<M> Serialize for Addr<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.pid.serialize(serializer)
    }
}
impl<'de, M> Deserialize<'de> for Addr<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Pid::deserialize(deserializer).map(Pid::assume_type)
    }
}

/// A unique reference, like Erlang's `make_ref()`: names a monitor or a timer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ref {
    creation: u32,
    id: u64,
}

impl Ref {
    /// A new reference, unique on this node for its life.
    pub fn new() -> Ref {
        Ref {
            creation: local_creation(),
            id: next_serial(),
        }
    }
}

impl Default for Ref {
    fn default() -> Self {
        Ref::new()
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<0.{}.{}>", self.creation, self.id)
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_is_small_and_copy() {
        assert_eq!(std::mem::size_of::<Pid>(), 16);
        assert_eq!(std::mem::size_of::<Addr<String>>(), 16);
        let a = Pid::new_local(5);
        let b = a;
        assert_eq!(a, b);
    }

    #[test]
    fn pid_displays_like_erlang() {
        let pid = Pid::new_local(123);
        assert_eq!(pid.to_string(), "<0.123.0>");
        let big = Pid::new_local((7 << 32) | 9);
        assert_eq!(big.to_string(), "<0.9.7>");
    }

    #[test]
    fn pid_round_trips_through_serde_and_keeps_its_node() {
        let local = Pid::new_local(77);
        let json = serde_json::to_string(&local).unwrap();
        let back: Pid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, local);
        assert!(back.is_local());

        let remote = Pid::from_parts("other@host", 3, 12);
        assert!(!remote.is_local());
        let json = serde_json::to_string(&remote).unwrap();
        let back: Pid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, remote);
        assert_eq!(&*back.node_name(), "other@host");
    }

    #[test]
    fn pid_from_an_earlier_life_of_this_node_is_not_local() {
        let me = node();
        let old = Pid::from_parts(&me.name, me.creation.wrapping_add(1), 5);
        assert!(!old.is_local());
        assert_eq!(old.node_name(), me.name);
        let json = serde_json::to_string(&old).unwrap();
        let back: Pid = serde_json::from_str(&json).unwrap();
        assert!(!back.is_local());
        assert_eq!(back, old);
    }

    #[test]
    fn refs_are_unique() {
        assert_ne!(Ref::new(), Ref::new());
    }
}
