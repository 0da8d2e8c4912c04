//! Kernel<->user wire types. Every struct is `#[repr(C)]` with explicit padding fields so
//! that the BPF and host compilers agree on the layout byte for byte.
#![no_std]

/// Kinds of records in the event ring buffer; the first `u32` of every record.
pub mod kind {
    pub const SYSCALL: u32 = 1;
    pub const EXEC: u32 = 2;
    pub const FORK: u32 = 3;
    pub const EXIT: u32 = 4;
    pub const CGROUP_MKDIR: u32 = 5;
    /// More of a full-payload buffer ([`DataMoreRecord`]).
    pub const DATA_MORE: u32 = 6;
}

/// Bytes of a new cgroup's path kept.
pub const CGROUP_PATH_MAX: usize = 256;

/// Bytes of the exec'd filename kept (the kernel's `bprm->filename`).
pub const EXEC_FILENAME_MAX: usize = 256;
/// Bytes of the NUL-separated argv block kept, read from the new image's stack.
pub const EXEC_ARGS_MAX: usize = 4096;

/// `flags` bits of [`SyscallRecord`].
pub mod syscall_flags {
    /// The syscall came through the 32-bit (ia32 / int 0x80) entry: `nr` is an i386 number.
    pub const COMPAT: u32 = 1 << 0;
    /// The first half of a successful execve/execveat, emitted at `sched_process_exec`
    /// (the programs attach no sys_enter): its PATH item is the kernel's copy of the
    /// filename (`bprm->filename`), its argument registers are gone (the new image cleared
    /// them), so `args` are 0. The matching sys_exit record has `EXIT_HALF`. Both halves
    /// travel in the lifecycle ring.
    pub const ENTER_HALF: u32 = 1 << 1;
    /// Emitted at sys_exit for a successful execve/execveat, whose `ENTER_HALF` came from
    /// `sched_process_exec`: join the two. A failed execve is one whole record instead
    /// (its memory is still there at sys_exit).
    pub const EXIT_HALF: u32 = 1 << 2;
    /// A syscall that never returns (exit, exit_group), emitted at `sched_process_exit`
    /// from the exiting task's saved registers, just before its [`super::ExitRecord`].
    pub const NO_RETURN: u32 = 1 << 3;
    /// Its BUF item holds the first [`super::MAX_ITEM`] bytes of a full-payload buffer;
    /// the rest follows in [`super::DataMoreRecord`]s of the same thread.
    pub const CONTINUED: u32 = 1 << 4;
}

/// `flags` bits of [`DataMoreRecord`].
pub mod data_more_flags {
    /// The buffer's last piece (up to the payload cap).
    pub const LAST: u32 = 1 << 0;
    /// User memory could not be read from `offset` on: nothing more follows.
    pub const UNREADABLE: u32 = 1 << 1;
}

/// The next piece (at most [`MAX_ITEM`] bytes, `len` of them following this header) of the
/// BUF item of the syscall record flagged `CONTINUED`, or of the argv block of the exec
/// record flagged `ARGS_CONTINUED`, that this thread emitted last.
/// Emitted right after it, in the same program run, so nothing of the thread's comes in
/// between; a piece the ring had no room for ends the sequence (counted as DATA_LOST).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataMoreRecord {
    /// `ts` is the syscall record's.
    pub header: RecordHeader,
    /// Where this piece starts in the buffer.
    pub offset: u64,
    /// Bytes of data following this header.
    pub len: u32,
    /// [`data_more_flags`].
    pub flags: u32,
}

/// Kinds of decoded parameters following a [`SyscallRecord`].
pub mod param_kind {
    /// A NUL-terminated path from user memory (the NUL is not included).
    pub const PATH: u8 = 1;
    /// A NUL-terminated string that is not a path.
    pub const STR: u8 = 2;
    /// Bytes the syscall read or wrote, up to the snaplen.
    pub const BUF: u8 = 3;
    /// A socket address (`struct sockaddr_*`), raw.
    pub const SOCKADDR: u8 = 4;
    /// Two `int` fds the kernel filled in (pipe, pipe2, socketpair).
    pub const FDS2: u8 = 5;
    /// Data of an iovec array (readv/writev...), concatenated up to the snaplen.
    pub const IOV: u8 = 6;
    /// A `struct msghdr` (sendmsg/recvmsg): emits a SOCKADDR (if any) and a BUF item.
    pub const MSGHDR: u8 = 7;
}

