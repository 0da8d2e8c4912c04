//! A script in a podman container drops a script, chmods and runs it, reads /etc/shadow,
//! sends data to a TCP server on its loopback and renames a file; the container is removed
//! before the capture is read. The capture must hold each act decoded, attributed to the
//! container's full id, with its name and image and the right process ancestry.

use aftertrace_tests::{inspector_json, podman, recorder::BackgroundRecorder, require_root};
use capture_format::CaptureReader;
use serde_json::Value;

const SCRIPT: &str = r#"printf '#!/bin/sh\necho from-dropped-script\n' > /tmp/dropper.sh
chmod +x /tmp/dropper.sh
/tmp/dropper.sh
cat /etc/shadow > /dev/null 2>&1
timeout 10 nc -l -p 8080 > /tmp/received &
sleep 0.5
echo hello-server > /dev/tcp/127.0.0.1/8080
wait
echo x > /tmp/a
mv /tmp/a /tmp/b
"#;

#[test]
fn container_acts_are_decoded_and_attributed() {
    require_root();
    podman::check_podman().expect("podman works");
    let image = podman::ensure_test_image().expect("test image");
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("container.atcap");

    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");
    let run = podman::run_in_container(&image, &["bash", "-c", SCRIPT]).expect("container");
    assert!(run.status.success(), "{}", run.stderr_text());
    assert!(run.stdout_text().contains("from-dropped-script"));
    recorder.stop().expect("recorder stops cleanly");
    // run_in_container used --rm: the container is gone before the capture is read.

    let reader = CaptureReader::open(&capture).expect("capture");
    let container = reader
        .metadata()
        .containers
        .iter()
        .find(|c| c.id == run.id)
        .expect("the container is in the capture's metadata");
    assert_eq!(container.runtime, "podman");
    assert_eq!(container.name.as_deref(), Some(run.name.as_str()));
    assert_eq!(container.image.as_deref(), Some(image.as_str()));
    assert_eq!(
        container.labels.get(podman::TEST_LABEL),
        Some(&run.name),
        "labels from libpod's database: {:?}",
        container.labels
    );
    assert!(
        reader
            .metadata()
            .users
            .users
            .iter()
            .any(|u| u.container_id == run.id && u.name == "nobody"),
        "the container's own /etc/passwd was read"
    );

    let events = inspector_json(&capture, "events");
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["container_id"] == run.id.as_str())
        .collect();
    let find = |what: &str, pred: &dyn Fn(&Value) -> bool| -> &Value {
        ours.iter()
            .copied()
            .find(|e| pred(e))
            .unwrap_or_else(|| panic!("no {what} in the container's events"))
    };

    let write = find("write of the dropped script", &|e| {
        e["syscall"] == "write"
            && e["data"]
                .as_str()
                .is_some_and(|d| d.starts_with("#!/bin/sh"))
    });
    // The shell may write the script in pieces: what it wrote to that fd until the fd was
    // closed or replaced is the script.
    let fd = write["args"]["fd"].clone();
    let mut written = String::new();
    for e in ours.iter().skip_while(|e| !std::ptr::eq(**e, write)) {
        if e["pid"] != write["pid"] {
            continue;
        }
        let name = e["syscall"].as_str().unwrap_or_default();
        if name == "write" && e["args"]["fd"] == fd {
            written.push_str(e["data"].as_str().expect("data"));
        } else if (name == "close" && e["args"]["fd"] == fd)
            || (name.starts_with("dup") && e["args"]["newfd"] == fd)
        {
            break;
        }
    }
    assert_eq!(written, "#!/bin/sh\necho from-dropped-script\n");
    find("chmod of the script", &|e| {
        e["syscall"].as_str().is_some_and(|s| s.contains("chmod"))
            && e["args"]["pathname"] == "/tmp/dropper.sh"
            // busybox passes st_mode with its file-type bits (0100755): the raw value.
            && e["args"]["mode"].as_str().is_some_and(|m| m.ends_with("755"))
    });
    find("open of /etc/shadow", &|e| {
        e["syscall"] == "openat" && e["args"]["pathname"] == "/etc/shadow"
    });
    let connect = find("connect to the server", &|e| {
        e["syscall"] == "connect" && e["args"]["addr"] == "127.0.0.1:8080"
    });
    assert_eq!(connect["res"], 0);
    find("data sent to the server", &|e| {
        e["pid"] == connect["pid"]
            && (e["syscall"] == "write" || e["syscall"] == "sendto")
            && e["data"] == "hello-server\n"
    });
    find("rename", &|e| {
        e["syscall"]
            .as_str()
            .is_some_and(|s| s.starts_with("rename"))
            && e["args"]["oldpath"] == "/tmp/a"
            && e["args"]["newpath"] == "/tmp/b"
    });

    // Ancestry: the dropped script ran as a child of the container's bash.
    let commands = inspector_json(&capture, "commands");
    let bash = commands
        .iter()
        .find(|c| c["argv"][0] == "bash" && c["container_id"] == run.id.as_str())
        .expect("the container's bash");
    let dropper = commands
        .iter()
        .find(|c| c["argv"] == serde_json::json!(["/bin/sh", "/tmp/dropper.sh"]))
        .expect("the dropped script's exec");
    assert_eq!(dropper["ppid"], bash["pid"]);
    assert_eq!(dropper["container_id"], run.id.as_str());
    assert_eq!(bash["container_name"], run.name.as_str());
}
