//! Bad input never takes a node down: garbage before the handshake, oversized frames, unknown or
//! undecodable messages, a flood of connections, a peer that stops reading. Each is refused,
//! logged and counted, and the node keeps serving a well-behaved peer throughout.

mod common;

use std::time::Duration;

use common::*;
use grove_node::testing;
use grove_node::{Node, NodeEvent};
use grove_otp::gen_server::Server;
use grove_runtime::{send, Addr, Context, Message, Pid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn node() -> Node {
    test_node("guard@127.0.0.1", |builder| {
        builder
            .secret_only()
            .heartbeat(Duration::from_millis(100), Duration::from_millis(1000))
            .max_queue_bytes(1 << 20)
            .max_message_bytes(1 << 20)
            .max_reassembly_bytes(1 << 20)
            .max_handshakes(4)
            .max_handshakes_per_address(2)
            .handshake_timeout(Duration::from_secs(2))
            .hello_timeout(Duration::from_millis(500))
    })
}

#[test]
#[ignore = "the body of peer processes, run by the tests themselves"]
fn peer_main() {
    common::peer_main();
}

/// Tests that connect to the test node take turns with the flood test, which fills every
/// handshake slot on purpose: their own connections would be refused as part of the flood.
fn accepting() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a well-behaved peer, connected to the test node.
fn good_peer(name: &str) -> Peer {
    let peer = Peer::start(name, PeerOptions::default());
    runtime()
        .block_on(node().connect(&peer.addr))
        .expect("connect");
    peer
}

/// The node still serves a well-behaved peer: a call there and back.
fn still_serves(peer: &Peer) {
    let name = peer.name.clone();
    in_process(move |_: Context<()>| async move {
        let counter = Server::<Counter>::from_pid(remote_whereis("counter", &name).await);
        counter
            .call(Op::Add(1))
            .await
            .expect("the good peer still answers");
    });
}

/// Waits until the connection is closed by the node (a read returns 0 or fails).
async fn closed_by_the_node(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(LONG, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the node closes the connection");
}

/// Waits until `check` holds.
async fn eventually(mut check: impl FnMut() -> bool) {
    tokio::time::timeout(LONG, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the condition holds in time");
}

#[test]
fn garbage_before_the_handshake_is_refused_and_counted() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("garbage-good@127.0.0.1");
    let before = node.stats().handshakes_failed;
    runtime().block_on(async {
        for garbage in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &[0, 0, 0, 3, 1, 0xff, 0xff][..],
            &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5][..],
        ] {
            let mut stream = TcpStream::connect(node.listen_addr())
                .await
                .expect("connect");
            let _ = stream.write_all(garbage).await;
            closed_by_the_node(&mut stream).await;
        }
        eventually(|| node.stats().handshakes_failed >= before + 3).await;
    });
    still_serves(&peer);
}

#[test]
fn a_wrong_secret_is_refused_at_the_handshake() {
    let _turn = accepting();
    let node = node();
    let before = node.stats().handshakes_failed;
    runtime().block_on(async {
        let refused = testing::connect_raw(
            &node.listen_addr().to_string(),
            "liar@127.0.0.1",
            1,
            b"guess",
        )
        .await;
        assert!(refused.is_err());
        eventually(|| node.stats().handshakes_failed > before).await;
        assert!(!node.nodes().contains(&"liar@127.0.0.1".to_string()));
    });
}

#[test]
fn an_oversized_frame_closes_only_that_connection() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("oversized-good@127.0.0.1");
    let before = node.stats().protocol_errors;
    runtime().block_on(async {
        let (mut raw, _) = testing::connect_raw(
            &node.listen_addr().to_string(),
            "huge@127.0.0.1",
            1,
            SECRET.as_bytes(),
        )
        .await
        .expect("a raw peer connects");
        raw.send(&testing::oversized_frame_prefix())
            .await
            .expect("write");
        closed_by_the_node(raw.stream()).await;
        eventually(|| node.stats().protocol_errors > before).await;
    });
    still_serves(&peer);
}

