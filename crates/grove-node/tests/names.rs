//! Servers on other nodes addressed by `(name, node)`: calls connect on demand and follow a
//! restart of the node, a name nobody holds is answered by its node, a request type the other
//! node does not know fails with an error naming it, a monitor by name watches whoever holds
//! the name there, and `send_to` and `Server::stop` reach a name there.

mod common;

use common::*;
use grove_node::{Node, TlsFiles};
use grove_otp::gen_server::{CallError, Server};
use grove_runtime::{Context, Dest, ExitReason, Message};

/// A server type no node registers for distribution.
struct Unregistered;

impl grove_otp::gen_server::GenServer for Unregistered {}

fn node() -> Node {
    test_node("t@127.0.0.1", |builder| {
        builder.tls(TlsFiles::in_dir(certs()))
    })
}

fn tls_peer(name: &str, listen: Option<String>) -> Peer {
    Peer::start(
        name,
        PeerOptions {
            tls: Some(certs()),
            listen,
            ..PeerOptions::default()
        },
    )
}

#[test]
#[ignore = "the body of peer processes, run by the tests themselves"]
fn peer_main() {
    common::peer_main();
}

#[test]
fn a_call_by_name_and_node_connects_on_demand_and_follows_a_restart_of_the_node() {
    let node = node();
    let peer = tls_peer("names@127.0.0.1", None);
    let name = peer.name.clone();
    let addr = peer.addr.clone();
    // Learn the peer's address once; afterwards only its name is used.
    runtime().block_on(node.connect(&addr)).expect("connect");
    in_process(move |mut ctx: Context<()>| async move {
        let mut peer = peer;
        let counter = Server::<Counter>::remote("counter", name.as_str());
        assert_eq!(counter.call(Op::Add(2)).await, Ok(2));
        counter.cast(3);
        assert_eq!(counter.call(Op::Get).await, Ok(5));

        // Watch whoever holds the name there; the node's death is `noconnection`.
        let watched = ctx.monitor(Dest::remote("counter", name.as_str()));
        grove_runtime::blocking(move || peer.kill()).await;
        match next(&mut ctx).await {
            Message::Down(down) => {
                assert_eq!(down.reference, watched);
                assert_eq!(down.reason, ExitReason::NoConnection);
            }
            other => panic!("expected the Down, got {other:?}"),
        }
        // A call while the node is gone keeps trying to connect until its timeout is up, then
        // fails with `nodedown` (not `Timeout`: the server was never reached).
        assert_eq!(
            counter.call(Op::Get).await,
            Err(CallError::NodeDown(name.clone()))
        );

        // The node comes back at the same address: the same handle reaches its new counter,
        // waiting for the connection instead of failing while it is made.
        let restarted =
            grove_runtime::blocking(move || tls_peer("names@127.0.0.1", Some(addr))).await;
        assert_eq!(counter.call(Op::Get).await, Ok(0));
        drop(restarted);
    });
}

