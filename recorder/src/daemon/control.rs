//! The local control socket: `aftertrace-recorder trigger` and `status` talk to the daemon
//! over it, one JSON request line and one JSON answer line. Owner-only (0600) in an
//! owner-only directory: whoever can trigger captures can fill the disk.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::{
        fs::{DirBuilderExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::Path,
    sync::mpsc::SyncSender,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::{Request, SharedStatus};

/// Binds the socket (replacing a stale one) and serves it on a thread.
pub fn serve(path: &Path, requests: SyncSender<Request>, status: SharedStatus) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        // A daemon that still answers owns it; a dead one left it behind.
        if UnixStream::connect(path).is_ok() {
            bail!("{} is in use by a running daemon", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
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
                let sent = requests.try_send(Request::Trigger {
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
