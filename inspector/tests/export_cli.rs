//! `export` over the recorded sample `samples/container.atcap` (no kernel needed): a
//! process subtree (`--pid N --with-descendants`) exports exactly the filter
//! `proc.pid = N or proc.apid = N` selects; `--pid N` alone only N; a policy file's rule
//! masks what it names at the same length; the jsonl tables have the views' rows with the
//! capture id; bad input gets its exit code and leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aftertrace-inspector");

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/container.atcap")
}

fn inspector(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("inspector")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

fn the_shell_pid() -> u64 {
    let s = sample();
    let commands = lines(&inspector(&[s.to_str().unwrap(), "commands", "--json"]));
    commands
        .iter()
        .find(|c| c["argv"][0] == "bash" && c["container_id"].is_string())
        .and_then(|c| c["pid"].as_u64())
        .expect("the container's bash -c")
}

#[test]
fn a_subtree_exports_what_its_filter_selects() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    let s = s.to_str().unwrap();
    let pid = the_shell_pid().to_string();
    for (descendants, filter) in [
        (true, format!("proc.pid = {pid} or proc.apid = {pid}")),
        (false, format!("proc.pid = {pid}")),
    ] {
        let out = dir.path().join(format!("sub-{descendants}.atcap"));
        let o = out.to_str().unwrap();
        let mut args = vec![s, "export", "-o", o, "--pid", &pid];
        if descendants {
            args.push("--with-descendants");
        }
        let r = inspector(&args);
        assert!(r.status.success(), "{r:?}");
        assert!(inspector(&[o, "verify"]).status.success());
        let want = lines(&inspector(&[s, "events", "--json", "--filter", &filter]));
        let got = lines(&inspector(&[o, "events", "--json"]));
        assert_eq!(got.len(), want.len(), "{filter}");
        let times = |v: &[serde_json::Value]| -> Vec<String> {
            v.iter().map(|e| e["time"].to_string()).collect()
        };
        assert_eq!(times(&got), times(&want), "{filter}");
        let pids: std::collections::BTreeSet<u64> =
            got.iter().filter_map(|e| e["pid"].as_u64()).collect();
        assert_eq!(pids.len() > 1, descendants, "{filter}: {pids:?}");
    }
}

#[test]
fn a_policy_file_rule_masks_at_the_same_length() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    let s = s.to_str().unwrap();
    let policy = dir.path().join("policy.txt");
    std::fs::write(&policy, "# ours\nhost-file /etc/(hostname)\n").unwrap();
    let out = dir.path().join("r.atcap");
    let o = out.to_str().unwrap();
    let flag = format!("--redact={}", policy.display());
    let r = inspector(&[s, "export", "-o", o, &flag]);
    assert!(r.status.success(), "{r:?}");
    let events = String::from_utf8(inspector(&[o, "events", "--json"]).stdout).unwrap();
    assert!(!events.contains("/etc/hostname"));
    assert!(events.contains("/etc/********"), "same length marker");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "kind (unclosed\n").unwrap();
    let r = inspector(&[s, "export", "-o", o, &format!("--redact={}", bad.display())]);
    assert_eq!(r.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&r.stderr).contains("line 1"));
}

#[test]
fn jsonl_tables_are_the_views_rows_with_the_capture_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    let s = s.to_str().unwrap();
    let tables = dir.path().join("t");
    let r = inspector(&[
        s,
        "export",
        "--format",
        "jsonl",
        "-o",
        tables.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{r:?}");
    for (table, view) in [
        ("events", "events"),
        ("commands", "commands"),
        ("processes", "procs"),
    ] {
        let want = lines(&inspector(&[s, view, "--json"]));
        let text = std::fs::read_to_string(tables.join(format!("{table}.jsonl"))).unwrap();
        let got: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), want.len(), "{table}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g["capture_id"].as_str().map(str::len), Some(32));
            assert_eq!(g["node"], "vm");
            let mut g = g.clone();
            g.as_object_mut().unwrap().remove("capture_id");
            g.as_object_mut().unwrap().remove("node");
            assert_eq!(&g, w, "{table}");
        }
    }
}

#[test]
fn bad_input_gets_its_exit_code_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    let s = s.to_str().unwrap();
    let out = dir.path().join("x.atcap");
    let o = out.to_str().unwrap();
    let r = inspector(&[s, "export", "-o", o, "--container", "nope"]);
    assert_eq!(r.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&r.stderr).contains("aftertrace-sample"));
    let r = inspector(&[s, "export", "-o", o, "--since", "+10m"]);
    assert_eq!(r.status.code(), Some(3), "{r:?}");
    let r = inspector(&[s, "export", "-o", "/proc/nope/x.atcap"]);
    assert_eq!(r.status.code(), Some(73));
    let r = inspector(&[s, "export", "--format", "scap", "-o", o, "--container", "x"]);
    assert_eq!(r.status.code(), Some(64));
    let r = inspector(&[s, "events", "--redact"]);
    assert_eq!(r.status.code(), Some(64));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing left"
    );
}
