//! The local control socket: `aftertrace-recorder trigger` and `status` talk to the daemon
//! over it, one JSON request line and one JSON answer line. Owner-only (0600) in an
//! owner-only directory: whoever can trigger captures can fill the disk.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::{
        fs::{FileTypeExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::Path,
    sync::mpsc::SyncSender,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::{Request, SharedStatus};

/// Binds the socket (replacing a stale one) and serves it on a thread. Its directory is
/// created 0700; an existing one that others can write to, or an entry at the path that
/// is not a socket (a planted link or file), is refused: the path is never followed.
pub fn serve(path: &Path, requests: SyncSender<Request>, status: SharedStatus) -> Result<()> {
    let dir_path = path.parent().unwrap_or(Path::new("."));
    let dir = crate::safe_fs::Dir::create_private(dir_path)?;
    if dir.writable_by_others()?.is_some() {
        bail!(
            "{}: the control socket's directory is writable by group or others; run `chmod go-w` on it or choose another --control-socket",
            dir_path.display()
        );
    }
    let name = path
        .file_name()
        .with_context(|| format!("{}: names no socket file", path.display()))?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            // A daemon that still answers owns it; a dead one left it behind.
            if UnixStream::connect(path).is_ok() {
                bail!("{} is in use by a running daemon", path.display());
            }
            dir.remove(name)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
        Ok(_) => bail!(
            "{}: exists and is not a socket (a file or a link); the recorder never follows or replaces it: remove it or choose another --control-socket",
            path.display()
        ),
        Err(_) => {}
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = handle(conn, &requests, &status) {
                    tracing::warn!("control socket: {e:#}");
                }
            }
        })?;
    Ok(())
}

fn handle(conn: UnixStream, requests: &SyncSender<Request>, status: &SharedStatus) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).take(64 * 1024).read_line(&mut line)?;
    let answer = match serde_json::from_str::<Value>(&line) {
        Err(e) => json!({"ok": false, "error": format!("not a JSON request: {e}")}),
        Ok(req) => match req["cmd"].as_str() {
            Some("status") => {
                let s = status
                    .lock()
                    .map_err(|_| anyhow::anyhow!("status lock poisoned"))?;
                json!({"ok": true, "status": *s})
            }
            Some("trigger") => {
                let reason = req["reason"]
                    .as_str()
                    .unwrap_or("manual trigger")
                    .to_owned();
                let secs = |k: &str| req[k].as_f64().map(Duration::from_secs_f64);
                // An operator's trigger waits for room rather than be refused: it is
                // never dropped (the queue is drained every 50 ms).
                let sent = requests.send(Request::Trigger {
                    source: "cli".into(),
                    summary: reason,
                    payload: line.trim_end().as_bytes().to_vec(),
                    payload_time: None,
                    before: secs("before_s"),
                    after: secs("after_s"),
                });
                match sent {
                    Ok(()) => json!({"ok": true}),
                    Err(_) => json!({"ok": false, "error": "the daemon is busy; try again"}),
                }
            }
            _ => json!({"ok": false, "error": "unknown cmd (expected \"status\" or \"trigger\")"}),
        },
    };
    let mut conn = conn;
    writeln!(conn, "{answer}")?;
    Ok(())
}

use std::io::Read as _;

/// Sends one request to the daemon at `path` and returns its answer.
pub fn call(path: &Path, request: &Value) -> Result<Value> {
    let mut conn = UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to {}: is `aftertrace-recorder run` running (and are you root)?",
            path.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(conn, "{request}")?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let answer: Value = serde_json::from_str(&line)
        .with_context(|| format!("the daemon's answer is not JSON: {line:?}"))?;
    if answer["ok"] != true {
        bail!("the daemon refused: {}", answer["error"]);
    }
    Ok(answer)
}
