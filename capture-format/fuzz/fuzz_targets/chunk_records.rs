#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| capture_format::fuzz_harness::chunk_records(data));
