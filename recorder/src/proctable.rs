//! The live process table: seeded from the /proc scan at start, kept current from events
//! (fork copies the parent, exec replaces the image, chdir moves, exit leaves a tombstone),
//! so that every capture segment can open with a snapshot of the processes that began
//! before it, including ones that are already gone. It also fills in what the kernel
//! programs do not read: the working directory and the resolved executable at exec.

use std::{
    collections::{HashMap, VecDeque},
    path::Path,
};

use capture_format::{Event, EventBody, ParamValue, ProcessInfo, ProcessSnapshot, SyscallEvent};

use crate::procscan;

/// How many exited processes are kept for the snapshots.
const TOMBSTONES: usize = 4096;

pub struct ProcTable {
    live: HashMap<u32, ProcessInfo>,
    tombstones: VecDeque<ProcessInfo>,
}

fn file_name(p: &[u8]) -> &[u8] {
    p.rsplit(|&b| b == b'/').next().unwrap_or(p)
}

/// The kernel's comm: the executable's basename cut to 15 bytes.
fn comm_of(path: &[u8]) -> String {
    let name = file_name(path);
    String::from_utf8_lossy(&name[..name.len().min(15)]).into_owned()
}

fn join(cwd: Option<&[u8]>, path: &[u8]) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return Some(path.to_vec());
    }
    let mut out = cwd?.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(path);
    Some(out)
}

impl ProcTable {
    pub fn new(snapshot: &ProcessSnapshot) -> Self {
        ProcTable {
            live: snapshot
                .processes
                .iter()
                .map(|p| (p.pid, p.clone()))
                .collect(),
            tombstones: VecDeque::new(),
        }
    }

    /// The working directory of `pid`: /proc while it lives (the truth), else what the
    /// table learned.
    fn cwd_of(&mut self, pid: u32) -> Option<Vec<u8>> {
        if let Some(c) = procscan::cwd(pid) {
            if let Some(p) = self.live.get_mut(&pid) {
                p.cwd = Some(c.clone());
            }
            return Some(c);
        }
        self.live.get(&pid).and_then(|p| p.cwd.clone())
    }

    /// Enriches `e` and updates the table from it.
    pub fn apply(&mut self, e: &mut Event) {
        match &mut e.body {
            EventBody::Fork(f) if f.child_pid != e.pid => {
                let cwd = self.cwd_of(e.pid);
                let mut child = self.live.get(&e.pid).cloned().unwrap_or_default();
                child.pid = f.child_pid;
                child.ppid = e.pid;
                child.cwd = cwd;
                child.cgroup_id = f.cgroup_id;
                child.start_ts = Some(e.ts);
                child.exit_ts = None;
                child.exit_status = None;
                self.live.insert(f.child_pid, child);
            }
            EventBody::Exec(x) => {
                x.cwd = self.cwd_of(e.pid);
                // /proc/PID/exe is read after the fact: by now the process may have exec'd
                // again (bash execs the last command of -c in place). Keep it only if it
                // names the file this exec loaded.
                if let Some(exe) = procscan::exe(e.pid) {
                    let loaded = std::str::from_utf8(&x.filename)
                        .ok()
                        .and_then(|f| std::fs::canonicalize(Path::new(f)).ok());
                    let same = file_name(&exe) == file_name(&x.filename)
                        || loaded.is_some_and(|l| {
                            use std::os::unix::ffi::OsStrExt;
                            file_name(l.as_os_str().as_bytes()) == file_name(&exe)
                        });
                    if same {
                        x.exe = Some(exe);
                    }
                }
                let p = self.live.entry(e.pid).or_insert_with(|| ProcessInfo {
                    pid: e.pid,
                    start_ts: Some(e.ts),
                    ..Default::default()
                });
                p.ppid = x.ppid;
                p.comm = comm_of(x.argv.first().unwrap_or(&x.filename));
                p.exe = x.exe.clone().or_else(|| Some(x.filename.clone()));
                p.argv = x.argv.clone();
                p.cwd = x.cwd.clone();
                (p.uid, p.gid, p.euid, p.egid) = (x.uid, x.gid, x.euid, x.egid);
                p.cgroup_id = x.cgroup_id;
                // The new image keeps only the fds without close-on-exec, which the table
                // does not track: what /proc said is no longer known to be true.
                p.fds.clear();
            }
            EventBody::Syscall(s) if s.ret == Some(0) => self.chdir(e.pid, s),
            EventBody::Exit(x) if x.group_dead => {
                if let Some(mut p) = self.live.remove(&e.pid) {
                    p.exit_ts = Some(e.ts);
                    p.exit_status = Some(x.status);
                    if self.tombstones.len() == TOMBSTONES {
                        self.tombstones.pop_front();
                    }
                    self.tombstones.push_back(p);
                }
            }
            _ => {}
        }
    }

