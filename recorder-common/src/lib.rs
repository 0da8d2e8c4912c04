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
}

/// `flags` bits of [`ExecRecord`].
pub mod exec_flags {
    /// The argv block was longer than [`super::EXEC_ARGS_MAX`].
    pub const ARGS_TRUNCATED: u32 = 1 << 0;
    /// The argv block could not be read from user memory.
    pub const ARGS_UNREADABLE: u32 = 1 << 1;
    /// The filename was longer than [`super::EXEC_FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 2;
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

/// A syscall, enter and exit joined at sys_exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    pub header: RecordHeader,
    /// Syscall number in the ABI given by `flags`.
    pub nr: u32,
    /// [`syscall_flags`].
    pub flags: u32,
    /// Boot-time ns at sys_enter; `header.ts` is the exit time.
    pub enter_ts: u64,
    pub args: [u64; 6],
    pub ret: i64,
    pub cgroup_id: u64,
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
    pub cgroup_kn: u32,
    pub cgroup_root: u32,
    pub kernfs_node_id: u32,
    pub cgroup_root_hierarchy_id: u32,
}

/// Indices into the per-CPU drop counter array: each loss counted where it happens.
pub mod drop_cause {
    /// The ring buffer had no room for a record.
    pub const RING_FULL: u32 = 0;
    /// A sys_exit arrived without its sys_enter (e.g. the entry map was full).
    pub const EXIT_WITHOUT_ENTER: u32 = 1;
    /// A sys_enter's state could not be stored.
    pub const ENTER_MAP_FULL: u32 = 2;
    pub const COUNT: u32 = 3;
}

#[cfg(feature = "user")]
mod user {
    use super::*;
    // SAFETY: all of these are repr(C), made only of integers and byte arrays, with every
    // padding byte an explicit field, so any bit pattern is valid.
    unsafe impl aya::Pod for KernelOffsets {}
    unsafe impl aya::Pod for RecordHeader {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    /// The layouts are part of the kernel<->user contract: a change here must be on purpose.
    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<RecordHeader>(), 24);
        assert_eq!(size_of::<SyscallRecord>(), 24 + 8 + 8 + 48 + 8 + 8);
        assert_eq!(
            size_of::<ExecRecord>(),
            24 + 6 * 4 + 8 + 4 + 2 + 2 + 4 + 4 + 256 + 4096
        );
        assert_eq!(size_of::<ForkRecord>(), 24 + 8 + 8);
        assert_eq!(size_of::<ExitRecord>(), 24 + 8);
        assert_eq!(size_of::<KernelOffsets>(), 16 * 4);
        assert_eq!(size_of::<CgroupMkdirRecord>(), 24 + 8 + 4 + 4 + 256);
    }
}
