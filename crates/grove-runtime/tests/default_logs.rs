//! `run` installs a `tracing` subscriber when the program has none (its own test binary: the
//! global subscriber can be set once per process).

#[test]
fn run_installs_a_subscriber_when_the_program_has_none() {
    assert!(!tracing::dispatcher::has_been_set());
    let reason = grove_runtime::run(|_: grove_runtime::Context<()>| async {});
    assert!(reason.is_normal());
    assert!(tracing::dispatcher::has_been_set());
}