#[test]
fn a_free_name_and_an_unknown_request_type_are_answered_by_the_other_node() {
    let node = node();
    let peer = tls_peer("answers@127.0.0.1", None);
    runtime()
        .block_on(node.connect(&peer.addr))
        .expect("connect");
    let name = peer.name.clone();
    // `send_to` by (name, node) reaches the process holding the name there (the echo answers
    // a process of this node), and one to a name nobody holds there is dropped, as Erlang's
    // `{Name, Node} ! Msg` is.
    let echoed = in_process({
        let name = name.clone();
        move |mut ctx: Context<Text>| async move {
            let me = ctx.addr();
            grove_runtime::send_to(("nobody", name.as_str()), Text("lost".into()))
                .expect("a remote name is not checked here");
            let request = EchoRequest::Echo {
                text: "by name".into(),
                reply_to: me,
            };
            grove_runtime::send_to(("echo", name.as_str()), request).expect("sent");
            match next(&mut ctx).await {
                Message::User(text) => text,
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    });
    assert_eq!(echoed.0, "by name");
    in_process(move |mut ctx: Context<()>| async move {
        let nobody = Server::<Counter>::remote("nobody", name.as_str());
        assert_eq!(
            nobody.call(Op::Get).await,
            Err(CallError::NotRegistered("nobody".into()))
        );
        assert_eq!(
            nobody
                .call(Op::Get)
                .await
                .map_err(CallError::into_exit_reason),
            Err(ExitReason::NoProc)
        );
        // A monitor of a name nobody holds there fires at once with `noproc`.
        let watched = ctx.monitor(Dest::remote("nobody", name.as_str()));
        match next(&mut ctx).await {
            Message::Down(down) => {
                assert_eq!(down.reference, watched);
                assert_eq!(down.reason, ExitReason::NoProc);
            }
            other => panic!("expected the Down, got {other:?}"),
        }
        // `Peek` is registered here, not on the peer: its node says so, naming the type.
        let counter = Server::<Counter>::remote("counter", name.as_str());
        match counter.call(Peek).await {
            Err(CallError::NotDistributed(why)) => {
                assert!(why.contains("test.Counter.Peek"), "{why}");
            }
            other => panic!("expected NotDistributed, got {other:?}"),
        }
        // The server is still there and answers what both nodes know.
        assert_eq!(counter.call(Op::Get).await, Ok(0));
        // A monitor by name is removed with demonitor, and no `Down` comes.
        let watched = ctx.monitor(Dest::remote("counter", name.as_str()));
        assert!(ctx.demonitor(watched, true));
        assert!(counter.call(Op::Crash("on purpose".into())).await.is_err());
        assert!(ctx
            .recv_timeout(std::time::Duration::from_millis(200))
            .await
            .is_none());
        drop(peer);
    });
}

#[test]
fn a_server_on_another_node_is_stopped_by_pid_and_by_name() {
    let node = node();
    let first = tls_peer("stop-pid@127.0.0.1", None);
    let second = tls_peer("stop-name@127.0.0.1", None);
    for peer in [&first, &second] {
        runtime()
            .block_on(node.connect(&peer.addr))
            .expect("connect");
    }
    let (first_name, second_name) = (first.name.clone(), second.name.clone());
    in_process(move |_: Context<()>| async move {
        // By pid: the stop returns once the server has exited there, with the reason asked.
        let pid = grove_node::whereis("counter", &first_name)
            .await
            .expect("the node answers")
            .expect("its counter runs");
        let counter = Server::<Counter>::from_pid(pid);
        assert_eq!(counter.call(Op::Add(1)).await, Ok(1));
        assert_eq!(counter.stop(ExitReason::Normal).await, Ok(()));
        // Gone: the same pid is noproc, and its name is free there.
        assert_eq!(
            counter.stop(ExitReason::Normal).await,
            Err(CallError::NoProc)
        );
        let by_name = Server::<Counter>::remote("counter", first_name.as_str());
        assert_eq!(
            by_name.stop(ExitReason::Normal).await,
            Err(CallError::NotRegistered("counter".into()))
        );

        // A stop this node cannot carry (the server type is not registered for distribution
        // here) is dropped as any message is: `stop_timeout` bounds the wait.
        let unknown = Server::<Unregistered>::remote("counter", second_name.as_str());
        let within = std::time::Duration::from_millis(200);
        assert_eq!(
            unknown.stop_timeout(ExitReason::Normal, within).await,
            Err(CallError::Timeout(within))
        );

        // By (name, node), with a reason that carries data.
        let counter = Server::<Counter>::remote("counter", second_name.as_str());
        assert_eq!(counter.call(Op::Add(2)).await, Ok(2));
        let reason = ExitReason::shutdown_with("deploy");
        assert_eq!(counter.stop(reason).await, Ok(()));
        assert_eq!(
            counter.call(Op::Get).await,
            Err(CallError::NotRegistered("counter".into()))
        );
        drop((first, second));
    });
}
