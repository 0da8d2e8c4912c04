//! A capture written by this version is committed in `tests/data/`; every later build must
//! still read it to the same events and metadata (the promise of section 9 of the spec).
//! Regenerate only when the format version changes, and keep the old file beside the new:
//! `cargo test -p capture-format --test golden -- --ignored regenerate_golden_file`.

use std::path::PathBuf;

use capture_format::{fuzz_harness, CaptureReader};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1.0-sample.atcap")
}

#[test]
fn the_committed_v1_0_file_still_reads_the_same() {
    let old = CaptureReader::open(&golden_path()).expect("golden file opens");
    let now = CaptureReader::from_bytes(fuzz_harness::sample_capture()).expect("sample opens");
    assert_eq!(old.version(), (1, 0));
    assert!(old.damage().is_empty(), "{:?}", old.damage());
    assert!(old.verify().is_intact());
    assert_eq!(old.metadata(), now.metadata());
    // Offsets depend on how zstd compressed each chunk, which a zstd upgrade may change;
    // what the chunks say about their events may not.
    let summary = |r: &CaptureReader| -> Vec<_> {
        r.chunks()
            .iter()
            .map(|c| {
                (
                    c.first_ts,
                    c.last_ts,
                    c.first_seq,
                    c.event_count,
                    c.pids.clone(),
                    c.cgroup_ids.clone(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&old), summary(&now));
    let old_events: Vec<_> = old.events().collect::<Result<_, _>>().expect("events");
    let now_events: Vec<_> = now.events().collect::<Result<_, _>>().expect("events");
    assert_eq!(old_events, now_events);
}

#[test]
#[ignore = "rewrites the committed golden file"]
fn regenerate_golden_file() {
    std::fs::write(golden_path(), fuzz_harness::sample_capture()).expect("write golden file");
}
