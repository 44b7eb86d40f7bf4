//! `Agent` through its public API: reads, updates and casts; atomic concurrent updates; crashes
//! in the state's functions and in its start; names; supervision.

mod common;

use std::collections::HashMap;

use common::*;
use grove_otp::prelude::*;
use grove_otp::supervisor::SupervisorRef;
use grove_runtime::{is_alive, Context};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_update_cast_and_get_and_update_change_and_read_the_state() {
    let agent = Agent::start(HashMap::<String, u32>::new)
        .await
        .expect("started");
    agent
        .update(|map| {
            map.insert("a".into(), 1);
        })
        .await
        .expect("updated");
    agent.cast(|map| {
        map.insert("b".into(), 2);
    });
    // Casts and calls from one sender are handled in order.
    assert_eq!(agent.get(|map| map.len()).await, Ok(2));
    let old = agent
        .get_and_update(|map| map.insert("a".into(), 10))
        .await
        .expect("swapped");
    assert_eq!(old, Some(1));
    assert_eq!(agent.get(|map| map["a"]).await, Ok(10));
    agent.stop().await.expect("stopped");
    assert!(!is_alive(agent.pid()));
    assert_eq!(agent.get(|map| map.len()).await, Err(CallError::NoProc));
    agent.cast(|map| map.clear()); // to a dead agent: dropped, no panic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_function_runs_in_the_agents_process() {
    let agent = Agent::start(grove_runtime::self_pid)
        .await
        .expect("started");
    assert_eq!(agent.get(|pid| *pid).await, Ok(Some(agent.pid())));
    agent.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_are_atomic() {
    let agent = Agent::start(|| 0u64).await.expect("started");
    let callers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..250 {
                    // A read and a write in one step: no increment is lost.
                    agent
                        .get_and_update(|n| {
                            let seen = *n;
                            *n = seen + 1;
                        })
                        .await
                        .expect("updated");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller finished");
    }
    assert_eq!(agent.get(|n| *n).await, Ok(2000));
    agent.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_function_crashes_the_agent_and_the_caller_hears_why() {
    let agent = Agent::start(|| vec![1, 2, 3]).await.expect("started");
    let exited = exit_of(agent.pid());
    let result = agent.get(|items: &Vec<i32>| items[10]).await;
    assert!(
        matches!(&result, Err(CallError::Exited(ExitReason::Panic(m))) if m.contains("index out of bounds")),
        "{result:?}"
    );
    assert!(matches!(exited.await, ExitReason::Panic(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_start_function_is_a_failed_start() {
    let started = Agent::<u32>::start(|| panic!("no config")).await;
    assert!(
        matches!(&started, Err(StartError::Init(ExitReason::Panic(m))) if m.contains("no config")),
        "{started:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_agent_is_found_by_name_and_type() {
    let agent = Agent::start_opt(
        || "hello".to_string(),
        StartOptions::new().name("test_agent_greeting"),
    )
    .await
    .expect("started");
    let found = Agent::<String>::whereis("test_agent_greeting").expect("registered");
    assert_eq!(found, agent);
    assert_eq!(found.get(|s| s.len()).await, Ok(5));
    // The same pid seen as an agent of another state type is refused, not misread.
    let wrong = Agent::<u64>::from_pid(agent.pid());
    assert_eq!(
        wrong.get(|n| *n).await,
        Err(CallError::WrongType(agent.pid()))
    );
    assert!(Agent::<u64>::whereis("test_agent_greeting").is_none());
    agent.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_agent_is_restarted_with_fresh_state_after_a_crash() {
    let agent_of = |sup: &SupervisorRef| {
        let sup = *sup;
        async move {
            let children = sup.which_children().await.expect("listed");
            children[0].status.pid().map(Agent::<u32>::from_pid)
        }
    };
    let sup = in_process(|_: Context<()>| async move {
        Supervisor::one_for_one()
            .child(ChildSpec::new("counter", || Agent::start_link(|| 1u32)))
            .start()
            .await
            .expect("started")
    })
    .await;
    let agent = agent_of(&sup).await.expect("running");
    agent.update(|n| *n = 99).await.expect("updated");
    let _ = agent.get(|_| panic!("crash the agent")).await;
    let deadline = tokio::time::Instant::now() + LONG;
    let restarted = loop {
        if let Some(new) = agent_of(&sup).await.filter(|new| *new != agent) {
            break new;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent was not restarted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    };
    assert_eq!(restarted.get(|n| *n).await, Ok(1));
    sup.stop(ExitReason::Shutdown).await.expect("stopped");
}
