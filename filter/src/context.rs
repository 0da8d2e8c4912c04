//! State that fields need beyond the event itself (process table, fds, containers, users,
//! clock), supplied by the caller: the inspector from its reconstruction, the recorder from
//! its live tables, [`StaticContext`] from a capture's snapshot.

use capture_format::{
    BootNs, ClockPair, ContainerInfo, FdKind, ProcessInfo, ProcessSnapshot, SockAddr,
    UsersAndGroups,
};
use std::collections::HashMap;

/// Lookups a filter makes while evaluating fields that the event alone cannot answer.
///
/// Object safe; every method is called per evaluated field, so implementations should be
/// lookups, not scans. Views borrow from `self`, so an implementation backed by a lock can
/// be a wrapper that holds the read guard for a batch of events. Every method but
/// [`Context::process`] has a default that knows nothing, and a field whose lookup returns
/// `None` is missing (see the crate docs for what comparisons do with missing fields).
pub trait Context {
    /// The process `pid` (thread-group id) as it was at `at`.
    fn process(&self, pid: u32, at: BootNs) -> Option<ProcessView<'_>>;

    /// The open file descriptor `fd` of process `pid` at `at`.
    fn fd(&self, _pid: u32, _fd: i32, _at: BootNs) -> Option<FdView<'_>> {
        None
    }

    /// The container whose tasks live in cgroup `cgroup_id`, or that the cgroup belongs to
    /// the host (which the `container.*` fields report as `host`), or that the context does
    /// not know (the fields are then missing).
    fn container(&self, _cgroup_id: u64) -> ContainerLookup<'_> {
        ContainerLookup::Unknown
    }

    /// The name of `uid` in the user table of `container_id` (the full id; empty for the
    /// host).
    fn user_name(&self, _uid: u32, _container_id: &str) -> Option<&str> {
        None
    }

    /// Whether the executable process `pid` runs at `at` was written during the recording
    /// (`proc.exe_written`); `None` where the context does not track writes.
    fn exe_written(&self, _pid: u32, _at: BootNs) -> Option<bool> {
        None
    }

    /// Maps boot time to wall-clock nanoseconds since the Unix epoch, for `evt.time`
    /// compared with an RFC 3339 literal.
    fn realtime_ns(&self, _boot_ns: BootNs) -> Option<i64> {
        None
    }
}

/// A process as a [`Context`] knows it, borrowed from the context's own storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessView<'a> {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's comm (at most 15 bytes).
    pub name: &'a [u8],
    /// Resolved executable path.
    pub exe: Option<&'a [u8]>,
    pub argv: Argv<'a>,
    pub cwd: Option<&'a [u8]>,
    pub uid: u32,
    pub euid: u32,
    pub cgroup_id: u64,
}

/// A command line in whichever shape the context stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Argv<'a> {
    /// One item per argument, as capture-format's model has them.
    List(&'a [Vec<u8>]),
    /// NUL-separated, as `/proc/PID/cmdline` reads (a trailing NUL is optional).
    NulSeparated(&'a [u8]),
}

impl<'a> Argv<'a> {
    /// Iterates the arguments.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (list, nul): (&'a [Vec<u8>], &'a [u8]) = match *self {
            Argv::List(l) => (l, &[]),
            Argv::NulSeparated(b) => (&[], b.strip_suffix(b"\0").unwrap_or(b)),
        };
        let nul_items = (!nul.is_empty())
            .then(|| nul.split(|&c| c == 0))
            .into_iter()
            .flatten();
        list.iter().map(Vec::as_slice).chain(nul_items)
    }

    pub fn is_empty(&self) -> bool {
        match *self {
            Argv::List(l) => l.is_empty(),
            Argv::NulSeparated(b) => b.is_empty() || b == b"\0",
        }
    }
}

/// An open file descriptor as a [`Context`] knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdView<'a> {
    pub kind: FdKind,
    /// Path, `pipe:[inode]`, `socket:[inode]`, or the tty's path.
    pub name: &'a [u8],
    pub local: Option<&'a SockAddr>,
    pub remote: Option<&'a SockAddr>,
    /// Which end of the connection this process holds, when known (connect => client,
    /// accept => server). Without it the syscall decides, see the README.
    pub role: Option<SocketRole>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketRole {
    /// This process's end initiated the connection.
    Client,
    /// This process's end accepted it.
    Server,
}

