#![no_main]
//! See `handoff::fuzzing::bot_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzzing::bot_request(data));
