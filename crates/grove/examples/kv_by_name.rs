//! A key-value server registered by name under a supervisor, beside a worker that bumps a
//! counter in a table every tick and crashes every 5th tick; the client calls the server by
//! name. Its Elixir twin is in `docs/from-elixir.md`.
//!
//! Run it: `cargo run --example kv_by_name -p grove`

use std::collections::HashMap;

use grove::gen_server::ServerContext as Ctx;
use grove::prelude::*;

#[derive(Default)]
struct Kv(HashMap<String, u64>);
struct Get(String);
struct Put(String, u64);

impl GenServer for Kv {}

impl Call<Get> for Kv {
    type Reply = Option<u64>;
    async fn handle_call(&mut self, Get(k): Get, from: ReplyTo<Option<u64>>, _: &mut Ctx<Self>) {
        from.reply(self.0.get(&k).copied());
    }
}

impl Cast<Put> for Kv {
    async fn handle_cast(&mut self, Put(k, v): Put, _: &mut Ctx<Self>) {
        self.0.insert(k, v);
    }
}

async fn ticker(_: Context<()>) -> Result<(), ExitReason> {
    let ticks = Table::<String, i64>::whereis("ticks")?;
    while ticks.update_counter_or("n".into(), 1, 0)? % 5 != 0 {
        sleep(Duration::from_millis(100)).await;
    }
    Err("every 5th tick crashes".into())
}

fn main() {
    grove::run(|_: Context<()>| async {
        let options = Table::<String, i64>::options().public();
        let ticks = options.named("ticks").create()?;
        let kv = ChildSpec::new("kv", || Server::start_link_named("kv", Kv::default()));
        let ticker = ChildSpec::process("ticker", ticker);
        let tree = Supervisor::one_for_one().children([kv, ticker]);
        let _tree = tree.start_link().await?;
        let kv = Server::<Kv>::named("kv");
        kv.cast(Put("a".into(), 1));
        println!("a = {:?}", kv.call(Get("a".into())).await?);
        sleep(Duration::from_millis(1_200)).await;
        println!("ticks = {:?}", ticks.lookup(&"n".into())?);
        Ok(())
    });
}
