//! The bench's results: one struct filled as it runs, rendered as text tables (stdout), a
//! markdown report, a JSON file and a PNG chart. Every figure stands beside its goal.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

use super::peers::{Mode, ProgCost, RecorderStats};

#[derive(Default, Serialize)]
pub struct Results {
    pub quick: bool,
    /// The one part run (`--only`), if not all of them.
    pub only: Option<String>,
    /// "release", or "debug" when --quick used the debug binaries.
    pub profile: String,
    pub machine: Machine,
    pub runs: usize,
    pub target_run_s: f64,
    pub peers: Vec<PeerInfo>,
    pub overhead: Vec<Row>,
    /// The recorder sessions of the overhead runs, one per workload.
    pub sessions: Vec<Session>,
    pub size: Vec<SizeRun>,
    /// The recorder's kernel programs during the snaplen-256 size mix.
    pub kernel_programs: Vec<ProgCost>,
    pub ramp: Vec<RampStep>,
    pub ramp_seconds: f64,
    pub inspector: Vec<InspectorRun>,
    /// How the "filter over all events" figure was taken.
    pub filter_method: String,
    pub phases: Vec<(String, f64)>,
    pub wall_s: f64,
    /// Things that went wrong but did not stop the bench.
    pub problems: Vec<String>,
    /// The daemon: from an alert's POST to its capture sealed, minus the post-window, ms.
    pub trigger_latency_ms: Vec<f64>,
}

#[derive(Default, Serialize)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub mem_gib: f64,
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// Other processes tracing the node while the bench ran (they inflate every figure).
    pub other_tracers: Vec<String>,
}

#[derive(Serialize)]
pub struct PeerInfo {
    pub mode: Mode,
    pub skipped: Option<String>,
}

#[derive(Serialize)]
pub struct Row {
    pub key: String,
    pub title: String,
    pub short: String,
    pub unit: String,
    pub goal_ratio: Option<f64>,
    pub cells: Vec<Cell>,
}

#[derive(Clone, Serialize)]
pub struct Cell {
    pub mode: Mode,
    /// Median time per `unit`.
    pub median: Option<f64>,
    pub runs: Vec<f64>,
    /// Iterations per measured run.
    pub iters: u64,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct Session {
    pub workload: String,
    pub stats: RecorderStats,
    /// Syscall records in the capture (`summary --json`).
    pub syscalls: u64,
}

#[derive(Serialize)]
pub struct SizeRun {
    pub snaplen: u32,
    pub bytes: u64,
    pub syscalls: u64,
    pub lost: u64,
}

#[derive(Serialize)]
pub struct RampStep {
    pub cpus: u32,
    /// Offered rate, syscalls/s over all CPUs; 0 = as fast as the loop goes.
    pub target: u64,
    pub achieved: f64,
    pub lost: u64,
    pub events: u64,
    /// Recorder CPU after startup over the time from its "recording" line to its exit
    /// (1.0 = one core busy).
    pub recorder_cores: f64,
}

#[derive(Default, Serialize)]
pub struct InspectorRun {
    pub label: String,
    pub syscalls: u64,
    pub events: u64,
    pub bytes: u64,
    pub gen_s: f64,
    pub open_s: Option<f64>,
    /// Records per second, one thread, with the reader's event cursor.
    pub decode_rate: Option<f64>,
    /// Records per second, one thread, with the owned-event iterator (`events()`).
    pub owned_decode_rate: Option<f64>,
    /// The share of the decode time that zstd decompression alone takes.
    pub zstd_share: Option<f64>,
    pub summary_s: Option<f64>,
    pub commands_s: Option<f64>,
    pub filter_s: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    /// The TUI through its update and render path (inspector's `tui_bench` example).
    pub tui_first_screen_ms: Option<f64>,
    pub tui_key_median_ms: Option<f64>,
    pub tui_key_p99_ms: Option<f64>,
}

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Results {
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.overhead.iter().find(|r| r.key == key)
    }

