//! aftertrace's kernel programs. They copy, they do not interpret: every record is a
//! fixed-layout struct from `recorder-common`, decoded in userspace. Every loss is counted
//! in `DROPS` at the place it happens.
//!
//! The crate is built for `bpfel-unknown-none` by `recorder/build.rs`; on the host it
//! compiles to an empty binary so that workspace-wide commands (`cargo build --workspace`,
//! clippy) work.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use core::{
    ffi::c_void,
    mem::size_of,
    ptr::{addr_of, addr_of_mut, read_volatile},
};

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_get_current_uid_gid, bpf_get_smp_processor_id, bpf_ktime_get_boot_ns,
        bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes, bpf_probe_read_user,
        gen::{
            bpf_get_current_task_btf, bpf_probe_read_kernel_str,
            bpf_probe_read_user as probe_read_user_raw, bpf_probe_read_user_str, bpf_task_pt_regs,
        },
    },
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
    programs::RawTracePointContext,
    EbpfContext,
};
use recorder_common::{
    data_more_flags, drop_cause, exec_flags, floor, kind, len_from, param_flags, param_kind,
    policy_flags, proc_flags, syscall_flags, CgroupMkdirRecord, DataMoreRecord, ExecRecord,
    ExitRecord, ForkRecord, InterpreterKey, KernelOffsets, ParamHeader, ParamSpec, RecordHeader,
    SyscallPolicy, SyscallRecord, EXEC_ARGS_MAX, EXEC_FILENAME_MAX, FULL_PAYLOAD_DEFAULT,
    FULL_PAYLOAD_LIMIT, INTERPRETER_KEY_LEN, MAX_ITEM, MAX_PARAMS, MAX_SOCKADDR, MAX_STR,
    MAX_SYSCALL_NR, MORE_PIECES_PER_CALL, SCRATCH_SIZE,
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
    task_signal: 0,
    signal_tty: 0,
    cgroup_kn: 0,
    cgroup_root: 0,
    kernfs_node_id: 0,
    cgroup_root_hierarchy_id: 0,
};

/// The recorder's own thread-group id: its syscalls are not recorded, or draining the
/// ring buffer would feed it.
#[no_mangle]
static RECORDER_TGID: u32 = 0;

/// Syscall records (and the pieces of their full-payload buffers).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024 * 1024, 0);

/// Process-tree records: exec (and its argv pieces), fork, exit, cgroup_mkdir, and the
/// syscall records of execve and exit/exit_group. A ring of their own, which userspace
/// drains first: a syscall flood fills EVENTS and loses syscall records, never these.
#[map]
static LIFECYCLE: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Slot 0 is 1 once userspace attached `sched_prepare_exec` (Linux >= 6.10): execve's
/// first half then comes from there, where the old image, its registers and its ABI are
/// still in place; else `sched_process_exec` makes it from `bprm->filename`.
#[map]
static EXEC_ENTER_HOOKED: Array<u32> = Array::with_max_entries(1, 0);

/// `floor::*`: the bench's floor modes, where the syscall hooks return at once.
#[no_mangle]
static FLOOR: u32 = floor::OFF;

/// Per-CPU loss counters indexed by `drop_cause`.
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(drop_cause::COUNT, 0);

/// Where variable-size syscall records are assembled before `bpf_ringbuf_output`.
#[repr(C)]
struct Scratch {
    buf: [u8; SCRATCH_SIZE],
    /// The rest of a full-payload buffer, handed from `sys_exit` to `sys_exit_more`
    /// (a tail call: same CPU, same run).
    more: More,
}

/// What is left of a full-payload buffer beyond its first MAX_ITEM bytes.
#[repr(C)]
struct More {
    /// User address of the next piece.
    src: u64,
    /// Offset of the next piece in the buffer.
    offset: u64,
    /// Bytes still to emit (0: nothing pending).
    left: u64,
    /// The syscall record's time, repeated in every piece.
    ts: u64,
    /// Non-zero: the pieces go to LIFECYCLE (an exec's argv), else to EVENTS.
    lifecycle: u64,
}

/// Slot 0: `sys_exit_more`, which emits the pieces and tail-calls itself for more;
/// slot 1: `sys_exit_open`, which notes whether an open made a data-less fd.
#[map]
static MORE_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);

/// Cap on a full-payload buffer (bytes, at most FULL_PAYLOAD_LIMIT), set by userspace.
#[no_mangle]
static FULL_PAYLOAD: u32 = FULL_PAYLOAD_DEFAULT;

/// One slot per CPU, indexed by CPU number (userspace sizes it to the possible CPUs). Not a
/// per-CPU array: those cap values at 32 KiB.
#[map]
static SCRATCH: Array<Scratch> = Array::with_max_entries(1, 0);

/// What to capture per syscall number, one map per ABI (filled by userspace).
#[map]
static POLICY64: Array<SyscallPolicy> = Array::with_max_entries(MAX_SYSCALL_NR, 0);
#[map]
static POLICY32: Array<SyscallPolicy> = Array::with_max_entries(MAX_SYSCALL_NR, 0);

/// Ring-full drops by thread-group id, so a workload can check recorded + dropped = made.
#[map]
static DROPS_BY_PID: LruHashMap<u32, u64> = LruHashMap::with_max_entries(16384, 0);

/// Basenames of interpreters (sh, bash, python...), filled by userspace: a process that
/// execs one gets its reads kept in full (the script it runs, what a pipe feeds it, what is
/// typed at it).
#[map]
static INTERPRETERS: HashMap<InterpreterKey, u8> = HashMap::with_max_entries(64, 0);

/// Per-process payload flags (`proc_flags`), by thread-group id: set at exec, inherited
/// by forks, cleared at exit, seeded by userspace for processes that began before the
/// recording. Indexed directly by tgid (userspace sizes it to the kernel's pid_max): an
/// array lookup the verifier inlines, where a hash lookup cost every read and write over
/// the snaplen ~44 ns. A tgid beyond it (pid_max raised after the recorder started) has
/// no flags: its I/O is kept to the snaplen. No fallback map: a second way in each lookup
/// doubled the verifier's walk of the item loop, past its limit at small snaplens.
#[map]
static PROC_FLAGS_BY_PID: Array<u32> = Array::with_max_entries(1, 0);

/// Per process (indexed by tgid, like PROC_FLAGS_BY_PID), bit N: fd N (< 64) is a device that
/// carries no evidence (/dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom): its
/// reads and writes keep their length, not their bytes. Set by the open that made the fd,
/// followed through dup, cleared by close, close_range, exec (close-on-exec fds close
/// without a syscall) and exit. Processes beyond its size keep every fd's data.
#[map]
static NULL_FDS: Array<u64> = Array::with_max_entries(1, 0);

/// (tgid << 32 | fd) whose I/O is kept in full: files being written with a script or
/// executable (first bytes `#!` or ELF). Cleared at close.
#[map]
static FULL_FDS: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16384, 0);

/// Bytes of I/O data kept per buffer (capped at MAX_ITEM), set by userspace.
#[no_mangle]
static SNAPLEN: u32 = 256;

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

