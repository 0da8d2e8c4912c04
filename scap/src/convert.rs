//! A parsed scap file mapped into capture-format's model, written as an in-memory
//! `.atcap`, so every inspector view works on it unchanged.
//!
//! scap stores each syscall as an enter and an exit event of one thread; they are joined
//! here into one syscall record (the enter's time, both halves' parameters). Process
//! creation, exec and exit become the lifecycle records the reconstruction follows. What
//! scap does not have stays unknown: there is no loss ledger (the summary's loss count is
//! not "none", it is not recorded), no container runtime metadata, no cgroup ids, no boot
//! clock unless the machine info carries the boot time.

use std::collections::{BTreeMap, HashMap, HashSet};

use capture_format::{
    syscall_number, Abi, Buffer, BufferCut, ClockPair, Completion, DropEntry, DropLedger, Event,
    EventBody, ExecEvent, ExitEvent, FdInfo, FdKind, ForkEvent, GroupInfo, HostInfo, Param,
    ParamValue, ProcessInfo, ProcessSnapshot, SockAddr, SyscallEvent, UserInfo, UsersAndGroups,
};

use crate::parse::{self, split_nul, FdDetail, Parsed, RawEvent, Report};
use crate::table::{self, EventInfo, K};

/// What the conversion did not carry over, beside the parser's [`Report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversion {
    pub report: Report,
    /// Events understood but with no place in the model (scheduler switches, procinfo,
    /// container JSON), by name.
    pub not_converted: BTreeMap<String, u64>,
    /// Exit events whose enter was not in the file (the capture began mid-call).
    pub exit_only: u64,
    /// Enter events that never got their exit (the capture ended, or the exit was lost).
    pub enter_only: u64,
    pub events_in: u64,
    pub records_out: u64,
}

impl Conversion {
    /// Lines for a warning or the capture's settings: losses first.
    pub fn lines(&self) -> Vec<String> {
        let mut v = self.report.lines();
        if !self.not_converted.is_empty() {
            let parts: Vec<String> = self
                .not_converted
                .iter()
                .map(|(k, n)| format!("{k}x{n}"))
                .collect();
            v.push(format!(
                "events with no place in the model, not converted: {}",
                parts.join(", ")
            ));
        }
        v
    }
}

