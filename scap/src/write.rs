//! A scap file from a capture: what sysdig, Falco's replay and Stratoshark open.
//!
//! Layout, in the order libscap's own dumper writes it: the section header (1.2), machine
//! info, the process list (v9 entries, each with its length), each process's fds, the
//! user list, then every event block (v2: with the parameter count). Each syscall record
//! becomes its scap enter event at its start and its exit event at its end, with the
//! parameters of the event table in `table.rs` (the 2022 layouts sysdig 0.29 reads) and
//! the data buffers exactly as recorded (snaplen cuts stay cut). Lifecycle records become
//! the events sysdig rebuilds processes from: a fork is the child's clone exit, an exit a
//! procexit. Syscalls this writer has no scap layout for are counted, not guessed.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use capture_format::{
    syscall_name, Abi, Completion, Event, EventBody, FdKind, Metadata, ParamValue, SockAddr,
};

use crate::parse::{EV_V2, EV_V2_LARGE, FDL, MI, PL_V9, SHB, SHB_MAGIC, UL};
use crate::table::{self, K};

/// What the export wrote and what it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub processes: u64,
    pub events_in: u64,
    /// scap events written (a syscall is two).
    pub scap_events: u64,
    /// Syscalls with no scap layout in this writer, by name: not written.
    pub skipped: BTreeMap<String, u64>,
    /// Damaged parts of the source capture that could not be read (each said why).
    pub unreadable: Vec<String>,
}

impl ExportStats {
    pub fn skipped_line(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let n: u64 = self.skipped.values().sum();
        let parts: Vec<String> = self
            .skipped
            .iter()
            .map(|(k, v)| format!("{k}x{v}"))
            .collect();
        Some(format!(
            "{n} syscall record(s) without a scap layout in this writer were not exported: {}",
            parts.join(", ")
        ))
    }
}

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend(std::iter::repeat_n(0u8, pad));
    out.extend_from_slice(&total.to_le_bytes());
}