/// `flags` bits of a [`ParamHeader`].
pub mod param_flags {
    /// Cut by the snaplen (or the string/sockaddr cap): `orig_len` is larger than `len`.
    pub const CUT: u8 = 1 << 0;
    /// User memory could not be read (not faulted in, or a bad pointer).
    pub const UNREADABLE: u8 = 1 << 1;
}

/// Where a parameter's length comes from ([`ParamSpec::len_from`]).
pub mod len_from {
    /// `0..=5`: the value of that argument.
    pub const ARG_MAX: u8 = 5;
    /// The syscall's return value, when positive (bytes transferred).
    pub const RET: u8 = 6;
    /// No length: a NUL-terminated string, or a fixed-size item.
    pub const NONE: u8 = 7;
    /// `8..=13`: a `u32` read from user memory at the pointer in argument `n - 8`
    /// (accept's `addrlen`).
    pub const ARG_PTR_BASE: u8 = 8;
}

/// One parameter to capture: which argument holds the pointer, what it points to, and
/// where its length comes from.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamSpec {
    /// One of [`param_kind`], 0 for none.
    pub kind: u8,
    /// Argument index (0..=5) holding the pointer.
    pub slot: u8,
    /// One of [`len_from`].
    pub len_from: u8,
    pub _pad: u8,
}

/// `flags` bits of [`SyscallPolicy`].
pub mod policy_flags {
    /// Read the parameters at sys_enter (the syscall replaces the memory they live in).
    pub const AT_ENTER: u32 = 1 << 0;
    /// The syscall does not return: emit its record at sys_enter.
    pub const NO_RETURN: u32 = 1 << 1;
    /// The syscall closes the fd in argument 0 (it stops being a full-payload fd).
    pub const CLOSES_FD: u32 = 1 << 2;
    /// An open whose flags are in argument 1 (`open`): a successful open for writing of a
    /// persistence path keeps the file's writes whole.
    pub const OPEN_FLAGS_ARG1: u32 = 1 << 3;
    /// The same, flags in argument 2 (`openat`).
    pub const OPEN_FLAGS_ARG2: u32 = 1 << 4;
    /// The same, always for writing (`creat`).
    pub const OPEN_FOR_WRITE: u32 = 1 << 5;
    /// Duplicates the fd in argument 0 to the fd it returns (`dup`, and `fcntl` with
    /// F_DUPFD/F_DUPFD_CLOEXEC): a full-payload fd stays one through its copies.
    pub const DUP_TO_RET: u32 = 1 << 6;
    /// Duplicates the fd in argument 0 onto the fd in argument 1 (`dup2`, `dup3`).
    pub const DUP_TO_ARG1: u32 = 1 << 7;
    /// `fcntl`: a duplication only for F_DUPFD (0) and F_DUPFD_CLOEXEC (1030).
    pub const FCNTL: u32 = 1 << 8;
    /// Returns a new fd for the path in its first item (open, openat, openat2, creat): the
    /// programs note whether it is a data-less device (/dev/null, /dev/zero...).
    pub const OPENS_FD: u32 = 1 << 9;
    /// `close_range`: closes the fds from argument 0 to argument 1.
    pub const CLOSE_RANGE: u32 = 1 << 10;
}

/// Bits of the per-process payload flags map (`PROC_FLAGS`).
pub mod proc_flags {
    /// Runs an interpreter: its reads and writes are kept whole (up to MAX_ITEM).
    pub const INTERPRETER: u32 = 1 << 0;
    /// Has a controlling terminal: I/O on fds 0-2 is kept whole (an interactive session).
    pub const CONTROLLING_TTY: u32 = 1 << 1;
    /// Has fds in FULL_FDS: only then is that map consulted (a lookup saved on every
    /// read and write over the snaplen of every other process). Kept across exec, since
    /// the fds are.
    pub const HAS_FULL_FDS: u32 = 1 << 2;
}

