//! The capture's data model: what a reader gets back and a writer is given. Independent of
//! the byte layout (see `docs/capture-format.md` for that).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nanoseconds since boot (CLOCK_BOOTTIME). Map to wall-clock time with [`ClockPair`]s.
pub type BootNs = u64;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: for a syscall, the time of sys_enter (or sys_exit if the enter
    /// was not seen).
    pub ts: BootNs,
    pub cpu: u32,
    /// Thread-group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    Syscall(SyscallEvent),
    Fork(ForkEvent),
    Exec(ExecEvent),
    Exit(ExitEvent),
    CgroupMkdir(CgroupEvent),
}

/// The ABI a syscall came through: numbers differ between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Abi {
    /// x86_64 native syscall numbers.
    X86_64,
    /// 32-bit compat entry (int 0x80 / sysenter): i386 syscall numbers.
    I386,
}

/// Which halves of a syscall were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Completion {
    /// Enter and exit joined.
    Complete,
    /// Only sys_enter was seen (the thread exec'd or exited, or the record ends here).
    EnterOnly,
    /// Only sys_exit was seen (its enter happened before recording began, or was lost).
    ExitOnly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallEvent {
    pub nr: u32,
    pub abi: Abi,
    pub completion: Completion,
    /// Raw argument registers.
    pub args: [u64; 6],
    /// Return value; `None` for [`Completion::EnterOnly`].
    pub ret: Option<i64>,
    /// sys_exit time minus sys_enter time; `None` unless complete.
    pub duration_ns: Option<u64>,
    pub cgroup_id: u64,
    /// Typed, decoded parameters (paths, buffers, addresses...). May be empty.
    pub params: Vec<Param>,
}

/// A decoded parameter of a syscall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Which argument (0..=5) this decodes, or [`Param::RETURN`] for data tied to the
    /// return value (e.g. the fds `pipe` filled in).
    pub slot: u8,
    pub value: ParamValue,
}

impl Param {
    pub const RETURN: u8 = 0xff;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamValue {
    /// A path as the process passed it (not resolved).
    Path(Vec<u8>),
    /// A NUL-free string argument that is not a path.
    Str(Vec<u8>),
    Fd(i32),
    /// Several fds (pipe, socketpair).
    Fds(Vec<i32>),
    SockAddr(SockAddr),
    Buffer(Buffer),
    /// A list of strings (argv, envp).
    StrList {
        items: Vec<Vec<u8>>,
        truncated: bool,
    },
}

/// Bytes a syscall read or wrote, as far as they were captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    /// The captured prefix.
    pub data: Vec<u8>,
    /// The length the syscall actually transferred (or was asked to).
    pub original_len: u64,
    /// Why `data` is shorter than `original_len`, if it is.
    pub cut: BufferCut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BufferCut {
    /// `data` is everything.
    Whole,
    /// Cut by the snaplen or the payload cap.
    Snaplen,
    /// User memory could not be read (not faulted in); not the same fact as a snaplen cut.
    Unreadable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockAddr {
    Inet {
        addr: [u8; 4],
        port: u16,
    },
    Inet6 {
        addr: [u8; 16],
        port: u16,
        scope_id: u32,
    },
    /// Path of a unix socket; abstract names start with a NUL byte.
    Unix(Vec<u8>),
    /// Another family, kept raw.
    Other {
        family: u16,
        raw: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvent {
    /// The new task's thread-group id (equal to `parent_pid` for a new thread).
    pub child_pid: u32,
    pub child_tid: u32,
    pub cgroup_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEvent {
    /// The path the kernel exec'd (`bprm->filename`).
    pub filename: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// The argv was longer than what was captured.
    pub argv_truncated: bool,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub cgroup_id: u64,
    /// The resolved executable (`/proc/PID/exe`), when the recorder could read it.
    pub exe: Option<Vec<u8>>,
    /// The working directory, when known.
    pub cwd: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    /// wait(2) status: exit code << 8, or the terminating signal in the low 7 bits.
    pub status: u32,
    /// The last thread of the group exited: the process is gone.
    pub group_dead: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupEvent {
    pub cgroup_id: u64,
    pub path: Vec<u8>,
}

// ---------------------------------------------------------------- metadata blocks

/// The machine the capture was recorded on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub arch: String,
    pub cpu_count: u32,
    pub boot_id: String,
    pub recorder_version: String,
    /// The recorder's settings (snaplen, payload caps, filters), as key -> value.
    pub settings: BTreeMap<String, String>,
}

/// A simultaneous reading of the two clocks, to map boot time to wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPair {
    pub boot_ns: BootNs,
    /// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
    pub realtime_ns: i64,
}

/// What the recorder knew about a process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub exe: Option<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub cgroup_id: u64,
    pub start_ts: Option<BootNs>,
    /// Set for tombstones: processes that had exited.
    pub exit_ts: Option<BootNs>,
    pub exit_status: Option<u32>,
    pub fds: Vec<FdInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdInfo {
    pub fd: i32,
    pub kind: FdKind,
    /// Path, `pipe:[inode]`, `socket:[inode]`, or the tty's path.
    pub name: Vec<u8>,
    pub local: Option<SockAddr>,
    pub remote: Option<SockAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FdKind {
    File,
    Directory,
    Pipe,
    Socket,
    Tty,
    Other,
}

/// A set of processes as they were at `ts` (the window's start, or a segment's start).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub ts: BootNs,
    pub processes: Vec<ProcessInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Full container id (64 hex digits for docker/podman/containerd).
    pub id: String,
    /// docker, podman, containerd, cri-o...
    pub runtime: String,
    pub name: Option<String>,
    pub image: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub hostname: Option<String>,
    /// cgroup ids (cgroup v2 inode numbers) whose tasks belong to this container.
    pub cgroup_ids: Vec<u64>,
    /// The cgroup path the id was parsed from.
    pub cgroup_path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub uid: u32,
    pub name: String,
    /// Empty for the host; else the container id whose /etc/passwd this came from.
    pub container_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub gid: u32,
    pub name: String,
    pub container_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersAndGroups {
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
}

/// An alert or a manual marker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// falco, falcosidekick, alertmanager, cli, signal, rule:NAME...
    pub source: String,
    /// The recorder's receipt time.
    pub received_boot_ns: BootNs,
    pub received_realtime_ns: i64,
    /// The time the payload itself claims, if it has one (RFC 3339 as sent).
    pub payload_time: Option<String>,
    /// A one-line summary (rule name / alert name / reason).
    pub summary: String,
    /// The payload exactly as received.
    pub payload: Vec<u8>,
}

/// Lost events by cause, CPU and time range: where the record has holes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropLedger {
    pub entries: Vec<DropEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropEntry {
    /// ring_full, unreadable, scratch_full, user_queue_full, ...
    pub cause: String,
    /// The CPU the loss happened on; `None` for a per-process entry.
    pub cpu: Option<u32>,
    /// Set on per-process entries, which break the per-CPU totals down by process (they
    /// are a second view of the same losses: do not add them to the per-CPU entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub from: BootNs,
    pub to: BootNs,
    pub count: u64,
}
