#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aftertrace_inspector::fuzz_harness::reconstruct_events(data));
