//! What /proc says about processes: the snapshot a capture opens with (processes that began
//! before the window), and the fallbacks used to enrich events.

use std::{os::unix::fs::MetadataExt, path::Path};

use std::collections::HashMap;

use capture_format::{FdInfo, FdKind, ProcessInfo, ProcessSnapshot, SockAddr};

fn read_link(path: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::read_link(path)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

pub fn exe(pid: u32) -> Option<Vec<u8>> {
    read_link(&format!("/proc/{pid}/exe"))
}

/// The controlling terminal's device number (`tty_nr` in /proc/PID/stat), 0 if none.
pub fn tty_nr(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(4)?.parse().ok()
}

pub fn cwd(pid: u32) -> Option<Vec<u8>> {
    read_link(&format!("/proc/{pid}/cwd"))
}

/// Both ends of sockets by inode, from `/proc/.../net/{tcp,tcp6,udp,udp6,unix}` of one
/// network namespace.
#[derive(Default)]
pub struct Sockets {
    ends: HashMap<u64, (Option<SockAddr>, Option<SockAddr>)>,
}

fn hex_addr(s: &str) -> Option<SockAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address in host (little-endian) order.
    let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
        .map(|i| {
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_le_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match bytes.len() {
        4 => Some(SockAddr::Inet {
            addr: bytes.try_into().ok()?,
            port,
        }),
        16 => Some(SockAddr::Inet6 {
            addr: bytes.try_into().ok()?,
            port,
            scope_id: 0,
        }),
        _ => None,
    }
}

impl Sockets {
    /// Reads the socket tables under `net_dir` (`/proc/net` or `/proc/PID/net`).
    pub fn read(net_dir: &Path) -> Self {
        let mut ends = HashMap::new();
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let Ok(text) = std::fs::read_to_string(net_dir.join(table)) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(remote), Some(inode)) = (f.get(1), f.get(2), f.get(9))
                else {
                    continue;
                };
                if let Ok(inode) = inode.parse() {
                    ends.insert(inode, (hex_addr(local), hex_addr(remote)));
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(net_dir.join("unix")) {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let Some(Ok(inode)) = f.get(6).map(|i| i.parse()) {
                    let path = f
                        .get(7)
                        .map(|p| SockAddr::Unix(p.replace('@', "\0").into_bytes()));
                    ends.insert(inode, (path, None));
                }
            }
        }
        Sockets { ends }
    }
}

/// The open fds of `pid`, from its /proc/PID/fd links.
pub fn fds(pid: u32, sockets: &Sockets) -> Vec<FdInfo> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out: Vec<FdInfo> = dir
        .flatten()
        .filter_map(|e| {
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let name = target.as_os_str().as_bytes().to_vec();
            let text = String::from_utf8_lossy(&name);
            let inode = |prefix: &str| -> Option<u64> {
                text.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
            };
            let (kind, local, remote) = if let Some(ino) = inode("socket:[") {
                let (l, r) = sockets.ends.get(&ino).cloned().unwrap_or_default();
                (FdKind::Socket, l, r)
            } else if text.starts_with("pipe:[") {
                (FdKind::Pipe, None, None)
            } else if text.starts_with("/dev/pts/")
                || text.starts_with("/dev/tty")
                || text == "/dev/console"
            {
                (FdKind::Tty, None, None)
            } else if text.starts_with('/') {
                let dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
                (
                    if dir { FdKind::Directory } else { FdKind::File },
                    None,
                    None,
                )
            } else {
                (FdKind::Other, None, None)
            };
            Some(FdInfo {
                fd,
                kind,
                name,
                local,
                remote,
            })
        })
        .collect();
    out.sort_by_key(|f| f.fd);
    out
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

/// Every process visible in /proc now, with its open fds (sockets with both ends, read
/// from each network namespace's tables once).
pub fn snapshot(ts: u64, cgroup2_root: Option<&Path>) -> ProcessSnapshot {
    let mut by_netns: HashMap<Vec<u8>, Sockets> = HashMap::new();
    let mut processes: Vec<ProcessInfo> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let mut p = process(pid, cgroup2_root)?;
            let netns = read_link(&format!("/proc/{pid}/ns/net")).unwrap_or_default();
            let sockets = by_netns
                .entry(netns)
                .or_insert_with(|| Sockets::read(Path::new(&format!("/proc/{pid}/net"))));
            p.fds = fds(pid, sockets);
            Some(p)
        })
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
        assert!(tty_nr(me).is_some());
    }

    #[test]
    fn sees_a_listening_socket_with_its_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let me = std::process::id();
        let sockets = Sockets::read(Path::new("/proc/self/net"));
        let fds = fds(me, &sockets);
        assert!(
            fds.iter().any(|f| f.kind == FdKind::Socket
                && f.local
                    == Some(SockAddr::Inet {
                        addr: [127, 0, 0, 1],
                        port
                    })),
            "{fds:?}"
        );
        assert_eq!(
            hex_addr("0100007F:1F90"),
            Some(SockAddr::Inet {
                addr: [127, 0, 0, 1],
                port: 8080
            })
        );
    }
}
