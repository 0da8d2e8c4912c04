//! The workloads: small C programs compiled with `cc -O2` into OUT/bin at bench time, plus
//! `dd`. Each takes an iteration count N so that the bench can size a run to a target
//! duration in every mode (bare runs need millions of iterations, strace thousands).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

/// `getppid N`: N raw getppid syscalls (`syscall(SYS_getppid)`, no libc caching).
const GETPPID_C: &str = r#"
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return 0;
}
"#;

/// `fileio N PATH`: N times open(O_CREAT|O_TRUNC) + write 4 KiB + pread 4 KiB + close.
const FILEIO_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: fileio N PATH\n"); return 64; }
    long n = atol(argv[1]);
    const char *path = argv[2];
    static char out[4096], in[4096];
    const char *line = "GET /api/v1/items?page=2 HTTP/1.1 200 1534 0.004 aftertrace-bench\n";
    for (int i = 0; i < 4096; i++) out[i] = line[i % 66];
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) { perror("open"); return 1; }
        if (write(fd, out, sizeof out) != (ssize_t)sizeof out) { perror("write"); return 1; }
        if (pread(fd, in, sizeof in, 0) != (ssize_t)sizeof in) { perror("pread"); return 1; }
        if (close(fd) != 0) { perror("close"); return 1; }
    }
    unlink(path);
    return 0;
}
"#;

/// `forkexec N`: N times fork + execve("/bin/true") + waitpid.
const FORKEXEC_C: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    char *args[] = {"/bin/true", NULL};
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) { execve("/bin/true", args, environ); _exit(127); }
        int st;
        if (waitpid(pid, &st, 0) < 0) { perror("waitpid"); return 1; }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child failed\n"); return 1; }
    }
    return 0;
}
"#;

/// `rate TOTAL_PER_S NPROC SECONDS`: NPROC processes, process i pinned to CPU i, together
/// making TOTAL_PER_S getppid syscalls per second (0: as fast as they can) for SECONDS.
/// Each keeps to its share by catching up with a schedule (count due by now) and sleeping
/// 200 us when ahead. Prints "SYSCALLS ELAPSED_S".
const RATE_C: &str = r#"
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: rate TOTAL_PER_S NPROC SECONDS\n"); return 64; }
    double total = atof(argv[1]);
    int np = atoi(argv[2]);
    double secs = atof(argv[3]);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED || np < 1 || np > 64) { perror("setup"); return 1; }
    double t0 = now();
    for (int p = 0; p < np; p++) {
        pid_t c = fork();
        if (c < 0) { perror("fork"); return 1; }
        if (c == 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(p % ncpu, &set);
            sched_setaffinity(0, sizeof set, &set);
            double per = total / np, start = now(), t;
            long n = 0;
            while ((t = now() - start) < secs) {
                long due = per > 0 ? (long)(per * t) + 1 : n + 1000;
                if (n < due) {
                    long k = due - n;
                    if (k > 20000) k = 20000;
                    for (long i = 0; i < k; i++) syscall(SYS_getppid);
                    n += k;
                } else {
                    struct timespec ts = {0, 200000};
                    nanosleep(&ts, NULL);
                }
            }
            counts[p] = n;
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {}
    double el = now() - t0;
    long sum = 0;
    for (int p = 0; p < np; p++) sum += counts[p];
    printf("%ld %.6f\n", sum, el);
    return 0;
}
"#;

/// Compiles the C workloads into `dir`; returns it.
pub fn compile(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, src) in [
        ("getppid", GETPPID_C),
        ("fileio", FILEIO_C),
        ("forkexec", FORKEXEC_C),
        ("rate", RATE_C),
    ] {
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, src).with_context(|| format!("writing {}", c.display()))?;
        let out = Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(dir.join(name))
            .arg(&c)
            .output()
            .context("running cc (apt-get install gcc)")?;
        if !out.status.success() {
            bail!(
                "cc {} failed: {}",
                c.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(dir.to_path_buf())
}

/// One workload of the overhead table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dd,
    Getppid,
    FileIo,
    ForkExec,
    Mixed,
}

pub struct Workload {
    pub kind: Kind,
    pub key: &'static str,
    pub title: &'static str,
    /// For the chart.
    pub short: &'static str,
    /// What the table shows: time per syscall, per operation or per run.
    pub unit: &'static str,
    /// Nanoseconds in one `unit`.
    pub unit_ns: f64,
    /// Syscalls one iteration makes, when fixed (time is shown per syscall then).
    pub syscalls_per_iter: Option<f64>,
    /// The recorder's goal as a ratio to bare (issue 14), when there is one.
    pub goal_ratio: Option<f64>,
    /// Iterations of the first (pilot) run, grown tenfold until a run lasts long enough.
    pub pilot_iters: u64,
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        kind: Kind::Dd,
        key: "dd",
        short: "dd bs=500",
        title: "dd bs=500 /dev/zero->/dev/null",
        unit: "ns/syscall",
        unit_ns: 1.0,
        syscalls_per_iter: Some(2.0),
        goal_ratio: Some(1.8),
        pilot_iters: 1000,
    },
    Workload {
        kind: Kind::Getppid,
        key: "getppid",
        short: "getppid loop",
        title: "getppid loop (raw syscall)",
        unit: "ns/syscall",
        unit_ns: 1.0,
        syscalls_per_iter: Some(1.0),
        goal_ratio: Some(2.0),
        pilot_iters: 2000,
    },
    Workload {
        kind: Kind::FileIo,
        key: "fileio",
        short: "4 KiB file I/O",
        title: "4 KiB open/write/pread/close, tmpfs",
        unit: "ns/syscall",
        unit_ns: 1.0,
        syscalls_per_iter: Some(4.0),
        goal_ratio: Some(1.25),
        pilot_iters: 500,
    },
    Workload {
        kind: Kind::ForkExec,
        key: "forkexec",
        short: "fork+exec",
        title: "fork+execve(/bin/true)+wait",
        unit: "us/op",
        unit_ns: 1e3,
        syscalls_per_iter: None,
        goal_ratio: Some(1.15),
        pilot_iters: 20,
    },
    Workload {
        kind: Kind::Mixed,
        key: "mixed",
        short: "mixed (podman)",
        title: "mixed: podman busy service + attack script",
        unit: "ms/run",
        unit_ns: 1e6,
        syscalls_per_iter: None,
        goal_ratio: Some(1.15),
        pilot_iters: 1,
    },
];