/// The submit flag of every record: never wake the reader. A wakeup costs an interrupt's
/// worth of work (irq_work, a context switch), and even deciding whether one is due
/// (`bpf_ringbuf_query`, which reads the consumer's cache line) costs every record ~10-20
/// ns. The reader polls on a 50 ms timeout instead, and comes straight back while there is
/// much to read: at 2M records/s of ~110 bytes that is 11 MB per timeout, a sixth of the
/// default 64 MiB ring.
#[inline(always)]
fn wakeup_reserved(_ring: &RingBuf, _len: u64) -> u64 {
    BPF_RB_NO_WAKEUP as u64
}

/// The same for a record about to be written with `output`.
#[inline(always)]
fn wakeup_output(_ring: &RingBuf, _len: u64) -> u64 {
    BPF_RB_NO_WAKEUP as u64
}

#[inline(always)]
fn floor_mode() -> u32 {
    // SAFETY: a plain global set before load (frozen: the verifier prunes the other way).
    unsafe { read_volatile(addr_of!(FLOOR)) }
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
    header_for(kind, ts, bpf_get_current_pid_tgid())
}

/// The header, for a caller that has the pid_tgid already (a helper call saved).
#[inline(always)]
fn header_for(kind: u32, ts: u64, pid_tgid: u64) -> RecordHeader {
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
    is_recorder_tgid((bpf_get_current_pid_tgid() >> 32) as u32)
}

#[inline(always)]
fn is_recorder_tgid(tgid: u32) -> bool {
    // SAFETY: plain global set before load.
    let me = unsafe { read_volatile(addr_of!(RECORDER_TGID)) };
    tgid == me
}

/// The payload flags of process `tgid` (an index beyond the array finds none).
#[inline(always)]
fn proc_flags_of(tgid: u32) -> u32 {
    PROC_FLAGS_BY_PID.get(tgid).copied().unwrap_or(0)
}

/// The data-less fds (bits 0-63) of process `tgid`.
#[inline(always)]
fn null_fds_of(tgid: u32) -> u64 {
    NULL_FDS.get(tgid).copied().unwrap_or(0)
}

#[inline(always)]
fn set_null_fds(tgid: u32, bits: u64) {
    if let Some(p) = NULL_FDS.get_ptr_mut(tgid) {
        // SAFETY: a map value pointer; threads of one process race as their fds do.
        unsafe { *p = bits };
    }
}

/// Marks (or unmarks) `fd` of process `tgid` as data-less.
#[inline(always)]
fn mark_null_fd(tgid: u32, fd: u64, null: bool) {
    if fd >= 64 {
        return;
    }
    let bits = null_fds_of(tgid);
    let bit = 1u64 << fd;
    if null {
        set_null_fds(tgid, bits | bit);
    } else if bits & bit != 0 {
        set_null_fds(tgid, bits & !bit);
    }
}

/// Sets the payload flags of process `tgid` (0 clears them).
#[inline(always)]
fn set_proc_flags(tgid: u32, flags: u32) {
    if let Some(p) = PROC_FLAGS_BY_PID.get_ptr_mut(tgid) {
        // SAFETY: a map value pointer; racing threads of one process write alike.
        unsafe { *p = flags };
    }
}

/// Offsets are masked below this so the verifier can bound every scratch access:
/// an item (header + MAX_ITEM) starting below it always ends inside the scratch buffer.
const OFF_LIMIT: usize = 16384;
const _: () = assert!(OFF_LIMIT + size_of::<ParamHeader>() + 2 * MAX_ITEM <= SCRATCH_SIZE);
const _: () = assert!(MAX_STR <= MAX_ITEM && MAX_SOCKADDR <= MAX_ITEM);

/// Where `launder` parks values: the last bytes of the scratch, never used by a record.
const LAUNDRY: usize = SCRATCH_SIZE - 8;

/// Round-trips a value through map memory, so the verifier forgets the exact range it had
/// and keeps only the mask applied after: every path then reaches the next step with the
/// same state and the verifier can prune, instead of exploring the product of all paths.
#[inline(always)]
unsafe fn launder(buf: *mut u8, v: usize, mask: usize) -> usize {
    let slot = buf.add(LAUNDRY) as *mut u64;
    core::ptr::write_volatile(slot, v as u64);
    (core::ptr::read_volatile(slot) as usize) & mask
}

#[inline(always)]
fn snaplen() -> u64 {
    // SAFETY: plain global set before load.
    let n = unsafe { read_volatile(addr_of!(SNAPLEN)) } as u64;
    if n > MAX_ITEM as u64 {
        MAX_ITEM as u64
    } else {
        n
    }
}

#[inline(always)]
fn fd_key(fd: u32) -> u64 {
    (bpf_get_current_pid_tgid() & 0xffff_ffff_0000_0000) | fd as u64
}

/// How many of `len` bytes on `fd` of process `tgid` to keep: the snaplen, or up to
/// MAX_ITEM where the full-payload policy applies. The maps are only consulted when it
/// makes a difference.
#[inline(always)]
fn payload_len(len: u64, fd: u32, tgid: u32) -> u64 {
    let snap = snaplen();
    if len <= snap {
        return len;
    }
    if !full_payload(fd, tgid) {
        snap
    } else if len < MAX_ITEM as u64 {
        len
    } else {
        MAX_ITEM as u64
    }
}

/// Whether I/O on `fd` of the current process is kept whole: an interpreter's, a terminal
/// session's standard streams, or an fd marked in FULL_FDS.
#[inline(always)]
fn full_payload(fd: u32, tgid: u32) -> bool {
    let flags = proc_flags_of(tgid);
    flags & proc_flags::INTERPRETER != 0
        || (flags & proc_flags::CONTROLLING_TTY != 0 && fd <= 2)
        || (flags & proc_flags::HAS_FULL_FDS != 0 && unsafe { FULL_FDS.get(&fd_key(fd)) }.is_some())
}

/// Keeps `fd`'s I/O whole from now on, and flags its process as having such fds.
#[inline(always)]
fn mark_full_fd(fd: u32) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let _ = FULL_FDS.insert(&fd_key(fd), &1, 0);
    set_proc_flags(tgid, proc_flags_of(tgid) | proc_flags::HAS_FULL_FDS);
}

#[inline(always)]
fn is_compat() -> bool {
    // A direct load through the BTF-typed task pointer, not a probe_read helper call: the
    // verifier knows the offset (a global in the frozen .rodata, so a constant to it) and
    // checks it against task_struct's BTF. Saves ~40 ns on every syscall's two programs.
    // SAFETY: the verifier checks the access; a faulting load reads 0.
    unsafe {
        let task = bpf_get_current_task_btf() as *const u8;
        let status = read_volatile(task.add(offsets().task_ti_status as usize) as *const u32);
        status & TS_COMPAT != 0
    }
}

#[inline(always)]
fn policy(compat: bool, nr: u32) -> SyscallPolicy {
    // One lookup site per map: the verifier inlines an array lookup only where the map
    // is a constant, so picking the map first would cost a real helper call.
    let found = if compat {
        POLICY32.get(nr)
    } else {
        POLICY64.get(nr)
    };
    found.copied().unwrap_or_default()
}

/// The current task's saved user registers (what the raw tracepoints pass as their first
/// argument), as a BTF-typed pointer: its fields are read with direct loads the verifier
/// checks against `struct pt_regs`, instead of a probe_read copy of all 168 bytes.
#[inline(always)]
unsafe fn current_regs() -> *const PtRegs {
    bpf_task_pt_regs(bpf_get_current_task_btf()) as *const PtRegs
}

