//! Who may start a handshake on an incoming connection: at most `max_handshakes` at once in
//! all, and at most `max_handshakes_per_address` from any one IP address (an IPv6 /64 counts as
//! one address). A party that holds
//! many slow connections open (slowloris) from its own addresses then holds only its share of
//! the slots, and a peer from another address still gets one; the deadline for each handshake
//! step (`hello_timeout`) frees a slot whose connection says nothing useful in time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The handshake slots of a node.
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    per_address_cap: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is taken.
    Full,
    /// Its address holds its share of the slots already.
    AddressFull,
}

/// A slot, held while one handshake runs.
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    address: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    pub(crate) fn new(total: usize, per_address: usize) -> Arc<Admission> {
        Arc::new(Admission {
            total: Arc::new(Semaphore::new(total.max(1))),
            per_address: Mutex::new(HashMap::new()),
            per_address_cap: per_address.max(1),
        })
    }

    /// A slot for a handshake from `address`, if it may have one.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refused> {
        let address = share_of(address);
        let mut per_address = self.per_address.lock();
        if per_address.get(&address).copied().unwrap_or(0) >= self.per_address_cap {
            return Err(Refused::AddressFull);
        }
        // An address is remembered only while it holds a slot: refusals leave nothing behind.
        let slot = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        *per_address.entry(address).or_insert(0) += 1;
        Ok(Admitted {
            admission: self.clone(),
            address,
            _slot: slot,
        })
    }
}

/// Whose share a connection from `address` counts against: an IPv4 address (also written as
/// IPv4-mapped IPv6), or an IPv6 /64, the block one host or one customer usually gets, so an
/// attacker cannot take a fresh share from each of its many IPv6 addresses.
fn share_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        v4 => v4,
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_address = self.admission.per_address.lock();
        if let Some(held) = per_address.get_mut(&self.address) {
            *held -= 1;
            if *held == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_address_holds_its_share_and_the_others_still_get_slots() {
        let admission = Admission::new(4, 2);
        let a1 = admission.admit(ip(2)).unwrap();
        let _a2 = admission.admit(ip(2)).unwrap();
        assert!(matches!(admission.admit(ip(2)), Err(Refused::AddressFull)));
        let _b1 = admission.admit(ip(1)).unwrap();
        let _b2 = admission.admit(ip(3)).unwrap();
        assert!(matches!(admission.admit(ip(4)), Err(Refused::Full)));
        // A slot given back is free again, for the address that held it too.
        drop(a1);
        let _a3 = admission.admit(ip(2)).unwrap();
    }

    #[test]
    fn an_address_refused_for_its_share_takes_no_slot() {
        let admission = Admission::new(2, 1);
        let _a = admission.admit(ip(2)).unwrap();
        for _ in 0..10 {
            assert!(matches!(admission.admit(ip(2)), Err(Refused::AddressFull)));
        }
        assert!(admission.admit(ip(1)).is_ok());
    }

    #[test]
    fn a_full_node_remembers_no_address_it_refused() {
        let admission = Admission::new(1, 4);
        let _held = admission.admit(ip(1)).unwrap();
        for last in 2..=255 {
            assert!(matches!(admission.admit(ip(last)), Err(Refused::Full)));
        }
        assert_eq!(admission.per_address.lock().len(), 1);
    }

    #[test]
    fn one_ipv6_block_and_mapped_ipv4_count_as_one_address() {
        let admission = Admission::new(16, 2);
        let in_block = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let _a = admission.admit(in_block(1)).unwrap();
        let _b = admission.admit(in_block(2)).unwrap();
        assert!(matches!(
            admission.admit(in_block(3)),
            Err(Refused::AddressFull)
        ));
        let _c = admission.admit(ip(7)).unwrap();
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(127, 0, 0, 7).to_ipv6_mapped());
        let _d = admission.admit(mapped).unwrap();
        assert!(matches!(admission.admit(ip(7)), Err(Refused::AddressFull)));
    }

    #[test]
    fn addresses_are_forgotten_when_their_last_slot_is_given_back() {
        let admission = Admission::new(8, 2);
        for last in 0..=255 {
            drop(admission.admit(ip(last)).unwrap());
        }
        assert!(admission.per_address.lock().is_empty());
    }
}
