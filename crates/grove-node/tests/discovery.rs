//! Discovery through DNS, against a DNS server on loopback that this test binary runs itself:
//! the A records of a headless service (peers on 127.0.0.2 and 127.0.0.3, sharing one port, as
//! pods behind a Kubernetes headless service do), and SRV records. Peers that appear in DNS
//! later are joined, and one that comes back after a kill is joined again.

// Peers on 127.0.0.2 and .3: Linux routes all of 127.0.0.0/8 to loopback.
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use grove_node::{Discovery, Node};
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The headless service's name: one A record per peer.
const SERVICE: &str = "peers.grove.test";
/// The SRV name: one record per peer, with its host name and port.
const SRV_NAME: &str = "_grove._tcp.grove.test";

#[test]
#[ignore = "the body of peer processes, run by the tests themselves"]
fn peer_main() {
    common::peer_main();
}

/// What the DNS server answers, by lower-case name without the final dot.
#[derive(Default)]
struct Zone {
    a: HashMap<String, Vec<Ipv4Addr>>,
    srv: HashMap<String, Vec<(String, u16)>>,
}

struct Dns {
    zone: Mutex<Zone>,
    addr: SocketAddr,
}

impl Dns {
    fn set_a(&self, name: &str, ips: &[Ipv4Addr]) {
        let mut zone = self.zone.lock().unwrap_or_else(|e| e.into_inner());
        zone.a.insert(name.to_string(), ips.to_vec());
    }

    fn set_srv(&self, name: &str, targets: &[(&str, u16)]) {
        let mut zone = self.zone.lock().unwrap_or_else(|e| e.into_inner());
        let targets = targets.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        zone.srv.insert(name.to_string(), targets);
    }
}

/// The DNS server: UDP on 127.0.0.1, served by a thread for the life of the test binary.
fn dns() -> &'static Dns {
    static DNS: OnceLock<&'static Dns> = OnceLock::new();
    DNS.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the DNS socket");
        let dns: &'static Dns = Box::leak(Box::new(Dns {
            zone: Mutex::default(),
            addr: socket.local_addr().expect("DNS address"),
        }));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((len, from)) = socket.recv_from(&mut buf) {
                let reply = {
                    let zone = dns.zone.lock().unwrap_or_else(|e| e.into_inner());
                    answer(&zone, &buf[..len])
                };
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        dns
    })
}

/// The response to one DNS query: the zone's A and SRV records for the names asked about, an
/// empty answer for anything else.
fn answer(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    for query in request.queries() {
        response.add_query(query.clone());
        let name = query.name().to_utf8().trim_end_matches('.').to_lowercase();
        match query.query_type() {
            RecordType::A => {
                for ip in zone.a.get(&name).into_iter().flatten() {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        0,
                        RData::A(A(*ip)),
                    ));
                }
            }
            RecordType::SRV => {
                for (target, port) in zone.srv.get(&name).into_iter().flatten() {
                    let target = Name::from_ascii(format!("{target}.")).ok()?;
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        0,
                        RData::SRV(SRV::new(0, 0, *port, target)),
                    ));
                }
            }
            _ => {}
        }
    }
    response.to_vec().ok()
}

/// The port every peer behind the headless service listens on (free on 127.0.0.2 and .3).
fn service_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| loop {
        let first = std::net::TcpListener::bind("127.0.0.2:0").expect("bind on 127.0.0.2");
        let port = first.local_addr().expect("address").port();
        if std::net::TcpListener::bind(("127.0.0.3", port)).is_ok() {
            return port;
        }
    })
}

/// The test node: discovers through both the A records and the SRV records, polling often.
fn node() -> Node {
    test_node("t@127.0.0.1", |builder| {
        builder
            .secret_only()
            .discovery(Discovery::dns(SERVICE, service_port()).nameserver(dns().addr))
            .discovery(Discovery::dns_srv(SRV_NAME).nameserver(dns().addr))
            .reconnect_interval(Duration::from_millis(100))
    })
}

/// Waits until `node` is connected to `peer` (or, with `connected: false`, is not).
fn wait_for(node: &Node, peer: &str, connected: bool) {
    let deadline = Instant::now() + LONG;
    while node.nodes().iter().any(|n| n == peer) != connected {
        assert!(
            Instant::now() < deadline,
            "{} still {} {peer} after {LONG:?}; connected to {:?}",
            node.name(),
            if connected {
                "not connected to"
            } else {
                "connected to"
            },
            node.nodes()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn service_peer(name: &str, ip: &str) -> Peer {
    Peer::start(
        name,
        PeerOptions {
            listen: Some(format!("{ip}:{}", service_port())),
            ..PeerOptions::default()
        },
    )
}

#[test]
fn peers_in_a_records_are_joined_as_they_appear_and_again_after_a_restart() {
    let node = node();
    let first = service_peer("a1@127.0.0.2", "127.0.0.2");
    dns().set_a(SERVICE, &[Ipv4Addr::new(127, 0, 0, 2)]);
    wait_for(&node, &first.name, true);

    // A second pod appears in the service: joined at the next poll.
    let mut second = service_peer("a2@127.0.0.3", "127.0.0.3");
    dns().set_a(
        SERVICE,
        &[Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)],
    );
    wait_for(&node, &second.name, true);

    // It is killed, and starts again at the same address: joined again, by discovery alone.
    second.kill();
    wait_for(&node, "a2@127.0.0.3", false);
    let second = service_peer("a2@127.0.0.3", "127.0.0.3");
    wait_for(&node, &second.name, true);
    wait_for(&node, &first.name, true);
}

#[test]
fn peers_in_srv_records_are_joined_through_their_host_names() {
    let node = node();
    let first = Peer::start("s1@127.0.0.1", PeerOptions::default());
    let second = Peer::start("s2@127.0.0.1", PeerOptions::default());
    let port = |peer: &Peer| -> u16 {
        let addr: SocketAddr = peer.addr.parse().expect("a peer address");
        addr.port()
    };
    // The SRV targets are host names only this DNS server knows.
    dns().set_a("s1.grove.test", &[Ipv4Addr::LOCALHOST]);
    dns().set_a("s2.grove.test", &[Ipv4Addr::LOCALHOST]);
    dns().set_srv(
        SRV_NAME,
        &[
            ("s1.grove.test", port(&first)),
            ("s2.grove.test", port(&second)),
        ],
    );
    wait_for(&node, &first.name, true);
    wait_for(&node, &second.name, true);
}
