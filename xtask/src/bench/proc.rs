//! Running and timing child processes: wall time, CPU and peak RSS from wait4's rusage, a
//! watchdog that kills a hung run's whole process group, and background daemons (the
//! recorder, bpftrace, auditd) that are stopped with a signal and always reaped.

use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM set a flag instead of killing the bench, so that it stops between
/// runs and its cleanup (auditctl -D, stopping daemons, unmounting) always happens.
/// Children run in process groups of their own and do not see the terminal's Ctrl-C.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted (cleaning up)");
    }
    Ok(())
}

/// What one finished child cost.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub elapsed: Duration,
    /// The raw wait status.
    pub status: i32,
    /// User + system CPU of the child and its waited-for descendants.
    pub cpu: Duration,
    /// Peak resident set size, KiB (the largest of the child and its waited-for descendants).
    pub maxrss_kib: u64,
    /// Killed by the watchdog.
    pub timed_out: bool,
}

impl Measured {
    pub fn success(&self) -> bool {
        !self.timed_out && libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }

    pub fn describe(&self) -> String {
        if self.timed_out {
            format!(
                "killed after {:.1}s (time limit)",
                self.elapsed.as_secs_f64()
            )
        } else if libc::WIFEXITED(self.status) {
            format!("exit code {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {:#x}", self.status)
        }
    }
}

/// Waits for `pid` with wait4, returning its status and rusage. Retries on EINTR.
fn wait4(pid: i32) -> Result<(i32, libc::rusage)> {
    loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: plain syscall wrapper on our own child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, ru));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err).with_context(|| format!("waiting for process {pid}"));
        }
    }
}

fn rusage_cpu(ru: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sends `sig` to the process group `pgid` (children started by [`spawn_group`] lead one).
pub fn kill_group(pgid: u32, sig: i32) {
    // SAFETY: plain syscall wrapper.
    unsafe { libc::kill(-(pgid as i32), sig) };
}

pub fn kill_pid(pid: u32, sig: i32) {
    // SAFETY: plain syscall wrapper.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Spawns `cmd` as the leader of a new process group.
pub fn spawn_group(cmd: &mut Command) -> Result<Child> {
    cmd.process_group(0);
    cmd.spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))
}

/// Runs `cmd` to completion in its own process group and measures it. After `limit` the
/// whole group is killed (and the result says so); Ctrl-C on the bench does the same.
/// The wall time runs from just before spawn to the reap.
pub fn run_measured(cmd: &mut Command, limit: Duration) -> Result<Measured> {
    let start = Instant::now();
    let child = spawn_group(cmd)?;
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let fired = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let fired = Arc::clone(&fired);
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match done_rx.recv_timeout(left.min(Duration::from_millis(100))) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if interrupted() || Instant::now() >= deadline {
                            fired.store(true, Ordering::SeqCst);
                            kill_group(pid, libc::SIGKILL);
                            return;
                        }
                    }
                }
            }
        })
    };
    let waited = wait4(pid as i32);
    let elapsed = start.elapsed();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    // The group may hold grandchildren the leader left behind (strace's tracees when it
    // is killed): make sure none outlive the run.
    kill_group(pid, libc::SIGKILL);
    let (status, ru) = waited?;
    Ok(Measured {
        elapsed,
        status,
        cpu: rusage_cpu(&ru),
        maxrss_kib: ru.ru_maxrss.max(0) as u64,
        timed_out: fired.load(Ordering::SeqCst),
    })
}

/// A daemon in the background (own process group), its stderr collected by a thread. It is
/// stopped with SIGINT (then SIGKILL after a grace period) and reaped when dropped.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<thread::JoinHandle<()>>,
    ready_rx: Option<mpsc::Receiver<()>>,
}

/// How a daemon ended.
pub struct Stopped {
    pub measured: Measured,
    pub stderr: Vec<String>,
}

impl Daemon {
    /// Starts `cmd` with stderr piped. `ready` is matched against each stderr line; the first
    /// match is reported to [`Daemon::wait_ready`] (pass `None` to wait some other way).
    pub fn start(name: &str, cmd: &mut Command, ready: Option<&'static str>) -> Result<Daemon> {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
        let mut child = spawn_group(cmd)?;
        let stderr = child.stderr.take().context("daemon stderr")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let lines = Arc::clone(&lines);
            thread::spawn(move || {
                let mut tx = Some(tx);
                let mut r = BufReader::new(stderr);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    if let (Some(pat), Some(_)) = (ready, tx.as_ref()) {
                        if line.contains(pat) {
                            let _ = tx.take().map(|t| t.send(()));
                        }
                    }
                    lines.lock().expect("lines").push(line);
                }
                // Drain anything left so the daemon never blocks on a full pipe.
                let _ = r.read_to_end(&mut buf);
            })
        };
        Ok(Daemon {
            name: name.to_owned(),
            child: Some(child),
            lines,
            reader: Some(reader),
            ready_rx: Some(rx),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// User + system CPU the daemon used so far (its threads included), from /proc.
    pub fn cpu_so_far(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the ")".
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
    }

    /// Waits for the ready line. Fails (stopping the daemon) if it exits or times out first.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let rx = self.ready_rx.take().context("wait_ready called twice")?;
        match rx.recv_timeout(limit) {
            Ok(()) => Ok(()),
            Err(_) => {
                let why = self.stop_now(Duration::from_secs(5));
                bail!(
                    "{} did not become ready within {:.0}s: {}",
                    self.name,
                    limit.as_secs_f64(),
                    why
                );
            }
        }
    }

    /// Whether the daemon is still running (not reaped here).
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn stderr_so_far(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    fn stop_now(&mut self, grace: Duration) -> String {
        match self.stop(grace) {
            Ok(s) => format!("{}; stderr: {}", s.measured.describe(), tail(&s.stderr)),
            Err(e) => format!("{e:#}"),
        }
    }

    /// SIGINT, then SIGKILL to the group after `grace`; reaps and returns CPU and stderr.
    pub fn stop(&mut self, grace: Duration) -> Result<Stopped> {
        self.stop_with(libc::SIGINT, grace)
    }

    /// Like [`Daemon::stop`] with another signal.
    pub fn stop_with(&mut self, sig: i32, grace: Duration) -> Result<Stopped> {
        let child = self.child.take().context("daemon already stopped")?;
        let pid = child.id();
        let start = Instant::now();
        kill_pid(pid, sig);
        let (tx, rx) = mpsc::channel::<()>();
        let killer = thread::spawn(move || {
            if rx.recv_timeout(grace).is_err() {
                kill_group(pid, libc::SIGKILL);
                true
            } else {
                false
            }
        });
        let waited = wait4(pid as i32);
        let _ = tx.send(());
        let killed = killer.join().unwrap_or(false);
        drop(child);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let (status, ru) = waited?;
        Ok(Stopped {
            measured: Measured {
                elapsed: start.elapsed(),
                status,
                cpu: rusage_cpu(&ru),
                maxrss_kib: ru.ru_maxrss.max(0) as u64,
                timed_out: killed,
            },
            stderr: std::mem::take(&mut *self.lines.lock().expect("lines")),
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop(Duration::from_secs(10));
        }
    }
}

/// The last few lines, for error messages.
pub fn tail(lines: &[String]) -> String {
    let n = lines.len();
    lines[n.saturating_sub(3)..].join(" | ")
}

/// Runs a command quietly and returns whether it succeeded (setup and cleanup steps).
pub fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a command and returns its stdout (None on failure to start or non-zero exit).
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
