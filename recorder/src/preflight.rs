//! Checks that this machine can run the recorder, before anything is loaded, so that a
//! missing privilege or kernel feature gets a sentence saying what to do instead of an
//! errno from deep inside the loader.

use std::path::Path;

/// A reason the recorder cannot run here, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("aftertrace-recorder needs root or CAP_BPF+CAP_PERFMON to load eBPF programs (running as uid {uid}); run it with sudo")]
    NotPrivileged { uid: u32 },
    #[error("the kernel has no BTF at {path}: aftertrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are)")]
    NoBtf { path: String },
    #[error("kernel {release} is too old: aftertrace needs Linux {}.{} or later (BPF ring buffer, BTF task pointers, bpf_task_pt_regs)", MIN_KERNEL.0, MIN_KERNEL.1)]
    OldKernel { release: String },
}

/// The oldest kernel the programs load on: bpf_task_pt_regs arrived in 5.15.
const MIN_KERNEL: (u32, u32) = (5, 15);

/// (major, minor) of a kernel release string such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// CAP_BPF (39) and CAP_PERFMON (38) in the effective set, from /proc/self/status.
fn has_bpf_caps() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| {
            let sys_admin = caps & (1 << 21) != 0;
            let bpf_perfmon = caps & (1 << 39) != 0 && caps & (1 << 38) != 0;
            sys_admin || bpf_perfmon
        })
}

pub fn check() -> Result<(), Unavailable> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 && !has_bpf_caps() {
        return Err(Unavailable::NotPrivileged { uid });
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if kernel_version(release).is_some_and(|v| v < MIN_KERNEL) {
        return Err(Unavailable::OldKernel {
            release: release.to_owned(),
        });
    }
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(Unavailable::NoBtf {
            path: VMLINUX_BTF.into(),
        });
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones to the memory cgroup.
/// Raising the limit can fail without CAP_SYS_RESOURCE, which is harmless on new kernels,
/// so a failure is a warning.
pub fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        tracing::debug!(
            "could not raise RLIMIT_MEMLOCK ({}); fine on kernels >= 5.11",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.15.0"), Some((5, 15)));
        assert_eq!(kernel_version("6.18.44"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
        assert!(kernel_version("5.4.0-1").is_some_and(|v| v < MIN_KERNEL));
        assert!(kernel_version("5.15.0").is_some_and(|v| v >= MIN_KERNEL));
    }
}
