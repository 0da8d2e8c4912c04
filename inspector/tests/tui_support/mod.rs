//! Shared by the TUI tests: a small multi-chunk capture built with capture-format's writer
//! (a shell on the host running `cat /etc/shadow`, a killed `sh -c id` in a container, an
//! alert, a drop); a second one for the reconstruction's views (a terminal session on the
//! host that runs `id` and `curl`, curl's HTTP connection, and a `wget` in the container
//! with a connection of its own); and helpers to drive the TUI state without a terminal.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aftertrace_inspector::tui::{settle, Action, App};
use capture_format::testing as t;
use capture_format::{
    Alert, CaptureWriter, ClockPair, ContainerInfo, DropEntry, DropLedger, Event, HostInfo, Param,
    ParamValue, ProcessInfo, ProcessSnapshot, SockAddr, UserInfo, UsersAndGroups, WriterOptions,
};

pub const CONTAINER: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
pub const T0: u64 = 1_000_000_000;
const GETPID: u32 = 39;
const OPENAT: u32 = 257;

fn syscall(ts: u64, pid: u32, nr: u32, cgroup: u64, path: Option<&str>, ret: i64) -> Event {
    t::sys_nr(nr)
        .args(&[0xffff_ff9c])
        .ret(ret)
        .duration(1500)
        .cgroup(cgroup)
        .params(path.map(|p| t::path(1, p)))
        .at(ts, pid)
}

fn exec(ts: u64, pid: u32, ppid: u32, argv: &[&str], uid: u32, cgroup: u64) -> Event {
    t::exec(argv)
        .ppid(ppid)
        .uid(uid)
        .cgroup(cgroup)
        .cwd("/root")
        .at(ts, pid)
}

fn fork(ts: u64, pid: u32, child: u32, cgroup: u64) -> Event {
    t::event(ts, pid, t::fork(child, cgroup))
}

fn exit(ts: u64, pid: u32, status: u32) -> Event {
    t::event(ts, pid, t::exit(status))
}

/// The events of [`write_capture`], in time order.
pub fn events() -> Vec<Event> {
    let mut v = Vec::new();
    for i in 0..3000u64 {
        v.push(syscall(T0 + i * 100_000 + 7, 100, GETPID, 10, None, 100));
    }
    v.push(fork(T0 + 50_000_001, 100, 200, 10));
    v.push(exec(
        T0 + 60_000_001,
        200,
        100,
        &["cat", "/etc/shadow"],
        0,
        10,
    ));
    v.push(syscall(
        T0 + 70_000_001,
        200,
        OPENAT,
        10,
        Some("/etc/shadow"),
        3,
    ));
    v.push(exit(T0 + 80_000_001, 200, 0));
    v.push(fork(T0 + 200_000_001, 100, 300, 10));
    v.push(exec(
        T0 + 210_000_001,
        300,
        100,
        &["sh", "-c", "id"],
        33,
        77,
    ));
    v.push(syscall(
        T0 + 220_000_001,
        300,
        OPENAT,
        77,
        Some("/tmp/x"),
        -2,
    ));
    v.push(exit(T0 + 250_000_001, 300, 9));
    v.sort_by_key(|e| e.ts);
    v
}

/// A syscall by name with its parameters (slot, value).
fn sys(
    ts: u64,
    pid: u32,
    name: &str,
    args: &[u64],
    ret: i64,
    cgroup: u64,
    params: Vec<Param>,
) -> Event {
    t::sys(name)
        .args(args)
        .ret(ret)
        .duration(1000)
        .cgroup(cgroup)
        .params(params)
        .at(ts, pid)
}

fn data(d: &[u8]) -> Vec<Param> {
    vec![t::buffer(1, d, d.len() as u64)]
}

fn write(ts: u64, pid: u32, fd: u64, d: &[u8], cgroup: u64) -> Event {
    let n = d.len() as u64;
    sys(ts, pid, "write", &[fd, 0, n], n as i64, cgroup, data(d))
}

fn read(ts: u64, pid: u32, fd: u64, d: &[u8], cgroup: u64) -> Event {
    sys(
        ts,
        pid,
        "read",
        &[fd, 0, 4096],
        d.len() as i64,
        cgroup,
        data(d),
    )
}

fn connect(ts: u64, pid: u32, fd: u64, addr: [u8; 4], port: u16, cgroup: u64) -> Vec<Event> {
    vec![
        sys(ts, pid, "socket", &[2, 1, 0], fd as i64, cgroup, vec![]),
        sys(
            ts + 1000,
            pid,
            "connect",
            &[fd, 0, 16],
            0,
            cgroup,
            vec![Param {
                slot: 1,
                value: ParamValue::SockAddr(SockAddr::Inet { addr, port }),
            }],
        ),
    ]
}