    pub fn cell(&self, key: &str, mode: Mode) -> Option<&Cell> {
        self.row(key)?.cells.iter().find(|c| c.mode == mode)
    }

    pub fn ratio(&self, key: &str, mode: Mode) -> Option<f64> {
        let bare = self.cell(key, Mode::Bare)?.median?;
        let m = self.cell(key, mode)?.median?;
        (bare > 0.0).then(|| m / bare)
    }

    pub fn skipped(&self, mode: Mode) -> Option<&str> {
        self.peers
            .iter()
            .find(|p| p.mode == mode)
            .and_then(|p| p.skipped.as_deref())
    }

    /// Recorder CPU seconds per 1M recorded syscalls over the overhead sessions, startup
    /// (program loading, /proc scan) excluded.
    pub fn cpu_per_million(&self) -> Option<f64> {
        let cpu: f64 = self.sessions.iter().map(|s| s.stats.recording_cpu()).sum();
        let n: u64 = self.sessions.iter().map(|s| s.syscalls).sum();
        (n > 0).then(|| cpu / n as f64 * 1e6)
    }

    pub fn bytes_per_syscall(&self, snaplen: u32) -> Option<f64> {
        let s = self.size.iter().find(|s| s.snaplen == snaplen)?;
        (s.syscalls > 0).then(|| s.bytes as f64 / s.syscalls as f64)
    }

    /// Kernel-side losses over the overhead and size sessions (the ramp looks for them).
    pub fn drops(&self) -> Option<u64> {
        if self.sessions.is_empty() {
            return None;
        }
        Some(
            self.sessions.iter().map(|s| s.stats.lost).sum::<u64>()
                + self.size.iter().map(|s| s.lost).sum::<u64>(),
        )
    }

    pub fn zero_drop_rate(&self) -> Option<f64> {
        self.ramp
            .iter()
            .filter(|s| s.lost == 0)
            .map(|s| s.achieved)
            .fold(None, |m, a| Some(m.map_or(a, |m: f64| m.max(a))))
    }

    pub fn first_drop(&self) -> Option<&RampStep> {
        self.ramp
            .iter()
            .filter(|s| s.lost > 0)
            .min_by(|a, b| a.achieved.total_cmp(&b.achieved))
    }

    fn largest_inspector(&self) -> Option<&InspectorRun> {
        self.inspector.iter().max_by_key(|r| r.syscalls)
    }

