//! Loading the kernel programs, attaching them, and reading what they produce.
//! Dropping [`Probes`] detaches every program and frees the maps.

use std::{os::fd::AsRawFd, path::Path, time::Duration};

use anyhow::{anyhow, Context as _, Result};
use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::RawTracePoint,
    Ebpf, EbpfLoader,
};
use recorder_common::{drop_cause, KernelOffsets};

use crate::{btf, preflight};

/// The compiled programs, built by build.rs from `recorder-ebpf`.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/aftertrace"));

/// (program name in the object, raw tracepoint it attaches to)
const ATTACHMENTS: &[(&str, &str)] = &[
    ("sched_process_fork", "sched_process_fork"),
    ("sched_process_exec", "sched_process_exec"),
    ("sched_process_exit", "sched_process_exit"),
    ("cgroup_mkdir", "cgroup_mkdir"),
    ("sys_enter", "sys_enter"),
    ("sys_exit", "sys_exit"),
];

pub struct Probes {
    // Field order matters: the ring buffer's map is taken out of `ebpf` and must be
    // dropped before it.
    events: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    _ebpf: Ebpf,
}

/// Loss counters summed over CPUs, indexed by `recorder_common::drop_cause`.
pub type DropCounts = [u64; drop_cause::COUNT as usize];

impl Probes {
    /// Checks privileges and kernel features, loads and attaches every program.
    pub fn load() -> Result<Self> {
        preflight::check()?;
        preflight::raise_memlock();
        let btf = btf::Btf::from_file(Path::new(preflight::VMLINUX_BTF))?;
        let offsets: KernelOffsets = btf::kernel_offsets(&btf)
            .context("this kernel's BTF lacks a structure member aftertrace needs")?;
        let own_tgid = std::process::id();
        let mut ebpf = EbpfLoader::new()
            .set_global("OFFSETS", &offsets, true)
            .set_global("RECORDER_TGID", &own_tgid, true)
            .load(PROGRAMS)
            .context("loading the eBPF object into the kernel")?;
        for (prog_name, tracepoint) in ATTACHMENTS {
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
        let drops = PerCpuArray::try_from(
            ebpf.take_map("DROPS")
                .ok_or_else(|| anyhow!("map DROPS missing"))?,
        )?;
        Ok(Probes {
            events,
            drops,
            _ebpf: ebpf,
        })
    }

    /// Waits up to `timeout` for records, then hands every available record to `f`.
    /// Returns how many were handled.
    pub fn drain(&mut self, timeout: Duration, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let mut n = 0;
        while let Some(item) = self.events.next() {
            f(&item);
            n += 1;
        }
        if n > 0 {
            return Ok(n);
        }
        let mut pfd = libc::pollfd {
            fd: self.events.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err).context("poll on the event ring buffer");
            }
        }
        while let Some(item) = self.events.next() {
            f(&item);
            n += 1;
        }
        Ok(n)
    }

    pub fn drop_counts(&self) -> Result<DropCounts> {
        let mut out = [0u64; drop_cause::COUNT as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            let per_cpu = self.drops.get(&(i as u32), 0)?;
            *slot = per_cpu.iter().sum();
        }
        Ok(out)
    }
}
