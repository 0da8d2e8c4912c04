//! Prints bytes per event on disk and decode throughput for a synthetic syscall-heavy
//! stream. A quick look during development, not the project's benchmark.
//!
//! cargo run --release -p capture-format --example encoding_stats [EVENTS] [realistic|noise]

#[path = "../tests/common/mod.rs"]
mod common;

use capture_format::*;
use std::time::Instant;

fn main() -> Result<(), Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let shape = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "realistic".into());
    let mut events = if shape == "noise" {
        common::syscall_stream(n, 42)
    } else {
        common::realistic_stream(n, 42)
    };
    println!("stream: {shape}");
    // Captured data bytes are excluded from the per-syscall goal; drop them.
    for e in &mut events {
        if let EventBody::Syscall(s) = &mut e.body {
            s.params
                .retain(|p| !matches!(p.value, ParamValue::Buffer(_)));
        }
    }
    let t = Instant::now();
    let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default())?;
    for e in &events {
        w.push_event(e)?;
    }
    let bytes = w.finish()?;
    let enc = t.elapsed();
    let r = CaptureReader::from_bytes(bytes.clone())?;
    let raw: u64 = (0..r.chunks().len())
        .map(|i| r.raw_chunk(i).map(|c| c.raw_len))
        .sum::<Result<u64, _>>()?;
    // Best of three passes: the machine may be busy with other work.
    let mut dec = std::time::Duration::MAX;
    let mut count = 0usize;
    for _ in 0..3 {
        let t = Instant::now();
        count = 0;
        for e in r.events() {
            e?;
            count += 1;
        }
        dec = dec.min(t.elapsed());
    }
    let t = Instant::now();
    let mut total = 0usize;
    for i in 0..r.chunks().len() {
        let c = r.raw_chunk(i)?;
        total += zstd::bulk::decompress(&c.data, c.raw_len as usize)
            .map(|v| v.len())
            .unwrap_or(0);
    }
    let unz = t.elapsed();
    println!(
        "zstd alone: {:.1} M events/s ({total} bytes)",
        n as f64 / unz.as_secs_f64() / 1e6
    );
    println!("events: {count} in {} chunks", r.chunks().len());
    println!(
        "file: {} bytes, {:.2} bytes/event (raw {:.2} bytes/event before zstd)",
        bytes.len(),
        bytes.len() as f64 / n as f64,
        raw as f64 / n as f64
    );
    println!(
        "encode: {:.1} M events/s",
        n as f64 / enc.as_secs_f64() / 1e6
    );
    println!(
        "decode: {:.1} M events/s",
        count as f64 / dec.as_secs_f64() / 1e6
    );
    Ok(())
}
