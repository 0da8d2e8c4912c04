//! Running the real recorder in the background around a workload, the way a responder
//! would: start it, wait until it records, run the workload, stop it with SIGINT.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, ChildStderr, Command, Stdio},
};

use anyhow::{bail, Context, Result};

use crate::{target_bin, RECORDER_BIN};

/// A recorder running in the background; stopped (SIGINT, then waited for) on drop if
/// `stop` was not called.
pub struct BackgroundRecorder {
    child: Option<Child>,
    stderr: BufReader<ChildStderr>,
}

impl BackgroundRecorder {
    /// Starts `aftertrace-recorder record -o CAPTURE EXTRA...` and returns once it says
    /// it is recording.
    pub fn start(capture: &Path, extra: &[&str]) -> Result<Self> {
        let mut child = Command::new(target_bin(RECORDER_BIN))
            .args(["record", "--duration", "120s"])
            .args(extra)
            .arg("-o")
            .arg(capture)
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the recorder")?;
        let mut stderr = BufReader::new(child.stderr.take().context("recorder stderr")?);
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line)? == 0 {
                let status = child.wait()?;
                bail!("the recorder exited before recording: {status}");
            }
            if line.contains("recording") {
                break;
            }
        }
        Ok(BackgroundRecorder {
            child: Some(child),
            stderr,
        })
    }

    /// Stops the recorder with SIGINT and returns its remaining stderr; fails if it did not
    /// exit successfully.
    pub fn stop(mut self) -> Result<String> {
        let mut child = self.child.take().context("already stopped")?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait()?;
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).ok();
        if !status.success() {
            bail!("the recorder failed ({status}): {rest}");
        }
        Ok(rest)
    }
}

impl Drop for BackgroundRecorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
        }
    }
}
