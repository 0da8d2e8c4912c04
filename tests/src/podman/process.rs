//! Running a command to completion with a deadline, capturing its output.

use std::io::{self, Read};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long to wait for the output pipes to close once the command has
/// exited (or was killed). Normally instant; longer means some other process
/// inherited the pipes, and waiting on it forever would hang the test.
const PIPE_GRACE: Duration = Duration::from_secs(30);

/// The result of [`run_with_deadline`].
pub(crate) struct Outcome {
    /// `None` if the deadline passed and the command was killed.
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

/// Runs `cmd` (stdin from /dev/null) until it exits or `timeout` passes.
///
/// On timeout the command is killed and `on_timeout` runs before the output
/// is collected: killing the podman client does not stop its container, so
/// the caller removes it there, which also closes the pipes it may hold.
pub(crate) fn run_with_deadline(
    cmd: &mut Command,
    timeout: Duration,
    on_timeout: impl FnOnce(),
) -> Result<Outcome> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let output = OutputReaders::start(&mut child);

    let status = match wait_until(&mut child, Instant::now() + timeout) {
        Ok(status) => status,
        Err(e) => {
            // Do not leave an unwaited child behind on error.
            let _ = child.kill();
            let _ = child.wait();
            return Err(e).with_context(|| format!("waiting for {cmd:?}"));
        }
    };
    if status.is_none() {
        // Already-exited is the only way kill fails here; wait reaps either way.
        let _ = child.kill();
        child
            .wait()
            .with_context(|| format!("reaping killed {cmd:?}"))?;
        on_timeout();
    }
    let (stdout, stderr) = output.collect()?;
    Ok(Outcome {
        status,
        stdout,
        stderr,
    })
}

/// Polls `child` until it exits (`Some`) or `deadline` passes (`None`).
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    // Short naps first so quick containers are not slowed down much, longer
    // ones later so long workloads do not spin.
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Threads draining stdout and stderr, so a chatty command never blocks on a
/// full pipe while we wait for it.
struct OutputReaders {
    stdout: mpsc::Receiver<io::Result<Vec<u8>>>,
    stderr: mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl OutputReaders {
    fn start(child: &mut Child) -> Self {
        OutputReaders {
            stdout: drain::<ChildStdout>(child.stdout.take()),
            stderr: drain::<ChildStderr>(child.stderr.take()),
        }
    }

    fn collect(self) -> Result<(Vec<u8>, Vec<u8>)> {
        let deadline = Instant::now() + PIPE_GRACE;
        let receive = |rx: mpsc::Receiver<io::Result<Vec<u8>>>, what: &str| {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(read) => read.with_context(|| format!("reading the command's {what}")),
                Err(_) => bail!(
                    "the command's {what} stayed open {}s after it exited \
                     (a process it started still holds it)",
                    PIPE_GRACE.as_secs()
                ),
            }
        };
        let stdout = receive(self.stdout, "stdout")?;
        let stderr = receive(self.stderr, "stderr")?;
        Ok((stdout, stderr))
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let read = match pipe {
            Some(mut pipe) => pipe.read_to_end(&mut buf).map(|_| buf),
            None => Ok(buf),
        };
        // The receiver is gone only if the caller gave up waiting; nothing to do.
        let _ = tx.send(read);
    });
    rx
}
