//! The test image: built once per machine and inputs, then reused.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{podman, podman_output, rootfs};
use crate::state::{self, FileLock};

/// Repository of the test image; its tag is a digest of the image's inputs.
pub const TEST_IMAGE_REPO: &str = "localhost/aftertrace-test";

/// Image config set at import (a bare rootfs has none). Part of the tag's
/// digest, so changing one makes a new image.
const IMAGE_CHANGES: &[&str] = &[
    "CMD [\"/bin/sh\"]",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "WORKDIR /",
];

/// Builds the test image if needed and returns its reference,
/// `localhost/aftertrace-test:<digest of its inputs>`.
///
/// The image holds static busybox (its applets linked in /bin, /bin/sh among
/// them), static bash as /bin/bash, users root (0), app (1000, home /home/app)
/// and nobody (65534), and /tmp with mode 1777.
///
/// Idempotent and safe to call from parallel tests, threads or processes:
/// builds are serialized by a file lock, an existing image with the same
/// inputs is reused, and within a process the answer is remembered. After a
/// build, images of this repository with other tags (stale inputs) are
/// removed.
pub fn ensure_test_image() -> Result<String> {
    static IMAGE: Mutex<Option<String>> = Mutex::new(None);
    // Holding the mutex while building makes other threads of this process
    // wait for the result instead of building it again. A panic elsewhere
    // cannot leave the Option half-written, so a poisoned lock is still good.
    let mut image = IMAGE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(reference) = image.as_ref() {
        return Ok(reference.clone());
    }
    let reference = build_or_reuse().context("preparing the podman test image")?;
    *image = Some(reference.clone());
    Ok(reference)
}

fn build_or_reuse() -> Result<String> {
    let rootfs = rootfs::build_rootfs_tar().context("assembling the rootfs tarball")?;
    let reference = format!("{TEST_IMAGE_REPO}:{}", inputs_tag(&rootfs));

    let lock_path = state::state_dir()?.join("image.lock");
    let _lock = FileLock::exclusive(&lock_path)?;
    if image_exists(&reference)? {
        return Ok(reference);
    }

    let mut tarball = tempfile::Builder::new()
        .prefix("aftertrace-rootfs-")
        .suffix(".tar")
        .tempfile()
        .context("creating a temporary file for the rootfs tarball")?;
    tarball
        .write_all(&rootfs)
        .and_then(|()| tarball.flush())
        .with_context(|| format!("writing {}", tarball.path().display()))?;
    let mut args = vec!["import".to_owned(), "--quiet".to_owned()];
    for change in IMAGE_CHANGES {
        args.push("--change".to_owned());
        args.push((*change).to_owned());
    }
    args.push(tarball.path().display().to_string());
    args.push(reference.clone());
    podman(&args, &format!("importing {reference}"))?;

    remove_stale_images(&reference);
    Ok(reference)
}

/// First 16 hex digits of the SHA-256 of the rootfs tarball and import
/// changes: enough to tell builds apart, short enough to read.
fn inputs_tag(rootfs: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rootfs);
    for change in IMAGE_CHANGES {
        // Length-prefixed, so that no two lists hash alike.
        hasher.update(change.len().to_le_bytes());
        hasher.update(change.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn image_exists(reference: &str) -> Result<bool> {
    let what = format!("checking for image {reference}");
    let output = podman_output(["image", "exists", reference], &what)?;
    // `podman image exists` answers with its exit code: 0 yes, 1 no, else error.
    match output.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => bail!(
            "{what}: podman exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// Removes this repository's images other than `current`, left by builds
/// from older inputs, so they do not pile up. Best effort: a failure (e.g.
/// an old image still used by a container) only prints a warning.
fn remove_stale_images(current: &str) {
    let listed = podman(
        [
            "images",
            "--noheading",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            TEST_IMAGE_REPO,
        ],
        "listing old test images",
    );
    let output = match listed {
        Ok(output) => output,
        Err(e) => {
            eprintln!("warning: {e:#}");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    for stale in text
        .lines()
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != current)
    {
        if let Err(e) = podman(["rmi", stale], &format!("removing old test image {stale}")) {
            eprintln!("warning: {e:#}");
        }
    }
}
