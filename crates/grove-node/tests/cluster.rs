//! Several nodes as real OS processes on loopback, with mutual TLS and the cluster secret:
//! calls, sends, remote monitors and links, remote spawn, restarts, and hung nodes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use grove_node::{Node, NodeEvent, TlsFiles};
use grove_otp::gen_server::{CallError, Server};
use grove_runtime::{Context, ExitReason, Message, Pid};

/// The busy limit of the test node: small, so that a producer meets it.
const BUSY_LIMIT: usize = 64 << 10;

fn node() -> Node {
    test_node("t@127.0.0.1", |builder| {
        builder
            .tls(TlsFiles::in_dir(certs()))
            .busy_limit(BUSY_LIMIT)
    })
}

fn tls_peer(name: &str) -> Peer {
    Peer::start(
        name,
        PeerOptions {
            tls: Some(certs()),
            ..PeerOptions::default()
        },
    )
}

/// Starts a peer and connects the test node to it.
fn connected_peer(name: &str) -> Peer {
    let node = node();
    let peer = tls_peer(name);
    let connected = runtime()
        .block_on(node.connect(&peer.addr))
        .expect("connect");
    assert_eq!(connected, peer.name);
    peer
}

#[test]
#[ignore = "the body of peer processes, run by the tests themselves"]
fn peer_main() {
    common::peer_main();
}

#[test]
fn a_call_and_a_cast_reach_a_server_on_another_node() {
    let peer = connected_peer("call@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |_: Context<()>| async move {
        let pid = remote_whereis("counter", &name).await;
        assert_eq!(&*pid.node_name(), name);
        let counter = Server::<Counter>::from_pid(pid);
        assert_eq!(counter.call(Op::Add(2)).await, Ok(2));
        counter.cast(5);
        assert_eq!(counter.call(Op::Get).await, Ok(7));
        // The same timeout as locally.
        assert_eq!(
            counter
                .call_timeout(Op::Slow(2_000), Duration::from_millis(50))
                .await,
            Err(CallError::Timeout(Duration::from_millis(50)))
        );
        // A server that stops instead of answering: the caller gets its reason.
        assert_eq!(
            counter.call(Op::Crash("on purpose".into())).await,
            Err(CallError::Exited(ExitReason::error("on purpose")))
        );
        // And then it is not running.
        assert_eq!(counter.call(Op::Get).await, Err(CallError::NoProc));
    });
}

#[test]
fn a_producer_paced_by_wait_for_room_loses_nothing_and_keeps_the_queue_under_the_busy_limit() {
    let peer = connected_peer("paced@127.0.0.1");
    let name = peer.name.clone();
    let dropped_before = node().stats().dropped_queue_full;
    in_process(move |_: Context<()>| async move {
        let counter = Server::<Counter>::from_pid(remote_whereis("counter", &name).await);
        let casts = 200_000u64;
        for _ in 0..casts {
            counter.cast(1);
            grove_node::wait_for_room(counter.pid()).await;
            // Until the next cast, only the writer and the odd heartbeat (a few bytes) touch
            // the queue.
            let queued = node().queued_bytes(&name).expect("connected");
            assert!(
                queued <= BUSY_LIMIT + 64,
                "{queued} bytes queued past the busy limit of {BUSY_LIMIT}"
            );
        }
        assert_eq!(counter.call(Op::Get).await, Ok(casts));
    });
    assert_eq!(node().stats().dropped_queue_full, dropped_before);
}

#[test]
fn messages_reach_a_remote_name_and_pids_inside_them_stay_valid() {
    let peer = connected_peer("send@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |mut ctx: Context<Text>| async move {
        for i in 0..100 {
            grove_node::send_named(
                "echo",
                &name,
                EchoRequest::Echo {
                    text: format!("hello {i}"),
                    reply_to: ctx.addr(),
                },
            );
        }
        // In order: messages from one process to another arrive in the order sent.
        for i in 0..100 {
            match next(&mut ctx).await {
                Message::User(Text(text)) => assert_eq!(text, format!("hello {i}")),
                other => panic!("unexpected {other:?}"),
            }
        }
        // A plain send to the remote pid works the same.
        let echo = remote_whereis("echo", &name).await;
        grove_runtime::send(
            echo.assume_type::<EchoRequest>(),
            EchoRequest::Echo {
                text: "by pid".into(),
                reply_to: ctx.addr(),
            },
        );
        assert_eq!(next(&mut ctx).await, Message::User(Text("by pid".into())));
    });
}

