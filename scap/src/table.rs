//! The scap event table: for each event type this crate decodes, its name, whether it is
//! a syscall's enter or exit half, and its parameters in order.
//!
//! Written from the published format (falcosecurity/libs `driver/ppm_events_public.h` for
//! the type numbers, the event table for the parameter lists). Layouts are those of libs
//! 0.x as of 2022 (what Debian's sysdig 0.29 reads), which newer writers only extend at
//! the end: a reader that finds more parameters than listed here ignores the extra ones,
//! and an old capture with fewer is read by count (see `parse::event`). Event types not
//! listed are skipped and counted, never guessed.

/// How a parameter is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum K {
    /// 64-bit integer (fd, errno, pid, u64/i64).
    N8,
    /// 32-bit integer (flags, mode, uint32).
    N4,
    N2,
    N1,
    /// NUL-terminated path.
    Path,
    /// NUL-terminated string.
    Str,
    /// Raw bytes (data buffers, NUL-separated lists).
    Buf,
    /// A socket address: family byte then address.
    Addr,
    /// A socket tuple: family byte then both ends.
    Tuple,
    /// A poll fd list.
    FdList,
    /// Anything else (dynamic sockopt values): kept raw.
    Dyn,
}

#[derive(Debug)]
pub struct EventInfo {
    pub code: u16,
    /// The syscall's name as sysdig shows it (`evt.type`).
    pub name: &'static str,
    /// The exit half of a syscall (odd codes), or a one-shot event.
    pub exit: bool,
    /// The x86_64 syscall it maps to; `None` for events that are no syscall (scheduler
    /// switches, procinfo, container metadata, process exit).
    pub syscall: Option<&'static str>,
    pub params: &'static [(&'static str, K)],
}

use K::*;

const PROC_X_16: &[(&str, K)] = &[
    ("res", N8),
    ("exe", Str),
    ("args", Buf),
    ("tid", N8),
    ("pid", N8),
    ("ptid", N8),
    ("cwd", Str),
    ("fdlimit", N8),
    ("pgft_maj", N8),
    ("pgft_min", N8),
    ("vm_size", N4),
    ("vm_rss", N4),
    ("vm_swap", N4),
    ("comm", Str),
    ("cgroups", Buf),
    ("env", Buf),
];

const EXECVE_19_X: &[(&str, K)] = &[
    ("res", N8),
    ("exe", Str),
    ("args", Buf),
    ("tid", N8),
    ("pid", N8),
    ("ptid", N8),
    ("cwd", Str),
    ("fdlimit", N8),
    ("pgft_maj", N8),
    ("pgft_min", N8),
    ("vm_size", N4),
    ("vm_rss", N4),
    ("vm_swap", N4),
    ("comm", Str),
    ("cgroups", Buf),
    ("env", Buf),
    ("tty", N4),
    ("pgid", N8),
    ("loginuid", N4),
    ("flags", N4),
];

const CLONE_20_X: &[(&str, K)] = &[
    ("res", N8),
    ("exe", Str),
    ("args", Buf),
    ("tid", N8),
    ("pid", N8),
    ("ptid", N8),
    ("cwd", Str),
    ("fdlimit", N8),
    ("pgft_maj", N8),
    ("pgft_min", N8),
    ("vm_size", N4),
    ("vm_rss", N4),
    ("vm_swap", N4),
    ("comm", Str),
    ("cgroups", Buf),
    ("flags", N4),
    ("uid", N4),
    ("gid", N4),
    ("vtid", N8),
    ("vpid", N8),
];

const SOCKOPT_X: &[(&str, K)] = &[
    ("res", N8),
    ("fd", N8),
    ("level", N1),
    ("optname", N1),
    ("val", Dyn),
    ("optlen", N4),
];

const ACCEPT_5_X: &[(&str, K)] = &[
    ("fd", N8),
    ("tuple", Tuple),
    ("queuepct", N1),
    ("queuelen", N4),
    ("queuemax", N4),
];

const MEM_X: &[(&str, K)] = &[
    ("res", N8),
    ("vm_size", N4),
    ("vm_rss", N4),
    ("vm_swap", N4),
];

const RES: &[(&str, K)] = &[("res", N8)];
const FD: &[(&str, K)] = &[("fd", N8)];
const FD_SIZE: &[(&str, K)] = &[("fd", N8), ("size", N4)];
const RES_DATA: &[(&str, K)] = &[("res", N8), ("data", Buf)];
const NONE: &[(&str, K)] = &[];

macro_rules! ev {
    ($code:expr, $name:expr, $exit:expr, $sys:expr, $params:expr) => {
        EventInfo {
            code: $code,
            name: $name,
            exit: $exit,
            syscall: $sys,
            params: $params,
        }
    };
}

/// Enter/exit pairs of one syscall: codes `e` and `e + 1`.
macro_rules! pair {
    ($e:expr, $name:expr, $ep:expr, $xp:expr) => {
        [
            ev!($e, $name, false, Some($name), $ep),
            ev!($e + 1, $name, true, Some($name), $xp),
        ]
    };
    ($e:expr, $name:expr, $sys:expr, $ep:expr, $xp:expr) => {
        [
            ev!($e, $name, false, Some($sys), $ep),
            ev!($e + 1, $name, true, Some($sys), $xp),
        ]
    };
}