    /// Every figure with its goal: (issue, figure, value, goal, verdict).
    pub fn goals(&self) -> Vec<[String; 5]> {
        let judged = !self.quick;
        let verdict = |v: Option<f64>, ok: &dyn Fn(f64) -> bool| -> String {
            match v {
                None => "NO FIGURE".into(),
                Some(_) if !judged => "not judged (--quick)".into(),
                Some(v) if ok(v) => "met".into(),
                Some(_) => "MISSED".into(),
            }
        };
        let mut g = Vec::new();
        let mut push = |issue: &str, what: String, value: String, goal: &str, v: String| {
            g.push([issue.to_owned(), what, value, goal.to_owned(), v]);
        };
        for row in &self.overhead {
            let Some(goal) = row.goal_ratio else {
                continue;
            };
            let r = self.ratio(&row.key, Mode::Aftertrace);
            let floor = [Mode::FloorExit, Mode::FloorEnterExit]
                .iter()
                .filter_map(|&m| {
                    Some(format!(
                        "{}: {}",
                        m.label(),
                        fmt_ratio(Some(self.ratio(&row.key, m)?))
                    ))
                })
                .collect::<Vec<_>>();
            let value = if floor.is_empty() {
                fmt_ratio(r)
            } else {
                format!("{} ({})", fmt_ratio(r), floor.join(", "))
            };
            push(
                "#14",
                format!("{}: recorder / bare", row.title),
                if r.is_some() { value } else { "-".into() },
                &format!("<= {goal}x"),
                verdict(r, &|v| v <= goal),
            );
        }
        let z = self.zero_drop_rate();
        let first = self
            .first_drop()
            .map(|s| {
                format!(
                    " (first loss at {} on {} CPU{})",
                    fmt_rate(s.achieved),
                    s.cpus,
                    if s.cpus == 1 { "" } else { "s" }
                )
            })
            .unwrap_or_else(|| " (no loss at any step)".into());
        push(
            "#4",
            "sustained syscall rate with zero drops".into(),
            z.map(|z| format!("{}{first}", fmt_rate(z)))
                .unwrap_or("-".into()),
            ">= 2M/s",
            verdict(z, &|v| v >= 2e6),
        );
        let c = self.cpu_per_million();
        push(
            "#4",
            "recorder CPU per 1M syscalls (startup excluded)".into(),
            c.map(|c| format!("{c:.2} core-s")).unwrap_or("-".into()),
            "<= 0.35 core-s",
            verdict(c, &|v| v <= 0.35),
        );
        let d = self.drops();
        push(
            "#4",
            "records lost in the kernel during the overhead runs".into(),
            d.map(|d| d.to_string()).unwrap_or("-".into()),
            "0 (reported)",
            verdict(d.map(|d| d as f64), &|v| v == 0.0),
        );
        let b0 = self.bytes_per_syscall(0);
        push(
            "#3",
            "bytes/syscall on disk excluding data (--snaplen 0)".into(),
            b0.map(|b| format!("{b:.2}")).unwrap_or("-".into()),
            "<= 6",
            verdict(b0, &|v| v <= 6.0),
        );
        let b256 = self.bytes_per_syscall(256);
        push(
            "#3",
            "bytes/syscall on disk with data (snaplen 256)".into(),
            b256.map(|b| format!("{b:.2}")).unwrap_or("-".into()),
            "report",
            verdict(b256, &|_| true),
        );
        let big = self.largest_inspector();
        let label = big.map(|b| b.label.clone()).unwrap_or_default();
        let dr = big.and_then(|b| b.decode_rate);
        push(
            "#3",
            format!("read+decode, one core ({label} synthetic)"),
            dr.map(|r| format!("{}/s", fmt_count(r)))
                .unwrap_or("-".into()),
            ">= 10M/s",
            verdict(dr, &|v| v >= 1e7),
        );
        let secs = fmt_secs;
        let o = big.and_then(|b| b.open_s);
        push(
            "#6",
            format!("open + index ({label})"),
            secs(o),
            "<= 2 s",
            verdict(o, &|v| v <= 2.0),
        );
        let cm = big.and_then(|b| b.commands_s);
        push(
            "#6",
            format!("`commands` ({label})"),
            secs(cm),
            "<= 2 s",
            verdict(cm, &|v| v <= 2.0),
        );
        let f = big.and_then(|b| b.filter_s);
        push(
            "#6",
            format!("filter over all events ({label}; {})", self.filter_method),
            secs(f),
            "<= 1 s",
            verdict(f, &|v| v <= 1.0),
        );
        let first = big.and_then(|b| b.tui_first_screen_ms);
        push(
            "#10",
            format!("TUI first screen ({label})"),
            first.map_or("-".into(), |ms| format!("{ms:.0} ms")),
            "<= 300 ms",
            verdict(first, &|v| v <= 300.0),
        );
        let p99 = big.and_then(|b| b.tui_key_p99_ms);
        push(
            "#10",
            format!(
                "TUI Events keypress, p99 ({label}; median {})",
                big.and_then(|b| b.tui_key_median_ms)
                    .map_or("-".into(), |ms| format!("{ms:.1} ms"))
            ),
            p99.map_or("-".into(), |ms| format!("{ms:.1} ms")),
            "<= 50 ms",
            verdict(p99, &|v| v <= 50.0),
        );
        let latency = if self.trigger_latency_ms.is_empty() {
            None
        } else {
            let mut v = self.trigger_latency_ms.clone();
            v.sort_by(f64::total_cmp);
            Some(v[v.len() / 2])
        };
        push(
            "#8",
            format!(
                "trigger-to-sealed latency after the post-window (median of {})",
                self.trigger_latency_ms.len()
            ),
            latency.map_or("-".into(), |ms| format!("{ms:.0} ms")),
            "<= 1 s",
            verdict(latency, &|v| v <= 1000.0),
        );
        let rss = big.and_then(|b| b.peak_rss_kib).map(|k| k as f64 * 1024.0);
        push(
            "#6",
            format!("inspector peak RSS ({label})"),
            rss.map(|b| format!("{:.2} GiB", b / GIB))
                .unwrap_or("-".into()),
            "<= 1.5 GiB",
            verdict(rss, &|v| v <= 1.5 * GIB),
        );
        g
    }

