//! The recorder holds against the node it watches (issue 13): an unprivileged user on the
//! same node cannot make the root recorder overwrite a file through a planted link, make it
//! exit, or make a second recorder destroy the first one's capture; a kill -9 costs at most
//! about a second of record; an alert storm cannot push the first alert's pre-window out
//! or drop an operator's trigger.
//!
//! Real eBPF, real processes, as root. Run one at a time under the kernel lock:
//! `flock /tmp/aftertrace-kernel.lock cargo test -p aftertrace-tests --test hostile_node`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aftertrace_tests::{
    daemon::Daemon, inspector_json, recorder::BackgroundRecorder, require_root, target_bin,
    INSPECTOR_BIN, RECORDER_BIN,
};
use serde_json::Value;

/// The unprivileged user the attacker runs as.
const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

fn as_nobody(args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(NOBODY).args(args);
    c
}

fn verify(capture: &Path) -> std::process::Output {
    Command::new(target_bin(INSPECTOR_BIN))
        .arg(capture)
        .arg("verify")
        .output()
        .expect("run the inspector")
}

/// The reproducer: in a sticky world-writable directory an unprivileged user
/// plants `cap.atcap.partial -> a root-owned file`; root records to `cap.atcap`. The link
/// is never followed: the target stays byte-identical (and keeps its mode), and `record`
/// exits 74 naming the path.
#[test]
fn a_planted_link_is_refused_and_its_target_untouched() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let target = work.path().join("root-owned");
    let original = b"root's file: must never be overwritten\n".repeat(100);
    std::fs::write(&target, &original).expect("target");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let partial = shared.join("cap.atcap.partial");
    let planted = as_nobody(&["ln", "-s"])
        .arg(&target)
        .arg(&partial)
        .status()
        .expect("ln");
    assert!(planted.success(), "the unprivileged user plants the link");

    let capture = shared.join("cap.atcap");
    let out = Command::new(target_bin(RECORDER_BIN))
        .arg("record")
        .arg("-o")
        .arg(&capture)
        .args(["--", "true"])
        .output()
        .expect("run the recorder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "exit 74 (I/O): {stderr}");
    assert!(
        stderr.contains(&partial.display().to_string()),
        "the error names the path: {stderr}"
    );
    assert_eq!(std::fs::read(&target).expect("target"), original);
    let mode = std::fs::metadata(&target)
        .expect("target")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o644, "the target's mode is unchanged");
    assert!(
        std::fs::symlink_metadata(&partial)
            .expect("link")
            .file_type()
            .is_symlink(),
        "the link is left as it was"
    );
    assert!(!capture.exists(), "nothing was renamed into place");

    // A link planted at the final name is refused the same way.
    std::fs::remove_file(&partial).expect("rm");
    let planted = as_nobody(&["ln", "-s"])
        .arg(&target)
        .arg(&capture)
        .status()
        .expect("ln");
    assert!(planted.success());
    let out = Command::new(target_bin(RECORDER_BIN))
        .arg("record")
        .arg("-o")
        .arg(&capture)
        .args(["--", "true"])
        .output()
        .expect("run the recorder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains(&capture.display().to_string()), "{stderr}");
    assert_eq!(std::fs::read(&target).expect("target"), original);
}

