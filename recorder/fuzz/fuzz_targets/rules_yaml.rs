#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aftertrace_recorder::fuzz_harness::rules_yaml(data));
