//! The overview a responder reads first: where and when, how much, and how trustworthy.

use std::fmt;

use capture_format::{CaptureReader, Event, EventBody, Records};
use serde::Serialize;

use crate::procs::ProcessTree;
use crate::scan::{self, Plan, TreeNeed};
use base64::Engine as _;

use crate::select::TimeRange;
use crate::style::printable;
use crate::timefmt::Clock;

/// An alert (or marker) the capture was sealed for, as `summary --json` lists it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AlertRow {
    /// falco, falcosidekick, alertmanager, cli, signal, rule:NAME...
    pub source: String,
    /// When the recorder received it (RFC 3339 UTC).
    pub received: String,
    /// The time the payload itself claims, verbatim, if it has one.
    pub payload_time: Option<String>,
    pub summary: String,
    /// The payload exactly as received (UTF-8, lossy) and its bytes in base64.
    pub payload: String,
    pub payload_base64: String,
}

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
    /// user memory could not be read, in a record that was kept; data_lost cuts a
    /// full-payload buffer beyond its first 8 KiB, in a record that was kept).
    pub dropped: Vec<(String, u64)>,
    /// Lost syscall records broken down by process: the same losses seen per pid.
    pub lost_by_pid: Vec<(u32, u64)>,
    pub damaged: bool,
    pub alerts: Vec<AlertRow>,
    /// The window the daemon sealed (alert receipt - before .. + after, merged), RFC 3339;
    /// null for captures recorded with `record`.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// The capture's source keeps no loss ledger (a converted .scap file): no counted
    /// loss is "unknown", not "none".
    #[serde(skip)]
    pub losses_unknown: bool,
    /// Storms (daemon captures): the window's part (1 unless a long window was split),
    /// the capture this one continues (file name), whether it continues in the next,
    /// alerts counted instead of kept (beyond max_alerts_per_capture), alerts that found
    /// new captures rate limited, and rule matches held back by the per rule and
    /// container throttle, by "RULE (container)".
    pub window_part: Option<u64>,
    pub previous_capture: Option<String>,
    pub continues_in_next: bool,
    pub alerts_not_kept: u64,
    pub alerts_rate_limited: u64,
    pub rules_throttled: Vec<(String, u64)>,
}

#[derive(Default)]
struct Counts {
    events: u64,
    syscalls: u64,
    execs: u64,
    forks: u64,
    exits: u64,
    first: Option<u64>,
    last: Option<u64>,
}

impl Counts {
    fn of(events: &[Event]) -> Counts {
        let mut c = Counts::default();
        for e in events {
            c.events += 1;
            c.first = Some(c.first.map_or(e.ts, |f| f.min(e.ts)));
            c.last = Some(c.last.map_or(e.ts, |l| l.max(e.ts)));
            match e.body {
                EventBody::Syscall(_) => c.syscalls += 1,
                EventBody::Exec(_) => c.execs += 1,
                EventBody::Fork(_) => c.forks += 1,
                EventBody::Exit(_) => c.exits += 1,
                EventBody::CgroupMkdir(_) => {}
            }
        }
        c
    }