/// Two `record`s on one `-o`: the second is refused with an error that says another
/// recorder has it; the first's capture is complete and verifies, with a `.sha256` that
/// `sha256sum -c` accepts.
#[test]
fn a_second_recorder_on_the_same_output_is_refused() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let capture = work.path().join("one.atcap");
    let first = BackgroundRecorder::start(&capture, &[]).expect("first recorder");
    let out = Command::new(target_bin(RECORDER_BIN))
        .arg("record")
        .arg("-o")
        .arg(&capture)
        .args(["--", "true"])
        .output()
        .expect("run the second recorder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(
        stderr.contains("one.atcap.partial") && stderr.contains("another recorder"),
        "{stderr}"
    );
    let ran = Command::new("bash")
        .args(["-c", "echo second-recorder-marker >/dev/null"])
        .status()
        .expect("workload");
    assert!(ran.success());
    first.stop().expect("the first recorder finishes");
    let v = verify(&capture);
    assert!(
        v.status.success(),
        "the first capture verifies: {}",
        String::from_utf8_lossy(&v.stdout)
    );
    let cmds = inspector_json(&capture, "commands");
    assert!(
        cmds.iter()
            .any(|c| c.to_string().contains("second-recorder-marker")),
        "the first capture holds the workload"
    );
    let sum = Command::new("sha256sum")
        .arg("-c")
        .arg("one.atcap.sha256")
        .current_dir(work.path())
        .output()
        .expect("sha256sum");
    assert!(
        sum.status.success(),
        "sha256sum -c: {}{}",
        String::from_utf8_lossy(&sum.stdout),
        String::from_utf8_lossy(&sum.stderr)
    );
}

fn http_get(d: &Daemon, path: &str) -> (u16, String) {
    let mut conn = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("response");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, response)
}

/// The unprivileged write loop (python writing 64 KiB to /dev/null 2000 times, as
/// nobody) once made the daemon exit ("events encode to more than the chunk limit"). Now
/// the daemon is alive afterwards, /metrics answers, a trigger seals a capture, and any
/// records lost are counted and attributed to the writer's pid.
#[test]
fn an_unprivileged_write_loop_does_not_stop_the_daemon() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let daemon =
        Daemon::start(work.path(), &["--before", "20s", "--after", "1s"], &[]).expect("daemon");
    let writer = as_nobody(&[
        "/usr/bin/python3",
        "-c",
        "import os;f=os.open('/dev/null',1);[os.write(f,b'A'*65536) for _ in range(2000)]",
    ])
    .stdout(Stdio::null())
    .spawn()
    .expect("start the writer");
    let writer_pid = writer.id();
    let status = writer.wait_with_output().expect("writer").status;
    assert!(status.success(), "the write loop ran: {status}");
    // Past the daemon's chunking of the burst (a chunk every 500 ms at the latest).
    std::thread::sleep(Duration::from_secs(2));

    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(daemon.pid() as i32, 0) } == 0;
    assert!(alive, "the daemon is alive after the write loop");
    let (code, metrics) = http_get(&daemon, "/metrics");
    assert_eq!(code, 200, "/metrics answers: {metrics}");
    assert!(metrics.contains("aftertrace_events_total"), "{metrics}");

    daemon
        .cli(&["trigger", "--reason", "after-write-loop"])
        .expect("trigger");
    let captures = daemon
        .wait_for_captures(1, Duration::from_secs(30))
        .expect("a trigger seals a capture");
    let capture = &captures[0];

    let summary = &inspector_json(capture, "summary")[0];
    // Every record lost is attributed to a process, and the writer, the only process
    // that made a burst, is among them.
    let lost: u64 = summary["dropped"]
        .as_array()
        .expect("dropped")
        .iter()
        .filter(|d| d[0] != "unreadable" && d[0] != "data_lost")
        .map(|d| d[1].as_u64().unwrap_or(0))
        .sum();
    let by_pid: Vec<(u64, u64)> = summary["lost_by_pid"]
        .as_array()
        .expect("lost_by_pid")
        .iter()
        .map(|p| (p[0].as_u64().unwrap_or(0), p[1].as_u64().unwrap_or(0)))
        .collect();
    if lost > 0 {
        assert!(
            by_pid.iter().any(|&(pid, _)| pid == u64::from(writer_pid)),
            "{lost} records lost, attributed to {by_pid:?}, not to the writer {writer_pid}"
        );
        let (_, metrics) = http_get(&daemon, "/metrics");
        assert!(
            metrics.contains(&format!(
                "aftertrace_lost_records_by_pid{{pid=\"{writer_pid}\"}}"
            )),
            "/metrics names the writer: {metrics}"
        );
    }
    // The writes themselves are in the capture (those not counted lost).
    let events = Command::new(target_bin(INSPECTOR_BIN))
        .arg(capture)
        .args([
            "events",
            "--filter",
            &format!("proc.pid = {writer_pid} and evt.type = write"),
        ])
        .output()
        .expect("events");
    assert!(events.status.success());
    let writes = String::from_utf8_lossy(&events.stdout).lines().count() as u64;
    let lost_by_writer: u64 = by_pid
        .iter()
        .filter(|&&(pid, _)| pid == u64::from(writer_pid))
        .map(|&(_, n)| n)
        .sum();
    assert!(
        writes + lost_by_writer >= 2000,
        "{writes} writes recorded + {lost_by_writer} lost < 2000 made"
    );
    daemon.stop().expect("the daemon stops cleanly");
}

