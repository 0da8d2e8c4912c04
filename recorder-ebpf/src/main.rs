//! aftertrace's kernel programs. They copy, they do not interpret: every record is a
//! fixed-layout struct from `recorder-common`, decoded in userspace. Every loss is counted
//! in `DROPS` at the place it happens.
//!
//! The crate is built for `bpfel-unknown-none` by `recorder/build.rs`; on the host it
//! compiles to an empty binary so that workspace-wide commands (`cargo build --workspace`,
//! clippy) work.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use core::ptr::{addr_of, addr_of_mut, read_volatile};

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_get_current_uid_gid, bpf_get_smp_processor_id, bpf_ktime_get_boot_ns,
        bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes, gen::bpf_probe_read_user,
    },
    macros::{map, raw_tracepoint},
    maps::{LruHashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
    EbpfContext,
};
use recorder_common::{
    drop_cause, exec_flags, kind, syscall_flags, CgroupMkdirRecord, ExecRecord, ExitRecord,
    ForkRecord, KernelOffsets, RecordHeader, SyscallRecord, EXEC_ARGS_MAX, EXEC_FILENAME_MAX,
};

/// Offsets into kernel structures, set by userspace from BTF before load.
#[no_mangle]
static OFFSETS: KernelOffsets = KernelOffsets {
    task_pid: 0,
    task_tgid: 0,
    task_real_parent: 0,
    task_exit_code: 0,
    task_mm: 0,
    task_cred: 0,
    task_ti_status: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    cred_euid: 0,
    cred_egid: 0,
    bprm_filename: 0,
    cgroup_kn: 0,
    cgroup_root: 0,
    kernfs_node_id: 0,
    cgroup_root_hierarchy_id: 0,
};

/// The recorder's own thread-group id: its syscalls are not recorded, or draining the
/// ring buffer would feed it.
#[no_mangle]
static RECORDER_TGID: u32 = 0;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024 * 1024, 0);

/// Per-CPU loss counters indexed by `drop_cause`.
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(drop_cause::COUNT, 0);

/// A syscall's enter half, waiting for its exit. LRU: a thread that execs or exits never
/// reaches its sys_exit, and its entry must age out rather than fill the map.
#[repr(C)]
#[derive(Clone, Copy)]
struct Pending {
    ts: u64,
    nr: u32,
    flags: u32,
    args: [u64; 6],
}

#[map]
static PENDING: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(65536, 0);

/// x86_64 `struct pt_regs`, in register order (a stable ABI).
#[repr(C)]
#[derive(Clone, Copy)]
struct PtRegs {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    bp: u64,
    bx: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    ax: u64,
    cx: u64,
    dx: u64,
    si: u64,
    di: u64,
    orig_ax: u64,
    ip: u64,
    cs: u64,
    flags: u64,
    sp: u64,
    ss: u64,
}

/// x86's TS_COMPAT in `thread_info.status`: the current syscall came in through the
/// 32-bit entry and its number is an i386 one.
const TS_COMPAT: u32 = 0x0002;

#[inline(always)]
fn offsets() -> KernelOffsets {
    // SAFETY: a plain global; read_volatile stops the compiler from folding the zero
    // initialiser, since userspace rewrites it before load.
    unsafe { read_volatile(addr_of!(OFFSETS)) }
}

#[inline(always)]
fn count_drop(cause: u32) {
    if let Some(p) = DROPS.get_ptr_mut(cause) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += 1 };
    }
}

#[inline(always)]
unsafe fn raw_arg(ctx: &RawTracePointContext, n: usize) -> u64 {
    // A raw tracepoint's context is `struct bpf_raw_tracepoint_args { u64 args[]; }`.
    *(ctx.as_ptr() as *const u64).add(n)
}

#[inline(always)]
unsafe fn read_kernel<T>(base: u64, offset: u32) -> Result<T, i64> {
    bpf_probe_read_kernel((base + offset as u64) as *const T)
}

#[inline(always)]
fn header(kind: u32, ts: u64) -> RecordHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
    RecordHeader {
        kind,
        // SAFETY: helper with no preconditions.
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
    }
}