/// Key of the interpreter map: an executable's basename up to its first digit or dot
/// (`python3.11` -> `python`), NUL-padded.
pub type InterpreterKey = [u8; INTERPRETER_KEY_LEN];
pub const INTERPRETER_KEY_LEN: usize = 16;

/// The interpreter key of a path, as the kernel programs compute it at exec.
pub fn interpreter_key(path: &[u8]) -> InterpreterKey {
    let start = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let mut key = [0u8; INTERPRETER_KEY_LEN];
    for (k, &c) in key.iter_mut().zip(&path[start..]) {
        if c == 0 || c.is_ascii_digit() || c == b'.' {
            break;
        }
        *k = c;
    }
    key
}

/// Where attackers make themselves persist: files written there are kept whole. The
/// kernel programs match a path against these (a prefix, or a suffix); the inspector's
/// richer classification names every one (a test in aftertrace-analysis checks it).
pub const PERSISTENCE_PREFIXES: &[&[u8]] = &[
    b"/etc/cron",
    b"/var/spool/cron/",
    b"/etc/systemd/system/",
    b"/usr/lib/systemd/system/",
    b"/lib/systemd/system/",
    b"/etc/init.d/",
    b"/etc/rc.local",
    b"/etc/ld.so.preload",
    b"/etc/profile",
    b"/etc/bash.bashrc",
    b"/etc/sudoers",
];
pub const PERSISTENCE_SUFFIXES: &[&[u8]] = &[
    b"/.bashrc",
    b"/.profile",
    b"/.bash_profile",
    b"/.zshrc",
    b"/authorized_keys",
    b"/authorized_keys2",
];

/// Whether the kernel programs keep writes to `path` whole as a persistence location:
/// the programs' match ([`PERSISTENCE_PREFIXES`], [`PERSISTENCE_SUFFIXES`]), for
/// userspace and tests.
pub fn is_persistence_path(path: &[u8]) -> bool {
    PERSISTENCE_PREFIXES.iter().any(|p| path.starts_with(p))
        || PERSISTENCE_SUFFIXES.iter().any(|s| path.ends_with(s))
}

/// What the programs capture for one syscall number of one ABI; an array map per ABI,
/// filled by userspace from its table at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallPolicy {
    /// [`policy_flags`].
    pub flags: u32,
    pub params: [ParamSpec; MAX_PARAMS],
}

pub const MAX_PARAMS: usize = 3;
/// Syscall numbers covered by the policy maps (x86_64 and i386 both stay below this).
pub const MAX_SYSCALL_NR: u32 = 512;

/// Header of one decoded parameter; `len` bytes of data follow it, then padding to the
/// next multiple of 8 (items start 8-byte aligned) unless it is the last item.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamHeader {
    /// Argument index (0..=5) the parameter came from.
    pub slot: u8,
    /// One of [`param_kind`] (MSGHDR yields SOCKADDR and BUF items).
    pub kind: u8,
    /// [`param_flags`].
    pub flags: u8,
    pub _pad: u8,
    /// Bytes of data following this header.
    pub len: u32,
    /// The full length in user memory (what the syscall transferred or was given).
    pub orig_len: u64,
}

/// Largest data item the programs copy: the snaplen is capped to this, and it is the
/// payload kept per syscall where the full-payload policy applies (interpreters' reads,
/// writes of scripts and executables).
pub const MAX_ITEM: usize = 8192;
/// Default cap on a full-payload buffer (an interpreter's read of a whole script, a
/// written executable): the first MAX_ITEM bytes in the syscall record, the rest in
/// DATA_MORE pieces. The kernel side can carry at most [`FULL_PAYLOAD_LIMIT`].
pub const FULL_PAYLOAD_DEFAULT: u32 = 1 << 20;
/// What one syscall's pieces can reach: the programs chain at most 32 tail calls of
/// [`MORE_PIECES_PER_CALL`] pieces each.
pub const FULL_PAYLOAD_LIMIT: u32 = MAX_ITEM as u32 * (1 + 32 * MORE_PIECES_PER_CALL);
/// DATA_MORE pieces one run of the continuation program emits before it tail-calls itself.
pub const MORE_PIECES_PER_CALL: u32 = 8;
/// Per-CPU scratch where variable-size records are assembled before `bpf_ringbuf_output`.
/// Twice the largest record, so that masked offsets keep the verifier convinced.
pub const SCRATCH_SIZE: usize = 65536;
/// Longest path or string kept.
pub const MAX_STR: usize = 4096;
/// Longest socket address kept (`sockaddr_storage`).
pub const MAX_SOCKADDR: usize = 128;

