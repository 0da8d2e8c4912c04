//! The state machine that replays a capture's records in time order: every process's file
//! descriptor table (opens, dups, fork inheritance, close-on-exec, closes), what each open
//! file description is (a file at an offset, a pipe end, a socket, a terminal), and the
//! content that flowed through each: files at their offsets, pipe streams, both directions
//! of connections, terminal input and output.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use capture_format::{
    syscall_def_of, syscall_name, Buffer, BufferCut, Class, Event, EventBody, ExecEvent, FdKind,
    Param, ParamValue, SockAddr, SyscallEvent,
};

use super::classify::{self, Mode};
use super::content::{Cause, Content};
use crate::meta::Lookups;

const O_ACCMODE: u64 = 3;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_CLOEXEC: u64 = 0o2000000;
const O_DIRECTORY: u64 = 0o200000;
const AT_FDCWD: i32 = -100;
const EINPROGRESS: i64 = 115;
const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_TYPE_MASK: u64 = 0xf;
const CLOSE_RANGE_CLOEXEC: u64 = 4;

/// Terminal ioctls: one succeeding on an fd says the fd is a terminal.
const TTY_IOCTLS: &[u32] = &[
    0x5401, // TCGETS
    0x5402, 0x5403, 0x5404, // TCSETS*
    0x540e, // TIOCSCTTY
    0x540f, // TIOCGPGRP
    0x5410, // TIOCSPGRP
    0x5413, // TIOCGWINSZ
    0x5414, // TIOCSWINSZ
];
const TIOCGPTPEER: u32 = 0x5441;

/// What a process was running, shared by the records that name it.
#[derive(Debug)]
pub struct Image {
    /// Distinguishes images (an fd kept across an exec is read by another program).
    pub serial: u64,
    /// The exec'd path, resolved against the working directory.
    pub filename: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub argv_truncated: bool,
    pub interpreter: Option<String>,
    pub mode: Mode,
    /// The script operand resolved, for [`Mode::Script`].
    pub script: Option<Vec<u8>>,
    /// The exec that started it ([`Engine::execs`]), if seen.
    pub exec: Option<usize>,
}

/// A process that did something to an artifact: its pid and what it ran then.
#[derive(Clone, Debug)]
pub struct Actor {
    pub pid: u32,
    pub image: Arc<Image>,
}

fn add_actor(list: &mut Vec<Actor>, pid: u32, image: &Arc<Image>) {
    if !list
        .iter()
        .any(|a| a.pid == pid && Arc::ptr_eq(&a.image, image))
    {
        list.push(Actor {
            pid,
            image: image.clone(),
        });
    }
}

/// When an artifact was touched, by whom, and whether the query selects it.
#[derive(Clone, Debug, Default)]
pub struct Touch {
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub pids: Vec<u32>,
    /// A record that contributed to it is selected by the query (filter and time range).
    pub selected: bool,
}

impl Touch {
    fn touch(&mut self, ts: u64, pid: u32, selected: bool) {
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        if !self.pids.contains(&pid) {
            self.pids.push(pid);
        }
        self.selected |= selected;
    }
}

/// A mode change of a file.
#[derive(Clone, Debug)]
pub struct Chmod {
    pub ts: u64,
    pub pid: u32,
    pub mode: u32,
}

/// One generation of a file written during the capture: from its creation or truncation
/// to the end of the capture, its removal, or the next truncation.
#[derive(Debug)]
pub struct FileGen {
    pub ns: String,
    pub path: Vec<u8>,
    /// Earlier names (renames).
    pub renamed_from: Vec<Vec<u8>>,
    pub content: Content,
    /// Created (or truncated to empty) during the capture.
    pub created: bool,
    pub writes: u64,
    pub writers: Vec<Actor>,
    pub chmods: Vec<Chmod>,
    /// Execs of this file, or of an interpreter naming it as its script ([`Engine::execs`]).
    pub execs: Vec<usize>,
    pub deleted: Option<u64>,
    pub touch: Touch,
}

/// Where an interpreter read its program from a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadSource {
    /// A file it opened (its script operand, a `#!` script, a file dropped earlier).
    Interpreter,
    /// Its standard input, redirected from a file (`sh < f`).
    StdinRedirect,
}

/// What one interpreter process read from one open file.
#[derive(Debug)]
pub struct ReadArt {
    pub source: ReadSource,
    pub ns: String,
    pub path: Vec<u8>,
    pub pid: u32,
    pub image: Arc<Image>,
    pub content: Content,
    /// The file generation it read, when the capture saw it written.
    pub gen: Option<usize>,
    pub touch: Touch,
}

/// A pipe: one stream, written at one end and read at the other.
#[derive(Debug)]
pub struct Pipe {
    pub ns: String,
    pub content: Content,
    write_pos: u64,
    read_pos: u64,
    pub writers: Vec<Actor>,
    /// Interpreters that read their program from it.
    pub interpreters: Vec<Actor>,
    pub readers: Vec<Actor>,
    pub touch: Touch,
}

/// How a connection came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// connect(), or a datagram sent to an address.
    Outbound,
    /// accept().
    Inbound,
    /// A listening socket.
    Listen,
    /// One end of a socketpair.
    Pair,
    /// Open when the capture began, or never connected.
    Unknown,
}

/// One socket (one connection for stream sockets).
#[derive(Debug)]
pub struct Conn {
    pub ns: String,
    pub family: u16,
    /// SOCK_STREAM, SOCK_DGRAM...
    pub sock_type: u32,
    pub local: Option<SockAddr>,
    pub remote: Option<SockAddr>,
    pub direction: Direction,
    /// connect/accept time (or the first record).
    pub start: Option<u64>,
    /// When the last descriptor for it was closed.
    pub end: Option<u64>,
    /// connect() failed with this errno.
    pub error: Option<i64>,
    pub out: Content,
    pub inn: Content,
    out_pos: u64,
    in_pos: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Every send and receive with data, in time order: what "follow stream" interleaves.
    pub segments: Vec<ConnSegment>,
    pub actors: Vec<Actor>,
    pub peer: Option<usize>,
    pub listener: Option<usize>,
    pub accepted: u32,
    pub touch: Touch,
}

