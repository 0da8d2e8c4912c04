//! `cargo xtask bench [--quick] [--out DIR]`: aftertrace's performance, side by side with
//! bare runs and peers (strace, bpftrace, auditd), in one run on this machine (issue 5).
//!
//! What it measures, in this order:
//! 1. overhead: dd, a getppid loop, a 4 KiB file I/O loop on tmpfs, a fork+exec loop and a
//!    mixed podman run, each bare, under aftertrace-recorder, strace -f and bpftrace, one
//!    workload after the other; medians and ratios to bare; recorder CPU per 1M syscalls and
//!    losses from the recorder sessions;
//! 2. bytes per syscall on disk with `--snaplen 256` and `--snaplen 0`;
//! 3. a ramp of the syscall rate to the first loss (zero-drop sustained rate);
//! 4. every workload under auditd, last: once auditing was enabled the kernel gives every
//!    task created afterwards syscall-audit work until reboot;
//! 5. the inspector on synthetic captures (1M and 10M syscalls; 100k with --quick).
//!
//! `--only inspector` runs step 5 alone: it loads no eBPF program, needs no root, builds only
//! the inspector and the xtask, and leaves the machine to others.
//!
//! Output: a table on stdout, OUT/report.md, OUT/results.json, OUT/chart.png.
//! `--quick` is the smoke test CI runs: short runs, the debug binaries (built by
//! `cargo xtask test` before it), and an assertion that every figure was produced.

mod peers;
mod proc;
mod report;
mod synth;
mod workloads;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};

use peers::{Auditd, Bpftrace, Mode, Recorder};
use proc::check_interrupted;
use report::{Cell, InspectorRun, PeerInfo, RampStep, Results, Row, Session, SizeRun};
use workloads::{Kind, Workload, WORKLOADS};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Smoke test of the bench itself (what CI runs): short runs, 3 of each, a 100k-syscall
    /// synthetic capture, the debug binaries; asserts every figure was produced, not goals.
    #[arg(long)]
    quick: bool,
    /// With --quick, build and use the release binaries anyway.
    #[arg(long)]
    release: bool,
    /// Where the report, results, chart, captures and compiled workloads go (relative paths
    /// are taken from the workspace root).
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,
    /// Run only this part of the bench.
    #[arg(long, value_enum)]
    only: Option<Part>,
    #[command(subcommand)]
    helper: Option<Helper>,
}

/// A part of the bench that can run alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// The inspector on synthetic captures (no eBPF, no root).
    Inspector,
    /// Everything but the inspector: the overhead table with its floors and snaplens, the
    /// sessions, bytes per syscall, the ramp, auditd, the trigger latency.
    Recorder,
}

/// Steps the bench runs in a release-built xtask (they are too slow in a debug build).
#[derive(Subcommand)]
enum Helper {
    /// Write a synthetic capture of N syscalls (see xtask/src/bench/synth.rs).
    #[command(hide = true)]
    Synth {
        #[arg(long)]
        syscalls: u64,
        file: PathBuf,
    },
    /// Open a capture and decode every event on one thread; print the times as JSON.
    #[command(hide = true)]
    Decode { file: PathBuf },
}

pub fn main(args: BenchArgs) -> Result<()> {
    match args.helper {
        Some(Helper::Synth { syscalls, file }) => {
            let stats = synth::generate(&file, syscalls)?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Some(Helper::Decode { file }) => {
            let stats = synth::decode(&file)?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        None => bench(args),
    }
}

struct Ctx {
    quick: bool,
    out: PathBuf,
    /// aftertrace-recorder and aftertrace-inspector.
    bin: PathBuf,
    /// The xtask binary that runs the helpers.
    xtask: PathBuf,
    /// The compiled workloads.
    cbin: PathBuf,
    /// A directory on tmpfs for the file I/O loop.
    tmpdir: PathBuf,
    captures: PathBuf,
    runs: usize,
    target: Duration,
    run_limit: Duration,
}

/// Unmounts the tmpfs the bench mounted, if it mounted one.
struct TmpfsGuard(Option<PathBuf>);

impl Drop for TmpfsGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if !proc::quiet(Command::new("umount").arg(&p)) {
                eprintln!("bench: warning: could not unmount {}", p.display());
            }
        }
    }
}