const MS: u64 = 1_000_000;

/// The events of [`recon_capture_bytes`], in time order: bash (pid 400, in the snapshot)
/// on /dev/pts/3 reads `id` key by key (echoing each key), whose output follows; then a
/// curl line read whole; curl (pid 402) sends two requests and reads two answers, and
/// prints the body; a prompt 1.2 s later. In the container, wget (pid 500) talks to
/// 10.0.0.9:443.
pub fn recon_events() -> Vec<Event> {
    let tty = 5;
    let mut v = vec![
        sys(
            T0 + 10 * MS,
            400,
            "openat",
            &[0xffff_ff9c, 0, 2, 0],
            tty as i64,
            10,
            vec![Param {
                slot: 1,
                value: ParamValue::Path(b"/dev/pts/3".to_vec()),
            }],
        ),
        write(T0 + 20 * MS, 400, tty, b"\x1b[1mroot@node-t\x1b[0m:~# ", 10),
    ];
    let mut t = T0 + 30 * MS;
    for k in [b"i", b"d", b"\r"] {
        v.push(read(t, 400, tty, k, 10));
        v.push(write(
            t + 1000,
            400,
            tty,
            if k == b"\r" { b"\r\n" } else { k },
            10,
        ));
        t += 10 * MS;
    }
    v.push(fork(T0 + 70 * MS, 400, 401, 10));
    v.push(exec(T0 + 71 * MS, 401, 400, &["id"], 0, 10));
    v.push(write(
        T0 + 72 * MS,
        401,
        tty,
        b"uid=0(root) gid=0(root)\r\n",
        10,
    ));
    v.push(exit(T0 + 73 * MS, 401, 0));
    v.push(write(T0 + 74 * MS, 400, tty, b"root@node-t:~# ", 10));
    v.push(read(
        T0 + 100 * MS,
        400,
        tty,
        b"curl -s http://10.0.0.5/x\r",
        10,
    ));
    v.push(fork(T0 + 110 * MS, 400, 402, 10));
    v.push(exec(
        T0 + 111 * MS,
        402,
        400,
        &["curl", "-s", "http://10.0.0.5/x"],
        0,
        10,
    ));
    v.extend(connect(T0 + 112 * MS, 402, 3, [10, 0, 0, 5], 80, 10));
    v.push(write(
        T0 + 113 * MS,
        402,
        3,
        b"GET /x HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n",
        10,
    ));
    v.push(read(
        T0 + 114 * MS,
        402,
        3,
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
        10,
    ));
    v.push(read(T0 + 115 * MS, 402, 3, b"hello world\n", 10));
    v.push(write(T0 + 116 * MS, 402, 3, b"GET /y HTTP/1.1\r\n\r\n", 10));
    v.push(read(
        T0 + 117 * MS,
        402,
        3,
        b"HTTP/1.1 404 Not Found\r\n\r\n",
        10,
    ));
    v.push(sys(T0 + 118 * MS, 402, "close", &[3], 0, 10, vec![]));
    v.push(write(T0 + 119 * MS, 402, tty, b"hello world\n", 10));
    v.push(exit(T0 + 120 * MS, 402, 0));
    v.push(write(T0 + 1320 * MS, 400, tty, b"root@node-t:~# ", 10));
    v.push(fork(T0 + 200 * MS, 1, 500, 77));
    v.push(exec(
        T0 + 201 * MS,
        500,
        1,
        &["wget", "-q", "https://10.0.0.9/"],
        33,
        77,
    ));
    v.extend(connect(T0 + 202 * MS, 500, 4, [10, 0, 0, 9], 443, 77));
    v.push(write(T0 + 204 * MS, 500, 4, b"hello from wget", 77));
    v.push(read(T0 + 205 * MS, 500, 4, b"bye", 77));
    v.push(exit(T0 + 206 * MS, 500, 0));
    v.sort_by_key(|e| e.ts);
    v
}

/// The capture's bytes; `chunk_raw_bytes` small, so it has many chunks.
pub fn capture_bytes() -> Vec<u8> {
    capture_bytes_of(events(), 4 << 10, Vec::new())
}

