//! Under a deliberate overload (a syscall flood on every CPU into a tiny ring buffer), a
//! marker workload that makes a known number of syscalls must find every one either
//! recorded or counted as lost: nothing lost silently. And what is recorded reaches the
//! file in time order across CPUs. Process-tree records (exec, fork, exit) have a ring of
//! their own: under the same flood, none of them is lost while syscall records are.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use aftertrace_tests::{repo_root, require_root, target_bin, INSPECTOR_BIN, RECORDER_BIN};
use capture_format::{CaptureReader, EventBody};
use serde_json::Value;

const CALLS: u64 = 200_000;

/// Flood processes, killed when dropped.
struct Flood(Vec<Child>);

impl Drop for Flood {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn build_marker(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("marker");
    let status = Command::new("cc")
        .args(["-static", "-nostdlib", "-O1"])
        .arg(format!("-DCALLS={CALLS}"))
        .arg("-o")
        .arg(&out)
        .arg(repo_root().join("tests/zoo/marker.c"))
        .status()
        .expect("run cc");
    assert!(status.success(), "building the marker failed");
    out
}

#[test]
fn recorded_plus_lost_equals_made_under_overload() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let marker = build_marker(work.path());
    let capture = work.path().join("overload.atcap");

    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _flood = Flood(
        (0..cpus)
            .map(|_| {
                Command::new("dd")
                    .args(["if=/dev/zero", "of=/dev/null", "bs=1", "count=50000000"])
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start dd")
            })
            .collect(),
    );
    // 64 KiB of ring: a few hundred records, far less than the flood makes per poll.
    let out = Command::new(target_bin(RECORDER_BIN))
        .args(["record", "--ring-bytes", "65536", "-o"])
        .arg(&capture)
        .arg("--")
        .arg(&marker)
        .output()
        .expect("run the recorder");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the marker prints its child's pid");

    let reader = CaptureReader::open(&capture).expect("open the capture");
    let mut recorded = 0u64;
    let mut last_ts = 0u64;
    let mut out_of_order = 0u64;
    let mut events = 0u64;
    for e in reader.events() {
        let e = e.expect("intact chunk");
        events += 1;
        if e.ts < last_ts {
            out_of_order += 1;
        }
        last_ts = last_ts.max(e.ts);
        if e.pid == child && matches!(e.body, EventBody::Syscall(_)) {
            recorded += 1;
        }
    }
    let lost: u64 = reader
        .metadata()
        .drops
        .entries
        .iter()
        .filter(|d| d.pid == Some(child))
        .map(|d| d.count)
        .sum();
    let made = CALLS + 2;
    assert!(
        lost > 0,
        "the overload did not overload: nothing was lost ({recorded} recorded)"
    );
    assert!(recorded > 0, "nothing of the marker was recorded");
    assert_eq!(
        recorded + lost,
        made,
        "recorded {recorded} + lost {lost} != made {made}"
    );
    assert_eq!(
        out_of_order, 0,
        "{out_of_order} of {events} events out of time order"
    );

    // The inspector reports the losses too, per cause and per process.
    let summary = Command::new(target_bin(INSPECTOR_BIN))
        .arg(&capture)
        .args(["summary", "--json"])
        .output()
        .expect("inspector");
    let summary: Value = serde_json::from_slice(&summary.stdout).expect("summary JSON");
    let ring_full = summary["dropped"]
        .as_array()
        .expect("dropped")
        .iter()
        .find(|d| d[0] == "ring_full")
        .and_then(|d| d[1].as_u64())
        .expect("ring_full counted");
    assert!(ring_full >= lost);
    assert!(summary["lost_by_pid"]
        .as_array()
        .expect("lost_by_pid")
        .iter()
        .any(|d| d[0] == child && d[1] == lost));
}

/// Forks and execs made by a shell under the flood, while the marker's syscalls are lost:
/// every fork, exec and exit is in the file, and the lifecycle ring lost nothing.
#[test]
fn lifecycle_records_survive_an_overload_that_loses_syscalls() {
    const EXECS: u64 = 300;
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let marker = build_marker(work.path());
    let capture = work.path().join("lifecycle.atcap");

    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _flood = Flood(
        (0..cpus)
            .map(|_| {
                Command::new("dd")
                    .args(["if=/dev/zero", "of=/dev/null", "bs=1", "count=50000000"])
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start dd")
            })
            .collect(),
    );
    let script = format!(
        "{}; i=0; while [ $i -lt {EXECS} ]; do /bin/true; i=$((i+1)); done",
        marker.display()
    );
    let out = Command::new(target_bin(RECORDER_BIN))
        .args(["record", "--ring-bytes", "65536", "-o"])
        .arg(&capture)
        .args(["--", "/bin/sh", "-c", &script])
        .output()
        .expect("run the recorder");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the marker prints its child's pid");

    let reader = CaptureReader::open(&capture).expect("open the capture");
    let events: Vec<_> = reader.events().map(|e| e.expect("intact chunk")).collect();
    // The shell: the exec whose argv holds the script.
    let shell = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::Exec(x) if x.argv.iter().any(|a| a == script.as_bytes()) => Some(e.pid),
            _ => None,
        })
        .expect("the shell's exec is recorded");
    let children: std::collections::BTreeSet<u32> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Fork(f) if e.pid == shell && f.child_pid != shell => Some(f.child_pid),
            _ => None,
        })
        .collect();
    let trues = events
        .iter()
        .filter(|e| {
            children.contains(&e.pid)
                && matches!(&e.body, EventBody::Exec(x) if x.filename == b"/bin/true")
        })
        .count() as u64;
    let exits = events
        .iter()
        .filter(|e| {
            children.contains(&e.pid) && matches!(&e.body, EventBody::Exit(x) if x.group_dead)
        })
        .count() as u64;
    // The marker and every /bin/true.
    assert_eq!(children.len() as u64, EXECS + 1, "forks of the shell");
    assert_eq!(trues, EXECS, "execs of /bin/true");
    assert_eq!(exits, EXECS + 1, "exits of the shell's children");

    let recorded = events
        .iter()
        .filter(|e| e.pid == child && matches!(e.body, EventBody::Syscall(_)))
        .count() as u64;
    let drops = &reader.metadata().drops.entries;
    let lost: u64 = drops
        .iter()
        .filter(|d| d.pid == Some(child))
        .map(|d| d.count)
        .sum();
    let by_cause = |cause: &str| -> u64 {
        drops
            .iter()
            .filter(|d| d.cause == cause)
            .map(|d| d.count)
            .sum()
    };
    assert!(
        lost > 0 && by_cause("ring_full") > 0,
        "the overload did not overload: nothing was lost ({recorded} recorded)"
    );
    assert_eq!(by_cause("lifecycle_full"), 0, "lifecycle records were lost");
    assert_eq!(
        recorded + lost,
        CALLS + 2,
        "recorded {recorded} + lost {lost}"
    );
}