/// `record` killed with SIGKILL at 10 random moments (each at least 2 s in) always leaves
/// a file whose commands include one run at least 1.5 s before the kill: what was recorded
/// reaches the disk about once a second.
#[test]
fn kill_9_keeps_all_but_about_the_last_second() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    // A cheap pseudo-random sequence (no RNG crate): the moments differ from run to run.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for trial in 0..10 {
        let capture = work.path().join(format!("k{trial}.atcap"));
        let mut child = Command::new(target_bin(RECORDER_BIN))
            .args(["record", "--duration", "60s", "-o"])
            .arg(&capture)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the recorder");
        let mut stderr = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("recording") {
            let n = stderr.read(&mut buf).expect("read stderr");
            assert!(n > 0, "the recorder exited before recording");
            seen.extend_from_slice(&buf[..n]);
        }
        let started = Instant::now();
        // 2 to 5 s after recording began.
        let kill_after = Duration::from_millis(2000 + next() % 3000);
        let mut markers: Vec<(String, Instant)> = Vec::new();
        let mut i = 0;
        while started.elapsed() < kill_after {
            let marker = format!("kill9-marker-{trial}-{i}");
            Command::new("/bin/echo")
                .arg(&marker)
                .stdout(Stdio::null())
                .status()
                .expect("marker");
            markers.push((marker, Instant::now()));
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().expect("SIGKILL");
        let killed = Instant::now();
        child.wait().expect("wait");
        let partial = work.path().join(format!("k{trial}.atcap.partial"));
        assert!(partial.exists(), "trial {trial}: the .partial is left");
        let out = Command::new(target_bin(INSPECTOR_BIN))
            .arg(&partial)
            .args(["commands", "--json"])
            .output()
            .expect("inspector");
        assert!(
            out.status.success(),
            "trial {trial}: the cut file opens: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cmds: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let text: Vec<String> = cmds.iter().map(Value::to_string).collect();
        let old_enough: Vec<&String> = markers
            .iter()
            .filter(|(_, at)| killed.duration_since(*at) >= Duration::from_millis(1500))
            .map(|(m, _)| m)
            .collect();
        assert!(
            !old_enough.is_empty(),
            "trial {trial}: markers ran 1.5 s before the kill"
        );
        for m in &old_enough {
            assert!(
                text.iter().any(|t| t.contains(m.as_str())),
                "trial {trial} (killed {kill_after:?} in): {m}, run >= 1.5 s before the kill, is not in the file ({} commands)",
                cmds.len()
            );
        }
        // verify reports the cut (the missing index and tail), not success.
        let v = verify(&partial);
        assert_eq!(
            v.status.code(),
            Some(2),
            "trial {trial}: verify reports the file damaged: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
}

/// Runs 500 opens of `file` (one rule match each) over about `secs` seconds, as bash
/// redirections (no fork per open).
fn storm(file: &Path, secs: f64) -> std::process::Child {
    let pause = secs / 500.0;
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "for i in $(seq 500); do : < {}; read -t {pause:.3} <> <(:) || true; done",
            file.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .expect("start the storm")
}

fn storm_daemon(work: &Path, throttle: &str, max_window: &str) -> (Daemon, std::path::PathBuf) {
    let target = work.join("storm-target");
    std::fs::write(&target, b"x").expect("target");
    let rules = work.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Storm\n  condition: evt.type in (open, openat) and fd.name = {}\n  priority: NOTICE\n",
            target.display()
        ),
    )
    .expect("rules");
    let config = work.join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "before = \"3s\"\nafter = \"1s\"\nmax_window = \"{max_window}\"\nrule_throttle = \"{throttle}\"\nmax_alerts_per_capture = 100\nrules = \"{}\"\n",
            rules.display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(
        work,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .expect("daemon");
    (daemon, target)
}

fn summary_of(capture: &Path) -> Value {
    inspector_json(capture, "summary").remove(0)
}

/// A storm of 500 rule alerts plus one `aftertrace-recorder trigger`: the trigger's alert
/// is kept verbatim (whatever the cap), the first alert's pre-window is in the first
/// capture, the window is split at max_window into captures that name the previous one,
/// and every rule alert is either kept or counted.
#[test]
fn a_storm_keeps_the_trigger_and_the_first_pre_window() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let (daemon, target) = storm_daemon(work.path(), "0s", "6s");
    std::thread::sleep(Duration::from_secs(1));
    let marker = Command::new("/bin/echo")
        .arg("storm-pre-window-marker")
        .stdout(Stdio::null())
        .status()
        .expect("marker");
    assert!(marker.success());
    std::thread::sleep(Duration::from_secs(1));
    let mut storm = storm(&target, 9.0);
    std::thread::sleep(Duration::from_secs(4));
    let reason = "operator during the storm";
    daemon
        .cli(&["trigger", "--reason", reason])
        .expect("the trigger is accepted");
    assert!(storm.wait().expect("storm").success());
    std::thread::sleep(Duration::from_secs(3));
    let status: Value =
        serde_json::from_str(&daemon.cli(&["status", "--json"]).expect("status")).expect("JSON");
    assert!(status["windows_split"].as_u64() >= Some(1), "{status}");
    let dir = daemon.captures.clone();
    daemon.stop().expect("clean stop (seals what is open)");
    let mut captures: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("captures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "atcap"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 2, "a split window: {captures:?}");

    let summaries: Vec<(std::path::PathBuf, Value)> = captures
        .iter()
        .map(|c| (c.clone(), summary_of(c)))
        .collect();
    // The trigger's alert, verbatim.
    let triggers: Vec<&Value> = summaries
        .iter()
        .flat_map(|(_, s)| s["alerts"].as_array().expect("alerts").iter())
        .filter(|a| a["source"] == "cli")
        .collect();
    assert_eq!(triggers.len(), 1, "the trigger is kept exactly once");
    assert_eq!(triggers[0]["summary"], reason);
    let payload: Value =
        serde_json::from_str(triggers[0]["payload"].as_str().expect("payload")).expect("JSON");
    assert_eq!(
        payload,
        serde_json::json!({"cmd": "trigger", "reason": reason, "before_s": null, "after_s": null}),
        "the request exactly as the CLI sent it"
    );
    // Every rule alert kept or counted.
    let kept: usize = summaries
        .iter()
        .flat_map(|(_, s)| s["alerts"].as_array().expect("alerts").iter())
        .filter(|a| a["source"] == "rule:Storm")
        .count();
    let counted: u64 = summaries
        .iter()
        .map(|(_, s)| s["alerts_not_kept"].as_u64().unwrap_or(0))
        .sum();
    assert!(counted > 0, "beyond 100 per capture, alerts are counted");
    assert_eq!(
        kept as u64 + counted,
        500,
        "{kept} kept + {counted} counted"
    );

    // The first part: opened by the first rule alert, with its pre-window, continued.
    let (first, first_summary) = summaries
        .iter()
        .find(|(_, s)| s["previous_capture"].is_null())
        .expect("the first part");
    assert_eq!(first_summary["alerts"][0]["source"], "rule:Storm");
    assert_eq!(first_summary["continues_in_next"], true);
    let cmds = inspector_json(first, "commands");
    assert!(
        cmds.iter()
            .any(|c| c.to_string().contains("storm-pre-window-marker")),
        "the first alert's pre-window events are in the first capture"
    );
    // The next part names it.
    let first_name = first.file_name().expect("name").to_string_lossy();
    assert!(
        summaries
            .iter()
            .any(|(_, s)| s["previous_capture"] == first_name.as_ref()),
        "a capture continues {first_name}"
    );
    let text = Command::new(target_bin(INSPECTOR_BIN))
        .arg(first)
        .arg("summary")
        .output()
        .expect("summary");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("storm:      window split") && text.contains("alerts counted, not kept"),
        "{text}"
    );
}