/// The command for `iters` iterations of a (non-mixed) workload.
pub fn command(kind: Kind, bin: &Path, tmpdir: &Path, iters: u64) -> Vec<String> {
    let b = |name: &str| bin.join(name).display().to_string();
    match kind {
        Kind::Dd => vec![
            "dd".into(),
            "if=/dev/zero".into(),
            "of=/dev/null".into(),
            "bs=500".into(),
            format!("count={iters}"),
            "status=none".into(),
        ],
        Kind::Getppid => vec![b("getppid"), iters.to_string()],
        Kind::FileIo => vec![
            b("fileio"),
            iters.to_string(),
            tmpdir
                .join(format!("fileio-{}", std::process::id()))
                .display()
                .to_string(),
        ],
        Kind::ForkExec => vec![b("forkexec"), iters.to_string()],
        Kind::Mixed => unreachable!("the mixed workload runs through podman"),
    }
}

/// The attack script the mixed workload times (inside the container, with a busy service
/// beside it): reads credentials, drops and runs a script, decodes and pipes a payload to
/// a shell, talks to the service. `$1` iterations.
pub const MIXED_ATTACK: &str = r#"i=0; while [ $i -lt $1 ]; do
cat /etc/passwd > /dev/null
printf '#!/bin/sh\necho pwned; id; uname -a\n' > /tmp/dropper.sh
chmod +x /tmp/dropper.sh; /tmp/dropper.sh > /dev/null
echo 'aWQ7IHVuYW1lIC1hOyBscyAvZXRjCg==' | base64 -d | sh > /dev/null
wget -q -O - http://127.0.0.1:8080/index.html > /dev/null
for f in /etc/*; do [ -f "$f" ] && head -c 64 "$f" > /dev/null; done
i=$((i+1)); done"#;

/// The busy service: busybox httpd and a client fetching from it every 5 ms.
pub const MIXED_SERVICE: &str = "mkdir -p /www && echo hello > /www/index.html && \
     httpd -p 127.0.0.1:8080 -h /www && \
     while true; do wget -q -O /dev/null http://127.0.0.1:8080/index.html; usleep 5000; done";