impl Conn {
    fn new(ns: String, family: u16, sock_type: u32, direction: Direction) -> Conn {
        Conn {
            ns,
            family,
            sock_type,
            local: None,
            remote: None,
            direction,
            start: None,
            end: None,
            error: None,
            out: Content::empty(),
            inn: Content::empty(),
            out_pos: 0,
            in_pos: 0,
            bytes_out: 0,
            bytes_in: 0,
            segments: Vec::new(),
            actors: Vec::new(),
            peer: None,
            listener: None,
            accepted: 0,
            touch: Touch::default(),
        }
    }
}

/// One send (`out`) or receive on a connection: where its bytes sit in that direction's
/// stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSegment {
    pub ts: u64,
    pub pid: u32,
    pub out: bool,
    pub offset: u64,
    pub len: u64,
}

/// One read from or write to a terminal.
#[derive(Clone, Debug)]
pub struct TtyIo {
    pub ts: u64,
    pub pid: u32,
    pub input: bool,
    pub data: Vec<u8>,
    pub len: u64,
    pub cut: Option<Cause>,
}

/// A terminal and everything read from and written to it.
#[derive(Debug)]
pub struct Tty {
    pub ns: String,
    /// Its device path, or `pty#N` when the capture never named it (a pty slave handed
    /// over by ioctl or inherited).
    pub name: String,
    pub io: Vec<TtyIo>,
    pub actors: Vec<Actor>,
    pub touch: Touch,
}

/// A `-c` (or `-e`...) program on an interpreter's command line.
#[derive(Debug)]
pub struct ArgArt {
    pub ns: String,
    pub pid: u32,
    pub image: Arc<Image>,
    pub code: Vec<u8>,
    pub exec: usize,
    pub touch: Touch,
}

/// One exec.
#[derive(Debug, Clone)]
pub struct ExecRec {
    pub ts: u64,
    pub pid: u32,
    pub ns: String,
    pub image: Arc<Image>,
    pub selected: bool,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A file: its generation when written (or seen written) during the capture.
    File(Option<usize>),
    Dir,
    Pipe(usize),
    Socket(usize),
    Tty(usize),
    PtyMaster,
    Other,
}

#[derive(Debug)]
struct Ofd {
    kind: Kind,
    ns: String,
    path: Option<Vec<u8>>,
    offset: Option<u64>,
    append: bool,
    refs: u32,
}

#[derive(Clone, Copy, Debug)]
struct Fd {
    ofd: usize,
    cloexec: bool,
}

#[derive(Debug, Clone)]
struct Proc {
    image: Arc<Image>,
    fds: HashMap<i32, Fd>,
    cwd: Option<Vec<u8>>,
    ns: String,
    /// The cgroup `ns` was last derived from.
    cgroup: u64,
}

/// The replay state and everything it recovered.
pub struct Engine<'a> {
    lookups: &'a Lookups,
    procs: HashMap<u32, Proc>,
    ofds: Vec<Ofd>,
    pub files: Vec<FileGen>,
    file_index: HashMap<(String, Vec<u8>), usize>,
    pub pipes: Vec<Pipe>,
    pub conns: Vec<Conn>,
    pub ttys: Vec<Tty>,
    tty_index: HashMap<(String, String), usize>,
    pub reads: Vec<ReadArt>,
    read_index: HashMap<(u32, usize, u64), Option<usize>>,
    pub args: Vec<ArgArt>,
    pub execs: Vec<ExecRec>,
    new_dirs: HashSet<(String, Vec<u8>)>,
    /// Named pipes made during the capture: not files.
    fifos: HashSet<(String, Vec<u8>)>,
    serial: u64,
    unnamed_ptys: u32,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn param(s: &SyscallEvent, slot: u8) -> Option<&ParamValue> {
    s.params.iter().find(|p| p.slot == slot).map(|p| &p.value)
}

fn path_param(s: &SyscallEvent, slot: u8) -> Option<&[u8]> {
    match param(s, slot) {
        Some(ParamValue::Path(p)) => Some(p),
        _ => None,
    }
}

fn addr_param(s: &SyscallEvent) -> Option<&SockAddr> {
    s.params.iter().find_map(|p: &Param| match &p.value {
        ParamValue::SockAddr(a) => Some(a),
        _ => None,
    })
}

/// The data a syscall moved: the captured bytes and why they stop short, if they do.
fn buffer(s: &SyscallEvent) -> (&[u8], Cause) {
    match s.params.iter().find_map(|p| match &p.value {
        ParamValue::Buffer(b) => Some(b),
        _ => None,
    }) {
        Some(b) => (
            if b.cut == BufferCut::Unreadable {
                &[][..]
            } else {
                &b.data[..]
            },
            match b.cut {
                BufferCut::Unreadable => Cause::Unreadable,
                _ => Cause::Snaplen,
            },
        ),
        None => (&[], Cause::Missing),
    }
}

fn fd_arg(v: u64) -> i32 {
    v as u32 as i32
}

fn family_of(a: &SockAddr) -> u16 {
    match a {
        SockAddr::Inet { .. } => AF_INET,
        SockAddr::Inet6 { .. } => AF_INET6,
        SockAddr::Unix(_) => AF_UNIX,
        SockAddr::Other { family, .. } => *family,
    }
}

impl<'a> Engine<'a> {
    /// An engine that starts from the capture's first process snapshot (the fds open when
    /// it began).
    pub fn new(lookups: &'a Lookups, snapshots: &[capture_format::ProcessSnapshot]) -> Self {
        let mut e = Engine {
            lookups,
            procs: HashMap::new(),
            ofds: Vec::new(),
            files: Vec::new(),
            file_index: HashMap::new(),
            pipes: Vec::new(),
            conns: Vec::new(),
            ttys: Vec::new(),
            tty_index: HashMap::new(),
            reads: Vec::new(),
            read_index: HashMap::new(),
            args: Vec::new(),
            execs: Vec::new(),
            new_dirs: HashSet::new(),
            fifos: HashSet::new(),
            serial: 0,
            unnamed_ptys: 0,
        };
        if let Some(snap) = snapshots.iter().min_by_key(|s| s.ts) {
            e.load_snapshot(snap);
        }
        e
    }

    fn ns_of(&self, cgroup_id: u64) -> Option<String> {
        if cgroup_id == 0 {
            return None;
        }
        Some(
            self.lookups
                .container(cgroup_id)
                .map_or_else(String::new, |c| c.id.clone()),
        )
    }

