//! `export -o OUT.atcap --container X --around T`: two podman containers run the same
//! attack script at the same time while the host makes noise; the export of one of them
//! around its dropped script's run must read alone (verify), be smaller, give the same
//! commands and the same script bytes as the original filtered to that container and
//! window, and hold nothing of the other container or the host in any block.
//! Bad input (unknown container, empty selection, unwritable output) gets its documented
//! exit code and leaves no file behind.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use aftertrace_tests::{podman, recorder::BackgroundRecorder, require_root, target_bin};
use capture_format::{CaptureReader, EventBody};
use serde_json::Value;

const SCRIPT: &str = r#"sleep 1
printf '#!/bin/sh\necho from-dropped-script-%s\n' "$(hostname)" > /tmp/dropper.sh
chmod +x /tmp/dropper.sh
/tmp/dropper.sh
cat /etc/shadow > /dev/null 2>&1
echo secret-of-$(hostname) > /tmp/out
sleep 1
"#;

fn inspector(args: &[&str]) -> std::process::Output {
    Command::new(target_bin(aftertrace_tests::INSPECTOR_BIN))
        .args(args)
        .output()
        .expect("run the inspector")
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "inspector failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn sha256s(scripts: &[Value]) -> BTreeSet<String> {
    scripts
        .iter()
        .filter_map(|s| s["sha256"].as_str().map(str::to_owned))
        .collect()
}

/// The EXPORT block's JSON, found by walking the blocks (docs/capture-format.md, 2.2).
fn export_block(bytes: &[u8]) -> Option<Value> {
    let mut pos = 32usize;
    while pos + 20 <= bytes.len() && &bytes[pos..pos + 4] == b"ATBK" {
        let kind = u16::from_le_bytes([bytes[pos + 4], bytes[pos + 5]]);
        let len = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().ok()?) as usize;
        let end = pos + 16 + len;
        if kind == 0x8001 {
            return serde_json::from_slice(bytes.get(pos + 16..end)?).ok();
        }
        pos = end + 4;
    }
    None
}

