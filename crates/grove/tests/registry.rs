//! Local names (`register`, `whereis`, `unregister`, `send_named`) and the keyed registry.

mod common;

use std::sync::Arc;

use common::*;
use grove::prelude::*;
use grove::process::{register, whereis};
use grove::process::{registered, send_named, unregister, whereis_addr, RegisterError, SendError};
use grove::registry::{Keys, Registry, RegistryError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_whereis_unregister_and_registered() {
    let addr = idle::<u32>();
    register("registry_basic", addr).unwrap();
    assert_eq!(whereis("registry_basic"), Some(addr.pid()));
    assert!(registered().iter().any(|name| &**name == "registry_basic"));
    assert_eq!(
        grove::process::process_info(addr.pid())
            .unwrap()
            .name
            .as_deref(),
        Some("registry_basic")
    );
    assert!(unregister("registry_basic"));
    assert!(!unregister("registry_basic"));
    assert_eq!(whereis("registry_basic"), None);
    assert!(!registered().iter().any(|name| &**name == "registry_basic"));
    // Unregistered, it may take a name again.
    register("registry_basic_again", addr).unwrap();
    assert_eq!(whereis("registry_basic_again"), Some(addr.pid()));
    grove::exit(addr.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_lists_names_sorted() {
    let a = idle::<()>();
    let b = idle::<()>();
    register("registry_sorted_b", b).unwrap();
    register("registry_sorted_a", a).unwrap();
    let mine: Vec<_> = registered()
        .into_iter()
        .filter(|name| name.starts_with("registry_sorted_"))
        .collect();
    assert_eq!(
        mine,
        vec![
            Arc::from("registry_sorted_a"),
            Arc::from("registry_sorted_b")
        ]
    );
    grove::exit(a.pid(), ExitReason::Kill);
    grove::exit(b.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_removed_when_its_process_exits() {
    let addr = idle::<()>();
    register("registry_auto_removed", addr).unwrap();
    let exited = exit_watch(addr);
    send(addr, ());
    exited.await;
    assert_eq!(whereis("registry_auto_removed"), None);
    // And the name is free for another process.
    let next = idle::<()>();
    register("registry_auto_removed", next).unwrap();
    grove::exit(next.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_taken_name_fails_with_name_taken() {
    let holder = idle::<()>();
    let other = idle::<()>();
    register("registry_taken", holder).unwrap();
    let error = register("registry_taken", other).unwrap_err();
    assert_eq!(
        error,
        RegisterError::NameTaken {
            name: Arc::from("registry_taken"),
            holder: holder.pid(),
        }
    );
    let text = error.to_string();
    assert!(text.contains("registry_taken") && text.contains(&holder.pid().to_string()));
    assert_eq!(whereis("registry_taken"), Some(holder.pid()));
    grove::exit(holder.pid(), ExitReason::Kill);
    grove::exit(other.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_has_at_most_one_name_and_a_dead_one_none() {
    let addr = idle::<()>();
    register("registry_one_name", addr).unwrap();
    assert_eq!(
        register("registry_second_name", addr),
        Err(RegisterError::AlreadyNamed {
            pid: addr.pid(),
            name: Arc::from("registry_one_name"),
        })
    );
    let exited = exit_watch(addr);
    send(addr, ());
    exited.await;
    assert_eq!(
        register("registry_dead", addr),
        Err(RegisterError::NotAlive(addr.pid()))
    );
    assert_eq!(whereis("registry_dead"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_named_delivers_to_the_registered_process() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = spawn(move |mut ctx: Context<String>| async move {
        let _ = tx.send(ctx.recv().await.into_user());
    });
    register("registry_send_named", addr).unwrap();
    send_named("registry_send_named", "hi".to_string()).unwrap();
    assert_eq!(rx.await.unwrap().as_deref(), Some("hi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_named_to_an_unregistered_name_returns_not_registered() {
    match send_named("registry_nobody", 5u32) {
        Err(SendError::NotRegistered { name, message }) => {
            assert_eq!(&*name, "registry_nobody");
            assert_eq!(message, 5);
        }
        other => panic!("expected NotRegistered, got {other:?}"),
    }
    let error = send_named("registry_nobody", 6u32).unwrap_err();
    assert!(error.to_string().contains("registry_nobody"));
    assert_eq!(error.into_message(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_named_to_a_process_of_another_type_returns_wrong_type() {
    let addr = idle::<u32>();
    register("registry_wrong_type", addr).unwrap();
    match send_named("registry_wrong_type", "text") {
        Err(SendError::WrongType { pid, message, .. }) => {
            assert_eq!(pid, addr.pid());
            assert_eq!(message, "text");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    grove::exit(addr.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whereis_addr_checks_the_message_type() {
    let addr = idle::<u32>();
    register("registry_typed", addr).unwrap();
    assert_eq!(whereis_addr::<u32>("registry_typed"), Some(addr));
    assert_eq!(whereis_addr::<String>("registry_typed"), None);
    assert_eq!(whereis_addr::<u32>("registry_typed_missing"), None);
    grove::exit(addr.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_registry_registers_looks_up_and_counts() {
    let registry: Registry<String, u32> = Registry::new(Keys::Unique);
    let a = idle::<()>();
    let b = idle::<()>();
    registry.register(a, "a1".to_string(), 1).unwrap();
    registry.register(a, "a2".to_string(), 2).unwrap();
    registry.register(b, "b1".to_string(), 3).unwrap();
    assert_eq!(registry.lookup(&"a1".to_string()), vec![(a.pid(), 1)]);
    assert_eq!(registry.whereis(&"b1".to_string()), Some(b.pid()));
    assert_eq!(registry.whereis(&"none".to_string()), None);
    assert!(registry.lookup(&"none".to_string()).is_empty());
    let mut keys = registry.keys(a);
    keys.sort();
    assert_eq!(keys, vec!["a1".to_string(), "a2".to_string()]);
    assert_eq!(registry.count(), 3);
    let mut seen = Vec::new();
    registry.dispatch(&"a2".to_string(), |pid, value| seen.push((pid, *value)));
    assert_eq!(seen, vec![(a.pid(), 2)]);
    registry.unregister(a, &"a1".to_string());
    assert_eq!(registry.count(), 2);
    assert_eq!(registry.keys(a), vec!["a2".to_string()]);
    grove::exit(a.pid(), ExitReason::Kill);
    grove::exit(b.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_registry_refuses_a_key_held_by_another_process() {
    let registry: Registry<&'static str, ()> = Registry::new(Keys::Unique);
    let a = idle::<()>();
    let b = idle::<()>();
    registry.register(a, "only", ()).unwrap();
    assert_eq!(
        registry.register(b, "only", ()),
        Err(RegistryError::AlreadyRegistered { holder: a.pid() })
    );
    assert_eq!(registry.lookup(&"only"), vec![(a.pid(), ())]);
    grove::exit(a.pid(), ExitReason::Kill);
    grove::exit(b.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_dead_process_in_a_registry_fails_with_not_alive() {
    let registry: Registry<u32, ()> = Registry::new(Keys::Duplicate);
    let dead = idle::<()>();
    let exited = exit_watch(dead);
    send(dead, ());
    exited.await;
    assert_eq!(
        registry.register(dead, 1, ()),
        Err(RegistryError::NotAlive(dead.pid()))
    );
    assert_eq!(registry.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_registry_dispatches_to_every_holder() {
    let topics: Registry<String, u32> = Registry::new(Keys::Duplicate);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut listeners = Vec::new();
    for i in 0..3u32 {
        let tx = tx.clone();
        let listener = spawn(move |mut ctx: Context<String>| async move {
            if let Message::User(text) = ctx.recv().await {
                let _ = tx.send((i, text));
            }
        });
        topics.register(listener, "news".to_string(), i).unwrap();
        listeners.push(listener);
    }
    assert_eq!(topics.lookup(&"news".to_string()).len(), 3);
    assert_eq!(topics.count(), 3);
    topics.dispatch(&"news".to_string(), |pid, value| {
        send(pid.assume_type::<String>(), format!("hello {value}"))
    });
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            tokio::time::timeout(LONG, rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, "hello 0".to_string()),
            (1, "hello 1".to_string()),
            (2, "hello 2".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_entries_are_removed_when_their_process_exits() {
    let unique: Registry<u32, ()> = Registry::with_partitions(Keys::Unique, 3);
    let duplicate: Registry<u32, ()> = Registry::with_partitions(Keys::Duplicate, 3);
    let a = idle::<()>();
    let b = idle::<()>();
    for key in 0..10 {
        unique.register(a, key, ()).unwrap();
        duplicate.register(a, key, ()).unwrap();
        duplicate.register(b, key, ()).unwrap();
    }
    assert_eq!(unique.count(), 10);
    assert_eq!(duplicate.count(), 20);
    let exited = exit_watch(a);
    grove::exit(a.pid(), ExitReason::Kill);
    exited.await;
    assert_eq!(unique.count(), 0);
    assert!(unique.keys(a).is_empty());
    assert_eq!(duplicate.count(), 10);
    assert_eq!(duplicate.lookup(&3), vec![(b.pid(), ())]);
    // The key is free again.
    unique.register(b, 3, ()).unwrap();
    grove::exit(b.pid(), ExitReason::Kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_register_concurrently() {
    const PROCESSES: u32 = 200;
    const KEYS: u32 = 10;
    let unique: Registry<u32, u32> = Registry::new(Keys::Unique);
    let topics: Registry<&'static str, u32> = Registry::new(Keys::Duplicate);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pids = Vec::new();
    for p in 0..PROCESSES {
        let (unique, topics, tx) = (unique.clone(), topics.clone(), tx.clone());
        let addr = spawn(move |mut ctx: Context<()>| async move {
            let me = ctx.pid();
            let mut outcome = Ok(());
            for k in 0..KEYS {
                if let Err(error) = unique.register(me, p * KEYS + k, p) {
                    outcome = Err(error);
                }
                // Every process also races for one contested key: exactly one may win.
                let _ = unique.register(me, u32::MAX, p);
                if let Err(error) = topics.register(me, "all", p) {
                    outcome = Err(error);
                }
                tokio::task::yield_now().await;
            }
            let _ = tx.send(outcome);
            let _ = ctx.recv().await;
        });
        pids.push(addr);
    }
    for _ in 0..PROCESSES {
        let outcome = tokio::time::timeout(LONG, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Ok(()));
    }
    assert_eq!(unique.count() as u32, PROCESSES * KEYS + 1);
    assert_eq!(topics.count() as u32, PROCESSES * KEYS);
    assert_eq!(unique.lookup(&u32::MAX).len(), 1);
    for (p, addr) in pids.iter().enumerate() {
        let p = p as u32;
        assert_eq!(unique.whereis(&(p * KEYS + 7)), Some(addr.pid()));
        let mut keys = unique.keys(*addr);
        keys.retain(|k| *k != u32::MAX);
        keys.sort();
        assert_eq!(keys, (p * KEYS..(p + 1) * KEYS).collect::<Vec<_>>());
    }
    let exits: Vec<_> = pids.iter().map(|addr| exit_watch(*addr)).collect();
    for addr in &pids {
        grove::exit(addr.pid(), ExitReason::Kill);
    }
    for exited in exits {
        assert_eq!(exited.await, ExitReason::Killed);
    }
    assert_eq!(unique.count(), 0);
    assert_eq!(topics.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_send_reaches_the_key_holder_like_a_via_name() {
    let registry: Registry<String, ()> = Registry::new(Keys::Unique);
    let (got, error) = in_process(move |mut ctx: Context<u32>| async move {
        registry
            .register(ctx.pid(), "via-key".to_string(), ())
            .unwrap();
        registry.send(&"via-key".to_string(), 7u32).unwrap();
        let error = registry.send(&"nobody".to_string(), 8u32).unwrap_err();
        (next_user(&mut ctx).await, error)
    })
    .await;
    assert_eq!(got, 7);
    assert!(matches!(error, SendError::NotRegistered { message: 8, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_reaches_a_pid_a_name_and_a_via_key_and_hands_back_what_nobody_holds() {
    use grove::process::send_to;
    let registry: Registry<String, ()> = Registry::new(Keys::Unique);
    let keys = registry.clone();
    let got = in_process(move |mut ctx: Context<u32>| async move {
        register("send_to_target", ctx.addr()).unwrap();
        keys.register(ctx.pid(), "send-to-key".to_string(), ())
            .unwrap();
        send_to(ctx.pid(), 1u32).unwrap();
        send_to("send_to_target", 2u32).unwrap();
        send_to(keys.via("send-to-key".to_string()), 3u32).unwrap();
        // This node's own name in (name, node) is the local name.
        let node = grove::process::node().name.to_string();
        send_to(("send_to_target", node.as_str()), 4u32).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(next_user(&mut ctx).await);
        }
        unregister("send_to_target");
        keys.unregister(ctx.pid(), &"send-to-key".to_string());
        got
    })
    .await;
    assert_eq!(got, vec![1, 2, 3, 4]);
    // A name nobody holds hands the message back, as Erlang's `Name ! Msg` raises badarg; so
    // does a registry key nobody holds.
    match send_to("send_to_target", 5u32) {
        Err(SendError::NotRegistered { name, message }) => {
            assert_eq!(&*name, "send_to_target");
            assert_eq!(message, 5);
        }
        other => panic!("expected NotRegistered, got {other:?}"),
    }
    assert!(matches!(
        send_to(registry.via("send-to-key".to_string()), 6u32),
        Err(SendError::NotRegistered { message: 6, .. })
    ));
    // `{Name, Node} ! Msg` to a free name is dropped, also when the node is this one.
    let node = grove::process::node().name.to_string();
    assert!(send_to(("send_to_target", node.as_str()), 8u32).is_ok());
    // A process that takes another type says so.
    let text = idle::<String>();
    assert!(matches!(
        send_to(text.pid(), 7u32),
        Err(SendError::WrongType { message: 7, .. })
    ));
    grove::exit(text.pid(), ExitReason::Kill);
}