/// What a [`Context`] knows about a cgroup's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerLookup<'a> {
    /// The context cannot tell (it tracks no containers, or not this cgroup).
    Unknown,
    /// Not in a container.
    Host,
    Container(ContainerView<'a>),
}

/// A container as a [`Context`] knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerView<'a> {
    /// The full id.
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub image: Option<&'a str>,
    pub runtime: &'a str,
}

/// A context that knows nothing: only fields computed from the event itself have values.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoContext;

impl Context for NoContext {
    fn process(&self, _pid: u32, _at: BootNs) -> Option<ProcessView<'_>> {
        None
    }
}

/// An in-memory context from one process snapshot and the capture's containers, users and
/// clock pairs: for tests, and for callers that have a snapshot and no reconstruction.
///
/// It does not follow the event stream: a process forked or exec'd after the snapshot is
/// unknown to it (except that exec events carry their own process fields). When a pid
/// appears more than once (a tombstone and a live process that reused the pid), the entry
/// whose `[start_ts, exit_ts]` covers the lookup time wins, else the last one listed.
#[derive(Clone, Debug, Default)]
pub struct StaticContext {
    processes: Vec<ProcessInfo>,
    by_pid: HashMap<u32, Vec<usize>>,
    /// (pid, fd) -> (process index, fd index).
    fds: HashMap<(u32, i32), (usize, usize)>,
    containers: Vec<ContainerInfo>,
    by_cgroup: HashMap<u64, usize>,
    /// container id ("" for the host) -> uid -> name.
    users: HashMap<String, HashMap<u32, String>>,
    /// Sorted by boot time.
    clock: Vec<ClockPair>,
}

impl StaticContext {
    pub fn new(snapshot: ProcessSnapshot, containers: Vec<ContainerInfo>) -> StaticContext {
        let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, p) in snapshot.processes.iter().enumerate() {
            by_pid.entry(p.pid).or_default().push(i);
        }
        let mut fds = HashMap::new();
        for (pi, p) in snapshot.processes.iter().enumerate() {
            // Only the entry lookups would pick for an unspecified time; a reused pid's
            // tombstone does not shadow the live process's fds.
            if by_pid
                .get(&p.pid)
                .and_then(|v| pick(&snapshot.processes, v, None))
                != Some(pi)
            {
                continue;
            }
            for (fi, fd) in p.fds.iter().enumerate() {
                fds.insert((p.pid, fd.fd), (pi, fi));
            }
        }
        let mut by_cgroup = HashMap::new();
        for (i, c) in containers.iter().enumerate() {
            for cg in &c.cgroup_ids {
                by_cgroup.insert(*cg, i);
            }
        }
        StaticContext {
            processes: snapshot.processes,
            by_pid,
            fds,
            containers,
            by_cgroup,
            users: HashMap::new(),
            clock: Vec::new(),
        }
    }

    /// Adds user names (per container; `container_id` empty for the host). A process in a
    /// container is looked up in that container's table only: a host name for the same uid
    /// would be a different user.
    pub fn with_users(mut self, users: UsersAndGroups) -> StaticContext {
        for u in users.users {
            self.users
                .entry(u.container_id)
                .or_default()
                .insert(u.uid, u.name);
        }
        self
    }

    /// Adds (boot time, wall-clock) pairs for RFC 3339 comparisons on `evt.time`.
    pub fn with_clock(mut self, mut pairs: Vec<ClockPair>) -> StaticContext {
        pairs.sort_by_key(|p| p.boot_ns);
        self.clock = pairs;
        self
    }
}

/// Which of the entries for one pid answers a lookup at `at`.
fn pick(processes: &[ProcessInfo], candidates: &[usize], at: Option<BootNs>) -> Option<usize> {
    let alive = |p: &ProcessInfo| match at {
        Some(at) => p.start_ts.is_none_or(|s| s <= at) && p.exit_ts.is_none_or(|e| e >= at),
        None => p.exit_ts.is_none(),
    };
    candidates
        .iter()
        .copied()
        .find(|&i| processes.get(i).is_some_and(alive))
        .or_else(|| candidates.last().copied())
}