    fn image(
        &mut self,
        filename: Vec<u8>,
        argv: Vec<Vec<u8>>,
        truncated: bool,
        cwd: Option<&[u8]>,
        exec: Option<usize>,
    ) -> Arc<Image> {
        self.serial += 1;
        let interpreter = classify::interpreter_of(&filename, &argv);
        let mode = interpreter
            .as_deref()
            .map_or(Mode::Other, |i| classify::mode_of(i, &argv));
        let script = match &mode {
            Mode::Script(p) => Some(classify::resolve(cwd, p)),
            _ => None,
        };
        Arc::new(Image {
            serial: self.serial,
            filename,
            argv,
            argv_truncated: truncated,
            interpreter,
            mode,
            script,
            exec,
        })
    }

    fn new_ofd(&mut self, kind: Kind, ns: &str, path: Option<Vec<u8>>) -> usize {
        self.ofds.push(Ofd {
            kind,
            ns: ns.to_owned(),
            path,
            offset: Some(0),
            append: false,
            refs: 0,
        });
        self.ofds.len() - 1
    }

    fn tty(&mut self, ns: &str, name: String) -> usize {
        let key = (ns.to_owned(), name);
        if let Some(&i) = self.tty_index.get(&key) {
            return i;
        }
        self.ttys.push(Tty {
            ns: key.0.clone(),
            name: key.1.clone(),
            io: Vec::new(),
            actors: Vec::new(),
            touch: Touch::default(),
        });
        self.tty_index.insert(key, self.ttys.len() - 1);
        self.ttys.len() - 1
    }

    fn unnamed_tty(&mut self, ns: &str) -> usize {
        self.unnamed_ptys += 1;
        let name = format!("pty#{}", self.unnamed_ptys);
        self.tty(ns, name)
    }

    fn load_snapshot(&mut self, snap: &capture_format::ProcessSnapshot) {
        // Pipes and sockets are shared between processes: one object per inode name.
        let mut shared: HashMap<Vec<u8>, usize> = HashMap::new();
        for p in &snap.processes {
            if p.exit_ts.is_some() {
                continue;
            }
            let ns = self.ns_of(p.cgroup_id).unwrap_or_default();
            let filename = p.exe.clone().unwrap_or_else(|| p.comm.as_bytes().to_vec());
            let image = self.image(filename, p.argv.clone(), false, p.cwd.as_deref(), None);
            let mut fds = HashMap::new();
            for f in &p.fds {
                let ofd = match f.kind {
                    FdKind::Pipe | FdKind::Socket if shared.contains_key(&f.name) => {
                        shared[&f.name]
                    }
                    FdKind::Pipe => {
                        self.pipes.push(Pipe::new(&ns));
                        let pipe = self.pipes.len() - 1;
                        // Positions in a pipe open before the capture are relative.
                        self.pipes[pipe].content = Content::unknown();
                        let o = self.new_ofd(Kind::Pipe(pipe), &ns, None);
                        shared.insert(f.name.clone(), o);
                        o
                    }
                    FdKind::Socket => {
                        let family = f.local.as_ref().or(f.remote.as_ref()).map_or(0, family_of);
                        let mut c = Conn::new(ns.clone(), family, 1, Direction::Unknown);
                        c.local = f.local.clone();
                        c.remote = f.remote.clone();
                        c.out = Content::unknown();
                        c.inn = Content::unknown();
                        self.conns.push(c);
                        let o = self.new_ofd(Kind::Socket(self.conns.len() - 1), &ns, None);
                        shared.insert(f.name.clone(), o);
                        o
                    }
                    FdKind::Tty => {
                        let t = self.tty(&ns, text(&f.name));
                        self.new_ofd(Kind::Tty(t), &ns, Some(f.name.clone()))
                    }
                    FdKind::File => {
                        let o = self.new_ofd(Kind::File(None), &ns, Some(f.name.clone()));
                        self.ofds[o].offset = None;
                        o
                    }
                    FdKind::Directory => self.new_ofd(Kind::Dir, &ns, Some(f.name.clone())),
                    FdKind::Other => self.new_ofd(Kind::Other, &ns, Some(f.name.clone())),
                };
                self.ofds[ofd].refs += 1;
                fds.insert(
                    f.fd,
                    Fd {
                        ofd,
                        cloexec: false,
                    },
                );
            }
            self.procs.insert(
                p.pid,
                Proc {
                    image,
                    fds,
                    cwd: p.cwd.clone(),
                    ns,
                    cgroup: p.cgroup_id,
                },
            );
        }
    }

    fn proc_mut(&mut self, pid: u32) -> &mut Proc {
        if !self.procs.contains_key(&pid) {
            let image = self.image(Vec::new(), Vec::new(), false, None, None);
            self.procs.insert(
                pid,
                Proc {
                    image,
                    fds: HashMap::new(),
                    cwd: None,
                    ns: String::new(),
                    cgroup: 0,
                },
            );
        }
        self.procs.get_mut(&pid).expect("inserted above")
    }

    fn fd(&self, pid: u32, fd: i32) -> Option<usize> {
        self.procs.get(&pid)?.fds.get(&fd).map(|f| f.ofd)
    }

    fn release(&mut self, ofd: usize, ts: u64) {
        let o = &mut self.ofds[ofd];
        o.refs = o.refs.saturating_sub(1);
        if o.refs == 0 {
            if let Kind::Socket(c) = o.kind {
                self.conns[c].end = Some(ts);
            }
        }
    }

    fn install(&mut self, pid: u32, fd: i32, ofd: usize, cloexec: bool, ts: u64) {
        self.ofds[ofd].refs += 1;
        let old = self.proc_mut(pid).fds.insert(fd, Fd { ofd, cloexec });
        if let Some(old) = old {
            self.release(old.ofd, ts);
        }
    }

    fn close(&mut self, pid: u32, fd: i32, ts: u64) {
        if let Some(old) = self.procs.get_mut(&pid).and_then(|p| p.fds.remove(&fd)) {
            self.release(old.ofd, ts);
        }
    }