    /// Figures the bench must produce (what --quick asserts): aftertrace's, and every
    /// peer's that was not skipped. Returns what is missing.
    pub fn missing_figures(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for row in &self.overhead {
            for c in &row.cells {
                let peer_skipped = self.skipped(c.mode).is_some();
                let mixed_skipped = row.key == "mixed"
                    && c.error.as_deref().is_some_and(|e| e.starts_with("skipped"));
                let ok = c.median.is_some_and(|m| m.is_finite() && m > 0.0);
                if !ok
                    && !peer_skipped
                    && !mixed_skipped
                    && matches!(c.mode, Mode::Bare | Mode::Aftertrace)
                {
                    missing.push(format!(
                        "{} {}: {}",
                        row.key,
                        c.mode,
                        c.error.as_deref().unwrap_or("no figure")
                    ));
                }
            }
        }
        // `--only recorder` leaves the inspector's figures out on purpose.
        let recorder_only = self.only.as_deref() == Some("recorder");
        for [issue, what, value, _, verdict] in self.goals() {
            let inspector_figure =
                matches!(issue.as_str(), "#6" | "#10") || what.starts_with("read+decode");
            if recorder_only && inspector_figure {
                continue;
            }
            if verdict == "NO FIGURE" || value == "-" {
                missing.push(format!("{issue} {what}"));
            }
        }
        if self.ramp.is_empty() {
            missing.push("the ramp produced no step".into());
        }
        missing
    }

    /// Peer cells that failed although the peer was available (warnings, not failures).
    pub fn peer_failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.overhead {
            for c in &row.cells {
                if matches!(c.mode, Mode::Strace | Mode::Bpftrace | Mode::Auditd)
                    && c.median.is_none()
                    && self.skipped(c.mode).is_none()
                {
                    out.push(format!(
                        "{} {}: {}",
                        row.key,
                        c.mode,
                        c.error.as_deref().unwrap_or("no figure")
                    ));
                }
            }
        }
        out
    }
}

impl RecorderStats {
    /// CPU after the "recording" line: the recording itself and the final drain.
    pub fn recording_cpu(&self) -> f64 {
        (self.cpu_s - self.startup_cpu_s).max(0.0)
    }
}

pub fn fmt_secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 0.01 => format!("{:.1} ms", s * 1e3),
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
    }
}

pub fn fmt_count(v: f64) -> String {
    if v >= 999_500.0 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn fmt_rate(v: f64) -> String {
    format!("{}/s", fmt_count(v))
}

fn fmt_value(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A table rendered as aligned text or as markdown.
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn text(&self) -> String {
        let n = self.head.len();
        let mut w = vec![0; n];
        for r in std::iter::once(&self.head).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        let line = |s: &mut String, r: &[String]| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = w[i]))
                .collect();
            let _ = writeln!(s, "{}", cells.join("  ").trim_end());
        };
        line(&mut s, &self.head);
        let rule: Vec<String> = w.iter().map(|&k| "-".repeat(k)).collect();
        line(&mut s, &rule);
        for r in &self.rows {
            line(&mut s, r);
        }
        s
    }

    pub fn markdown(&self) -> String {
        let esc = |c: &String| c.replace('|', "\\|");
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| {} |",
            self.head.iter().map(esc).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(s, "|{}", "---|".repeat(self.head.len()));
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} |",
                r.iter().map(esc).collect::<Vec<_>>().join(" | ")
            );
        }
        s
    }
}

