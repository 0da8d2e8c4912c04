//! Files an adversary hands a responder: the CLI must stay within bounded memory on a
//! decompression bomb, and refuse inputs that are no files at once. The bomb is built by
//! `capture_format::hostile`, not committed.
#![cfg(target_os = "linux")]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_aftertrace-inspector");

/// The bar: every subcommand within 512 MiB of address space.
const ADDRESS_SPACE: u64 = 512 << 20;

/// Runs the inspector with its address space limited, on many threads (as on a big
/// laptop: memory that grows with the thread count shows), and returns what it did.
fn run_limited(file: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg(file).args(args).env("RAYON_NUM_THREADS", "16");
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE as libc::rlim_t,
                rlim_max: ADDRESS_SPACE as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run the inspector")
}

fn bomb(dir: &Path, name: &str, overlapping: bool) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes = capture_format::hostile::zero_bomb(100, overlapping);
    assert!(bytes.len() < 512 << 10, "the bomb is small on disk");
    std::fs::write(&path, bytes).expect("write the bomb");
    path
}

/// 100 chunks that each decompress (CRCs valid) to 64 MiB of zeros: 6.4 GiB if held at once.
/// Every subcommand ends normally: exit 0 with the bad chunks reported on stderr, or 2 from
/// `verify`, which names them.
#[test]
fn decompression_bomb_runs_in_512_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, overlapping) in [("bomb.atcap", false), ("bomb-overlapping.atcap", true)] {
        let file = bomb(dir.path(), name, overlapping);
        for sub in ["summary", "events", "scripts", "report", "verify"] {
            let out = run_limited(&file, &[sub]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let want = if sub == "verify" { 2 } else { 0 };
            assert_eq!(
                out.status.code(),
                Some(want),
                "{name} {sub}: {:?}, stderr: {stderr}",
                out.status
            );
            assert!(
                !stderr.contains("memory allocation"),
                "{name} {sub}: {stderr}"
            );
            if sub == "verify" {
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert_eq!(stdout.matches("BAD chunk").count(), 100, "{stdout}");
            } else if sub == "events" {
                assert_eq!(stderr.matches("bad event chunk").count(), 100, "{stderr}");
            }
        }
    }
}

fn assert_refused_fast(path: &Path, what: &str) {
    for args in [&["summary"][..], &["events"], &["verify"]] {
        let started = Instant::now();
        let out = Command::new(BIN)
            .arg(path)
            .args(args)
            .output()
            .expect("run the inspector");
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {stderr}");
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
        assert!(stderr.contains(what), "{args:?}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    }
}

#[test]
fn character_devices_are_refused_at_once() {
    assert_refused_fast(
        Path::new("/dev/zero"),
        "not a regular file (a character device)",
    );
    assert_refused_fast(
        Path::new("/dev/urandom"),
        "not a regular file (a character device)",
    );
}

/// A FIFO nobody writes to: opening it for reading would block forever.
#[test]
fn fifos_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("capture.atcap");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    assert_refused_fast(&fifo, "not a regular file (a FIFO)");
}

#[test]
fn directories_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_refused_fast(dir.path(), "not a regular file (a directory)");
}

/// A capture with every CRC and its index valid, but chunks moved: `verify` names the
/// chunk and exits 2 (text and JSON).
#[test]
fn verify_names_duplicated_dropped_and_swapped_chunks() {
    use capture_format::hostile::{events_blocks, reframe};
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = capture_format::fuzz_harness::sample_capture();
    let intact = dir.path().join("intact.atcap");
    std::fs::write(&intact, &sample).expect("write");
    let out = Command::new(BIN)
        .arg(&intact)
        .arg("verify")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("hash chain:") && text.contains("final hash "),
        "{text}"
    );

    let duplicated = reframe(&sample, |b| {
        let at = events_blocks(b)[2];
        let pair = b[at..at + 2].to_vec();
        b.splice(at + 2..at + 2, pair);
    });
    let dropped = reframe(&sample, |b| {
        let at = events_blocks(b)[3];
        b.drain(at..at + 2);
    });
    let swapped = reframe(&sample, |b| {
        let at = events_blocks(b)[5];
        let pair: Vec<_> = b.drain(at..at + 2).collect();
        b.splice(at + 2..at + 2, pair);
    });
    for (name, bytes, want) in [
        (
            "duplicated",
            duplicated,
            &["CHAIN BROKEN: chunk #3 at byte", "duplicates chunk #2"][..],
        ),
        (
            "dropped",
            dropped,
            &["CHAIN BROKEN: before chunk #3 at byte", "dropped"],
        ),
        (
            "swapped",
            swapped,
            &[
                "CHAIN BROKEN: chunk #5 at byte",
                "CHAIN BROKEN: chunk #6 at byte",
                "out of order",
            ],
        ),
    ] {
        let path = dir.path().join(format!("{name}.atcap"));
        std::fs::write(&path, bytes).expect("write");
        let out = Command::new(BIN)
            .arg(&path)
            .arg("verify")
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        for w in want {
            assert!(text.contains(w), "{name}: no {w:?} in {text}");
        }
        assert!(text.trim_end().ends_with("DAMAGED"), "{name}: {text}");
        let out = Command::new(BIN)
            .arg(&path)
            .args(["verify", "--json"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{name}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["intact"], false);
        assert!(
            !v["chain"]["problems"]
                .as_array()
                .expect("problems")
                .is_empty(),
            "{v}"
        );
        assert!(v["chain"]["problems"][0]["chunk"].is_u64(), "{v}");
    }
}

/// `verify --key PUB`: exit 0 with the right key, 3 with another key or after one byte of
/// the file changed (which also breaks its framing or chain: the signature decides).
#[test]
fn verify_key_checks_the_signature() {
    use capture_format::signature::{generate_key_files, sign_capture};
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("signed.atcap");
    std::fs::write(&capture, capture_format::fuzz_harness::sample_capture()).expect("write");
    let key = dir.path().join("node.key");
    let public = generate_key_files(&key).expect("keygen");
    let other = generate_key_files(&dir.path().join("other.key")).expect("keygen");
    sign_capture(&capture, &key).expect("sign");
    let verify = |key: &Path| {
        Command::new(BIN)
            .arg(&capture)
            .args(["verify", "--key"])
            .arg(key)
            .output()
            .expect("run")
    };

    let out = verify(&public);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("signature: good"), "{text}");
    let json = Command::new(BIN)
        .arg(&capture)
        .args(["verify", "--json", "--key"])
        .arg(&public)
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["signature"]["valid"], true, "{v}");

    let out = verify(&other);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("SIGNATURE BAD") && text.contains("not by the key"),
        "{text}"
    );

    let mut bytes = std::fs::read(&capture).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&capture, bytes).expect("write");
    let out = verify(&public);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("changed after it was signed"), "{text}");

    // Without a signature file, --key fails too.
    std::fs::remove_file(capture_format::signature::signature_path(&capture)).expect("rm");
    assert_eq!(verify(&public).status.code(), Some(3));
}
