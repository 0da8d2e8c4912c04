//! The daemon's HTTP listener against hostile clients, and its captures API, over real TCP
//! against the real daemon (real eBPF): a 100 MB body refused unread, header floods, slow
//! and idle clients that never delay another client's alert, `GET /captures` and
//! `GET /captures/NAME` with and without the token.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    time::{Duration, Instant},
};

use aftertrace_tests::{daemon::Daemon, require_root};
use sha2::{Digest, Sha256};

const FALCO: &str = r#"{"output":"a shell in a container","priority":"Notice","rule":"Terminal shell in container","time":"2021-06-11T16:31:56.746609046Z","output_fields":{"proc.name":"sh"}}"#;

static ONE_DAEMON: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_DAEMON.lock().unwrap_or_else(|e| e.into_inner())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Sends `head` (and nothing more) and returns the response, status code first.
fn raw(addr: SocketAddr, head: &[u8]) -> (u16, Vec<u8>) {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // The server may close before it has read everything we send: that is the point.
    let _ = conn.write_all(head);
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response);
    (code(&response), response)
}

fn code(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(response)
            )
        })
}

/// GET `path`; returns the code and the body bytes.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let (code, response) = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    );
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    (code, response[split..].to_vec())
}

#[test]
fn a_declared_100mb_body_is_refused_before_it_is_read() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &["--rules", "none"], &[]).expect("daemon");
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(daemon.pid());

    // The head alone: a server that waited for the body would never answer.
    let t = Instant::now();
    let (status, _) = raw(
        daemon.addr,
        b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
    );
    assert_eq!(status, 413);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // And with the 100 MB actually sent behind the head.
    let mut conn = TcpStream::connect(daemon.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    conn.write_all(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    let writer = {
        let mut conn = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            let block = vec![b'A'; 1 << 20];
            let mut sent = 0usize;
            for _ in 0..100 {
                match conn.write_all(&block) {
                    Ok(()) => sent += block.len(),
                    Err(_) => break,
                }
            }
            sent
        })
    };
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response);
    assert_eq!(code(&response), 413);
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let sent = writer.join().unwrap();
    let after = rss_kib(daemon.pid());
    eprintln!("RSS before {before} KiB, after {after} KiB; the client got {sent} bytes out");
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // The listener still takes alerts.
    let (status, body) = daemon.post("/alerts", FALCO.as_bytes(), None).unwrap();
    assert_eq!(status, 202, "{body}");
    daemon.stop().unwrap();
}

