#![no_main]
//! See grove_node::fuzzing::live_node.
libfuzzer_sys::fuzz_target!(|data: &[u8]| grove_node::fuzzing::live_node(data));