/// `flags` bits of [`ExecRecord`].
pub mod exec_flags {
    /// The argv block was longer than [`super::EXEC_ARGS_MAX`].
    pub const ARGS_TRUNCATED: u32 = 1 << 0;
    /// The argv block could not be read from user memory.
    pub const ARGS_UNREADABLE: u32 = 1 << 1;
    /// The filename was longer than [`super::EXEC_FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 2;
    /// The argv block goes on beyond `args` in [`super::DataMoreRecord`] pieces (up to the
    /// payload cap): `bash -c` with a long script, `python -c` with an encoded payload.
    pub const ARGS_CONTINUED: u32 = 1 << 3;
}

/// Common prefix of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// One of [`kind`].
    pub kind: u32,
    /// CPU the record was produced on.
    pub cpu: u32,
    /// CLOCK_BOOTTIME nanoseconds (`bpf_ktime_get_boot_ns`).
    pub ts: u64,
    /// Thread-group id (what userspace calls the pid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
}

/// A syscall. Most are emitted once at sys_exit, where the argument registers and the
/// buffers the kernel filled are both available; see [`syscall_flags`] for the rest.
/// `params_len` bytes of [`ParamHeader`] items follow it in the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    /// `ts` is the sys_exit time (sys_enter for `ENTER_HALF` and `NO_RETURN` records).
    pub header: RecordHeader,
    /// Syscall number in the ABI given by `flags`.
    pub nr: u32,
    /// [`syscall_flags`].
    pub flags: u32,
    pub args: [u64; 6],
    pub ret: i64,
    pub cgroup_id: u64,
    /// Bytes of parameter items that follow.
    pub params_len: u32,
    /// Number of parameter items that follow.
    pub nparams: u32,
}

/// A successful exec, from `sched_process_exec` (the new image is in place).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub header: RecordHeader,
    /// Parent's thread-group id (`real_parent->tgid`).
    pub ppid: u32,
    /// The pid before exec when a non-leader thread exec'd (else equal to `header.pid`).
    pub old_pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub cgroup_id: u64,
    /// [`exec_flags`].
    pub flags: u32,
    /// Bytes used in `filename` (without the NUL).
    pub filename_len: u16,
    /// Bytes used in `args` (NUL-separated strings, each NUL-terminated).
    pub args_len: u16,
    /// Full size of the argv block in user memory, which may exceed `args_len`.
    pub args_total: u32,
    pub _pad0: u32,
    pub filename: [u8; EXEC_FILENAME_MAX],
    pub args: [u8; EXEC_ARGS_MAX],
}

/// A new task (process or thread), from `sched_process_fork`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkRecord {
    /// `pid`/`tid` are the parent's.
    pub header: RecordHeader,
    pub child_pid: u32,
    pub child_tid: u32,
    pub cgroup_id: u64,
}

/// A task's exit, from `sched_process_exit`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitRecord {
    pub header: RecordHeader,
    /// `task->exit_code`: a wait(2) status (exit code << 8, or the killing signal).
    pub exit_code: u32,
    /// Non-zero when this was the last thread of its group (the process is gone).
    pub group_dead: u32,
}

/// A cgroup was created (`cgroup_mkdir`): lets short-lived containers resolve, since
/// their cgroup directory may be gone before userspace could look it up.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupMkdirRecord {
    pub header: RecordHeader,
    /// The cgroup's kernfs id: the inode number, and what `bpf_get_current_cgroup_id`
    /// returns for tasks in it on the v2 hierarchy.
    pub cgroup_id: u64,
    /// 0 is the cgroup v2 (unified) hierarchy; others are v1 hierarchies.
    pub hierarchy_id: u32,
    /// Bytes used in `path` (without the NUL).
    pub path_len: u32,
    /// Path relative to the hierarchy's root, e.g. `/libpod_parent/libpod-<id>`.
    pub path: [u8; CGROUP_PATH_MAX],
}

