//! sysdig/Falco `.scap` captures in the inspector, checked against sysdig itself (Debian's
//! sysdig 0.29, installed by scripts/setup.sh) as the oracle: for each sample in
//! samples/scap/, the opens, execs and connects we show are the ones `sysdig -r` shows
//! (same exit time to the nanosecond, thread, syscall, path or address), `commands` has
//! the same execve's with the same argv, `net` has the IPv6 connection with both ends,
//! `tree` has curl's ancestry from the process list, and truncated copies open and report
//! the loss. No root needed: nothing here records.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use aftertrace_tests::{repo_root, target_bin, INSPECTOR_BIN};
use serde_json::Value;

const SAMPLES: [&str; 3] = ["502Error.scap", "curl_google.scap", "test_ipv6_client.scap"];

fn sample(name: &str) -> PathBuf {
    repo_root().join("samples/scap").join(name)
}

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
        "inspector {} {args:?} failed ({}): {}",
        capture.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `sysdig -r FILE -p FORMAT FILTER`, one `|`-separated row per line. The leading `*`
/// makes sysdig print events that lack some of the fields (as `<NA>`) instead of
/// dropping them.
pub fn sysdig(file: &Path, format: &str, filter: &str) -> Vec<Vec<String>> {
    let out = Command::new("sysdig")
        .arg("-r")
        .arg(file)
        .arg("-p")
        .arg(format!("*{format}"))
        .arg(filter)
        .output()
        .expect("run sysdig (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "sysdig -r {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

fn rfc3339_ns(t: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap_or_else(|e| panic!("bad time {t:?}: {e}"))
        .timestamp_nanos_opt()
        .expect("in range") as u64
}

/// The remote end of a sysdig tuple (`a:p->b:q`, or `x->y /path` for unix sockets), in
/// our spelling's terms (no brackets, unix sockets by path).
fn tuple_remote(t: &str) -> String {
    if let Some((_, path)) = t.split_once(' ') {
        return path.to_owned();
    }
    t.rsplit_once("->").map_or(t, |(_, r)| r).to_owned()
}

fn our_addr(a: &str) -> String {
    match a.strip_prefix("unix:") {
        Some(path) => path.to_owned(),
        None => a.replace(['[', ']'], ""),
    }
}

type Row = (u64, u64, String, String);

/// What sysdig prints for the exits of open/openat/execve/connect.
fn sysdig_rows(file: &Path) -> BTreeSet<Row> {
    sysdig(
        file,
        "%evt.rawtime|%thread.tid|%evt.type|%evt.arg.name|%evt.arg.exe|%evt.arg.tuple",
        "evt.dir='<' and evt.type in (open,openat,execve,connect)",
    )
    .into_iter()
    .map(|r| {
        let what = match r[2].as_str() {
            "execve" => r[4].clone(),
            "connect" => tuple_remote(&r[5]),
            _ => r[3].clone(),
        };
        (
            r[0].parse().expect("rawtime"),
            r[1].parse().expect("tid"),
            r[2].clone(),
            what,
        )
    })
    .collect()
}

/// The same from our `events --json`: exit time = start + duration (or the start of an
/// exit-only record).
fn our_rows(file: &Path) -> BTreeSet<Row> {
    json_lines(file, &["events", "--json"])
        .into_iter()
        .filter(|e| e["kind"] == "syscall" && e["completion"] != "enter_only")
        .filter_map(|e| {
            let name = e["syscall"].as_str()?.to_owned();
            let what = match name.as_str() {
                "open" | "openat" => e["args"]["pathname"].as_str()?.to_owned(),
                "execve" => e["args"]["filename"].as_str()?.to_owned(),
                "connect" => our_addr(e["args"]["addr"].as_str().unwrap_or("")),
                _ => return None,
            };
            let start = rfc3339_ns(e["time"].as_str()?);
            let exit = start + e["duration_ns"].as_u64().unwrap_or(0);
            Some((exit, e["tid"].as_u64()?, name, what))
        })
        .collect()
}

#[test]
fn opens_execs_and_connects_match_sysdig() {
    for name in SAMPLES {
        let file = sample(name);
        let theirs = sysdig_rows(&file);
        let ours = our_rows(&file);
        assert!(theirs.len() > 2, "{name}: sysdig printed only {theirs:?}");
        let missing: Vec<_> = theirs.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&theirs).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: {} rows differ from sysdig's {}\nonly sysdig: {missing:#?}\nonly ours: {extra:#?}",
            missing.len() + extra.len(),
            theirs.len()
        );
        eprintln!(
            "{name}: {} open/execve/connect rows equal sysdig's",
            ours.len()
        );
    }
}

#[test]
fn commands_list_sysdigs_execves_with_their_argv() {
    for name in SAMPLES {
        let file = sample(name);
        let theirs: BTreeSet<(u64, u64, Vec<String>)> = sysdig(
            &file,
            "%evt.rawtime|%proc.pid|%evt.arg.exe|%proc.args",
            "evt.dir='<' and evt.type=execve and evt.failed=false",
        )
        .into_iter()
        .map(|r| {
            let mut argv = vec![r[2].clone()];
            argv.extend(r[3].split(' ').filter(|a| !a.is_empty()).map(str::to_owned));
            (r[0].parse().unwrap(), r[1].parse().unwrap(), argv)
        })
        .collect();
        let ours: BTreeSet<(u64, u64, Vec<String>)> = json_lines(&file, &["commands", "--json"])
            .into_iter()
            .map(|c| {
                (
                    rfc3339_ns(c["time"].as_str().unwrap()),
                    c["pid"].as_u64().unwrap(),
                    c["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{name}");
    }
    // The samples do hold execve's (502Error's processes began before it).
    let curl = json_lines(&sample("curl_google.scap"), &["commands", "--json"]);
    assert_eq!(
        curl[0]["argv"],
        serde_json::json!(["curl", "-6", "http://www.google.com"])
    );
}

#[test]
fn net_shows_the_ipv6_connection_with_both_ends() {
    let file = sample("test_ipv6_client.scap");
    // sysdig's tuple of the last connect on the socket: local ->remote.
    let last = sysdig(&file, "%evt.arg.tuple", "evt.dir='<' and evt.type=connect")
        .pop()
        .expect("a connect")
        .remove(0);
    assert_eq!(last, "::1:38255->2001:4860:4860::8888:53");
    let conns = json_lines(&file, &["net", "--json"]);
    let c = conns
        .iter()
        .find(|c| c["remote"] == "[2001:4860:4860::8888]:53")
        .unwrap_or_else(|| panic!("no connection to the IPv6 DNS server in {conns:#?}"));
    assert_eq!(c["local"], "[::1]:38255", "{c:#}");
    assert_eq!(c["protocol"], "udp", "{c:#}");
}

#[test]
fn tree_rebuilds_curls_ancestry_from_the_process_list() {
    let file = sample("curl_google.scap");
    let theirs: Vec<u64> = sysdig(
        &file,
        "%proc.apid[1]|%proc.apid[2]|%proc.apid[3]|%proc.apid[4]|%proc.apid[5]",
        "evt.dir='<' and evt.type=execve",
    )[0]
    .iter()
    .map(|p| p.parse().unwrap())
    .collect();
    assert_eq!(theirs, [3200, 3199, 3111, 1397, 1]);
    let procs = json_lines(&file, &["tree", "--json"]);
    let ppid = |pid: u64| -> u64 {
        procs
            .iter()
            .find(|p| p["pid"] == pid)
            .unwrap_or_else(|| panic!("no process {pid} in the tree"))["ppid"]
            .as_u64()
            .unwrap()
    };
    let mut chain = vec![];
    let mut pid = 17497;
    while pid != 1 {
        pid = ppid(pid);
        chain.push(pid);
    }
    assert_eq!(chain, theirs);
    let text = String::from_utf8(inspector(&file, &["tree"]).stdout).unwrap();
    assert!(text.contains("curl -6 http://www.google.com"), "{text}");
    assert!(text.contains("3200 -bash"), "{text}");
}

#[test]
fn truncated_copies_open_and_report_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    for name in SAMPLES {
        let bytes = std::fs::read(sample(name)).unwrap();
        let whole = json_lines(&sample(name), &["events", "--json"]).len();
        for tenth in 1..=9 {
            let cut = bytes.len() * tenth / 10;
            let path = dir.path().join(format!("{name}.{tenth}0"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let events = json_lines(&path, &["events", "--json"]).len();
            assert!(
                events <= whole,
                "{name} cut at {tenth}0%: {events} events, more than whole ({whole})"
            );
            let summary = json_lines(&path, &["summary", "--json"]);
            let lost = summary[0]["dropped"].to_string();
            assert!(
                lost.contains("scap_file_damaged_bytes") || lost.contains("scap_gzip_cut_short"),
                "{name} cut at {tenth}0%: the summary does not report the loss: {:#}",
                summary[0]
            );
        }
    }
}

/// Our rows for the round trip: open/openat/connect by exit, execve by enter (sysdig
/// 0.29's execve exit has no filename), x86_64 only (the writer has no i386 layouts and
/// says so).
fn our_round_trip_rows(file: &Path) -> BTreeSet<Row> {
    json_lines(file, &["events", "--json"])
        .into_iter()
        .filter(|e| e["kind"] == "syscall" && e["abi"] == "x86_64")
        .filter_map(|e| {
            let name = e["syscall"].as_str()?.to_owned();
            let start = rfc3339_ns(e["time"].as_str()?);
            let exit = start + e["duration_ns"].as_u64().unwrap_or(0);
            let completion = e["completion"].as_str()?;
            let (ts, what) = match name.as_str() {
                "open" | "openat" if completion != "enter_only" => {
                    (exit, e["args"]["pathname"].as_str()?.to_owned())
                }
                "connect" if completion != "enter_only" => {
                    (exit, our_addr(e["args"]["addr"].as_str().unwrap_or("")))
                }
                "execve" if completion != "exit_only" => {
                    (start, e["args"]["filename"].as_str()?.to_owned())
                }
                _ => return None,
            };
            Some((ts, e["tid"].as_u64()?, name, what))
        })
        .collect()
}

fn sysdig_round_trip_rows(file: &Path) -> BTreeSet<Row> {
    let mut rows: BTreeSet<Row> = sysdig(
        file,
        "%evt.rawtime|%thread.tid|%evt.type|%evt.arg.name|%evt.arg.tuple",
        "evt.dir='<' and evt.type in (open,openat,connect)",
    )
    .into_iter()
    .map(|r| {
        let what = match r[2].as_str() {
            "connect" => tuple_remote(&r[4]),
            _ => r[3].clone(),
        };
        (
            r[0].parse().unwrap(),
            r[1].parse().unwrap(),
            r[2].clone(),
            what,
        )
    })
    .collect();
    rows.extend(
        sysdig(
            file,
            "%evt.rawtime|%thread.tid|%evt.type|%evt.arg.filename",
            "evt.dir='>' and evt.type=execve",
        )
        .into_iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].clone(),
                r[3].clone(),
            )
        }),
    );
    rows
}

#[test]
fn captures_recorded_here_export_to_scap_that_sysdig_reads_alike() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["host-shell.atcap", "container.atcap"] {
        let atcap = repo_root().join("samples").join(name);
        let scap = dir.path().join(format!("{name}.scap"));
        let out = inspector(
            &atcap,
            &["export", "--format", "scap", "-o", scap.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "export of {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // sysdig reads the whole file without a complaint.
        let read = Command::new("sysdig")
            .arg("-r")
            .arg(&scap)
            .output()
            .unwrap();
        assert!(read.status.success(), "sysdig -r {name}.scap failed");
        let stderr = String::from_utf8_lossy(&read.stderr);
        assert!(stderr.trim().is_empty(), "sysdig -r {name}.scap: {stderr}");
        let lines = String::from_utf8_lossy(&read.stdout).lines().count();
        assert!(
            lines > 100,
            "{name}.scap: sysdig printed only {lines} events"
        );

        let ours = our_round_trip_rows(&atcap);
        let theirs = sysdig_round_trip_rows(&scap);
        assert!(ours.len() > 5, "{name}: only {ours:?}");
        let missing: Vec<_> = ours.difference(&theirs).collect();
        let extra: Vec<_> = theirs.difference(&ours).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: only ours: {missing:#?}\nonly sysdig's: {extra:#?}"
        );
        // And our reader reads our writer's file back to the same rows.
        assert_eq!(
            our_round_trip_rows(&scap),
            ours,
            "{name}: re-read through scap"
        );
        eprintln!(
            "{name}: {} execve/open/connect rows equal sysdig's reading of the export",
            ours.len()
        );
    }
}