fn str16(out: &mut Vec<u8>, s: &[u8]) {
    let s = &s[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

/// NUL-terminated items back to back, as scap stores argv tails and cgroups.
fn nul_list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for i in items {
        v.extend_from_slice(i);
        v.push(0);
    }
    v
}

/// Linux x86_64 O_* bits as scap's portable PPM_O_* flags.
pub fn ppm_open_flags(linux: u64) -> u64 {
    let mut f = match linux & 3 {
        0 => 1, // PPM_O_RDONLY
        1 => 2, // PPM_O_WRONLY
        _ => 3, // PPM_O_RDWR
    };
    for (bit, ppm) in [
        (0o100u64, 1u64 << 2),
        (0o2000, 1 << 3),
        (0o10000, 1 << 4),
        (0o200, 1 << 5),
        (0o4000, 1 << 6),
        (0o4000000, 1 << 7),
        (0o1000, 1 << 8),
        (0o40000, 1 << 9),
        (0o200000, 1 << 10),
        (0o100000, 1 << 11),
        (0o2000000, 1 << 12),
        (0o20000000, 1 << 13),
    ] {
        if linux & bit == bit {
            f |= ppm;
        }
    }
    f
}

/// A socket address in scap's form: family byte, address, port in host order.
pub fn ppm_sockaddr(sa: &SockAddr) -> Vec<u8> {
    let mut v = Vec::new();
    match sa {
        SockAddr::Inet { addr, port } => {
            v.push(2);
            v.extend_from_slice(addr);
            v.extend_from_slice(&port.to_le_bytes());
        }
        SockAddr::Inet6 { addr, port, .. } => {
            v.push(10);
            v.extend_from_slice(addr);
            v.extend_from_slice(&port.to_le_bytes());
        }
        SockAddr::Unix(p) => {
            v.push(1);
            v.extend_from_slice(p);
            v.push(0);
        }
        SockAddr::Other { family, raw } => {
            v.push(*family as u8);
            v.extend_from_slice(raw);
        }
    }
    v
}

/// A tuple with an unknown source (zeros: the recorder does not see the local end of a
/// connect) and `dst`; or both ends.
pub fn ppm_tuple(src: Option<&SockAddr>, dst: &SockAddr) -> Vec<u8> {
    let mut v = Vec::new();
    match dst {
        SockAddr::Inet { addr, port } => {
            v.push(2);
            match src {
                Some(SockAddr::Inet { addr, port }) => {
                    v.extend_from_slice(addr);
                    v.extend_from_slice(&port.to_le_bytes());
                }
                _ => v.extend_from_slice(&[0; 6]),
            }
            v.extend_from_slice(addr);
            v.extend_from_slice(&port.to_le_bytes());
        }
        SockAddr::Inet6 { addr, port, .. } => {
            v.push(10);
            match src {
                Some(SockAddr::Inet6 { addr, port, .. }) => {
                    v.extend_from_slice(addr);
                    v.extend_from_slice(&port.to_le_bytes());
                }
                _ => v.extend_from_slice(&[0; 18]),
            }
            v.extend_from_slice(addr);
            v.extend_from_slice(&port.to_le_bytes());
        }
        SockAddr::Unix(p) => {
            v.push(1);
            v.extend_from_slice(&[0; 16]);
            v.extend_from_slice(p);
            v.push(0);
        }
        SockAddr::Other { .. } => {}
    }
    v
}

/// A parameter value, stored by the table's kind for its slot.
#[derive(Clone, Debug)]
enum V {
    Int(i64),
    Bytes(Vec<u8>),
}

/// One scap event: a v2 header (with the parameter count), the lengths, the values.
fn scap_event(code: u16, ts: u64, tid: u64, values: &dyn Fn(&str) -> Option<V>) -> (Vec<u8>, bool) {
    let info = table::lookup(code).expect("the writer uses codes from its table");
    let mut data: Vec<Vec<u8>> = Vec::with_capacity(info.params.len());
    for &(name, kind) in info.params {
        let v = values(name);
        let int = |v: &Option<V>| match v {
            Some(V::Int(i)) => *i,
            _ => 0,
        };
        data.push(match kind {
            K::N8 => int(&v).to_le_bytes().to_vec(),
            K::N4 => (int(&v) as u32).to_le_bytes().to_vec(),
            K::N2 => (int(&v) as u16).to_le_bytes().to_vec(),
            K::N1 => vec![int(&v) as u8],
            K::Path | K::Str => {
                let mut b = match v {
                    Some(V::Bytes(b)) => b,
                    _ => Vec::new(),
                };
                b.push(0);
                b
            }
            K::Buf | K::Addr | K::Tuple | K::FdList | K::Dyn => match v {
                Some(V::Bytes(b)) => b,
                _ => Vec::new(),
            },
        });
    }
    let large = data.iter().any(|d| d.len() > u16::MAX as usize);
    let lsize = if large { 4 } else { 2 };
    let len = 26 + data.len() * lsize + data.iter().map(Vec::len).sum::<usize>();
    let mut e = Vec::with_capacity(len);
    e.extend_from_slice(&ts.to_le_bytes());
    e.extend_from_slice(&tid.to_le_bytes());
    e.extend_from_slice(&(len as u32).to_le_bytes());
    e.extend_from_slice(&code.to_le_bytes());
    e.extend_from_slice(&(data.len() as u32).to_le_bytes());
    for d in &data {
        if large {
            e.extend_from_slice(&(d.len() as u32).to_le_bytes());
        } else {
            e.extend_from_slice(&(d.len() as u16).to_le_bytes());
        }
    }
    for d in &data {
        e.extend_from_slice(d);
    }
    (e, large)
}

/// What a process looked like, for the events that restate it (clone, execve exits).
#[derive(Clone, Default)]
struct Proc {
    ppid: u32,
    comm: Vec<u8>,
    argv: Vec<Vec<u8>>,
    cwd: Vec<u8>,
    uid: u32,
    gid: u32,
}

fn comm_of(path: &[u8]) -> Vec<u8> {
    let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    base[..base.len().min(15)].to_vec()
}

struct Writer {
    procs: HashMap<u32, Proc>,
    offset: i64,
    /// (time, cpu, event bytes, large): sorted before writing, so enter/exit halves and
    /// lifecycle events interleave in time as a live capture has them.
    events: Vec<(u64, u16, Vec<u8>, bool)>,
    /// Successful execve's whose exit waits for their exec record: tid -> (end, cpu, pid).
    exec_exits: HashMap<u32, (u64, u32, u32)>,
    stats: ExportStats,
}

impl Writer {
    fn epoch(&self, boot: u64) -> u64 {
        (boot as i64).saturating_add(self.offset).max(0) as u64
    }

    fn emit(
        &mut self,
        code: u16,
        boot_ts: u64,
        cpu: u32,
        tid: u32,
        values: &dyn Fn(&str) -> Option<V>,
    ) {
        let ts = self.epoch(boot_ts);
        let (bytes, large) = scap_event(code, ts, tid as u64, values);
        self.events.push((ts, cpu as u16, bytes, large));
        self.stats.scap_events += 1;
    }

    fn proc_values(&self, pid: u32, tid: u32, res: i64) -> impl Fn(&str) -> Option<V> + 'static {
        let p = self.procs.get(&pid).cloned().unwrap_or_default();
        move |name: &str| {
            Some(match name {
                "res" => V::Int(res),
                "exe" => V::Bytes(p.argv.first().cloned().unwrap_or_default()),
                "args" => V::Bytes(nul_list(p.argv.get(1..).unwrap_or_default())),
                "tid" => V::Int(tid as i64),
                "pid" => V::Int(pid as i64),
                "ptid" => V::Int(p.ppid as i64),
                "cwd" => V::Bytes(p.cwd.clone()),
                "comm" => V::Bytes(p.comm.clone()),
                "uid" => V::Int(p.uid as i64),
                "gid" => V::Int(p.gid as i64),
                "vtid" => V::Int(tid as i64),
                "vpid" => V::Int(pid as i64),
                "loginuid" => V::Int(-1),
                "fdlimit" => V::Int(1024),
                _ => return None,
            })
        }
    }

    fn event(&mut self, e: &Event) {
        self.stats.events_in += 1;
        match &e.body {
            EventBody::Syscall(s) => self.syscall(e, s),
            EventBody::Fork(f) => {
                let parent = self.procs.get(&e.pid).cloned().unwrap_or_default();
                let child = Proc {
                    ppid: e.pid,
                    ..parent
                };
                let thread = f.child_pid == e.pid;
                if !thread {
                    self.procs.insert(f.child_pid, child);
                }
                let flags = if thread { 1i64 << 13 } else { 0 };
                let base = self.proc_values(f.child_pid, f.child_tid, 0);
                let vals = |n: &str| match n {
                    "flags" => Some(V::Int(flags)),
                    "ptid" => Some(V::Int(e.tid as i64)),
                    _ => base(n),
                };
                let (ts, cpu, tid) = (e.ts, e.cpu, f.child_tid);
                let (bytes, large) =
                    scap_event(table::CLONE_20_E + 1, self.epoch(ts), tid as u64, &vals);
                self.events.push((self.epoch(ts), cpu as u16, bytes, large));
                self.stats.scap_events += 1;
            }
            EventBody::Exec(x) => {
                // The execve syscall record carries the exec to scap; the lifecycle record
                // updates what later events restate about the process.
                let p = self.procs.entry(e.pid).or_default();
                p.comm = comm_of(&x.filename);
                p.argv = x.argv.clone();
                p.ppid = x.ppid;
                p.uid = x.uid;
                p.gid = x.gid;
                if let Some(c) = &x.cwd {
                    p.cwd = c.clone();
                }
                if let Some((end, cpu, pid)) = self.exec_exits.remove(&e.tid) {
                    self.execve_exit(end, cpu, pid, e.tid);
                }
            }
            EventBody::Exit(x) => {
                let status = x.status as i64;
                self.emit(table::PROCEXIT_1_E, e.ts, e.cpu, e.tid, &|n| {
                    Some(V::Int(match n {
                        "status" => status,
                        "ret" => (status >> 8) & 0xff,
                        "sig" => status & 0x7f,
                        _ => 0,
                    }))
                });
            }
            EventBody::CgroupMkdir(_) => {}
        }
    }

    /// A successful execve's exit event, with the process as it now is.
    fn execve_exit(&mut self, end: u64, cpu: u32, pid: u32, tid: u32) {
        let vals = self.proc_values(pid, tid, 0);
        let (bytes, large) = scap_event(table::EXECVE_19_E + 1, self.epoch(end), tid as u64, &vals);
        self.events
            .push((self.epoch(end), cpu as u16, bytes, large));
        self.stats.scap_events += 1;
    }

    fn syscall(&mut self, e: &Event, s: &capture_format::SyscallEvent) {
        let name = syscall_name(s.abi, s.nr).unwrap_or("");
        let code = match (s.abi, name) {
            (Abi::X86_64, "open") => table::OPEN_E,
            (Abi::X86_64, "openat") => table::OPENAT_2_E,
            (Abi::X86_64, "close") => table::CLOSE_E,
            (Abi::X86_64, "read") => table::READ_E,
            (Abi::X86_64, "write") => table::WRITE_E,
            (Abi::X86_64, "socket") => table::SOCKET_E,
            (Abi::X86_64, "connect") => table::CONNECT_E,
            (Abi::X86_64, "bind") => 20,
            (Abi::X86_64, "listen") => 24,
            (Abi::X86_64, "sendto") => table::SENDTO_E,
            (Abi::X86_64, "recvfrom") => table::RECVFROM_E,
            (Abi::X86_64, "accept") => 246,
            (Abi::X86_64, "accept4") => 248,
            (Abi::X86_64, "pipe") => 60,
            (Abi::X86_64, "kill") => 128,
            (Abi::X86_64, "fstat") => 70,
            (Abi::X86_64, "fcntl") => 150,
            (Abi::X86_64, "access") => 264,
            (Abi::X86_64, "stat") => 66,
            (Abi::X86_64, "lseek") => 86,
            (Abi::X86_64, "ioctl") => 170,
            (Abi::X86_64, "brk") => 158,
            (Abi::X86_64, "munmap") => 164,
            (Abi::X86_64, "futex") => 64,
            (Abi::X86_64, "chdir") => 94,
            (Abi::X86_64, "pread64") => 112,
            (Abi::X86_64, "pwrite64") => 114,
            (Abi::X86_64, "dup") => 124,
            (Abi::X86_64, "renameat") => 176,
            (Abi::X86_64, "getuid") => 202,
            (Abi::X86_64, "mkdir") => 276,
            (Abi::X86_64, "unlink") => 300,
            (Abi::X86_64, "unlinkat") => 302,
            (Abi::X86_64, "mkdirat") => 304,
            (Abi::X86_64, "fchmodat") => 312,
            (Abi::X86_64, "chmod") => 314,
            (Abi::X86_64, "renameat2") => 318,
            (Abi::X86_64, "execve") => table::EXECVE_19_E,
            (Abi::X86_64, "clone") => table::CLONE_20_E,
            _ => {
                let key = if name.is_empty() {
                    format!("syscall_{}", s.nr)
                } else if s.abi == Abi::I386 {
                    format!("{name}(i386)")
                } else {
                    name.to_owned()
                };
                *self.stats.skipped.entry(key).or_default() += 1;
                return;
            }
        };
        let a = s.args;
        let fd = a[0] as u32 as i32 as i64;
        let ret = s.ret.unwrap_or(0);
        let path_at = |slot: u8| {
            s.params.iter().find_map(|p| match &p.value {
                ParamValue::Path(b) | ParamValue::Str(b) if p.slot == slot => Some(b.clone()),
                _ => None,
            })
        };
        let path = s.params.iter().find_map(|p| match &p.value {
            ParamValue::Path(b) | ParamValue::Str(b) => Some(b.clone()),
            _ => None,
        });
        let (oldpath, newpath) = (path_at(1), path_at(3));
        let addr = s.params.iter().find_map(|p| match &p.value {
            ParamValue::SockAddr(sa) if p.slot != capture_format::Param::RETURN => Some(sa.clone()),
            _ => None,
        });
        let data = s.params.iter().find_map(|p| match &p.value {
            ParamValue::Buffer(b) => Some(b.data.clone()),
            _ => None,
        });
        let fds = s.params.iter().find_map(|p| match &p.value {
            ParamValue::Fds(f) => Some(f.clone()),
            _ => None,
        });
        let argv = s.params.iter().find_map(|p| match &p.value {
            ParamValue::StrList { items, .. } if p.slot == 1 => Some(items.clone()),
            _ => None,
        });
        let (flags, mode, dirfd) = match name {
            "openat" => (a[2], a[3], a[0] as u32 as i32 as i64),
            "access" | "mkdir" | "chmod" => (0, a[1], 0),
            "unlinkat" => (a[2], 0, a[0] as u32 as i32 as i64),
            "mkdirat" | "fchmodat" => (0, a[2], a[0] as u32 as i32 as i64),
            "renameat2" => (a[4], 0, 0),
            _ => (a[1], a[2], 0),
        };
        let size = match name {
            "read" | "write" | "sendto" | "recvfrom" | "pread64" | "pwrite64" => a[2] as i64,
            _ => 0,
        };
        let pid = e.pid;
        let tid = e.tid;
        let common = |n: &str| -> Option<V> {
            Some(match n {
                "fd" if matches!(name, "open" | "openat" | "socket" | "accept" | "accept4") => {
                    V::Int(ret)
                }
                "fd" => V::Int(fd),
                "res" => V::Int(ret),
                "name" | "path" | "filename" => V::Bytes(path.clone()?),
                "flags" if matches!(name, "open" | "openat") => {
                    V::Int(ppm_open_flags(flags) as i64)
                }
                "flags" if name == "accept4" => V::Int(a[3] as i64),
                "flags" if matches!(name, "unlinkat" | "renameat2") => V::Int(flags as i64),
                "mode" => V::Int(mode as i64),
                "oldpath" => V::Bytes(oldpath.clone()?),
                "newpath" => V::Bytes(newpath.clone()?),
                "olddirfd" => V::Int(a[0] as u32 as i32 as i64),
                "newdirfd" => V::Int(a[2] as u32 as i32 as i64),
                "pos" => V::Int(a[3] as i64),
                "addr" if matches!(name, "brk" | "munmap" | "futex") => V::Int(a[0] as i64),
                "length" => V::Int(a[1] as i64),
                "op" => V::Int(a[1] as i64),
                "val" => V::Int(a[2] as i64),
                "request" => V::Int(a[1] as i64),
                "argument" => V::Int(a[2] as i64),
                "offset" => V::Int(a[1] as i64),
                "whence" => V::Int(a[2] as i64),
                "uid" => V::Int(ret),
                "dirfd" => V::Int(dirfd),
                "size" => V::Int(size),
                "data" => V::Bytes(data.clone()?),
                "addr" => V::Bytes(ppm_sockaddr(addr.as_ref()?)),
                "tuple" if name == "connect" => V::Bytes(ppm_tuple(None, addr.as_ref()?)),
                "tuple" if matches!(name, "accept" | "accept4") => {
                    V::Bytes(ppm_tuple(addr.as_ref(), addr.as_ref()?))
                }
                "domain" => V::Int(a[0] as i64),
                "type" => V::Int(a[1] as i64),
                "proto" => V::Int(a[2] as i64),
                "backlog" => V::Int(a[1] as i64),
                "pid" => V::Int(a[0] as i32 as i64),
                "sig" => V::Int(a[1] as i64),
                "cmd" => V::Int(a[1] as i64),
                "fd1" => V::Int(*fds.as_ref()?.first()? as i64),
                "fd2" => V::Int(*fds.as_ref()?.get(1)? as i64),
                _ => return None,
            })
        };
        let start = e.ts;
        let end = e.ts.saturating_add(s.duration_ns.unwrap_or(0));
        let enter = s.completion != Completion::ExitOnly;
        let exit = s.completion != Completion::EnterOnly;
        if enter {
            self.emit(code, start, e.cpu, tid, &common);
        }
        if !exit {
            return;
        }
        match name {
            "execve" => {
                if ret == 0 {
                    // The exit restates the process as it is after the exec, which the
                    // exec record (next in time) describes: the exit waits for it.
                    let p = self.procs.entry(pid).or_default();
                    if let Some(f) = &path {
                        p.comm = comm_of(f);
                    }
                    if let Some(v) = &argv {
                        p.argv = v.clone();
                    }
                    self.exec_exits.insert(tid, (end, e.cpu, pid));
                    return;
                }
                let base = self.proc_values(pid, tid, ret);
                let vals = |n: &str| match n {
                    "exe" | "args" if argv.is_some() && ret != 0 => {
                        let v = argv.as_deref().unwrap_or_default();
                        Some(V::Bytes(if n == "exe" {
                            v.first().cloned().unwrap_or_default()
                        } else {
                            nul_list(v.get(1..).unwrap_or_default())
                        }))
                    }
                    _ => base(n),
                };
                let (bytes, large) = scap_event(code + 1, self.epoch(end), tid as u64, &vals);
                self.events
                    .push((self.epoch(end), e.cpu as u16, bytes, large));
                self.stats.scap_events += 1;
            }
            "clone" => {
                let base = self.proc_values(pid, tid, ret);
                let vals = |n: &str| match n {
                    "flags" => Some(V::Int(0)),
                    _ => base(n),
                };
                let (bytes, large) = scap_event(code + 1, self.epoch(end), tid as u64, &vals);
                self.events
                    .push((self.epoch(end), e.cpu as u16, bytes, large));
                self.stats.scap_events += 1;
            }
            _ => self.emit(code + 1, end, e.cpu, tid, &common),
        }
    }
}

