#![no_main]
//! See grove_node::fuzzing::wire.
libfuzzer_sys::fuzz_target!(|data: &[u8]| grove_node::fuzzing::wire(data));
