//! The daemon end to end, over real HTTP against the real kernel: Falco and Alertmanager
//! alerts seal captures holding the record from before and after them, verbatim; storms stay
//! within bounds; kill -9 mid-seal loses no complete chunk; a full disk is survived.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use aftertrace_tests::{daemon::Daemon, require_root};
use capture_format::CaptureReader;

/// Falco's documented http_output sample (rule "Terminal shell in container").
const FALCO: &str = r#"{"output":"16:31:56.746609046: Notice A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 k8s.ns=<NA> k8s.pod=<NA> container=1c5e6f3c5a9b shell=sh parent=runc cmdline=sh -c ls terminal=34816 container_id=1c5e6f3c5a9b image=alpine)","priority":"Notice","rule":"Terminal shell in container","time":"2021-06-11T16:31:56.746609046Z","output_fields":{"container.id":"1c5e6f3c5a9b","container.image.repository":"alpine","evt.time":1623429116746609046,"proc.cmdline":"sh -c ls","proc.name":"sh","user.name":"root"}}"#;

const ALERTMANAGER: &str = r#"{"receiver":"aftertrace","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"prod"},"annotations":{"summary":"Pod is crash looping"},"startsAt":"2024-05-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":"3f"}],"groupLabels":{"alertname":"KubePodCrashLooping"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager","version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","truncatedAlerts":0}"#;

const SEC: u64 = 1_000_000_000;

/// The daemons these tests start record the whole node: one at a time keeps the storm and
/// the kill -9 rounds from starving each other on a 2-core machine.
static ONE_DAEMON: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_DAEMON.lock().unwrap_or_else(|e| e.into_inner())
}

/// The capture around one alert: events from `before` ahead of its receipt to `after`
/// past it, and the alert stored verbatim.
fn assert_window(capture: &Path, body: &str, source: &str, before: u64, after: u64) {
    let reader = CaptureReader::open(capture).expect("the capture opens");
    assert!(reader.damage().is_empty());
    let alert = reader
        .metadata()
        .alerts
        .iter()
        .find(|a| a.source == source)
        .unwrap_or_else(|| panic!("no {source} alert in {}", capture.display()));
    assert_eq!(alert.payload, body.as_bytes(), "stored verbatim");
    let (mut first, mut last) = (u64::MAX, 0);
    for e in reader.events() {
        let e = e.expect("intact");
        first = first.min(e.ts);
        last = last.max(e.ts);
    }
    let at = alert.received_boot_ns;
    assert!(
        first <= at - before,
        "starts {:.2}s before the alert",
        (at - first) as f64 / 1e9
    );
    assert!(
        last >= at + after - SEC / 2,
        "ends {:.2}s after the alert",
        (last as f64 - at as f64) / 1e9
    );
}

#[test]
fn falco_and_alertmanager_alerts_seal_the_window_around_them() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(
        dir.path(),
        &["--before", "2s", "--after", "1s", "--rules", "none"],
        &[],
    )
    .expect("daemon");
    // Let the buffer reach back further than the before window.
    std::thread::sleep(Duration::from_secs(3));

    let (code, body) = daemon
        .post("/alerts", FALCO.as_bytes(), None)
        .expect("post");
    assert_eq!(code, 202, "{body}");
    let first = daemon
        .wait_for_captures(1, Duration::from_secs(20))
        .expect("sealed");
    assert_window(&first[0], FALCO, "falco", 2 * SEC, SEC);
    // The inspector's summary gives the alert verbatim and the sealed window.
    let out = std::process::Command::new(aftertrace_tests::target_bin(
        aftertrace_tests::INSPECTOR_BIN,
    ))
    .arg(&first[0])
    .args(["summary", "--json"])
    .output()
    .expect("inspector");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["alerts"][0]["payload"], FALCO);
    assert_eq!(
        summary["alerts"][0]["summary"],
        "Terminal shell in container (Notice)"
    );
    assert_eq!(
        summary["alerts"][0]["payload_time"],
        "2021-06-11T16:31:56.746609046Z"
    );
    assert!(
        summary["window_start"].is_string() && summary["window_end"].is_string(),
        "{summary}"
    );
    let name = first[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.contains("terminal-shell-in-container"), "{name}");
    let manifest =
        std::fs::read_to_string(format!("{}.sha256", first[0].display())).expect("manifest");
    assert!(
        manifest.trim_end().ends_with(&format!("  {name}")),
        "{manifest}"
    );

    // Past the first window, an Alertmanager payload on its explicit path.
    std::thread::sleep(Duration::from_secs(1));
    let (code, body) = daemon
        .post("/alerts/alertmanager", ALERTMANAGER.as_bytes(), None)
        .expect("post");
    assert_eq!(code, 202, "{body}");
    let all = daemon
        .wait_for_captures(2, Duration::from_secs(20))
        .expect("sealed");
    let second = all
        .iter()
        .find(|p| !first.contains(p))
        .expect("a new capture");
    assert_window(second, ALERTMANAGER, "alertmanager", 2 * SEC, SEC);

    // Bad input gets a reason and the daemon keeps recording.
    let (code, body) = daemon.post("/alerts", b"{not json", None).expect("post");
    assert_eq!(code, 400, "{body}");
    let (code, _) = daemon
        .post("/alerts/falco", ALERTMANAGER.as_bytes(), None)
        .expect("post");
    assert_eq!(code, 400);
    let big = vec![b' '; 2 << 20];
    let (code, _) = daemon.post("/alerts", &big, None).expect("post");
    assert_eq!(code, 413);
    let status = daemon.cli(&["status", "--json"]).expect("status");
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert_eq!(status["captures"], 2);
    daemon.stop().expect("clean stop");
}