#[test]
fn one_container_around_a_moment_reads_alone_and_leaks_nothing() {
    require_root();
    podman::check_podman().expect("podman works");
    let image = podman::ensure_test_image().expect("test image");
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("two.atcap");
    let cap = capture.to_str().expect("utf-8 path");

    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");
    let host_noise = std::thread::spawn(|| {
        for _ in 0..20 {
            let _ = Command::new("sh")
                .args(["-c", "cat /etc/hostname > /dev/null; ls /tmp > /dev/null"])
                .status();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let img = image.clone();
    let other = std::thread::spawn(move || {
        podman::run_in_container(&img, &["bash", "-c", SCRIPT]).expect("container B")
    });
    let ours = podman::run_in_container(&image, &["bash", "-c", SCRIPT]).expect("container A");
    let other = other.join().expect("container B thread");
    host_noise.join().expect("host noise thread");
    recorder.stop().expect("recorder stops cleanly");
    assert!(ours.status.success(), "{}", ours.stderr_text());
    assert!(other.status.success(), "{}", other.stderr_text());

    // The moment: our container's run of the dropped script.
    let commands = json_lines(&inspector(&[cap, "commands", "--json"]));
    let moment = commands
        .iter()
        .find(|c| c["container_id"] == ours.id.as_str() && c["exe"] == "/tmp/dropper.sh")
        .expect("the dropped script's exec in container A")["time"]
        .as_str()
        .expect("time")
        .to_owned();
    assert!(
        commands
            .iter()
            .any(|c| c["container_id"] == other.id.as_str()),
        "container B's commands are in the original"
    );

    let export = dir.path().join("ticket.atcap");
    let exp = export.to_str().expect("utf-8 path");
    let window = ["--around", moment.as_str(), "--window", "3s"];
    let mut args = vec![cap, "export", "-o", exp, "--container", ours.name.as_str()];
    args.extend(window);
    let out = inspector(&args);
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!Path::new(&format!("{exp}.partial")).exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&export).expect("export").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the export is created 0600");

    // Reads alone, and is smaller.
    let verify = inspector(&[exp, "verify"]);
    assert!(verify.status.success(), "the export verifies");
    let (orig_len, exp_len) = (
        std::fs::metadata(&capture).expect("capture").len(),
        std::fs::metadata(&export).expect("export").len(),
    );
    assert!(
        exp_len < orig_len,
        "export {exp_len} B < capture {orig_len} B"
    );

    // Same commands and script bytes as the original filtered to the container and window.
    let select = format!("container.full_id = {}", ours.id);
    let mut filtered = vec![cap, "commands", "--json", "--filter", select.as_str()];
    filtered.extend(window);
    let want = json_lines(&inspector(&filtered));
    let got = json_lines(&inspector(&[exp, "commands", "--json"]));
    assert!(
        want.iter().any(|c| c["exe"] == "/tmp/dropper.sh"),
        "the window holds the script's run: {want:?}"
    );
    assert_eq!(
        got, want,
        "commands of the export = the original's, filtered"
    );

    let mut filtered = vec![cap, "scripts", "--json", "--filter", select.as_str()];
    filtered.extend(window);
    let want = sha256s(&json_lines(&inspector(&filtered)));
    let got = sha256s(&json_lines(&inspector(&[exp, "scripts", "--json"])));
    assert!(!want.is_empty(), "the original shows container A's scripts");
    assert_eq!(got, want, "the scripts' sha256s are the same");

    // Nothing of container B or the host, in any block.
    let orig = CaptureReader::open(&capture).expect("capture");
    let a = orig
        .metadata()
        .containers
        .iter()
        .find(|c| c.id == ours.id)
        .expect("container A in the capture")
        .clone();
    let mut a_pids = BTreeSet::new();
    for e in orig.events() {
        let e = e.expect("event");
        let cg = match &e.body {
            EventBody::Syscall(s) => s.cgroup_id,
            EventBody::Fork(f) => f.cgroup_id,
            EventBody::Exec(x) => x.cgroup_id,
            _ => continue,
        };
        if a.cgroup_ids.contains(&cg) {
            a_pids.insert(e.pid);
        }
    }
    let r = CaptureReader::open(&export).expect("export opens");
    assert!(r.damage().is_empty());
    let meta = r.metadata();
    assert_eq!(
        meta.containers.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&ours.id],
        "only container A is described"
    );
    for p in meta.processes.iter().flat_map(|s| &s.processes) {
        assert!(
            a.cgroup_ids.contains(&p.cgroup_id),
            "process {} ({}) outside container A in the state table",
            p.pid,
            p.comm
        );
        for fd in &p.fds {
            let name = String::from_utf8_lossy(&fd.name);
            assert!(!name.contains(&other.id), "fd of B: {name}");
        }
    }
    for u in &meta.users.users {
        assert_eq!(
            u.container_id, ours.id,
            "user {} not of container A",
            u.name
        );
    }
    for g in &meta.users.groups {
        assert_eq!(
            g.container_id, ours.id,
            "group {} not of container A",
            g.name
        );
    }
    let mut records = 0;
    for e in r.events() {
        let e = e.expect("every chunk of the export decodes");
        records += 1;
        let cg = match &e.body {
            EventBody::Syscall(s) => Some(s.cgroup_id),
            EventBody::Fork(f) => Some(f.cgroup_id),
            EventBody::Exec(x) => Some(x.cgroup_id),
            EventBody::CgroupMkdir(_) => panic!("a cgroup_mkdir (host) record leaked: {e:?}"),
            EventBody::Exit(_) => None,
        };
        if let Some(cg) = cg {
            assert!(a.cgroup_ids.contains(&cg), "record outside A: {e:?}");
        }
        assert!(
            a_pids.contains(&e.pid),
            "record of a process never in A: {e:?}"
        );
    }
    assert!(records > 0);
    // Neither B's id nor its name appears in any decoded block or in the raw file.
    let text = format!("{meta:?}");
    assert!(!text.contains(&other.id) && !text.contains(&other.name));
    let raw = std::fs::read(&export).expect("export bytes");
    assert!(!raw
        .windows(other.name.len())
        .any(|w| w == other.name.as_bytes()));
    let unknown: Vec<u16> = r.unknown_blocks().iter().map(|b| b.kind).collect();
    assert_eq!(
        unknown,
        vec![0x8001],
        "one EXPORT block, nothing else unknown"
    );
    let block = export_block(&raw).expect("EXPORT block");
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(std::fs::read(&capture).expect("capture bytes"));
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(block["source"]["sha256"], digest.as_str());
    assert_eq!(block["selection"]["container_id"], ours.id.as_str());

    // Bad input: documented exit codes, nothing left behind.
    let bad = dir.path().join("bad.atcap");
    let b = bad.to_str().expect("utf-8 path");
    let out = inspector(&[cap, "export", "-o", b, "--container", "no-such-container"]);
    assert_eq!(out.status.code(), Some(64), "unknown container");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-container"));
    let out = inspector(&[
        cap,
        "export",
        "-o",
        b,
        "--filter",
        "proc.name = no-such-process",
    ]);
    assert_eq!(out.status.code(), Some(3), "empty selection");
    let out = inspector(&[cap, "export", "-o", "/proc/no-such-dir/x.atcap"]);
    assert_eq!(out.status.code(), Some(73), "unwritable output");
    assert!(!bad.exists() && !Path::new(&format!("{b}.partial")).exists());
}