/// With the default throttle (one alert per rule and container per minute), the same
/// storm (inside the alert's window) yields one rule alert and 499 counted on it.
#[test]
fn rules_are_throttled_per_rule_and_container() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let (daemon, target) = storm_daemon(work.path(), "60s", "600s");
    std::thread::sleep(Duration::from_secs(1));
    assert!(storm(&target, 0.3).wait().expect("storm").success());
    let captures = daemon
        .wait_for_captures(1, Duration::from_secs(20))
        .expect("a capture");
    daemon.stop().expect("clean stop");
    let s = summary_of(&captures[0]);
    let alerts = s["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{s}");
    assert_eq!(
        s["rules_throttled"],
        serde_json::json!([["Storm (host)", 499]]),
        "{s}"
    );
}

/// The built-in "written during this run, then executed" rule: a program compiled and
/// linked on the host and run (what every build does) is not an alert; a copied binary
/// run the same way still is.
#[test]
fn running_what_the_host_toolchain_built_is_not_a_dropper() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let daemon =
        Daemon::start(work.path(), &["--before", "1s", "--after", "1s"], &[]).expect("daemon");
    std::thread::sleep(Duration::from_secs(1));
    let src = work.path().join("hello.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").expect("source");
    let built = work.path().join("built");
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&built)
        .arg(&src)
        .status()
        .expect("cc");
    assert!(cc.success(), "cc builds the program");
    let run = |exe: &Path| -> u32 {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("echo $$; exec {}", exe.display()))
            .output()
            .expect("run");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pid")
    };
    let built_pid = run(&built);
    std::thread::sleep(Duration::from_secs(3));
    let dropped = work.path().join("dropped");
    std::fs::copy("/bin/true", &dropped).expect("cp");
    std::fs::set_permissions(&dropped, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dropped_pid = run(&dropped);
    daemon
        .wait_for_captures(1, Duration::from_secs(20))
        .expect("the dropper seals a capture");
    std::thread::sleep(Duration::from_secs(3));
    let captures = daemon.captures();
    daemon.stop().expect("clean stop");
    let fired: Vec<u64> = captures
        .iter()
        .flat_map(|c| {
            summary_of(c)["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["source"] == "rule:File written during this run, then executed")
        .filter_map(|a| {
            let payload: Value = serde_json::from_str(a["payload"].as_str()?).ok()?;
            payload["event"]["pid"].as_u64()
        })
        .collect();
    assert!(
        fired.contains(&u64::from(dropped_pid)),
        "the copied binary {dropped_pid} is an alert: {fired:?}"
    );
    assert!(
        !fired.contains(&u64::from(built_pid)),
        "the program cc built ({built_pid}) is not: {fired:?}"
    );
}