    /// Applies one record. `selected`: the query selects it (its artifacts are shown).
    pub fn apply(&mut self, e: &Event, selected: bool) {
        match &e.body {
            EventBody::Fork(f) => {
                if f.child_pid == e.pid {
                    return; // a thread shares the table
                }
                let parent = self.proc_mut(e.pid).clone();
                for fd in parent.fds.values() {
                    self.ofds[fd.ofd].refs += 1;
                }
                if let Some(old) = self.procs.insert(f.child_pid, parent) {
                    for fd in old.fds.values() {
                        self.release(fd.ofd, e.ts);
                    }
                }
            }
            EventBody::Exit(x) => {
                if x.group_dead {
                    if let Some(p) = self.procs.remove(&e.pid) {
                        for fd in p.fds.values() {
                            self.release(fd.ofd, e.ts);
                        }
                    }
                }
            }
            EventBody::Exec(x) => self.exec(e, x, selected),
            EventBody::Syscall(s) => {
                let Some(ret) = s.ret else { return };
                if ret < 0 && !matches!(syscall_name(s.abi, s.nr), Some("connect")) {
                    return;
                }
                if s.cgroup_id != 0 && self.proc_mut(e.pid).cgroup != s.cgroup_id {
                    let ns = self.ns_of(s.cgroup_id).unwrap_or_default();
                    let p = self.proc_mut(e.pid);
                    p.ns = ns;
                    p.cgroup = s.cgroup_id;
                }
                self.syscall(e, s, ret, selected);
            }
            EventBody::CgroupMkdir(_) => {}
        }
    }

    fn exec(&mut self, e: &Event, x: &ExecEvent, selected: bool) {
        let ns = self.ns_of(x.cgroup_id);
        let p = self.proc_mut(e.pid);
        if let Some(ns) = ns {
            p.ns = ns;
            p.cgroup = x.cgroup_id;
        }
        if x.cwd.is_some() {
            p.cwd = x.cwd.clone();
        }
        let cwd = p.cwd.clone();
        let ns = p.ns.clone();
        let closing: Vec<i32> = p
            .fds
            .iter()
            .filter(|(_, f)| f.cloexec)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in closing {
            self.close(e.pid, fd, e.ts);
        }
        let filename = classify::resolve(cwd.as_deref(), &x.filename);
        let exec = self.execs.len();
        let image = self.image(
            filename.clone(),
            x.argv.clone(),
            x.argv_truncated,
            cwd.as_deref(),
            Some(exec),
        );
        self.proc_mut(e.pid).image = image.clone();
        self.execs.push(ExecRec {
            ts: e.ts,
            pid: e.pid,
            ns: ns.clone(),
            image: image.clone(),
            selected,
        });
        // The exec'd file, and an interpreter's script operand, ran.
        let mut ran = vec![filename];
        if let Some(s) = &image.script {
            ran.push(s.clone());
        }
        for path in ran {
            if let Some(&g) = self.file_index.get(&(ns.clone(), path)) {
                if !self.files[g].execs.contains(&exec) {
                    self.files[g].execs.push(exec);
                    self.files[g].touch.selected |= selected;
                }
            }
        }
        if let Mode::Argument(code) = &image.mode {
            let mut touch = Touch::default();
            touch.touch(e.ts, e.pid, selected);
            self.args.push(ArgArt {
                ns,
                pid: e.pid,
                image: image.clone(),
                code: code.clone(),
                exec,
                touch,
            });
        }
    }

    /// The path a syscall names, resolved against `dirfd` (or the cwd).
    fn at_path(&self, pid: u32, dirfd: i32, path: &[u8]) -> Vec<u8> {
        let p = self.procs.get(&pid);
        let base = if path.first() == Some(&b'/') {
            None
        } else if dirfd == AT_FDCWD {
            p.and_then(|p| p.cwd.clone())
        } else {
            self.fd(pid, dirfd).and_then(|o| self.ofds[o].path.clone())
        };
        classify::resolve(base.as_deref(), path)
    }

    fn ns(&self, pid: u32) -> String {
        self.procs
            .get(&pid)
            .map(|p| p.ns.clone())
            .unwrap_or_default()
    }