/// The syscall number the task entered with (`orig_ax`).
#[inline(always)]
unsafe fn syscall_nr(regs: *const PtRegs) -> u32 {
    read_volatile(addr_of!((*regs).orig_ax)) as u32
}

#[inline(always)]
unsafe fn syscall_args(regs: *const PtRegs, compat: bool) -> [u64; 8] {
    let r = |f: *const u64| read_volatile(f);
    if compat {
        // i386 passes arguments in ebx, ecx, edx, esi, edi, ebp.
        [
            r(addr_of!((*regs).bx)),
            r(addr_of!((*regs).cx)),
            r(addr_of!((*regs).dx)),
            r(addr_of!((*regs).si)),
            r(addr_of!((*regs).di)),
            r(addr_of!((*regs).bp)),
            0,
            0,
        ]
    } else {
        [
            r(addr_of!((*regs).di)),
            r(addr_of!((*regs).si)),
            r(addr_of!((*regs).dx)),
            r(addr_of!((*regs).r10)),
            r(addr_of!((*regs).r8)),
            r(addr_of!((*regs).r9)),
            0,
            0,
        ]
    }
}

/// Counts a lost syscall record by cause (per CPU) and by process, so a workload can
/// check that recorded + lost = made.
#[inline(always)]
fn count_lost_record(cause: u32) {
    count_drop(cause);
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    match DROPS_BY_PID.get_ptr_mut(&tgid) {
        // SAFETY: a map value pointer; a lost increment under a race only undercounts
        // this per-process detail, the per-CPU total stays exact.
        Some(p) => unsafe { *p += 1 },
        None => {
            let _ = DROPS_BY_PID.insert(&tgid, &1, 0);
        }
    }
}

/// The floor modes' sys_enter: attached only by `--floor sys-enter-exit`, to measure what
/// attaching sys_enter costs. The recording programs attach no sys_enter at all: execve's
/// first half comes from `sched_process_exec`, exit's record from `sched_process_exit`.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_floor(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    if floor_mode() != floor::OFF {
        return 0;
    }
    match unsafe { try_sys_exit(&ctx) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// At sys_exit the saved registers still hold the arguments (x86 keeps them in pt_regs;
/// the syscall number in orig_ax), and the buffers the kernel filled are readable: one
/// record per syscall, no per-thread state.
unsafe fn try_sys_exit(ctx: &RawTracePointContext) -> Result<(), i64> {
    // Read once and passed down: each helper call costs ~10 ns here.
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_recorder_tgid((pid_tgid >> 32) as u32) {
        return Ok(());
    }
    let ret = raw_arg(ctx, 1) as i64;
    let regs = current_regs();
    let nr = syscall_nr(regs);
    let compat = is_compat();
    let pol = policy(compat, nr);
    let args = syscall_args(regs, compat);
    let flags = if compat { syscall_flags::COMPAT } else { 0 };
    let tgid = (pid_tgid >> 32) as u32;
    if pol.flags & policy_flags::CLOSES_FD != 0 && ret == 0 {
        let _ = FULL_FDS.remove(&fd_key(args[0] as u32));
    }
    if pol.flags & (policy_flags::DUP_TO_RET | policy_flags::DUP_TO_ARG1) != 0 && ret >= 0 {
        follow_dup(pol.flags, &args, ret);
    }
    if pol.flags & policy_flags::AT_ENTER != 0 && ret == 0 {
        // A successful execve: its first half (the filename) came from sched_process_exec,
        // into the lifecycle ring; this half joins it there, in order. A failed one still
        // has its memory and is recorded whole below.
        emit_syscall(
            nr,
            flags | syscall_flags::EXIT_HALF,
            &args,
            ret,
            &SyscallPolicy::default(),
            true,
            pid_tgid,
        )?;
        return Ok(());
    }
    // Data on a data-less device (dd of=/dev/null): the record without its data item,
    // which spares the copy and the scratch. Decided out here, where one branch picks the
    // policy, rather than inside the item loop, where the verifier would walk it per item.
    let fd = args[0];
    let data_only = matches!(pol.params[0].kind, param_kind::BUF | param_kind::IOV);
    if data_only && fd < 64 && null_fds_of(tgid) & (1u64 << fd) != 0 {
        // A way out of its own: merged into the path below, the constant empty policy
        // would make the verifier walk emit_syscall's item loop again, past its limit.
        emit_syscall(
            nr,
            flags,
            &args,
            ret,
            &SyscallPolicy::default(),
            false,
            pid_tgid,
        )?;
        return Ok(());
    }
    let continued = emit_syscall(nr, flags, &args, ret, &pol, false, pid_tgid)?;
    if pol.flags & FD_BOOKKEEPING != 0 && ret >= 0 {
        // Which fds are data-less, in a program of its own: inlined here, that bookkeeping
        // would be walked by the verifier once per way into and out of emit_syscall, past
        // its limit. (These syscalls' items never continue in pieces.)
        let _ = MORE_PROGS.tail_call(ctx, MORE_SLOT_FDS);
    } else if continued {
        // The rest of a full-payload buffer; on failure (no program in the slot) the
        // record stands as it is, marked cut.
        let _ = MORE_PROGS.tail_call(ctx, MORE_SLOT_PIECES);
    }
    Ok(())
}

/// MORE_PROGS slots.
const MORE_SLOT_PIECES: u32 = 0;
const MORE_SLOT_FDS: u32 = 1;

/// Syscalls after which `sys_exit_fds` runs.
const FD_BOOKKEEPING: u32 = policy_flags::OPENS_FD
    | policy_flags::CLOSES_FD
    | policy_flags::CLOSE_RANGE
    | policy_flags::DUP_TO_RET
    | policy_flags::DUP_TO_ARG1;

/// Keeps NULL_FDS after a successful open (the fd it returned is data-less if its path,
/// the first item of the record sys_exit just assembled in the scratch, is a NULL_DEVICES
/// one, else not: the number may have been one before), close, close_range, dup.
/// Loaded, not attached: sys_exit tail-calls it through MORE_PROGS.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_fds(ctx: RawTracePointContext) -> i32 {
    // SAFETY: the saved registers, and the per-CPU scratch the run that tail-called here
    // filled.
    unsafe { fd_bookkeeping(&ctx) };
    0
}

#[inline(always)]
unsafe fn fd_bookkeeping(ctx: &RawTracePointContext) {
    let ret = raw_arg(ctx, 1) as i64;
    let regs = current_regs();
    let nr = syscall_nr(regs);
    let compat = is_compat();
    let pol = policy(compat, nr);
    let args = syscall_args(regs, compat);
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if pol.flags & policy_flags::OPENS_FD != 0 && ret >= 0 {
        note_open(tgid, nr, ret as u64);
    } else if pol.flags & policy_flags::CLOSES_FD != 0 && ret == 0 {
        mark_null_fd(tgid, args[0], false);
    } else if pol.flags & policy_flags::CLOSE_RANGE != 0 && ret == 0 && args[0] < 64 {
        // Bits args[0]..=min(args[1], 63) cleared.
        let high = if args[1] >= 63 {
            u64::MAX
        } else {
            (1u64 << (args[1] + 1)) - 1
        };
        let range = high & !((1u64 << args[0]) - 1);
        set_null_fds(tgid, null_fds_of(tgid) & !range);
    } else if pol.flags & (policy_flags::DUP_TO_RET | policy_flags::DUP_TO_ARG1) != 0 && ret >= 0 {
        if let Some(new) = dup_target(pol.flags, &args, ret) {
            let old = args[0];
            let null = old < 64 && null_fds_of(tgid) & (1u64 << old) != 0;
            mark_null_fd(tgid, new as u64, null);
        }
    }
}

