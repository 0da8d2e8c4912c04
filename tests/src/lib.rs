//! Shared helpers for aftertrace's end-to-end tests (`tests/tests/*.rs`).
//!
//! The scenarios record a real workload as root with the real recorder, seal
//! the capture, open it with the inspector and assert on what it shows. These
//! helpers provide the pieces every scenario needs:
//!
//! - [`podman`]: a small busybox + bash test image built locally (no registry
//!   is reachable) and containers run from it, removed afterwards;
//! - [`repo_root`] and [`target_bin`]: where the workspace and its built
//!   binaries (`aftertrace-recorder`, `aftertrace-inspector`) are;
//! - [`require_root`]: fail loudly, never skip, when not run as root.

pub mod daemon;
mod paths;
pub mod podman;
pub mod pty;
pub mod recorder;
mod state;

pub use paths::{repo_root, target_bin, INSPECTOR_BIN, RECORDER_BIN};

/// Panics unless the effective user is root.
///
/// The end-to-end tests load eBPF programs and run rootful containers. Run
/// without root they could only pass vacuously, so they fail instead, saying
/// how to run them.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "aftertrace end-to-end tests must run as root (effective uid is {euid}): they load \
         eBPF programs and run rootful podman containers. Run them as root, e.g. \
         `sudo -E cargo test -p aftertrace-tests`"
    );
}

/// Runs `aftertrace-recorder record OPTIONS -o CAPTURE -- COMMAND...` to its end and
/// returns the command's standard output; panics (failing the test) unless the recorder
/// and the command succeed.
pub fn record_command<S: AsRef<std::ffi::OsStr>>(
    capture: &std::path::Path,
    options: &[&str],
    command: impl IntoIterator<Item = S>,
) -> String {
    let out = std::process::Command::new(target_bin(RECORDER_BIN))
        .arg("record")
        .args(options)
        .arg("-o")
        .arg(capture)
        .arg("--")
        .args(command)
        .output()
        .expect("run the recorder");
    assert!(
        out.status.success(),
        "recording failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `aftertrace-inspector CAPTURE SUBCOMMAND --json` and parses its output, one JSON
/// object per line; panics (failing the test) if the inspector fails or a line is not JSON.
pub fn inspector_json(capture: &std::path::Path, subcommand: &str) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(target_bin(INSPECTOR_BIN))
        .arg(capture)
        .args([subcommand, "--json"])
        .output()
        .expect("run the inspector");
    assert!(
        out.status.success(),
        "inspector {subcommand} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 JSON")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}
