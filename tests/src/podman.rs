//! Real OCI containers for the scenarios, through podman.
//!
//! There is no Docker engine on the test machines and no reachable registry:
//! the test image is imported from a rootfs tarball made of the host's static
//! busybox and bash ([`ensure_test_image`]), and containers are run with
//! `--network none`. Every container gets a name starting with
//! [`CONTAINER_NAME_PREFIX`] and is removed when done, also when a test fails.
//!
//! All podman invocations go through [`podman_command`], which points podman at
//! the helpers' own `containers.conf` (see [`containers_conf`]).

mod image;
mod process;
mod rootfs;

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

pub use image::{ensure_test_image, TEST_IMAGE_REPO};

use crate::state;

/// Every container the helpers create is named `<prefix><16 hex digits>`.
pub const CONTAINER_NAME_PREFIX: &str = "aftertrace-test-";

/// What to install when podman or the image's ingredients are missing.
pub const INSTALL_HINT: &str = "apt-get install podman runc busybox-static bash-static";

/// How long [`run_in_container`] lets a container run before killing it, so a
/// hung workload fails its test instead of hanging the whole run.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);

const CONTAINERS_CONF: &str = r#"# Written by aftertrace-tests (tests/src/podman.rs) and named by CONTAINERS_CONF
# in every podman command the test helpers run.
[containers]
# Podman's default ulimits cannot be applied without CAP_SYS_RESOURCE.
default_ulimits = []

[engine]
# crun refuses hybrid cgroup hierarchies ("cgroups in hybrid mode not
# supported"), which the test machines have; runc handles them.
runtime = "runc"
"#;

/// Path of the helpers' `containers.conf`, written on first use.
///
/// It drops podman's default ulimits (applying them needs
/// `CAP_SYS_RESOURCE`, which the test machines lack) and selects the runc
/// runtime (crun, podman's default, fails on their hybrid cgroup layout).
pub fn containers_conf() -> Result<PathBuf> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = PATH.get() {
        return Ok(path.clone());
    }
    let path = state::state_dir()?.join("containers.conf");
    state::write_if_changed(&path, CONTAINERS_CONF.as_bytes())
        .with_context(|| format!("writing podman config {}", path.display()))?;
    // A racing thread may have set it first, to the same path.
    Ok(PATH.get_or_init(|| path).clone())
}

/// A `podman` command with `CONTAINERS_CONF` pointing at [`containers_conf`].
pub fn try_podman_command() -> Result<Command> {
    let conf = containers_conf()?;
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", conf);
    Ok(cmd)
}

/// Like [`try_podman_command`], for tests that drive podman directly.
///
/// # Panics
///
/// If the config file cannot be written (see [`containers_conf`]).
pub fn podman_command() -> Command {
    try_podman_command().unwrap_or_else(|e| panic!("cannot prepare a podman command: {e:#}"))
}

/// Runs podman with `args` and returns its output, failing if it cannot be
/// started or exits non-zero. `what` says what the command was for.
fn podman<I, S>(args: I, what: &str) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = podman_output(args, what)?;
    ensure!(
        output.status.success(),
        "{what}: podman exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(output)
}

/// Runs podman with `args` and returns its output whatever its exit status.
fn podman_output<I, S>(args: I, what: &str) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = try_podman_command()?;
    cmd.args(args).stdin(Stdio::null());
    cmd.output().map_err(|e| spawn_error(e, what))
}

fn spawn_error(e: io::Error, what: &str) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!("{what}: podman is not installed (run `{INSTALL_HINT}`)")
    } else {
        anyhow::Error::new(e).context(format!("{what}: starting podman"))
    }
}

