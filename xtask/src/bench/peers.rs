//! The modes a workload runs in: bare, under aftertrace-recorder, and under the peers
//! (strace -f, bpftrace printing every raw syscall, auditd with an `-S all` rule). Peers are
//! installed with apt-get when missing; one that cannot be installed or started is skipped
//! with its reason, never failing the bench.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::proc::{self, Daemon};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Mode {
    Bare,
    Aftertrace,
    /// The floor: aftertrace's own sys_exit program, attached alone, returning at once.
    FloorExit,
    /// The same with a sys_enter program beside it: what attaching sys_enter costs.
    FloorEnterExit,
    /// aftertrace with another snaplen than its default (the snaplen cost table).
    Snaplen64,
    Snaplen128,
    Snaplen256,
    Strace,
    Bpftrace,
    Auditd,
}

impl Mode {
    /// In the order of the table's columns (and of the runs, auditd last).
    pub const ALL: [Mode; 7] = [
        Mode::Bare,
        Mode::Aftertrace,
        Mode::FloorExit,
        Mode::FloorEnterExit,
        Mode::Strace,
        Mode::Bpftrace,
        Mode::Auditd,
    ];

    /// Runs of aftertrace at other snaplens, on the workloads that move data.
    pub const SNAPLENS: [Mode; 3] = [Mode::Snaplen64, Mode::Snaplen128, Mode::Snaplen256];

    pub fn label(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Aftertrace => "aftertrace",
            Mode::FloorExit => "floor: sys_exit",
            Mode::FloorEnterExit => "floor: enter+exit",
            Mode::Snaplen64 => "aftertrace --snaplen 64",
            Mode::Snaplen128 => "aftertrace --snaplen 128",
            Mode::Snaplen256 => "aftertrace --snaplen 256",
            Mode::Strace => "strace -f",
            Mode::Bpftrace => "bpftrace",
            Mode::Auditd => "auditd -S all",
        }
    }

    /// The snaplen of a snaplen mode.
    pub fn snaplen(self) -> Option<u32> {
        match self {
            Mode::Snaplen64 => Some(64),
            Mode::Snaplen128 => Some(128),
            Mode::Snaplen256 => Some(256),
            _ => None,
        }
    }

    /// The recorder's `--floor` value of a floor mode.
    pub fn floor(self) -> Option<&'static str> {
        match self {
            Mode::FloorExit => Some("sys-exit"),
            Mode::FloorEnterExit => Some("sys-enter-exit"),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(cmd).is_file()
        || Path::new("/sbin").join(cmd).is_file()
}

/// Installs the Debian packages of the peers that are missing (idempotent: nothing runs
/// when all are present). Returns, per peer, why it cannot be used, if it cannot.
pub fn install_peers() -> Vec<(Mode, Option<String>)> {
    let wanted = [
        (Mode::Strace, "strace", vec!["strace"]),
        (Mode::Bpftrace, "bpftrace", vec!["bpftrace"]),
        (Mode::Auditd, "auditd", vec!["auditd", "auditctl"]),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(_, _, cmds)| !cmds.iter().all(|c| have(c)))
        .map(|(_, pkg, _)| *pkg)
        .collect();
    let mut apt_error = None;
    if !missing.is_empty() {
        eprintln!("bench: installing missing peers: {}", missing.join(" "));
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output()
        };
        let mut out = install();
        if !matches!(&out, Ok(o) if o.status.success()) {
            // A fresh machine's package lists may be missing or stale.
            proc::quiet(Command::new("apt-get").args(["update", "-qq"]));
            out = install();
        }
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                apt_error = Some(format!(
                    "apt-get install failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ))
            }
            Err(e) => apt_error = Some(format!("apt-get could not run: {e}")),
        }
    }
    wanted
        .iter()
        .map(|(mode, pkg, cmds)| {
            let why = (!cmds.iter().all(|c| have(c))).then(|| {
                format!(
                    "`{pkg}` is not installed ({})",
                    apt_error.as_deref().unwrap_or("apt-get did not provide it")
                )
            });
            (*mode, why)
        })
        .collect()
}

// ------------------------------------------------------------------ aftertrace-recorder

/// A recorder recording the whole node in the background.
pub struct Recorder {
    daemon: Daemon,
    pub capture: PathBuf,
    startup_cpu: Duration,
    ready_at: Instant,
}

