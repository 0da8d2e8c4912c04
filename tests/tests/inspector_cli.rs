//! The inspector's query CLI against a capture of a real workload: `--filter 'fd.name =
//! /etc/shadow'` lists exactly the opens of that file (and nothing else), the process views
//! find the process that opened it, and a filter with a syntax error exits 64 with a caret
//! under the column on stderr.

use std::{path::Path, process::Command};

use aftertrace_tests::{require_root, target_bin, INSPECTOR_BIN, RECORDER_BIN};
use serde_json::Value;

const WORKLOAD: &str = "cat /etc/shadow > /dev/null; cat /etc/hostname";

fn inspector(capture: &Path, args: &[&str]) -> std::process::Output {
    Command::new(target_bin(INSPECTOR_BIN))
        .arg(capture)
        .args(args)
        .output()
        .expect("run the inspector")
}

fn json_lines(capture: &Path, args: &[&str]) -> Vec<Value> {
    let out = inspector(capture, args);
    assert!(
        out.status.success(),
        "inspector {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn is_open(e: &Value) -> bool {
    matches!(e["syscall"].as_str(), Some("open" | "openat" | "openat2"))
}

#[test]
fn shadow_filter_lists_exactly_its_opens_and_syntax_errors_point_at_the_column() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("shadow.atcap");
    let out = Command::new(target_bin(RECORDER_BIN))
        .args(["record", "--snaplen", "64", "-o"])
        .arg(&capture)
        .args(["--", "bash", "-c", WORKLOAD])
        .output()
        .expect("run the recorder");
    assert!(
        out.status.success(),
        "recorder failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // Every event the filter lists is an open of /etc/shadow...
    let filtered = json_lines(
        &capture,
        &["events", "--filter", "fd.name = /etc/shadow", "--json"],
    );
    assert!(!filtered.is_empty(), "no open of /etc/shadow listed");
    for e in &filtered {
        assert!(is_open(e), "not an open: {e}");
        assert_eq!(e["args"]["pathname"], "/etc/shadow", "{e}");
        assert_eq!(e["kind"], "syscall", "{e}");
    }
    // ...and every open of /etc/shadow in the capture is listed: the same events, in the
    // same order (compared whole, times and pids included).
    let all = json_lines(&capture, &["events", "--json"]);
    let opens: Vec<&Value> = all
        .iter()
        .filter(|e| is_open(e) && e["args"]["pathname"] == "/etc/shadow")
        .collect();
    assert_eq!(
        filtered.iter().collect::<Vec<_>>(),
        opens,
        "the filter must list exactly the opens of /etc/shadow"
    );
    // The workload's own open is among them, made by `cat /etc/shadow`, and succeeded.
    let cats: Vec<&Value> = filtered
        .iter()
        .filter(|e| e["proc_name"] == "cat" && e["res"].as_i64().is_some_and(|r| r >= 0))
        .collect();
    assert_eq!(cats.len(), 1, "one successful open by cat: {filtered:?}");
    let cat_pid = &cats[0]["pid"];

    // The process views find that cat, with its command line and bash as its parent.
    let procs = json_lines(
        &capture,
        &["procs", "--json", "--filter", "fd.name = /etc/shadow"],
    );
    let cat = procs
        .iter()
        .find(|p| &p["pid"] == cat_pid)
        .unwrap_or_else(|| panic!("pid {cat_pid} not in procs: {procs:?}"));
    assert_eq!(cat["argv"], serde_json::json!(["cat", "/etc/shadow"]));
    assert_eq!(cat["origin"], "fork");
    assert_eq!(cat["exit_code"], 0);
    let commands = json_lines(&capture, &["commands", "--json"]);
    let bash = commands
        .iter()
        .find(|c| c["argv"] == serde_json::json!(["bash", "-c", WORKLOAD]))
        .expect("the workload's bash in commands");
    assert_eq!(cat["ppid"], bash["pid"]);
    let tree = json_lines(
        &capture,
        &["tree", "--json", "--filter", "fd.name = /etc/shadow"],
    );
    let cat_node = tree
        .iter()
        .position(|n| &n["pid"] == cat_pid)
        .expect("cat in the tree");
    assert_eq!(tree[cat_node]["matched"], true);
    let parent = tree[..cat_node]
        .iter()
        .rev()
        .find(|n| n["depth"].as_u64() < tree[cat_node]["depth"].as_u64())
        .expect("cat has a parent in the tree");
    assert_eq!(parent["pid"], bash["pid"], "bash is shown as cat's parent");

    // A syntax error: exit 64, nothing on stdout, the expression and a caret under the
    // column (13: just past `proc.name = `, where the value is missing) on stderr.
    let out = inspector(&capture, &["events", "--filter", "proc.name = "]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "  proc.name = ")
        .unwrap_or_else(|| panic!("the expression is not echoed on stderr:\n{stderr}"));
    assert!(
        lines[..at].iter().any(|l| l.contains("column 13")),
        "{stderr}"
    );
    let caret = lines.get(at + 1).copied().unwrap_or_default();
    assert_eq!(
        caret.find('^'),
        Some(2 + 12),
        "the caret must sit under column 13 of the expression:\n{stderr}"
    );
    assert_eq!(caret.trim(), "^");
}
