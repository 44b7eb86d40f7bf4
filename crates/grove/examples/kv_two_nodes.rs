//! Two nodes as OS processes. Node a calls node b's key-value server by `(name, node)` and
//! monitors it; b is killed with SIGKILL and a sees `noconnection`; b starts again and a's next
//! call works. Its Elixir twin is in `docs/from-elixir.md`.
//!
//! Run it: `cargo run --example kv_two_nodes -p grove` (it starts b itself, on port 4370).

use std::process::{Child, Command};

use grove::node::{Node, NodeBuilder};
use grove::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Kv(u64);
#[derive(Serialize, Deserialize)]
struct Bump;

impl GenServer for Kv {}

impl Call<Bump> for Kv {
    type Reply = u64;
    async fn handle_call(&mut self, _: Bump, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        self.0 += 1;
        from.reply(self.0);
    }
}

async fn start_node(name: &str, port: u16) -> Result<Node, ExitReason> {
    let builder = NodeBuilder::new(name).listen(([127, 0, 0, 1], port).into());
    // The shared secret is the only key (no certificates); see `grove::node` for TLS.
    let builder = builder.secret("the kv example's secret").secret_only();
    Ok(builder
        .server::<Kv>("kv", |kv| kv.call::<Bump>("Bump"))
        .start()
        .await?)
}

fn start_b() -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?).arg("b").spawn()
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("b") {
        grove::run(|_: Context<()>| async {
            Server::start_link_named("kv", Kv::default()).await?;
            let _node = start_node("b@127.0.0.1", 4370).await?;
            std::future::pending::<()>().await;
            Ok(())
        });
        return;
    }
    grove::run(|mut ctx: Context<()>| async move {
        let _node = start_node("a@127.0.0.1", 4371).await?;
        let mut b = start_b()?;
        let kv = Server::<Kv>::remote("kv", "b@127.0.0.1");
        println!("bumped to {}", kv.call(Bump).await?);
        let watch = ctx.monitor(("kv", "b@127.0.0.1"));
        b.kill()?;
        if let Message::Down(down) = ctx.recv().await {
            println!(
                "b is gone: {} (monitor {})",
                down.reason,
                down.reference == watch
            );
        }
        let mut b = start_b()?;
        println!("bumped to {} after b restarted", kv.call(Bump).await?);
        b.kill()?;
        Ok(())
    });
}