    fn syscall(&mut self, e: &Event, s: &SyscallEvent, ret: i64, selected: bool) {
        // The class (capture-format's syscall table) says what the call does; the name
        // tells apart the variants of one class where their arguments differ.
        let Some(def) = syscall_def_of(s.abi, s.nr) else {
            return;
        };
        let name = def.name;
        let a = s.args;
        let pid = e.pid;
        let ts = e.ts;
        match def.class {
            Class::Open => {
                let (dirfd, slot, flags) = match name {
                    "open" => (AT_FDCWD, 0, a[1]),
                    "creat" => (AT_FDCWD, 0, 1 | O_CREAT | O_TRUNC),
                    "openat" => (fd_arg(a[0]), 1, a[2]),
                    _ => (fd_arg(a[0]), 1, 0),
                };
                let Some(path) = path_param(s, slot) else {
                    return;
                };
                let path = self.at_path(pid, dirfd, path);
                self.open(pid, ts, fd_arg(ret as u64), path, flags, selected);
            }
            Class::Close if name == "close" => self.close(pid, fd_arg(a[0]), ts),
            Class::Close => {
                let (first, last) = (a[0] as u32, a[1] as u32);
                let fds: Vec<i32> = self
                    .procs
                    .get(&pid)
                    .map(|p| {
                        p.fds
                            .keys()
                            .copied()
                            .filter(|&f| f >= 0 && (f as u32) >= first && (f as u32) <= last)
                            .collect()
                    })
                    .unwrap_or_default();
                for fd in fds {
                    if a[2] & CLOSE_RANGE_CLOEXEC != 0 {
                        if let Some(f) = self.proc_mut(pid).fds.get_mut(&fd) {
                            f.cloexec = true;
                        }
                    } else {
                        self.close(pid, fd, ts);
                    }
                }
            }
            Class::Dup => self.dup(
                pid,
                fd_arg(a[0]),
                fd_arg(ret as u64),
                name == "dup3" && a[2] & O_CLOEXEC != 0,
                ts,
            ),
            Class::Fcntl => match a[1] {
                0 => self.dup(pid, fd_arg(a[0]), fd_arg(ret as u64), false, ts),
                1030 => self.dup(pid, fd_arg(a[0]), fd_arg(ret as u64), true, ts),
                2 => {
                    if let Some(f) = self.proc_mut(pid).fds.get_mut(&fd_arg(a[0])) {
                        f.cloexec = a[2] & 1 != 0;
                    }
                }
                4 => {
                    if let Some(o) = self.fd(pid, fd_arg(a[0])) {
                        self.ofds[o].append = a[2] & O_APPEND != 0;
                    }
                }
                _ => {}
            },
            Class::Pipe => {
                let Some(ParamValue::Fds(fds)) = param(s, 0) else {
                    return;
                };
                let [r, w] = fds[..] else { return };
                let ns = self.ns(pid);
                self.pipes.push(Pipe::new(&ns));
                let pipe = self.pipes.len() - 1;
                let cloexec = name == "pipe2" && a[1] & O_CLOEXEC != 0;
                let ro = self.new_ofd(Kind::Pipe(pipe), &ns, None);
                let wo = self.new_ofd(Kind::Pipe(pipe), &ns, None);
                self.install(pid, r, ro, cloexec, ts);
                self.install(pid, w, wo, cloexec, ts);
            }
            Class::Socket if name == "socket" => {
                let ns = self.ns(pid);
                let c = Conn::new(
                    ns.clone(),
                    a[0] as u16,
                    (a[1] & SOCK_TYPE_MASK) as u32,
                    Direction::Unknown,
                );
                self.conns.push(c);
                let o = self.new_ofd(Kind::Socket(self.conns.len() - 1), &ns, None);
                self.install(pid, fd_arg(ret as u64), o, a[1] & O_CLOEXEC != 0, ts);
            }
            Class::Socket => {
                let Some(ParamValue::Fds(fds)) = param(s, 3) else {
                    return;
                };
                let [x, y] = fds[..] else { return };
                let ns = self.ns(pid);
                let ty = (a[1] & SOCK_TYPE_MASK) as u32;
                let cx = self.conns.len();
                for (fd, peer) in [(x, cx + 1), (y, cx)] {
                    let mut c = Conn::new(ns.clone(), a[0] as u16, ty, Direction::Pair);
                    c.peer = Some(peer);
                    c.start = Some(ts);
                    c.touch.touch(ts, pid, selected);
                    self.conns.push(c);
                    let o = self.new_ofd(Kind::Socket(self.conns.len() - 1), &ns, None);
                    self.install(pid, fd, o, a[1] & O_CLOEXEC != 0, ts);
                }
            }
            Class::Endpoint if name == "connect" => {
                let Some(c) = self.conn_of(pid, fd_arg(a[0])) else {
                    return;
                };
                let addr = addr_param(s).cloned();
                let image = self.proc_mut(pid).image.clone();
                let conn = &mut self.conns[c];
                if conn.direction == Direction::Outbound && conn.remote == addr && ret < 0 {
                    return; // a retried non-blocking connect
                }
                conn.remote = addr;
                // The local end the kernel chose, where the record has it (scap's
                // connect tuple, converted as a return-slot address).
                if let Some(local) = s.params.iter().find_map(|p| match &p.value {
                    ParamValue::SockAddr(a) if p.slot == Param::RETURN => Some(a),
                    _ => None,
                }) {
                    conn.local = Some(local.clone());
                }
                conn.direction = Direction::Outbound;
                conn.start = Some(ts);
                conn.error = (ret < 0 && ret != -EINPROGRESS).then_some(-ret);
                add_actor(&mut conn.actors, pid, &image);
                conn.touch.touch(ts, pid, selected);
            }
            Class::Endpoint if name == "bind" => {
                if let Some(c) = self.conn_of(pid, fd_arg(a[0])) {
                    self.conns[c].local = addr_param(s).cloned();
                }
            }
            Class::Endpoint if name == "listen" => {
                if let Some(c) = self.conn_of(pid, fd_arg(a[0])) {
                    let image = self.proc_mut(pid).image.clone();
                    let conn = &mut self.conns[c];
                    conn.direction = Direction::Listen;
                    conn.start.get_or_insert(ts);
                    add_actor(&mut conn.actors, pid, &image);
                    conn.touch.touch(ts, pid, selected);
                }
            }
            Class::Endpoint if name.starts_with("accept") => {
                let Some(l) = self.conn_of(pid, fd_arg(a[0])) else {
                    return;
                };
                let ns = self.ns(pid);
                let image = self.proc_mut(pid).image.clone();
                let (family, ty, local) = {
                    let lc = &mut self.conns[l];
                    lc.accepted += 1;
                    (lc.family, lc.sock_type, lc.local.clone())
                };
                let mut c = Conn::new(ns.clone(), family, ty, Direction::Inbound);
                c.local = local;
                c.remote = addr_param(s).cloned();
                c.start = Some(ts);
                c.listener = Some(l);
                add_actor(&mut c.actors, pid, &image);
                c.touch.touch(ts, pid, selected);
                self.conns.push(c);
                let o = self.new_ofd(Kind::Socket(self.conns.len() - 1), &ns, None);
                let cloexec = name == "accept4" && a[3] & O_CLOEXEC != 0;
                self.install(pid, fd_arg(ret as u64), o, cloexec, ts);
            }
            Class::Endpoint => {
                let (Some(c), Some(addr)) = (self.conn_of(pid, fd_arg(a[0])), addr_param(s)) else {
                    return;
                };
                let conn = &mut self.conns[c];
                if name == "getsockname" {
                    conn.local = Some(addr.clone());
                } else if conn.remote.is_none() {
                    conn.remote = Some(addr.clone());
                }
            }
            // pread64, preadv, preadv2 (and the pwrite family) name their offset in a[3].
            Class::Read => {
                let at = name.starts_with("pread").then_some(a[3]);
                self.read(pid, ts, fd_arg(a[0]), at, s, ret as u64, selected)
            }
            Class::Write => {
                let at = name.starts_with("pwrite").then_some(a[3]);
                self.write(pid, ts, fd_arg(a[0]), at, s, ret as u64, selected)
            }
            Class::Transfer => {
                // The data moves inside the kernel: the records do not carry it.
                let (fd_in, fd_out) = match name {
                    "sendfile" | "sendfile64" => (fd_arg(a[1]), fd_arg(a[0])),
                    _ => (fd_arg(a[0]), fd_arg(a[2])),
                };
                let in_ptr = if name.starts_with("sendfile") {
                    a[2]
                } else {
                    a[1]
                };
                // From a file at its own offset (`cp` uses copy_file_range so), the bytes
                // are known when the capture saw that file's range written or read: the
                // copy carries them, and a dropped file copied elsewhere is rebuilt too.
                let mut known = None;
                if in_ptr == 0 {
                    if let Some(o) = self.fd(pid, fd_in) {
                        if let Some(off) = self.ofds[o].offset {
                            if let Kind::File(Some(g)) = self.ofds[o].kind {
                                known = self.files[g].content.bytes(off, off + ret as u64);
                            }
                            self.ofds[o].offset = Some(off + ret as u64);
                        }
                    }
                }
                let copied = SyscallEvent {
                    params: known
                        .map(|data| {
                            vec![Param {
                                slot: 1,
                                value: ParamValue::Buffer(Buffer {
                                    data,
                                    original_len: ret as u64,
                                    cut: BufferCut::Whole,
                                }),
                            }]
                        })
                        .unwrap_or_default(),
                    ..s.clone()
                };
                self.write(pid, ts, fd_out, None, &copied, ret as u64, selected);
            }
            Class::Seek => {
                if let Some(o) = self.fd(pid, fd_arg(a[0])) {
                    self.ofds[o].offset = Some(ret as u64);
                }
            }
            Class::Truncate if name == "ftruncate" => {
                if let Some(o) = self.fd(pid, fd_arg(a[0])) {
                    self.truncate_ofd(o, a[1], ts, pid, selected);
                }
            }
            Class::Truncate => {
                let Some(path) = path_param(s, 0) else { return };
                let path = self.at_path(pid, AT_FDCWD, path);
                let ns = self.ns(pid);
                if let Some(&g) = self.file_index.get(&(ns, path)) {
                    self.files[g].content.truncate(a[1]);
                    self.files[g].touch.touch(ts, pid, selected);
                }
            }
            Class::Chmod => {
                let (gen, mode) = match name {
                    "fchmod" => (
                        self.fd(pid, fd_arg(a[0]))
                            .and_then(|o| match self.ofds[o].kind {
                                Kind::File(g) => g,
                                _ => None,
                            }),
                        a[1],
                    ),
                    _ => {
                        let (dirfd, slot, mode) = if name == "chmod" {
                            (AT_FDCWD, 0, a[1])
                        } else {
                            (fd_arg(a[0]), 1, a[2])
                        };
                        let Some(path) = path_param(s, slot) else {
                            return;
                        };
                        let path = self.at_path(pid, dirfd, path);
                        let ns = self.ns(pid);
                        (self.file_index.get(&(ns, path)).copied(), mode)
                    }
                };
                if let Some(g) = gen {
                    self.files[g].chmods.push(Chmod {
                        ts,
                        pid,
                        mode: mode as u32,
                    });
                    self.files[g].touch.touch(ts, pid, selected);
                }
            }
            Class::Rename => {
                let (d1, s1, d2, s2) = if name == "rename" {
                    (AT_FDCWD, 0, AT_FDCWD, 1)
                } else {
                    (fd_arg(a[0]), 1, fd_arg(a[2]), 3)
                };
                let (Some(from), Some(to)) = (path_param(s, s1), path_param(s, s2)) else {
                    return;
                };
                let from = self.at_path(pid, d1, from);
                let to = self.at_path(pid, d2, to);
                let ns = self.ns(pid);
                if let Some(old) = self.file_index.remove(&(ns.clone(), to.clone())) {
                    self.files[old].deleted.get_or_insert(ts);
                }
                if let Some(g) = self.file_index.remove(&(ns.clone(), from.clone())) {
                    let f = &mut self.files[g];
                    f.renamed_from
                        .push(std::mem::replace(&mut f.path, to.clone()));
                    f.touch.touch(ts, pid, selected);
                    self.file_index.insert((ns, to), g);
                }
            }
            Class::Unlink => {
                let (dirfd, slot) = if name == "unlink" {
                    (AT_FDCWD, 0)
                } else {
                    (fd_arg(a[0]), 1)
                };
                let Some(path) = path_param(s, slot) else {
                    return;
                };
                let path = self.at_path(pid, dirfd, path);
                let ns = self.ns(pid);
                if let Some(g) = self.file_index.remove(&(ns, path)) {
                    self.files[g].deleted = Some(ts);
                    self.files[g].touch.touch(ts, pid, selected);
                }
            }
            Class::Mknod => {
                const S_IFMT: u64 = 0o170000;
                const S_IFIFO: u64 = 0o010000;
                let (dirfd, slot, mode) = if name == "mknod" {
                    (AT_FDCWD, 0, a[1])
                } else {
                    (fd_arg(a[0]), 1, a[2])
                };
                let Some(path) = path_param(s, slot) else {
                    return;
                };
                if mode & S_IFMT == S_IFIFO {
                    let path = self.at_path(pid, dirfd, path);
                    let ns = self.ns(pid);
                    self.fifos.insert((ns, path));
                }
            }
            Class::Mkdir => {
                let (dirfd, slot) = if name == "mkdir" {
                    (AT_FDCWD, 0)
                } else {
                    (fd_arg(a[0]), 1)
                };
                let Some(path) = path_param(s, slot) else {
                    return;
                };
                let path = self.at_path(pid, dirfd, path);
                let ns = self.ns(pid);
                self.new_dirs.insert((ns, path));
            }
            Class::Chdir if name == "chdir" => {
                let Some(path) = path_param(s, 0) else { return };
                let path = self.at_path(pid, AT_FDCWD, path);
                self.proc_mut(pid).cwd = Some(path);
            }
            Class::Chdir => {
                let path = self
                    .fd(pid, fd_arg(a[0]))
                    .and_then(|o| self.ofds[o].path.clone());
                if path.is_some() {
                    self.proc_mut(pid).cwd = path;
                }
            }
            Class::Ioctl => self.ioctl(pid, fd_arg(a[0]), a[1] as u32, ret, ts),
            // Classes the replay does not follow (Class::replayed).
            _ => {}
        }
    }