fn bench(args: BenchArgs) -> Result<()> {
    let t0 = Instant::now();
    let only_inspector = args.only == Some(Part::Inspector);
    // SAFETY: geteuid has no preconditions.
    if !only_inspector && unsafe { libc::geteuid() } != 0 {
        bail!("the bench loads eBPF programs, runs auditd and podman: run it as root");
    }
    proc::install_signal_handlers();
    let root = super::root();
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let quick = args.quick;
    let use_debug = quick && !args.release;
    let mut results = Results {
        quick,
        profile: if use_debug { "debug" } else { "release" }.into(),
        runs: if quick { 3 } else { 7 },
        target_run_s: if quick { 0.05 } else { 0.5 },
        ramp_seconds: if quick { 0.5 } else { 3.0 },
        ..Results::default()
    };
    let mut phase = Phases::new();

    // Binaries.
    let packages: &[&str] = if only_inspector {
        &["-p", "aftertrace-inspector", "-p", "xtask"]
    } else {
        &["--workspace"]
    };
    if use_debug {
        eprintln!("bench: --quick uses the debug binaries (target/debug): its figures are not representative");
        super::run(super::cargo().args(["build"]).args(packages).arg("--bins"))?;
        super::run(super::cargo().args([
            "build",
            "-p",
            "aftertrace-inspector",
            "--example",
            "tui_bench",
        ]))?;
    } else {
        super::run(
            super::cargo()
                .args(["build", "--release"])
                .args(packages)
                .arg("--bins"),
        )?;
        super::run(super::cargo().args([
            "build",
            "--release",
            "-p",
            "aftertrace-inspector",
            "--example",
            "tui_bench",
        ]))?;
    }
    let bin = root.join(if use_debug {
        "target/debug"
    } else {
        "target/release"
    });
    // The xtask just built beside them (this process's own file may have been replaced).
    let xtask = bin.join("xtask");
    phase.done(&mut results, "build");

    if only_inspector {
        return inspector_only(results, bin, xtask, out, quick, t0, phase);
    }

    // Peers.
    let peer_status = peers::install_peers();
    results.peers = Mode::ALL
        .iter()
        .filter(|m| {
            !matches!(
                m,
                Mode::Bare | Mode::Aftertrace | Mode::FloorExit | Mode::FloorEnterExit
            )
        })
        .map(|&mode| PeerInfo {
            mode,
            skipped: peer_status
                .iter()
                .find(|(m, _)| *m == mode)
                .and_then(|(_, why)| why.clone()),
        })
        .collect();
    for p in &results.peers {
        if let Some(why) = &p.skipped {
            eprintln!("bench: skipping {}: {why}", p.mode);
        }
    }
    phase.done(&mut results, "peers");

    // Workloads and tmpfs.
    let cbin = workloads::compile(&out.join("bin"))?;
    let (tmpdir, _tmpfs) = tmpfs_dir(&out)?;
    let captures = out.join("captures");
    std::fs::create_dir_all(&captures)?;
    results.machine = machine();
    let ctx = Ctx {
        quick,
        out: out.clone(),
        bin,
        xtask,
        cbin,
        tmpdir,
        captures,
        runs: results.runs,
        target: Duration::from_secs_f64(results.target_run_s),
        run_limit: Duration::from_secs(if quick { 60 } else { 180 }),
    };
    phase.done(&mut results, "setup");

    if args.only == Some(Part::Recorder) {
        results.only = Some("recorder".into());
    }
    let outcome = measure_all(&ctx, &mut results, &mut phase, args.only.is_none());
    if let Err(e) = &outcome {
        results
            .problems
            .push(format!("the bench stopped early: {e:#}"));
    }
    results.machine.loadavg_end = loadavg();
    results.wall_s = t0.elapsed().as_secs_f64();

    // Output, whatever happened.
    let text = report::text(&results);
    println!("{text}");
    let md = report::markdown(&results);
    std::fs::write(out.join("report.md"), md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    match report::chart(&results, &out.join("chart.png")) {
        Ok(true) => {}
        Ok(false) => eprintln!("bench: no TrueType font found (apt-get install fonts-dejavu-core): the chart has no text"),
        Err(e) => eprintln!("bench: warning: the chart could not be drawn: {e}"),
    }
    if !results.machine.other_tracers.is_empty() {
        eprintln!(
            "bench: warning: other tracers ran on the node during the bench ({}): figures are inflated",
            results.machine.other_tracers.join(", ")
        );
    }
    for w in results.peer_failures() {
        eprintln!("bench: warning: peer run failed: {w}");
    }
    for p in &results.problems {
        eprintln!("bench: problem: {p}");
    }
    println!(
        "Report: {}  chart: {}  results: {}  ({:.0} s)",
        out.join("report.md").display(),
        out.join("chart.png").display(),
        out.join("results.json").display(),
        results.wall_s
    );
    outcome?;
    let missing = results.missing_figures();
    if !missing.is_empty() {
        bail!(
            "the bench did not produce every figure:\n  {}",
            missing.join("\n  ")
        );
    }
    if quick {
        println!("bench --quick: every figure was produced (goals are not judged in --quick)");
    }
    Ok(())
}

/// `--only inspector`: the inspector's figures on their own, in the usual outputs.
fn inspector_only(
    mut results: Results,
    bin: PathBuf,
    xtask: PathBuf,
    out: PathBuf,
    quick: bool,
    t0: Instant,
    mut phase: Phases,
) -> Result<()> {
    results.machine = machine();
    results.only = Some("inspector".into());
    let ctx = Ctx {
        quick,
        out: out.clone(),
        bin,
        xtask,
        cbin: PathBuf::new(),
        tmpdir: PathBuf::new(),
        captures: PathBuf::new(),
        runs: results.runs,
        target: Duration::from_secs_f64(results.target_run_s),
        run_limit: Duration::from_secs(if quick { 60 } else { 180 }),
    };
    let outcome = inspector(&ctx, &mut results);
    phase.done(&mut results, "inspector");
    if let Err(e) = &outcome {
        results
            .problems
            .push(format!("the bench stopped early: {e:#}"));
    }
    results.machine.loadavg_end = loadavg();
    results.wall_s = t0.elapsed().as_secs_f64();
    println!("{}", report::text(&results));
    std::fs::write(out.join("report.md"), report::markdown(&results))?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    for p in &results.problems {
        eprintln!("bench: problem: {p}");
    }
    println!(
        "Report (inspector only): {}  results: {}  ({:.0} s)",
        out.join("report.md").display(),
        out.join("results.json").display(),
        results.wall_s
    );
    outcome
}

struct Phases(Instant);

impl Phases {
    fn new() -> Self {
        Phases(Instant::now())
    }
    fn done(&mut self, r: &mut Results, name: &str) {
        r.phases
            .push((name.to_owned(), self.0.elapsed().as_secs_f64()));
        eprintln!(
            "bench: {name} done in {:.1} s",
            self.0.elapsed().as_secs_f64()
        );
        self.0 = Instant::now();
    }
}

fn measure_all(
    ctx: &Ctx,
    results: &mut Results,
    phase: &mut Phases,
    with_inspector: bool,
) -> Result<()> {
    for w in WORKLOADS {
        results.overhead.push(Row {
            key: w.key.into(),
            title: w.title.into(),
            short: w.short.into(),
            unit: w.unit.into(),
            goal_ratio: w.goal_ratio,
            cells: Vec::new(),
        });
    }
    let image = match aftertrace_tests::podman::ensure_test_image() {
        Ok(i) => Some(i),
        Err(e) => {
            results.problems.push(format!(
                "mixed workload skipped: no podman test image: {e:#}"
            ));
            None
        }
    };
    // Bare and each mode side by side per workload, so that drifting background load hits
    // them alike; auditd for every workload at the very end (see `Mode::ALL`).
    let mut recorder_iters = Vec::new();
    let early: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| *m != Mode::Auditd)
        .collect();
    for (wi, w) in WORKLOADS.iter().enumerate() {
        for &mode in &early {
            check_interrupted()?;
            let cell = one_cell(ctx, results, wi, mode, None, image.as_deref());
            if mode == Mode::Aftertrace && w.kind != Kind::Mixed {
                recorder_iters.push((w.kind, cell.iters));
            }
            results.overhead[wi].cells.push(cell);
            if mode == Mode::Bare && w.kind == Kind::Getppid {
                audit_check(results, wi);
            }
        }
        // What the snaplen costs, where data moves.
        if matches!(w.kind, Kind::Dd | Kind::FileIo) {
            for mode in Mode::SNAPLENS {
                check_interrupted()?;
                let cell = one_cell(ctx, results, wi, mode, None, image.as_deref());
                results.overhead[wi].cells.push(cell);
            }
        }
        phase.done(results, &format!("overhead: {}", w.key));
    }
    size_mix(ctx, results, &recorder_iters)?;
    phase.done(results, "bytes per syscall");
    ramp(ctx, results)?;
    phase.done(results, "ramp");

    let mode = Mode::Auditd;
    let mut auditd = None;
    if results.skipped(mode).is_none() {
        match Auditd::ensure_running() {
            Ok(a) => auditd = Some(a),
            Err(e) => {
                let why = format!("{e:#}");
                eprintln!("bench: skipping auditd: {why}");
                if let Some(p) = results.peers.iter_mut().find(|p| p.mode == mode) {
                    p.skipped = Some(why);
                }
            }
        }
    }
    for wi in 0..WORKLOADS.len() {
        check_interrupted()?;
        let cell = one_cell(ctx, results, wi, mode, auditd.as_ref(), image.as_deref());
        results.overhead[wi].cells.push(cell);
    }
    drop(auditd);
    phase.done(results, "overhead: auditd");
    trigger_latency(ctx, results)?;
    phase.done(results, "trigger latency");
    if with_inspector {
        inspector(ctx, results)?;
        phase.done(results, "inspector");
    }
    Ok(())
}

