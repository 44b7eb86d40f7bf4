//! Only the code that installs the distribution router gets the key that delivers signals from
//! other nodes: a second installer gets none, so no other code can forge an exit or a `Down`.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use grove_runtime::remote::{set_remote_router, Connecting, RemoteRouter};
use grove_runtime::{ExitReason, Pid, Ref};

/// A router that carries nothing.
struct Nowhere;

impl RemoteRouter for Nowhere {
    fn send(&self, _: Pid, _: Box<dyn Any + Send>, _: &'static str) {}
    fn send_named(&self, _: &str, _: &str, _: Box<dyn Any + Send>, _: &'static str) {}
    fn connect(&self, _: &str, _: Duration) -> Option<Connecting> {
        None
    }
    fn link(&self, _: Pid, _: Pid) {}
    fn unlink(&self, _: Pid, _: Pid) {}
    fn link_exit(&self, _: Pid, _: Pid, _: &ExitReason) {}
    fn exit(&self, _: Pid, _: Pid, _: ExitReason) {}
    fn monitor(&self, _: Pid, _: Pid, _: Ref) {}
    fn monitor_name(&self, _: Pid, _: &str, _: &str, _: Ref) {}
    fn demonitor(&self, _: Pid, _: Pid, _: Ref) {}
    fn down(&self, _: Pid, _: Ref, _: Pid, _: &ExitReason) {}
}

#[test]
fn the_key_goes_to_the_first_installer_only() {
    assert!(set_remote_router(Arc::new(Nowhere)).is_some());
    assert!(set_remote_router(Arc::new(Nowhere)).is_none());
}