/// What a recorder session cost and produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecorderStats {
    /// User + system CPU of the recorder process, from wait4 (startup and final drain
    /// included).
    pub cpu_s: f64,
    /// The part of it spent before the "recording" line (loading the programs, the /proc
    /// scan), read from /proc/PID/stat at that line.
    pub startup_cpu_s: f64,
    /// The part spent after SIGINT (final drain, last chunk, index), from /proc/PID/stat
    /// just before the signal.
    pub shutdown_cpu_s: f64,
    /// From the "recording" line to the reap.
    pub recording_s: f64,
    /// Events the recorder says it wrote.
    pub events: u64,
    /// "N lost in the kernel" from its final line.
    pub lost: u64,
    pub capture_bytes: u64,
}

/// Removes a capture of an earlier run and its sidecars: the recorder refuses to write
/// over an existing name (`.partial`, `.sha256`, `.sig` included), by design.
pub fn remove_capture(capture: &Path) {
    let _ = std::fs::remove_file(capture);
    for suffix in [".partial", ".sha256", ".sig"] {
        let mut sidecar = capture.as_os_str().to_owned();
        sidecar.push(suffix);
        let _ = std::fs::remove_file(sidecar);
    }
}

impl Recorder {
    pub fn start(bin: &Path, capture: &Path, snaplen: u32) -> Result<Recorder> {
        Recorder::start_with(bin, capture, &["--snaplen", &snaplen.to_string()])
    }

    /// A recorder with `args` added to `record` (none: its default settings).
    pub fn start_with(bin: &Path, capture: &Path, args: &[&str]) -> Result<Recorder> {
        remove_capture(capture);
        let mut cmd = Command::new(bin.join("aftertrace-recorder"));
        cmd.args(["record", "--duration", "600s"])
            .args(args)
            .arg("-o")
            .arg(capture)
            .stdout(Stdio::null());
        let mut daemon = Daemon::start("aftertrace-recorder", &mut cmd, Some("recording"))?;
        daemon.wait_ready(Duration::from_secs(60))?;
        let startup_cpu = daemon.cpu_so_far().unwrap_or_default();
        Ok(Recorder {
            daemon,
            capture: capture.to_path_buf(),
            startup_cpu,
            ready_at: Instant::now(),
        })
    }

    /// SIGINT, wait, parse the final line.
    pub fn stop(mut self) -> Result<RecorderStats> {
        let before_stop = self.daemon.cpu_so_far();
        let stopped = self.daemon.stop(Duration::from_secs(120))?;
        if !stopped.measured.success() {
            bail!(
                "aftertrace-recorder failed ({}): {}",
                stopped.measured.describe(),
                proc::tail(&stopped.stderr)
            );
        }
        let line = stopped
            .stderr
            .iter()
            .rev()
            .find(|l| l.contains("lost in the kernel"))
            .with_context(|| {
                format!(
                    "aftertrace-recorder printed no final line: {}",
                    proc::tail(&stopped.stderr)
                )
            })?;
        let (events, lost) = parse_final_line(line)
            .with_context(|| format!("cannot parse the recorder's final line {line:?}"))?;
        let capture_bytes = std::fs::metadata(&self.capture)
            .with_context(|| format!("the capture {} is missing", self.capture.display()))?
            .len();
        Ok(RecorderStats {
            cpu_s: stopped.measured.cpu.as_secs_f64(),
            startup_cpu_s: self.startup_cpu.as_secs_f64(),
            shutdown_cpu_s: before_stop
                .map(|b| stopped.measured.cpu.saturating_sub(b).as_secs_f64())
                .unwrap_or(0.0),
            recording_s: self.ready_at.elapsed().as_secs_f64(),
            events,
            lost,
            capture_bytes,
        })
    }
}

/// `aftertrace-recorder: wrote FILE (E events, L lost in the kernel[, ...])`.
fn parse_final_line(line: &str) -> Option<(u64, u64)> {
    let inner = &line[line.rfind(" (")? + 2..];
    let number_before = |word: &str| -> Option<u64> {
        let at = inner.find(word)?;
        inner[..at]
            .split([' ', '(', ','])
            .rev()
            .find(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    Some((
        number_before(" events")?,
        number_before(" lost in the kernel")?,
    ))
}

// ------------------------------------------------------------------ kernel program cost

/// Where the recorder's time goes in the kernel: each of its programs' run count and mean
/// run time, from the kernel's BPF statistics (`kernel.bpf_stats_enabled`, read with bpftool).
#[derive(Clone, Debug, Serialize)]
pub struct ProgCost {
    pub name: String,
    pub runs: u64,
    pub avg_ns: f64,
}

/// The ids of the BPF programs loaded now (None without a working bpftool).
pub fn bpf_prog_ids() -> Option<Vec<u64>> {
    let out = proc::output(Command::new("bpftool").args(["-j", "prog", "show"]))?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|p| p.get("id")?.as_u64())
            .collect(),
    )
}