#[inline(always)]
unsafe fn note_open(tgid: u32, nr: u32, fd: u64) {
    let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) else {
        return;
    };
    let buf = (*scratch).buf.as_mut_ptr();
    #[expect(clippy::cast_ptr_alignment, reason = "map values are 8-byte aligned")]
    let rec = buf as *const SyscallRecord;
    let item = buf.add(size_of::<SyscallRecord>()) as *const ParamHeader;
    let null = (*rec).nr == nr
        && (*rec).nparams > 0
        && (*item).kind == param_kind::PATH
        && is_null_device(
            buf.add(size_of::<SyscallRecord>() + size_of::<ParamHeader>()),
            ((*item).len as usize) & (MAX_STR - 1),
        );
    mark_null_fd(tgid, fd, null);
}

/// Writes a record with no parameter items straight into `ring`, or counts it lost.
#[inline(always)]
fn emit_plain(ring: &RingBuf, record: SyscallRecord, cause: u32) {
    match ring.reserve::<SyscallRecord>(0) {
        Some(mut entry) => {
            entry.write(record);
            entry.submit(wakeup_reserved(ring, size_of::<SyscallRecord>() as u64));
        }
        None => count_lost_record(cause),
    }
}

/// Writes one syscall record: straight into the ring when there is nothing to copy from
/// user memory, else assembled in the per-CPU scratch with its parameter items. Returns
/// whether a full-payload buffer continues in DATA_MORE pieces (`sys_exit_more`).
/// `lifecycle` records (execve's exit half, exit's) have no items and go to LIFECYCLE.
#[inline(always)]
unsafe fn emit_syscall(
    nr: u32,
    flags: u32,
    args: &[u64; 8],
    ret: i64,
    pol: &SyscallPolicy,
    lifecycle: bool,
    pid_tgid: u64,
) -> Result<bool, i64> {
    let record = SyscallRecord {
        header: header_for(kind::SYSCALL, bpf_ktime_get_boot_ns(), pid_tgid),
        nr,
        flags,
        args: [args[0], args[1], args[2], args[3], args[4], args[5]],
        ret,
        cgroup_id: bpf_get_current_cgroup_id(),
        params_len: 0,
        nparams: 0,
    };
    let cause = if lifecycle {
        drop_cause::LIFECYCLE_FULL
    } else {
        drop_cause::RING_FULL
    };
    if pol.params[0].kind == 0 {
        if lifecycle {
            emit_plain(&LIFECYCLE, record, cause);
        } else {
            emit_plain(&EVENTS, record, cause);
        }
        return Ok(false);
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) else {
        count_lost_record(drop_cause::SCRATCH_FULL);
        return Ok(false);
    };
    let buf = (*scratch).buf.as_mut_ptr();
    let more = addr_of_mut!((*scratch).more);
    (*more).left = 0;
    (*more).lifecycle = lifecycle as u64;
    let mut off = size_of::<SyscallRecord>();
    let mut nparams = 0u32;
    for i in 0..MAX_PARAMS {
        let spec = pol.params[i];
        if spec.kind == 0 {
            break;
        }
        let (next, n) = capture_param(
            buf,
            off,
            &spec,
            args,
            ret,
            flags & syscall_flags::COMPAT != 0,
            (pid_tgid >> 32) as u32,
        );
        // Items start 8-byte aligned, so their headers are written with aligned stores.
        off = launder(buf, (next + 7) & !7, OFF_LIMIT - 1);
        nparams += n;
    }
    if nparams > 0 && ret >= 0 && opens_for_write(pol.flags, args) {
        // The first item is the path, at a fixed place right after the record.
        let item = buf.add(size_of::<SyscallRecord>()) as *const ParamHeader;
        let len = ((*item).len as usize) & (MAX_STR - 1);
        if (*item).kind == param_kind::PATH
            && is_persistence_path(
                buf.add(size_of::<SyscallRecord>() + size_of::<ParamHeader>()),
                len,
            )
        {
            mark_full_fd(ret as u32);
        }
    }
    // SAFETY: the scratch is a map value, 8-byte aligned.
    #[expect(clippy::cast_ptr_alignment, reason = "map values are 8-byte aligned")]
    let rec = buf as *mut SyscallRecord;
    let continued = (*more).left > 0;
    (*more).ts = record.header.ts;
    rec.write(SyscallRecord {
        params_len: (off - size_of::<SyscallRecord>().min(off)) as u32,
        nparams,
        flags: if continued {
            flags | syscall_flags::CONTINUED
        } else {
            flags
        },
        ..record
    });
    let data = core::slice::from_raw_parts(buf as *const u8, off);
    let sent = if lifecycle {
        LIFECYCLE.output(data, wakeup_output(&LIFECYCLE, off as u64))
    } else {
        EVENTS.output(data, wakeup_output(&EVENTS, off as u64))
    };
    if sent.is_err() {
        count_lost_record(cause);
        return Ok(false);
    }
    Ok(continued)
}

/// Emits the rest of a full-payload buffer that `sys_exit` left in the scratch (or of an
/// argv block `sched_process_exec` left there), as
/// DATA_MORE pieces of up to MAX_ITEM bytes, MORE_PIECES_PER_CALL per run, tail-calling
/// itself for more (the kernel allows 33 runs in a chain; FULL_PAYLOAD_LIMIT fits in them).
/// Loaded, not attached: reached only through MORE_PROGS.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_more(ctx: RawTracePointContext) -> i32 {
    // SAFETY: the per-CPU scratch, which the run that tail-called here filled.
    unsafe { emit_more(&ctx) };
    0
}

#[inline(always)]
unsafe fn emit_more(ctx: &RawTracePointContext) {
    let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) else {
        return;
    };
    let buf = (*scratch).buf.as_mut_ptr();
    let more = addr_of_mut!((*scratch).more);
    #[expect(clippy::cast_ptr_alignment, reason = "map values are 8-byte aligned")]
    let rec = buf as *mut DataMoreRecord;
    let data = buf.add(size_of::<DataMoreRecord>());
    for _ in 0..MORE_PIECES_PER_CALL {
        let left = (*more).left;
        if left == 0 {
            return;
        }
        let n = if left < MAX_ITEM as u64 {
            left
        } else {
            MAX_ITEM as u64
        };
        let n32 = (n as u32) & (2 * MAX_ITEM as u32 - 1);
        if n32 == 0 || n32 > MAX_ITEM as u32 {
            (*more).left = 0;
            return;
        }
        let mut piece = DataMoreRecord {
            header: header(kind::DATA_MORE, (*more).ts),
            offset: (*more).offset,
            len: n32,
            flags: if n == left { data_more_flags::LAST } else { 0 },
        };
        if probe_read_user_raw(data as *mut c_void, n32, (*more).src as *const c_void) != 0 {
            count_drop(drop_cause::UNREADABLE);
            piece.len = 0;
            piece.flags = data_more_flags::UNREADABLE;
            (*more).left = 0;
        } else {
            (*more).src += n;
            (*more).offset += n;
            (*more).left = left - n;
        }
        rec.write(piece);
        let len = size_of::<DataMoreRecord>() + piece.len as usize;
        let bytes = core::slice::from_raw_parts(buf as *const u8, len);
        let sent = if (*more).lifecycle != 0 {
            LIFECYCLE.output(bytes, wakeup_output(&LIFECYCLE, len as u64))
        } else {
            EVENTS.output(bytes, wakeup_output(&EVENTS, len as u64))
        };
        if sent.is_err() {
            count_drop(drop_cause::DATA_LOST);
            (*more).left = 0;
            return;
        }
    }
    if (*more).left > 0 && MORE_PROGS.tail_call(ctx, 0).is_err() {
        (*more).left = 0;
    }
}

