//! The reconstruction's replay over hand-built record sequences: file offsets (shared by
//! dup'd and inherited fds), pwrite, lseek, O_APPEND, truncation, cut writes and the gaps
//! they leave, close-on-exec, pipes read one byte at a time by an interpreter, scripts an
//! interpreter read, connections, terminals.

use aftertrace_analysis::meta::Lookups;
use aftertrace_analysis::reconstruct::engine::{Direction, Engine, ReadSource};
use aftertrace_analysis::reconstruct::{Cause, Gap};
use capture_format::testing as t;
use capture_format::{Event, EventBody, Metadata, Param, ParamValue, SockAddr};

const O_WRONLY: u64 = 1;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_CLOEXEC: u64 = 0o2000000;
const AT_FDCWD: u64 = -100i64 as u64;

/// Builds a record sequence for one test, one nanosecond apart.
struct Seq {
    ts: u64,
    events: Vec<Event>,
}

use capture_format::testing::{buffer as buf, path};

impl Seq {
    fn new() -> Seq {
        Seq {
            ts: 1_000,
            events: Vec::new(),
        }
    }

    fn push(&mut self, pid: u32, body: EventBody) -> &mut Self {
        self.ts += 1;
        self.events.push(t::event(self.ts, pid, body));
        self
    }

    fn sys(
        &mut self,
        pid: u32,
        name: &str,
        args: &[u64],
        ret: i64,
        params: Vec<Param>,
    ) -> &mut Self {
        let body = t::sys(name)
            .args(args)
            .ret(ret)
            .duration(1)
            .params(params)
            .body();
        self.push(pid, body)
    }

    fn exec(&mut self, pid: u32, filename: &str, argv: &[&str]) -> &mut Self {
        let body = t::exec(argv).filename(filename).cwd("/tmp").body();
        self.push(pid, body)
    }

    fn fork(&mut self, parent: u32, child: u32) -> &mut Self {
        self.push(parent, t::fork(child, 0))
    }

    fn exit(&mut self, pid: u32) -> &mut Self {
        self.push(pid, t::exit(0))
    }

    fn openat(&mut self, pid: u32, p: &str, flags: u64, fd: i64) -> &mut Self {
        self.sys(
            pid,
            "openat",
            &[AT_FDCWD, 0, flags, 0o644],
            fd,
            vec![path(1, p)],
        )
    }

    fn write(&mut self, pid: u32, fd: u64, data: &[u8]) -> &mut Self {
        let n = data.len() as u64;
        self.sys(pid, "write", &[fd, 0, n], n as i64, vec![buf(1, data, n)])
    }

    /// A write of `len` bytes of which only `kept` were captured.
    fn write_cut(&mut self, pid: u32, fd: u64, kept: &[u8], len: u64) -> &mut Self {
        self.sys(
            pid,
            "write",
            &[fd, 0, len],
            len as i64,
            vec![buf(1, kept, len)],
        )
    }

    fn read(&mut self, pid: u32, fd: u64, data: &[u8], count: u64) -> &mut Self {
        let n = data.len() as u64;
        self.sys(
            pid,
            "read",
            &[fd, 0, count],
            n as i64,
            vec![buf(1, data, n)],
        )
    }

    fn run(&self) -> Engine<'static> {
        let lookups: &'static Lookups = Box::leak(Box::new(Lookups::new(&Metadata::default())));
        let mut e = Engine::new(lookups, &[]);
        for ev in &self.events {
            e.apply(ev, true);
        }
        e
    }
}

fn export(c: &aftertrace_analysis::reconstruct::Content) -> (Vec<u8>, Vec<Gap>) {
    c.export()
}

fn gap(offset: u64, len: u64, cause: Cause) -> Gap {
    Gap {
        offset: Some(offset),
        len: Some(len),
        cause,
    }
}