/// The reconstruction's capture (see [`recon_events`]).
pub fn recon_capture_bytes() -> Vec<u8> {
    capture_bytes_of(
        recon_events(),
        1 << 10,
        vec![ProcessInfo {
            pid: 400,
            ppid: 1,
            comm: "bash".into(),
            argv: vec![b"bash".to_vec()],
            cwd: Some(b"/root".to_vec()),
            cgroup_id: 10,
            ..ProcessInfo::default()
        }],
    )
}

/// Writes the reconstruction's capture to `dir/name` and returns its path.
pub fn write_recon_capture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, recon_capture_bytes()).expect("writing the capture");
    path
}

fn capture_bytes_of(
    events: Vec<Event>,
    chunk_raw_bytes: usize,
    extra_processes: Vec<ProcessInfo>,
) -> Vec<u8> {
    let mut w = CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            chunk_raw_bytes,
            file_id: Some(*b"aftertrace-tui-t"),
            ..WriterOptions::default()
        },
    )
    .expect("writer");
    w.write_host(&HostInfo {
        hostname: "node-t".into(),
        kernel_release: "6.1.0-test".into(),
        arch: "x86_64".into(),
        cpu_count: 2,
        recorder_version: "test".into(),
        ..HostInfo::default()
    })
    .expect("host");
    w.write_clocks(&[ClockPair {
        boot_ns: T0,
        realtime_ns: 1_767_225_600_000_000_000,
    }])
    .expect("clocks");
    w.write_containers(&[ContainerInfo {
        id: CONTAINER.into(),
        runtime: "podman".into(),
        name: Some("web".into()),
        image: Some("localhost/shop:1".into()),
        cgroup_ids: vec![77],
        cgroup_path: "/machine.slice/libpod-c0ffee.scope".into(),
        hostname: Some("web-1".into()),
        ..ContainerInfo::default()
    }])
    .expect("containers");
    w.write_users(&UsersAndGroups {
        users: vec![
            UserInfo {
                uid: 0,
                name: "root".into(),
                container_id: String::new(),
            },
            UserInfo {
                uid: 33,
                name: "www-data".into(),
                container_id: CONTAINER.into(),
            },
        ],
        groups: vec![],
    })
    .expect("users");
    w.write_processes(&ProcessSnapshot {
        ts: T0,
        processes: vec![
            ProcessInfo {
                pid: 1,
                comm: "init".into(),
                argv: vec![b"/sbin/init".to_vec()],
                cgroup_id: 10,
                ..ProcessInfo::default()
            },
            ProcessInfo {
                pid: 100,
                ppid: 1,
                comm: "bash".into(),
                argv: vec![b"-bash".to_vec()],
                cwd: Some(b"/root".to_vec()),
                cgroup_id: 10,
                ..ProcessInfo::default()
            },
        ]
        .into_iter()
        .chain(extra_processes)
        .collect(),
    })
    .expect("snapshot");
    w.write_alert(&Alert {
        source: "falco".into(),
        received_boot_ns: T0 + 150_000_000,
        received_realtime_ns: 1_767_225_600_150_000_000,
        payload_time: Some("2026-01-01T00:00:00.15Z".into()),
        summary: "Terminal shell in container".into(),
        payload: b"{}".to_vec(),
    })
    .expect("alert");
    w.write_drops(&DropLedger {
        entries: vec![DropEntry {
            cause: "ring_full".into(),
            cpu: Some(0),
            pid: None,
            from: T0 + 160_000_000,
            to: T0 + 170_000_000,
            count: 7,
        }],
    })
    .expect("drops");
    for e in events {
        w.push_event(&e).expect("event");
    }
    w.finish().expect("finish")
}

/// Writes the capture to `dir/name` and returns its path.
pub fn write_capture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, capture_bytes()).expect("writing the capture");
    path
}

/// An App on `path`, loaded (background work finished), at `width` x `height`.
pub fn loaded(path: &Path, width: u16, height: u16) -> (App, std::sync::mpsc::Receiver<Action>) {
    let (mut app, rx) = App::open(path);
    app.update(Action::Resize { width, height });
    settle(&mut app, &rx, Duration::from_secs(60));
    assert!(app.analysis.is_some(), "the capture loads");
    (app, rx)
}

/// Types `text` into the open prompt.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Action::Input(c));
    }
}

pub fn settle_app(app: &mut App, rx: &std::sync::mpsc::Receiver<Action>) {
    settle(app, rx, Duration::from_secs(60));
}

/// A sample capture, by a path relative to the crate's directory (where cargo runs tests):
/// the Overview shows the path as given, and snapshots must not hold this machine's.
pub fn sample(name: &str) -> PathBuf {
    Path::new("../samples").join(name)
}
