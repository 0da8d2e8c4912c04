//! The filter language's [`Context`] over the reconstruction: the process a pid named at an
//! event's time (name, ancestors, credentials, cgroup), containers by cgroup, user names
//! per container, and wall-clock time.
//!
//! File descriptors are not tracked: `fd.name` comes from what the syscall itself names (the
//! path an open passed, a socket address), never from an fd table, so `fd.name =
//! /etc/shadow` selects the calls that name the file, not every read of an fd opened on it.

use aftertrace_filter::{Argv, ContainerLookup, ContainerView, Context, ProcessView};
use capture_format::BootNs;

use crate::meta::Lookups;
use crate::procs::ProcessTree;

/// Answers a filter's lookups from a (possibly still growing) process tree and the
/// capture's metadata. Cheap to copy; lookups allocate nothing.
#[derive(Clone, Copy)]
pub struct CaptureContext<'a> {
    pub tree: &'a ProcessTree,
    pub lookups: &'a Lookups,
}

impl<'a> CaptureContext<'a> {
    pub fn new(tree: &'a ProcessTree, lookups: &'a Lookups) -> Self {
        CaptureContext { tree, lookups }
    }
}

impl Context for CaptureContext<'_> {
    fn process(&self, pid: u32, at: BootNs) -> Option<ProcessView<'_>> {
        let p = self.tree.get(self.tree.lookup(pid, at)?)?;
        let phase = p.phase_at(at)?;
        let image = &*phase.image;
        Some(ProcessView {
            pid,
            ppid: phase.ppid,
            name: &image.comm,
            exe: image.exe.as_deref(),
            argv: Argv::List(&image.argv),
            cwd: image.cwd.as_deref(),
            uid: image.uid,
            euid: image.euid,
            cgroup_id: image.cgroup_id,
        })
    }

    /// cgroup id 0 means "not recorded": unknown, not the host.
    fn container(&self, cgroup_id: u64) -> ContainerLookup<'_> {
        if cgroup_id == 0 {
            return ContainerLookup::Unknown;
        }
        match self.lookups.container(cgroup_id) {
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
        self.lookups.user_name(uid, container_id)
    }

    fn realtime_ns(&self, boot_ns: BootNs) -> Option<i64> {
        self.lookups.clock().realtime_ns(boot_ns)
    }
}
