//! Running `aftertrace-recorder run` for a test: its own port, control socket and captures
//! directory; alerts posted over real HTTP; stopped with SIGINT or killed with SIGKILL.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{target_bin, RECORDER_BIN};

pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub socket: PathBuf,
    pub captures: PathBuf,
    /// The last lines of its log, for the message when it fails.
    log_tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

/// A free loopback port (bound then released: good enough on a test machine).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Daemon {
    /// Starts the daemon with `extra` flags (e.g. `--before 2s`) and `env`, writing into
    /// `dir`, and returns once it records.
    pub fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let socket = dir.join("control.sock");
        let captures = dir.join("captures");
        let mut child = Command::new(target_bin(RECORDER_BIN))
            .arg("run")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--control-socket")
            .arg(&socket)
            .arg("--captures-dir")
            .arg(&captures)
            .args(extra)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the daemon")?;
        let stderr = child.stderr.take().context("daemon stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                bail!("the daemon exited before recording: {status}");
            };
            if line?.contains("recording") {
                break;
            }
        }
        // Keep draining its log so it never blocks on a full pipe; the tail is kept.
        let log_tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::<
            String,
        >::new()));
        let tail = std::sync::Arc::clone(&log_tail);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mut t) = tail.lock() {
                    if t.len() == 30 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        Ok(Daemon {
            child: Some(child),
            addr,
            socket,
            captures,
            log_tail,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// POSTs `body` to `path`; returns the status code and the response body.
    ///
    /// The response is read while the body is still being sent, as an HTTP client must:
    /// the daemon answers a body it refuses by its Content-Length (413) before reading it
    /// and closes the connection, so a client that only reads after writing everything
    /// gets a broken pipe, or a reset that discards the answer, instead of the 413.
    pub fn post(&self, path: &str, body: &[u8], token: Option<&str>) -> Result<(u16, String)> {
        let mut conn = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reading = conn.try_clone()?;
        let reader = std::thread::spawn(move || {
            let mut response = Vec::new();
            // Bytes read before an error (a reset after the answer) are kept.
            let result = reading.read_to_end(&mut response);
            (response, result)
        });
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let sent = write!(
            conn,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .and_then(|()| conn.write_all(body));
        let (response, read) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the response reader panicked"))?;
        if response.is_empty() {
            sent?;
            read?;
        }
        let response = String::from_utf8_lossy(&response).into_owned();
        let code: u16 = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("not an HTTP response: {response:?}"))?;
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Ok((code, body))
    }

    /// Runs `aftertrace-recorder ARGS --control-socket SOCKET` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(target_bin(RECORDER_BIN))
            .args(args)
            .arg("--control-socket")
            .arg(&self.socket)
            .output()?;
        if !out.status.success() {
            bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sealed captures in the directory, sorted by name.
    pub fn captures(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.captures)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|x| x == "atcap"));
        v.sort();
        v
    }

    /// Waits up to `timeout` for at least `n` sealed captures.
    pub fn wait_for_captures(&self, n: usize, timeout: Duration) -> Result<Vec<PathBuf>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let c = self.captures();
            if c.len() >= n {
                return Ok(c);
            }
            if std::time::Instant::now() > deadline {
                bail!("{} captures after {timeout:?}, wanted {n}", c.len());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, then waits; fails if the daemon does not exit successfully.
    pub fn stop(mut self) -> Result<()> {
        let mut child = self.child.take().context("stopped already")?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait()?;
        if !status.success() {
            let tail = self
                .log_tail
                .lock()
                .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            bail!("the daemon exited with {status}; its log ends:\n{tail}");
        }
        Ok(())
    }

    /// SIGKILL: no chance to clean up, like a node losing power to the recorder.
    pub fn kill9(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
