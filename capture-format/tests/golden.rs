//! A capture written by this version is committed in `tests/data/`; every later build must
//! still read it to the same events and metadata (the promise of section 9 of the spec).
//! Regenerate only when the format version changes, and keep the old file beside the new
//! (it writes `v<this version>-sample.atcap`):
//! `cargo test -p capture-format --test golden -- --ignored regenerate_golden_file`.

use std::path::PathBuf;

use capture_format::{fuzz_harness, CaptureReader};

fn golden_path(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/v{version}-sample.atcap"))
}

#[test]
fn the_committed_v1_0_file_still_reads_the_same() {
    same_as_now(&golden_path("1.0"), (1, 0));
    // 1.0 has no hash chain, and that is not damage.
    let old = CaptureReader::open(&golden_path("1.0")).expect("golden file opens");
    assert_eq!(old.verify().chain, None);
}

#[test]
fn the_committed_v1_1_file_still_reads_the_same() {
    same_as_now(&golden_path("1.1"), (1, 1));
    let old = CaptureReader::open(&golden_path("1.1")).expect("golden file opens");
    let chain = old.verify().chain.expect("1.1 has a chain");
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
    assert_eq!(chain.links, old.chunks().len() as u64 + 3);
}

fn same_as_now(path: &std::path::Path, version: (u16, u16)) {
    let old = CaptureReader::open(path).expect("golden file opens");
    let now = CaptureReader::from_bytes(fuzz_harness::sample_capture()).expect("sample opens");
    assert_eq!(old.version(), version);
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
    let version = format!(
        "{}.{}",
        capture_format::VERSION_MAJOR,
        capture_format::VERSION_MINOR
    );
    std::fs::write(golden_path(&version), fuzz_harness::sample_capture())
        .expect("write golden file");
}
