//! Golden tests: the built inspector over every real capture in `samples/`, each
//! subcommand in text and JSON (and a few filters and time selections), compared exactly
//! with `samples/NAME.expected/CASE`.
//!
//! Regenerate with `scripts/regen-samples.sh` (records the captures again, then the
//! expected files) or `scripts/regen-samples.sh --expected-only` after a deliberate change
//! of the output. The script sets `AFTERTRACE_BLESS=1` for this test, which then writes the
//! expected files instead of comparing.
//!
//! The inspector runs with stdout on a pipe, as in any test: text output must then carry
//! no colour, so the expected files are the same whatever terminal regenerated them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aftertrace-inspector");

/// A sample capture must stay small (the repository carries it).
const MAX_SAMPLE_BYTES: u64 = 400 * 1024;

struct Case {
    /// File name under `NAME.expected/`.
    file: &'static str,
    args: &'static [&'static str],
}

const fn case(file: &'static str, args: &'static [&'static str]) -> Case {
    Case { file, args }
}

/// Run on every sample.
const EVERY_SAMPLE: &[Case] = &[
    case("default.txt", &[]),
    case("summary.txt", &["summary"]),
    case("summary.json", &["summary", "--json"]),
    case("verify.txt", &["verify"]),
    case("verify.json", &["verify", "--json"]),
    case("commands.txt", &["commands"]),
    case("commands.json", &["commands", "--json"]),
    case("events.txt", &["events"]),
    case("events.json", &["events", "--json"]),
    case("procs.txt", &["procs"]),
    case("procs.json", &["procs", "--json"]),
    case("tree.txt", &["tree"]),
    case("tree.json", &["tree", "--json"]),
    case("scripts.txt", &["scripts"]),
    case("scripts.json", &["scripts", "--json"]),
    case("files.txt", &["files"]),
    case("files.json", &["files", "--json"]),
    case("sessions.txt", &["sessions"]),
    case("sessions.json", &["sessions", "--json"]),
    case("net.txt", &["net"]),
    case("net.json", &["net", "--json"]),
    case("report.md", &["report"]),
];

/// Filters and time selections, on the sample they make sense for.
const EXTRA: &[(&str, Case)] = &[
    (
        "host-shell",
        case(
            "events-etc-opens.txt",
            &[
                "events",
                "--filter",
                "evt.type in (open, openat) and fd.name startswith /etc/",
            ],
        ),
    ),
    (
        "host-shell",
        case(
            "events-shadow.json",
            &["events", "--json", "--filter", "fd.name = /etc/shadow"],
        ),
    ),
    (
        "host-shell",
        case(
            "procs-nobody.json",
            &["procs", "--json", "--filter", "user.uid = 65534"],
        ),
    ),
    (
        "host-shell",
        case("tree-cat.txt", &["tree", "--filter", "proc.name = cat"]),
    ),
    (
        "host-shell",
        case(
            "tree-failed-connect.json",
            &[
                "tree",
                "--json",
                "--filter",
                "evt.type = connect and evt.failed = true",
            ],
        ),
    ),
    (
        "host-shell",
        case(
            "commands-window.txt",
            &["commands", "--since", "+50ms", "--until", "+0.4s"],
        ),
    ),
    (
        "host-shell",
        case(
            "commands-aname.json",
            &["commands", "--json", "--filter", "proc.aname = bash"],
        ),
    ),
    (
        "host-shell",
        case(
            "events-around.txt",
            &["events", "--around", "+0s", "--window", "2ms"],
        ),
    ),
    (
        "host-shell",
        case("procs-since.txt", &["procs", "--since", "+0.5s"]),
    ),
    ("host-shell", case("cat-f2.txt", &["cat", "f2"])),
    (
        "host-shell",
        case(
            "scripts-dropped.json",
            &["scripts", "--json", "--filter", "proc.name = drop.sh"],
        ),
    ),
    (
        "container",
        case(
            "events-container.txt",
            &["events", "--filter", "container.name = aftertrace-sample"],
        ),
    ),
    (
        "container",
        case(
            "commands-container.json",
            &["commands", "--json", "--filter", "container.id != host"],
        ),
    ),
    (
        "container",
        case(
            "procs-container.json",
            &["procs", "--json", "--filter", "container.id != host"],
        ),
    ),
    (
        "container",
        case(
            "tree-container.txt",
            &["tree", "--filter", "container.id != host"],
        ),
    ),
];

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the inspector crate is in the workspace")
        .join("samples")
}

fn samples() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(samples_dir())
        .expect("samples/ exists")
        .map(|e| e.expect("samples/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "atcap"))
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 sample name")
                .to_owned();
            (name, p)
        })
        .collect();
    out.sort();
    out
}

fn blessing() -> bool {
    std::env::var_os("AFTERTRACE_BLESS").is_some_and(|v| v == "1")
}

