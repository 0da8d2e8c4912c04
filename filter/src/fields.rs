//! The field table: every field's name, type and description, from one macro so the enum,
//! the help table and the name lookup can never disagree.

use std::fmt;

/// The type of a field, checked against operators and literals at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Bytes (paths, names, command lines, buffers): not necessarily UTF-8.
    Str,
    /// A signed 64-bit integer (pids, ports, return values, nanoseconds).
    Num,
    /// `true` or `false`.
    Bool,
    /// An IPv4 or IPv6 address; literals may be an address or a CIDR network.
    Ip,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Num => "number",
            FieldType::Bool => "bool",
            FieldType::Ip => "ip",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! fields {
    ($( $variant:ident => $name:literal, $ty:ident, $desc:literal; )*) => {
        /// A field, resolved from its name at parse time.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $( $variant, )* }

        impl Field {
            /// Every field, in the order of [`fields_help`].
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// The canonical name, e.g. `proc.name`.
            pub fn name(self) -> &'static str {
                match self { $( Field::$variant => $name, )* }
            }

            pub fn ty(self) -> FieldType {
                match self { $( Field::$variant => FieldType::$ty, )* }
            }

            pub fn description(self) -> &'static str {
                match self { $( Field::$variant => $desc, )* }
            }
        }

        static HELP: &[(&str, FieldType, &str)] = &[ $( ($name, FieldType::$ty, $desc), )* ];
    };
}

fields! {
    EvtType => "evt.type", Str,
        "Syscall name (openat, connect, execve...; per the event's ABI), or for non-syscall records: fork, exec (a successful exec), exit, cgroup_mkdir.";
    EvtTime => "evt.time", Num,
        "Event time in nanoseconds since boot. Also compares with an RFC 3339 string (\"2024-05-01T12:00:00Z\") when the context maps boot time to wall-clock time.";
    EvtCpu => "evt.cpu", Num, "CPU the event was recorded on.";
    EvtRes => "evt.res", Num, "Syscall return value (negative errno on failure). Missing for non-syscall records and for syscalls whose exit was not seen.";
    EvtFailed => "evt.failed", Bool, "The syscall returned a negative value. Missing where evt.res is.";
    EvtLatency => "evt.latency", Num, "Syscall duration in nanoseconds (enter to exit). Missing unless both halves were seen.";
    EvtBuffer => "evt.buffer", Str, "The captured bytes of the syscall's first data buffer (read/write/send/recv...), possibly cut at the snaplen.";
    EvtArg => "evt.arg", Num, "Raw syscall argument N, written evt.arg[N] (0-5): the register's value (32 bits for i386 syscalls). Missing for non-syscall records.";
    EvtIsOpenWrite => "evt.is_open_write", Bool, "An open, openat or creat that opens for writing (O_WRONLY, O_RDWR, O_CREAT or O_TRUNC). Missing for other events.";
    ProcPid => "proc.pid", Num, "Process id (thread-group id) of the process generating the event.";
    ProcTid => "proc.tid", Num, "Thread id generating the event. Alias: thread.tid.";
    ProcPpid => "proc.ppid", Num, "Parent process id.";
    ProcName => "proc.name", Str, "Process name as the kernel's comm: basename of the executed file, at most 15 bytes.";
    ProcExe => "proc.exe", Str, "Full path of the executable (resolved /proc/PID/exe when known, else the path passed to exec).";
    ProcCmdline => "proc.cmdline", Str, "The full argv joined by single spaces, argv[0] included.";
    ProcArgs => "proc.args", Str, "argv[1..] joined by single spaces (empty when there are no arguments).";
    ProcCwd => "proc.cwd", Str, "Working directory of the process, when known.";
    ProcPname => "proc.pname", Str, "proc.name of the parent process.";
    ProcAname => "proc.aname", Str, "Names of the ancestors (parent, grandparent...): proc.aname = bash holds if ANY ancestor is named bash. proc.aname[N] is one ancestor: [0] the process itself, [1] the parent, [2] the grandparent...";
    ProcApid => "proc.apid", Num, "Pids of the ancestors, with the same any-ancestor and [N] rules as proc.aname.";
    ProcExeWritten => "proc.exe_written", Bool, "The process's executable was written during the recording (a dropped binary or script run). From the recorder's state; missing where the context does not track it.";
    UserUid => "user.uid", Num, "Effective user id of the process.";
    UserName => "user.name", Str, "Name of the effective user, from the host's or the container's user table.";
    FdNum => "fd.num", Num, "The file descriptor the syscall works on (the returned one for open/socket/accept/dup).";
    FdName => "fd.name", Str, "The path a syscall passed (openat, execve, unlink, stat...; the first path argument, unresolved), else for sockets the connection as cip:cport->sip:sport (local->remote when the roles are unknown; one address when only one end is known) or a unix socket's path, else the fd's name from the context (path, pipe:[inode], tty path).";
    FdType => "fd.type", Str, "Kind of the fd: file, directory, pipe, ipv4, ipv6, unix, socket (other families), tty or other. For open/openat/creat: directory if O_DIRECTORY was passed, else file.";
    FdCip => "fd.cip", Ip, "Client (connecting side) IP of a connection.";
    FdSip => "fd.sip", Ip, "Server (accepting side) IP of a connection, i.e. the destination of a connect. Alias: fd.dip.";
    FdLip => "fd.lip", Ip, "Local IP (this process's end).";
    FdRip => "fd.rip", Ip, "Remote IP (the peer's end).";
    FdIp => "fd.ip", Ip, "Both ends' IPs: holds if the local or the remote IP matches.";
    FdCport => "fd.cport", Num, "Client port of a connection.";
    FdSport => "fd.sport", Num, "Server port of a connection, i.e. the destination port of a connect. Alias: fd.dport.";
    FdLport => "fd.lport", Num, "Local port.";
    FdRport => "fd.rport", Num, "Remote port.";
    FdPort => "fd.port", Num, "Both ends' ports: holds if the local or the remote port matches.";
    ContainerId => "container.id", Str, "Short container id (first 12 characters, as docker ps shows), or \"host\" for processes outside containers; missing if the context cannot tell.";
    ContainerFullId => "container.full_id", Str, "Full container id, or \"host\".";
    ContainerName => "container.name", Str, "Container name, or \"host\".";
    ContainerImage => "container.image", Str, "Container image. Missing for host processes.";
    ContainerRuntime => "container.runtime", Str, "docker, podman, containerd, cri-o... Missing for host processes.";
}