/// A duplicated fd is what its original was: full payload or not (dd writes the file it
/// opened through the stdout it dup2'd it onto).
#[inline(always)]
fn follow_dup(policy: u32, args: &[u64; 8], ret: i64) {
    let Some(new) = dup_target(policy, args, ret) else {
        return;
    };
    // SAFETY: map operations by value.
    unsafe {
        if FULL_FDS.get(&fd_key(args[0] as u32)).is_some() {
            mark_full_fd(new);
        } else {
            let _ = FULL_FDS.remove(&fd_key(new));
        }
    }
}

/// The fd a dup-family syscall made, if it made one (fcntl only for F_DUPFD and
/// F_DUPFD_CLOEXEC).
#[inline(always)]
fn dup_target(policy: u32, args: &[u64; 8], ret: i64) -> Option<u32> {
    const F_DUPFD: u64 = 0;
    const F_DUPFD_CLOEXEC: u64 = 1030;
    if policy & policy_flags::FCNTL != 0 && args[1] != F_DUPFD && args[1] != F_DUPFD_CLOEXEC {
        return None;
    }
    Some(if policy & policy_flags::DUP_TO_ARG1 != 0 {
        args[1] as u32
    } else {
        ret as u32
    })
}

/// Whether an open-family syscall asked for write access (O_WRONLY, O_RDWR, O_CREAT or
/// O_TRUNC).
#[inline(always)]
fn opens_for_write(policy: u32, args: &[u64; 8]) -> bool {
    const WRITING: u64 = 0o1 | 0o2 | 0o100 | 0o1000;
    if policy & policy_flags::OPEN_FOR_WRITE != 0 {
        return true;
    }
    let flags = if policy & policy_flags::OPEN_FLAGS_ARG1 != 0 {
        args[1]
    } else if policy & policy_flags::OPEN_FLAGS_ARG2 != 0 {
        args[2]
    } else {
        return false;
    };
    flags & WRITING != 0
}

/// Devices whose data is no evidence: reads of zeros or randomness, writes into nothing.
const NULL_DEVICES: &[&[u8]] = &[
    b"/dev/null",
    b"/dev/zero",
    b"/dev/full",
    b"/dev/random",
    b"/dev/urandom",
];

/// Whether the path of `len` bytes at `p` (in the scratch) is one of NULL_DEVICES.
#[inline(always)]
unsafe fn is_null_device(p: *const u8, len: usize) -> bool {
    for dev in NULL_DEVICES {
        if len == dev.len() && dev.iter().enumerate().all(|(i, b)| *p.add(i) == *b) {
            return true;
        }
    }
    false
}

// Where attackers make themselves persist: files written there are kept whole.
use recorder_common::{PERSISTENCE_PREFIXES, PERSISTENCE_SUFFIXES};

/// Whether the path of `len` bytes at `p` (in the scratch) is a persistence location.
#[inline(always)]
unsafe fn is_persistence_path(p: *const u8, len: usize) -> bool {
    for prefix in PERSISTENCE_PREFIXES {
        if len >= prefix.len() && prefix.iter().enumerate().all(|(i, b)| *p.add(i) == *b) {
            return true;
        }
    }
    for suffix in PERSISTENCE_SUFFIXES {
        if len >= suffix.len() {
            let start = (len - suffix.len()) & (MAX_STR - 1);
            if suffix
                .iter()
                .enumerate()
                .all(|(i, b)| *p.add(start + i) == *b)
            {
                return true;
            }
        }
    }
    false
}

/// The value a length comes from; `None` when there is nothing to copy.
#[inline(always)]
unsafe fn length(spec: &ParamSpec, args: &[u64; 8], ret: i64) -> Option<u64> {
    match spec.len_from {
        0..=len_from::ARG_MAX => Some(args[(spec.len_from & 7) as usize]),
        len_from::RET => (ret > 0).then_some(ret as u64),
        n if n >= len_from::ARG_PTR_BASE => {
            let ptr = args[((n - len_from::ARG_PTR_BASE) & 7) as usize];
            let mut v = 0u32;
            let rc = probe_read_user_raw(addr_of_mut!(v) as *mut c_void, 4, ptr as *const c_void);
            (rc == 0).then_some(v as u64)
        }
        _ => None,
    }
}

/// Writes a parameter header at `off`.
#[inline(always)]
unsafe fn put_header(
    buf: *mut u8,
    off: usize,
    slot: u8,
    kind: u8,
    flags: u8,
    len: u32,
    orig_len: u64,
) {
    // SAFETY: callers pass 8-byte aligned offsets into the 8-byte aligned scratch.
    #[expect(clippy::cast_ptr_alignment, reason = "offsets are kept 8-byte aligned")]
    let h = buf.add(off & (OFF_LIMIT - 1)) as *mut ParamHeader;
    h.write(ParamHeader {
        slot,
        kind,
        flags,
        _pad: 0,
        len,
        orig_len,
    });
}

/// Copies `len` bytes (at most MAX_ITEM) of user memory into an item at `off`.
/// Returns the offset after the item.
#[inline(always)]
unsafe fn put_user_bytes(
    buf: *mut u8,
    off: usize,
    slot: u8,
    kind: u8,
    src: u64,
    len: u64,
    orig_len: u64,
) -> usize {
    let off = off & (OFF_LIMIT - 1);
    let mut n = len;
    if n > MAX_ITEM as u64 {
        n = MAX_ITEM as u64;
    }
    let mut flags = if orig_len > n { param_flags::CUT } else { 0 };
    let data = buf.add(off + size_of::<ParamHeader>());
    let n32 = (n as u32) & (2 * MAX_ITEM as u32 - 1);
    if n32 > 0 && n32 <= MAX_ITEM as u32 {
        if probe_read_user_raw(data as *mut c_void, n32, src as *const c_void) != 0 {
            flags |= param_flags::UNREADABLE;
            count_drop(drop_cause::UNREADABLE);
            put_header(buf, off, slot, kind, flags, 0, orig_len);
            return off + size_of::<ParamHeader>();
        }
    } else {
        put_header(buf, off, slot, kind, flags, 0, orig_len);
        return off + size_of::<ParamHeader>();
    }
    put_header(buf, off, slot, kind, flags, n32, orig_len);
    off + size_of::<ParamHeader>() + n32 as usize
}

