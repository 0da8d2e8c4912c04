//! Shared by the TUI tests: a small multi-chunk capture built with capture-format's writer
//! (a shell on the host running `cat /etc/shadow`, a killed `sh -c id` in a container, an
//! alert, a drop), and helpers to drive the TUI state without a terminal.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aftertrace_inspector::tui::{settle, Action, App};
use capture_format::{
    Abi, Alert, CaptureWriter, ClockPair, Completion, ContainerInfo, DropEntry, DropLedger, Event,
    EventBody, ExecEvent, ExitEvent, ForkEvent, HostInfo, Param, ParamValue, ProcessInfo,
    ProcessSnapshot, SyscallEvent, UserInfo, UsersAndGroups, WriterOptions,
};

pub const CONTAINER: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
pub const T0: u64 = 1_000_000_000;
const GETPID: u32 = 39;
const OPENAT: u32 = 257;

fn ev(ts: u64, pid: u32, body: EventBody) -> Event {
    Event {
        ts,
        cpu: 0,
        pid,
        tid: pid,
        body,
    }
}

fn syscall(ts: u64, pid: u32, nr: u32, cgroup: u64, path: Option<&str>, ret: i64) -> Event {
    ev(
        ts,
        pid,
        EventBody::Syscall(SyscallEvent {
            nr,
            abi: Abi::X86_64,
            completion: Completion::Complete,
            args: [0xffff_ff9c, 0, 0, 0, 0, 0],
            ret: Some(ret),
            duration_ns: Some(1500),
            cgroup_id: cgroup,
            params: path
                .map(|p| {
                    vec![Param {
                        slot: 1,
                        value: ParamValue::Path(p.as_bytes().to_vec()),
                    }]
                })
                .unwrap_or_default(),
        }),
    )
}

fn exec(ts: u64, pid: u32, ppid: u32, argv: &[&str], uid: u32, cgroup: u64) -> Event {
    ev(
        ts,
        pid,
        EventBody::Exec(ExecEvent {
            filename: format!("/usr/bin/{}", argv[0]).into_bytes(),
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            argv_truncated: false,
            ppid,
            uid,
            gid: uid,
            euid: uid,
            egid: uid,
            cgroup_id: cgroup,
            exe: None,
            cwd: Some(b"/root".to_vec()),
        }),
    )
}

fn fork(ts: u64, pid: u32, child: u32, cgroup: u64) -> Event {
    ev(
        ts,
        pid,
        EventBody::Fork(ForkEvent {
            child_pid: child,
            child_tid: child,
            cgroup_id: cgroup,
        }),
    )
}

fn exit(ts: u64, pid: u32, status: u32) -> Event {
    ev(
        ts,
        pid,
        EventBody::Exit(ExitEvent {
            status,
            group_dead: true,
        }),
    )
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

/// The capture's bytes; `chunk_raw_bytes` small, so it has many chunks.
pub fn capture_bytes() -> Vec<u8> {
    let mut w = CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            chunk_raw_bytes: 4 << 10,
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
        ],
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
    for e in events() {
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