/// The tables, in order, with their titles.
pub fn tables(r: &Results) -> Vec<(String, Table)> {
    let mut out = Vec::new();

    let mut head = vec!["workload", "unit"];
    head.extend(Mode::ALL.iter().map(|m| m.label()));
    head.push("goal (aftertrace)");
    let mut t = Table::new(&head);
    for row in &r.overhead {
        let mut cells = vec![row.title.clone(), row.unit.clone()];
        for mode in Mode::ALL {
            let c = row.cells.iter().find(|c| c.mode == mode);
            cells.push(match c {
                Some(Cell {
                    median: Some(m), ..
                }) if mode == Mode::Bare => fmt_value(*m),
                Some(Cell {
                    median: Some(m), ..
                }) => format!("{} ({})", fmt_value(*m), fmt_ratio(r.ratio(&row.key, mode))),
                Some(c) => match (r.skipped(mode), &c.error) {
                    (Some(_), _) => "skipped".into(),
                    (None, Some(e)) if e.starts_with("skipped") => "skipped".into(),
                    _ => "failed".into(),
                },
                None => "-".into(),
            });
        }
        cells.push(match row.goal_ratio {
            Some(g) => {
                let v = r.ratio(&row.key, Mode::Aftertrace);
                let verdict = match v {
                    _ if r.quick => "",
                    Some(v) if v <= g => " met",
                    Some(_) => " MISSED",
                    None => "",
                };
                format!("<= {g}x{verdict}")
            }
            None => "-".into(),
        });
        t.rows.push(cells);
    }
    out.push((
        format!(
            "Overhead: median of {} runs, time per unit (ratio to bare); the floors are aftertrace's own programs returning at once",
            r.runs
        ),
        t,
    ));

    let mut head = vec!["workload", "bare"];
    head.extend(Mode::SNAPLENS.iter().map(|m| m.label()));
    head.push("aftertrace (default)");
    let mut t = Table::new(&head);
    for row in &r.overhead {
        if !row.cells.iter().any(|c| c.mode.snaplen().is_some()) {
            continue;
        }
        let mut cells = vec![row.title.clone()];
        for mode in std::iter::once(Mode::Bare)
            .chain(Mode::SNAPLENS)
            .chain([Mode::Aftertrace])
        {
            let c = row.cells.iter().find(|c| c.mode == mode);
            cells.push(match c.and_then(|c| c.median) {
                Some(m) if mode == Mode::Bare => format!("{} {}", fmt_value(m), row.unit),
                Some(m) => format!("{} ({})", fmt_value(m), fmt_ratio(r.ratio(&row.key, mode))),
                None => "-".into(),
            });
        }
        t.rows.push(cells);
    }
    if !t.rows.is_empty() {
        out.push((
            "Snaplen cost: the same workloads under aftertrace at other snaplens (ratio to bare)"
                .into(),
            t,
        ));
    }

    let mut t = Table::new(&["issue", "figure", "value", "goal", "verdict"]);
    for g in r.goals() {
        t.rows.push(g.to_vec());
    }
    out.push(("Goals".into(), t));

    let mut t = Table::new(&[
        "recorder session",
        "syscalls recorded",
        "recorder CPU",
        "of which startup",
        "after SIGINT",
        "CPU per 1M syscalls",
        "capture bytes",
        "bytes/syscall",
        "lost",
    ]);
    for s in &r.sessions {
        t.rows.push(vec![
            s.workload.clone(),
            s.syscalls.to_string(),
            format!("{:.2} s", s.stats.cpu_s),
            format!("{:.2} s", s.stats.startup_cpu_s),
            format!("{:.2} s", s.stats.shutdown_cpu_s),
            if s.syscalls > 0 {
                format!(
                    "{:.2} core-s",
                    s.stats.recording_cpu() / s.syscalls as f64 * 1e6
                )
            } else {
                "-".into()
            },
            s.stats.capture_bytes.to_string(),
            if s.syscalls > 0 {
                format!("{:.2}", s.stats.capture_bytes as f64 / s.syscalls as f64)
            } else {
                "-".into()
            },
            s.stats.lost.to_string(),
        ]);
    }
    for s in &r.size {
        t.rows.push(vec![
            format!("size mix, --snaplen {}", s.snaplen),
            s.syscalls.to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            s.bytes.to_string(),
            if s.syscalls > 0 {
                format!("{:.2}", s.bytes as f64 / s.syscalls as f64)
            } else {
                "-".into()
            },
            s.lost.to_string(),
        ]);
    }
    out.push(("Recorder sessions".into(), t));

    if !r.kernel_programs.is_empty() {
        let mut t = Table::new(&["program", "runs", "mean run time"]);
        for p in &r.kernel_programs {
            t.rows.push(vec![
                p.name.clone(),
                p.runs.to_string(),
                format!("{:.0} ns", p.avg_ns),
            ]);
        }
        out.push((
            "Recorder kernel programs (size mix, snaplen 256, kernel.bpf_stats_enabled)".into(),
            t,
        ));
    }

    let mut t = Table::new(&[
        "CPUs",
        "offered",
        "achieved",
        "events recorded",
        "lost",
        "recorder cores",
    ]);
    for s in &r.ramp {
        t.rows.push(vec![
            s.cpus.to_string(),
            if s.target == 0 {
                "max".into()
            } else {
                fmt_rate(s.target as f64)
            },
            fmt_rate(s.achieved),
            s.events.to_string(),
            s.lost.to_string(),
            format!("{:.2}", s.recorder_cores),
        ]);
    }
    out.push((
        format!(
            "Ramp: getppid loop at offered rates, {:.1} s a step, until the first loss",
            r.ramp_seconds
        ),
        t,
    ));

    let mut t = Table::new(&[
        "synthetic capture",
        "syscalls",
        "file",
        "bytes/syscall",
        "open+index",
        "read+decode 1 core",
        "owned events() 1 core",
        "of which zstd",
        "summary",
        "commands",
        "filter/full pass",
        "peak RSS",
    ]);
    let secs = fmt_secs;
    for i in &r.inspector {
        t.rows.push(vec![
            i.label.clone(),
            i.syscalls.to_string(),
            format!("{:.1} MiB", i.bytes as f64 / 1048576.0),
            format!("{:.2}", i.bytes as f64 / i.syscalls.max(1) as f64),
            secs(i.open_s),
            i.decode_rate.map(fmt_rate).unwrap_or("-".into()),
            i.owned_decode_rate.map(fmt_rate).unwrap_or("-".into()),
            i.zstd_share
                .map(|z| format!("{:.0} %", z * 100.0))
                .unwrap_or("-".into()),
            secs(i.summary_s),
            secs(i.commands_s),
            secs(i.filter_s),
            i.peak_rss_kib
                .map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
                .unwrap_or("-".into()),
        ]);
    }
    out.push((
        format!("Inspector on synthetic captures ({})", r.filter_method),
        t,
    ));
    out
}

