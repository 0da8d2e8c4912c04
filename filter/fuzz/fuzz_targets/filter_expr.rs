#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aftertrace_filter::fuzz_harness::filter_expr(data));
