//! Replays every committed input under `fuzz/regressions/<target>/` through the fuzz
//! target's own body (`aftertrace_recorder::fuzz_harness`), as capture-format does. Each file there
//! guards a crash or hang the fuzzer found, or a shape of input worth keeping covered; its
//! name says which. CI replays these; it does not fuzz (see `fuzz/README.md`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use aftertrace_recorder::fuzz_harness;

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
fn alert_regressions() {
    assert!(replay("alert", fuzz_harness::alert) > 0);
}

#[test]
fn daemon_config_regressions() {
    assert!(replay("daemon_config", fuzz_harness::daemon_config) > 0);
}

#[test]
fn rules_yaml_regressions() {
    assert!(replay("rules_yaml", fuzz_harness::rules_yaml) > 0);
}