/// Extra names accepted for a field. They parse to the canonical field, which is what
/// `Display` and [`crate::Filter::fields`] print.
const ALIASES: &[(&str, Field)] = &[
    ("thread.tid", Field::ProcTid),
    // Destination of a connection = the server end (Falco's `fd.sip`/`fd.sport`).
    ("fd.dip", Field::FdSip),
    ("fd.dport", Field::FdSport),
];

/// The most ancestors `proc.aname`/`proc.apid` walk, and the largest `[N]`: a bound against
/// a cyclic parent table in a context, and deeper than any real process tree.
pub const MAX_ANCESTORS: u32 = 64;

impl Field {
    /// Looks a field up by its name or alias.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == name)
                    .map(|(_, f)| *f)
            })
    }

    /// Whether the field accepts an `[N]` index.
    pub fn takes_index(self) -> bool {
        matches!(self, Field::ProcAname | Field::ProcApid | Field::EvtArg)
    }

    /// Whether the field can have several values for one event (any-value semantics).
    pub(crate) fn multi_valued(self, index: Option<u32>) -> bool {
        match self {
            Field::ProcAname | Field::ProcApid => index.is_none(),
            Field::FdIp | Field::FdPort => true,
            _ => false,
        }
    }

    /// Whether evaluating the field can consult the [`crate::Context`]; fields that don't
    /// come from the event alone. Lets a caller skip building state it won't need.
    pub fn needs_context(self) -> bool {
        !matches!(
            self,
            Field::EvtType
                | Field::EvtTime
                | Field::EvtCpu
                | Field::EvtRes
                | Field::EvtFailed
                | Field::EvtLatency
                | Field::EvtBuffer
                | Field::EvtArg
                | Field::EvtIsOpenWrite
                | Field::ProcPid
                | Field::ProcTid
        )
    }

    /// The closest known field name, for "did you mean" hints.
    pub(crate) fn suggest(name: &str) -> Option<&'static str> {
        let names = Field::ALL
            .iter()
            .map(|f| f.name())
            .chain(ALIASES.iter().map(|(a, _)| *a));
        closest(name, names)
    }
}

/// The field table for help output and docs: (name, type, description).
pub fn fields_help() -> &'static [(&'static str, FieldType, &'static str)] {
    HELP
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_enum_agree() {
        assert_eq!(Field::ALL.len(), fields_help().len());
        for (f, (name, ty, desc)) in Field::ALL.iter().zip(fields_help()) {
            assert_eq!(f.name(), *name);
            assert_eq!(f.ty(), *ty);
            assert_eq!(f.description(), *desc);
            assert_eq!(Field::from_name(name), Some(*f));
        }
    }

    #[test]
    fn aliases_and_suggestions() {
        assert_eq!(Field::from_name("fd.dport"), Some(Field::FdSport));
        assert_eq!(Field::from_name("thread.tid"), Some(Field::ProcTid));
        assert_eq!(Field::from_name("proc.nam"), None);
        assert_eq!(Field::suggest("proc.nam"), Some("proc.name"));
        assert_eq!(Field::suggest("zzzzzzzz"), None);
    }
}