/// Captures one parameter per its spec; returns (offset after it, items written).
#[inline(always)]
unsafe fn capture_param(
    buf: *mut u8,
    off: usize,
    spec: &ParamSpec,
    args: &[u64; 8],
    ret: i64,
    compat: bool,
    tgid: u32,
) -> (usize, u32) {
    let off = off & (OFF_LIMIT - 1);
    let ptr = args[(spec.slot & 7) as usize];
    let slot = spec.slot;
    if ptr == 0 {
        return (off, 0);
    }
    match spec.kind {
        param_kind::PATH | param_kind::STR => {
            let data = buf.add(off + size_of::<ParamHeader>());
            let rc =
                bpf_probe_read_user_str(data as *mut c_void, MAX_STR as u32, ptr as *const c_void);
            if rc <= 0 {
                count_drop(drop_cause::UNREADABLE);
                put_header(buf, off, slot, spec.kind, param_flags::UNREADABLE, 0, 0);
                return (off + size_of::<ParamHeader>(), 1);
            }
            // rc counts the NUL; a string that filled the buffer may have been cut.
            let n = ((rc as u32) - 1) & (MAX_STR as u32 - 1);
            let flags = if rc as usize >= MAX_STR {
                param_flags::CUT
            } else {
                0
            };
            put_header(buf, off, slot, spec.kind, flags, n, n as u64);
            (off + size_of::<ParamHeader>() + n as usize, 1)
        }
        param_kind::BUF => {
            let Some(len) = length(spec, args, ret) else {
                return (off, 0);
            };
            let fd = args[0] as u32;
            let keep = payload_len(len, fd, tgid);
            let next = put_user_bytes(buf, off, slot, param_kind::BUF, ptr, keep, len);
            // A write that starts a script or an executable: keep this write and the
            // rest of that file's writes in full.
            let writing = spec.len_from != len_from::RET;
            if writing && keep < len && keep >= 4 && keep < MAX_ITEM as u64 {
                let data = buf.add((off & (OFF_LIMIT - 1)) + size_of::<ParamHeader>());
                let magic = [*data, *data.add(1), *data.add(2), *data.add(3)];
                if magic[..2] == *b"#!" || magic == *b"\x7fELF" {
                    mark_full_fd(fd);
                    let full = if len < MAX_ITEM as u64 {
                        len
                    } else {
                        MAX_ITEM as u64
                    };
                    continue_buffer(buf, ptr, len);
                    return (
                        put_user_bytes(buf, off, slot, param_kind::BUF, ptr, full, len),
                        1,
                    );
                }
            }
            // Kept whole but longer than one item (a script read in one go, as python
            // and perl do): the rest follows in pieces, if it looks like text. Binary data
            // (a NUL among its first bytes: compiled bytecode such as the .pyc files every
            // python start reads, archives) keeps its first item only.
            if keep == MAX_ITEM as u64
                && len > MAX_ITEM as u64
                && (snaplen() < MAX_ITEM as u64 || full_payload(fd, tgid))
                && starts_as_text(buf.add((off & (OFF_LIMIT - 1)) + size_of::<ParamHeader>()))
            {
                continue_buffer(buf, ptr, len);
            }
            (next, 1)
        }
        param_kind::SOCKADDR => {
            let Some(len) = length(spec, args, ret) else {
                return (off, 0);
            };
            let keep = if len < MAX_SOCKADDR as u64 {
                len
            } else {
                MAX_SOCKADDR as u64
            };
            (
                put_user_bytes(buf, off, slot, param_kind::SOCKADDR, ptr, keep, len),
                1,
            )
        }
        param_kind::FDS2 => {
            if ret != 0 {
                return (off, 0);
            }
            (
                put_user_bytes(buf, off, slot, param_kind::FDS2, ptr, 8, 8),
                1,
            )
        }
        param_kind::IOV => {
            let count = args[(spec.len_from & 7) as usize];
            let budget = payload_len(if ret > 0 { ret as u64 } else { 0 }, args[0] as u32, tgid);
            capture_iov(buf, off, slot, ptr, count, ret, budget, compat)
        }
        param_kind::MSGHDR => {
            if compat {
                return (off, 0);
            }
            // struct msghdr { void *name; int namelen; struct iovec *iov; size_t iovlen; ... }
            let Ok(hdr) = bpf_probe_read_user(ptr as *const [u64; 4]) else {
                count_drop(drop_cause::UNREADABLE);
                return (off, 0);
            };
            let (name, namelen, iov, iovlen) = (hdr[0], hdr[1] & 0xffff_ffff, hdr[2], hdr[3]);
            let mut off = off;
            let mut n = 0;
            if name != 0 && namelen > 0 {
                let keep = if namelen < MAX_SOCKADDR as u64 {
                    namelen
                } else {
                    MAX_SOCKADDR as u64
                };
                off = put_user_bytes(buf, off, slot, param_kind::SOCKADDR, name, keep, namelen);
                n += 1;
            }
            let off = launder(buf, (off + 7) & !7, OFF_LIMIT - 1);
            let budget = payload_len(if ret > 0 { ret as u64 } else { 0 }, args[0] as u32, tgid);
            let (off, m) = capture_iov(buf, off, slot, iov, iovlen, ret, budget, false);
            (off, n + m)
        }
        _ => (off, 0),
    }
}

/// Bytes checked by `starts_as_text`.
const TEXT_PROBE: usize = 16;

/// Whether the first TEXT_PROBE bytes at `data` (in the scratch) hold no NUL: true for
/// scripts, JSON, base64; false for bytecode, ELF, most archives.
#[inline(always)]
unsafe fn starts_as_text(data: *const u8) -> bool {
    for i in 0..TEXT_PROBE {
        if *data.add(i) == 0 {
            return false;
        }
    }
    true
}

/// Leaves what lies beyond the first MAX_ITEM bytes of a full-payload buffer of `len`
/// bytes at `src` (up to the FULL_PAYLOAD cap) for `sys_exit_more`.
#[inline(always)]
unsafe fn continue_buffer(buf: *mut u8, src: u64, len: u64) {
    // `buf` is the start of the Scratch, whose `more` follows the buffer. The record's
    // time, which the pieces repeat, is set by emit_syscall.
    #[expect(clippy::cast_ptr_alignment, reason = "the scratch is 8-byte aligned")]
    let more = buf.add(SCRATCH_SIZE) as *mut More;
    continue_from(more, src, MAX_ITEM as u64, len);
}

/// Sets `more` to emit bytes `from..len` of the user memory at `base` (up to the
/// FULL_PAYLOAD cap); the caller sets the pieces' time.
#[inline(always)]
unsafe fn continue_from(more: *mut More, base: u64, from: u64, len: u64) {
    // SAFETY: a plain global set before load.
    let cap = read_volatile(addr_of!(FULL_PAYLOAD)) as u64;
    let cap = if cap > FULL_PAYLOAD_LIMIT as u64 {
        FULL_PAYLOAD_LIMIT as u64
    } else {
        cap
    };
    let end = if len < cap { len } else { cap };
    if end <= from {
        return;
    }
    (*more).src = base + from;
    (*more).offset = from;
    (*more).left = end - from;
}

/// How many iovecs are followed; the data of later ones is counted in `orig_len` only.
const MAX_IOVECS: usize = 4;