/// Runs the inspector; its stdout, or a description of how it failed.
fn run(capture: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(BIN)
        .arg(capture)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .map_err(|e| format!("cannot run {BIN}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.is_empty() {
        return Err(format!("exit {:?}, stderr: {stderr}", out.status.code()));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("stdout is not UTF-8: {e}"))
}

/// Lines that differ, after the common beginning and end: enough to see what changed.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let prefix = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = e[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = format!(
        "@@ line {} ({} expected line(s) replaced by {}) @@\n",
        prefix + 1,
        e.len() - prefix - suffix,
        a.len() - prefix - suffix
    );
    const SHOW: usize = 20;
    let removed = &e[prefix..e.len() - suffix];
    let added = &a[prefix..a.len() - suffix];
    for l in removed.iter().take(SHOW) {
        out.push_str(&format!("-{l}\n"));
    }
    if removed.len() > SHOW {
        out.push_str(&format!("-... {} more\n", removed.len() - SHOW));
    }
    for l in added.iter().take(SHOW) {
        out.push_str(&format!("+{l}\n"));
    }
    if added.len() > SHOW {
        out.push_str(&format!("+... {} more\n", added.len() - SHOW));
    }
    if !expected.is_empty()
        && !actual.is_empty()
        && expected.ends_with('\n') != actual.ends_with('\n')
    {
        out.push_str("(the final newline differs)\n");
    }
    out
}

#[test]
fn every_sample_matches_its_expected_output() {
    let samples = samples();
    assert!(
        !samples.is_empty(),
        "no samples/*.atcap: run scripts/regen-samples.sh"
    );
    let names: BTreeSet<&str> = samples.iter().map(|(n, _)| n.as_str()).collect();
    for (sample, _) in EXTRA {
        assert!(
            names.contains(sample),
            "golden.rs names sample {sample:?}, which samples/ does not have"
        );
    }
    let bless = blessing();
    let mut failures = Vec::new();
    for (name, capture) in &samples {
        let size = fs::metadata(capture).expect("sample metadata").len();
        assert!(
            size <= MAX_SAMPLE_BYTES,
            "{} is {size} bytes; samples must stay under {MAX_SAMPLE_BYTES}: record a shorter \
             workload",
            capture.display()
        );
        let dir = samples_dir().join(format!("{name}.expected"));
        let cases: Vec<&Case> = EVERY_SAMPLE
            .iter()
            .chain(EXTRA.iter().filter(|(s, _)| s == name).map(|(_, c)| c))
            .collect();
        if bless {
            fs::create_dir_all(&dir).expect("create the expected directory");
        }
        let wanted: BTreeSet<&str> = cases.iter().map(|c| c.file).collect();
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if !wanted.contains(file.as_str()) {
                if bless {
                    fs::remove_file(entry.path()).expect("remove a stale expected file");
                } else {
                    failures.push(format!(
                        "{}: no case produces it (stale?)",
                        entry.path().display()
                    ));
                }
            }
        }
        for c in cases {
            let path = dir.join(c.file);
            let shown = format!(
                "aftertrace-inspector samples/{name}.atcap {}",
                c.args.join(" ")
            );
            let actual = match run(capture, c.args) {
                Ok(out) => out,
                Err(why) => {
                    failures.push(format!("{shown}: {why}"));
                    continue;
                }
            };
            if bless {
                fs::write(&path, &actual).expect("write the expected file");
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "{shown}\ndiffers from {}:\n{}",
                    path.display(),
                    diff(&expected, &actual)
                )),
                Err(e) => failures.push(format!("{shown}: cannot read {}: {e}", path.display())),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n\n{}\n\nIf the change is intended, regenerate the expected \
         files with `scripts/regen-samples.sh --expected-only` (or record the samples again \
         with `sudo -E scripts/regen-samples.sh`) and review the diff.",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn default_view_is_the_summary_when_not_on_a_terminal() {
    for (_, capture) in samples() {
        assert_eq!(run(&capture, &[]), run(&capture, &["summary"]));
    }
}

#[test]
fn filter_syntax_errors_exit_64_with_a_caret() {
    let (_, capture) = samples().into_iter().next().expect("a sample");
    let out = Command::new(BIN)
        .arg(&capture)
        .args(["events", "--filter", "proc.name = bash and"])
        .output()
        .expect("run the inspector");
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].contains("column 21"), "{stderr}");
    assert_eq!(lines[1], "  proc.name = bash and");
    assert_eq!(lines[2], format!("{}^", " ".repeat(2 + 20)));
}

#[test]
fn selection_options_are_checked_before_the_file() {
    let missing = samples_dir().join("no-such-file.atcap");
    let code = |args: &[&str]| {
        Command::new(BIN)
            .arg(&missing)
            .args(args)
            .output()
            .expect("run the inspector")
            .status
            .code()
    };
    assert_eq!(code(&["events"]), Some(66));
    assert_eq!(code(&["events", "--since", "yesterday"]), Some(64));
    assert_eq!(code(&["events", "--since", "+5"]), Some(64));
    assert_eq!(
        code(&["events", "--window", "5s"]),
        Some(64),
        "--window needs --around"
    );
    assert_eq!(
        code(&["events", "--around", "+1s", "--since", "+0s"]),
        Some(64)
    );
    assert_eq!(code(&["summary", "--filter", "proc.pid = 1"]), Some(64));
    assert_eq!(code(&["verify", "--since", "+1s"]), Some(64));
    assert_eq!(code(&["events", "--filter", "proc.nam = x"]), Some(64));
}
