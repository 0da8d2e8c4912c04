//! Loading the kernel programs, attaching them, and reading what they produce.
//! Dropping [`Probes`] detaches every program and frees the maps.

use std::{os::fd::AsRawFd, path::Path, time::Duration};

use anyhow::{anyhow, Context as _, Result};
use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, ProgramArray, RingBuf},
    programs::RawTracePoint,
    Ebpf, EbpfLoader,
};
use capture_format::Abi;
use recorder_common::{
    drop_cause, floor, interpreter_key, proc_flags, InterpreterKey, KernelOffsets, SyscallPolicy,
    FULL_PAYLOAD_DEFAULT, FULL_PAYLOAD_LIMIT, MAX_ITEM,
};

use crate::{btf, policy, preflight};

/// What the programs are told at load time.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    /// Bytes of I/O data kept per buffer.
    pub snaplen: u32,
    /// Size of the event ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Size of the lifecycle ring (exec, fork, exit, cgroup records), likewise.
    pub lifecycle_ring_bytes: u32,
    /// Bytes kept of one buffer under the full-payload policy (at most
    /// `FULL_PAYLOAD_LIMIT`): the first MAX_ITEM in the record, the rest in pieces.
    pub payload_cap: u32,
    /// The bench's floor modes: attach only the syscall hooks, returning at once.
    pub floor: Floor,
}

/// What the syscall hooks do: record, or (the bench's floor modes) nothing at all, to
/// measure what the attachment alone costs with the project's own programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Floor {
    /// Record (the normal mode).
    #[default]
    Off,
    /// Only sys_exit attached, returning at once.
    SysExit,
    /// sys_enter and sys_exit attached, both returning at once.
    SysEnterExit,
}

/// Which ring buffer a record came from. Records of one thread keep their order within a
/// ring, not across the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    /// Syscall records.
    Events = 0,
    /// Exec, fork, exit, cgroup records and execve's and exit's syscall records.
    Lifecycle = 1,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            snaplen: 256,
            ring_bytes: 64 << 20,
            lifecycle_ring_bytes: 8 << 20,
            payload_cap: FULL_PAYLOAD_DEFAULT,
            floor: Floor::Off,
        }
    }
}

/// The compiled programs, built by build.rs from `recorder-ebpf`.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/aftertrace"));

/// (program name in the object, raw tracepoint it attaches to). No sys_enter: attaching it
/// costs every syscall 70-90 ns of dispatch here, and only execve and exit needed it; their
/// records come from sched_process_exec and sched_process_exit.
const ATTACHMENTS: &[(&str, &str)] = &[
    ("sched_process_fork", "sched_process_fork"),
    ("sched_process_exec", "sched_process_exec"),
    ("sched_process_exit", "sched_process_exit"),
    ("cgroup_mkdir", "cgroup_mkdir"),
    ("sys_exit", "sys_exit"),
];

/// Attaches `sched_prepare_exec` where the kernel has it (Linux >= 6.10), and tells the
/// programs so: execve's first half then comes from it, with its real arguments and ABI.
/// Elsewhere `sched_process_exec` makes it from what is left after the exec.
fn attach_prepare_exec(ebpf: &mut Ebpf) -> Result<()> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut("sched_prepare_exec")
        .ok_or_else(|| anyhow!("program sched_prepare_exec missing from the object"))?
        .try_into()?;
    prog.load()
        .context("the kernel's verifier rejected sched_prepare_exec")?;
    if let Err(e) = prog.attach("sched_prepare_exec") {
        tracing::info!("no sched_prepare_exec tracepoint ({e}): execve's arguments come from sched_process_exec");
        return Ok(());
    }
    let mut hooked: Array<_, u32> = Array::try_from(
        ebpf.map_mut("EXEC_ENTER_HOOKED")
            .ok_or_else(|| anyhow!("map EXEC_ENTER_HOOKED missing"))?,
    )?;
    hooked.set(0, 1, 0).context("setting EXEC_ENTER_HOOKED")?;
    Ok(())
}