/// Statistics of the programs loaded since `before` was taken, named by the tracepoint they
/// are attached to where bpftool's links say (program names are cut at 15 bytes).
pub fn bpf_prog_costs(before: &[u64]) -> Option<Vec<ProgCost>> {
    let out = proc::output(Command::new("bpftool").args(["-j", "prog", "show"]))?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    let links: Vec<(u64, String)> =
        proc::output(Command::new("bpftool").args(["-j", "link", "show"]))
            .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .and_then(|l| {
                Some(
                    l.as_array()?
                        .iter()
                        .filter_map(|k| {
                            Some((
                                k.get("prog_id")?.as_u64()?,
                                k.get("tp_name")?.as_str()?.to_owned(),
                            ))
                        })
                        .collect(),
                )
            })
            .unwrap_or_default();
    let costs = v
        .as_array()?
        .iter()
        .filter(|p| {
            p.get("id")
                .and_then(|i| i.as_u64())
                .is_some_and(|id| !before.contains(&id))
        })
        .filter_map(|p| {
            let runs = p.get("run_cnt").and_then(|r| r.as_u64()).unwrap_or(0);
            let ns = p.get("run_time_ns").and_then(|r| r.as_u64()).unwrap_or(0);
            let id = p.get("id")?.as_u64()?;
            let name = match links.iter().find(|(pid, _)| *pid == id) {
                Some((_, tp)) => tp.clone(),
                None => p.get("name")?.as_str()?.to_owned(),
            };
            Some(ProgCost {
                name,
                runs,
                avg_ns: if runs > 0 {
                    ns as f64 / runs as f64
                } else {
                    0.0
                },
            })
        })
        .collect();
    Some(costs)
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns the kernel's BPF run-time statistics on, and back to what they were when dropped.
/// They cost two clock reads per program run, so only the size-mix session (which measures
/// bytes, not time) runs with them.
pub struct BpfStats(String);

impl BpfStats {
    pub fn enable() -> Option<BpfStats> {
        let before = std::fs::read_to_string(BPF_STATS).ok()?;
        std::fs::write(BPF_STATS, "1").ok()?;
        Some(BpfStats(before.trim().to_owned()))
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.0);
    }
}

// ------------------------------------------------------------------ bpftrace

/// bpftrace printing every raw sys_enter (with all six arguments) and sys_exit (with the
/// return value) of every process but itself to a file.
pub const BPFTRACE_SCRIPT: &str = r#"BEGIN { printf("READY\n"); }
tracepoint:raw_syscalls:sys_enter /comm != "bpftrace"/ {
  printf("E %d %d %ld %lx %lx %lx %lx %lx %lx\n", pid, tid, args->id, args->args[0],
         args->args[1], args->args[2], args->args[3], args->args[4], args->args[5]);
}
tracepoint:raw_syscalls:sys_exit /comm != "bpftrace"/ {
  printf("X %d %d %ld %ld\n", pid, tid, args->id, args->ret);
}
"#;

pub struct Bpftrace {
    daemon: Daemon,
    output: PathBuf,
}

impl Bpftrace {
    pub fn start(dir: &Path) -> Result<Bpftrace> {
        ensure_tracefs();
        let script = dir.join("peer.bt");
        let output = dir.join("bpftrace.out");
        std::fs::write(&script, BPFTRACE_SCRIPT)?;
        let _ = std::fs::remove_file(&output);
        let mut cmd = Command::new("bpftrace");
        cmd.arg("-o")
            .arg(&output)
            .arg(&script)
            .stdout(Stdio::null());
        let mut daemon = Daemon::start("bpftrace", &mut cmd, None)?;
        // BEGIN fires once every probe is attached.
        let start = Instant::now();
        loop {
            if std::fs::read(&output)
                .map(|b| b.windows(5).any(|w| w == b"READY"))
                .unwrap_or(false)
            {
                break;
            }
            if !daemon.alive() || start.elapsed() > Duration::from_secs(60) {
                let why = proc::tail(&daemon.stderr_so_far());
                drop(daemon);
                let _ = std::fs::remove_file(&output);
                bail!("bpftrace did not start: {why}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Bpftrace { daemon, output })
    }

    /// Stops it; returns the bytes it printed.
    pub fn stop(mut self) -> Result<u64> {
        let stopped = self.daemon.stop(Duration::from_secs(30))?;
        let size = std::fs::metadata(&self.output)
            .map(|m| m.len())
            .unwrap_or(0);
        let _ = std::fs::remove_file(&self.output);
        if stopped.measured.timed_out {
            bail!("bpftrace did not stop on SIGINT");
        }
        Ok(size)
    }
}

/// Classic tracepoints (bpftrace's) need tracefs; mount it when it is not (it stays
/// mounted: other tools on the node may start using it meanwhile).
fn ensure_tracefs() {
    if !Path::new("/sys/kernel/tracing/events").exists() {
        proc::quiet(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]));
    }
}

// ------------------------------------------------------------------ auditd

/// auditd for the bench: started (as our child, `auditd -n`) only when none runs, and
/// stopped at the end if we started it; the audit "enabled" flag is restored.
pub struct Auditd {
    started: Option<Daemon>,
    enabled_before: Option<String>,
}

fn audit_status() -> Option<(String, u32)> {
    let s = proc::output(Command::new("auditctl").arg("-s"))?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name)?.split_whitespace().next())
            .map(str::to_owned)
    };
    Some((field("enabled ")?, field("pid ")?.parse().ok()?))
}