/// The data of an iovec array, concatenated up to the snaplen, as one BUF item. The
/// transferred length is the syscall's return value.
#[inline(always)]
#[expect(clippy::too_many_arguments, reason = "inlined into one BPF program")]
unsafe fn capture_iov(
    buf: *mut u8,
    off: usize,
    slot: u8,
    iov: u64,
    count: u64,
    ret: i64,
    budget: u64,
    compat: bool,
) -> (usize, u32) {
    if ret <= 0 || iov == 0 {
        return (off, 0);
    }
    let off = off & (OFF_LIMIT - 1);
    let total = ret as u64;
    let mut budget = budget;
    let mut pos = 0usize;
    let mut flags = 0u8;
    let data = buf.add(off + size_of::<ParamHeader>());
    for i in 0..MAX_IOVECS {
        if i as u64 >= count || budget == 0 {
            break;
        }
        let (base, len) = if compat {
            match bpf_probe_read_user((iov + 8 * i as u64) as *const [u32; 2]) {
                Ok(v) => (v[0] as u64, v[1] as u64),
                Err(_) => {
                    flags |= param_flags::UNREADABLE;
                    break;
                }
            }
        } else {
            match bpf_probe_read_user((iov + 16 * i as u64) as *const [u64; 2]) {
                Ok(v) => (v[0], v[1]),
                Err(_) => {
                    flags |= param_flags::UNREADABLE;
                    break;
                }
            }
        };
        let take = if len < budget { len } else { budget };
        let take32 = (take as u32) & (MAX_ITEM as u32 - 1);
        let pos_b = pos & (MAX_ITEM - 1);
        if take32 > 0
            && probe_read_user_raw(
                data.add(pos_b) as *mut c_void,
                take32,
                base as *const c_void,
            ) != 0
        {
            flags |= param_flags::UNREADABLE;
            break;
        }
        pos = launder(buf, pos_b + take32 as usize, 2 * MAX_ITEM - 1);
        budget -= take32 as u64;
    }
    if flags & param_flags::UNREADABLE != 0 {
        count_drop(drop_cause::UNREADABLE);
    }
    let n = (pos & (2 * MAX_ITEM - 1)) as u32;
    if (n as u64) < total {
        flags |= param_flags::CUT;
    }
    put_header(buf, off, slot, param_kind::BUF, flags, n, total);
    (off + size_of::<ParamHeader>() + n as usize, 1)
}

#[raw_tracepoint(tracepoint = "sched_prepare_exec")]
pub fn sched_prepare_exec(_ctx: RawTracePointContext) -> i32 {
    match unsafe { try_prepare_exec() } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// execve's first half, as sys_enter saw it: the exec is past its point of no return but
/// the task is unchanged (old image, argument registers, the ABI it entered through: an
/// int 0x80 execve of a 64-bit binary is still the i386 execve here).
unsafe fn try_prepare_exec() -> Result<(), i64> {
    if is_recorder() {
        return Ok(());
    }
    let regs = current_regs();
    let nr = syscall_nr(regs);
    let compat = is_compat();
    let pol = policy(compat, nr);
    if pol.flags & policy_flags::AT_ENTER == 0 {
        return Ok(());
    }
    let args = syscall_args(regs, compat);
    let flags = syscall_flags::ENTER_HALF | if compat { syscall_flags::COMPAT } else { 0 };
    emit_syscall(nr, flags, &args, 0, &pol, true, bpf_get_current_pid_tgid())?;
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
    let filename_ptr: u64 = read_kernel(bprm, off.bprm_filename).unwrap_or(0);
    // execve's first half, timed before the exec record (as its sys_enter was): the joined
    // syscall is released after the exec record, and time order puts it back first.
    if EXEC_ENTER_HOOKED.get(0).copied().unwrap_or(0) == 0 {
        execve_enter_half(filename_ptr, bpf_ktime_get_boot_ns());
    }
    let ts = bpf_ktime_get_boot_ns();
    // Decided before the record is reserved: a full ring must not lose the policy.
    flag_interpreter(filename_ptr);

    let Some(mut entry) = LIFECYCLE.reserve::<ExecRecord>(0) else {
        count_drop(drop_cause::LIFECYCLE_FULL);
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
        if probe_read_user_raw(dst, len, arg_start as *const core::ffi::c_void) == 0 {
            read_len = len;
        } else {
            flags |= exec_flags::ARGS_UNREADABLE;
        }
    }
    // A longer argv (a `bash -c` script, an encoded `python -c` payload) goes on in
    // pieces, like a long full-payload buffer.
    let mut continued = false;
    if read_len == EXEC_ARGS_MAX as u32 && total > EXEC_ARGS_MAX as u64 {
        if let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) {
            let more = addr_of_mut!((*scratch).more);
            (*more).left = 0;
            (*more).lifecycle = 1;
            continue_from(more, arg_start, EXEC_ARGS_MAX as u64, total);
            (*more).ts = ts;
            continued = (*more).left > 0;
        }
    }
    if continued {
        flags |= exec_flags::ARGS_CONTINUED;
    }
    addr_of_mut!((*rec).args_len).write(read_len as u16);
    addr_of_mut!((*rec).args_total).write(total.min(u32::MAX as u64) as u32);
    addr_of_mut!((*rec).flags).write(flags);
    entry.submit(wakeup_reserved(&LIFECYCLE, size_of::<ExecRecord>() as u64));
    if continued {
        let _ = MORE_PROGS.tail_call(ctx, 0);
    }
    Ok(())
}

/// Where `sched_prepare_exec` is missing (Linux < 6.10): the first half of the execve (or
/// execveat) that made this exec, if a syscall did (not a kernel-started exec), from what
/// is left once the new image is in: the syscall number from the saved registers (a
/// 64-bit image reports execve as the x86_64 one), the filename as the kernel copied it,
/// as a PATH item in the parameter slot the policy names; the argument registers are
/// cleared. Its exit half follows from sys_exit, in the same ring.
#[inline(always)]
unsafe fn execve_enter_half(filename: u64, ts: u64) {
    if is_recorder() {
        return;
    }
    let regs = current_regs();
    let nr = syscall_nr(regs);
    let compat = is_compat();
    let pol = policy(compat, nr);
    if pol.flags & policy_flags::AT_ENTER == 0 {
        return;
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) else {
        count_lost_record(drop_cause::SCRATCH_FULL);
        return;
    };
    let buf = (*scratch).buf.as_mut_ptr();
    let item = size_of::<SyscallRecord>();
    let data = buf.add(item + size_of::<ParamHeader>());
    let rc = bpf_probe_read_kernel_str(
        data as *mut c_void,
        MAX_STR as u32,
        filename as *const c_void,
    );
    let (len, flags) = if rc <= 0 {
        (0u32, param_flags::UNREADABLE)
    } else {
        let n = ((rc as u32) - 1) & (MAX_STR as u32 - 1);
        (
            n,
            if rc as usize >= MAX_STR {
                param_flags::CUT
            } else {
                0
            },
        )
    };
    put_header(
        buf,
        item,
        pol.params[0].slot,
        param_kind::PATH,
        flags,
        len,
        len as u64,
    );
    let end = item + size_of::<ParamHeader>() + len as usize;
    #[expect(clippy::cast_ptr_alignment, reason = "map values are 8-byte aligned")]
    let rec = buf as *mut SyscallRecord;
    rec.write(SyscallRecord {
        header: header(kind::SYSCALL, ts),
        nr,
        flags: syscall_flags::ENTER_HALF | if compat { syscall_flags::COMPAT } else { 0 },
        args: [0; 6],
        ret: 0,
        cgroup_id: bpf_get_current_cgroup_id(),
        params_len: (end - item) as u32,
        nparams: 1,
    });
    let n = end & (2 * OFF_LIMIT - 1);
    let bytes = core::slice::from_raw_parts(buf as *const u8, n);
    if LIFECYCLE
        .output(bytes, wakeup_output(&LIFECYCLE, n as u64))
        .is_err()
    {
        count_lost_record(drop_cause::LIFECYCLE_FULL);
    }
}

