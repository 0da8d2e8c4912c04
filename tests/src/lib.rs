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