#[test]
fn a_large_message_crosses_in_fragments_and_keeps_its_place_in_line() {
    let peer = connected_peer("large@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |mut ctx: Context<Text>| async move {
        let large = "y".repeat(3 << 20);
        for text in [large.clone(), "small".to_string()] {
            grove_node::send_named(
                "echo",
                &name,
                EchoRequest::Echo {
                    text,
                    reply_to: ctx.addr(),
                },
            );
        }
        // The small one was sent after the large one by the same process: it arrives after.
        assert_eq!(next(&mut ctx).await, Message::User(Text(large)));
        assert_eq!(next(&mut ctx).await, Message::User(Text("small".into())));
    });
}

/// OTP's caller exits with `{nodedown, Node}` when the server's node goes down during the call;
/// Grove's call fails with `NodeDown(node)`, and `?` exits with `ExitReason::NodeDown`.
#[test]
fn a_call_in_flight_when_the_node_is_killed_fails_with_nodedown() {
    let mut peer = connected_peer("nodedown@127.0.0.1");
    let name = peer.name.clone();
    let (calling_tx, calling_rx) = std::sync::mpsc::channel::<()>();
    let caller = std::thread::spawn(move || {
        in_process(move |_: Context<()>| async move {
            let counter = Server::<Counter>::from_pid(remote_whereis("counter", &name).await);
            assert_eq!(counter.call(Op::Get).await, Ok(0), "the peer answers first");
            calling_tx.send(()).expect("test alive");
            let outcome = counter.call_timeout(Op::Slow(60_000), LONG * 3).await;
            assert_eq!(outcome, Err(CallError::NodeDown(name.clone())));
            let reason = outcome.map_err(ExitReason::from).unwrap_err();
            assert_eq!(reason, ExitReason::NodeDown(name.into()));
        })
    });
    calling_rx
        .recv_timeout(LONG)
        .expect("the caller is calling");
    // The slow call is on its way or being handled; either way only the node's loss ends it.
    std::thread::sleep(Duration::from_millis(100));
    peer.kill();
    caller.join().expect("the call failed with nodedown");
}

