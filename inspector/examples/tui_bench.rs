//! Times the TUI through the library's update and render path (a TestBackend, no terminal):
//! `cargo run --release -p aftertrace-inspector --example tui_bench -- FILE [KEYPRESSES]`.
//! Prints one JSON line: the first screen's time and the key presses' times in the Events
//! view (median, 99th percentile, max), in milliseconds.

use std::time::Duration;

use aftertrace_inspector::tui::{bench_first_screen, bench_keypresses};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: tui_bench FILE [KEYPRESSES]");
        std::process::exit(64);
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let path = std::path::Path::new(&file);
    let first = bench_first_screen(path);
    let mut keys = bench_keypresses(path, n);
    keys.sort();
    let pick = |q: f64| {
        keys.get(((keys.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{{\"first_screen_ms\":{:.2},\"keypresses\":{},\"key_median_ms\":{:.2},\"key_p99_ms\":{:.2},\"key_max_ms\":{:.2}}}",
        ms(first),
        keys.len(),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(keys.last().copied().unwrap_or_default())
    );
}
