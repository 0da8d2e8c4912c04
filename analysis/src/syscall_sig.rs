//! How to show a syscall's arguments: names and types per syscall, and symbolic flags.
//! Syscalls not listed show their raw registers as `arg0`..`arg5`.

/// How one argument is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// A file descriptor (`AT_FDCWD` shown by name).
    Fd,
    /// A path or string: rendered from the captured parameter.
    Str,
    /// A data buffer: its bytes go to `data`, the argument is omitted.
    Buf,
    /// A socket address: rendered from the captured parameter.
    SockAddr,
    /// The two fds the kernel filled in (pipe).
    Fds,
    /// A C `int`.
    Int,
    /// A C `long` / `off_t`.
    Long,
    Uint,
    /// A pointer or opaque value: hex.
    Hex,
    /// Octal permission bits.
    Mode,
    OpenFlags,
    Prot,
    Signal,
    SockFamily,
    SockType,
}

use ArgType::*;

const TABLE: &[(&str, &[(&str, ArgType)])] = &[
    ("read", &[("fd", Fd), ("buf", Buf), ("count", Uint)]),
    ("write", &[("fd", Fd), ("buf", Buf), ("count", Uint)]),
    (
        "pread64",
        &[("fd", Fd), ("buf", Buf), ("count", Uint), ("offset", Long)],
    ),
    (
        "pwrite64",
        &[("fd", Fd), ("buf", Buf), ("count", Uint), ("offset", Long)],
    ),
    ("lseek", &[("fd", Fd), ("offset", Long), ("whence", Int)]),
    ("fcntl", &[("fd", Fd), ("cmd", Int), ("arg", Hex)]),
    (
        "clone",
        &[
            ("flags", Hex),
            ("stack", Hex),
            ("parent_tid", Hex),
            ("child_tid", Hex),
            ("tls", Hex),
        ],
    ),
    ("clone3", &[("cl_args", Hex), ("size", Uint)]),
    (
        "wait4",
        &[
            ("pid", Int),
            ("wstatus", Hex),
            ("options", Hex),
            ("rusage", Hex),
        ],
    ),
    (
        "prctl",
        &[
            ("option", Int),
            ("arg2", Hex),
            ("arg3", Hex),
            ("arg4", Hex),
            ("arg5", Hex),
        ],
    ),
    ("unshare", &[("flags", Hex)]),
    ("setns", &[("fd", Fd), ("nstype", Hex)]),
    (
        "process_vm_writev",
        &[
            ("pid", Int),
            ("local_iov", Hex),
            ("liovcnt", Uint),
            ("remote_iov", Hex),
            ("riovcnt", Uint),
            ("flags", Hex),
        ],
    ),
    ("bpf", &[("cmd", Int), ("attr", Hex), ("size", Uint)]),
    ("io_uring_setup", &[("entries", Uint), ("params", Hex)]),
    (
        "io_uring_enter",
        &[
            ("fd", Fd),
            ("to_submit", Uint),
            ("min_complete", Uint),
            ("flags", Hex),
            ("sig", Hex),
            ("sigsz", Uint),
        ],
    ),
    (
        "sendfile",
        &[
            ("out_fd", Fd),
            ("in_fd", Fd),
            ("offset", Hex),
            ("count", Uint),
        ],
    ),
    (
        "splice",
        &[
            ("fd_in", Fd),
            ("off_in", Hex),
            ("fd_out", Fd),
            ("off_out", Hex),
            ("len", Uint),
            ("flags", Hex),
        ],
    ),
    (
        "copy_file_range",
        &[
            ("fd_in", Fd),
            ("off_in", Hex),
            ("fd_out", Fd),
            ("off_out", Hex),
            ("len", Uint),
            ("flags", Hex),
        ],
    ),
    ("setgid", &[("gid", Int)]),
    ("setresgid", &[("rgid", Int), ("egid", Int), ("sgid", Int)]),
    ("setgroups", &[("size", Int), ("list", Hex)]),
    ("capset", &[("hdrp", Hex), ("datap", Hex)]),
    ("pivot_root", &[("new_root", Str), ("put_old", Str)]),
    ("readv", &[("fd", Fd), ("iov", Buf), ("iovcnt", Int)]),
    ("writev", &[("fd", Fd), ("iov", Buf), ("iovcnt", Int)]),
    (
        "open",
        &[("pathname", Str), ("flags", OpenFlags), ("mode", Mode)],
    ),
    (
        "openat",
        &[
            ("dirfd", Fd),
            ("pathname", Str),
            ("flags", OpenFlags),
            ("mode", Mode),
        ],
    ),
    (
        "openat2",
        &[
            ("dirfd", Fd),
            ("pathname", Str),
            ("how", Hex),
            ("size", Uint),
        ],
    ),
    ("creat", &[("pathname", Str), ("mode", Mode)]),
    ("close", &[("fd", Fd)]),
    ("dup", &[("oldfd", Fd)]),
    ("dup2", &[("oldfd", Fd), ("newfd", Fd)]),
    (
        "dup3",
        &[("oldfd", Fd), ("newfd", Fd), ("flags", OpenFlags)],
    ),
    ("pipe", &[("pipefd", Fds)]),
    ("pipe2", &[("pipefd", Fds), ("flags", OpenFlags)]),
    ("execve", &[("filename", Str), ("argv", Hex), ("envp", Hex)]),
    (
        "execveat",
        &[
            ("dirfd", Fd),
            ("filename", Str),
            ("argv", Hex),
            ("envp", Hex),
            ("flags", Hex),
        ],
    ),
    ("exit", &[("status", Int)]),
    ("exit_group", &[("status", Int)]),
    ("kill", &[("pid", Int), ("sig", Signal)]),
    ("tkill", &[("tid", Int), ("sig", Signal)]),
    ("tgkill", &[("tgid", Int), ("tid", Int), ("sig", Signal)]),
    (
        "socket",
        &[
            ("domain", SockFamily),
            ("type", SockType),
            ("protocol", Int),
        ],
    ),
    (
        "connect",
        &[("fd", Fd), ("addr", SockAddr), ("addrlen", Uint)],
    ),
    ("bind", &[("fd", Fd), ("addr", SockAddr), ("addrlen", Uint)]),
    ("listen", &[("fd", Fd), ("backlog", Int)]),
    (
        "accept",
        &[("fd", Fd), ("addr", SockAddr), ("addrlen", Hex)],
    ),
    (
        "accept4",
        &[
            ("fd", Fd),
            ("addr", SockAddr),
            ("addrlen", Hex),
            ("flags", OpenFlags),
        ],
    ),
    (
        "sendto",
        &[
            ("fd", Fd),
            ("buf", Buf),
            ("len", Uint),
            ("flags", Hex),
            ("dest_addr", SockAddr),
            ("addrlen", Uint),
        ],
    ),
    (
        "recvfrom",
        &[
            ("fd", Fd),
            ("buf", Buf),
            ("len", Uint),
            ("flags", Hex),
            ("src_addr", SockAddr),
            ("addrlen", Hex),
        ],
    ),
    ("sendmsg", &[("fd", Fd), ("msg", Buf), ("flags", Hex)]),
    ("recvmsg", &[("fd", Fd), ("msg", Buf), ("flags", Hex)]),
    (
        "socketpair",
        &[
            ("domain", SockFamily),
            ("type", SockType),
            ("protocol", Int),
            ("sv", Fds),
        ],
    ),
    ("unlink", &[("pathname", Str)]),
    (
        "unlinkat",
        &[("dirfd", Fd), ("pathname", Str), ("flags", Hex)],
    ),
    ("rename", &[("oldpath", Str), ("newpath", Str)]),
    (
        "renameat",
        &[
            ("olddirfd", Fd),
            ("oldpath", Str),
            ("newdirfd", Fd),
            ("newpath", Str),
        ],
    ),
    (
        "renameat2",
        &[
            ("olddirfd", Fd),
            ("oldpath", Str),
            ("newdirfd", Fd),
            ("newpath", Str),
            ("flags", Hex),
        ],
    ),
    ("mkdir", &[("pathname", Str), ("mode", Mode)]),
    (
        "mkdirat",
        &[("dirfd", Fd), ("pathname", Str), ("mode", Mode)],
    ),
    ("rmdir", &[("pathname", Str)]),
    ("chmod", &[("pathname", Str), ("mode", Mode)]),
    ("fchmod", &[("fd", Fd), ("mode", Mode)]),
    (
        "fchmodat",
        &[("dirfd", Fd), ("pathname", Str), ("mode", Mode)],
    ),
    (
        "chown",
        &[("pathname", Str), ("owner", Int), ("group", Int)],
    ),
    (
        "fchownat",
        &[
            ("dirfd", Fd),
            ("pathname", Str),
            ("owner", Int),
            ("group", Int),
            ("flags", Hex),
        ],
    ),
    ("symlink", &[("target", Str), ("linkpath", Str)]),
    (
        "symlinkat",
        &[("target", Str), ("newdirfd", Fd), ("linkpath", Str)],
    ),
    ("link", &[("oldpath", Str), ("newpath", Str)]),
    (
        "linkat",
        &[
            ("olddirfd", Fd),
            ("oldpath", Str),
            ("newdirfd", Fd),
            ("newpath", Str),
            ("flags", Hex),
        ],
    ),
    ("truncate", &[("path", Str), ("length", Long)]),
    ("ftruncate", &[("fd", Fd), ("length", Long)]),
    ("chdir", &[("path", Str)]),
    ("fchdir", &[("fd", Fd)]),
    ("chroot", &[("path", Str)]),
    (
        "mount",
        &[
            ("source", Str),
            ("target", Str),
            ("filesystemtype", Str),
            ("mountflags", Hex),
            ("data", Hex),
        ],
    ),
    ("umount2", &[("target", Str), ("flags", Hex)]),
    (
        "mmap",
        &[
            ("addr", Hex),
            ("length", Uint),
            ("prot", Prot),
            ("flags", Hex),
            ("fd", Fd),
            ("offset", Long),
        ],
    ),
    ("mprotect", &[("addr", Hex), ("len", Uint), ("prot", Prot)]),
    ("memfd_create", &[("name", Str), ("flags", Hex)]),
    ("setuid", &[("uid", Int)]),
    ("setresuid", &[("ruid", Int), ("euid", Int), ("suid", Int)]),
    (
        "ptrace",
        &[("request", Int), ("pid", Int), ("addr", Hex), ("data", Hex)],
    ),
    ("getppid", &[]),
    ("getpid", &[]),
    ("stat", &[("pathname", Str), ("statbuf", Hex)]),
    ("lstat", &[("pathname", Str), ("statbuf", Hex)]),
    (
        "newfstatat",
        &[
            ("dirfd", Fd),
            ("pathname", Str),
            ("statbuf", Hex),
            ("flags", Hex),
        ],
    ),
    ("access", &[("pathname", Str), ("mode", Int)]),
    (
        "faccessat",
        &[("dirfd", Fd), ("pathname", Str), ("mode", Int)],
    ),
    (
        "readlink",
        &[("pathname", Str), ("buf", Hex), ("bufsiz", Uint)],
    ),
    (
        "init_module",
        &[("module_image", Hex), ("len", Uint), ("param_values", Str)],
    ),
    (
        "finit_module",
        &[("fd", Fd), ("param_values", Str), ("flags", Hex)],
    ),
    ("delete_module", &[("name", Str), ("flags", Hex)]),
];

