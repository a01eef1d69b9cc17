#![no_main]
//! See `handoff::fuzzing::signatures`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzzing::signatures(data));
