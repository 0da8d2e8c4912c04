#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scap_format::fuzz_harness::scap_reader(data));
