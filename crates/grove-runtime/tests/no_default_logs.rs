//! `no_default_logs` keeps `run` from installing a subscriber (its own test binary: the global
//! subscriber is per process).

#[test]
fn no_default_logs_keeps_run_from_installing_a_subscriber() {
    grove_runtime::no_default_logs();
    let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {});
    assert!(reason.is_normal());
    assert!(!tracing::dispatcher::has_been_set());
}