/// Offsets into kernel structures, read from the running kernel's BTF at load time and
/// handed to the programs as a global (aya's Rust eBPF has no CO-RE field relocations).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_exit_code: u32,
    pub task_mm: u32,
    pub task_cred: u32,
    /// `task_struct.thread_info.status`, which carries TS_COMPAT on x86.
    pub task_ti_status: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub bprm_filename: u32,
    pub task_signal: u32,
    pub signal_tty: u32,
    pub cgroup_kn: u32,
    pub cgroup_root: u32,
    pub kernfs_node_id: u32,
    pub cgroup_root_hierarchy_id: u32,
}

/// Indices into the per-CPU drop counter array: each loss counted where it happens.
pub mod drop_cause {
    /// The event ring buffer (syscall records) had no room for a record.
    pub const RING_FULL: u32 = 0;
    /// A parameter could not be read from user memory (the record is kept, the item is
    /// marked unreadable): counted so a responder knows how often data is missing.
    pub const UNREADABLE: u32 = 1;
    /// The per-CPU scratch buffer was unavailable: the record was lost.
    pub const SCRATCH_FULL: u32 = 2;
    /// The syscall's saved registers could not be read: the record was lost. No longer
    /// produced since the programs read them with direct loads; kept so the ledger's
    /// indices stay stable.
    pub const REGS_UNREADABLE: u32 = 3;
    /// A piece of a full-payload buffer beyond the first MAX_ITEM bytes found no room in
    /// the ring: the record is kept, its data cut there.
    pub const DATA_LOST: u32 = 4;
    /// The lifecycle ring (exec, fork, exit, cgroup records, execve's and exit's syscall
    /// records) had no room: a process-tree record was lost. Its own ring, drained first,
    /// so that a syscall flood fills the event ring and never this one.
    pub const LIFECYCLE_FULL: u32 = 5;
    pub const COUNT: u32 = 6;
}

/// What the syscall hooks do (`FLOOR` global of the programs): the
/// bench's floor modes measure the cost of the attachment itself with the project's own
/// programs returning at once.
pub mod floor {
    /// Recording.
    pub const OFF: u32 = 0;
    /// Only sys_exit attached, returning at once.
    pub const SYS_EXIT: u32 = 1;
    /// sys_enter and sys_exit attached, both returning at once.
    pub const SYS_ENTER_EXIT: u32 = 2;
}

#[cfg(feature = "user")]
mod user {
    use super::*;
    // SAFETY: all of these are repr(C), made only of integers and byte arrays, with every
    // padding byte an explicit field, so any bit pattern is valid.
    unsafe impl aya::Pod for KernelOffsets {}
    unsafe impl aya::Pod for RecordHeader {}
    unsafe impl aya::Pod for SyscallPolicy {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    /// The layouts are part of the kernel<->user contract: a change here must be on purpose.
    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<RecordHeader>(), 24);
        assert_eq!(size_of::<SyscallRecord>(), 24 + 8 + 48 + 8 + 8 + 8);
        assert_eq!(size_of::<ParamHeader>(), 16);
        assert_eq!(size_of::<SyscallPolicy>(), 16);
        assert_eq!(
            size_of::<ExecRecord>(),
            24 + 6 * 4 + 8 + 4 + 2 + 2 + 4 + 4 + 256 + 4096
        );
        assert_eq!(size_of::<ForkRecord>(), 24 + 8 + 8);
        assert_eq!(size_of::<ExitRecord>(), 24 + 8);
        assert_eq!(size_of::<KernelOffsets>(), 18 * 4);
        assert_eq!(size_of::<CgroupMkdirRecord>(), 24 + 8 + 4 + 4 + 256);
        assert_eq!(size_of::<DataMoreRecord>(), 24 + 8 + 4 + 4);
    }
}
