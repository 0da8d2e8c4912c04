//! Event builders for tests (feature `testing`), shared by every crate's tests instead of
//! each writing its own: a syscall by name or number with its arguments, return value and
//! captured parameters; an exec; a fork; an exit. Defaults are the plainest record (x86_64,
//! complete, no cgroup, no duration); each test sets what it is about.
//!
//! ```
//! use capture_format::testing::{exec, path, sys};
//! let open = sys("openat").args(&[3, 0, 0o101]).ret(4).param(path(1, "/tmp/x")).at(10, 42);
//! let run = exec(&["sh", "-c", "id"]).uid(1000).cwd("/root").at(11, 42);
//! # let _ = (open, run);
//! ```

use crate::{
    syscall_number, Abi, Buffer, BufferCut, Completion, Event, EventBody, ExecEvent, ExitEvent,
    ForkEvent, Param, ParamValue, SockAddr, SyscallEvent,
};

/// An event of `pid`'s main thread on CPU 0.
pub fn event(ts: u64, pid: u32, body: EventBody) -> Event {
    Event {
        ts,
        cpu: 0,
        pid,
        tid: pid,
        body,
    }
}

/// A syscall record being built.
#[derive(Clone, Debug)]
pub struct Sys(pub SyscallEvent);

/// A syscall of the x86_64 ABI by name. Panics on a name that is not a syscall there
/// (test input).
pub fn sys(name: &str) -> Sys {
    let nr = syscall_number(Abi::X86_64, name)
        .unwrap_or_else(|| panic!("{name} is not an x86_64 syscall"));
    sys_nr(nr)
}

/// A syscall of the x86_64 ABI by number (one that need not exist).
pub fn sys_nr(nr: u32) -> Sys {
    Sys(SyscallEvent {
        nr,
        abi: Abi::X86_64,
        completion: Completion::Complete,
        args: [0; 6],
        ret: Some(0),
        duration_ns: None,
        cgroup_id: 0,
        params: Vec::new(),
    })
}

impl Sys {
    /// The first `args.len()` argument registers; the rest stay 0.
    pub fn args(mut self, args: &[u64]) -> Self {
        self.0.args[..args.len()].copy_from_slice(args);
        self
    }
    pub fn ret(mut self, ret: i64) -> Self {
        self.0.ret = Some(ret);
        self
    }
    /// No return value (an enter-only record, or one the test leaves open).
    pub fn no_ret(mut self) -> Self {
        self.0.ret = None;
        self
    }
    pub fn duration(mut self, ns: u64) -> Self {
        self.0.duration_ns = Some(ns);
        self
    }
    pub fn cgroup(mut self, id: u64) -> Self {
        self.0.cgroup_id = id;
        self
    }
    pub fn param(mut self, p: Param) -> Self {
        self.0.params.push(p);
        self
    }
    pub fn params(mut self, ps: impl IntoIterator<Item = Param>) -> Self {
        self.0.params.extend(ps);
        self
    }
    pub fn body(self) -> EventBody {
        EventBody::Syscall(self.0)
    }
    pub fn at(self, ts: u64, pid: u32) -> Event {
        event(ts, pid, self.body())
    }
}

/// A path captured from argument `slot`.
pub fn path(slot: u8, p: &str) -> Param {
    Param {
        slot,
        value: ParamValue::Path(p.as_bytes().to_vec()),
    }
}

/// A buffer captured from argument `slot`: `data` of a transfer of `original_len` bytes
/// (cut by the snaplen when `data` is shorter).
pub fn buffer(slot: u8, data: &[u8], original_len: u64) -> Param {
    Param {
        slot,
        value: ParamValue::Buffer(Buffer {
            data: data.to_vec(),
            original_len,
            cut: if (data.len() as u64) < original_len {
                BufferCut::Snaplen
            } else {
                BufferCut::Whole
            },
        }),
    }
}

/// A socket address captured from argument `slot`.
pub fn sockaddr(slot: u8, sa: SockAddr) -> Param {
    Param {
        slot,
        value: ParamValue::SockAddr(sa),
    }
}

/// An exec record being built.
#[derive(Clone, Debug)]
pub struct Exec(pub ExecEvent);

/// An exec of `argv`, its file `/usr/bin/ARGV0`, by root, parent 1, no cwd.
pub fn exec(argv: &[&str]) -> Exec {
    Exec(ExecEvent {
        filename: format!("/usr/bin/{}", argv.first().copied().unwrap_or_default()).into_bytes(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        argv_truncated: false,
        ppid: 1,
        uid: 0,
        gid: 0,
        euid: 0,
        egid: 0,
        cgroup_id: 0,
        exe: None,
        cwd: None,
    })
}

impl Exec {
    pub fn filename(mut self, f: &str) -> Self {
        self.0.filename = f.as_bytes().to_vec();
        self
    }
    pub fn ppid(mut self, ppid: u32) -> Self {
        self.0.ppid = ppid;
        self
    }
    /// The uid, and the same number as gid, euid and egid.
    pub fn uid(mut self, uid: u32) -> Self {
        self.0.uid = uid;
        self.0.gid = uid;
        self.0.euid = uid;
        self.0.egid = uid;
        self
    }
    pub fn cgroup(mut self, id: u64) -> Self {
        self.0.cgroup_id = id;
        self
    }
    pub fn cwd(mut self, cwd: &str) -> Self {
        self.0.cwd = Some(cwd.as_bytes().to_vec());
        self
    }
    pub fn body(self) -> EventBody {
        EventBody::Exec(self.0)
    }
    pub fn at(self, ts: u64, pid: u32) -> Event {
        event(ts, pid, self.body())
    }
}

/// A fork of process `child` (its main thread) in cgroup `cgroup_id`.
pub fn fork(child: u32, cgroup_id: u64) -> EventBody {
    EventBody::Fork(ForkEvent {
        child_pid: child,
        child_tid: child,
        cgroup_id,
    })
}

/// The process's last thread exiting with `status`.
pub fn exit(status: u32) -> EventBody {
    EventBody::Exit(ExitEvent {
        status,
        group_dead: true,
    })
}