#[inline(always)]
fn is_recorder() -> bool {
    // SAFETY: plain global set before load.
    let me = unsafe { read_volatile(addr_of!(RECORDER_TGID)) };
    (bpf_get_current_pid_tgid() >> 32) as u32 == me
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_sys_enter(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_sys_enter(ctx: &RawTracePointContext) -> Result<(), i64> {
    if is_recorder() {
        return Ok(());
    }
    let regs_ptr = raw_arg(ctx, 0);
    let nr = raw_arg(ctx, 1) as u32;
    let regs: PtRegs = bpf_probe_read_kernel(regs_ptr as *const PtRegs)?;
    let task = bpf_get_current_task();
    let status: u32 = read_kernel(task, offsets().task_ti_status).unwrap_or(0);
    let (flags, args) = if status & TS_COMPAT != 0 {
        (
            syscall_flags::COMPAT,
            [regs.bx, regs.cx, regs.dx, regs.si, regs.di, regs.bp],
        )
    } else {
        (0, [regs.di, regs.si, regs.dx, regs.r10, regs.r8, regs.r9])
    };
    let pending = Pending {
        ts: bpf_ktime_get_boot_ns(),
        nr,
        flags,
        args,
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    if PENDING.insert(&tid, &pending, 0).is_err() {
        count_drop(drop_cause::ENTER_MAP_FULL);
    }
    Ok(())
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_sys_exit(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_sys_exit(ctx: &RawTracePointContext) -> Result<(), i64> {
    if is_recorder() {
        return Ok(());
    }
    let ret = raw_arg(ctx, 1) as i64;
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(pending) = PENDING.get_ptr(&tid) else {
        count_drop(drop_cause::EXIT_WITHOUT_ENTER);
        return Ok(());
    };
    let pending = *pending;
    let _ = PENDING.remove(&tid);
    let Some(mut entry) = EVENTS.reserve::<SyscallRecord>(0) else {
        count_drop(drop_cause::RING_FULL);
        return Ok(());
    };
    entry.write(SyscallRecord {
        header: header(kind::SYSCALL, bpf_ktime_get_boot_ns()),
        nr: pending.nr,
        flags: pending.flags,
        enter_ts: pending.ts,
        args: pending.args,
        ret,
        cgroup_id: bpf_get_current_cgroup_id(),
    });
    entry.submit(0);
    Ok(())
}

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_exec(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_exec(ctx: &RawTracePointContext) -> Result<(), i64> {
    let task = raw_arg(ctx, 0);
    let old_pid = raw_arg(ctx, 1) as u32;
    let bprm = raw_arg(ctx, 2);
    let off = offsets();
    let ts = bpf_ktime_get_boot_ns();

    let Some(mut entry) = EVENTS.reserve::<ExecRecord>(0) else {
        count_drop(drop_cause::RING_FULL);
        return Ok(());
    };
    // The record is 4 KiB, far above the 512-byte BPF stack: fill it in place.
    let rec = entry.as_mut_ptr();
    addr_of_mut!((*rec).header).write(header(kind::EXEC, ts));
    addr_of_mut!((*rec).old_pid).write(old_pid);

    let parent: u64 = read_kernel(task, off.task_real_parent).unwrap_or(0);
    let ppid: u32 = if parent != 0 {
        read_kernel(parent, off.task_tgid).unwrap_or(0)
    } else {
        0
    };
    addr_of_mut!((*rec).ppid).write(ppid);
    let uid_gid = bpf_get_current_uid_gid();
    addr_of_mut!((*rec).uid).write(uid_gid as u32);
    addr_of_mut!((*rec).gid).write((uid_gid >> 32) as u32);
    let cred: u64 = read_kernel(task, off.task_cred).unwrap_or(0);
    let (euid, egid) = if cred != 0 {
        (
            read_kernel::<u32>(cred, off.cred_euid).unwrap_or(u32::MAX),
            read_kernel::<u32>(cred, off.cred_egid).unwrap_or(u32::MAX),
        )
    } else {
        (u32::MAX, u32::MAX)
    };
    addr_of_mut!((*rec).euid).write(euid);
    addr_of_mut!((*rec).egid).write(egid);
    addr_of_mut!((*rec).cgroup_id).write(bpf_get_current_cgroup_id());
    addr_of_mut!((*rec)._pad0).write(0);

    let mut flags = 0u32;
    let filename_ptr: u64 = read_kernel(bprm, off.bprm_filename).unwrap_or(0);
    let filename = &mut *addr_of_mut!((*rec).filename);
    let filename_len = match bpf_probe_read_kernel_str_bytes(filename_ptr as *const u8, filename) {
        Ok(s) => s.len(),
        Err(_) => 0,
    };
    if filename_len >= EXEC_FILENAME_MAX - 1 {
        flags |= exec_flags::FILENAME_TRUNCATED;
    }
    addr_of_mut!((*rec).filename_len).write(filename_len as u16);

    // argv from the new image's stack: the reliable copy (the execve argument pointers
    // belonged to the old image and may have been rewritten).
    let mm: u64 = read_kernel(task, off.task_mm).unwrap_or(0);
    let (arg_start, arg_end) = if mm != 0 {
        (
            read_kernel::<u64>(mm, off.mm_arg_start).unwrap_or(0),
            read_kernel::<u64>(mm, off.mm_arg_end).unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let total = arg_end.saturating_sub(arg_start);
    let mut len = total;
    if len > EXEC_ARGS_MAX as u64 {
        len = EXEC_ARGS_MAX as u64;
        flags |= exec_flags::ARGS_TRUNCATED;
    }
    // Bound the size again so the verifier sees it within the buffer.
    let len = (len as u32) & (2 * EXEC_ARGS_MAX as u32 - 1);
    let mut read_len = 0u32;
    if len > 0 && len <= EXEC_ARGS_MAX as u32 {
        let dst = addr_of_mut!((*rec).args) as *mut core::ffi::c_void;
        if bpf_probe_read_user(dst, len, arg_start as *const core::ffi::c_void) == 0 {
            read_len = len;
        } else {
            flags |= exec_flags::ARGS_UNREADABLE;
        }
    }
    addr_of_mut!((*rec).args_len).write(read_len as u16);
    addr_of_mut!((*rec).args_total).write(total.min(u32::MAX as u64) as u32);
    addr_of_mut!((*rec).flags).write(flags);
    entry.submit(0);
    Ok(())
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_fork(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_fork(ctx: &RawTracePointContext) -> Result<(), i64> {
    let child = raw_arg(ctx, 1);
    let off = offsets();
    let child_pid: u32 = read_kernel(child, off.task_tgid)?;
    let child_tid: u32 = read_kernel(child, off.task_pid)?;
    let Some(mut entry) = EVENTS.reserve::<ForkRecord>(0) else {
        count_drop(drop_cause::RING_FULL);
        return Ok(());
    };
    entry.write(ForkRecord {
        header: header(kind::FORK, bpf_ktime_get_boot_ns()),
        child_pid,
        child_tid,
        cgroup_id: bpf_get_current_cgroup_id(),
    });
    entry.submit(0);
    Ok(())
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_exit(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_exit(ctx: &RawTracePointContext) -> Result<(), i64> {
    let task = raw_arg(ctx, 0);
    let group_dead = raw_arg(ctx, 1) as u8 as u32;
    let exit_code: u32 = read_kernel(task, offsets().task_exit_code).unwrap_or(0);
    let Some(mut entry) = EVENTS.reserve::<ExitRecord>(0) else {
        count_drop(drop_cause::RING_FULL);
        return Ok(());
    };
    entry.write(ExitRecord {
        header: header(kind::EXIT, bpf_ktime_get_boot_ns()),
        exit_code,
        group_dead,
    });
    entry.submit(0);
    Ok(())
}

#[raw_tracepoint(tracepoint = "cgroup_mkdir")]
pub fn cgroup_mkdir(ctx: RawTracePointContext) -> i32 {
    match unsafe { try_cgroup_mkdir(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

unsafe fn try_cgroup_mkdir(ctx: &RawTracePointContext) -> Result<(), i64> {
    let cgrp = raw_arg(ctx, 0);
    let path = raw_arg(ctx, 1);
    let off = offsets();
    let kn: u64 = read_kernel(cgrp, off.cgroup_kn)?;
    let cgroup_id: u64 = read_kernel(kn, off.kernfs_node_id)?;
    let root: u64 = read_kernel(cgrp, off.cgroup_root)?;
    let hierarchy_id: u32 = read_kernel(root, off.cgroup_root_hierarchy_id)?;
    let Some(mut entry) = EVENTS.reserve::<CgroupMkdirRecord>(0) else {
        count_drop(drop_cause::RING_FULL);
        return Ok(());
    };
    let rec = entry.as_mut_ptr();
    addr_of_mut!((*rec).header).write(header(kind::CGROUP_MKDIR, bpf_ktime_get_boot_ns()));
    addr_of_mut!((*rec).cgroup_id).write(cgroup_id);
    addr_of_mut!((*rec).hierarchy_id).write(hierarchy_id);
    let buf = &mut *addr_of_mut!((*rec).path);
    let len = match bpf_probe_read_kernel_str_bytes(path as *const u8, buf) {
        Ok(s) => s.len() as u32,
        Err(_) => 0,
    };
    addr_of_mut!((*rec).path_len).write(len);
    entry.submit(0);
    Ok(())
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