/// Writes `meta` and `events` (in time order, as a capture's reader yields them) as a
/// scap file to `out`.
pub fn write_scap(
    meta: &Metadata,
    events: impl IntoIterator<Item = Event>,
    out: &mut impl Write,
) -> io::Result<ExportStats> {
    let offset = meta
        .clocks
        .first()
        .map_or(0, |c| c.realtime_ns - c.boot_ns as i64);
    let mut buf = Vec::new();
    // Section header: version 1.2, section length unknown (-1).
    let mut shb = Vec::new();
    shb.extend_from_slice(&SHB_MAGIC.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&2u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut buf, SHB, &shb);

    let host = meta.host.clone().unwrap_or_default();
    let snapshot = meta.processes.first();
    let mut mi = Vec::new();
    mi.extend_from_slice(&host.cpu_count.to_le_bytes());
    mi.extend_from_slice(&0u64.to_le_bytes()); // memory: not recorded
    let max_pid = snapshot.map_or(0, |s| s.processes.iter().map(|p| p.pid).max().unwrap_or(0));
    mi.extend_from_slice(&(max_pid as u64).to_le_bytes());
    let mut hostname = [0u8; 128];
    let h = host.hostname.as_bytes();
    let n = h.len().min(127);
    hostname[..n].copy_from_slice(&h[..n]);
    mi.extend_from_slice(&hostname);
    mi.extend_from_slice(&(offset.max(0) as u64).to_le_bytes()); // boot time, epoch ns
    mi.extend_from_slice(&[0u8; 24]); // flags, reserved
    block(&mut buf, MI, &mi);

    let mut w = Writer {
        procs: HashMap::new(),
        offset,
        events: Vec::new(),
        exec_exits: HashMap::new(),
        stats: ExportStats::default(),
    };
    if let Some(s) = snapshot {
        let mut pl = Vec::new();
        for p in &s.processes {
            let mut e = Vec::new();
            for x in [
                p.pid as u64,
                p.pid as u64,
                p.ppid as u64,
                p.pid as u64,
                p.pid as u64,
            ] {
                e.extend_from_slice(&x.to_le_bytes()); // tid, pid, ptid, sid, vpgid
            }
            let exe0 = p
                .argv
                .first()
                .cloned()
                .unwrap_or_else(|| p.comm.clone().into_bytes());
            str16(&mut e, p.comm.as_bytes());
            str16(&mut e, &exe0);
            str16(&mut e, p.exe.as_deref().unwrap_or_default());
            str16(&mut e, &nul_list(p.argv.get(1..).unwrap_or_default()));
            str16(&mut e, p.cwd.as_deref().unwrap_or_default());
            e.extend_from_slice(&1024u64.to_le_bytes()); // fdlimit: not recorded
            e.extend_from_slice(&0u32.to_le_bytes()); // flags
            e.extend_from_slice(&p.euid.to_le_bytes());
            e.extend_from_slice(&p.egid.to_le_bytes());
            e.extend_from_slice(&[0u8; 4 + 4 + 4 + 8 + 8]); // vm sizes, page faults
            str16(&mut e, b""); // env: not exported
            e.extend_from_slice(&(p.pid as u64).to_le_bytes()); // vtid
            e.extend_from_slice(&(p.pid as u64).to_le_bytes()); // vpid
            str16(&mut e, b""); // cgroups
            str16(&mut e, b"/"); // root
            pl.extend_from_slice(&((e.len() + 4) as u32).to_le_bytes());
            pl.extend_from_slice(&e);
            w.procs.insert(
                p.pid,
                Proc {
                    ppid: p.ppid,
                    comm: p.comm.clone().into_bytes(),
                    argv: p.argv.clone(),
                    cwd: p.cwd.clone().unwrap_or_default(),
                    uid: p.euid,
                    gid: p.egid,
                },
            );
            w.stats.processes += 1;
        }
        block(&mut buf, PL_V9, &pl);
        for p in s.processes.iter().filter(|p| !p.fds.is_empty()) {
            let mut fl = Vec::new();
            fl.extend_from_slice(&(p.pid as u64).to_le_bytes());
            for f in &p.fds {
                fl.extend_from_slice(&(f.fd as i64).to_le_bytes());
                fl.extend_from_slice(&0u64.to_le_bytes()); // inode: not recorded
                match (&f.kind, &f.local, &f.remote) {
                    (FdKind::Socket, Some(SockAddr::Inet { addr: la, port: lp }), r) => {
                        match r {
                            Some(SockAddr::Inet { addr: ra, port: rp }) => {
                                fl.push(3);
                                fl.extend_from_slice(la);
                                fl.extend_from_slice(ra);
                                fl.extend_from_slice(&lp.to_le_bytes());
                                fl.extend_from_slice(&rp.to_le_bytes());
                                fl.push(1); // TCP: the recorder does not say; the common case
                            }
                            _ => {
                                fl.push(5);
                                fl.extend_from_slice(la);
                                fl.extend_from_slice(&lp.to_le_bytes());
                                fl.push(1);
                            }
                        }
                    }
                    (
                        FdKind::Socket,
                        Some(SockAddr::Inet6 {
                            addr: la, port: lp, ..
                        }),
                        r,
                    ) => match r {
                        Some(SockAddr::Inet6 {
                            addr: ra, port: rp, ..
                        }) => {
                            fl.push(4);
                            fl.extend_from_slice(la);
                            fl.extend_from_slice(ra);
                            fl.extend_from_slice(&lp.to_le_bytes());
                            fl.extend_from_slice(&rp.to_le_bytes());
                            fl.push(1);
                        }
                        _ => {
                            fl.push(6);
                            fl.extend_from_slice(la);
                            fl.extend_from_slice(&lp.to_le_bytes());
                            fl.push(1);
                        }
                    },
                    (kind, _, _) => {
                        fl.push(match kind {
                            FdKind::File | FdKind::Tty => 1,
                            FdKind::Directory => 2,
                            FdKind::Pipe => 7,
                            FdKind::Socket => 8,
                            FdKind::Other => 10,
                        });
                        if *kind == FdKind::Socket {
                            // A unix (or unknown-family) socket: no addresses known.
                            fl.extend_from_slice(&[0u8; 16]);
                        }
                        str16(&mut fl, &f.name);
                    }
                }
            }
            block(&mut buf, FDL, &fl);
        }
    }
    let mut ul = Vec::new();
    for u in &meta.users.users {
        if !u.container_id.is_empty() {
            continue; // scap's user list is the host's
        }
        ul.push(0);
        ul.extend_from_slice(&u.uid.to_le_bytes());
        ul.extend_from_slice(&0u32.to_le_bytes()); // primary gid: not recorded
        str16(&mut ul, u.name.as_bytes());
        str16(&mut ul, b"");
        str16(&mut ul, b"");
    }
    for g in &meta.users.groups {
        if !g.container_id.is_empty() {
            continue;
        }
        ul.push(1);
        ul.extend_from_slice(&g.gid.to_le_bytes());
        str16(&mut ul, g.name.as_bytes());
    }
    block(&mut buf, UL, &ul);
    out.write_all(&buf)?;

    for e in events {
        w.event(&e);
    }
    // An execve whose exec record is missing still returns, with what was known.
    let waiting: Vec<(u32, (u64, u32, u32))> = w.exec_exits.drain().collect();
    for (tid, (end, cpu, pid)) in waiting {
        w.execve_exit(end, cpu, pid, tid);
    }
    let mut evs = std::mem::take(&mut w.events);
    evs.sort_by_key(|e| e.0);
    let mut b = Vec::new();
    for (_, cpu, ev, large) in evs {
        b.clear();
        b.extend_from_slice(&cpu.to_le_bytes());
        b.extend_from_slice(&ev);
        let mut blk = Vec::with_capacity(b.len() + 16);
        block(&mut blk, if large { EV_V2_LARGE } else { EV_V2 }, &b);
        out.write_all(&blk)?;
    }
    Ok(w.stats)
}

