//! Driving a program through a pseudo-terminal, as a person at a keyboard would: the
//! program gets its own session with the pty as controlling terminal.

use std::{
    fs::File,
    io::{Read, Write},
    os::fd::{FromRawFd, OwnedFd},
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

pub struct PtySession {
    master: File,
    child: Child,
}

impl PtySession {
    /// Starts `program` with a new pty as its stdin, stdout, stderr and controlling
    /// terminal. The Command is built here and dropped after the spawn: it holds copies of
    /// the pty's slave side, and the master only sees the end once every copy is closed.
    pub fn spawn(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let mut command = Command::new(program);
        command.args(args).envs(env.iter().copied());
        let cmd = &mut command;
        let (mut master, mut slave) = (0, 0);
        // SAFETY: out-pointers to two ints; the name, termios and winsize are optional.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            bail!("openpty: {}", std::io::Error::last_os_error());
        }
        // SAFETY: openpty returned two fresh fds that we now own.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = |fd: &OwnedFd| -> Result<Stdio> { Ok(Stdio::from(fd.try_clone()?)) };
        cmd.stdin(stdio(&slave)?)
            .stdout(stdio(&slave)?)
            .stderr(stdio(&slave)?);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().context("spawning on the pty")?;
        drop(command);
        drop(slave);
        Ok(PtySession {
            master: File::from(master),
            child,
        })
    }

    /// Types `text` (a line should end in "\n"), then gives the program a moment.
    pub fn type_line(&mut self, text: &str) -> Result<()> {
        self.master.write_all(text.as_bytes())?;
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    /// Waits for the program to exit and returns everything it printed.
    pub fn finish(mut self) -> Result<String> {
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // The master reads EIO once the last slave fd closes: that is the end.
            while let Ok(n) = self.master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            out
        });
        self.child.wait()?;
        let out = reader
            .join()
            .map_err(|_| anyhow::anyhow!("pty reader panicked"))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