#[test]
fn bytes_injected_into_an_authenticated_connection_close_it_undelivered() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("inject-good@127.0.0.1");
    let before = node.stats();
    runtime().block_on(async {
        let (mut raw, _) = testing::connect_raw(
            &node.listen_addr().to_string(),
            "injected@127.0.0.1",
            1,
            SECRET.as_bytes(),
        )
        .await
        .expect("a raw peer connects");
        // A well-formed frame, but not sealed with the connection's key: what a party on the
        // path without the secret could write (the attack that relays a handshake, then
        // speaks on the connection it relayed).
        let creation = node.creation();
        let forged = testing::message_frame(creation, 1, "test.Text", b"\x05forge");
        raw.send_unsealed(&forged).await.expect("write");
        closed_by_the_node(raw.stream()).await;
        eventually(|| node.stats().protocol_errors > before.protocol_errors).await;
        assert_eq!(
            node.stats().refused_unknown_type + node.stats().refused_undecodable,
            before.refused_unknown_type + before.refused_undecodable,
            "nothing of the forged frame was decoded"
        );
    });
    still_serves(&peer);
}

/// The relay attack: a node dials an address the attacker holds; the attacker opens a connection
/// to a third node and passes the handshake between the two, unchanged. Both proofs check out
/// (the attacker changed nothing), but the connection is then sealed under keys the attacker
/// cannot derive without the secret: what it writes of its own is refused, and nothing of it is
/// delivered.
#[test]
fn a_relayed_handshake_gives_the_relay_nothing_it_can_say() {
    let _turn = accepting();
    let node = node();
    let (sink_tx, sink_rx) = std::sync::mpsc::channel::<Pid>();
    let (got_tx, got_rx) = std::sync::mpsc::channel::<Text>();
    std::thread::spawn(move || {
        in_process(move |mut ctx: Context<Text>| async move {
            sink_tx.send(ctx.pid()).expect("test alive");
            while let Message::User(text) = next(&mut ctx).await {
                if got_tx.send(text).is_err() {
                    return;
                }
            }
        })
    });
    let sink = sink_rx.recv_timeout(LONG).expect("the sink runs");
    let before = node.stats().protocol_errors;
    let target = node.listen_addr().to_string();
    let creation = node.creation();
    runtime().block_on(async move {
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let relay_addr = relay.local_addr().expect("addr").to_string();
        // The victim dials the attacker, thinking it a peer.
        let victim = Peer::start(
            "victim@127.0.0.1",
            PeerOptions {
                connect: vec![relay_addr],
                ..PeerOptions::default()
            },
        );
        let (from_victim, _) = relay.accept().await.expect("the victim dials");
        let to_target = TcpStream::connect(&target)
            .await
            .expect("the attacker dials");
        let (mut victim_read, mut victim_write) = from_victim.into_split();
        let (mut target_read, mut target_write) = to_target.into_split();
        // Everything the target says goes to the victim, unchanged.
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut target_read, &mut victim_write).await;
        });
        // Everything the victim says goes to the target, until the connection is up.
        let pump = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match victim_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return target_write,
                    Ok(n) => n,
                };
                if target_write.write_all(&buf[..n]).await.is_err() {
                    return target_write;
                }
                if stop_pumping() {
                    return target_write;
                }
            }
        });
        fn stop_pumping() -> bool {
            STOP.load(std::sync::atomic::Ordering::Relaxed)
        }
        static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        // The target takes the relayed connection as the victim's: the handshake passed.
        eventually(|| node.nodes().contains(&"victim@127.0.0.1".to_string())).await;
        STOP.store(true, std::sync::atomic::Ordering::Relaxed);
        // The victim's heartbeats move the pump to its stop.
        let mut target_write = tokio::time::timeout(LONG, pump)
            .await
            .expect("the pump stops")
            .expect("the pump ran");
        // The attacker's own message to a process of the target, as a well-formed frame: it
        // cannot seal it with the connection's key.
        let forged = testing::message_frame(
            creation,
            sink.id(),
            "test.Text",
            &postcard_of(&Text("forged".into())),
        );
        let _ = target_write.write_all(&forged).await;
        eventually(|| node.stats().protocol_errors > before).await;
        eventually(|| !node.nodes().contains(&"victim@127.0.0.1".to_string())).await;
        drop(victim);
    });
    assert!(
        got_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing the relay wrote was delivered"
    );
}