pub fn text(r: &Results) -> String {
    let mut s = String::new();
    for (title, t) in tables(r) {
        let _ = writeln!(s, "\n== {title} ==\n{}", t.text());
    }
    s
}

pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let mut s = String::new();
    let _ = writeln!(s, "# aftertrace bench report\n");
    let _ = writeln!(
        s,
        "{} run, {} binaries, {} on this machine ({} CPUs, {}, kernel {}, {:.0} GiB RAM); load average {} at the start, {} at the end; {:.0} s in all.\n",
        match (&r.only, r.quick) {
            (Some(part), _) => format!("`--only {part}`"),
            (None, true) => "`--quick`".into(),
            (None, false) => "Full".into(),
        },
        r.profile,
        m.date,
        m.nproc,
        m.cpu_model,
        m.kernel,
        m.mem_gib,
        m.loadavg_start,
        m.loadavg_end,
        r.wall_s
    );
    if !m.other_tracers.is_empty() {
        let _ = writeln!(
            s,
            "**Other tracers were running on the node during the bench** (every figure is inflated by them): {}\n",
            m.other_tracers.join(", ")
        );
    }
    for (title, t) in tables(r) {
        let _ = writeln!(s, "## {title}\n\n{}", t.markdown());
    }
    let _ = writeln!(s, "## Method\n\n{}\n", METHOD);
    let skipped: Vec<String> = r
        .peers
        .iter()
        .filter_map(|p| Some(format!("- {}: {}", p.mode, p.skipped.as_ref()?)))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(s, "## Skipped peers\n\n{}\n", skipped.join("\n"));
    }
    if !r.problems.is_empty() {
        let _ = writeln!(s, "## Problems\n");
        for p in &r.problems {
            let _ = writeln!(s, "- {p}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Phases\n");
    for (p, secs) in &r.phases {
        let _ = writeln!(s, "- {p}: {secs:.1} s");
    }
    s
}

pub const METHOD: &str = "\
- Trigger-to-sealed latency: `aftertrace-recorder run --before 1s --after 1s` records; Falco's \
sample alert is POSTed; the time until its capture is in the directory, minus the 1 s \
post-window, is the figure.
- Each workload runs bare, under `aftertrace-recorder record --duration 600s -o FILE` (started \
in the background before the runs, stopped with SIGINT after them; it records the whole node), \
under `strace -f -o /dev/null`, under bpftrace printing every raw `sys_enter` (six arguments) \
and `sys_exit` (return value) of every process but itself to a file, and under auditd with \
`auditctl -a always,exit -F arch=b64 -S all` (rules removed with `auditctl -D` after each \
workload). For each workload the bare runs and the runs of each mode come back to back, so \
that background load drifting over the bench hits them alike; auditd runs for every workload \
at the end, because once auditing was enabled the kernel gives every task created afterwards \
syscall-audit work until reboot.
- A run's wall time is measured from spawn to reap, divided by its iterations (and by the \
syscalls per iteration where that is fixed: dd 2, getppid 1, file I/O 4). A pilot run, grown \
tenfold until it lasts a tenth of the target, sizes the iteration count so that each measured \
run lasts about the target in every mode; the median of the runs is shown, with its ratio to \
the bare median. The mixed workload runs a fixed attack script (`podman exec`) in a container \
that also runs busybox httpd and a client fetching from it every 5 ms.
- Recorder CPU is the user+system time of the recorder process from wait4 minus what it had \
used when it printed its `recording` line (/proc/PID/stat: loading the programs, the /proc \
scan), so the recording and the final drain, divided by the syscall records in its capture \
(`aftertrace-inspector FILE summary --json`, field `syscalls`; the recorder records the whole \
node, so these include other processes' syscalls). Losses are the recorder's final \
`N lost in the kernel`.
- Bytes per syscall: capture size over syscall records, for one session running each of dd, \
getppid, file I/O and fork+exec once (the size mix) with the default `--snaplen 256` and with \
`--snaplen 0` (no data bytes). During the snaplen-256 session the kernel's BPF statistics \
(`kernel.bpf_stats_enabled`, restored after) give each recorder program's mean run time \
(bpftool), which shows where the in-kernel cost is; they add two clock reads per run, so no \
timed run has them on.
- Ramp: the `rate` program makes getppid syscalls at an offered rate (catching up with a \
schedule every 200 us) from 1 process pinned to CPU 0, then from 2 processes pinned to CPUs \
0 and 1, under a fresh recorder per step; rates rise until the recorder reports a loss. The \
zero-drop sustained rate is the highest achieved rate of a step without loss; when the offered \
rate is not achieved, the workload itself (slowed by the probes) is the limit, and higher \
offers are skipped for the unthrottled step. The recorder cores figure is the recorder's CPU after \
startup over the step's recording time.
- Inspector: synthetic captures generated by `cargo xtask bench synth` (documented in \
xtask/src/bench/synth.rs: services, containers, short-lived commands with execs, opens with \
paths, reads and writes of small buffers cut at 256 bytes). Open+index and read+decode are \
measured in-process with capture-format's reader (the inspector's own open) on one thread: \
read+decode is the first pass over the mapped file, every record decoded in full with the \
event cursor (one reused `Event`, as the inspector's passes decode); the owned `events()` \
iterator (a fresh `Event` per record) is timed in a second pass beside it (the zstd share is \
decompressing every chunk alone over the cursor's time); \
`summary`, `commands` and the filter pass run the inspector binary with output to /dev/null, \
page cache warm; peak RSS is the largest ru_maxrss of those runs.";

// ------------------------------------------------------------------ chart

/// A TrueType font from a Debian font package, if one is installed.
fn find_font() -> Option<Vec<u8>> {
    let preferred = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    ];
    for p in preferred {
        if let Ok(b) = std::fs::read(p) {
            return Some(b);
        }
    }
    let mut stack = vec![std::path::PathBuf::from("/usr/share/fonts")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ttf")) {
                if let Ok(b) = std::fs::read(&p) {
                    return Some(b);
                }
            }
        }
    }
    None
}