/// Slots of the programs' per-process flags array: one per pid up to the kernel's pid_max
/// (4 + 8 bytes each: 384 KiB at the default 32768, 48 MiB at the 4194304 limit); pids
/// above, should pid_max be raised later, get no payload flags (their I/O is kept to the
/// snaplen) and no data-less fds.
fn proc_slots() -> u32 {
    const PID_MAX_LIMIT: u32 = 4 << 20;
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(32768)
        .clamp(1024, PID_MAX_LIMIT)
}

/// The floor modes' attachments.
const FLOOR_SYS_EXIT: &[(&str, &str)] = &[("sys_exit", "sys_exit")];
const FLOOR_SYS_ENTER_EXIT: &[(&str, &str)] =
    &[("sys_enter_floor", "sys_enter"), ("sys_exit", "sys_exit")];

pub struct Probes {
    // Field order matters: the maps are taken out of `ebpf` and must be dropped before it.
    lifecycle: RingBuf<MapData>,
    events: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    drops_by_pid: BpfHashMap<MapData, u32, u64>,
    proc_flags_by_pid: Array<MapData, u32>,
    _ebpf: Ebpf,
}

/// Loss counters summed over CPUs, indexed by `recorder_common::drop_cause`.
pub type DropCounts = [u64; drop_cause::COUNT as usize];

/// Loss counters per CPU: `[cpu][cause]`.
pub type DropCountsByCpu = Vec<DropCounts>;