/// A party on the path between a dialing node and its peer puts a refusal ("already
/// connected") in place of the peer's accept: without the secret it cannot make the tag the
/// refusal needs, so the dialer does not take it for a benign refusal; `connect` fails and says
/// someone is on the path.
#[test]
fn a_refusal_forged_on_the_path_is_not_taken_for_the_peers_word() {
    let _turn = accepting();
    let node = node();
    let peer = Peer::start("forged-word@127.0.0.1", PeerOptions::default());
    let peer_addr = peer.addr.clone();
    let outcome = runtime().block_on(async move {
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let relay_addr = relay.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (from_node, _) = relay.accept().await.expect("the node dials");
            let to_peer = TcpStream::connect(&peer_addr).await.expect("dial the peer");
            let (mut node_read, mut node_write) = from_node.into_split();
            let (mut peer_read, mut peer_write) = to_peer.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut node_read, &mut peer_write).await;
            });
            // The peer's frames to the node: its hello and its proof pass; its accept is
            // replaced.
            for frame in 0.. {
                let mut length = [0u8; 4];
                if peer_read.read_exact(&mut length).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; u32::from_be_bytes(length) as usize];
                if peer_read.read_exact(&mut body).await.is_err() {
                    return;
                }
                let out = if frame == 2 {
                    testing::forged_refusal_frame("already connected")
                } else {
                    [&length[..], &body].concat()
                };
                if node_write.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
        node.connect(&relay_addr).await
    });
    let error = outcome.expect_err("the forged refusal is not taken");
    assert!(self::node().stats().forged_decisions > 0);
    assert!(
        error.to_string().contains("without the cluster secret"),
        "{error}"
    );
}

#[test]
fn unknown_and_undecodable_messages_are_refused_and_the_connection_carries_on() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("refusals-good@127.0.0.1");
    let (sink_tx, sink_rx) = std::sync::mpsc::channel::<Pid>();
    let (got_tx, got_rx) = std::sync::mpsc::channel::<Text>();
    std::thread::spawn(move || {
        in_process(move |mut ctx: Context<Text>| async move {
            sink_tx.send(ctx.pid()).expect("test alive");
            if let Message::User(text) = next(&mut ctx).await {
                got_tx.send(text).expect("test alive");
            }
        })
    });
    let sink = sink_rx.recv_timeout(LONG).expect("the sink runs");
    let before = node.stats();
    runtime().block_on(async {
        let (mut raw, _) = testing::connect_raw(
            &node.listen_addr().to_string(),
            "confused@127.0.0.1",
            1,
            SECRET.as_bytes(),
        )
        .await
        .expect("a raw peer connects");
        let creation = node.creation();
        let frames = [
            testing::message_frame(creation, sink.id(), "no.such.Type", b"hello"),
            testing::message_frame(creation, sink.id(), "test.Text", &[0xff, 0xff, 0xff]),
            // The sink takes Text, not EchoRequest.
            testing::message_frame(
                creation,
                sink.id(),
                "test.EchoRequest",
                &postcard_of(&EchoRequest::Exit("x".into())),
            ),
            // A Text with bytes after it: a value of another type that starts like a Text.
            testing::message_frame(creation, sink.id(), "test.Text", &{
                let mut trailing = postcard_of(&Text("trailing".into()));
                trailing.push(0);
                trailing
            }),
            // And after all that, a good one on the same connection.
            testing::message_frame(
                creation,
                sink.id(),
                "test.Text",
                &postcard_of(&Text("ok".into())),
            ),
        ];
        for frame in frames {
            raw.send(&frame).await.expect("write");
        }
        eventually(|| {
            let stats = node.stats();
            stats.refused_unknown_type > before.refused_unknown_type
                && stats.refused_undecodable >= before.refused_undecodable + 2
                && stats.refused_wrong_type > before.refused_wrong_type
        })
        .await;
        assert!(node.nodes().contains(&"confused@127.0.0.1".to_string()));
    });
    assert_eq!(
        got_rx.recv_timeout(LONG).expect("the good message arrives"),
        Text("ok".into())
    );
    still_serves(&peer);
}