#[test]
fn an_alert_storm_stays_within_bounds() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aftertrace.toml");
    std::fs::write(
        &config,
        "before = \"1s\"\nafter = \"1s\"\nbuffer_bytes = \"16M\"\nmax_captures = 3\nmax_captures_bytes = \"64M\"\nmax_captures_per_minute = 4\nmax_alerts_per_capture = 50\nmax_window = \"5s\"\n",
    )
    .expect("config");
    let cfg = config.to_str().expect("path");
    let daemon =
        Daemon::start(dir.path(), &["--config", cfg, "--rules", "none"], &[]).expect("daemon");
    std::thread::sleep(Duration::from_secs(2));

    // 1,000 alerts/s for 10 s from 4 senders.
    let started = Instant::now();
    let sent: u64 = std::thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while started.elapsed() < Duration::from_secs(10) {
                        let due = started.elapsed().as_secs_f64() * 250.0;
                        if (n as f64) < due {
                            let (code, body) = daemon
                                .post("/alerts", FALCO.as_bytes(), None)
                                .expect("post");
                            assert!(code == 202 || code == 503, "{code} {body}");
                            n += 1;
                        } else {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    n
                })
            })
            .collect();
        // The daemon answers status in the middle of the storm.
        std::thread::sleep(Duration::from_secs(5));
        let t = Instant::now();
        daemon
            .cli(&["status", "--json"])
            .expect("status during the storm");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "status took {:?}",
            t.elapsed()
        );
        senders.into_iter().map(|h| h.join().expect("sender")).sum()
    });
    assert!(sent >= 8_000, "only {sent} alerts sent in 10 s");
    std::thread::sleep(Duration::from_secs(4));

    let status: serde_json::Value =
        serde_json::from_str(&daemon.cli(&["status", "--json"]).expect("status")).expect("JSON");
    assert!(
        status["alerts"].as_u64().expect("alerts") >= sent * 9 / 10,
        "{status}"
    );
    assert!(
        status["buffer_bytes"].as_u64().expect("bytes") <= 16 << 20,
        "{status}"
    );
    // Memory: the buffer cap plus a bounded overhead, not thousands of windows.
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(rss_kib < 400 * 1024, "peak RSS {rss_kib} KiB");
    let captures = daemon.captures();
    assert!(
        !captures.is_empty() && captures.len() <= 3,
        "{} captures kept",
        captures.len()
    );
    let total: u64 = captures
        .iter()
        .map(|c| std::fs::metadata(c).expect("meta").len())
        .sum();
    assert!(total <= 64 << 20);
    // Windows were merged: each capture holds many alerts, the rest counted.
    let reader = CaptureReader::open(&captures[captures.len() - 1]).expect("opens");
    assert!(reader.metadata().alerts.len() >= 2, "merged alerts");
    daemon.stop().expect("clean stop");
}

#[test]
fn kill_9_while_sealing_loses_no_complete_chunk() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        let daemon = Daemon::start(
            dir.path(),
            &["--before", "2s", "--after", "100ms", "--rules", "none"],
            &[("AFTERTRACE_TEST_SLOW_SEAL_MS", "40")],
        )
        .expect("daemon");
        std::thread::sleep(Duration::from_millis(1500));
        daemon
            .cli(&["trigger", "--reason", &format!("round {round}")])
            .expect("trigger");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(200 + rng % 600));
        daemon.kill9().expect("kill -9");
    }
    let captures_dir = dir.path().join("captures");
    let mut files = 0;
    for entry in std::fs::read_dir(&captures_dir)
        .expect("captures dir")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "sha256") {
            continue;
        }
        files += 1;
        let reader = CaptureReader::open(&path)
            .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
        let len = std::fs::metadata(&path).expect("meta").len();
        // Only the tail that was being written may be lost; every chunk before it reads.
        for lost in &reader.damage().lost {
            assert_eq!(
                lost.end,
                len,
                "{}: a loss before the cut: {lost:?}",
                path.display()
            );
        }
        for i in 0..reader.chunks().len() {
            reader
                .chunk_events(i)
                .unwrap_or_else(|e| panic!("{} chunk {i}: {e}", path.display()));
        }
    }
    assert!(files >= 10, "only {files} files from 20 rounds");
}

