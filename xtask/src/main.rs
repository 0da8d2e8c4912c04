//! Project tasks, so a newcomer needs two commands: `cargo xtask demo` and `cargo xtask test`.
//! Both install what the machine lacks first (scripts/setup.sh, idempotent and quick when
//! everything is present). `cargo xtask bench` measures performance (see bench.rs).

mod bench;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing, build, record a real workload (host commands and a podman
    /// container) with aftertrace-recorder, and show it with aftertrace-inspector.
    Demo {
        /// Where to write the capture.
        #[arg(long, default_value = "target/demo/demo.atcap")]
        output: PathBuf,
    },
    /// Install what is missing, build every binary, run every test (as root: the
    /// end-to-end tests load eBPF programs and run containers).
    Test {
        /// Extra arguments for `cargo test`, e.g. `-- --nocapture`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Only install what the machine lacks (apt packages, nightly rust-src, bpf-linker).
    Setup,
    /// Measure overhead against bare runs and peers (strace, bpftrace, auditd), recorder CPU,
    /// drops, bytes per syscall and the inspector on synthetic captures; writes a table,
    /// OUT/report.md, OUT/results.json and OUT/chart.png (as root).
    Bench(bench::BenchArgs),
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn setup() -> Result<()> {
    run(Command::new("bash")
        .arg(root().join("scripts/setup.sh"))
        .current_dir(root()))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup(),
        Task::Test { args } => {
            setup()?;
            // The end-to-end tests run the real binaries: build them first.
            run(cargo().args(["build", "--workspace", "--bins"]))?;
            run(cargo().args(["test", "--workspace"]).args(args))
        }
        Task::Demo { output } => {
            setup()?;
            run(cargo().args(["build", "--release", "--workspace", "--bins"]))?;
            demo(&root().join(output))
        }
        Task::Bench(args) => bench::main(args),
    }
}

/// What the demo runs while recording: a few host commands, then an "attack" inside a real
/// container: a script written, made executable, and run.
const CONTAINER_SCRIPT: &str = "cat /etc/passwd > /dev/null; \
     printf '#!/bin/sh\\necho pwned; id; uname -a\\n' > /tmp/dropper.sh; \
     chmod +x /tmp/dropper.sh; /tmp/dropper.sh; \
     wget -q -O- http://127.0.0.1:1/ 2>/dev/null || true";

fn demo(output: &Path) -> Result<()> {
    let bin = root().join("target/release");
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // The recorder never writes over an existing name: a demo run again replaces its own
    // earlier capture and sidecars, which it says.
    if output.exists() {
        eprintln!(
            "xtask: replacing the earlier demo capture {}",
            output.display()
        );
    }
    for suffix in ["", ".partial", ".sha256", ".sig"] {
        let mut path = output.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let image = aftertrace_tests::podman::ensure_test_image()
        .context("building the podman test image for the demo container")?;

    let mut recorder = Command::new(bin.join("aftertrace-recorder"))
        .args(["record", "--duration", "60s", "-o"])
        .arg(output)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting aftertrace-recorder")?;
    let mut stderr = BufReader::new(recorder.stderr.take().context("recorder stderr")?);
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line)? == 0 {
            let status = recorder.wait()?;
            bail!("aftertrace-recorder exited before recording ({status})");
        }
        eprint!("{line}");
        if line.contains("recording") {
            break;
        }
    }

    eprintln!("demo: running the workload on the host and in a container");
    run(Command::new("bash").args([
        "-c",
        "uname -a; id; ls / > /dev/null; echo secret > /tmp/aftertrace-demo; cat /tmp/aftertrace-demo; rm /tmp/aftertrace-demo",
    ]))?;
    let container =
        aftertrace_tests::podman::run_in_container(&image, &["bash", "-c", CONTAINER_SCRIPT])
            .context("running the demo container")?;
    eprintln!(
        "demo: container {} exited with {}",
        &container.id[..12],
        container.status
    );
    std::thread::sleep(Duration::from_millis(200));

    // SAFETY: signalling our own child.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let status = recorder.wait()?;
    for l in stderr.lines() {
        eprintln!("{}", l?);
    }
    if !status.success() {
        bail!("aftertrace-recorder failed: {status}");
    }

    let inspector = bin.join("aftertrace-inspector");
    println!("\n$ aftertrace-inspector {} summary", output.display());
    run(Command::new(&inspector).arg(output).arg("summary"))?;
    println!("\n$ aftertrace-inspector {} commands", output.display());
    run(Command::new(&inspector).arg(output).arg("commands"))?;
    println!(
        "\nThe capture is {}; try `{} {} commands --json`.",
        output.display(),
        inspector.display(),
        output.display()
    );
    Ok(())
}
