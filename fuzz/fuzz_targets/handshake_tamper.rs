#![no_main]
//! See grove_node::fuzzing::handshake_tamper.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grove_node::fuzzing::handshake_tamper(data);
});
