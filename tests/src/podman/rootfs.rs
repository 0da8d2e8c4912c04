//! The test image's root filesystem, as a tarball for `podman import`.
//!
//! No registry is reachable from the test machines, so the image is made from
//! the host's static busybox (a shell and coreutils-like applets) and static
//! bash (for workloads that need bash itself: readline, `/dev/tcp`, ...).

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use tar::{EntryType, Header};

/// A static program the image is made of, and the Debian package providing it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostProgram {
    pub(crate) name: &'static str,
    pub(crate) package: &'static str,
}

pub(crate) const BUSYBOX: HostProgram = HostProgram {
    name: "busybox",
    package: "busybox-static",
};
pub(crate) const BASH: HostProgram = HostProgram {
    name: "bash-static",
    package: "bash-static",
};

impl HostProgram {
    /// Finds the program and reads it, checking that it is statically linked:
    /// a dynamic one would not run in an image without libc.
    pub(crate) fn load(self) -> Result<(PathBuf, Vec<u8>)> {
        let path = self.locate()?;
        let bytes = self.read(&path)?;
        Ok((path, bytes))
    }

    /// Finds the program on `PATH`, then in /bin and /usr/bin (where Debian
    /// installs it) in case PATH is minimal.
    fn locate(self) -> Result<PathBuf> {
        let path_dirs = env::var_os("PATH")
            .map(|p| env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        let found = path_dirs
            .into_iter()
            .chain([PathBuf::from("/bin"), PathBuf::from("/usr/bin")])
            .map(|dir| dir.join(self.name))
            .find(|path| path.is_file());
        let Some(path) = found else {
            bail!(
                "`{}` not found on PATH, /bin or /usr/bin (package {})",
                self.name,
                self.package
            );
        };
        Ok(path)
    }

    fn read(self, path: &Path) -> Result<Vec<u8>> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let dynamic = has_elf_interpreter(&bytes)
            .with_context(|| format!("inspecting {} as an ELF executable", path.display()))?;
        ensure!(
            !dynamic,
            "{} is dynamically linked; the test image needs the static build from package {}",
            path.display(),
            self.package
        );
        Ok(bytes)
    }
}

/// Whether a 64-bit little-endian ELF file names a program interpreter
/// (`PT_INTERP`), i.e. is dynamically linked.
fn has_elf_interpreter(bytes: &[u8]) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    ensure!(bytes.get(..4) == Some(b"\x7fELF"), "not an ELF file");
    ensure!(
        bytes.get(4..6) == Some(&[2, 1]),
        "not a 64-bit little-endian ELF file"
    );
    let phoff = u64::from_le_bytes(le_bytes(bytes, 0x20)?);
    let phentsize = usize::from(u16::from_le_bytes(le_bytes(bytes, 0x36)?));
    let phnum = usize::from(u16::from_le_bytes(le_bytes(bytes, 0x38)?));
    let phoff = usize::try_from(phoff).context("program header offset out of range")?;
    for i in 0..phnum {
        let start = phentsize
            .checked_mul(i)
            .and_then(|o| o.checked_add(phoff))
            .context("program header offset overflows")?;
        if u32::from_le_bytes(le_bytes(bytes, start)?) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `N` bytes of `bytes` at offset `at`, or an error if the file is too short.
fn le_bytes<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N]> {
    let end = at.checked_add(N).context("ELF offset overflows")?;
    let slice = bytes.get(at..end).context("ELF file is truncated")?;
    Ok(slice.try_into().expect("the slice is N bytes long"))
}

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

const GROUP: &str = "\
root:x:0:
app:x:1000:
nobody:x:65534:
";

