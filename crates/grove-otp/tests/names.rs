//! Names as addresses: a server handle by name (local, or in a registry through `via`) is
//! looked up at each use, so it reaches the server again after a restart; a name nobody holds
//! is `noproc`; monitors and links by name go to whoever holds the name now.

mod common;

use common::*;
use grove_otp::gen_server::{Call, CallError, Cast, GenServer, ReplyTo, Server, ServerContext};
use grove_otp::prelude::*;
use grove_runtime::registry::{Keys, Registry};
use grove_runtime::{Context, LinkError, Message};

#[derive(Default)]
struct Kv {
    count: u64,
}

struct Get;
struct Bump;
struct Crash;

impl GenServer for Kv {}

impl Call<Get> for Kv {
    type Reply = u64;
    async fn handle_call(&mut self, _: Get, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
        from.reply(self.count);
    }
}

impl Cast<Bump> for Kv {
    async fn handle_cast(&mut self, _: Bump, _: &mut ServerContext<Self>) {
        self.count += 1;
    }
}

impl Cast<Crash> for Kv {
    async fn handle_cast(&mut self, _: Crash, _: &mut ServerContext<Self>) {
        panic!("told to crash");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_by_name_reaches_the_server_again_after_its_supervisor_restarts_it() {
    in_process(|_: Context<()>| async {
        let tree = Supervisor::one_for_one()
            .child(ChildSpec::new("kv", || {
                Server::start_opt(Kv::default(), StartOptions::new().link().name("names_kv"))
            }))
            .start_link()
            .await
            .expect("the tree starts");
        let kv = Server::<Kv>::named("names_kv");
        kv.cast(Bump);
        assert_eq!(kv.call(Get).await, Ok(1));
        let first = kv.pid().expect("registered");
        let exited = exit_of(first);
        kv.cast(Crash);
        exited.await;
        // The restarted server answers through the same handle, once it holds the name.
        let mut answer = kv.call(Get).await;
        while answer == Err(CallError::NotRegistered("names_kv".into())) {
            tokio::task::yield_now().await;
            answer = kv.call(Get).await;
        }
        assert_eq!(answer, Ok(0));
        assert_ne!(kv.pid(), Some(first));
        tree.stop(ExitReason::Normal).await.expect("stops");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_nobody_holds_is_noproc_for_calls_monitors_and_links() {
    in_process(|mut ctx: Context<()>| async move {
        let nobody = Server::<Kv>::named("names_nobody");
        assert_eq!(
            nobody.call(Get).await,
            Err(CallError::NotRegistered("names_nobody".into()))
        );
        assert_eq!(
            nobody.call(Get).await.map_err(CallError::into_exit_reason),
            Err(ExitReason::NoProc)
        );
        // A cast to nobody is dropped, as OTP's is.
        nobody.cast(Bump);
        assert_eq!(
            nobody.stop(ExitReason::Normal).await,
            Err(CallError::NotRegistered("names_nobody".into()))
        );
        let watched = ctx.monitor("names_nobody");
        match ctx.recv_timeout(LONG).await {
            Some(Message::Down(down)) => {
                assert_eq!(down.reference, watched);
                assert_eq!(down.reason, ExitReason::NoProc);
            }
            other => panic!("expected the Down, got {other:?}"),
        }
        assert!(matches!(
            ctx.try_link("names_nobody"),
            Err(LinkError::NoProc(_))
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_and_a_link_by_name_go_to_whoever_holds_it_now() {
    in_process(|mut ctx: Context<()>| async move {
        ctx.trap_exit(true);
        let kv = Server::start_opt(Kv::default(), StartOptions::new().name("names_watched"))
            .await
            .expect("starts");
        let watched = ctx.monitor("names_watched");
        ctx.try_link("names_watched").expect("links");
        kv.cast(Crash);
        let mut seen = (false, false);
        while seen != (true, true) {
            match ctx.recv_timeout(LONG).await {
                Some(Message::Down(down)) => {
                    assert_eq!((down.reference, down.pid), (watched, kv.pid()));
                    seen.0 = true;
                }
                Some(Message::Exit(exit)) => {
                    assert_eq!(exit.from, kv.pid());
                    seen.1 = true;
                }
                other => panic!("expected a Down and an Exit, got {other:?}"),
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_via_a_registry_key_is_looked_up_there_at_each_use() {
    let registry: Registry<String, ()> = Registry::new(Keys::Unique);
    let options = StartOptions::new().via(&registry, "kv-1".to_string(), ());
    let kv = Server::start_opt(Kv::default(), options)
        .await
        .expect("starts");
    let by_key = Server::<Kv>::to(registry.via("kv-1".to_string()));
    by_key.cast(Bump);
    assert_eq!(by_key.call(Get).await, Ok(1));
    assert_eq!(by_key.pid(), Some(kv.pid()));
    kv.stop(ExitReason::Normal).await.expect("stops");
    // Gone from the registry with its process: nobody holds the key.
    assert!(matches!(
        by_key.call(Get).await,
        Err(CallError::NotRegistered(_))
    ));
    assert_eq!(registry.via("kv-1".to_string()).whereis(), None);
}