    fn conn_of(&self, pid: u32, fd: i32) -> Option<usize> {
        match self.ofds[self.fd(pid, fd)?].kind {
            Kind::Socket(c) => Some(c),
            _ => None,
        }
    }

    fn dup(&mut self, pid: u32, old: i32, new: i32, cloexec: bool, ts: u64) {
        if old == new {
            return;
        }
        if let Some(o) = self.fd(pid, old) {
            self.install(pid, new, o, cloexec, ts);
        } else {
            // Unknown source: whatever `new` was is gone.
            self.close(pid, new, ts);
        }
    }

    fn open(&mut self, pid: u32, ts: u64, fd: i32, path: Vec<u8>, flags: u64, selected: bool) {
        let ns = self.ns(pid);
        let cloexec = flags & O_CLOEXEC != 0;
        // /dev/fd/N and /proc/self/fd/N reopen what fd N is (a pipe for `bash <(...)`).
        for prefix in [&b"/dev/fd/"[..], b"/proc/self/fd/"] {
            if let Some(n) = path.strip_prefix(prefix) {
                if let Some(src) = std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse::<i32>().ok())
                    .and_then(|n| self.fd(pid, n))
                {
                    let kind = self.ofds[src].kind;
                    let o = self.new_ofd(kind, &ns, Some(path.clone()));
                    self.install(pid, fd, o, cloexec, ts);
                    return;
                }
            }
        }
        let kind = if path == b"/dev/ptmx" || path == b"/dev/pts/ptmx" {
            Kind::PtyMaster
        } else if path == b"/dev/tty" {
            // The caller's controlling terminal: the one on its standard streams.
            let own = self.procs.get(&pid).and_then(|p| {
                (0..3).find_map(|i| match self.ofds[p.fds.get(&i)?.ofd].kind {
                    Kind::Tty(t) => Some(t),
                    _ => None,
                })
            });
            Kind::Tty(own.unwrap_or_else(|| self.tty(&ns, "/dev/tty".into())))
        } else if classify::is_tty_path(&path) {
            Kind::Tty(self.tty(&ns, text(&path)))
        } else if flags & O_DIRECTORY != 0 {
            Kind::Dir
        } else if classify::is_pseudo(&path) || self.fifos.contains(&(ns.clone(), path.clone())) {
            Kind::Other
        } else {
            let writing = flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0;
            let key = (ns.clone(), path.clone());
            let current = self.file_index.get(&key).copied();
            let gen = if writing && flags & O_TRUNC != 0 {
                Some(self.new_gen(&ns, &path, true))
            } else if writing && current.is_none() {
                let parent = classify::resolve(None, &path);
                let dir = parent[..parent.iter().rposition(|&c| c == b'/').unwrap_or(0)].to_vec();
                let new = flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL
                    || self.new_dirs.contains(&(ns.clone(), dir));
                Some(self.new_gen(&ns, &path, new))
            } else {
                current
            };
            if let Some(g) = gen {
                self.files[g].touch.touch(ts, pid, selected && writing);
            }
            Kind::File(gen)
        };
        let o = self.new_ofd(kind, &ns, Some(path));
        self.ofds[o].append = flags & O_APPEND != 0;
        self.install(pid, fd, o, cloexec, ts);
    }

    fn new_gen(&mut self, ns: &str, path: &[u8], created: bool) -> usize {
        let key = (ns.to_owned(), path.to_vec());
        if let Some(old) = self.file_index.get(&key).copied() {
            // The earlier generation ends here (it is kept as it was).
            let _ = old;
        }
        self.files.push(FileGen {
            ns: ns.to_owned(),
            path: path.to_vec(),
            renamed_from: Vec::new(),
            content: if created {
                Content::empty()
            } else {
                Content::unknown()
            },
            created,
            writes: 0,
            writers: Vec::new(),
            chmods: Vec::new(),
            execs: Vec::new(),
            deleted: None,
            touch: Touch::default(),
        });
        let g = self.files.len() - 1;
        self.file_index.insert(key, g);
        g
    }

    fn truncate_ofd(&mut self, o: usize, len: u64, ts: u64, pid: u32, selected: bool) {
        if let Kind::File(Some(g)) = self.ofds[o].kind {
            self.files[g].content.truncate(len);
            if len == 0 {
                self.files[g].created = true;
            }
            self.files[g].touch.touch(ts, pid, selected);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        pid: u32,
        ts: u64,
        fd: i32,
        at: Option<u64>,
        s: &SyscallEvent,
        n: u64,
        selected: bool,
    ) {
        let Some(o) = self.fd(pid, fd) else { return };
        let (data, cut) = buffer(s);
        let image = self.proc_mut(pid).image.clone();
        match self.ofds[o].kind {
            Kind::File(gen) => {
                let gen = match gen {
                    Some(g) => g,
                    None => {
                        let (ns, path) = (self.ofds[o].ns.clone(), self.ofds[o].path.clone());
                        let Some(path) = path else { return };
                        let g = self
                            .file_index
                            .get(&(ns.clone(), path.clone()))
                            .copied()
                            .unwrap_or_else(|| self.new_gen(&ns, &path, false));
                        self.ofds[o].kind = Kind::File(Some(g));
                        g
                    }
                };
                let ofd = &mut self.ofds[o];
                let f = &mut self.files[gen];
                let pos = match at {
                    Some(p) => p,
                    None if ofd.append => f.content.size().unwrap_or_else(|| {
                        f.content.set_unknown_prefix();
                        f.content.extent()
                    }),
                    None => ofd.offset.unwrap_or_else(|| {
                        f.content.set_unknown_prefix();
                        f.content.extent()
                    }),
                };
                f.content.write(pos, data, n, cut);
                f.writes += 1;
                add_actor(&mut f.writers, pid, &image);
                f.touch.touch(ts, pid, selected);
                if at.is_none() {
                    ofd.offset = Some(pos + n);
                }
            }
            Kind::Pipe(p) => {
                let pipe = &mut self.pipes[p];
                pipe.content.observe(pipe.write_pos, data, n, cut);
                pipe.write_pos += n;
                add_actor(&mut pipe.writers, pid, &image);
                pipe.touch.touch(ts, pid, selected);
            }
            Kind::Socket(c) => {
                let conn = &mut self.conns[c];
                if conn.remote.is_none() {
                    if let Some(addr) = addr_param(s) {
                        conn.remote = Some(addr.clone());
                        conn.direction = Direction::Outbound;
                        conn.start.get_or_insert(ts);
                    }
                }
                conn.out.observe(conn.out_pos, data, n, cut);
                if n > 0 {
                    conn.segments.push(ConnSegment {
                        ts,
                        pid,
                        out: true,
                        offset: conn.out_pos,
                        len: n,
                    });
                }
                conn.out_pos += n;
                conn.bytes_out += n;
                add_actor(&mut conn.actors, pid, &image);
                conn.touch.touch(ts, pid, selected);
            }
            Kind::Tty(t) => self.tty_io(t, pid, &image, ts, false, data, n, cut, selected),
            Kind::Dir | Kind::PtyMaster | Kind::Other => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tty_io(
        &mut self,
        t: usize,
        pid: u32,
        image: &Arc<Image>,
        ts: u64,
        input: bool,
        data: &[u8],
        n: u64,
        cut: Cause,
        selected: bool,
    ) {
        if n == 0 {
            return;
        }
        let tty = &mut self.ttys[t];
        let kept = (data.len() as u64).min(n);
        tty.io.push(TtyIo {
            ts,
            pid,
            input,
            data: data[..kept as usize].to_vec(),
            len: n,
            cut: (kept < n).then_some(cut),
        });
        add_actor(&mut tty.actors, pid, image);
        tty.touch.touch(ts, pid, selected);
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        pid: u32,
        ts: u64,
        fd: i32,
        at: Option<u64>,
        s: &SyscallEvent,
        n: u64,
        selected: bool,
    ) {
        let Some(o) = self.fd(pid, fd) else { return };
        let (data, cut) = buffer(s);
        let image = self.proc_mut(pid).image.clone();
        match self.ofds[o].kind {
            Kind::File(gen) => {
                let Some(pos) = at.or(self.ofds[o].offset) else {
                    return;
                };
                if at.is_none() {
                    self.ofds[o].offset = Some(pos + n);
                }
                // Still unknown: the generation written later at this path (a read
                // before any write saw older content).
                if let Some(g) = gen {
                    let f = &mut self.files[g];
                    if n == 0 {
                        f.content.eof_at(pos);
                    } else {
                        f.content.observe(pos, data, n, cut);
                    }
                }
                if let Some(r) = self.interpreter_read(pid, fd, o, &image, ts, selected) {
                    // What the file held there, as its writes during the capture say,
                    // is what the read returned (whatever part of it was captured).
                    let known = gen
                        .map(|g| self.files[g].content.data_in(pos, pos + n))
                        .unwrap_or_default();
                    let art = &mut self.reads[r];
                    if n == 0 {
                        art.content.eof_at(pos);
                    } else {
                        art.content.observe(pos, data, n, cut);
                        for (at, bytes) in known {
                            art.content.observe(at, &bytes, bytes.len() as u64, cut);
                        }
                    }
                    art.touch.touch(ts, pid, selected);
                }
            }
            Kind::Pipe(p) => {
                let script = image.interpreter.is_some()
                    && ((fd == 0 && image.mode == Mode::Stdin)
                        || (self.ofds[o].path.is_some() && self.ofds[o].path == image.script));
                let pipe = &mut self.pipes[p];
                if n == 0 {
                    pipe.content.eof_at(pipe.read_pos);
                } else {
                    pipe.content.observe(pipe.read_pos, data, n, cut);
                }
                pipe.read_pos += n;
                add_actor(&mut pipe.readers, pid, &image);
                if script {
                    add_actor(&mut pipe.interpreters, pid, &image);
                }
                pipe.touch.touch(ts, pid, selected);
            }
            Kind::Socket(c) => {
                let conn = &mut self.conns[c];
                if conn.remote.is_none() {
                    if let Some(addr) = addr_param(s) {
                        conn.remote = Some(addr.clone());
                        conn.start.get_or_insert(ts);
                    }
                }
                if n > 0 {
                    conn.inn.observe(conn.in_pos, data, n, cut);
                    conn.segments.push(ConnSegment {
                        ts,
                        pid,
                        out: false,
                        offset: conn.in_pos,
                        len: n,
                    });
                    conn.in_pos += n;
                    conn.bytes_in += n;
                } else if conn.sock_type == 1 {
                    conn.inn.eof_at(conn.in_pos);
                }
                add_actor(&mut conn.actors, pid, &image);
                conn.touch.touch(ts, pid, selected);
            }
            Kind::Tty(t) => self.tty_io(t, pid, &image, ts, true, data, n, cut, selected),
            Kind::Dir | Kind::PtyMaster | Kind::Other => {}
        }
    }

    /// The artifact an interpreter's read of a file goes to, if the file is its program:
    /// its script operand, the `#!` script it was exec'd as, a file written during the
    /// capture, or its standard input redirected from a file.
    fn interpreter_read(
        &mut self,
        pid: u32,
        fd: i32,
        o: usize,
        image: &Arc<Image>,
        ts: u64,
        selected: bool,
    ) -> Option<usize> {
        image.interpreter.as_ref()?;
        let key = (pid, o, image.serial);
        if let Some(&r) = self.read_index.get(&key) {
            return r;
        }
        let ofd = &self.ofds[o];
        let path = ofd.path.clone()?;
        let gen = match ofd.kind {
            Kind::File(g) => g,
            _ => None,
        };
        let written = gen.is_some_and(|g| self.files[g].writes > 0) && !path.ends_with(b"_history");
        // Standard streams redirected from a file are data (`read x < f`), except for an
        // interpreter that takes its program from standard input (`sh < f`).
        let source = if fd == 0 && image.mode == Mode::Stdin {
            Some(ReadSource::StdinRedirect)
        } else if fd > 2
            && (image.script.as_ref() == Some(&path) || image.filename == path || written)
        {
            Some(ReadSource::Interpreter)
        } else {
            None
        };
        let r = source.map(|source| {
            let mut touch = Touch::default();
            touch.touch(ts, pid, selected);
            self.reads.push(ReadArt {
                source,
                ns: ofd.ns.clone(),
                path,
                pid,
                image: image.clone(),
                content: Content::unknown(),
                gen,
                touch,
            });
            self.reads.len() - 1
        });
        self.read_index.insert(key, r);
        r
    }

    fn ioctl(&mut self, pid: u32, fd: i32, req: u32, ret: i64, ts: u64) {
        let ns = self.ns(pid);
        if req == TIOCGPTPEER && ret >= 0 {
            let t = self.unnamed_tty(&ns);
            let o = self.new_ofd(Kind::Tty(t), &ns, None);
            self.install(pid, fd_arg(ret as u64), o, false, ts);
            return;
        }
        if ret != 0 || !TTY_IOCTLS.contains(&req) {
            return;
        }
        match self.fd(pid, fd) {
            Some(o) => {
                if matches!(self.ofds[o].kind, Kind::Other | Kind::File(None)) {
                    let t = self.unnamed_tty(&ns);
                    self.ofds[o].kind = Kind::Tty(t);
                }
            }
            None => {
                // An fd the capture never saw opened (inherited from before it began).
                let t = self.unnamed_tty(&ns);
                let o = self.new_ofd(Kind::Tty(t), &ns, None);
                self.install(pid, fd, o, false, ts);
            }
        }
    }
}

impl Pipe {
    fn new(ns: &str) -> Pipe {
        Pipe {
            ns: ns.to_owned(),
            content: Content::empty(),
            write_pos: 0,
            read_pos: 0,
            writers: Vec::new(),
            interpreters: Vec::new(),
            readers: Vec::new(),
            touch: Touch::default(),
        }
    }
}
