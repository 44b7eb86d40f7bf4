//! One node of the cluster demo: a `tally` server others call, an `inbox` others send greetings
//! to, and a greeter that calls and greets every other node five times a second. It prints what
//! it sees as tagged lines that the orchestrator shows and checks:
//!
//! ```text
//! EVENT up n2@127.0.0.1 1234567       a node connected (with its creation)
//! EVENT down n3@127.0.0.1 <reason>    a connection was lost
//! DOWN n3@127.0.0.1 noconnection      a monitored tally server went away
//! STATUS peers=2 calls_ok=40 calls_failed=0 greetings=38
//! ```

use std::collections::HashMap;
use std::io::BufRead;
use std::time::Duration;

use grove::gen_server::{Call, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove::node::{NodeBuilder, NodeEvent, TlsFiles};
use grove::{Context, ExitReason, Message, Pid};
use serde::{Deserialize, Serialize};

/// Sent to another node's `inbox`.
#[derive(Serialize, Deserialize, Debug)]
struct Greeting {
    from: String,
}

/// Counts the calls it gets.
#[derive(Default)]
struct Tally {
    calls: u64,
}

#[derive(Serialize, Deserialize, Debug)]
struct Bump {
    from: String,
}

impl GenServer for Tally {}

impl Call<Bump> for Tally {
    type Reply = u64;

    async fn handle_call(&mut self, _: Bump, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        self.calls += 1;
        from.reply(self.calls);
    }
}

pub struct NodeArgs {
    pub name: String,
    pub port: u16,
    pub peers: Vec<String>,
    pub certs: String,
}

pub fn run(args: NodeArgs) -> ExitReason {
    grove::run(move |mut ctx: Context<Greeting>| async move {
        let secret = std::env::var("GROVE_SECRET").unwrap_or_default();
        let node = NodeBuilder::new(&args.name)
            .listen(([127, 0, 0, 1], args.port).into())
            .secret(secret)
            .tls(TlsFiles::in_dir(&args.certs))
            .static_peers(args.peers)
            .message::<Greeting>("demo.Greeting")
            .server::<Tally>("demo.Tally", |tally| tally.call::<Bump>("Bump"))
            .start()
            .await
            .map_err(ExitReason::error)?;
        Server::start_opt(Tally::default(), StartOptions::new().name("tally"))
            .await
            .map_err(ExitReason::error)?;
        grove::process::register("inbox", ctx.pid()).map_err(ExitReason::error)?;

        let mut events = node.events();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                match event {
                    NodeEvent::Up { node, creation } => println!("EVENT up {node} {creation}"),
                    NodeEvent::Down { node, reason } => println!("EVENT down {node} {reason}"),
                }
            }
        });
        // The orchestrator closes our stdin to stop us.
        let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            for _ in std::io::stdin().lock().lines() {}
            let _ = stop_tx.send(());
        });

        let me = args.name.clone();
        let mut tallies: HashMap<String, Pid> = HashMap::new();
        let (mut calls_ok, mut calls_failed, mut greetings) = (0u64, 0u64, 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut report = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = report.tick() => println!(
                    "STATUS peers={} calls_ok={calls_ok} calls_failed={calls_failed} greetings={greetings}",
                    node.nodes().len()
                ),
                message = ctx.recv() => match message {
                    Message::User(Greeting { .. }) => greetings += 1,
                    Message::Down(down) => {
                        println!("DOWN {} {}", down.pid.node_name(), down.reason);
                        tallies.retain(|_, pid| *pid != down.pid);
                    }
                    Message::Exit(_) => {}
                },
                _ = tick.tick() => {
                    for peer in node.nodes() {
                        let tally = match tallies.get(&peer) {
                            Some(pid) => *pid,
                            None => match grove::node::whereis("tally", &peer).await {
                                Ok(Some(pid)) => {
                                    // Watch it: its Down shows how the loss of its node looks.
                                    ctx.monitor(pid);
                                    tallies.insert(peer.clone(), pid);
                                    pid
                                }
                                _ => continue,
                            },
                        };
                        let call = Server::<Tally>::from_pid(tally)
                            .call_timeout(Bump { from: me.clone() }, Duration::from_secs(1))
                            .await;
                        match call {
                            Ok(_) => calls_ok += 1,
                            Err(_) => {
                                calls_failed += 1;
                                tallies.remove(&peer);
                            }
                        }
                        grove::node::send_named("inbox", &peer, Greeting { from: me.clone() });
                    }
                }
            }
        }
    })
}