impl Auditd {
    pub fn ensure_running() -> Result<Auditd> {
        let (enabled, pid) = audit_status().context("`auditctl -s` failed (no kernel audit?)")?;
        if pid != 0 {
            return Ok(Auditd {
                started: None,
                enabled_before: None,
            });
        }
        let mut cmd = Command::new("auditd");
        cmd.arg("-n").stdout(Stdio::null());
        let mut daemon = Daemon::start("auditd", &mut cmd, None)?;
        let start = Instant::now();
        while !matches!(audit_status(), Some((_, p)) if p != 0) {
            if !daemon.alive() || start.elapsed() > Duration::from_secs(20) {
                let why = proc::tail(&daemon.stderr_so_far());
                drop(daemon);
                bail!("auditd did not start: {why}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Auditd {
            started: Some(daemon),
            enabled_before: Some(enabled),
        })
    }

    /// Adds the `-S all` rule (after removing every other one, the bench's own
    /// `never,task` included, or new tasks would not be audited); dropping the returned
    /// guard removes it again (see [`remove_audit_rules`]).
    pub fn trace_all(&self) -> Result<AuditRule> {
        if !proc::quiet(Command::new("auditctl").arg("-D")) {
            bail!("`auditctl -D` failed before adding the -S all rule");
        }
        let guard = AuditRule(());
        let out = Command::new("auditctl")
            .args(["-a", "always,exit", "-F", "arch=b64", "-S", "all"])
            .output()
            .context("running auditctl")?;
        if !out.status.success() {
            bail!(
                "auditctl -a always,exit -F arch=b64 -S all failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(guard)
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        remove_audit_rules();
        if let Some(mut d) = self.started.take() {
            // auditd stops on SIGTERM.
            let _ = d.stop_with(libc::SIGTERM, Duration::from_secs(10));
        }
        if let Some(e) = self.enabled_before.take() {
            proc::quiet(Command::new("auditctl").args(["-e", &e]));
        }
    }
}

pub struct AuditRule(());

impl Drop for AuditRule {
    fn drop(&mut self) {
        remove_audit_rules();
    }
}

/// Removes every audit rule, then adds `never,task`: once auditing was ever enabled on a
/// boot, every task created afterwards takes the audit slow path on every syscall (even
/// with audit disabled and no rules) until a `never,task` rule exists, which would skew
/// every bare run after this one on the node.
pub fn remove_audit_rules() {
    if !proc::quiet(Command::new("auditctl").arg("-D")) {
        eprintln!("bench: warning: `auditctl -D` failed; check `auditctl -l`");
    }
    if !proc::quiet(Command::new("auditctl").args(["-a", "never,task"])) {
        eprintln!(
            "bench: warning: `auditctl -a never,task` failed: new tasks may take audit's slow path"
        );
    }
}

/// Whether a `never,task` audit rule is in place (`auditctl -l`); None without auditctl.
pub fn audit_never_task() -> Option<bool> {
    let rules = proc::output(Command::new("auditctl").arg("-l"))?;
    Some(rules.lines().any(|l| l.contains("never,task")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line() {
        assert_eq!(
            parse_final_line(
                "aftertrace-recorder: wrote /tmp/a (b).atcap (2043571 events, 0 lost in the kernel)"
            ),
            Some((2043571, 0))
        );
        assert_eq!(
            parse_final_line(
                "aftertrace-recorder: wrote x.atcap (10 events, 7 lost in the kernel, 2 malformed records)"
            ),
            Some((10, 7))
        );
    }
}