/// Warns when the bare getppid loop looks like it took audit's slow path: once auditing was
/// enabled on this boot (an auditd peer of an earlier bench, say), every new task pays for
/// it on every syscall until a `never,task` rule exists, and every ratio is then skewed.
fn audit_check(results: &mut Results, wi: usize) {
    /// A bare getppid costs ~105 ns here; the audit slow path more than doubles it.
    const SLOW_NS: f64 = 250.0;
    let Some(bare) = results.overhead[wi]
        .cells
        .iter()
        .find(|c| c.mode == Mode::Bare)
        .and_then(|c| c.median)
    else {
        return;
    };
    let never_task = peers::audit_never_task();
    let why = match never_task {
        Some(false) => ", and there is no `never,task` audit rule (`auditctl -l`): if audit was ever enabled on this boot, run `auditctl -D; auditctl -a never,task`",
        Some(true) => " although a `never,task` audit rule is in place: the machine is loaded, or tasks older than the rule run the workload",
        None => "",
    };
    if bare > SLOW_NS {
        let msg = format!(
            "warning: bare getppid takes {bare:.0} ns per call (usually ~105 ns): audit's slow path or a loaded machine{why}"
        );
        eprintln!("bench: {msg}");
        results.problems.push(msg);
    }
}

/// Falco's documented sample alert, as the daemon receives it.
const FALCO_ALERT: &str = r#"{"output":"Notice A shell was spawned in a container with an attached terminal","priority":"Notice","rule":"Terminal shell in container","time":"2021-06-11T16:31:56.746609046Z","output_fields":{"proc.name":"sh"}}"#;

