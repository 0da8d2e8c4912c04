//! Replays every committed input under `fuzz/regressions/scap_reader/` through the fuzz
//! target's own body (`scap_format::fuzz_harness`). Each file there guards a crash the
//! fuzzer found or a shape of input worth keeping covered; its name says which.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[test]
fn scap_reader_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/scap_reader");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let failures: Vec<String> = entries
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            catch_unwind(AssertUnwindSafe(|| {
                scap_format::fuzz_harness::scap_reader(&data)
            }))
            .is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failures.is_empty(), "these inputs panic: {failures:#?}");
    assert!(entries.len() >= 5, "the regression inputs are there");
}
