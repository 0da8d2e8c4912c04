//! What /proc says about processes: the snapshot a capture opens with (processes that began
//! before the window), and the fallbacks used to enrich events.

use std::{os::unix::fs::MetadataExt, path::Path};

use capture_format::{ProcessInfo, ProcessSnapshot};

fn read_link(path: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::read_link(path)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

pub fn exe(pid: u32) -> Option<Vec<u8>> {
    read_link(&format!("/proc/{pid}/exe"))
}

pub fn cwd(pid: u32) -> Option<Vec<u8>> {
    read_link(&format!("/proc/{pid}/cwd"))
}

/// Reads one process from /proc; `None` if it is gone (or a kernel thread's fields are
/// unreadable, which is fine: they have no exe).
pub fn process(pid: u32, cgroup2_root: Option<&Path>) -> Option<ProcessInfo> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut info = ProcessInfo {
        pid,
        ..Default::default()
    };
    for line in status.lines() {
        let (key, value) = line.split_once(':')?;
        let value = value.trim();
        let ids = || -> Vec<u32> {
            value
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        };
        match key {
            "Name" => info.comm = value.to_owned(),
            "PPid" => info.ppid = value.parse().unwrap_or(0),
            "Uid" => {
                let v = ids();
                info.uid = v.first().copied().unwrap_or(0);
                info.euid = v.get(1).copied().unwrap_or(0);
            }
            "Gid" => {
                let v = ids();
                info.gid = v.first().copied().unwrap_or(0);
                info.egid = v.get(1).copied().unwrap_or(0);
            }
            _ => {}
        }
    }
    if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        let body = cmdline.strip_suffix(b"\0").unwrap_or(&cmdline);
        if !body.is_empty() {
            info.argv = body.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        }
    }
    info.exe = exe(pid);
    info.cwd = cwd(pid);
    if let (Some(root), Ok(cg)) = (
        cgroup2_root,
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")),
    ) {
        if let Some(rel) = cg.lines().find_map(|l| l.strip_prefix("0::")) {
            if let Ok(meta) = std::fs::metadata(root.join(rel.trim_start_matches('/'))) {
                info.cgroup_id = meta.ino();
            }
        }
    }
    Some(info)
}

/// Every process visible in /proc now.
pub fn snapshot(ts: u64, cgroup2_root: Option<&Path>) -> ProcessSnapshot {
    let mut processes: Vec<ProcessInfo> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| process(pid, cgroup2_root))
        .collect();
    processes.sort_by_key(|p| p.pid);
    ProcessSnapshot { ts, processes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let me = std::process::id();
        let p = process(me, None).expect("own /proc entry");
        assert_eq!(p.pid, me);
        // SAFETY: no preconditions.
        assert_eq!(p.uid, unsafe { libc::getuid() });
        assert_eq!(p.ppid, std::os::unix::process::parent_id());
        assert!(!p.argv.is_empty());
        let snap = snapshot(1, None);
        assert!(snap.processes.iter().any(|q| q.pid == me));
        assert!(snap.processes.iter().any(|q| q.pid == 1));
    }
}