    fn chdir(&mut self, pid: u32, s: &SyscallEvent) {
        let is_chdir = capture_format::syscall_name(s.abi, s.nr) == Some("chdir");
        if !is_chdir {
            return;
        }
        let Some(ParamValue::Path(path)) = s.params.first().map(|p| &p.value) else {
            return;
        };
        if let Some(p) = self.live.get_mut(&pid) {
            p.cwd = join(p.cwd.as_deref(), path);
        }
    }

    /// A live process, or the most recent tombstone of that pid.
    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.live
            .get(&pid)
            .or_else(|| self.tombstones.iter().rev().find(|p| p.pid == pid))
    }

    /// Live processes and recent tombstones as of `ts`.
    pub fn snapshot(&self, ts: u64) -> ProcessSnapshot {
        let mut processes: Vec<ProcessInfo> = self
            .live
            .values()
            .chain(self.tombstones.iter())
            .cloned()
            .collect();
        processes.sort_by_key(|p| (p.pid, p.start_ts));
        ProcessSnapshot { ts, processes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_format::{Abi, Completion, ExecEvent, ExitEvent, ForkEvent, Param};

    fn ev(pid: u32, ts: u64, body: EventBody) -> Event {
        Event {
            ts,
            cpu: 0,
            pid,
            tid: pid,
            body,
        }
    }

    #[test]
    fn follows_fork_exec_chdir_exit() {
        // Pids far above pid_max so /proc has nothing to say about them.
        let (parent, child) = (4_000_000_001, 4_000_000_002);
        let mut t = ProcTable::new(&ProcessSnapshot {
            ts: 0,
            processes: vec![ProcessInfo {
                pid: parent,
                comm: "bash".into(),
                cwd: Some(b"/root".to_vec()),
                ..Default::default()
            }],
        });
        t.apply(&mut ev(
            parent,
            1,
            EventBody::Fork(ForkEvent {
                child_pid: child,
                child_tid: child,
                cgroup_id: 5,
            }),
        ));
        let mut exec = ev(
            child,
            2,
            EventBody::Exec(ExecEvent {
                filename: b"/usr/bin/cat".to_vec(),
                argv: vec![b"cat".to_vec(), b"/x".to_vec()],
                argv_truncated: false,
                ppid: parent,
                uid: 1000,
                gid: 1000,
                euid: 1000,
                egid: 1000,
                cgroup_id: 5,
                exe: None,
                cwd: None,
            }),
        );
        t.apply(&mut exec);
        let EventBody::Exec(x) = &exec.body else {
            unreachable!()
        };
        assert_eq!(x.cwd.as_deref(), Some(&b"/root"[..]), "inherited at fork");
        t.apply(&mut ev(
            child,
            3,
            EventBody::Syscall(SyscallEvent {
                nr: 80,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args: [0; 6],
                ret: Some(0),
                duration_ns: None,
                cgroup_id: 5,
                params: vec![Param {
                    slot: 0,
                    value: ParamValue::Path(b"tmp".to_vec()),
                }],
            }),
        ));
        let snap = t.snapshot(4);
        let c = snap
            .processes
            .iter()
            .find(|p| p.pid == child)
            .expect("child");
        assert_eq!((c.comm.as_str(), c.uid, c.ppid), ("cat", 1000, parent));
        assert_eq!(c.cwd.as_deref(), Some(&b"/root/tmp"[..]));
        t.apply(&mut ev(
            child,
            5,
            EventBody::Exit(ExitEvent {
                status: 256,
                group_dead: true,
            }),
        ));
        let snap = t.snapshot(6);
        let c = snap
            .processes
            .iter()
            .find(|p| p.pid == child)
            .expect("tombstone");
        assert_eq!((c.exit_ts, c.exit_status), (Some(5), Some(256)));
    }
}
