//! Captures off the node, against a real S3-compatible server on loopback (moto's server
//! mode, from PyPI; scripts/setup.sh installs it) and the real daemon (real eBPF): a sealed
//! capture and its `.sha256` arrive under PREFIX/NODE/NAME in multipart parts and the
//! downloaded object verifies; with the server stopped, recording and sealing go on, uploads
//! retry and succeed once it is back; a capture left behind by a stopped daemon is found
//! again and uploaded by the next one.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aftertrace_tests::{daemon::Daemon, require_root};
use sha2::{Digest, Sha256};

const BUCKET: &str = "aftertrace-test";
/// Small parts so that an ordinary capture goes up in several (moto is told the same
/// minimum; real S3's is 5 MiB).
const PART: usize = 256 << 10;

fn alert(rule: &str) -> String {
    format!(
        r#"{{"output":"{rule}","priority":"Notice","rule":"{rule}","time":"2021-06-11T16:31:56Z","output_fields":{{}}}}"#
    )
}

/// moto's S3 server on a loopback port; killed on drop.
struct S3Server {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl S3Server {
    fn start(addr: SocketAddr, log: &Path) -> S3Server {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(addr.port().to_string())
            .env("S3_UPLOAD_PART_MIN_SIZE", PART.to_string())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("python3 -m moto.server (scripts/setup.sh installs moto[server])");
        let server = S3Server {
            child: Some(child),
            addr,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // moto keeps buckets in memory: every start makes the bucket again.
        loop {
            if let Ok((200, _)) = request(addr, "PUT", &format!("/{BUCKET}")) {
                break;
            }
            assert!(Instant::now() < deadline, "moto did not start on {addr}");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The object at `key`, downloaded with boto3 (moto's own S3 client, a real signed
    /// GET), or None with the client's complaint printed.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys, boto3\n\
                 s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                     aws_access_key_id='test', aws_secret_access_key='test')\n\
                 sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read())",
            ])
            .arg(format!("http://{}", self.addr))
            .arg(BUCKET)
            .arg(key)
            .output()
            .expect("python3 with boto3 (moto's dependency)");
        if out.status.success() {
            return Some(out.stdout);
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        eprintln!(
            "GET {key}: {}; the server's log ends:\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail.join("\n")
        );
        None
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One unsigned request (moto does not check signatures); the code and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let code = String::from_utf8_lossy(&response[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, response[split..].to_vec()))
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn upload_status(daemon: &Daemon) -> serde_json::Value {
    let s: serde_json::Value =
        serde_json::from_str(&daemon.cli(&["status", "--json"]).expect("status")).unwrap();
    s
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn uploaded_marker(capture: &Path) -> PathBuf {
    PathBuf::from(format!("{}.uploaded", capture.display()))
}

/// The object and its manifest are on the server, and the object hashes to the manifest.
fn assert_uploaded(s3: &S3Server, capture: &Path) {
    let name = capture.file_name().unwrap().to_str().unwrap();
    let object = s3
        .object(&format!("fleet/node-a/{name}"))
        .unwrap_or_else(|| panic!("no object for {name}"));
    let manifest = s3
        .object(&format!("fleet/node-a/{name}.sha256"))
        .unwrap_or_else(|| panic!("no manifest object for {name}"));
    let manifest = String::from_utf8(manifest).unwrap();
    assert_eq!(
        manifest,
        std::fs::read_to_string(format!("{}.sha256", capture.display())).unwrap()
    );
    assert_eq!(
        manifest.split_whitespace().collect::<Vec<_>>(),
        [sha256_hex(&object).as_str(), name],
        "the downloaded object verifies against its manifest"
    );
    assert_eq!(object, std::fs::read(capture).unwrap());
}

#[test]
fn captures_go_to_s3_and_survive_an_outage_and_a_restart() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let s3_addr = free_addr();
    let s3_log = dir.path().join("moto.log");
    let mut s3 = S3Server::start(s3_addr, &s3_log);
    let config = dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "[upload]\nurl = \"s3://{BUCKET}/fleet\"\nendpoint = \"http://{s3_addr}\"\n\
             allow_http = true\nnode = \"node-a\"\npart_size = {PART}\nretry_min = \"200ms\"\n\
             retry_max = \"1s\"\ntimeout = \"5s\"\n"
        ),
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--rules",
        "none",
        "--before",
        "2s",
        "--after",
        "1s",
    ];
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AFTERTRACE_LOG", "info"),
    ];
    let daemon = Daemon::start(dir.path(), &args, &env).expect("daemon");
    std::thread::sleep(Duration::from_secs(2));