/// Decodes an integer parameter of any stored width (the table says the width; old
/// writers used the same ones).
fn int(b: &[u8]) -> Option<i64> {
    Some(match b.len() {
        1 => b[0] as i8 as i64,
        2 => i16::from_le_bytes(b.try_into().ok()?) as i64,
        4 => i32::from_le_bytes(b.try_into().ok()?) as i64,
        8 => i64::from_le_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn uint(b: &[u8]) -> Option<u64> {
    Some(match b.len() {
        1 => b[0] as u64,
        2 => u16::from_le_bytes(b.try_into().ok()?) as u64,
        4 => u32::from_le_bytes(b.try_into().ok()?) as u64,
        8 => u64::from_le_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn cstr(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

/// One event's parameters by name.
struct Params<'a> {
    by_name: HashMap<&'static str, (&'a [u8], K)>,
}

impl<'a> Params<'a> {
    fn of(info: &EventInfo, e: &RawEvent<'a>) -> Self {
        let by_name = info
            .params
            .iter()
            .zip(&e.params)
            .map(|(&(n, k), &b)| (n, (b, k)))
            .collect();
        Params { by_name }
    }
    fn merge(&mut self, enter: Params<'a>) {
        for (k, v) in enter.by_name {
            self.by_name.entry(k).or_insert(v);
        }
    }
    fn raw(&self, name: &str) -> Option<&'a [u8]> {
        self.by_name.get(name).map(|p| p.0)
    }
    fn int(&self, name: &str) -> Option<i64> {
        int(self.raw(name)?)
    }
    fn uint(&self, name: &str) -> Option<u64> {
        uint(self.raw(name)?)
    }
    fn str(&self, name: &str) -> Option<Vec<u8>> {
        self.raw(name).map(|b| cstr(b).to_vec())
    }
}

/// A scap socket address (family byte, then the address; ports in host order).
pub fn sockaddr(b: &[u8]) -> Option<SockAddr> {
    let (&fam, rest) = b.split_first()?;
    Some(match fam {
        2 => SockAddr::Inet {
            addr: rest.get(..4)?.try_into().ok()?,
            port: u16::from_le_bytes(rest.get(4..6)?.try_into().ok()?),
        },
        10 => SockAddr::Inet6 {
            addr: rest.get(..16)?.try_into().ok()?,
            port: u16::from_le_bytes(rest.get(16..18)?.try_into().ok()?),
            scope_id: 0,
        },
        1 => SockAddr::Unix(cstr(rest).to_vec()),
        other => SockAddr::Other {
            family: other as u16,
            raw: rest.to_vec(),
        },
    })
}

/// A scap socket tuple: (source, destination). Unix tuples name the socket's path on the
/// destination side, as sysdig shows it.
pub fn socktuple(b: &[u8]) -> Option<(SockAddr, SockAddr)> {
    let (&fam, r) = b.split_first()?;
    let port = |s: &[u8]| -> Option<u16> { Some(u16::from_le_bytes(s.try_into().ok()?)) };
    Some(match fam {
        2 => (
            SockAddr::Inet {
                addr: r.get(..4)?.try_into().ok()?,
                port: port(r.get(4..6)?)?,
            },
            SockAddr::Inet {
                addr: r.get(6..10)?.try_into().ok()?,
                port: port(r.get(10..12)?)?,
            },
        ),
        10 => (
            SockAddr::Inet6 {
                addr: r.get(..16)?.try_into().ok()?,
                port: port(r.get(16..18)?)?,
                scope_id: 0,
            },
            SockAddr::Inet6 {
                addr: r.get(18..34)?.try_into().ok()?,
                port: port(r.get(34..36)?)?,
                scope_id: 0,
            },
        ),
        1 => (
            SockAddr::Unix(Vec::new()),
            SockAddr::Unix(cstr(r.get(16..)?).to_vec()),
        ),
        _ => return None,
    })
}

/// scap's portable open flags (PPM_O_*) as Linux x86_64 O_* bits.
pub fn linux_open_flags(ppm: u64) -> u64 {
    let mut f = match ppm & 3 {
        1 => 0,   // O_RDONLY
        2 => 0o1, // O_WRONLY
        3 => 0o2, // O_RDWR
        _ => 0,
    };
    for (bit, linux) in [
        (1 << 2, 0o100u64),    // CREAT
        (1 << 3, 0o2000),      // APPEND
        (1 << 4, 0o10000),     // DSYNC
        (1 << 5, 0o200),       // EXCL
        (1 << 6, 0o4000),      // NONBLOCK
        (1 << 7, 0o4010000),   // SYNC
        (1 << 8, 0o1000),      // TRUNC
        (1 << 9, 0o40000),     // DIRECT
        (1 << 10, 0o200000),   // DIRECTORY
        (1 << 11, 0o100000),   // LARGEFILE
        (1 << 12, 0o2000000),  // CLOEXEC
        (1 << 13, 0o20200000), // TMPFILE
    ] {
        if ppm & bit != 0 {
            f |= linux;
        }
    }
    f
}

fn sockaddr_len(sa: &SockAddr) -> u64 {
    match sa {
        SockAddr::Inet { .. } => 16,
        SockAddr::Inet6 { .. } => 28,
        SockAddr::Unix(p) => 2 + p.len() as u64 + 1,
        SockAddr::Other { raw, .. } => 2 + raw.len() as u64,
    }
}

struct Pending<'a> {
    ev: RawEvent<'a>,
    info: &'static EventInfo,
}

/// What is known of a thread, from the process list and the clone/exec events.
#[derive(Clone, Default)]
struct Thread {
    pid: u32,
    uid: Option<u32>,
    gid: Option<u32>,
}

struct Converter<'a> {
    threads: HashMap<u64, Thread>,
    pending: HashMap<u64, Pending<'a>>,
    forked: HashSet<u64>,
    offset: u64,
    out: Vec<Event>,
    conv: Conversion,
}

impl<'a> Converter<'a> {
    fn pid_of(&self, tid: u64) -> u32 {
        self.threads.get(&tid).map_or(tid as u32, |t| t.pid)
    }

    fn boot(&self, ts: u64) -> u64 {
        ts.saturating_sub(self.offset)
    }

    fn event(&mut self, e: RawEvent<'a>) {
        self.conv.events_in += 1;
        let Some(info) = table::lookup(e.etype) else {
            *self.conv.report.unknown_events.entry(e.etype).or_default() += 1;
            return;
        };
        if info.syscall.is_none() && info.code != table::GENERIC_E && info.code != 1 {
            if info.code == table::PROCEXIT_1_E {
                let p = Params::of(info, &e);
                let pid = self.pid_of(e.tid);
                // A scap procexit is per thread; the group is dead when its leader goes
                // (the nearest this format says).
                let group_dead = pid as u64 == e.tid;
                self.push(
                    &e,
                    EventBody::Exit(ExitEvent {
                        status: p.int("status").unwrap_or(0) as u32,
                        group_dead,
                    }),
                );
                self.pending.remove(&e.tid);
                return;
            }
            *self
                .conv
                .not_converted
                .entry(info.name.to_owned())
                .or_default() += 1;
            return;
        }
        if !info.exit {
            if let Some(prev) = self.pending.insert(e.tid, Pending { ev: e, info }) {
                // A new enter on the same thread: the previous call never returned in
                // this capture (or its exit was lost).
                self.syscall(Some(prev), None);
            }
            return;
        }
        let enter = match self.pending.remove(&e.tid) {
            Some(p) if p.info.name == info.name => Some(p),
            Some(other) => {
                self.syscall(Some(other), None);
                None
            }
            None => None,
        };
        self.syscall(enter, Some(Pending { ev: e, info }));
    }

    fn push(&mut self, e: &RawEvent<'_>, body: EventBody) {
        self.out.push(Event {
            ts: self.boot(e.ts),
            cpu: e.cpu as u32,
            pid: self.pid_of(e.tid),
            tid: e.tid as u32,
            body,
        });
    }

    fn syscall(&mut self, enter: Option<Pending<'a>>, exit: Option<Pending<'a>>) {
        let (tid, ts, cpu) = match (&enter, &exit) {
            (Some(p), _) | (None, Some(p)) => (p.ev.tid, p.ev.ts, p.ev.cpu),
            (None, None) => return,
        };
        let completion = match (&enter, &exit) {
            (Some(_), Some(_)) => Completion::Complete,
            (Some(_), None) => {
                self.conv.enter_only += 1;
                Completion::EnterOnly
            }
            _ => {
                self.conv.exit_only += 1;
                Completion::ExitOnly
            }
        };
        let info = exit
            .as_ref()
            .or(enter.as_ref())
            .map(|p| p.info)
            .expect("one half");
        let mut p = match &exit {
            Some(x) => Params::of(x.info, &x.ev),
            None => Params {
                by_name: HashMap::new(),
            },
        };
        if let Some(en) = &enter {
            p.merge(Params::of(en.info, &en.ev));
        }
        let name = info.syscall.unwrap_or_default();
        let nr = if name.is_empty() {
            // The generic event: the native syscall number is in the enter half.
            match p.uint("nativeID") {
                Some(n) => n as u32,
                None => {
                    *self
                        .conv
                        .not_converted
                        .entry("syscall(generic, no enter)".into())
                        .or_default() += 1;
                    return;
                }
            }
        } else {
            match syscall_number(Abi::X86_64, name) {
                Some(n) => n,
                None => return,
            }
        };
        let mut args = [0u64; 6];
        let mut params = Vec::new();
        // `res` is the return value; calls that create an fd name it `fd` in the exit.
        let ret = if exit.is_some() {
            p.int("res").or_else(|| p.int("fd"))
        } else {
            None
        };
        let fd_arg = |p: &Params<'_>| p.int("fd").map(|f| f as u64).unwrap_or(0);
        let buffer = |p: &Params<'_>, ret: Option<i64>| -> Option<Param> {
            let data = p.raw("data")?;
            let original = match ret {
                Some(r) if r >= 0 => r as u64,
                _ => p.uint("size").unwrap_or(data.len() as u64),
            };
            Some(Param {
                slot: 1,
                value: ParamValue::Buffer(Buffer {
                    data: data.to_vec(),
                    original_len: original.max(data.len() as u64),
                    cut: if (data.len() as u64) < original {
                        BufferCut::Snaplen
                    } else {
                        BufferCut::Whole
                    },
                }),
            })
        };
        match name {
            "open" => {
                if let Some(n) = p.str("name") {
                    params.push(Param {
                        slot: 0,
                        value: ParamValue::Path(n),
                    });
                }
                args[1] = linux_open_flags(p.uint("flags").unwrap_or(0));
                args[2] = p.uint("mode").unwrap_or(0);
            }
            "openat" => {
                args[0] = p.int("dirfd").unwrap_or(-100) as u64;
                if let Some(n) = p.str("name") {
                    params.push(Param {
                        slot: 1,
                        value: ParamValue::Path(n),
                    });
                }
                args[2] = linux_open_flags(p.uint("flags").unwrap_or(0));
                args[3] = p.uint("mode").unwrap_or(0);
            }
            "chdir" | "unlink" | "mkdir" | "chmod" => {
                if let Some(n) = p.str("path").or_else(|| p.str("filename")) {
                    params.push(Param {
                        slot: 0,
                        value: ParamValue::Path(n),
                    });
                }
                args[1] = p.uint("mode").unwrap_or(0);
            }
            "unlinkat" | "mkdirat" | "fchmodat" => {
                args[0] = p.int("dirfd").unwrap_or(-100) as u64;
                if let Some(n) = p
                    .str("name")
                    .or_else(|| p.str("path"))
                    .or_else(|| p.str("filename"))
                {
                    params.push(Param {
                        slot: 1,
                        value: ParamValue::Path(n),
                    });
                }
                args[2] = p.uint("mode").or_else(|| p.uint("flags")).unwrap_or(0);
            }
            "renameat" | "renameat2" => {
                args[0] = p.int("olddirfd").unwrap_or(-100) as u64;
                args[2] = p.int("newdirfd").unwrap_or(-100) as u64;
                args[4] = p.uint("flags").unwrap_or(0);
                for (slot, key) in [(1u8, "oldpath"), (3, "newpath")] {
                    if let Some(n) = p.str(key) {
                        params.push(Param {
                            slot,
                            value: ParamValue::Path(n),
                        });
                    }
                }
            }
            "pread64" | "pwrite64" => {
                args[0] = fd_arg(&p);
                params.extend(buffer(&p, ret));
                args[2] = p.uint("size").unwrap_or(0);
                args[3] = p.uint("pos").unwrap_or(0);
            }
            "lseek" => {
                args[0] = fd_arg(&p);
                args[1] = p.uint("offset").unwrap_or(0);
                args[2] = p.uint("whence").unwrap_or(0);
            }
            "stat" | "access" => {
                if let Some(n) = p.str("path").or_else(|| p.str("name")) {
                    params.push(Param {
                        slot: 0,
                        value: ParamValue::Path(n),
                    });
                }
                args[1] = p.uint("mode").unwrap_or(0);
            }
            "read" | "write" | "writev" | "readv" | "recvfrom" | "sendto" | "sendmsg"
            | "recvmsg" => {
                args[0] = fd_arg(&p);
                params.extend(buffer(&p, ret));
                args[2] = p.uint("size").unwrap_or(0);
            }
            "connect" | "bind" => {
                args[0] = fd_arg(&p);
                let addr = p
                    .raw("addr")
                    .and_then(sockaddr)
                    .filter(|a| !matches!(a, SockAddr::Other { family: 0, .. }))
                    .or_else(|| p.raw("tuple").and_then(socktuple).map(|t| t.1));
                if let Some(a) = addr {
                    args[2] = sockaddr_len(&a);
                    params.push(Param {
                        slot: 1,
                        value: ParamValue::SockAddr(a),
                    });
                }
                // A connect's exit tuple also says which local address the kernel bound.
                if name == "connect" {
                    if let Some((local, _)) = p.raw("tuple").and_then(socktuple) {
                        if !matches!(local, SockAddr::Unix(_)) {
                            params.push(Param {
                                slot: Param::RETURN,
                                value: ParamValue::SockAddr(local),
                            });
                        }
                    }
                }
            }
            "accept" | "accept4" => {
                // The tuple's source is the peer that connected.
                if let Some((peer, _)) = p.raw("tuple").and_then(socktuple) {
                    params.push(Param {
                        slot: 1,
                        value: ParamValue::SockAddr(peer),
                    });
                }
                args[3] = p.uint("flags").unwrap_or(0);
            }
            "socket" => {
                args[0] = p.uint("domain").unwrap_or(0);
                args[1] = p.uint("type").unwrap_or(0);
                args[2] = p.uint("proto").unwrap_or(0);
            }
            "pipe" => {
                if let (Some(a), Some(b)) = (p.int("fd1"), p.int("fd2")) {
                    params.push(Param {
                        slot: Param::RETURN,
                        value: ParamValue::Fds(vec![a as i32, b as i32]),
                    });
                }
            }
            "kill" => {
                args[0] = p.int("pid").unwrap_or(0) as u64;
                args[1] = p.uint("sig").unwrap_or(0);
            }
            "mmap" => {
                for (i, n) in ["addr", "length", "prot", "flags", "fd", "offset"]
                    .iter()
                    .enumerate()
                {
                    args[i] = p.int(n).unwrap_or(0) as u64;
                }
            }
            "munmap" | "brk" => {
                args[0] = p.uint("addr").unwrap_or(0);
                args[1] = p.uint("length").unwrap_or(0);
            }
            "futex" => {
                args[0] = p.uint("addr").unwrap_or(0);
                args[1] = p.uint("op").unwrap_or(0);
                args[2] = p.uint("val").unwrap_or(0);
            }
            "execve" => {
                let exe = p.str("exe");
                let filename = p.str("filename").or_else(|| exe.clone());
                if let Some(f) = &filename {
                    params.push(Param {
                        slot: 0,
                        value: ParamValue::Path(f.clone()),
                    });
                }
                let argv = argv_of(exe.as_deref(), p.raw("args"));
                if exit.is_some() {
                    params.push(Param {
                        slot: 1,
                        value: ParamValue::StrList {
                            items: argv.clone(),
                            truncated: false,
                        },
                    });
                }
                if ret == Some(0) {
                    let at = exit.as_ref().map_or(ts, |x| x.ev.ts);
                    self.exec(tid, &p, filename.unwrap_or_default(), argv, at, cpu);
                }
            }
            "clone" | "fork" => {
                args[0] = p.uint("flags").unwrap_or(0);
                if let Some(r) = ret {
                    self.clone_exit(tid, &p, r, exit.as_ref().map_or(ts, |x| x.ev.ts), cpu);
                }
            }
            _ => {
                if p.raw("fd").is_some() {
                    args[0] = fd_arg(&p);
                }
                for (slot, key) in [(1usize, "cmd"), (1, "how"), (1, "request"), (2, "argument")] {
                    if let Some(v) = p.uint(key) {
                        args[slot] = v;
                    }
                }
            }
        }
        let duration_ns = match (&enter, &exit) {
            (Some(en), Some(x)) => Some(x.ev.ts.saturating_sub(en.ev.ts)),
            _ => None,
        };
        self.out.push(Event {
            ts: self.boot(ts),
            cpu: cpu as u32,
            pid: self.pid_of(tid),
            tid: tid as u32,
            body: EventBody::Syscall(SyscallEvent {
                nr,
                abi: Abi::X86_64,
                completion,
                args,
                ret,
                duration_ns,
                cgroup_id: 0,
                params,
            }),
        });
        // A syscall record's time is its enter; the lifecycle records made at the exit
        // (exec, fork) follow it in time order.
    }

    fn exec(
        &mut self,
        tid: u64,
        p: &Params<'_>,
        filename: Vec<u8>,
        argv: Vec<Vec<u8>>,
        ts: u64,
        cpu: u16,
    ) {
        if let Some(pid) = p.int("pid") {
            self.threads.entry(tid).or_default().pid = pid as u32;
        }
        let t = self.threads.get(&tid).cloned().unwrap_or_default();
        let ppid = p.int("ptid").map_or(0, |pt| self.pid_of(pt as u64));
        let pid = self.pid_of(tid);
        self.out.push(Event {
            ts: self.boot(ts),
            cpu: cpu as u32,
            pid,
            tid: tid as u32,
            body: EventBody::Exec(ExecEvent {
                filename,
                argv,
                argv_truncated: false,
                ppid,
                // scap's exec event has no credentials in its older layouts: the ones
                // known for the thread (process list, clone), else u32::MAX (unknown).
                uid: t.uid.unwrap_or(u32::MAX),
                gid: t.gid.unwrap_or(u32::MAX),
                euid: t.uid.unwrap_or(u32::MAX),
                egid: t.gid.unwrap_or(u32::MAX),
                cgroup_id: 0,
                exe: None,
                cwd: p.str("cwd").filter(|c| !c.is_empty()),
            }),
        });
    }

    /// A clone/fork exit: in the parent (`ret` = the child's tid) or in the child (0).
    /// Whichever half comes first makes the fork record; the child's names its pid.
    fn clone_exit(&mut self, tid: u64, p: &Params<'_>, ret: i64, ts: u64, cpu: u16) {
        const PPM_CL_CLONE_THREAD: u64 = 1 << 13;
        let uid = p.uint("uid").map(|u| u as u32);
        let gid = p.uint("gid").map(|g| g as u32);
        let (parent_tid, child_tid, child_pid) = match ret {
            0 => {
                // The child's own view: tid/pid are its own, ptid its parent.
                let child_pid = p.int("pid").map_or(tid as u32, |x| x as u32);
                let t = self.threads.entry(tid).or_default();
                t.pid = child_pid;
                t.uid = uid.or(t.uid);
                t.gid = gid.or(t.gid);
                let Some(ptid) = p.int("ptid") else { return };
                (ptid as u64, tid, child_pid)
            }
            r if r > 0 => {
                let child = r as u64;
                let parent_pid = self.pid_of(tid);
                let child_pid = if p.uint("flags").unwrap_or(0) & PPM_CL_CLONE_THREAD != 0 {
                    parent_pid
                } else {
                    child as u32
                };
                let t = self.threads.entry(child).or_default();
                t.pid = child_pid;
                t.uid = uid.or(t.uid);
                t.gid = gid.or(t.gid);
                (tid, child, child_pid)
            }
            _ => return,
        };
        if !self.forked.insert(child_tid) {
            return;
        }
        let pid = self.pid_of(parent_tid);
        self.out.push(Event {
            ts: self.boot(ts),
            cpu: cpu as u32,
            pid,
            tid: parent_tid as u32,
            body: EventBody::Fork(ForkEvent {
                child_pid,
                child_tid: child_tid as u32,
                cgroup_id: 0,
            }),
        });
    }
}

/// scap keeps argv[0] as `exe` and the rest NUL-separated in `args`.
fn argv_of(exe: Option<&[u8]>, args: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = exe.map(|e| e.to_vec()).into_iter().collect();
    v.extend(args.map(split_nul).unwrap_or_default());
    v
}

fn fd_info(d: &FdDetail, fd: i64, ino: u64) -> FdInfo {
    let inet = |a: [u8; 4], port: u16| SockAddr::Inet { addr: a, port };
    let inet6 = |a: [u8; 16], port: u16| SockAddr::Inet6 {
        addr: a,
        port,
        scope_id: 0,
    };
    let socket = || format!("socket:[{ino}]").into_bytes();
    let (kind, name, local, remote) = match d {
        FdDetail::File { name, .. } => (FdKind::File, name.clone(), None, None),
        FdDetail::Named { kind, name } => (
            match kind {
                1 => FdKind::File,
                2 => FdKind::Directory,
                7 => FdKind::Pipe,
                _ => FdKind::Other,
            },
            name.clone(),
            None,
            None,
        ),
        FdDetail::Ipv4 {
            sip,
            dip,
            sport,
            dport,
            ..
        } => (
            FdKind::Socket,
            socket(),
            Some(inet(*sip, *sport)),
            Some(inet(*dip, *dport)),
        ),
        FdDetail::Ipv4Server { ip, port, .. } => {
            (FdKind::Socket, socket(), Some(inet(*ip, *port)), None)
        }
        FdDetail::Ipv6 {
            sip,
            dip,
            sport,
            dport,
            ..
        } => (
            FdKind::Socket,
            socket(),
            Some(inet6(*sip, *sport)),
            Some(inet6(*dip, *dport)),
        ),
        FdDetail::Ipv6Server { ip, port, .. } => {
            (FdKind::Socket, socket(), Some(inet6(*ip, *port)), None)
        }
        FdDetail::Unix { name, .. } => (
            FdKind::Socket,
            if name.is_empty() {
                socket()
            } else {
                name.clone()
            },
            None,
            (!name.is_empty()).then(|| SockAddr::Unix(name.clone())),
        ),
        FdDetail::Unsupported(_) => (FdKind::Other, Vec::new(), None, None),
    };
    FdInfo {
        fd: fd as i32,
        kind,
        name,
        local,
        remote,
    }
}

/// Everything a capture-format writer is given for one scap file.
pub struct Converted {
    pub host: HostInfo,
    pub clocks: Vec<ClockPair>,
    pub snapshot: ProcessSnapshot,
    pub users: UsersAndGroups,
    /// What the conversion lost or skipped, as ledger entries (scap has no ledger of its
    /// own: an empty one here means nothing was lost *in reading the file*).
    pub drops: DropLedger,
    /// In time order.
    pub events: Vec<Event>,
    pub conversion: Conversion,
}

/// Maps a parsed scap file into the capture model.
pub fn convert(parsed: Parsed<'_>) -> Converted {
    let Parsed {
        version,
        machine,
        threads,
        fds,
        users,
        groups,
        interfaces,
        events,
        report,
    } = parsed;
    let first_ts = events.iter().map(|e| e.ts).min().unwrap_or(0);
    // With the host's boot time the boot clock is exact; without it (older writers) the
    // "boot" clock is the wall clock itself, with a (0, 0) clock pair saying so.
    let offset = machine
        .as_ref()
        .map(|m| m.boot_ts_epoch)
        .filter(|&b| b != 0 && b <= first_ts)
        .unwrap_or(0);
    let mut c = Converter {
        threads: HashMap::new(),
        pending: HashMap::new(),
        forked: HashSet::new(),
        offset,
        out: Vec::with_capacity(events.len()),
        conv: Conversion {
            report,
            ..Conversion::default()
        },
    };
    for t in &threads {
        c.threads.insert(
            t.tid,
            Thread {
                pid: t.pid as u32,
                uid: Some(t.uid),
                gid: Some(t.gid),
            },
        );
    }
    // Processes: the group leader's entry, else the group's first thread.
    let mut procs: BTreeMap<u64, ProcessInfo> = BTreeMap::new();
    for t in &threads {
        if procs.contains_key(&t.pid) && t.tid != t.pid {
            continue;
        }
        let mut argv = vec![t.exe.clone()];
        argv.extend(t.args.iter().cloned());
        let ppid = c.threads.get(&t.ptid).map_or(t.ptid as u32, |p| p.pid);
        procs.insert(
            t.pid,
            ProcessInfo {
                pid: t.pid as u32,
                ppid,
                comm: String::from_utf8_lossy(&t.comm).into_owned(),
                exe: (!t.exepath.is_empty()).then(|| t.exepath.clone()),
                argv,
                cwd: (!t.cwd.is_empty()).then(|| t.cwd.clone()),
                uid: t.uid,
                gid: t.gid,
                euid: t.uid,
                egid: t.gid,
                cgroup_id: 0,
                start_ts: None,
                exit_ts: None,
                exit_status: None,
                fds: Vec::new(),
            },
        );
    }
    for f in &fds {
        let pid = c.threads.get(&f.tid).map_or(f.tid, |t| t.pid as u64);
        if let Some(p) = procs.get_mut(&pid) {
            p.fds.push(fd_info(&f.detail, f.fd, f.ino));
        }
    }
    for e in events {
        c.event(e);
    }
    let rest: Vec<Pending<'_>> = c.pending.drain().map(|(_, p)| p).collect();
    for p in rest {
        c.syscall(Some(p), None);
    }
    let mut out = std::mem::take(&mut c.out);
    out.sort_by_key(|e| e.ts);
    c.conv.records_out = out.len() as u64;
    let conv = c.conv;
    let mut settings = BTreeMap::new();
    settings.insert("source".into(), "scap".into());
    settings.insert(
        "scap.version".into(),
        format!("{}.{}", version.0, version.1),
    );
    // Read by the views that would otherwise say "none" for what scap cannot know.
    settings.insert("not_recorded".into(), "containers alerts losses".into());
    settings.insert(
        "scap.loss_ledger".into(),
        "not in scap files: losses are unknown, not zero".into(),
    );
    if !interfaces.is_empty() {
        let list: Vec<String> = interfaces
            .iter()
            .map(|i| format!("{} {}", i.name, i.addr))
            .collect();
        settings.insert("scap.interfaces".into(), list.join(", "));
    }
    for (i, l) in conv.lines().iter().enumerate() {
        settings.insert(format!("scap.skipped.{i}"), l.clone());
    }
    let host = HostInfo {
        hostname: machine
            .as_ref()
            .map(|m| m.hostname.clone())
            .unwrap_or_default(),
        kernel_release: "unknown (not in scap files)".into(),
        kernel_version: String::new(),
        arch: "x86_64".into(),
        cpu_count: machine.as_ref().map_or(0, |m| m.num_cpus),
        boot_id: String::new(),
        recorder_version: format!(
            "unknown (scap {}.{} file from sysdig or Falco)",
            version.0, version.1
        ),
        settings,
    };
    let (from, to) = (
        out.first().map_or(0, |e| e.ts),
        out.last().map_or(0, |e| e.ts),
    );
    let mut drops = DropLedger::default();
    let mut drop = |cause: String, count: u64| {
        if count > 0 {
            drops.entries.push(DropEntry {
                cause,
                cpu: None,
                pid: None,
                from,
                to,
                count,
            });
        }
    };
    drop(
        "scap_file_damaged_bytes (bytes of the file unreadable; the events in them are unknown)"
            .into(),
        conv.report.lost_bytes(),
    );
    drop(
        "scap_gzip_cut_short (the compressed stream ended early; what followed is unknown)".into(),
        conv.report.gzip_error.is_some() as u64,
    );
    drop(
        "scap_unknown_event_type (events this reader does not decode)".into(),
        conv.report.unknown_events.values().sum(),
    );
    drop("scap_malformed_event".into(), conv.report.malformed_events);
    drop(
        "scap_unknown_block".into(),
        conv.report.unknown_blocks.values().sum(),
    );
    Converted {
        drops,
        host,
        clocks: vec![ClockPair {
            boot_ns: 0,
            realtime_ns: offset as i64,
        }],
        snapshot: ProcessSnapshot {
            ts: first_ts.saturating_sub(offset),
            processes: procs.into_values().collect(),
        },
        users: UsersAndGroups {
            users: users
                .iter()
                .map(|u| UserInfo {
                    uid: u.uid,
                    name: u.name.clone(),
                    container_id: String::new(),
                })
                .collect(),
            groups: groups
                .iter()
                .map(|g| GroupInfo {
                    gid: g.gid,
                    name: g.name.clone(),
                    container_id: String::new(),
                })
                .collect(),
        },
        events: out,
        conversion: conv,
    }
}

/// Reads scap bytes (plain or gzip) into `.atcap` bytes that capture-format's reader
/// opens, and what was lost or skipped on the way.
pub fn to_atcap(bytes: &[u8]) -> Result<(Vec<u8>, Conversion), parse::Error> {
    let (plain, gzip_error) = parse::decompress(bytes)?;
    let mut parsed = parse::parse(&plain)?;
    parsed.report.gzip_error = gzip_error;
    let conv = convert(parsed);
    let file_id = {
        // Reproducible: the same scap file gives the same capture (snapshots, golden
        // outputs). FNV-1a over the input, twice with different seeds.
        let mut id = [0u8; 16];
        for (half, seed) in [(0usize, 0xcbf2_9ce4_8422_2325u64), (8, 0x84222325cbf29ce4)] {
            let mut h = seed;
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x100_0000_01b3);
            }
            id[half..half + 8].copy_from_slice(&h.to_le_bytes());
        }
        id
    };
    let write = || -> Result<Vec<u8>, capture_format::Error> {
        let mut w = capture_format::CaptureWriter::new(
            Vec::new(),
            capture_format::WriterOptions {
                file_id: Some(file_id),
                ..Default::default()
            },
        )?;
        w.write_host(&conv.host)?;
        w.write_clocks(&conv.clocks)?;
        w.write_processes(&conv.snapshot)?;
        w.write_users(&conv.users)?;
        w.write_drops(&conv.drops)?;
        for e in &conv.events {
            w.push_event(e)?;
        }
        w.finish()
    };
    // Writing to memory cannot fail short of a bug; say so if it does.
    let atcap = write().map_err(|e| parse::Error::Gzip(format!("internal: {e}")))?;
    Ok((atcap, conv.conversion))
}