/// What large messages still arriving in fragments hold is bounded across connections (1 MiB
/// here). A raw peer starts a 700 kB message and holds its reservation; a real node then sends
/// one of the same size, which does not fit: its connection waits (less than half the heartbeat
/// timeout, so the real node does not take this one for hung), then the message is refused and
/// counted. The real node stays connected; once the raw peer's message is complete there is
/// room, and the real node's next large message arrives.
#[test]
fn partial_messages_across_connections_stay_within_the_reassembly_budget() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("budget-peer@127.0.0.1");
    let (sink_tx, sink_rx) = std::sync::mpsc::channel::<Addr<Text>>();
    let (got_tx, got_rx) = std::sync::mpsc::channel::<Text>();
    std::thread::spawn(move || {
        in_process(move |mut ctx: Context<Text>| async move {
            sink_tx.send(ctx.addr()).expect("test alive");
            while let Message::User(text) = next(&mut ctx).await {
                got_tx.send(text).expect("test alive");
            }
        })
    });
    let sink = sink_rx.recv_timeout(LONG).expect("the sink runs");
    let before = node.stats();
    let large = |fill: char| std::iter::repeat_n(fill, 700_000).collect::<String>();
    let held = testing::fragment_frames(&testing::message_frame(
        node.creation(),
        sink.pid().id(),
        "test.Text",
        &postcard_of(&Text(large('a'))),
    ));
    let peer_name = peer.name.clone();
    // The peer's echo process sends the text back to the sink: a large message from a real node.
    let echo_via_peer = move |text: String| {
        let peer_name = peer_name.clone();
        in_process(move |_: Context<()>| async move {
            let echo = remote_whereis("echo", &peer_name).await;
            send(
                echo.assume_type::<EchoRequest>(),
                EchoRequest::Echo {
                    text,
                    reply_to: sink,
                },
            );
        })
    };
    runtime().block_on(async {
        let addr = node.listen_addr().to_string();
        let (raw, _) = testing::connect_raw(&addr, "budget-raw@127.0.0.1", 1, SECRET.as_bytes())
            .await
            .expect("a raw peer connects");
        let (mut raw_read, mut raw_write) = raw.into_split();
        // The node pays no attention to what it sends a raw peer; keep its socket drained.
        tokio::spawn(async move {
            let mut sink = [0u8; 4096];
            while matches!(raw_read.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        raw_write.send(&held[0]).await.expect("write");
        // Heartbeats keep the raw peer's connection alive while it holds its reservation.
        let beating = tokio::spawn(async move {
            for _ in 0..30 {
                raw_write
                    .send(&testing::heartbeat_frame())
                    .await
                    .expect("write");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            raw_write
        });
        // The node takes the first fragment, and its reservation, before the real node's.
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::thread::spawn({
            let echo = echo_via_peer.clone();
            move || echo(large('b'))
        });
        eventually(|| node.stats().refused_reassembly_full > before.refused_reassembly_full).await;
        assert!(node.stats().reassembly_waits > before.reassembly_waits);
        // Longer than the heartbeat timeout: the real node did not cut the connection over
        // the wait.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let nodes = node.nodes();
        assert!(nodes.contains(&peer.name), "{nodes:?}");
        let mut raw_write = beating.await.expect("the heartbeats ran");
        for fragment in &held[1..] {
            raw_write.send(fragment).await.expect("write");
        }
    });
    let first = got_rx.recv_timeout(LONG).expect("the held message arrives");
    assert!(first.0.starts_with('a') && first.0.len() == 700_000);
    std::thread::spawn(move || echo_via_peer(large('c')));
    let second = got_rx
        .recv_timeout(LONG)
        .expect("the next large message arrives");
    assert!(
        second.0.starts_with('c') && second.0.len() == 700_000,
        "the refused one never does"
    );
    assert_eq!(node.stats().protocol_errors, before.protocol_errors);
    still_serves(&peer);
}

fn postcard_of<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encode")
}

#[test]
fn a_flood_of_connections_is_refused_past_the_handshake_limit() {
    let _turn = accepting();
    let node = node();
    let peer = good_peer("flood-good@127.0.0.1");
    let before = node.stats().connections_refused_flood;
    runtime().block_on(async {
        // Connections that never say anything hold a handshake slot until the timeout: from
        // many addresses, so the limit in all is met before any address's share.
        let mut idle = Vec::new();
        for i in 0..64u8 {
            if let Ok(stream) = connect_from([127, 0, 0, 3 + i % 16], node.listen_addr()).await {
                idle.push(stream);
            }
        }
        eventually(|| node.stats().connections_refused_flood > before).await;
        drop(idle);
    });
    still_serves(&peer);
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// Slowloris: many connections from one address, each trickling a hello a byte at a time and
/// coming back when closed. They hold that address's share of the handshake slots, no more,
/// and each is cut at the hello deadline; a peer from another address still gets in meanwhile.
#[test]
fn slow_hellos_from_one_address_keep_no_peer_from_another_out() {
    let _turn = accepting();
    let node = node();
    let before = node.stats();
    let target = node.listen_addr();
    let attacking = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let attack = {
        let attacking = attacking.clone();
        runtime().spawn(async move {
            let mut sockets = Vec::new();
            for _ in 0..40 {
                let attacking = attacking.clone();
                sockets.push(tokio::spawn(async move {
                    while attacking.load(std::sync::atomic::Ordering::Relaxed) {
                        let Ok(mut stream) = connect_from([127, 0, 0, 2], target).await else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        // The length of a plausible hello, then its bytes, slowly.
                        let mut trickle = 100u32.to_be_bytes().to_vec();
                        trickle.extend([1u8; 100]);
                        for byte in trickle {
                            if !attacking.load(std::sync::atomic::Ordering::Relaxed)
                                || stream.write_all(&[byte]).await.is_err()
                            {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }));
            }
            for socket in sockets {
                let _ = socket.await;
            }
        })
    };
    runtime().block_on(eventually(|| {
        node.stats().connections_refused_address > before.connections_refused_address
    }));
    // A peer from 127.0.0.1 gets a slot at once, each time, while the attack goes on (without
    // the per-address share, the attack holds every slot and it is refused).
    runtime().block_on(async {
        for i in 0..3 {
            let joined = testing::connect_raw(
                &target.to_string(),
                &format!("loris-good-{i}@127.0.0.1"),
                1,
                SECRET.as_bytes(),
            )
            .await;
            assert!(
                joined.is_ok(),
                "refused during the attack: {:?}",
                joined.err()
            );
        }
        // The trickling hellos are cut at the hello deadline.
        eventually(|| node.stats().hello_timeouts > before.hello_timeouts).await;
    });
    attacking.store(false, std::sync::atomic::Ordering::Relaxed);
    runtime().block_on(async {
        let _ = tokio::time::timeout(LONG, attack).await;
    });
}

/// A good hello takes no secret: a party that sends one and then waits is cut at the step
/// deadline (`hello_timeout`), not left to hold its slot for the whole handshake timeout.
#[test]
fn a_hello_and_then_silence_is_cut_at_the_step_deadline() {
    let _turn = accepting();
    let node = node();
    let before = node.stats().hello_timeouts;
    runtime().block_on(async {
        let mut stream = connect_from([127, 0, 0, 5], node.listen_addr())
            .await
            .expect("connect");
        stream
            .write_all(&testing::hello_frame("silent@127.0.0.5"))
            .await
            .expect("write");
        closed_by_the_node(&mut stream).await;
        eventually(|| node.stats().hello_timeouts > before).await;
    });
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_and_the_queue_stays_bounded() {
    let _turn = accepting();
    let node = node();
    let mut events = node.events();
    let peer = good_peer("reader-good@127.0.0.1");
    let before = node.stats().dropped_queue_full;
    let (raw, _) = runtime()
        .block_on(testing::connect_raw(
            &node.listen_addr().to_string(),
            "deaf@127.0.0.1",
            7,
            SECRET.as_bytes(),
        ))
        .expect("a raw peer connects");
    // It keeps sending heartbeats (so it is not hung) but never reads a byte.
    let (_reader, mut writer) = raw.into_split();
    let heartbeats = runtime().spawn(async move {
        loop {
            if writer.send(&testing::heartbeat_frame()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // Keep sending to it, about 6 MB/s, until it is cut off: the kernel's socket buffers fill,
    // then the node's 1 MiB queue, then the writer stalls.
    let deaf = Pid::from_parts("deaf@127.0.0.1", 7, 1).assume_type::<Text>();
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let sending = sending.clone();
        std::thread::spawn(move || {
            let chunk = "x".repeat(60 * 1024);
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..16 {
                    grove_runtime::send(deaf, Text(chunk.clone()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let reason = runtime().block_on(async {
        tokio::time::timeout(LONG, async {
            loop {
                if let Ok(NodeEvent::Down { node: down, reason }) = events.recv().await {
                    if &*down == "deaf@127.0.0.1" {
                        return reason;
                    }
                }
            }
        })
        .await
        .expect("the deaf peer is cut off")
    });
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    sender.join().expect("the sender stops");
    assert!(reason.contains("has not read"), "{reason}");
    // The queue holds 1 MiB: what did not fit was dropped and counted.
    assert!(node.stats().dropped_queue_full > before);
    heartbeats.abort();
    still_serves(&peer);
}
