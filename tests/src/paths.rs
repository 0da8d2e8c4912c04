//! Where the workspace and its built binaries are.

use std::env;
use std::path::{Path, PathBuf};

/// Name of the recorder binary, for [`target_bin`].
pub const RECORDER_BIN: &str = "aftertrace-recorder";
/// Name of the inspector binary, for [`target_bin`].
pub const INSPECTOR_BIN: &str = "aftertrace-inspector";

/// Environment variable naming a directory that holds the binaries to test,
/// overriding the cargo target directory (e.g. to test an installed build).
pub const BIN_DIR_ENV: &str = "AFTERTRACE_BIN_DIR";

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // This crate lives at <root>/tests; the path is fixed at compile time, which
    // is where the binaries under test were built too.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the aftertrace-tests crate lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// Path of a binary built from this workspace, e.g. `target_bin(RECORDER_BIN)`.
///
/// `cargo test -p aftertrace-tests` does not build other packages' binaries,
/// so build them first (`cargo build --workspace`, with `--release` if the
/// tests run with `--release`). The binary is looked up in, in order:
///
/// 1. `$AFTERTRACE_BIN_DIR`, if set (and only there);
/// 2. the profile directory of the running test executable
///    (`<target>/<profile>/deps/<test>` -> `<target>/<profile>/`), so tests
///    built with `--release` use release binaries and never a stale debug one;
/// 3. when not run from a cargo target directory: `$CARGO_TARGET_DIR` (or
///    `<repo>/target`), `debug` then `release`.
///
/// # Panics
///
/// If the binary is in none of these places, naming where it looked and how
/// to build it: a test cannot do anything useful without it.
pub fn target_bin(name: &str) -> PathBuf {
    let candidates = candidate_dirs();
    if let Some(found) = candidates
        .iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
    {
        return found;
    }
    let searched: Vec<String> = candidates
        .iter()
        .map(|dir| dir.display().to_string())
        .collect();
    panic!(
        "binary `{name}` not found in [{}]; build it first with `cargo build --workspace` \
         (add --release when testing with --release), or point ${BIN_DIR_ENV} at a \
         directory holding it",
        searched.join(", ")
    );
}

fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = env::var_os(BIN_DIR_ENV) {
        return vec![PathBuf::from(dir)];
    }
    if let Some(dir) = current_profile_dir() {
        return vec![dir];
    }
    let target = match env::var_os("CARGO_TARGET_DIR") {
        // Cargo resolves a relative CARGO_TARGET_DIR against the directory it was
        // started in; the workspace root is the usual one.
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    };
    vec![target.join("debug"), target.join("release")]
}

/// `<target>/<profile>` when the running executable is a cargo-built test
/// (`<target>/<profile>/deps/<name>-<hash>`).
fn current_profile_dir() -> Option<PathBuf> {
    let exe = env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    deps.parent().map(Path::to_path_buf)
}