/// Builds the rootfs tarball in memory.
///
/// The result is deterministic (fixed owners, modes, mtimes and order), so its
/// digest identifies the image: the same inputs give the same tag, and any
/// change to the binaries or this layout gives a new one.
pub(crate) fn build_rootfs_tar() -> Result<Vec<u8>> {
    let (busybox_path, busybox) = BUSYBOX.load()?;
    let (_, bash) = BASH.load()?;
    let applets = busybox_applets(&busybox_path)?;

    let mut tar = RootfsTar::new();
    for dir in [
        "bin", "dev", "etc", "home", "proc", "run", "sys", "usr", "var",
    ] {
        tar.dir(dir, 0o755, 0)?;
    }
    tar.dir("home/app", 0o755, 1000)?;
    tar.dir("root", 0o700, 0)?;
    // World-writable with the sticky bit, like any real /tmp: workloads running
    // as `app` or `nobody` write there.
    tar.dir("tmp", 0o1777, 0)?;
    tar.dir("var/tmp", 0o1777, 0)?;
    // Merged layout: every usual binary directory resolves to /bin, so
    // `#!/usr/bin/env bash` and absolute paths like /usr/bin/id work.
    tar.symlink("sbin", "bin")?;
    tar.symlink("usr/bin", "../bin")?;
    tar.symlink("usr/sbin", "../bin")?;

    tar.file("bin/busybox", 0o755, &busybox)?;
    // /bin/sh stays busybox's ash (an applet link below); bash is only /bin/bash.
    tar.file("bin/bash", 0o755, &bash)?;
    for applet in &applets {
        tar.symlink(&format!("bin/{applet}"), "busybox")?;
    }
    tar.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    tar.file("etc/group", 0o644, GROUP.as_bytes())?;
    tar.finish()
}

/// Busybox's applet names, sorted, without the ones the image provides
/// otherwise (`busybox` itself, `bash`).
fn busybox_applets(busybox: &Path) -> Result<BTreeSet<String>> {
    let output = Command::new(busybox)
        .arg("--list")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{} --list`", busybox.display()))?;
    ensure!(
        output.status.success(),
        "`{} --list` failed ({}): {}",
        busybox.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let list = String::from_utf8(output.stdout)
        .with_context(|| format!("`{} --list` printed non-UTF-8", busybox.display()))?;
    let applets: BTreeSet<String> = list
        .lines()
        .map(str::trim)
        // A name with a slash would escape /bin; busybox never prints one.
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .filter(|name| *name != "busybox" && *name != "bash")
        .map(str::to_owned)
        .collect();
    ensure!(
        applets.contains("sh"),
        "{} has no `sh` applet; the test image needs it as /bin/sh",
        busybox.display()
    );
    Ok(applets)
}

/// A tar archive in memory whose entries all have fixed metadata.
struct RootfsTar {
    builder: tar::Builder<Vec<u8>>,
}

impl RootfsTar {
    fn new() -> Self {
        RootfsTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, mode: u32, owner: u64, size: u64) -> Header {
        let mut header = Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_size(size);
        header.set_mtime(0);
        header
    }

    fn dir(&mut self, path: &str, mode: u32, owner: u64) -> Result<()> {
        let mut header = Self::header(EntryType::Directory, mode, owner, 0);
        self.builder
            .append_data(&mut header, path, io::empty())
            .with_context(|| format!("adding directory /{path} to the rootfs tarball"))
    }

    fn file(&mut self, path: &str, mode: u32, contents: &[u8]) -> Result<()> {
        let size = u64::try_from(contents.len()).context("file too large for tar")?;
        let mut header = Self::header(EntryType::Regular, mode, 0, size);
        self.builder
            .append_data(&mut header, path, contents)
            .with_context(|| format!("adding file /{path} to the rootfs tarball"))
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut header = Self::header(EntryType::Symlink, 0o777, 0, 0);
        self.builder
            .append_link(&mut header, path, target)
            .with_context(|| format!("adding symlink /{path} -> {target} to the rootfs tarball"))
    }

    fn finish(self) -> Result<Vec<u8>> {
        self.builder
            .into_inner()
            .context("finishing the rootfs tarball")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_check_rejects_non_elf_and_detects_interpreter() {
        assert!(has_elf_interpreter(b"#!/bin/sh\n").is_err());
        // The test binary itself is a normal dynamically linked executable.
        let exe = std::env::current_exe().expect("current test executable");
        let bytes = fs::read(&exe).expect("reading the test executable");
        assert!(has_elf_interpreter(&bytes).expect("test executable is ELF64"));
    }
}