impl Probes {
    /// Checks privileges and kernel features, loads and attaches every program.
    pub fn load(settings: &ProbeSettings) -> Result<Self> {
        for (what, bytes) in [
            ("ring buffer", settings.ring_bytes),
            ("lifecycle ring buffer", settings.lifecycle_ring_bytes),
        ] {
            if !bytes.is_power_of_two() || bytes < 4096 {
                anyhow::bail!("{what} size {bytes} is not a power of two of at least 4096 bytes");
            }
        }
        let snaplen = settings.snaplen.min(MAX_ITEM as u32);
        if settings.payload_cap > FULL_PAYLOAD_LIMIT {
            anyhow::bail!(
                "payload cap {} is above the {} bytes the kernel programs can carry per syscall",
                settings.payload_cap,
                FULL_PAYLOAD_LIMIT
            );
        }
        preflight::check()?;
        preflight::raise_memlock();
        let btf = btf::Btf::from_file(Path::new(preflight::VMLINUX_BTF))?;
        let offsets: KernelOffsets = btf::kernel_offsets(&btf)
            .context("this kernel's BTF lacks a structure member aftertrace needs")?;
        let own_tgid = std::process::id();
        let cpus = aya::util::nr_cpus().map_err(|(path, e)| anyhow!("reading {path}: {e}"))?;
        let floor_mode = match settings.floor {
            Floor::Off => floor::OFF,
            Floor::SysExit => floor::SYS_EXIT,
            Floor::SysEnterExit => floor::SYS_ENTER_EXIT,
        };
        let proc_slots = proc_slots();
        let mut ebpf = EbpfLoader::new()
            .set_global("FLOOR", &floor_mode, true)
            .set_max_entries("PROC_FLAGS_BY_PID", proc_slots)
            .set_max_entries("NULL_FDS", proc_slots)
            .set_global("OFFSETS", &offsets, true)
            .set_global("RECORDER_TGID", &own_tgid, true)
            .set_global("SNAPLEN", &snaplen, true)
            .set_global("FULL_PAYLOAD", &settings.payload_cap, true)
            .set_max_entries("EVENTS", settings.ring_bytes)
            .set_max_entries("LIFECYCLE", settings.lifecycle_ring_bytes)
            .set_max_entries("SCRATCH", cpus as u32)
            .load(PROGRAMS)
            .context("loading the eBPF object into the kernel")?;
        for (map_name, abi) in [("POLICY64", Abi::X86_64), ("POLICY32", Abi::I386)] {
            let mut map: Array<_, SyscallPolicy> = Array::try_from(
                ebpf.map_mut(map_name)
                    .ok_or_else(|| anyhow!("map {map_name} missing"))?,
            )?;
            for (nr, p) in policy::policies(abi).iter().enumerate() {
                if *p != SyscallPolicy::default() {
                    map.set(nr as u32, p, 0)
                        .with_context(|| format!("filling {map_name}[{nr}]"))?;
                }
            }
        }
        let mut interpreters: BpfHashMap<_, InterpreterKey, u8> = BpfHashMap::try_from(
            ebpf.map_mut("INTERPRETERS")
                .ok_or_else(|| anyhow!("map INTERPRETERS missing"))?,
        )?;
        for name in policy::INTERPRETERS {
            interpreters
                .insert(interpreter_key(name.as_bytes()), 1, 0)
                .with_context(|| format!("adding interpreter {name}"))?;
        }
        // Loaded, not attached: sys_exit tail-calls it for the rest of a long buffer.
        let more: &mut RawTracePoint = ebpf
            .program_mut("sys_exit_more")
            .ok_or_else(|| anyhow!("program sys_exit_more missing from the object"))?
            .try_into()?;
        more.load()
            .context("the kernel's verifier rejected sys_exit_more")?;
        let more_fd = more.fd()?.try_clone()?;
        // Loaded, not attached: sys_exit tail-calls it after opens, closes and dups.
        let open: &mut RawTracePoint = ebpf
            .program_mut("sys_exit_fds")
            .ok_or_else(|| anyhow!("program sys_exit_fds missing from the object"))?
            .try_into()?;
        open.load()
            .context("the kernel's verifier rejected sys_exit_fds")?;
        let open_fd = open.fd()?.try_clone()?;
        let mut more_progs = ProgramArray::try_from(
            ebpf.map_mut("MORE_PROGS")
                .ok_or_else(|| anyhow!("map MORE_PROGS missing"))?,
        )?;
        more_progs
            .set(0, &more_fd, 0)
            .context("installing sys_exit_more in MORE_PROGS")?;
        more_progs
            .set(1, &open_fd, 0)
            .context("installing sys_exit_fds in MORE_PROGS")?;
        if settings.floor == Floor::Off {
            attach_prepare_exec(&mut ebpf)?;
        }
        let attachments = match settings.floor {
            Floor::Off => ATTACHMENTS,
            Floor::SysExit => FLOOR_SYS_EXIT,
            Floor::SysEnterExit => FLOOR_SYS_ENTER_EXIT,
        };
        for (prog_name, tracepoint) in attachments {
            let prog: &mut RawTracePoint = ebpf
                .program_mut(prog_name)
                .ok_or_else(|| anyhow!("program {prog_name} missing from the object"))?
                .try_into()?;
            prog.load()
                .with_context(|| format!("the kernel's verifier rejected {prog_name}"))?;
            prog.attach(tracepoint)
                .with_context(|| format!("attaching to raw tracepoint {tracepoint}"))?;
        }
        let events = RingBuf::try_from(
            ebpf.take_map("EVENTS")
                .ok_or_else(|| anyhow!("map EVENTS missing"))?,
        )?;
        let lifecycle = RingBuf::try_from(
            ebpf.take_map("LIFECYCLE")
                .ok_or_else(|| anyhow!("map LIFECYCLE missing"))?,
        )?;
        let drops = PerCpuArray::try_from(
            ebpf.take_map("DROPS")
                .ok_or_else(|| anyhow!("map DROPS missing"))?,
        )?;
        let drops_by_pid = BpfHashMap::try_from(
            ebpf.take_map("DROPS_BY_PID")
                .ok_or_else(|| anyhow!("map DROPS_BY_PID missing"))?,
        )?;
        let proc_flags_by_pid = Array::try_from(
            ebpf.take_map("PROC_FLAGS_BY_PID")
                .ok_or_else(|| anyhow!("map PROC_FLAGS_BY_PID missing"))?,
        )?;
        Ok(Probes {
            proc_flags_by_pid,
            lifecycle,
            events,
            drops,
            drops_by_pid,
            _ebpf: ebpf,
        })
    }

