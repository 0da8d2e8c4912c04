//! Replays every committed input under `fuzz/regressions/<target>/` through the fuzz
//! target's own body (`aftertrace_inspector::fuzz_harness`), as capture-format does. Each file there
//! guards a crash or hang the fuzzer found, or a shape of input worth keeping covered; its
//! name says which. CI replays these; it does not fuzz (see `fuzz/README.md`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use aftertrace_inspector::fuzz_harness;

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
fn reconstruct_events_regressions() {
    assert!(replay("reconstruct_events", fuzz_harness::reconstruct_events) > 0);
}

/// Writes starting inputs for the fuzzer into `fuzz/corpus/` (not committed): windows of
/// 200 events of the real captures in `samples/`, as chunk records:
/// `cargo test -p aftertrace-inspector --test fuzz_regressions -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes files; run by hand before fuzzing"]
fn write_fuzz_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fuzz/corpus/reconstruct_events");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for sample in ["host-shell", "container"] {
        let path = root.join("../samples").join(format!("{sample}.atcap"));
        let r = capture_format::CaptureReader::open(&path).expect("sample opens");
        let events: Vec<_> = r.events().flatten().collect();
        for (i, window) in events.chunks(200).enumerate() {
            if let Some(input) = capture_format::fuzz_harness::records_of(window) {
                std::fs::write(dir.join(format!("{sample}-{i}")), input).expect("write seed");
            }
        }
    }
}