/// Draws the ratio-to-bare chart. Never fatal: the caller prints the error.
pub fn chart(r: &Results, path: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let fonts = match find_font() {
        Some(bytes) => plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .is_ok(),
        None => false,
    };
    let modes: Vec<Mode> = Mode::ALL.into_iter().filter(|m| *m != Mode::Bare).collect();
    let colors = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xff, 0x7f, 0x0e),
    ];
    let rows: Vec<&Row> = r.overhead.iter().collect();
    let n = rows.len().max(1);
    let ymax = rows
        .iter()
        .flat_map(|row| modes.iter().filter_map(|m| r.ratio(&row.key, *m)))
        .fold(2.0f64, f64::max)
        * 3.0;

    let root = BitMapBackend::new(path, (1280, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .margin(20)
        .x_label_area_size(if fonts { 50 } else { 5 })
        .y_label_area_size(if fonts { 70 } else { 5 });
    if fonts {
        builder.caption(
            format!(
                "Slowdown against bare (log scale){}",
                if r.quick {
                    " -- quick run, not representative"
                } else {
                    ""
                }
            ),
            ("sans-serif", 26),
        );
    }
    let mut chart = builder.build_cartesian_2d(0f64..n as f64, (0.8f64..ymax).log_scale())?;
    if fonts {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("time / bare time")
            .y_label_formatter(&|v| format!("{v}x"))
            .label_style(("sans-serif", 16))
            .draw()?;
    } else {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()?;
    }
    let width = 0.8 / modes.len() as f64;
    for (mi, mode) in modes.iter().enumerate() {
        let color = colors[mi % colors.len()];
        let bars: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let x = i as f64 + 0.1 + width * mi as f64;
                Some((x, r.ratio(&row.key, *mode)?))
            })
            .collect();
        let series = chart.draw_series(bars.iter().map(|&(x, v)| {
            Rectangle::new([(x, 0.8), (x + width * 0.9, v.max(0.8))], color.filled())
        }))?;
        if fonts {
            series.label(mode.label()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
            });
            chart.draw_series(bars.iter().map(|&(x, v)| {
                Text::new(
                    fmt_ratio(Some(v)),
                    (x, v.max(0.8) * 1.08),
                    ("sans-serif", 13).into_font(),
                )
            }))?;
        }
    }
    // The recorder's goals, as black ticks across its bars.
    let ticks: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| Some((i as f64 + 0.1, row.goal_ratio?)))
        .collect();
    let series = chart.draw_series(ticks.iter().map(|&(x, g)| {
        PathElement::new(vec![(x - 0.02, g), (x + width, g)], BLACK.stroke_width(3))
    }))?;
    if fonts {
        series
            .label("aftertrace goal")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(3)));
    }
    if fonts {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        for (i, row) in rows.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.8));
            let half = (row.short.chars().count() as i32 * 8) / 2;
            root.draw(&Text::new(
                row.short.clone(),
                (px - half, py + 12),
                ("sans-serif", 15).into_font(),
            ))?;
        }
    }
    root.present()?;
    Ok(fonts)
}