    // 1. A capture and its manifest go up, in parts: 2 MB of incompressible writes in the
    // window make sure it takes several. Into a file: writes to /dev/null (and reads of
    // /dev/urandom) keep their length but no bytes in the record.
    let noise = dir.path().join("noise");
    let dd = Command::new("dd")
        .args(["if=/dev/urandom", "bs=256", "count=8000"])
        .arg(format!("of={}", noise.display()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(dd.success());
    let (code, body) = daemon
        .post("/alerts", alert("first").as_bytes(), None)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let first = daemon
        .wait_for_captures(1, Duration::from_secs(30))
        .unwrap()[0]
        .clone();
    wait_until("the first upload", Duration::from_secs(30), || {
        uploaded_marker(&first).exists()
    });
    assert!(
        std::fs::metadata(&first).unwrap().len() > PART as u64,
        "the capture is larger than one part"
    );
    assert_uploaded(&s3, &first);
    let log = std::fs::read_to_string(&s3_log).unwrap();
    assert!(
        log.contains("?uploads") && log.contains("partNumber=2"),
        "a multipart upload of several parts"
    );
    let status = upload_status(&daemon);
    assert_eq!(status["upload"]["uploaded"], 1, "{status}");
    assert_eq!(
        status["upload"]["destination"],
        format!("s3://{BUCKET}/fleet/node-a/")
    );

    // 2. The server goes away: recording and sealing go on, uploads fail and retry.
    s3.stop();
    let events_before = upload_status(&daemon)["events"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = daemon
        .post("/alerts", alert("second").as_bytes(), None)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let second = daemon
        .wait_for_captures(2, Duration::from_secs(30))
        .unwrap();
    let second = second.into_iter().find(|c| c != &first).unwrap();
    wait_until("failed attempts", Duration::from_secs(30), || {
        upload_status(&daemon)["upload"]["failures"]
            .as_u64()
            .unwrap()
            >= 2
    });
    let status = upload_status(&daemon);
    assert!(status["events"].as_u64().unwrap() > events_before);
    assert_eq!(status["upload"]["queued"], 1, "{status}");
    assert!(status["upload"]["last_error"].is_string());
    assert!(!uploaded_marker(&second).exists());
    let (code, metrics) = request(daemon.addr, "GET", "/metrics").unwrap();
    assert_eq!(code, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("aftertrace_upload_queue_length 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("aftertrace_upload_failures_total 0\n"));

    // ...and it comes back: the upload succeeds.
    let mut s3 = S3Server::start(s3_addr, &s3_log);
    wait_until(
        "the upload after the outage",
        Duration::from_secs(30),
        || uploaded_marker(&second).exists(),
    );
    assert_uploaded(&s3, &second);
    let (_, list) = request(daemon.addr, "GET", "/captures").unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["uploaded"] == true),
        "{list}"
    );

    // 3. A capture sealed while the server is down and the daemon then stopped is found in
    // the directory and uploaded by the next daemon.
    s3.stop();
    let (code, body) = daemon
        .post("/alerts", alert("third").as_bytes(), None)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let all = daemon
        .wait_for_captures(3, Duration::from_secs(30))
        .unwrap();
    let third = all
        .into_iter()
        .find(|c| c != &first && c != &second)
        .unwrap();
    wait_until("the third manifest", Duration::from_secs(10), || {
        Path::new(&format!("{}.sha256", third.display())).exists()
    });
    daemon.stop().unwrap();
    assert!(!uploaded_marker(&third).exists());
    let s3 = S3Server::start(s3_addr, &s3_log);
    let daemon = Daemon::start(dir.path(), &args, &env).expect("daemon again");
    wait_until(
        "the upload after the restart",
        Duration::from_secs(30),
        || uploaded_marker(&third).exists(),
    );
    assert_uploaded(&s3, &third);
    daemon.stop().unwrap();
}
