//! Facts about the machine, stored in every capture so it stands alone.

use std::collections::BTreeMap;

use capture_format::HostInfo;

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

pub fn host_info(settings: BTreeMap<String, String>) -> HostInfo {
    // SAFETY: utsname is plain data; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::uname(&mut uts) };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    HostInfo {
        hostname: field(&uts.nodename),
        kernel_release: field(&uts.release),
        kernel_version: field(&uts.version),
        arch: field(&uts.machine),
        // Online CPUs of the machine, not this process's affinity or quota.
        // SAFETY: sysconf has no preconditions.
        cpu_count: unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32,
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        recorder_version: env!("CARGO_PKG_VERSION").to_owned(),
        settings,
    }
}