/// Checks that podman works and that the test image can be built, naming
/// everything that is missing and how to install it.
pub fn check_podman() -> Result<()> {
    let mut problems = Vec::new();
    // `podman info` fails unless podman, its storage and the configured OCI
    // runtime (runc) all work.
    let info = try_podman_command()?
        .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
        .stdin(Stdio::null())
        .output();
    match info {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            problems.push("podman is not installed (no `podman` on PATH)".to_owned())
        }
        Err(e) => problems.push(format!("podman could not be started: {e}")),
        Ok(out) if !out.status.success() => problems.push(format!(
            "`podman info` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => {}
    }
    for program in [rootfs::BUSYBOX, rootfs::BASH] {
        if let Err(e) = program.load() {
            problems.push(format!("{e:#}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "podman test containers are unavailable: {}. Install what is missing: `{INSTALL_HINT}`",
        problems.join("; ")
    )
}

/// A container run to completion by [`run_in_container`] (and removed).
#[derive(Debug, Clone)]
pub struct ContainerRun {
    /// Full container id, 64 hex digits (as in `libpod-<id>` cgroup paths).
    pub id: String,
    /// The container's name, `aftertrace-test-<16 hex>`.
    pub name: String,
    /// `podman run`'s exit status: the container's exit code, 128+N if its
    /// process was killed by signal N.
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ContainerRun {
    /// The first 12 hex digits of the id: podman's short id and the
    /// container's hostname.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The label [`run_in_container`] gives each container (value: its name), so tests can
/// check that labels reach the capture.
pub const TEST_LABEL: &str = "io.aftertrace.test";

/// Runs `podman run --rm --network none <image> <args>` to completion,
/// killing it after [`DEFAULT_RUN_TIMEOUT`].
///
/// A non-zero exit of the container is not an error (see
/// [`ContainerRun::status`]); failing to create the container is.
pub fn run_in_container(image: &str, args: &[&str]) -> Result<ContainerRun> {
    run_in_container_with_timeout(image, args, DEFAULT_RUN_TIMEOUT)
}

/// [`run_in_container`] with a chosen timeout; on timeout the container is
/// removed and an error returned.
pub fn run_in_container_with_timeout(
    image: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<ContainerRun> {
    let name = unique_name()?;
    let what = format!("running {args:?} in container {name} of {image}");
    // The container is removed when it exits (--rm), so its id is only known
    // through the cidfile, which podman writes when it creates the container.
    let cid_dir = tempfile::tempdir().context("creating a directory for podman's cidfile")?;
    let cidfile = cid_dir.path().join("cid");

    let mut cmd = try_podman_command()?;
    cmd.args(["run", "--rm", "--network", "none", "--name", &name])
        .args(["--label", &format!("{TEST_LABEL}={name}")])
        .arg("--cidfile")
        .arg(&cidfile)
        .arg(image)
        .args(args);
    let outcome = process::run_with_deadline(&mut cmd, timeout, || remove_container(&name))
        .with_context(|| what.clone())?;
    let Some(status) = outcome.status else {
        bail!(
            "{what}: still running after {}s; killed and removed. stdout: {}; stderr: {}",
            timeout.as_secs_f64(),
            String::from_utf8_lossy(&outcome.stdout).trim(),
            String::from_utf8_lossy(&outcome.stderr).trim()
        );
    };

    let id = match fs::read_to_string(&cidfile) {
        Ok(id) => id.trim().to_owned(),
        // No cidfile: podman failed before creating the container.
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("{what}: reading {}", cidfile.display())),
    };
    ensure!(
        is_container_id(&id),
        "{what}: podman exited with {status} without creating a container \
         (cidfile holds {id:?}): {}",
        String::from_utf8_lossy(&outcome.stderr).trim()
    );
    Ok(ContainerRun {
        id,
        name,
        status,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
    })
}

/// Starts `podman run -d --network none <image> <args>`; the container is
/// removed when the returned handle is dropped.
pub fn start_container(image: &str, args: &[&str]) -> Result<RunningContainer> {
    let name = unique_name()?;
    let what = format!("starting {args:?} in detached container {name} of {image}");
    let mut podman_args = vec!["run", "-d", "--network", "none", "--name", &name, image];
    podman_args.extend_from_slice(args);
    let output = match podman(&podman_args, &what) {
        Ok(output) => output,
        Err(e) => {
            // `run -d` can fail after creating the container (e.g. when the
            // command does not exist): do not leave it behind.
            remove_container(&name);
            return Err(e);
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout.lines().last().unwrap_or_default().trim();
    if !is_container_id(id) {
        remove_container(&name);
        bail!("{what}: expected a 64-hex container id from podman, got {stdout:?}");
    }
    Ok(RunningContainer {
        id: id.to_owned(),
        name,
        removed: false,
    })
}

/// A detached container started by [`start_container`]. Dropping it removes
/// the container (`podman rm -f`), running or not.
pub struct RunningContainer {
    id: String,
    name: String,
    removed: bool,
}

impl fmt::Debug for RunningContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningContainer")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl RunningContainer {
    /// Full container id, 64 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's name, `aftertrace-test-<16 hex>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `podman exec <container> <args>` and returns its output; a
    /// non-zero exit of the command is not an error.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        let mut podman_args = vec!["exec", self.name.as_str()];
        podman_args.extend_from_slice(args);
        podman_output(&podman_args, &format!("exec {args:?} in {}", self.name))
    }

    /// Waits for the container to exit and returns its exit status (the exit
    /// code, 128+N if killed by signal N, as for [`ContainerRun::status`]).
    pub fn wait(&self) -> Result<ExitStatus> {
        let what = format!("waiting for container {}", self.name);
        let output = podman(["wait", self.id.as_str()], &what)?;
        let text = String::from_utf8_lossy(&output.stdout);
        let code: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{what}: podman printed {text:?}, not an exit code"))?;
        // Wait statuses hold the exit code in bits 8..16.
        Ok(ExitStatus::from_raw((code & 0xff) << 8))
    }

    /// The container's output so far (`podman logs`).
    pub fn logs(&self) -> Result<Output> {
        podman(
            ["logs", self.id.as_str()],
            &format!("reading logs of {}", self.name),
        )
    }

    /// Removes the container now, reporting failure (dropping does the same
    /// but can only print a warning).
    pub fn remove(mut self) -> Result<()> {
        self.removed = true;
        podman(
            ["rm", "--force", "--time", "0", self.id.as_str()],
            &format!("removing container {}", self.name),
        )?;
        Ok(())
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        if !self.removed {
            remove_container(&self.id);
        }
    }
}

/// Removes a container (by name or id) if it exists, killing it without the
/// usual 10 s grace period. Cleanup path: failures are printed, not returned.
fn remove_container(container: &str) {
    let what = format!("removing container {container}");
    let args = ["rm", "--force", "--ignore", "--time", "0", container];
    if let Err(e) = podman(args, &what) {
        eprintln!("warning: {e:#}");
    }
}

/// `aftertrace-test-<16 random hex digits>`: unique across the tests running
/// in parallel threads and processes.
fn unique_name() -> Result<String> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container name")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{CONTAINER_NAME_PREFIX}{hex}"))
}

/// Whether `s` is a full container id: 64 lowercase hex digits.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_64_lowercase_hex() {
        assert!(is_container_id(&"0123456789abcdef".repeat(4)));
        assert!(!is_container_id(&"0123456789ABCDEF".repeat(4)));
        assert!(!is_container_id(&"0123456789abcdef".repeat(3)));
        assert!(!is_container_id(""));
    }

    #[test]
    fn names_are_prefixed_and_unique() {
        let a = unique_name().expect("name");
        let b = unique_name().expect("name");
        assert!(a.starts_with(CONTAINER_NAME_PREFIX), "{a}");
        assert_eq!(a.len(), CONTAINER_NAME_PREFIX.len() + 16);
        assert_ne!(a, b);
    }
}