    /// Hands every available record to `f`, after waiting up to `timeout` for some.
    /// Returns how many were handled.
    ///
    /// The programs never wake the reader (a busy node would pay for a wakeup, or for
    /// deciding on one, on every syscall): poll returns at once when records are waiting
    /// and otherwise sleeps `timeout`. Under a light load the wait is a nap: returning after
    /// a handful of records would spin, at a syscall per loop.
    ///
    /// The lifecycle ring is drained before the event ring each time, so that however fast
    /// syscalls come, the process-tree records find room.
    pub fn drain(&mut self, timeout: Duration, mut f: impl FnMut(Ring, &[u8])) -> Result<usize> {
        /// Enough records to come straight back for more.
        const BUSY: usize = 4096;
        /// The nap when some, but few, records came: bounds the delay they see.
        const NAP: Duration = Duration::from_millis(10);
        let mut n = self.drain_once(&mut f);
        if n >= BUSY {
            return Ok(n);
        }
        if n > 0 {
            std::thread::sleep(NAP.min(timeout));
        } else {
            let mut pfds =
                [self.events.as_raw_fd(), self.lifecycle.as_raw_fd()].map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            // SAFETY: two valid pollfds.
            let rc = unsafe {
                libc::poll(
                    pfds.as_mut_ptr(),
                    pfds.len() as libc::nfds_t,
                    timeout.as_millis() as libc::c_int,
                )
            };
            if rc < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err).context("poll on the ring buffers");
                }
            }
        }
        n += self.drain_once(&mut f);
        Ok(n)
    }

    /// What is in the rings now: the lifecycle ring, then the events, then the lifecycle
    /// ring again if it took more than a while (a flood of syscalls must not keep the
    /// lifecycle ring waiting behind a whole ring of them).
    fn drain_once(&mut self, f: &mut impl FnMut(Ring, &[u8])) -> usize {
        /// Event records between two looks at the lifecycle ring.
        const LIFECYCLE_EVERY: usize = 16384;
        let mut n = 0;
        loop {
            while let Some(item) = self.lifecycle.next() {
                f(Ring::Lifecycle, &item);
                n += 1;
            }
            let mut batch = 0;
            while let Some(item) = self.events.next() {
                f(Ring::Events, &item);
                batch += 1;
                if batch == LIFECYCLE_EVERY {
                    break;
                }
            }
            n += batch;
            // Bounded, so the caller gets to hand events over during a flood.
            if batch < LIFECYCLE_EVERY || n >= 16 * LIFECYCLE_EVERY {
                while let Some(item) = self.lifecycle.next() {
                    f(Ring::Lifecycle, &item);
                    n += 1;
                }
                return n;
            }
        }
    }

    /// Gives processes that began before the recording the payload flags the programs
    /// would have set at their exec: interpreters, and terminal sessions.
    pub fn seed_process_flags(&mut self, snapshot: &capture_format::ProcessSnapshot) {
        for p in &snapshot.processes {
            let exe_key = p.exe.as_deref().map(interpreter_key);
            let argv0_key = p.argv.first().map(|a| interpreter_key(a));
            let interpreter = policy::INTERPRETERS.iter().any(|name| {
                let key = interpreter_key(name.as_bytes());
                Some(key) == exe_key || Some(key) == argv0_key
            });
            let mut flags = 0;
            if interpreter {
                flags |= proc_flags::INTERPRETER;
            }
            if crate::procscan::tty_nr(p.pid).is_some_and(|t| t != 0) {
                flags |= proc_flags::CONTROLLING_TTY;
            }
            if flags != 0 {
                // Best effort: a full map only means less payload for old processes.
                // A pid beyond the array (pid_max raised since) gets none.
                let _ = self.proc_flags_by_pid.set(p.pid, flags, 0);
            }
        }
    }

    /// Cumulative loss counters per CPU.
    pub fn drop_counts_by_cpu(&self) -> Result<DropCountsByCpu> {
        let mut out: DropCountsByCpu = Vec::new();
        for cause in 0..drop_cause::COUNT {
            let per_cpu = self.drops.get(&cause, 0)?;
            if out.len() < per_cpu.len() {
                out.resize(per_cpu.len(), [0; drop_cause::COUNT as usize]);
            }
            for (cpu, v) in per_cpu.iter().enumerate() {
                out[cpu][cause as usize] = *v;
            }
        }
        Ok(out)
    }

    /// Lost syscall records by process (thread-group id), cumulative.
    pub fn drops_by_pid(&self) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = self.drops_by_pid.iter().filter_map(Result::ok).collect();
        v.sort_unstable();
        v
    }
}
