//! `export --redact` and `report --redact`: secrets planted in a workload recorded on a pty
//! (a token assigned to an environment variable, an argv `--password=...`, a config file
//! written with a password, an HTTP `Authorization:` header sent to a real loopback server,
//! and a password typed at `read -s`) are absent from every decompressed block of the
//! redacted export and from the redacted report, and the REDACTION ledger lists each.
//! The capture records no envp (exec records carry argv only), so the environment token is
//! planted where it does show: the script's text and the assignment's command line.

use std::process::{Command, Stdio};

use aftertrace_tests::{pty::PtySession, recorder::BackgroundRecorder, require_root, target_bin};
use serde_json::Value;

const ENV_TOKEN: &str = "tokplantedenv1234";
const ARGV_PASSWORD: &str = "pwplantedargv5678";
const CONFIG_PASSWORD: &str = "cfgplanted9012";
const HEADER_TOKEN: &str = "hdrplanted3456";
const TYPED_PASSWORD: &str = "typedplanted7890";

/// Every block's payload, decompressed (events and metadata are zstd; extension blocks
/// are plain JSON), concatenated.
fn decompressed_blocks(bytes: &[u8]) -> (Vec<u8>, Option<Value>) {
    let mut all = Vec::new();
    let mut ledger = None;
    let mut pos = 32usize;
    while pos + 20 <= bytes.len() && &bytes[pos..pos + 4] == b"ATBK" {
        let kind = u16::from_le_bytes([bytes[pos + 4], bytes[pos + 5]]);
        let len = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()) as usize;
        let payload = &bytes[pos + 16..pos + 16 + len];
        match kind {
            0x0010 => all.extend(zstd::decode_all(&payload[48..]).expect("chunk inflates")),
            // The index, and the hash chain's links (format 1.1): not compressed.
            0x0020 | 0x0008 => all.extend_from_slice(payload),
            k if k >= 0x8000 => {
                if k == 0x8002 {
                    ledger = Some(serde_json::from_slice(payload).expect("ledger JSON"));
                }
                all.extend_from_slice(payload);
            }
            _ => all.extend(zstd::decode_all(payload).expect("metadata inflates")),
        }
        pos += 20 + len;
    }
    // The tail (index offset and end magic, docs/capture-format.md) follows the last block.
    assert!(bytes.len() - pos <= 64, "walked every block up to the tail");
    (all, ledger)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn planted_secrets_are_masked_and_listed() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8").to_owned();
    let capture = dir.path().join("secrets.atcap");

    // A real HTTP server on loopback, to receive the header.
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let port = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("server banner");
        line.split("port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("port in banner")
            .to_owned()
    };
    let script = format!(
        "export API_TOKEN={ENV_TOKEN}\n\
         sh -c 'echo ${{#API_TOKEN}}' > /dev/null\n\
         true --password={ARGV_PASSWORD}\n\
         printf 'db_password: {CONFIG_PASSWORD}\\n' > {d}/app.conf\n\
         curl -s -o /dev/null -H 'Authorization: Bearer {HEADER_TOKEN}' http://127.0.0.1:{port}/\n\
         read -s -p 'Password: ' PW\n\
         echo\n\
         echo \"got ${{#PW}} chars\"\n\
         echo visible-after-prompt\n"
    );
    std::fs::write(dir.path().join("work.sh"), script).expect("script");

    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");
    let mut session = PtySession::spawn(
        "bash",
        &["--norc", "--noprofile", &format!("{d}/work.sh")],
        &[("TERM", "dumb")],
    )
    .expect("pty");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    session
        .type_line(&format!("{TYPED_PASSWORD}\n"))
        .expect("type the password");
    let screen = session.finish().expect("script ends");
    recorder.stop().expect("recorder");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        screen.contains(&format!("got {} chars", TYPED_PASSWORD.len())),
        "read -s got the password: {screen}"
    );
    assert!(!screen.contains(TYPED_PASSWORD), "echo was off: {screen}");

    let inspector = target_bin(aftertrace_tests::INSPECTOR_BIN);
    // The unredacted capture holds every secret (else the test proves nothing).
    let raw = std::fs::read(&capture).expect("capture");
    let (plain, _) = decompressed_blocks(&raw);
    for s in [
        ENV_TOKEN,
        ARGV_PASSWORD,
        CONFIG_PASSWORD,
        HEADER_TOKEN,
        TYPED_PASSWORD,
    ] {
        assert!(contains(&plain, s), "the capture records {s}");
    }

    let export = dir.path().join("redacted.atcap");
    let out = Command::new(&inspector)
        .arg(&capture)
        .args(["export", "--redact", "-o"])
        .arg(&export)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "export --redact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&export).expect("export bytes");
    let (all, ledger) = decompressed_blocks(&bytes);
    for s in [
        ENV_TOKEN,
        ARGV_PASSWORD,
        CONFIG_PASSWORD,
        HEADER_TOKEN,
        TYPED_PASSWORD,
    ] {
        assert!(!contains(&all, s), "{s} is in the redacted export");
    }
    let ledger = ledger.expect("a REDACTION block");
    let kinds: Vec<&str> = ledger["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in [
        "secret-assignment",
        "authorization-header",
        "typed-echo-off",
    ] {
        assert!(kinds.contains(&k), "ledger lists {k}: {kinds:?}");
    }
    let verify = Command::new(&inspector)
        .arg(&export)
        .arg("verify")
        .status()
        .expect("verify");
    assert!(verify.success(), "the redacted export verifies");

    let report = Command::new(&inspector)
        .arg(&capture)
        .args(["report", "--redact"])
        .output()
        .expect("report");
    assert!(report.status.success());
    let text = report.stdout;
    for s in [
        ENV_TOKEN,
        ARGV_PASSWORD,
        CONFIG_PASSWORD,
        HEADER_TOKEN,
        TYPED_PASSWORD,
    ] {
        assert!(!contains(&text, s), "{s} is in report --redact");
    }
    assert!(
        contains(&text, "## Redactions"),
        "the report lists the ledger"
    );
    assert!(contains(&text, "typed-echo-off"));
    // What was not secret is still there.
    assert!(contains(&text, "visible-after-prompt"));
}
