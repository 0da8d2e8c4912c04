//! Scripted attacks inside a podman container, and an interactive shell on a pty, recorded
//! by the real recorder; the container is gone before the capture is read. The inspector
//! must give back every script byte for byte (sha256 equal to the original's, one of them
//! over 40 KiB) whatever way it arrived: written to /tmp, chmodded and run; a base64 pipe
//! into bash; a heredoc written then run with `sh FILE`; a `sh -c` one-liner; a script
//! fetched from a web server on the container's loopback and piped to `sh`; a cron entry
//! dropped. `sessions` must show the typed lines, and `report` the container, the dropped
//! script with its sha256 and the commands in order.

use std::{fs, path::Path, process::Command, time::Duration};

use aftertrace_tests::{
    podman, pty::PtySession, recorder::BackgroundRecorder, require_root, target_bin, INSPECTOR_BIN,
};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn inspector(capture: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(target_bin(INSPECTOR_BIN))
        .arg(capture)
        .args(args)
        .output()
        .expect("inspector runs");
    assert!(
        out.status.success(),
        "inspector {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(capture: &Path, args: &[&str]) -> Vec<Value> {
    String::from_utf8_lossy(&inspector(capture, args).stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// A shell script of more than 40 KiB that prints `tag` at its end.
fn big_script(tag: &str) -> Vec<u8> {
    let mut s = String::from("#!/bin/sh\n# a long script: every line is kept\n");
    let mut i = 0;
    while s.len() < 44 * 1024 {
        s.push_str(&format!(
            "x{i}='line {i} of the long script, padded to make it long enough to matter'\n"
        ));
        i += 1;
    }
    s.push_str(&format!("echo {tag}\n"));
    s.into_bytes()
}

const DROPPED: &str = "#!/bin/sh\necho dropped-ran\n";
const PIPED: &str = "echo from-base64\n";
const HEREDOC: &str = "echo from-heredoc\necho heredoc-line-2\n";
const ONE_LINER: &str = "echo one-liner";
const CRON: &str = "* * * * * /tmp/drop.sh\n";
const FETCHED: &str = "#!/bin/sh\necho fetched-ran\n";

/// The workload, run as `sh /in/attack.sh` in the container (/in is a read-only volume
/// with big.b64, www/x.sh and www/big.sh).
fn attack() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        r#"set -e
mkdir -p /www /var/spool/cron/crontabs
printf '#!/bin/sh\necho dropped-ran\n' > /tmp/drop.sh
chmod +x /tmp/drop.sh
/tmp/drop.sh
base64 -d /in/big.b64 > /tmp/big.sh
chmod 755 /tmp/big.sh
sh /tmp/big.sh
echo {piped} | base64 -d | bash
cat > /tmp/here.sh <<'EOF'
{heredoc}EOF
sh /tmp/here.sh
sh -c '{one_liner}'
cp /in/www/x.sh /in/www/big.sh /www/
httpd -f -p 127.0.0.1:8000 -h /www &
sleep 0.5
wget -q -O- http://127.0.0.1:8000/x.sh | sh
wget -q -O- http://127.0.0.1:8000/big.sh | bash
kill %1
echo '{cron}' >> /var/spool/cron/crontabs/root
"#,
        piped = b64.encode(PIPED),
        heredoc = HEREDOC,
        one_liner = ONE_LINER,
        cron = CRON.trim_end(),
    )
}

#[test]
fn scripts_sessions_and_report_are_rebuilt() {
    require_root();
    podman::check_podman().expect("podman works");
    let image = podman::ensure_test_image().expect("test image");
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("reconstruction.atcap");

    // The volume the container reads its workload from.
    let input = dir.path().join("in");
    fs::create_dir_all(input.join("www")).expect("mkdir");
    let big = big_script("big-file-ran");
    let fetched_big = big_script("fetched-big-ran");
    assert!(big.len() > 40 * 1024 && fetched_big.len() > 40 * 1024);
    fs::write(
        input.join("big.b64"),
        base64::engine::general_purpose::STANDARD.encode(&big),
    )
    .expect("write");
    fs::write(input.join("www/x.sh"), FETCHED).expect("write");
    fs::write(input.join("www/big.sh"), &fetched_big).expect("write");
    fs::write(input.join("attack.sh"), attack()).expect("write");
    let cidfile = dir.path().join("cid");
    let name = format!(
        "{}reconstruction-{}",
        podman::CONTAINER_NAME_PREFIX,
        std::process::id()
    );

    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");
    let run = podman::podman_command()
        .args(["run", "--rm", "--network", "none", "--name", &name])
        .arg("--cidfile")
        .arg(&cidfile)
        .arg("-v")
        .arg(format!("{}:/in:ro", input.display()))
        .args([image.as_str(), "sh", "/in/attack.sh"])
        .output()
        .expect("podman run");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "container failed: {stdout} {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for tag in [
        "dropped-ran",
        "big-file-ran",
        "from-base64",
        "from-heredoc",
        "one-liner",
        "fetched-ran",
        "fetched-big-ran",
    ] {
        assert!(stdout.contains(tag), "{tag} not in {stdout}");
    }
    let container_id = fs::read_to_string(&cidfile)
        .expect("cidfile")
        .trim()
        .to_owned();
    assert!(podman::is_container_id(&container_id));

    // An interactive shell on the host, typed into through a pty, with a typo fixed.
    let mut session = PtySession::spawn(
        "bash",
        &["--norc", "--noprofile", "-i"],
        &[
            ("PS1", "rec$ "),
            ("TERM", "dumb"),
            ("HISTFILE", "/dev/null"),
        ],
    )
    .expect("pty");
    session
        .type_line("echo typo\x7f\x7f\x7f\x7fsession-ok\n")
        .expect("type");
    session.type_line("id -u\n").expect("type");
    session.type_line("exit\n").expect("type");
    let screen = session.finish().expect("session ends");
    assert!(screen.contains("session-ok"), "{screen}");
    std::thread::sleep(Duration::from_millis(200));
    recorder.stop().expect("recorder stops cleanly");
    // Keep the capture for a look when asked to.
    if let Some(keep) = std::env::var_os("AFTERTRACE_KEEP_CAPTURE") {
        fs::copy(&capture, keep).expect("copy the capture");
    }

    // Commands: exact argv and the container's full id.
    let commands = json_lines(&capture, &["commands", "--json"]);
    let ours: Vec<&Value> = commands
        .iter()
        .filter(|c| c["container_id"] == container_id.as_str())
        .collect();
    for argv in [
        vec!["sh", "/in/attack.sh"],
        vec!["/bin/sh", "/tmp/drop.sh"],
        vec!["base64", "-d"],
        vec!["bash"],
        vec!["sh", "/tmp/here.sh"],
        vec!["sh", "-c", ONE_LINER],
        vec!["wget", "-q", "-O-", "http://127.0.0.1:8000/x.sh"],
    ] {
        assert!(
            ours.iter().any(|c| c["argv"] == serde_json::json!(argv)),
            "no command {argv:?} in the container: {ours:#?}"
        );
    }

    // Scripts: every one byte for byte.
    let scripts = json_lines(&capture, &["scripts", "--json"]);
    let mine: Vec<&Value> = scripts
        .iter()
        .filter(|s| s["container_id"] == container_id.as_str())
        .collect();
    let find = |source: &str, path: Option<&str>, content: &[u8]| -> &Value {
        let want = sha(content);
        mine.iter()
            .copied()
            .find(|s| {
                s["source"] == source
                    && path.is_none_or(|p| s["path"] == p)
                    && s["sha256"] == want.as_str()
            })
            .unwrap_or_else(|| {
                let have: Vec<String> = mine
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {} {} complete={} gaps={}",
                            s["id"], s["source"], s["path"], s["sha256"], s["complete"], s["gaps"]
                        )
                    })
                    .collect();
                panic!(
                    "no {source} script {path:?} with sha256 {want} ({} bytes); have:\n{}",
                    content.len(),
                    have.join("\n")
                )
            })
    };
    let check = |s: &Value, content: &[u8]| {
        assert_eq!(s["complete"], true, "{}", s["id"]);
        assert_eq!(s["size"], content.len(), "{}", s["id"]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s["content_base64"].as_str().expect("base64"))
            .expect("base64");
        assert_eq!(bytes, content, "{}", s["id"]);
    };
    let dropped = find("written", Some("/tmp/drop.sh"), DROPPED.as_bytes());
    check(dropped, DROPPED.as_bytes());
    let links = dropped["links"].as_array().expect("links");
    assert!(
        links.iter().any(|l| l["relation"] == "chmod"),
        "chmod linked: {links:?}"
    );
    assert!(
        links.iter().any(|l| l["relation"] == "exec"
            && l["argv"] == serde_json::json!(["/bin/sh", "/tmp/drop.sh"])),
        "exec linked: {links:?}"
    );
    check(
        find("interpreter-read", Some("/tmp/drop.sh"), DROPPED.as_bytes()),
        DROPPED.as_bytes(),
    );
    check(find("written", Some("/tmp/big.sh"), &big), &big);
    check(find("interpreter-read", Some("/tmp/big.sh"), &big), &big);
    let piped = find("pipe", None, PIPED.as_bytes());
    check(piped, PIPED.as_bytes());
    assert_eq!(piped["interpreter"], "bash");
    check(
        find("written", Some("/tmp/here.sh"), HEREDOC.as_bytes()),
        HEREDOC.as_bytes(),
    );
    check(
        find("interpreter-read", Some("/tmp/here.sh"), HEREDOC.as_bytes()),
        HEREDOC.as_bytes(),
    );
    check(
        find("argument", None, ONE_LINER.as_bytes()),
        ONE_LINER.as_bytes(),
    );
    for (content, interpreter) in [(FETCHED.as_bytes(), "sh"), (&fetched_big[..], "bash")] {
        let fetched = find("pipe", None, content);
        check(fetched, content);
        assert_eq!(fetched["interpreter"], interpreter);
        let links = fetched["links"].as_array().expect("links");
        assert!(
            links.iter().any(|l| l["relation"] == "connection"),
            "the fetched script names the connection it came over: {links:?}"
        );
        assert!(
            links
                .iter()
                .any(|l| l["relation"] == "writer" && l["argv"][0] == "wget"),
            "and the process that piped it: {links:?}"
        );
    }
    let cron = find(
        "written",
        Some("/var/spool/cron/crontabs/root"),
        CRON.as_bytes(),
    );
    check(cron, CRON.as_bytes());
    assert_eq!(cron["persistence"], "cron");

    // `cat` exports the exact bytes.
    let id = find("interpreter-read", Some("/tmp/big.sh"), &big)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(inspector(&capture, &["cat", &id]).stdout, big);
    assert_eq!(
        inspector(&capture, &["cat", "/tmp/drop.sh"]).stdout,
        DROPPED.as_bytes()
    );

    // The connection to the web server, both ends, in the container.
    let net = json_lines(&capture, &["net", "--json"]);
    let client = net
        .iter()
        .find(|c| {
            c["container_id"] == container_id.as_str()
                && c["direction"] == "outbound"
                && c["remote"] == "127.0.0.1:8000"
        })
        .expect("wget's connection");
    assert!(client["peer"].is_string(), "both ends paired: {client}");
    assert!(client["in"]["bytes"].as_u64().unwrap_or(0) > FETCHED.len() as u64);
    assert!(client["out"]["data"]
        .as_str()
        .unwrap_or_default()
        .starts_with("GET /x.sh HTTP/1.1"));

    // The session's typed lines, with the typo fixed.
    let sessions = json_lines(&capture, &["sessions", "--json"]);
    let session = sessions
        .iter()
        .find(|s| {
            s["lines"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["text"] == "echo session-ok"))
        })
        .unwrap_or_else(|| panic!("no session with the typed lines: {sessions:#?}"));
    let lines: Vec<&str> = session["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_eq!(lines, ["echo session-ok", "id -u", "exit"], "{session:#}");
    assert_eq!(
        session["shell"]["argv"],
        serde_json::json!(["bash", "--norc", "--noprofile", "-i"])
    );
    let text = String::from_utf8_lossy(&inspector(&capture, &["sessions"]).stdout).into_owned();
    assert!(text.contains("$ echo session-ok"), "{text}");
    assert!(text.contains("session-ok\n"), "the output too: {text}");

    // The report: the container, the dropped script with its sha256, the commands in
    // order.
    let report = String::from_utf8_lossy(&inspector(&capture, &["report"]).stdout).into_owned();
    assert!(report.starts_with("# Incident report"), "{report}");
    assert!(report.contains(&container_id), "container id in the report");
    assert!(report.contains("`/tmp/drop.sh`"), "the dropped script");
    assert!(report.contains(&sha(DROPPED.as_bytes())), "its sha256");
    assert!(
        report.contains(&sha(&fetched_big)),
        "the fetched script's sha256"
    );
    // The host session is listed too (sessions are never left out of focus), replayed.
    let sessions_section = report
        .split("## Interactive sessions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a sessions section");
    assert!(
        sessions_section.contains("$ echo session-ok\nsession-ok\n"),
        "the session replayed, what was typed and what came back:\n{sessions_section}"
    );
    let order = [
        "`sh /in/attack.sh`",
        "`/bin/sh /tmp/drop.sh`",
        "`sh /tmp/big.sh`",
        "`base64 -d`",
        "`sh /tmp/here.sh`",
        "`sh -c 'echo one-liner'`",
        "`wget -q -O- http://127.0.0.1:8000/x.sh`",
        "`wget -q -O- http://127.0.0.1:8000/big.sh`",
    ];
    let commands_section = report
        .split("## Commands, in order")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a commands section");
    let mut at = 0;
    for c in order {
        let pos = commands_section[at..]
            .find(c)
            .unwrap_or_else(|| panic!("{c} not after position {at} in:\n{commands_section}"));
        at += pos + c.len();
    }
}

/// `cp` moves the bytes inside the kernel (copy_file_range): no record carries them, but
/// the copy of a script the capture saw written is rebuilt from it, byte for byte.
#[test]
fn a_script_copied_by_cp_is_rebuilt_from_its_source() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    // Written by the shell (GNU cat would copy_file_range too, from a file the capture
    // never saw written), then copied.
    let script = format!(
        "#!/bin/sh\n{}echo copied\n",
        (1..=400)
            .map(|i| format!(": padding line {i}\n"))
            .collect::<String>()
    );
    let capture = dir.path().join("cp.atcap");
    aftertrace_tests::record_command(
        &capture,
        &[],
        [
            "bash",
            "-c",
            &format!(
                "{{ echo '#!/bin/sh'; for i in $(seq 400); do echo \": padding line $i\"; done; \
                 echo 'echo copied'; }} > {d}/a.sh; cp {d}/a.sh {d}/b.sh; rm {d}/b.sh"
            ),
        ],
    );
    let files: Vec<Value> = String::from_utf8(inspector(&capture, &["files", "--json"]).stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let copy = files
        .iter()
        .find(|f| f["path"] == format!("{d}/b.sh").as_str())
        .expect("the copy among the files");
    assert_eq!(copy["complete"], true, "{copy}");
    assert_eq!(
        copy["sha256"].as_str(),
        Some(sha(script.as_bytes()).as_str())
    );
    let out = inspector(&capture, &["cat", &format!("{d}/b.sh")]);
    assert!(
        out.stdout == script.as_bytes(),
        "cat gives the copy's bytes"
    );
}
