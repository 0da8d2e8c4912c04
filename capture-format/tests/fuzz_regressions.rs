//! Replays every committed input under `fuzz/regressions/<target>/` through the fuzz
//! target's own body (`capture_format::fuzz_harness`). Each file there guards a crash or
//! hang the fuzzer found, or a shape of input worth keeping covered; its name says which.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use capture_format::fuzz_harness;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    for path in &entries {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: these inputs panic: {failures:#?}"
    );
    entries.len()
}

#[test]
fn reader_from_bytes_regressions() {
    assert!(replay("reader_from_bytes", fuzz_harness::reader_from_bytes) > 0);
}

#[test]
fn block_stream_regressions() {
    assert!(replay("block_stream", fuzz_harness::block_stream) > 0);
}

#[test]
fn chunk_records_regressions() {
    assert!(replay("chunk_records", fuzz_harness::chunk_records) > 0);
}

#[test]
fn recovery_regressions() {
    assert!(replay("recovery", fuzz_harness::recovery) > 0);
}

/// The sample every `recovery` input edits must stay a valid, intact capture, or those
/// inputs stop meaning what they did.
#[test]
fn recovery_sample_is_intact() {
    let r =
        capture_format::CaptureReader::from_bytes(fuzz_harness::sample_capture()).expect("opens");
    assert!(r.verify().is_intact());
    assert!(r.chunks().len() >= 3);
}

/// Writes starting inputs for the fuzzer into `fuzz/corpus/` (not committed):
/// `cargo test -p capture-format --test fuzz_regressions -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes files; run by hand before fuzzing"]
fn write_fuzz_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let sample = fuzz_harness::sample_capture();
    let r = capture_format::CaptureReader::from_bytes(sample.clone()).expect("opens");
    let mut seeds: Vec<(&str, String, Vec<u8>)> = vec![
        ("reader_from_bytes", "sample".into(), sample.clone()),
        (
            "reader_from_bytes",
            "sample-cut".into(),
            sample[..sample.len() / 2].to_vec(),
        ),
        (
            "block_stream",
            "sample-blocks".into(),
            sample[32..].to_vec(),
        ),
        ("recovery", "flip".into(), vec![0, 100, 0, 1]),
        ("recovery", "cut".into(), vec![1, 0, 2, 0]),
    ];
    for i in 0..r.chunks().len() {
        let raw = r.raw_chunk(i).expect("raw chunk");
        let records = zstd::bulk::decompress(&raw.data, raw.raw_len as usize).expect("zstd");
        let mut input = vec![raw.event_count as u8];
        input.extend_from_slice(&records);
        seeds.push(("chunk_records", format!("chunk-{i}"), input));
    }
    for (target, name, data) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(name), data).expect("write seed");
    }
}
