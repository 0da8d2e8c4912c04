//! The overview a responder reads first: where and when, how much, and how trustworthy.

use std::fmt;

use capture_format::{CaptureReader, EventBody};
use serde::Serialize;

use crate::timefmt::Clock;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub hostname: Option<String>,
    pub kernel: Option<String>,
    pub recorder_version: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_s: f64,
    pub events: u64,
    pub syscalls: u64,
    pub execs: u64,
    pub forks: u64,
    pub exits: u64,
    pub chunks: usize,
    pub containers: Vec<String>,
    /// Losses counted in the kernel, by cause, summed over CPUs and time (ring_full,
    /// scratch_full and regs_unreadable lose records; unreadable marks a parameter whose
    /// user memory could not be read, in a record that was kept).
    pub dropped: Vec<(String, u64)>,
    /// Lost syscall records broken down by process: the same losses seen per pid.
    pub lost_by_pid: Vec<(u32, u64)>,
    pub damaged: bool,
}

impl Summary {
    pub fn compute(reader: &CaptureReader) -> Summary {
        let meta = reader.metadata();
        let clock = Clock::new(&meta.clocks);
        let mut s = Summary {
            hostname: meta.host.as_ref().map(|h| h.hostname.clone()),
            kernel: meta.host.as_ref().map(|h| h.kernel_release.clone()),
            recorder_version: meta.host.as_ref().map(|h| h.recorder_version.clone()),
            chunks: reader.chunks().len(),
            containers: meta
                .containers
                .iter()
                .map(|c| format!("{} ({})", c.id, c.runtime))
                .collect(),
            dropped: {
                let mut by_cause: std::collections::BTreeMap<String, u64> = Default::default();
                for d in meta.drops.entries.iter().filter(|d| d.pid.is_none()) {
                    *by_cause.entry(d.cause.clone()).or_default() += d.count;
                }
                by_cause.into_iter().collect()
            },
            lost_by_pid: meta
                .drops
                .entries
                .iter()
                .filter_map(|d| Some((d.pid?, d.count)))
                .collect(),
            damaged: !reader.damage().is_empty(),
            ..Summary::default()
        };
        let (mut first, mut last) = (u64::MAX, 0u64);
        for e in reader.events().flatten() {
            s.events += 1;
            first = first.min(e.ts);
            last = last.max(e.ts);
            match e.body {
                EventBody::Syscall(_) => s.syscalls += 1,
                EventBody::Exec(_) => s.execs += 1,
                EventBody::Fork(_) => s.forks += 1,
                EventBody::Exit(_) => s.exits += 1,
                EventBody::CgroupMkdir(_) => {}
            }
        }
        if s.events > 0 {
            s.start = Some(clock.rfc3339(first));
            s.end = Some(clock.rfc3339(last));
            s.duration_s = (last - first) as f64 / 1e9;
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_unknown = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
        writeln!(f, "host:       {}", or_unknown(&self.hostname))?;
        writeln!(f, "kernel:     {}", or_unknown(&self.kernel))?;
        writeln!(f, "recorder:   {}", or_unknown(&self.recorder_version))?;
        writeln!(
            f,
            "window:     {} .. {} ({:.3} s)",
            or_unknown(&self.start),
            or_unknown(&self.end),
            self.duration_s
        )?;
        writeln!(
            f,
            "events:     {} ({} syscalls, {} execs, {} forks, {} exits) in {} chunk(s)",
            self.events, self.syscalls, self.execs, self.forks, self.exits, self.chunks
        )?;
        writeln!(f, "containers: {}", self.containers.len())?;
        for c in &self.containers {
            writeln!(f, "  {c}")?;
        }
        if self.dropped.is_empty() {
            writeln!(f, "lost:       none counted")?;
        } else {
            for (cause, n) in &self.dropped {
                writeln!(f, "lost:       {n} ({cause})")?;
            }
        }
        writeln!(
            f,
            "integrity:  {}",
            if self.damaged {
                "DAMAGED (run verify)"
            } else {
                "intact framing"
            }
        )
    }
}