#[test]
fn header_floods_are_refused() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &["--rules", "none"], &[]).expect("daemon");

    let mut many = b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..10_000 {
        many.extend_from_slice(format!("X-Flood-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let (status, _) = raw(daemon.addr, &many);
    assert!(
        status == 431 || status == 400,
        "10,000 headers got {status}"
    );

    let mut long = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    long.extend_from_slice(b"\r\n\r\n");
    let (status, _) = raw(daemon.addr, &long);
    assert!(status == 431 || status == 400, "a 1 MB header got {status}");

    let (status, body) = get(daemon.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("aftertrace_http_requests_refused_total"));
    daemon.stop().unwrap();
}

#[test]
fn slow_and_idle_clients_never_delay_an_alert_and_are_timed_out() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &["--rules", "none"], &[]).expect("daemon");
    let addr = daemon.addr;

    // 50 slowloris heads (a byte a second), a slow body, and idle connections.
    let mut slow = Vec::new();
    for i in 0..50 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(format!("POST /alerts HTTP/1.1\r\nHost: x\r\nX-{i}: ").as_bytes())
            .unwrap();
        slow.push(c);
    }
    let mut slow_body = TcpStream::connect(addr).unwrap();
    slow_body
        .write_all(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let dripping = std::thread::spawn(move || {
        for _ in 0..15 {
            std::thread::sleep(Duration::from_secs(1));
            for c in &mut slow {
                let _ = c.write_all(b"a");
            }
        }
        slow
    });

    // Meanwhile, a real alert is taken at once, several times over.
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = daemon.post("/alerts", FALCO.as_bytes(), None).unwrap();
        assert_eq!(status, 202, "{body}");
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "the alert took {:?} beside slow clients",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The slow body is answered 408 once its time is up, the dripping heads and the idle
    // connections are closed: nothing a client does holds a connection for long.
    slow_body
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut response = Vec::new();
    let _ = slow_body.read_to_end(&mut response);
    assert_eq!(code(&response), 408, "the slow body");
    let slow = dripping.join().unwrap();
    for mut c in slow.into_iter().chain(idle) {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        // EOF (possibly after a 408) rather than a read timeout: the server closed it.
        match c.read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a slow or idle connection is still open after 15 s: {e}"),
        }
    }
    daemon.stop().unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn captures_api_lists_and_streams_captures_with_the_token() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("daemon.toml");
    std::fs::write(&config, "token = \"s3cret\"\n").unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            "none",
            "--before",
            "1s",
            "--after",
            "1s",
        ],
        &[],
    )
    .expect("daemon");
    let addr = daemon.addr;

    assert_eq!(get(addr, "/captures", None).0, 401);
    assert_eq!(get(addr, "/captures", Some("wrong")).0, 401);
    let (status, body) = get(addr, "/captures", Some("s3cret"));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        serde_json::json!([])
    );

    let (status, body) = daemon
        .post("/alerts", FALCO.as_bytes(), Some("s3cret"))
        .unwrap();
    assert_eq!(status, 202, "{body}");
    let captures = daemon
        .wait_for_captures(1, Duration::from_secs(30))
        .unwrap();
    let path = &captures[0];
    let name = path.file_name().unwrap().to_str().unwrap();
    // The manifest comes last in sealing.
    let manifest = Path::new(&format!("{}.sha256", path.display())).to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !manifest.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = get(addr, "/captures", Some("s3cret"));
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let entry = &list[0];
    let on_disk = std::fs::read(path).unwrap();
    assert_eq!(entry["name"], name);
    assert_eq!(entry["size"], on_disk.len() as u64);
    assert_eq!(entry["sha256"], sha256_hex(&on_disk));
    assert_eq!(entry["uploaded"], false);
    assert!(
        entry["alerts"][0]
            .as_str()
            .unwrap()
            .contains("Terminal shell in container"),
        "{entry}"
    );
    assert!(
        entry["window"][0].as_str().unwrap().ends_with('Z'),
        "{entry}"
    );

    assert_eq!(get(addr, &format!("/captures/{name}"), None).0, 401);
    let (status, body) = get(addr, &format!("/captures/{name}"), Some("s3cret"));
    assert_eq!(status, 200);
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&on_disk),
        "streamed byte for byte"
    );
    let (status, body) = get(addr, &format!("/captures/{name}.sha256"), Some("s3cret"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).starts_with(&sha256_hex(&on_disk)));

    // Nothing but captures is served, whatever the name says.
    for bad in [
        "..%2Fdaemon.toml",
        "%2E%2E/daemon.toml",
        "control.sock",
        "nope.atcap",
    ] {
        let (status, _) = get(addr, &format!("/captures/{bad}"), Some("s3cret"));
        assert_eq!(status, 404, "{bad}");
    }

    // An operator's trigger over HTTP: token required, bad bodies refused, and the
    // capture it seals keeps it as source "trigger" with its reason.
    let trigger = br#"{"reason":"responder: look at this node","before_s":1,"after_s":1}"#;
    assert_eq!(daemon.post("/trigger", trigger, None).unwrap().0, 401);
    assert_eq!(
        daemon.post("/trigger", b"[1]", Some("s3cret")).unwrap().0,
        400
    );
    assert_eq!(
        daemon
            .post("/trigger", br#"{"before_s":-3}"#, Some("s3cret"))
            .unwrap()
            .0,
        400
    );
    let (status, body) = daemon.post("/trigger", trigger, Some("s3cret")).unwrap();
    assert_eq!(status, 202, "{body}");
    let all = daemon
        .wait_for_captures(2, Duration::from_secs(30))
        .unwrap();
    let second = all.iter().find(|p| !captures.contains(p)).expect("new");
    let out = std::process::Command::new(aftertrace_tests::target_bin(
        aftertrace_tests::INSPECTOR_BIN,
    ))
    .arg(second)
    .args(["summary", "--json"])
    .output()
    .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["alerts"][0]["source"], "trigger", "{summary}");
    assert_eq!(
        summary["alerts"][0]["summary"],
        "responder: look at this node"
    );
    assert_eq!(
        summary["alerts"][0]["payload"],
        std::str::from_utf8(trigger).unwrap()
    );
    daemon.stop().unwrap();
}

#[test]
fn a_client_that_stops_reading_a_download_is_dropped() {
    require_root();
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &["--rules", "none", "--before", "3s", "--after", "1s"],
        &[],
    )
    .expect("daemon");
    // 30 MB of incompressible writes make a capture larger than what the sockets' buffers
    // absorb, so the download must wait on the client. Into a file: writes to /dev/null
    // (and reads of /dev/urandom) keep their length but no bytes in the record.
    let noise = dir.path().join("noise");
    let dd = std::process::Command::new("dd")
        .args(["if=/dev/urandom", "bs=256", "count=120000"])
        .arg(format!("of={}", noise.display()))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(dd.success());
    let (status, body) = daemon.post("/alerts", FALCO.as_bytes(), None).unwrap();
    assert_eq!(status, 202, "{body}");
    let capture = daemon
        .wait_for_captures(1, Duration::from_secs(60))
        .unwrap()[0]
        .clone();
    let size = std::fs::metadata(&capture).unwrap().len();
    assert!(size > 12 << 20, "the capture is {size} bytes");

    let name = capture.file_name().unwrap().to_str().unwrap();
    let mut conn = TcpStream::connect(daemon.addr).unwrap();
    write!(conn, "GET /captures/{name} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    conn.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
    // The client stops reading for longer than the stall limit...
    std::thread::sleep(Duration::from_secs(20));
    // ...and finds the connection cut short: what it gets is less than the file.
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let got = match conn.read_to_end(&mut rest) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => rest.len(),
        Err(e) => panic!("the stalled download is still open: {e}"),
    };
    let head = first
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the response head fits in 1 KiB")
        + 4;
    let body = (first.len() - head + got) as u64;
    assert!(
        body < size,
        "got {body} of {size} bytes: the stalled download was not dropped"
    );
    // Other clients were served all along.
    assert_eq!(get(daemon.addr, "/captures", None).0, 200);
    daemon.stop().unwrap();
}
