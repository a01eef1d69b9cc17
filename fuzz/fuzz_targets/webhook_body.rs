#![no_main]
//! See `handoff::fuzzing::webhook_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzzing::webhook_body(data));