/// Trigger-to-sealed latency: the daemon records, an alert is POSTed, and the time until
/// its capture is in the directory, minus the post-window it must wait for anyway.
fn trigger_latency(ctx: &Ctx, results: &mut Results) -> Result<()> {
    const AFTER: Duration = Duration::from_secs(1);
    // The daemon helper finds the binaries under test through this variable.
    std::env::set_var("AFTERTRACE_BIN_DIR", &ctx.bin);
    let dir = tempfile::tempdir().context("a directory for the daemon")?;
    let daemon = aftertrace_tests::daemon::Daemon::start(
        dir.path(),
        &["--before", "1s", "--after", "1s", "--rules", "none"],
        &[],
    )
    .context("starting the daemon")?;
    let trials = if ctx.quick { 1 } else { 3 };
    for i in 0..trials {
        check_interrupted()?;
        // Let the buffer fill, and let the previous window close.
        std::thread::sleep(Duration::from_millis(2500));
        let (code, body) = daemon.post("/alerts", FALCO_ALERT.as_bytes(), None)?;
        let posted = Instant::now();
        if code != 202 {
            results.problems.push(format!(
                "trigger latency: the daemon answered {code}: {body}"
            ));
            break;
        }
        daemon.wait_for_captures(i + 1, Duration::from_secs(30))?;
        let ms = posted.elapsed().saturating_sub(AFTER).as_secs_f64() * 1000.0;
        eprintln!("bench: trigger-to-sealed latency {ms:.0} ms");
        results.trigger_latency_ms.push(ms);
    }
    daemon.stop()?;
    Ok(())
}

/// One workload in one mode, or why not.
fn one_cell(
    ctx: &Ctx,
    results: &mut Results,
    wi: usize,
    mode: Mode,
    auditd: Option<&Auditd>,
    image: Option<&str>,
) -> Cell {
    let w = &WORKLOADS[wi];
    if let Some(why) = results.skipped(mode) {
        return skipped_cell(mode, why);
    }
    if w.kind == Kind::Mixed && image.is_none() {
        return skipped_cell(mode, "no podman test image");
    }
    eprintln!("bench: {} under {mode}", w.key);
    scan_other_tracers(results, &format!("{} under {mode}", w.key));
    let cell = run_mode(ctx, results, w, mode, auditd, image);
    if let Some(e) = &cell.error {
        eprintln!("bench: {} under {mode}: {e}", w.key);
    }
    // A peer that cannot start will not start for the next workload either.
    if mode == Mode::Bpftrace
        && cell
            .error
            .as_deref()
            .is_some_and(|e| e.contains("did not start"))
    {
        if let Some(p) = results.peers.iter_mut().find(|p| p.mode == mode) {
            p.skipped = cell.error.clone();
        }
    }
    cell
}

fn skipped_cell(mode: Mode, why: &str) -> Cell {
    Cell {
        mode,
        median: None,
        runs: Vec::new(),
        iters: 0,
        error: Some(format!("skipped: {why}")),
    }
}