impl<'a> From<&'a ProcessInfo> for ProcessView<'a> {
    fn from(p: &'a ProcessInfo) -> Self {
        ProcessView {
            pid: p.pid,
            ppid: p.ppid,
            name: p.comm.as_bytes(),
            exe: p.exe.as_deref(),
            argv: Argv::List(&p.argv),
            cwd: p.cwd.as_deref(),
            uid: p.uid,
            euid: p.euid,
            cgroup_id: p.cgroup_id,
        }
    }
}

impl Context for StaticContext {
    fn process(&self, pid: u32, at: BootNs) -> Option<ProcessView<'_>> {
        let i = pick(&self.processes, self.by_pid.get(&pid)?, Some(at))?;
        self.processes.get(i).map(ProcessView::from)
    }

    fn fd(&self, pid: u32, fd: i32, _at: BootNs) -> Option<FdView<'_>> {
        let &(pi, fi) = self.fds.get(&(pid, fd))?;
        let f = self.processes.get(pi)?.fds.get(fi)?;
        Some(FdView {
            kind: f.kind,
            name: &f.name,
            local: f.local.as_ref(),
            remote: f.remote.as_ref(),
            role: None,
        })
    }

    /// A cgroup no listed container owns is the host's: the capture lists every container
    /// the recorder saw.
    fn container(&self, cgroup_id: u64) -> ContainerLookup<'_> {
        let found = self
            .by_cgroup
            .get(&cgroup_id)
            .and_then(|&i| self.containers.get(i));
        match found {
            Some(c) => ContainerLookup::Container(ContainerView {
                id: &c.id,
                name: c.name.as_deref(),
                image: c.image.as_deref(),
                runtime: &c.runtime,
            }),
            None => ContainerLookup::Host,
        }
    }

    fn user_name(&self, uid: u32, container_id: &str) -> Option<&str> {
        self.users.get(container_id)?.get(&uid).map(String::as_str)
    }

    fn realtime_ns(&self, boot_ns: BootNs) -> Option<i64> {
        // The last pair at or before the time (the clocks drift apart slowly, so the
        // nearest earlier reading is the best one), or the first pair for earlier times.
        let i = self.clock.partition_point(|p| p.boot_ns <= boot_ns);
        let pair = self.clock.get(i.saturating_sub(1))?;
        let delta = i64::try_from(boot_ns.abs_diff(pair.boot_ns)).ok()?;
        if boot_ns >= pair.boot_ns {
            pair.realtime_ns.checked_add(delta)
        } else {
            pair.realtime_ns.checked_sub(delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_shapes() {
        let list = vec![b"bash".to_vec(), b"-c".to_vec()];
        assert_eq!(
            Argv::List(&list).iter().collect::<Vec<_>>(),
            [&b"bash"[..], b"-c"]
        );
        let nul = Argv::NulSeparated(b"bash\0-c\0");
        assert_eq!(nul.iter().collect::<Vec<_>>(), [&b"bash"[..], b"-c"]);
        assert!(Argv::NulSeparated(b"").is_empty());
        assert_eq!(Argv::NulSeparated(b"").iter().count(), 0);
    }

    #[test]
    fn pid_reuse_and_clock() {
        let old = ProcessInfo {
            pid: 7,
            comm: "old".into(),
            exit_ts: Some(100),
            ..Default::default()
        };
        let new = ProcessInfo {
            pid: 7,
            comm: "new".into(),
            start_ts: Some(200),
            ..Default::default()
        };
        let ctx = StaticContext::new(
            ProcessSnapshot {
                ts: 0,
                processes: vec![old, new],
            },
            vec![],
        )
        .with_clock(vec![
            ClockPair {
                boot_ns: 1000,
                realtime_ns: 5000,
            },
            ClockPair {
                boot_ns: 0,
                realtime_ns: 3000,
            },
        ]);
        assert_eq!(ctx.process(7, 50).map(|p| p.name), Some(&b"old"[..]));
        assert_eq!(ctx.process(7, 300).map(|p| p.name), Some(&b"new"[..]));
        assert_eq!(ctx.process(8, 300), None);
        assert_eq!(ctx.realtime_ns(10), Some(3010));
        assert_eq!(ctx.realtime_ns(1500), Some(5500));
        assert_eq!(NoContext.realtime_ns(1), None);
    }
}