    fn add(&mut self, o: Counts) {
        self.events += o.events;
        self.syscalls += o.syscalls;
        self.execs += o.execs;
        self.forks += o.forks;
        self.exits += o.exits;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(o.last);
    }
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
                .map(|c| {
                    let mut about = vec![c.runtime.as_str()];
                    about.extend(c.name.as_deref());
                    about.extend(c.image.as_deref());
                    format!("{} ({})", c.id, about.join(", "))
                })
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
            losses_unknown: meta
                .host
                .as_ref()
                .and_then(|h| h.settings.get("not_recorded"))
                .is_some_and(|v| v.split_whitespace().any(|w| w == "losses")),
            ..Summary::default()
        };
        s.alerts = meta
            .alerts
            .iter()
            .map(|a| AlertRow {
                source: a.source.clone(),
                received: clock.rfc3339(a.received_boot_ns),
                payload_time: a.payload_time.clone(),
                summary: a.summary.clone(),
                payload: String::from_utf8_lossy(&a.payload).into_owned(),
                payload_base64: base64::engine::general_purpose::STANDARD.encode(&a.payload),
            })
            .collect();
        let setting =
            |key: &str| -> Option<u64> { meta.host.as_ref()?.settings.get(key)?.parse().ok() };
        s.window_start = setting("window_start_boot_ns").map(|t| clock.rfc3339(t));
        s.window_end = setting("window_end_boot_ns").map(|t| clock.rfc3339(t));
        s.read_storm(meta);
        let plan = Plan {
            range: TimeRange::default(),
            pids: None,
            tree: TreeNeed::No,
            activity: false,
            output: true,
            records: Records::All,
        };
        let mut counts = Counts::default();
        // Damaged chunks are reported by `verify` and flagged by `damaged`.
        let _ = scan::run(
            reader,
            &plan,
            &mut ProcessTree::default(),
            |events, _| Counts::of(events),
            |c| {
                counts.add(c);
                Ok::<(), std::convert::Infallible>(())
            },
            |_| {},
        );
        s.events = counts.events;
        s.syscalls = counts.syscalls;
        s.execs = counts.execs;
        s.forks = counts.forks;
        s.exits = counts.exits;
        if let (Some(first), Some(last)) = (counts.first, counts.last) {
            s.start = Some(clock.rfc3339(first));
            s.end = Some(clock.rfc3339(last));
            s.duration_s = (last - first) as f64 / 1e9;
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Host names, container names and alert texts come from outside: escape controls.
        let or_unknown = |o: &Option<String>| {
            o.as_deref()
                .map_or_else(|| "unknown".into(), |s| printable(s).into_owned())
        };
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
            writeln!(f, "  {}", printable(c))?;
        }
        writeln!(f, "alerts:     {}", self.alerts.len())?;
        for a in &self.alerts {
            writeln!(
                f,
                "  {} {}: {}",
                a.received,
                printable(&a.source),
                printable(&a.summary)
            )?;
        }
        for line in self.storm_lines() {
            writeln!(f, "storm:      {}", printable(&line))?;
        }
        if self.dropped.is_empty() && self.losses_unknown {
            writeln!(
                f,
                "lost:       unknown (the capture's source keeps no loss ledger)"
            )?;
        } else if self.dropped.is_empty() {
            writeln!(f, "lost:       none counted")?;
        } else {
            for (cause, n) in &self.dropped {
                writeln!(f, "lost:       {n} ({cause})")?;
            }
        }
        // Who lost records (the processes that caused the load, as a rule), most first.
        let mut by_pid: std::collections::BTreeMap<u32, u64> = Default::default();
        for (pid, n) in &self.lost_by_pid {
            *by_pid.entry(*pid).or_default() += n;
        }
        let mut by_pid: Vec<(u32, u64)> = by_pid.into_iter().collect();
        by_pid.sort_by_key(|&(pid, n)| (std::cmp::Reverse(n), pid));
        if !by_pid.is_empty() {
            let list: Vec<String> = by_pid
                .iter()
                .take(8)
                .map(|(pid, n)| format!("pid {pid}: {n}"))
                .collect();
            writeln!(f, "lost by:    {}", list.join(", "))?;
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

impl Summary {
    /// The storm fields, from the settings the daemon sealed the capture with.
    pub fn read_storm(&mut self, meta: &capture_format::Metadata) {
        let text = |key: &str| meta.host.as_ref()?.settings.get(key).cloned();
        let number = |key: &str| text(key)?.parse::<u64>().ok();
        self.window_part = number("window_part");
        self.previous_capture = text("previous_capture");
        self.continues_in_next = text("window_continues").is_some_and(|v| v == "true");
        self.alerts_not_kept = number("alerts_not_kept").unwrap_or(0);
        self.alerts_rate_limited = number("alerts_rate_limited").unwrap_or(0);
        self.rules_throttled = text("rules_throttled")
            .and_then(|j| serde_json::from_str::<std::collections::BTreeMap<String, u64>>(&j).ok())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
    }

    /// What an alert storm did to this capture, one line each: a split window, alerts
    /// counted instead of kept, rate limited, rules throttled. Empty when nothing did.
    pub fn storm_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(prev) = &self.previous_capture {
            out.push(format!(
                "window split: part {} continues {prev}",
                self.window_part.unwrap_or(2)
            ));
        }
        if self.continues_in_next {
            out.push(
                "window split: continues in the next capture (max_window, or the buffer's reach)"
                    .into(),
            );
        }
        if self.alerts_not_kept > 0 {
            out.push(format!(
                "{} alerts counted, not kept (beyond max_alerts_per_capture)",
                self.alerts_not_kept
            ));
        }
        if self.alerts_rate_limited > 0 {
            out.push(format!(
                "{} alerts found new captures rate limited (counted here)",
                self.alerts_rate_limited
            ));
        }
        if !self.rules_throttled.is_empty() {
            let list: Vec<String> = self
                .rules_throttled
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            out.push(format!("rules throttled: {}", list.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod storm_tests {
    use super::*;

    #[test]
    fn a_storm_is_told_in_the_summary() {
        let mut meta = capture_format::Metadata::default();
        let mut host = capture_format::HostInfo::default();
        for (k, v) in [
            ("window_part", "2"),
            ("previous_capture", "node-20261207T230000Z-storm.atcap"),
            ("window_continues", "true"),
            ("alerts_not_kept", "400"),
            ("rules_throttled", r#"{"Storm (host)":499}"#),
        ] {
            host.settings.insert(k.into(), v.into());
        }
        meta.host = Some(host);
        let mut s = Summary::default();
        s.read_storm(&meta);
        assert_eq!(s.rules_throttled, vec![("Storm (host)".to_owned(), 499)]);
        let lines = s.storm_lines();
        assert_eq!(
            lines,
            vec![
                "window split: part 2 continues node-20261207T230000Z-storm.atcap".to_owned(),
                "window split: continues in the next capture (max_window, or the buffer's reach)"
                    .to_owned(),
                "400 alerts counted, not kept (beyond max_alerts_per_capture)".to_owned(),
                "rules throttled: Storm (host): 499".to_owned(),
            ]
        );
        let text = s.to_string();
        assert!(text.contains("storm:      400 alerts counted"), "{text}");
    }
}
