//! How to show a syscall's arguments: names and types per syscall (from capture-format's
//! syscall table), and symbolic flags. Syscalls without argument kinds there show their
//! raw registers as `arg0`..`arg5`.

/// How one argument is rendered: the kinds of capture-format's syscall table.
pub use capture_format::ArgKind as ArgType;

/// Argument names and types of `name`, if known (capture-format's syscall table).
pub fn signature(name: &str) -> Option<&'static [(&'static str, ArgType)]> {
    capture_format::syscall_def(name).and_then(|d| d.args)
}

/// Argument names and types of syscall `nr` of `abi`, if known: [`signature`] by number,
/// a table look-up rather than a search by name (the events view asks once per event).
pub fn signature_of(
    abi: capture_format::Abi,
    nr: u32,
) -> Option<&'static [(&'static str, ArgType)]> {
    capture_format::syscall_def_of(abi, nr).and_then(|d| d.args)
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