#[test]
fn a_remote_monitor_fires_noconnection_when_the_node_is_killed() {
    let mut peer = connected_peer("killed@127.0.0.1");
    let name = peer.name.clone();
    let (pid_tx, pid_rx) = std::sync::mpsc::channel::<Pid>();
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || {
        in_process(move |mut ctx: Context<()>| async move {
            let counter = remote_whereis("counter", &name).await;
            let reference = ctx.monitor(counter);
            let node_reference = grove_node::monitor_node(&name).expect("in a process");
            pid_tx.send(counter).expect("test alive");
            let _ = killed_rx.await;
            let mut downs = Vec::new();
            for _ in 0..2 {
                match next(&mut ctx).await {
                    Message::Down(down) => downs.push(*down),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let counter_down = downs
                .iter()
                .find(|d| d.reference == reference)
                .expect("counter down");
            assert_eq!(counter_down.pid, counter);
            assert_eq!(counter_down.reason, ExitReason::NoConnection);
            let node_down = downs
                .iter()
                .find(|d| d.reference == node_reference)
                .expect("node down");
            assert_eq!(&*node_down.pid.node_name(), name);
            assert_eq!(node_down.reason, ExitReason::NoConnection);
        })
    });
    pid_rx.recv_timeout(LONG).expect("the watcher is watching");
    peer.kill();
    let _ = killed_tx.send(());
    watcher.join().expect("the watcher saw both downs");
}

#[test]
fn a_remote_monitor_and_a_remote_link_carry_the_real_exit_reason() {
    let peer = connected_peer("reasons@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        let args = EchoArgs {
            prefix: "> ".into(),
        };
        let monitored = grove_node::spawn(&name, "test.echo", &args)
            .await
            .expect("spawned");
        let linked = grove_node::spawn(&name, "test.echo", &args)
            .await
            .expect("spawned");
        assert_eq!(&*monitored.node_name(), name);
        let reference = ctx.monitor(monitored);
        ctx.link(linked);
        grove_runtime::send(monitored.assume_type(), EchoRequest::Exit("first".into()));
        grove_runtime::send(linked.assume_type(), EchoRequest::Exit("second".into()));
        let mut seen = 0;
        while seen < 2 {
            match next(&mut ctx).await {
                Message::Down(down) => {
                    assert_eq!(down.reference, reference);
                    assert_eq!(down.reason, ExitReason::error("first"));
                    seen += 1;
                }
                Message::Exit(exit) => {
                    assert_eq!(exit.from, linked);
                    assert_eq!(exit.reason, ExitReason::error("second"));
                    seen += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Monitoring or linking a remote process that is gone answers noproc.
        let late = ctx.monitor(monitored);
        match next(&mut ctx).await {
            Message::Down(down) => {
                assert_eq!(down.reference, late);
                assert_eq!(down.reason, ExitReason::NoProc);
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn a_local_exit_travels_along_a_link_to_a_remote_process() {
    let peer = connected_peer("linkback@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |mut ctx: Context<()>| async move {
        let remote = grove_node::spawn(
            &name,
            "test.echo",
            &EchoArgs {
                prefix: String::new(),
            },
        )
        .await
        .expect("spawned");
        let reference = ctx.monitor(remote);
        // A local process links to the remote one, then crashes: the remote one (not trapping
        // exits) dies with the same reason.
        ctx.spawn(move |mut linker: Context<()>| async move {
            linker.link(remote);
            // A round trip to the remote node, so the link is in place before the crash.
            let _ = grove_node::whereis("echo", &remote.node_name()).await;
            ExitReason::error("local crash")
        });
        match next(&mut ctx).await {
            Message::Down(down) => {
                assert_eq!(down.reference, reference);
                assert_eq!(down.reason, ExitReason::error("local crash"));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn remote_spawn_runs_only_registered_kinds_with_typed_arguments() {
    let peer = connected_peer("spawn@127.0.0.1");
    let name = peer.name.clone();
    in_process(move |mut ctx: Context<Text>| async move {
        let pid = grove_node::spawn(
            &name,
            "test.echo",
            &EchoArgs {
                prefix: "spawned: ".into(),
            },
        )
        .await
        .expect("a registered kind spawns");
        grove_runtime::send(
            pid.assume_type(),
            EchoRequest::Echo {
                text: "hi".into(),
                reply_to: ctx.addr(),
            },
        );
        assert_eq!(
            next(&mut ctx).await,
            Message::User(Text("spawned: hi".into()))
        );
        let refused = grove_node::spawn(&name, "rm -rf", &()).await.unwrap_err();
        assert!(refused.to_string().contains("no process kind"), "{refused}");
        let bad_args = grove_node::spawn(&name, "test.echo", &42u8)
            .await
            .unwrap_err();
        assert!(
            bad_args.to_string().contains("did not decode"),
            "{bad_args}"
        );
    });
}

#[test]
fn a_restarted_node_has_a_new_creation_and_its_old_pids_are_dead() {
    let node = node();
    let mut events = node.events();
    let mut first = connected_peer("restart@127.0.0.1");
    let name = first.name.clone();
    let old_counter = runtime().block_on(async {
        grove_node::whereis("counter", &name)
            .await
            .expect("answer")
            .expect("counter")
    });
    first.kill();
    let second = tls_peer(&name);
    runtime().block_on(async {
        // Wait until the first life is seen to be gone, then connect to the second.
        tokio::time::timeout(LONG, async {
            loop {
                if let Ok(NodeEvent::Down { node: down, .. }) = events.recv().await {
                    if *down == *name {
                        break;
                    }
                }
            }
        })
        .await
        .expect("the first life's connection is lost");
        node.connect(&second.addr)
            .await
            .expect("connect to the new life");
    });
    let name2 = name.clone();
    in_process(move |mut ctx: Context<()>| async move {
        let new_counter = remote_whereis("counter", &name2).await;
        assert_ne!(new_counter.creation(), old_counter.creation());
        assert_ne!(new_counter, old_counter);
        let reference = ctx.monitor(old_counter);
        match next(&mut ctx).await {
            Message::Down(down) => {
                assert_eq!(down.reference, reference);
                assert_eq!(down.reason, ExitReason::NoProc);
            }
            other => panic!("unexpected {other:?}"),
        }
        // A call to a pid of the node's earlier life is answered at once, as for a dead local
        // pid (the default timeout would turn a lost call into `Timeout`).
        let old = Server::<Counter>::from_pid(old_counter);
        assert_eq!(old.call(Op::Get).await, Err(CallError::NoProc));
        assert_eq!(
            Server::<Counter>::from_pid(new_counter).call(Op::Get).await,
            Ok(0)
        );
    });
    drop(second);
}

#[test]
fn a_hung_node_is_declared_down_by_the_heartbeat() {
    let node = node();
    let mut events = node.events();
    let peer = connected_peer("hung@127.0.0.1");
    let name = peer.name.clone();
    peer.stop();
    let stopped = Instant::now();
    let reason = runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(NodeEvent::Down { node: down, reason }) = events.recv().await {
                    if *down == *name {
                        return reason;
                    }
                }
            }
        })
        .await
        .expect("the hung node is declared down")
    });
    let waited = stopped.elapsed();
    assert!(reason.contains("heartbeat"), "{reason}");
    // Not before the timeout (1.5 s by default): a merely quiet node is not declared down.
    assert!(
        waited >= Duration::from_millis(1400),
        "declared down after {waited:?}"
    );
    eprintln!("hung node declared down after {waited:?}");
    assert!(node.stats().heartbeat_timeouts >= 1);
}

#[test]
fn nodes_form_a_full_mesh_through_the_peers_they_share() {
    let node = node();
    let hub = connected_peer("hub@127.0.0.1");
    let spoke = Peer::start(
        "spoke@127.0.0.1",
        PeerOptions {
            tls: Some(certs()),
            connect: vec![hub.addr.clone()],
            ..PeerOptions::default()
        },
    );
    // The test node never dialed the spoke: the hub told it (or the spoke) about the other.
    runtime().block_on(async {
        tokio::time::timeout(LONG, async {
            while !node.nodes().contains(&spoke.name) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the mesh closes");
    });
}

/// Waits until the node counts a failed handshake beyond `before` (`whose` handshake it is, for
/// the message if none comes).
async fn a_handshake_fails(node: &Node, before: u64, whose: &str) {
    tokio::time::timeout(LONG, async {
        while node.stats().handshakes_failed == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{whose} handshake does not fail"));
}

#[test]
fn a_node_with_a_certificate_from_another_ca_is_refused() {
    let node = node();
    let failed_before = node.stats().handshakes_failed;
    let other_ca = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("grove-node-other-ca-{}", std::process::id()));
    grove_node::generate_dev_certs(&other_ca, &["127.0.0.1".to_string()]).expect("certs");
    let stranger = Peer::start(
        "stranger@127.0.0.1",
        PeerOptions {
            tls: Some(other_ca.clone()),
            connect: vec![node.listen_addr().to_string()],
            ..PeerOptions::default()
        },
    );
    runtime().block_on(async {
        a_handshake_fails(&node, failed_before, "the stranger's").await;
        assert!(!node.nodes().contains(&stranger.name));
        // And the test node cannot reach it either.
        assert!(node.connect(&stranger.addr).await.is_err());
    });
    drop(stranger);
    let _ = std::fs::remove_dir_all(&other_ca);
}

#[test]
fn a_node_with_a_wrong_secret_is_refused() {
    let node = node();
    let failed_before = node.stats().handshakes_failed;
    let intruder = Peer::start(
        "intruder@127.0.0.1",
        PeerOptions {
            tls: Some(certs()),
            secret: Some("not the secret".into()),
            ..PeerOptions::default()
        },
    );
    runtime().block_on(async {
        let error = node.connect(&intruder.addr).await.unwrap_err();
        assert!(error.to_string().contains("authentication"), "{error}");
        assert!(
            node.stats().handshakes_failed > failed_before
                || !node.nodes().contains(&intruder.name)
        );
        assert!(!node.nodes().contains(&intruder.name));
    });
}

/// With TLS a node name is bound to the certificate: a node whose certificate (from the
/// cluster's CA, with the secret) names 127.0.0.1 cannot claim a name on another host, whether
/// it is dialed or dials in.
#[test]
fn a_node_claiming_a_name_its_certificate_does_not_give_is_refused() {
    let node = node();
    let dialed = Peer::start(
        "impostor@127.0.0.9",
        PeerOptions {
            tls: Some(certs()),
            ..PeerOptions::default()
        },
    );
    runtime().block_on(async {
        let error = node.connect(&dialed.addr).await.unwrap_err();
        assert!(error.to_string().contains("certificate"), "{error}");
        assert!(!node.nodes().contains(&dialed.name));
    });
    let failed_before = node.stats().handshakes_failed;
    let dialing = Peer::start(
        "impostor2@127.0.0.9",
        PeerOptions {
            tls: Some(certs()),
            connect: vec![node.listen_addr().to_string()],
            ..PeerOptions::default()
        },
    );
    runtime().block_on(async {
        a_handshake_fails(&node, failed_before, "the impostor's").await;
        assert!(!node.nodes().contains(&dialing.name));
    });
}