/// Exports a whole capture as scap (see [`write_scap`]); damaged chunks of the source are
/// skipped and listed in the stats.
pub fn export(
    reader: &capture_format::CaptureReader,
    out: &mut impl Write,
) -> io::Result<ExportStats> {
    let mut unreadable = Vec::new();
    let events = reader.events().filter_map(|e| match e {
        Ok(e) => Some(e),
        Err(err) => {
            unreadable.push(err.to_string());
            None
        }
    });
    let mut stats = write_scap(reader.metadata(), events, out)?;
    stats.unreadable = unreadable;
    Ok(stats)
}

/// [`export`] into a new file at `path` (created 0600, replaced if it exists: captures
/// hold secrets), returning the stats and the lines to tell the user.
pub fn export_to_path(
    reader: &capture_format::CaptureReader,
    path: &std::path::Path,
) -> io::Result<(ExportStats, Vec<String>)> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut out = io::BufWriter::new(file);
    let stats = export(reader, &mut out)?;
    out.flush()?;
    let mut lines: Vec<String> = stats
        .unreadable
        .iter()
        .map(|e| format!("skipped damaged data: {e}"))
        .collect();
    lines.extend(stats.skipped_line());
    lines.push(format!(
        "wrote {} ({} processes, {} scap events from {} records)",
        path.display(),
        stats.processes,
        stats.scap_events,
        stats.events_in
    ));
    Ok((stats, lines))
}