/// Where `flag_interpreter` reads the exec'd path: a part of the scratch no record uses
/// while an exec is in progress.
const EXEC_NAME_OFF: usize = SCRATCH_SIZE - 512;
const EXEC_NAME_LEN: usize = 256;

/// The interpreter key (basename up to the first digit or dot) of the NUL-terminated name
/// of `n` bytes (NUL included) at `name`, in the scratch at EXEC_NAME_OFF.
#[inline(always)]
unsafe fn interpreter_key_of(name: *mut u8, n: i64) -> InterpreterKey {
    // The basename starts after the last '/': scan back from the end.
    let mut start = 0usize;
    for back in 1..EXEC_NAME_LEN {
        let i = n as usize - back.min(n as usize);
        if back as i64 > n {
            break;
        }
        if *name.add(i & (EXEC_NAME_LEN - 1)) == b'/' {
            start = i + 1;
            break;
        }
    }
    // Every exit of the scan reaches the copy below with one verifier state.
    let start = launder(name.sub(EXEC_NAME_OFF), start, EXEC_NAME_LEN - 1);
    let mut key: InterpreterKey = [0; INTERPRETER_KEY_LEN];
    for (j, k) in key.iter_mut().enumerate() {
        let c = *name.add((start + j) & (EXEC_NAME_LEN - 1));
        if c == 0 || c.is_ascii_digit() || c == b'.' {
            break;
        }
        *k = c;
    }
    key
}

/// Sets the exec'ing process's payload flags: interpreter (by basename) and terminal
/// session; a forked bash that execs ls is no longer an interpreter.
#[inline(always)]
unsafe fn flag_interpreter(filename: u64) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Some(scratch) = SCRATCH.get_ptr_mut(bpf_get_smp_processor_id()) else {
        return;
    };
    let name = (*scratch).buf.as_mut_ptr().add(EXEC_NAME_OFF);
    let n = bpf_probe_read_kernel_str(
        name as *mut c_void,
        EXEC_NAME_LEN as u32,
        filename as *const c_void,
    );
    if n <= 0 {
        return;
    }
    let mut key = interpreter_key_of(name, n);
    // busybox runs its applets as /proc/self/exe (or as busybox itself) with the applet's
    // name in argv[0]: `sh FILE` and `| sh` in a busybox container are busybox sh.
    if key[..4] == *b"exe\0" || key[..8] == *b"busybox\0" {
        let off = offsets();
        let task = bpf_get_current_task();
        let mm: u64 = read_kernel(task, off.task_mm).unwrap_or(0);
        let argv0: u64 = if mm != 0 {
            read_kernel(mm, off.mm_arg_start).unwrap_or(0)
        } else {
            0
        };
        let n = bpf_probe_read_user_str(
            name as *mut c_void,
            EXEC_NAME_LEN as u32,
            argv0 as *const c_void,
        );
        if n > 0 {
            key = interpreter_key_of(name, n);
        }
    }
    // Close-on-exec fds close without a syscall: forget which fds were data-less.
    set_null_fds(tgid, 0);
    // Fds survive exec, and so does the note that some are kept whole.
    let mut flags = proc_flags_of(tgid) & proc_flags::HAS_FULL_FDS;
    if INTERPRETERS.get(&key).is_some() {
        flags |= proc_flags::INTERPRETER;
    }
    if has_controlling_tty() {
        flags |= proc_flags::CONTROLLING_TTY;
    }
    set_proc_flags(tgid, flags);
}

/// Whether the current task has a controlling terminal (`signal->tty`): its standard
/// streams are then most likely that terminal, an interactive session.
#[inline(always)]
unsafe fn has_controlling_tty() -> bool {
    let off = offsets();
    let task = bpf_get_current_task();
    let signal: u64 = read_kernel(task, off.task_signal).unwrap_or(0);
    signal != 0 && read_kernel::<u64>(signal, off.signal_tty).unwrap_or(0) != 0
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
    // A fork of an interpreter is still that interpreter (a subshell) until it execs.
    let parent_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if child_pid != parent_tgid {
        // Always written: the slot may hold a stale value of a pid's earlier holder.
        set_proc_flags(child_pid, proc_flags_of(parent_tgid));
        set_null_fds(child_pid, null_fds_of(parent_tgid));
    }
    let Some(mut entry) = LIFECYCLE.reserve::<ForkRecord>(0) else {
        count_drop(drop_cause::LIFECYCLE_FULL);
        return Ok(());
    };
    entry.write(ForkRecord {
        header: header(kind::FORK, bpf_ktime_get_boot_ns()),
        child_pid,
        child_tid,
        cgroup_id: bpf_get_current_cgroup_id(),
    });
    entry.submit(wakeup_reserved(&LIFECYCLE, size_of::<ForkRecord>() as u64));
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
    if group_dead != 0 {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        set_proc_flags(tgid, 0);
        set_null_fds(tgid, 0);
    }
    let exit_code: u32 = read_kernel(task, offsets().task_exit_code).unwrap_or(0);
    let ts = bpf_ktime_get_boot_ns();
    // The exit or exit_group that ended this task, if one did (not a signal): the task is
    // still in that syscall, its saved registers hold its number and argument. Emitted
    // here, before the exit record, since the programs attach no sys_enter.
    if !is_recorder() {
        let regs = current_regs();
        let nr = syscall_nr(regs);
        let compat = is_compat();
        if policy(compat, nr).flags & policy_flags::NO_RETURN != 0 {
            let args = syscall_args(regs, compat);
            let flags = syscall_flags::NO_RETURN | if compat { syscall_flags::COMPAT } else { 0 };
            emit_plain(
                &LIFECYCLE,
                SyscallRecord {
                    header: header(kind::SYSCALL, ts),
                    nr,
                    flags,
                    args: [args[0], args[1], args[2], args[3], args[4], args[5]],
                    ret: 0,
                    cgroup_id: bpf_get_current_cgroup_id(),
                    params_len: 0,
                    nparams: 0,
                },
                drop_cause::LIFECYCLE_FULL,
            );
        }
    }
    let Some(mut entry) = LIFECYCLE.reserve::<ExitRecord>(0) else {
        count_drop(drop_cause::LIFECYCLE_FULL);
        return Ok(());
    };
    entry.write(ExitRecord {
        header: header(kind::EXIT, ts),
        exit_code,
        group_dead,
    });
    entry.submit(wakeup_reserved(&LIFECYCLE, size_of::<ExitRecord>() as u64));
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
    let Some(mut entry) = LIFECYCLE.reserve::<CgroupMkdirRecord>(0) else {
        count_drop(drop_cause::LIFECYCLE_FULL);
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
    entry.submit(wakeup_reserved(
        &LIFECYCLE,
        size_of::<CgroupMkdirRecord>() as u64,
    ));
    Ok(())
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
