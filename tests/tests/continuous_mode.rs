//! Continuous mode (`--rotate-time`, `--keep`): a ring of capture files that each stand
//! alone, and a second run into the same directory never touches the first run's files.

use std::{collections::BTreeMap, path::Path, process::Command};

use aftertrace_tests::{require_root, target_bin, INSPECTOR_BIN, RECORDER_BIN};
use capture_format::CaptureReader;

fn run(dir: &Path, keep: &str, duration: &str) {
    let out = Command::new(target_bin(RECORDER_BIN))
        .args([
            "record",
            "--rotate-time",
            "1s",
            "--keep",
            keep,
            "--duration",
            duration,
            "-o",
        ])
        .arg(dir)
        .output()
        .expect("recorder");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

#[test]
fn rotates_keeps_and_never_overwrites_an_earlier_run() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), "2", "3500ms");
    let first = files(dir.path());
    // Each capture has its sha256sum manifest beside it (removed with it by --keep).
    assert_eq!(first.len(), 4, "--keep 2 left {:?}", first.keys());
    for (name, bytes) in first.iter().filter(|(n, _)| !n.ends_with(".sha256")) {
        assert!(
            name.ends_with(".atcap"),
            "{name}: no partial files left behind"
        );
        let manifest = String::from_utf8_lossy(&first[&format!("{name}.sha256")]).into_owned();
        assert!(manifest.ends_with(&format!("  {name}\n")), "{manifest}");
        let reader = CaptureReader::from_bytes(bytes.clone()).expect("opens");
        assert!(reader.damage().is_empty(), "{name} is intact");
        let meta = reader.metadata();
        assert!(meta.host.is_some(), "{name} has the host");
        assert!(
            meta.processes
                .first()
                .is_some_and(|s| !s.processes.is_empty()),
            "{name} opens with a process snapshot"
        );
        assert!(meta.clocks.len() >= 2, "{name} has clock pairs");
        let mode = std::fs::metadata(dir.path().join(name))
            .expect("meta")
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    run(dir.path(), "1", "2500ms");
    let after = files(dir.path());
    for (name, bytes) in &first {
        assert_eq!(
            after.get(name),
            Some(bytes),
            "{name} of the first run was changed"
        );
    }
    let second: Vec<&String> = after
        .keys()
        .filter(|n| !first.contains_key(*n) && !n.ends_with(".sha256"))
        .collect();
    assert_eq!(second.len(), 1, "--keep 1 of the second run: {second:?}");
    let status = Command::new(target_bin(INSPECTOR_BIN))
        .arg(dir.path().join(second[0]))
        .arg("verify")
        .status()
        .expect("inspector");
    assert!(status.success());
}