/// Argument names and types of `name`, if known.
pub fn signature(name: &str) -> Option<&'static [(&'static str, ArgType)]> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, sig)| *sig)
}

/// `O_*` flags of open/openat, as `O_WRONLY|O_CREAT|O_TRUNC`.
pub fn open_flags(v: u64) -> String {
    const FLAGS: &[(u64, &str)] = &[
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (0o10000, "O_DSYNC"),
        (0o20000, "O_ASYNC"),
        (0o40000, "O_DIRECT"),
        (0o200000, "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
        (0o4010000, "O_SYNC"),
        (0o10000000, "O_PATH"),
        (0o20200000, "O_TMPFILE"),
    ];
    let mut parts = vec![match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_owned()];
    let mut rest = v & !3;
    for (bit, name) in FLAGS {
        if rest & bit == *bit {
            parts.push((*name).to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#o}"));
    }
    parts.join("|")
}

pub fn prot(v: u64) -> String {
    if v == 0 {
        return "PROT_NONE".into();
    }
    let mut parts = Vec::new();
    for (bit, name) in [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")] {
        if v & bit != 0 {
            parts.push(name.to_owned());
        }
    }
    if v & !7 != 0 {
        parts.push(format!("{:#x}", v & !7));
    }
    parts.join("|")
}

pub fn signal(v: u64) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES
        .get(v as usize)
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| v.to_string())
}

pub fn sock_family(v: u64) -> String {
    match v {
        1 => "AF_UNIX".into(),
        2 => "AF_INET".into(),
        10 => "AF_INET6".into(),
        16 => "AF_NETLINK".into(),
        17 => "AF_PACKET".into(),
        other => other.to_string(),
    }
}

pub fn sock_type(v: u64) -> String {
    let base = match v & 0xf {
        1 => "SOCK_STREAM".to_owned(),
        2 => "SOCK_DGRAM".to_owned(),
        3 => "SOCK_RAW".to_owned(),
        5 => "SOCK_SEQPACKET".to_owned(),
        other => other.to_string(),
    };
    let mut parts = vec![base];
    if v & 0o4000 != 0 {
        parts.push("SOCK_NONBLOCK".into());
    }
    if v & 0o2000000 != 0 {
        parts.push("SOCK_CLOEXEC".into());
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_flags() {
        assert_eq!(open_flags(0o1101), "O_WRONLY|O_CREAT|O_TRUNC");
        assert_eq!(open_flags(0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(prot(5), "PROT_READ|PROT_EXEC");
        assert_eq!(signal(9), "SIGKILL");
        assert_eq!(sock_type(1 | 0o2000000), "SOCK_STREAM|SOCK_CLOEXEC");
    }
}