pub const GENERIC_E: u16 = 0;
pub const OPEN_E: u16 = 2;
pub const CLOSE_E: u16 = 4;
pub const READ_E: u16 = 6;
pub const WRITE_E: u16 = 8;
pub const SOCKET_E: u16 = 18;
pub const CONNECT_E: u16 = 22;
pub const SENDTO_E: u16 = 30;
pub const RECVFROM_E: u16 = 34;
pub const PROCEXIT_1_E: u16 = 186;
pub const CLONE_20_E: u16 = 222;
pub const EXECVE_19_E: u16 = 292;
pub const OPENAT_2_E: u16 = 306;

static TABLE: &[[EventInfo; 2]] = &[
    [
        ev!(0, "syscall", false, None, &[("ID", N2), ("nativeID", N2)]),
        ev!(1, "syscall", true, None, &[("ID", N2)]),
    ],
    pair!(
        2,
        "open",
        &[("name", Path), ("flags", N4), ("mode", N4)],
        &[
            ("fd", N8),
            ("name", Path),
            ("flags", N4),
            ("mode", N4),
            ("dev", N4)
        ]
    ),
    pair!(4, "close", FD, RES),
    pair!(6, "read", FD_SIZE, RES_DATA),
    pair!(8, "write", FD_SIZE, RES_DATA),
    pair!(
        12,
        "execve",
        NONE,
        &[
            ("res", N8),
            ("exe", Str),
            ("args", Buf),
            ("tid", N8),
            ("pid", N8),
            ("ptid", N8),
            ("cwd", Str),
            ("fdlimit", N8)
        ]
    ),
    pair!(
        18,
        "socket",
        &[("domain", N4), ("type", N4), ("proto", N4)],
        FD
    ),
    pair!(20, "bind", FD, &[("res", N8), ("addr", Addr)]),
    pair!(
        22,
        "connect",
        &[("fd", N8), ("addr", Addr)],
        &[("res", N8), ("tuple", Tuple)]
    ),
    pair!(24, "listen", &[("fd", N8), ("backlog", N4)], RES),
    pair!(
        26,
        "accept",
        NONE,
        &[("fd", N8), ("tuple", Tuple), ("queuepct", N1)]
    ),
    pair!(
        30,
        "sendto",
        &[("fd", N8), ("size", N4), ("tuple", Tuple)],
        RES_DATA
    ),
    pair!(32, "recv", "recvfrom", FD_SIZE, RES_DATA),
    pair!(
        34,
        "recvfrom",
        FD_SIZE,
        &[("res", N8), ("data", Buf), ("tuple", Tuple)]
    ),
    pair!(36, "shutdown", &[("fd", N8), ("how", N1)], RES),
    pair!(38, "getsockname", NONE, NONE),
    pair!(40, "getpeername", NONE, NONE),
    pair!(44, "setsockopt", NONE, SOCKOPT_X),
    pair!(46, "getsockopt", NONE, SOCKOPT_X),
    pair!(
        48,
        "sendmsg",
        &[("fd", N8), ("size", N4), ("tuple", Tuple)],
        RES_DATA
    ),
    pair!(
        52,
        "recvmsg",
        FD,
        &[("res", N8), ("size", N4), ("data", Buf), ("tuple", Tuple)]
    ),
    pair!(
        60,
        "pipe",
        NONE,
        &[("res", N8), ("fd1", N8), ("fd2", N8), ("ino", N8)]
    ),
    pair!(64, "futex", &[("addr", N8), ("op", N2), ("val", N8)], RES),
    pair!(66, "stat", NONE, &[("res", N8), ("path", Path)]),
    pair!(70, "fstat", FD, RES),
    pair!(
        80,
        "poll",
        &[("fds", FdList), ("timeout", N8)],
        &[("res", N8), ("fds", FdList)]
    ),
    pair!(82, "select", NONE, RES),
    pair!(
        86,
        "lseek",
        &[("fd", N8), ("offset", N8), ("whence", N1)],
        RES
    ),
    pair!(94, "chdir", NONE, &[("res", N8), ("path", Str)]),
    pair!(
        112,
        "pread",
        "pread64",
        &[("fd", N8), ("size", N4), ("pos", N8)],
        RES_DATA
    ),
    pair!(
        114,
        "pwrite",
        "pwrite64",
        &[("fd", N8), ("size", N4), ("pos", N8)],
        RES_DATA
    ),
    pair!(
        116,
        "readv",
        FD,
        &[("res", N8), ("size", N4), ("data", Buf)]
    ),
    pair!(124, "dup", FD, RES),
    pair!(
        176,
        "renameat",
        NONE,
        &[
            ("res", N8),
            ("olddirfd", N8),
            ("oldpath", Path),
            ("newdirfd", N8),
            ("newpath", Path)
        ]
    ),
    pair!(202, "getuid", NONE, &[("uid", N4)]),
    pair!(
        276,
        "mkdir",
        &[("mode", N4)],
        &[("res", N8), ("path", Path)]
    ),
    pair!(300, "unlink", NONE, &[("res", N8), ("path", Path)]),
    pair!(
        302,
        "unlinkat",
        NONE,
        &[("res", N8), ("dirfd", N8), ("name", Path), ("flags", N4)]
    ),
    pair!(
        304,
        "mkdirat",
        NONE,
        &[("res", N8), ("dirfd", N8), ("path", Path), ("mode", N4)]
    ),
    pair!(
        312,
        "fchmodat",
        NONE,
        &[("res", N8), ("dirfd", N8), ("filename", Path), ("mode", N4)]
    ),
    pair!(
        314,
        "chmod",
        NONE,
        &[("res", N8), ("filename", Path), ("mode", N4)]
    ),
    pair!(
        318,
        "renameat2",
        NONE,
        &[
            ("res", N8),
            ("olddirfd", N8),
            ("oldpath", Path),
            ("newdirfd", N8),
            ("newpath", Path),
            ("flags", N4)
        ]
    ),
    pair!(
        102,
        "openat",
        &[("dirfd", N8), ("name", Path), ("flags", N4), ("mode", N4)],
        FD
    ),
    pair!(118, "writev", FD_SIZE, RES_DATA),
    pair!(128, "kill", &[("pid", N8), ("sig", N1)], RES),
    pair!(
        140,
        "getrlimit",
        &[("resource", N1)],
        &[("res", N8), ("cur", N8), ("max", N8)]
    ),
    pair!(150, "fcntl", &[("fd", N8), ("cmd", N1)], RES),
    [
        ev!(
            152,
            "switch",
            false,
            None,
            &[
                ("next", N8),
                ("pgft_maj", N8),
                ("pgft_min", N8),
                ("vm_size", N4),
                ("vm_rss", N4),
                ("vm_swap", N4)
            ]
        ),
        ev!(153, "switch", true, None, NONE),
    ],
    pair!(158, "brk", &[("addr", N8)], MEM_X),
    pair!(
        160,
        "mmap",
        &[
            ("addr", N8),
            ("length", N8),
            ("prot", N4),
            ("flags", N4),
            ("fd", N8),
            ("offset", N8)
        ],
        MEM_X
    ),
    pair!(164, "munmap", &[("addr", N8), ("length", N8)], MEM_X),
    pair!(
        170,
        "ioctl",
        &[("fd", N8), ("request", N8), ("argument", N8)],
        RES
    ),
    pair!(182, "fork", NONE, PROC_X_16),
    [
        ev!(
            186,
            "procexit",
            true,
            None,
            &[("status", N8), ("ret", N8), ("sig", N1), ("core", N1)]
        ),
        ev!(187, "procexit", true, None, NONE),
    ],
    pair!(222, "clone", NONE, CLONE_20_X),
    pair!(230, "execve", NONE, PROC_X_16),
    [
        ev!(
            234,
            "procinfo",
            true,
            None,
            &[("cpu_usr", N8), ("cpu_sys", N8)]
        ),
        ev!(235, "procinfo", true, None, NONE),
    ],
    pair!(246, "accept", NONE, ACCEPT_5_X),
    pair!(248, "accept", "accept4", &[("flags", N4)], ACCEPT_5_X),
    pair!(
        264,
        "access",
        &[("mode", N4)],
        &[("res", N8), ("name", Path)]
    ),
    [
        ev!(272, "container", true, None, &[("json", Str)]),
        ev!(273, "container", true, None, NONE),
    ],
    pair!(292, "execve", &[("filename", Path)], EXECVE_19_X),
    pair!(
        306,
        "openat",
        &[("dirfd", N8), ("name", Path), ("flags", N4), ("mode", N4)],
        &[
            ("fd", N8),
            ("dirfd", N8),
            ("name", Path),
            ("flags", N4),
            ("mode", N4),
            ("dev", N4)
        ]
    ),
];

/// The entry for an event type, if this crate decodes it.
pub fn lookup(code: u16) -> Option<&'static EventInfo> {
    // A few dozen pairs: a scan is cheaper than building an index, and the order of
    // TABLE stays free.
    TABLE.iter().flatten().find(|e| e.code == code)
}

/// The name to report an event type by: the table's, or its number.
pub fn name_of(code: u16) -> String {
    match lookup(code) {
        Some(e) => format!("{}({}{})", e.name, code, if e.exit { "<" } else { ">" }),
        None => format!("type{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_pairs_are_even_odd() {
        let mut seen = std::collections::BTreeSet::new();
        for [e, x] in TABLE {
            assert!(seen.insert(e.code), "duplicate {}", e.code);
            assert!(seen.insert(x.code), "duplicate {}", x.code);
            assert_eq!(e.code % 2, 0, "{}", e.name);
            assert_eq!(x.code, e.code + 1, "{}", e.name);
        }
    }

    #[test]
    fn every_mapped_syscall_exists_on_x86_64() {
        for e in TABLE.iter().flatten() {
            if let Some(s) = e.syscall {
                assert!(
                    capture_format::syscall_number(capture_format::Abi::X86_64, s).is_some(),
                    "{s}"
                );
            }
        }
    }
}
