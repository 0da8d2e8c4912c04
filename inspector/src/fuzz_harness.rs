//! The body of the fuzz target in `fuzz/`, kept here so that the committed regression
//! inputs (`fuzz/regressions/`) replay through exactly this code in `cargo test`
//! (`tests/fuzz_regressions.rs`). Not part of the crate's API.

use capture_format::{CaptureReader, CaptureWriter, Event, WriterOptions};

use crate::meta::Lookups;
use crate::output::{reconstruct as render, Format};
use crate::query::{self, Query};
use crate::reconstruct::reconstruct;
use crate::select::TimeRange;
use crate::style::Style;

/// One count byte, then the decompressed records of a chunk (as capture-format's
/// `chunk_records` target takes them). Whatever events the chunk decoder makes of them are
/// written into a capture (small chunks, so groups and ordering are exercised) and run
/// through the reconstruction and every view that reads it, text and JSON.
pub fn reconstruct_events(data: &[u8]) {
    let Some(events) = capture_format::fuzz_harness::decode_records(data) else {
        return;
    };
    let Some(reader) = capture_of(&events) else {
        return;
    };
    let lookups = Lookups::new(reader.metadata());
    let r = reconstruct(&reader, &lookups, None, TimeRange::default(), |_| {});
    let mut sink = std::io::sink();
    for json in [false, true] {
        let style = Style { color: !json };
        let format = Format::of(json, style);
        let _ = render::scripts(&r, format, &mut sink);
        let _ = render::files(&r, format, &mut sink);
        let _ = render::sessions(&r, format, &mut sink);
        let _ = render::net(&r, format, &mut sink);
        let q = Query {
            filter: None,
            range: TimeRange::default(),
            json,
            style,
        };
        let _ = query::events(&reader, &lookups, &q, &mut sink, |_| {});
        let _ = query::commands(&reader, &lookups, &q, &mut sink, |_| {});
        let _ = query::procs(&reader, &lookups, &q, &mut sink, |_| {});
        let _ = query::tree(&reader, &lookups, &q, &mut sink, |_| {});
    }
    let _ = render::report(&r, &reader, &lookups, "fuzz.atcap", &mut sink);
    for id in ["f1", "r1", "p1", "a1", "n1.in", "n1.out", "/tmp/x.sh"] {
        let _ = r.find(id);
    }
}

fn capture_of(events: &[Event]) -> Option<CaptureReader> {
    let sample = CaptureReader::from_bytes(capture_format::fuzz_harness::sample_capture()).ok()?;
    let mut w = CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            chunk_raw_bytes: 256,
            zstd_level: 1,
            file_id: Some([9; 16]),
        },
    )
    .ok()?;
    if let Some(h) = &sample.metadata().host {
        w.write_host(h).ok()?;
    }
    w.write_clocks(&sample.metadata().clocks).ok()?;
    for e in events {
        w.push_event(e).ok()?;
    }
    CaptureReader::from_bytes(w.finish().ok()?).ok()
}