/// Runs one workload in one mode: session start, pilot, measured runs, session stop.
fn run_mode(
    ctx: &Ctx,
    results: &mut Results,
    w: &Workload,
    mode: Mode,
    auditd: Option<&Auditd>,
    image: Option<&str>,
) -> Cell {
    let mut cell = Cell {
        mode,
        median: None,
        runs: Vec::new(),
        iters: 0,
        error: None,
    };
    // The mixed workload's container runs (with its busy service) for this mode only.
    let container = match (w.kind, image) {
        (Kind::Mixed, Some(image)) => {
            match aftertrace_tests::podman::start_container(
                image,
                &["sh", "-c", workloads::MIXED_SERVICE],
            ) {
                Ok(c) => {
                    std::thread::sleep(Duration::from_millis(500));
                    Some(c)
                }
                Err(e) => {
                    cell.error = Some(format!("starting the container: {e:#}"));
                    return cell;
                }
            }
        }
        _ => None,
    };
    let conf = match aftertrace_tests::podman::containers_conf() {
        Ok(c) => c,
        Err(e) => {
            cell.error = Some(format!("{e:#}"));
            return cell;
        }
    };
    let make = |iters: u64| -> Command {
        let argv: Vec<String> = match &container {
            Some(c) => vec![
                "podman".into(),
                "exec".into(),
                c.name().into(),
                "sh".into(),
                "-c".into(),
                workloads::MIXED_ATTACK.into(),
                "sh".into(),
                iters.to_string(),
            ],
            None => workloads::command(w.kind, &ctx.cbin, &ctx.tmpdir, iters),
        };
        let mut cmd = if mode == Mode::Strace {
            let mut c = Command::new("strace");
            c.args(["-f", "-o", "/dev/null"]).args(&argv);
            c
        } else {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.env("CONTAINERS_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };

    let result = (|| -> Result<()> {
        match mode {
            Mode::FloorExit | Mode::FloorEnterExit => {
                let capture = ctx.captures.join(format!("floor-{}.atcap", w.key));
                let floor = mode.floor().expect("a floor mode");
                let rec = Recorder::start_with(&ctx.bin, &capture, &["--floor", floor])?;
                let measured = measure_runs(ctx, w, &make, &mut cell);
                let stopped = rec.stop();
                peers::remove_capture(&capture);
                measured?;
                stopped.map(|_| ())
            }
            Mode::Snaplen64 | Mode::Snaplen128 | Mode::Snaplen256 => {
                let capture = ctx.captures.join(format!("snaplen-{}.atcap", w.key));
                let snaplen = mode.snaplen().expect("a snaplen mode");
                let rec = Recorder::start(&ctx.bin, &capture, snaplen)?;
                let measured = measure_runs(ctx, w, &make, &mut cell);
                let stopped = rec.stop();
                peers::remove_capture(&capture);
                measured?;
                stopped.map(|_| ())
            }
            Mode::Aftertrace => {
                let capture = ctx.captures.join(format!("overhead-{}.atcap", w.key));
                // The recorder's own defaults: what the goals are judged on.
                let rec = Recorder::start_with(&ctx.bin, &capture, &[])?;
                let measured = measure_runs(ctx, w, &make, &mut cell);
                let stats = rec.stop();
                let syscalls = match (&measured, &stats) {
                    (Ok(()), Ok(_)) => count_syscalls(ctx, &capture),
                    _ => Ok(0),
                };
                peers::remove_capture(&capture);
                measured?;
                let stats = stats?;
                let syscalls = syscalls?;
                results.sessions.push(Session {
                    workload: w.key.into(),
                    stats,
                    syscalls,
                });
                Ok(())
            }
            Mode::Bpftrace => {
                let bt = Bpftrace::start(&ctx.out)?;
                let measured = measure_runs(ctx, w, &make, &mut cell);
                let stopped = bt.stop();
                measured?;
                stopped.map(|_| ())
            }
            Mode::Auditd => {
                let a = auditd.context("auditd is not running")?;
                let _rule = a.trace_all()?;
                measure_runs(ctx, w, &make, &mut cell)
                // _rule dropped here: auditctl -D.
            }
            Mode::Bare | Mode::Strace => measure_runs(ctx, w, &make, &mut cell),
        }
    })();
    if let Err(e) = result {
        cell.median = None;
        cell.error = Some(format!("{e:#}"));
    }
    if let Some(c) = container {
        if let Err(e) = c.remove() {
            results
                .problems
                .push(format!("removing the mixed container: {e:#}"));
        }
    }
    cell
}

/// Pilot (sizing) run, then the measured runs; fills the cell.
fn measure_runs(
    ctx: &Ctx,
    w: &Workload,
    make: &dyn Fn(u64) -> Command,
    cell: &mut Cell,
) -> Result<()> {
    let once = |iters: u64| -> Result<f64> {
        check_interrupted()?;
        let m = proc::run_measured(&mut make(iters), ctx.run_limit)?;
        if !m.success() {
            bail!("the workload failed: {}", m.describe());
        }
        Ok(m.elapsed.as_secs_f64())
    };
    let iters = if w.kind == Kind::Mixed {
        // A fixed script; the first run warms the container up.
        let iters = if ctx.quick { 2 } else { 10 };
        once(iters)?;
        iters
    } else {
        let mut iters = w.pilot_iters;
        let min_pilot = ctx.target.as_secs_f64() / 10.0;
        let mut secs = once(iters)?;
        while secs < min_pilot && iters < 1 << 34 {
            iters *= 10;
            secs = once(iters)?;
        }
        let per_iter = secs / iters as f64;
        ((ctx.target.as_secs_f64() / per_iter) as u64).max(w.pilot_iters)
    };
    cell.iters = iters;
    let per_unit = |secs: f64| {
        let per_iter_ns = secs * 1e9 / iters as f64;
        match (w.kind, w.syscalls_per_iter) {
            (Kind::Mixed, _) => secs * 1e9 / w.unit_ns,
            (_, Some(k)) => per_iter_ns / k / w.unit_ns,
            (_, None) => per_iter_ns / w.unit_ns,
        }
    };
    // The mixed runs are long (podman exec, a shell script): five are enough.
    let runs = if w.kind == Kind::Mixed {
        ctx.runs.min(5)
    } else {
        ctx.runs
    };
    for _ in 0..runs {
        let secs = once(iters)?;
        cell.runs.push(per_unit(secs));
    }
    cell.median = Some(median(&cell.runs));
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Syscall records in a capture, from `aftertrace-inspector FILE summary --json`.
fn count_syscalls(ctx: &Ctx, capture: &Path) -> Result<u64> {
    let out = Command::new(ctx.bin.join("aftertrace-inspector"))
        .arg(capture)
        .args(["summary", "--json"])
        .stderr(Stdio::inherit())
        .output()
        .context("running aftertrace-inspector summary --json")?;
    if !out.status.success() {
        bail!(
            "aftertrace-inspector {} summary --json failed: {}",
            capture.display(),
            out.status
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing summary --json")?;
    v.get("syscalls")
        .and_then(|s| s.as_u64())
        .context("summary --json has no `syscalls` number")
}

/// Bytes per syscall: one recorder session running each workload once, with the default
/// snaplen and with `--snaplen 0`.
fn size_mix(ctx: &Ctx, results: &mut Results, iters: &[(Kind, u64)]) -> Result<()> {
    for snaplen in [256u32, 0] {
        check_interrupted()?;
        eprintln!("bench: size mix with --snaplen {snaplen}");
        scan_other_tracers(results, &format!("size mix --snaplen {snaplen}"));
        let capture = ctx.captures.join(format!("size-snaplen{snaplen}.atcap"));
        let mut costs = None;
        let mut run = || -> Result<SizeRun> {
            let before = if snaplen == 256 {
                peers::bpf_prog_ids()
            } else {
                None
            };
            let rec = Recorder::start(&ctx.bin, &capture, snaplen)?;
            let stats_guard = before.as_ref().and_then(|_| peers::BpfStats::enable());
            let mut failed = None;
            for &(kind, n) in iters {
                let argv = workloads::command(kind, &ctx.cbin, &ctx.tmpdir, n.max(1));
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                match proc::run_measured(&mut cmd, ctx.run_limit) {
                    Ok(m) if m.success() => {}
                    Ok(m) => failed = Some(format!("{kind:?}: {}", m.describe())),
                    Err(e) => failed = Some(format!("{e:#}")),
                }
            }
            if let (Some(before), Some(_)) = (&before, &stats_guard) {
                costs = peers::bpf_prog_costs(before);
            }
            drop(stats_guard);
            let stats = rec.stop()?;
            if let Some(f) = failed {
                bail!("a workload failed: {f}");
            }
            let syscalls = count_syscalls(ctx, &capture)?;
            Ok(SizeRun {
                snaplen,
                bytes: stats.capture_bytes,
                syscalls,
                lost: stats.lost,
            })
        };
        let outcome = run();
        if let Some(c) = costs {
            results.kernel_programs = c;
        }
        match outcome {
            Ok(s) => results.size.push(s),
            Err(e) => results
                .problems
                .push(format!("size mix --snaplen {snaplen}: {e:#}")),
        }
        peers::remove_capture(&capture);
    }
    Ok(())
}

/// The syscall rate ramp: offered getppid rates on 1 then 2 CPUs, a fresh recorder per
/// step, until the recorder reports a loss.
fn ramp(ctx: &Ctx, results: &mut Results) -> Result<()> {
    let rates: &[u64] = if ctx.quick {
        &[1_000_000, 0]
    } else {
        &[250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 0]
    };
    let ncpu = results.machine.nproc.clamp(1, 2) as u32;
    let capture = ctx.captures.join("ramp.atcap");
    let stdout_path = ctx.out.join("rate.out");
    for cpus in 1..=ncpu {
        let mut saturated = false;
        for &rate in rates {
            check_interrupted()?;
            // Once the loop cannot reach the offered rate, higher offers only repeat it:
            // go straight to the unthrottled step.
            if saturated && rate != 0 {
                continue;
            }
            scan_other_tracers(results, &format!("ramp step {cpus} CPUs {rate}/s"));
            eprintln!(
                "bench: ramp: {cpus} CPU(s), offered {}",
                if rate == 0 {
                    "max".to_owned()
                } else {
                    report::fmt_rate(rate as f64)
                }
            );
            let step = || -> Result<RampStep> {
                let rec = Recorder::start_with(&ctx.bin, &capture, &[])?;
                let out = std::fs::File::create(&stdout_path)?;
                let mut cmd = Command::new(ctx.cbin.join("rate"));
                cmd.arg(rate.to_string())
                    .arg(cpus.to_string())
                    .arg(format!("{}", results.ramp_seconds))
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(Stdio::null());
                let m = proc::run_measured(&mut cmd, ctx.run_limit);
                let stats = rec.stop()?;
                let m = m?;
                if !m.success() {
                    bail!("the rate program failed: {}", m.describe());
                }
                let text = std::fs::read_to_string(&stdout_path)?;
                let mut it = text.split_whitespace();
                let n: f64 = it.next().context("rate printed nothing")?.parse()?;
                let secs: f64 = it.next().context("rate printed no time")?.parse()?;
                Ok(RampStep {
                    cpus,
                    target: rate,
                    achieved: n / secs.max(1e-9),
                    lost: stats.lost,
                    events: stats.events,
                    recorder_cores: stats.recording_cpu() / stats.recording_s.max(1e-9),
                })
            };
            let r = step();
            peers::remove_capture(&capture);
            match r {
                Ok(s) => {
                    let lost = s.lost;
                    saturated = s.target > 0 && s.achieved < 0.8 * s.target as f64;
                    results.ramp.push(s);
                    if lost > 0 {
                        break;
                    }
                }
                Err(e) => {
                    results
                        .problems
                        .push(format!("ramp step ({cpus} CPUs, {rate}/s): {e:#}"));
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(&stdout_path);
    Ok(())
}

/// The inspector on synthetic captures.
fn inspector(ctx: &Ctx, results: &mut Results) -> Result<()> {
    let sizes: &[(u64, &str)] = if ctx.quick {
        &[(100_000, "100k")]
    } else {
        &[(1_000_000, "1M"), (10_000_000, "10M")]
    };
    let inspector = ctx.bin.join("aftertrace-inspector");
    for &(n, label) in sizes {
        check_interrupted()?;
        let file = ctx.out.join(format!("synthetic-{label}.atcap"));
        eprintln!("bench: generating {}", file.display());
        let out = Command::new(&ctx.xtask)
            .args(["bench", "synth", "--syscalls"])
            .arg(n.to_string())
            .arg(&file)
            .stderr(Stdio::inherit())
            .output()
            .context("running the synthetic capture generator")?;
        if !out.status.success() {
            bail!("the synthetic capture generator failed: {}", out.status);
        }
        let gen: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let mut run = InspectorRun {
            label: label.into(),
            syscalls: gen["syscalls"].as_u64().unwrap_or(0),
            events: gen["events"].as_u64().unwrap_or(0),
            bytes: gen["bytes"].as_u64().unwrap_or(0),
            gen_s: gen["seconds"].as_f64().unwrap_or(0.0),
            ..InspectorRun::default()
        };
        let reps = if ctx.quick { 1 } else { 3 };

        // Open + index and read + decode, in-process (the release xtask).
        let mut opens = Vec::new();
        let mut rates = Vec::new();
        let mut owned_rates = Vec::new();
        let mut zstd_shares = Vec::new();
        for _ in 0..reps.max(3) {
            check_interrupted()?;
            let out = Command::new(&ctx.xtask)
                .args(["bench", "decode"])
                .arg(&file)
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                results
                    .problems
                    .push(format!("decoding {label}: {}", out.status));
                break;
            }
            let d: synth::DecodeStats = serde_json::from_slice(&out.stdout)?;
            opens.push(d.open_s);
            rates.push(d.events as f64 / d.decode_s.max(1e-9));
            owned_rates.push(d.events as f64 / d.owned_decode_s.max(1e-9));
            zstd_shares.push(d.zstd_s / d.decode_s.max(1e-9));
        }
        if !opens.is_empty() {
            run.open_s = Some(median(&opens));
            run.decode_rate = Some(median(&rates));
            run.owned_decode_rate = Some(median(&owned_rates));
            run.zstd_share = Some(median(&zstd_shares));
        }

        // The inspector binary.
        let filter_arg = filter_support(&inspector, &file);
        results.filter_method = match &filter_arg {
            Some(expr) => format!("`events --filter '{expr}' --json`"),
            None => "no `--filter` yet: `events --json` full pass as the stand-in".into(),
        };
        let mut peak = 0u64;
        let mut timed = |args: Vec<String>| -> Option<f64> {
            let mut secs = Vec::new();
            for _ in 0..reps {
                let mut cmd = Command::new(&inspector);
                cmd.arg(&file)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                match proc::run_measured(&mut cmd, Duration::from_secs(600)) {
                    Ok(m) if m.success() => {
                        peak = peak.max(m.maxrss_kib);
                        secs.push(m.elapsed.as_secs_f64());
                    }
                    Ok(m) => {
                        results.problems.push(format!(
                            "aftertrace-inspector {label} {}: {}",
                            args.join(" "),
                            m.describe()
                        ));
                        return None;
                    }
                    Err(e) => {
                        results.problems.push(format!("{e:#}"));
                        return None;
                    }
                }
            }
            Some(median(&secs))
        };
        eprintln!("bench: inspector on {label}");
        run.summary_s = timed(vec!["summary".into()]);
        run.commands_s = timed(vec!["commands".into()]);
        run.filter_s = match &filter_arg {
            Some(expr) => timed(vec![
                "events".into(),
                "--filter".into(),
                expr.clone(),
                "--json".into(),
            ]),
            None => timed(vec!["events".into(), "--json".into()]),
        };
        run.peak_rss_kib = (peak > 0).then_some(peak);
        tui(ctx, &file, &mut run, results);
        results.inspector.push(run);
    }
    Ok(())
}

/// The TUI's first screen and Events keypresses, through the inspector's own
/// update+render path into a TestBackend (its `tui_bench` example, built with the binaries).
fn tui(ctx: &Ctx, file: &Path, run: &mut InspectorRun, results: &mut Results) {
    let example = ctx.bin.join("examples/tui_bench");
    let out = Command::new(&example)
        .arg(file)
        .arg("200")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let parsed = out
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
    match parsed {
        Some(v) => {
            run.tui_first_screen_ms = v["first_screen_ms"].as_f64();
            run.tui_key_median_ms = v["key_median_ms"].as_f64();
            run.tui_key_p99_ms = v["key_p99_ms"].as_f64();
        }
        None => results.problems.push(format!(
            "the TUI bench ({}) gave no figures",
            example.display()
        )),
    }
}

/// The filter expression to time, if this inspector has `events --filter`.
fn filter_support(inspector: &Path, file: &Path) -> Option<String> {
    let expr = "evt.type = execve and proc.name = sh".to_owned();
    let ok = proc::quiet(
        Command::new(inspector)
            .arg(file)
            .args(["events", "--filter", &expr, "--json"]),
    );
    ok.then_some(expr)
}

/// A directory on tmpfs: /dev/shm when it is one, else a tmpfs mounted under OUT.
fn tmpfs_dir(out: &Path) -> Result<(PathBuf, TmpfsGuard)> {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let is_tmpfs = |p: &Path| -> bool {
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        // SAFETY: statfs fills the zeroed struct; c is a valid C string.
        unsafe {
            let mut s: libc::statfs = std::mem::zeroed();
            libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type as i64 == TMPFS_MAGIC
        }
    };
    let shm = Path::new("/dev/shm");
    if is_tmpfs(shm) {
        return Ok((shm.to_path_buf(), TmpfsGuard(None)));
    }
    let dir = out.join("tmpfs");
    std::fs::create_dir_all(&dir)?;
    if !is_tmpfs(&dir) {
        let ok = proc::quiet(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
                .arg(&dir),
        );
        if !ok {
            bail!("could not mount a tmpfs on {}", dir.display());
        }
        return Ok((dir.clone(), TmpfsGuard(Some(dir))));
    }
    Ok((dir, TmpfsGuard(None)))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> report::Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    report::Machine {
        date: proc::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
            .unwrap_or_default()
            .trim()
            .to_owned(),
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        mem_gib: mem_kib / 1024.0 / 1024.0,
        loadavg_start: loadavg(),
        loadavg_end: String::new(),
        other_tracers: Vec::new(),
    }
}

/// Notes tracers on the node that are not the bench's own (another aftertrace-recorder,
/// strace, bpftrace, perf, sysdig): they slow every syscall and make the figures lie.
fn scan_other_tracers(results: &mut Results, during: &str) {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim();
        let tracer = [
            "aftertrace-reco",
            "strace",
            "bpftrace",
            "perf",
            "sysdig",
            "falco",
        ]
        .iter()
        .any(|t| comm.starts_with(t));
        if !tracer {
            continue;
        }
        // Ours (a child of the bench) and zombies do not count.
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
        let mut f = after.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid: u32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me || state == "Z" || state == "X" {
            continue;
        }
        let tag = format!("{comm} (pid {pid})");
        if !results
            .machine
            .other_tracers
            .iter()
            .any(|t| t.starts_with(&tag))
        {
            results
                .machine
                .other_tracers
                .push(format!("{tag}, first seen before {during}"));
        }
    }
}