#[test]
fn writes_land_at_their_offsets_and_dups_share_them() {
    let mut s = Seq::new();
    s.exec(10, "/bin/bash", &["bash"])
        .openat(10, "/tmp/x.sh", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .sys(10, "dup2", &[3, 1], 1, vec![])
        .sys(10, "close", &[3], 0, vec![])
        .write(10, 1, b"#!/bin/sh\n")
        .write(10, 1, b"echo hi\n");
    let e = s.run();
    assert_eq!(e.files.len(), 1);
    let f = &e.files[0];
    assert_eq!(f.path, b"/tmp/x.sh");
    assert_eq!(
        export(&f.content),
        (b"#!/bin/sh\necho hi\n".to_vec(), vec![])
    );
    assert!(f.created);
}

#[test]
fn pwrite_and_lseek_place_bytes_and_holes_are_named() {
    let mut s = Seq::new();
    s.exec(10, "/usr/bin/app", &["app"])
        .openat(10, "/tmp/data", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .write(10, 3, b"aaaa")
        .sys(10, "pwrite64", &[3, 0, 2, 10], 2, vec![buf(1, b"bb", 2)])
        // pwrite leaves the offset alone: this lands at 4.
        .write(10, 3, b"c")
        .sys(10, "lseek", &[3, 1, 0], 1, vec![])
        .write(10, 3, b"XY");
    let e = s.run();
    let (bytes, gaps) = export(&e.files[0].content);
    assert_eq!(bytes, b"aXYac\0\0\0\0\0bb");
    assert_eq!(gaps, vec![gap(5, 5, Cause::Missing)]);
}

#[test]
fn truncation_and_a_new_generation() {
    let mut s = Seq::new();
    s.exec(10, "/usr/bin/app", &["app"])
        .openat(10, "/tmp/f", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .write(10, 3, b"hello world")
        .sys(10, "ftruncate", &[3, 5], 0, vec![])
        .sys(10, "close", &[3], 0, vec![])
        .openat(10, "/tmp/f", O_WRONLY | O_TRUNC, 3)
        .write(10, 3, b"second");
    let e = s.run();
    assert_eq!(e.files.len(), 2, "O_TRUNC starts a new generation");
    assert_eq!(export(&e.files[0].content).0, b"hello");
    assert_eq!(export(&e.files[1].content), (b"second".to_vec(), vec![]));
}

#[test]
fn a_cut_write_leaves_a_gap_that_the_interpreter_read_fills() {
    let mut s = Seq::new();
    let body = b"#!/bin/sh\necho one\necho two\n";
    s.exec(10, "/usr/bin/base64", &["base64", "-d"])
        .openat(10, "/tmp/s.sh", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .write_cut(10, 3, &body[..12], body.len() as u64)
        .exit(10);
    let e = s.run();
    let (_, gaps) = export(&e.files[0].content);
    assert_eq!(gaps, vec![gap(12, body.len() as u64 - 12, Cause::Snaplen)]);

    s.exec(11, "/bin/sh", &["sh", "/tmp/s.sh"])
        .openat(11, "/tmp/s.sh", 0, 3)
        .read(11, 3, body, 8192)
        .read(11, 3, b"", 8192);
    let e = s.run();
    assert_eq!(export(&e.files[0].content), (body.to_vec(), vec![]));
    assert_eq!(e.reads.len(), 1);
    let r = &e.reads[0];
    assert_eq!(r.source, ReadSource::Interpreter);
    assert_eq!(r.gen, Some(0));
    assert_eq!(export(&r.content), (body.to_vec(), vec![]));
}

#[test]
fn a_cut_interpreter_read_is_filled_from_the_written_file() {
    // busybox sh started as /proc/self/exe is not an interpreter to the recorder: its
    // reads are cut at the snaplen, but the file's writes were kept whole.
    let mut s = Seq::new();
    let body: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
    s.exec(10, "/bin/sh", &["sh"])
        .openat(10, "/tmp/big.sh", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .write(10, 3, &body)
        .exec(11, "/proc/self/exe", &["sh", "/tmp/big.sh"])
        .openat(11, "/tmp/big.sh", O_CLOEXEC, 3)
        .sys(
            11,
            "read",
            &[3, 0, 1023],
            1023,
            vec![buf(1, &body[..256], 1023)],
        )
        .sys(
            11,
            "read",
            &[3, 0, 1023],
            977,
            vec![buf(1, &body[1023..1279], 977)],
        )
        .read(11, 3, b"", 1023);
    let e = s.run();
    assert_eq!(export(&e.reads[0].content), (body, vec![]));
}

#[test]
fn an_interpreter_script_read_through_a_dup_to_fd_255() {
    // bash /tmp/x.sh: a first look at the top, a seek back, the fd moved to 255.
    let script = b"echo a\necho b\n";
    let mut s = Seq::new();
    s.exec(20, "/usr/bin/bash", &["bash", "x.sh"])
        .openat(20, "x.sh", 0, 3)
        .read(20, 3, script, 80)
        .sys(20, "lseek", &[3, 0, 0], 0, vec![])
        .sys(20, "dup2", &[3, 255], 255, vec![])
        .sys(20, "close", &[3], 0, vec![])
        .read(20, 255, &script[..7], 7)
        .read(20, 255, &script[7..], 7)
        .read(20, 255, b"", 14);
    let e = s.run();
    assert_eq!(e.reads.len(), 1);
    assert_eq!(e.reads[0].path, b"/tmp/x.sh", "resolved against the cwd");
    assert_eq!(export(&e.reads[0].content), (script.to_vec(), vec![]));
}

#[test]
fn fork_inherits_fds_and_their_shared_offset() {
    let mut s = Seq::new();
    s.exec(10, "/usr/bin/app", &["app"])
        .openat(10, "/tmp/log", O_WRONLY | O_CREAT | O_TRUNC, 3)
        .write(10, 3, b"ab")
        .fork(10, 11)
        .write(11, 3, b"cd")
        .write(10, 3, b"ef")
        .exit(11);
    let e = s.run();
    assert_eq!(export(&e.files[0].content).0, b"abcdef");
    assert_eq!(e.files[0].writers.len(), 2);
}

#[test]
fn close_on_exec_drops_the_fd() {
    let mut s = Seq::new();
    s.exec(10, "/usr/bin/app", &["app"])
        .openat(10, "/tmp/a", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 3)
        .openat(10, "/tmp/b", O_WRONLY | O_CREAT | O_TRUNC, 4)
        .exec(10, "/usr/bin/other", &["other"])
        .write(10, 3, b"lost")
        .write(10, 4, b"kept");
    let e = s.run();
    assert_eq!(e.files[0].writes, 0, "fd 3 was closed by the exec");
    assert_eq!(export(&e.files[1].content).0, b"kept");
}

#[test]
fn append_to_a_file_in_a_new_directory_and_to_an_unknown_one() {
    let mut s = Seq::new();
    s.exec(10, "/bin/sh", &["sh"])
        .sys(
            10,
            "mkdir",
            &[0, 0o755],
            0,
            vec![path(0, "/var/spool/cron/crontabs")],
        )
        .openat(
            10,
            "/var/spool/cron/crontabs/root",
            O_WRONLY | O_CREAT | O_APPEND,
            3,
        )
        .write(10, 3, b"* * * * * x\n")
        .openat(10, "/etc/profile", O_WRONLY | O_CREAT | O_APPEND, 4)
        .write(10, 4, b"curl x | sh\n");
    let e = s.run();
    assert_eq!(
        export(&e.files[0].content),
        (b"* * * * * x\n".to_vec(), vec![])
    );
    let (bytes, gaps) = export(&e.files[1].content);
    assert_eq!(bytes, b"curl x | sh\n", "the appended bytes");
    assert_eq!(
        gaps[0],
        Gap {
            offset: Some(0),
            len: None,
            cause: Cause::Missing
        },
        "what it was appended to is unknown"
    );
}

#[test]
fn a_pipe_into_bash_read_one_byte_at_a_time() {
    let script = b"echo piped\n";
    let mut s = Seq::new();
    s.exec(
        10,
        "/bin/bash",
        &["bash", "-c", "echo ... | base64 -d | bash"],
    )
    .sys(
        10,
        "pipe2",
        &[0, 0],
        0,
        vec![Param {
            slot: 0,
            value: ParamValue::Fds(vec![3, 4]),
        }],
    )
    .fork(10, 11)
    .fork(10, 12)
    .sys(10, "close", &[3], 0, vec![])
    .sys(10, "close", &[4], 0, vec![])
    // The writer: stdout to the pipe; its write cut at 4 bytes.
    .sys(11, "dup2", &[4, 1], 1, vec![])
    .exec(11, "/usr/bin/base64", &["base64", "-d"])
    .write_cut(11, 1, &script[..4], script.len() as u64)
    .exit(11)
    // The reader: stdin from the pipe, reads one byte at a time.
    .sys(12, "dup2", &[3, 0], 0, vec![])
    .exec(12, "/bin/bash", &["bash"]);
    for b in script {
        s.read(12, 0, std::slice::from_ref(b), 1);
    }
    s.read(12, 0, b"", 1);
    let e = s.run();
    let pipe = e
        .pipes
        .iter()
        .find(|p| !p.interpreters.is_empty())
        .expect("the pipe an interpreter read");
    assert_eq!(export(&pipe.content), (script.to_vec(), vec![]));
    assert_eq!(pipe.writers[0].pid, 11);
    assert_eq!(pipe.interpreters[0].pid, 12);
    assert_eq!(
        pipe.interpreters[0].image.interpreter.as_deref(),
        Some("bash")
    );
}

#[test]
fn a_connection_in_both_directions() {
    let addr = SockAddr::Inet {
        addr: [127, 0, 0, 1],
        port: 8000,
    };
    let mut s = Seq::new();
    s.exec(
        10,
        "/usr/bin/wget",
        &["wget", "-O-", "http://127.0.0.1:8000/x"],
    )
    .sys(10, "socket", &[2, 1, 0], 3, vec![])
    .sys(
        10,
        "connect",
        &[3, 0, 16],
        0,
        vec![Param {
            slot: 1,
            value: ParamValue::SockAddr(addr.clone()),
        }],
    )
    .write(10, 3, b"GET /x HTTP/1.1\r\n\r\n")
    .sys(
        10,
        "read",
        &[3, 0, 4096],
        300,
        vec![buf(1, b"HTTP/1.1 200 OK\r\n", 300)],
    )
    .read(10, 3, b"", 4096)
    .sys(10, "close", &[3], 0, vec![]);
    let e = s.run();
    let c = &e.conns[0];
    assert_eq!(c.direction, Direction::Outbound);
    assert_eq!(c.remote, Some(addr));
    assert_eq!((c.bytes_out, c.bytes_in), (19, 300));
    assert_eq!(
        export(&c.out),
        (b"GET /x HTTP/1.1\r\n\r\n".to_vec(), vec![])
    );
    let (_, gaps) = export(&c.inn);
    assert_eq!(gaps, vec![gap(17, 283, Cause::Snaplen)]);
    assert!(c.end.is_some());
}

#[test]
fn terminal_io_by_ioctl_detection() {
    // A pty slave handed over by TIOCGPTPEER, dup'd to the shell's stdio.
    let mut s = Seq::new();
    s.exec(10, "/usr/bin/driver", &["driver"])
        .openat(10, "/dev/ptmx", 2, 3)
        .sys(10, "ioctl", &[3, 0x5441, 0x102], 4, vec![])
        .fork(10, 11)
        .sys(11, "dup2", &[4, 0], 0, vec![])
        .sys(11, "dup2", &[4, 1], 1, vec![])
        .exec(11, "/bin/bash", &["bash", "-i"])
        .read(11, 0, b"l", 1)
        .read(11, 0, b"s", 1)
        .read(11, 0, b"\r", 1)
        .write(11, 1, b"file\r\n");
    let e = s.run();
    let t = e
        .ttys
        .iter()
        .find(|t| !t.io.is_empty())
        .expect("a terminal");
    assert_eq!(t.name, "pty#1");
    let input: Vec<u8> =
        t.io.iter()
            .filter(|io| io.input)
            .flat_map(|io| io.data.clone())
            .collect();
    assert_eq!(input, b"ls\r");
    assert!(t.io.iter().any(|io| !io.input && io.data == b"file\r\n"));
}