#[test]
fn a_full_disk_is_survived_and_the_next_capture_succeeds() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).expect("dir");
    let mounted = std::process::Command::new("mount")
        // Owner-only, as the daemon requires of its captures directory. Room for a
        // capture of the whole node's 2.5 s even while other work runs (a
        // capture that can never fit would only test the retry forever).
        .args(["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs"])
        .arg(&captures)
        .status()
        .expect("mount");
    assert!(mounted.success(), "mounting a tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&captures);
    // Fill it up.
    let filler = captures.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 16 << 20]);

    let daemon = Daemon::start(
        dir.path(),
        &["--before", "2s", "--after", "500ms", "--rules", "none"],
        &[],
    )
    .expect("daemon");
    std::thread::sleep(Duration::from_secs(3));
    daemon
        .cli(&["trigger", "--reason", "disk full"])
        .expect("trigger");
    std::thread::sleep(Duration::from_secs(3));
    let status: serde_json::Value =
        serde_json::from_str(&daemon.cli(&["status", "--json"]).expect("status")).expect("JSON");
    assert!(status["captures_failed"].as_u64() >= Some(1), "{status}");
    assert_eq!(status["captures"], 0);
    assert!(daemon.captures().is_empty());

    std::fs::remove_file(&filler).expect("free space");
    let sealed = daemon
        .wait_for_captures(1, Duration::from_secs(20))
        .expect("sealed after space returned");
    let reader = CaptureReader::open(&sealed[0]).expect("opens");
    assert!(reader.damage().is_empty());
    assert!(reader
        .metadata()
        .alerts
        .iter()
        .any(|a| a.summary == "disk full"));
    daemon.stop().expect("clean stop");
}

#[test]
fn built_in_rules_seal_captures_on_their_own() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon =
        Daemon::start(dir.path(), &["--before", "1s", "--after", "1s"], &[]).expect("daemon");
    std::thread::sleep(Duration::from_secs(2));
    // Read the password hashes, then drop a program and run it.
    let dropped = dir.path().join("dropped");
    let script = format!(
        "cat /etc/shadow > /dev/null; cp /bin/true {0}; {0}",
        dropped.display()
    );
    let status = std::process::Command::new("bash")
        .args(["-c", &script])
        .status()
        .expect("workload");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let wanted = [
        "rule:Read of /etc/shadow",
        "rule:File written during this run, then executed",
    ];
    loop {
        let sources: Vec<String> = daemon
            .captures()
            .iter()
            .filter_map(|c| CaptureReader::open(c).ok())
            .flat_map(|r| {
                r.metadata()
                    .alerts
                    .iter()
                    .map(|a| a.source.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        if wanted.iter().all(|w| sources.iter().any(|s| s == w)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rules did not fire: got {sources:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The rule's alert carries the event that matched, verbatim JSON.
    let reader = CaptureReader::open(&daemon.captures()[0]).expect("opens");
    let alert = reader
        .metadata()
        .alerts
        .iter()
        .find(|a| a.source == wanted[0])
        .expect("shadow alert");
    let payload: serde_json::Value = serde_json::from_slice(&alert.payload).expect("JSON payload");
    assert_eq!(payload["rule"], "Read of /etc/shadow");
    daemon.stop().expect("clean stop");
}

/// With `--signing-key`, every sealed capture gets a detached `.sig` beside its `.sha256`
/// that verifies with the public key (and not with another), over a file whose hash chain
/// is intact.
#[test]
fn a_signing_key_signs_every_sealed_capture() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("node.key");
    let public = capture_format::signature::generate_key_files(&key).expect("keygen");
    let other = capture_format::signature::generate_key_files(&dir.path().join("other.key"))
        .expect("keygen");
    let key_arg = key.display().to_string();
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--before",
            "1s",
            "--after",
            "1s",
            "--rules",
            "none",
            "--signing-key",
            &key_arg,
        ],
        &[],
    )
    .expect("daemon");
    std::thread::sleep(Duration::from_secs(2));
    let (code, body) = daemon
        .post("/alerts", FALCO.as_bytes(), None)
        .expect("post");
    assert_eq!(code, 202, "{body}");
    let capture = daemon
        .wait_for_captures(1, Duration::from_secs(30))
        .expect("a capture")
        .remove(0);
    let sig = capture_format::signature::signature_path(&capture);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sig.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop().expect("daemon stops");
    let mut sha = capture.as_os_str().to_owned();
    sha.push(".sha256");
    assert!(Path::new(&sha).exists(), "the .sha256 is still written");
    let report = CaptureReader::open(&capture).expect("opens").verify();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.chain.expect("a 1.1 chain").problems.is_empty());
    capture_format::signature::verify_capture_signature(&capture, &public)
        .expect("the signature verifies with the daemon's public key");
    assert!(capture_format::signature::verify_capture_signature(&capture, &other).is_err());
}
