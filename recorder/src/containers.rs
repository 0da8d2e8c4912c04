//! Which container a cgroup belongs to. The kernel gives each event a cgroup v2 id (the
//! cgroup directory's inode number); the runtime and container id are parsed from that
//! cgroup's path, the way each runtime names it.

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use capture_format::ContainerInfo;

use crate::runtime_meta;

/// The runtime and full id of the container a cgroup path belongs to, if any.
pub fn parse_container(cgroup_path: &str) -> Option<(&'static str, String)> {
    // Walk from the leaf up: a container may create child cgroups of its own.
    for part in cgroup_path.rsplit('/') {
        let name = part.strip_suffix(".scope").unwrap_or(part);
        let found = if let Some(rest) = name.strip_prefix("libpod-") {
            // conmon, podman's monitor, runs in libpod-conmon-<id>: it is not the container.
            if rest.starts_with("conmon-") {
                return None;
            }
            Some(("podman", rest))
        } else if let Some(rest) = name.strip_prefix("docker-") {
            Some(("docker", rest))
        } else if let Some(rest) = name.strip_prefix("cri-containerd-") {
            Some(("containerd", rest))
        } else if let Some(rest) = name.strip_prefix("crio-") {
            if rest.starts_with("conmon-") {
                return None;
            }
            Some(("cri-o", rest))
        } else if is_container_id(name) {
            // cgroupfs-driver layouts: /docker/<id>, /kubepods/besteffort/pod<uid>/<id>.
            let runtime = if cgroup_path.contains("/docker/") {
                "docker"
            } else if cgroup_path.contains("kubepods") {
                "kubernetes"
            } else {
                "unknown"
            };
            Some((runtime, name))
        } else {
            None
        };
        if let Some((runtime, id)) = found {
            if is_container_id(id) {
                return Some((runtime, id.to_owned()));
            }
        }
    }
    None
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The cgroup v2 mount point: `/sys/fs/cgroup` on unified systems, `/sys/fs/cgroup/unified`
/// on hybrid ones.
pub fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|line| {
        // Fields: id parent maj:min root mountpoint options... - fstype source superopts
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split(' ').next()?;
        let mount_point = left.split(' ').nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// Maps cgroup ids to paths and containers, rescanning cgroupfs when an unknown id shows
/// up (rate limited, so a flood of unknown ids cannot turn into a flood of scans).
pub struct CgroupResolver {
    root: Option<PathBuf>,
    paths: HashMap<u64, String>,
    last_scan: Option<Instant>,
    containers: HashMap<String, ContainerInfo>,
    /// What each cgroup id seen in events resolved to (None: a host cgroup, or unknown
    /// after a rescan), so the per-event cost is one hash lookup.
    verdicts: HashMap<u64, Option<String>>,
    /// Containers whose /etc/passwd and /etc/group have been read.
    users_read: HashSet<String>,
}

const RESCAN_INTERVAL: Duration = Duration::from_millis(200);

impl CgroupResolver {
    pub fn new() -> Self {
        let mut r = CgroupResolver {
            root: cgroup2_root(),
            paths: HashMap::new(),
            last_scan: None,
            containers: HashMap::new(),
            verdicts: HashMap::new(),
            users_read: HashSet::new(),
        };
        r.scan();
        r
    }

    fn scan(&mut self) {
        self.last_scan = Some(Instant::now());
        let Some(root) = self.root.clone() else {
            return;
        };
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            if let Ok(meta) = std::fs::metadata(&dir) {
                let rel = dir.strip_prefix(&root).unwrap_or(Path::new(""));
                self.paths
                    .insert(meta.ino(), format!("/{}", rel.to_string_lossy()));
            }
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }

    /// The path of cgroup `id`, if it exists or existed while we looked.
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if !self.paths.contains_key(&id)
            && self
                .last_scan
                .is_none_or(|t| t.elapsed() >= RESCAN_INTERVAL)
        {
            self.scan();
        }
        self.paths.get(&id).map(String::as_str)
    }

    /// What is known of cgroup `id` without touching the file system: a container, the
    /// host, or nothing yet (for the rules' context, which must not block).
    pub fn known(&self, id: u64) -> Option<Option<&ContainerInfo>> {
        match self.verdicts.get(&id)? {
            Some(cid) => Some(self.containers.get(cid)),
            None => Some(None),
        }
    }

    /// Records a cgroup's path as the kernel announced it at creation.
    pub fn learn(&mut self, id: u64, path: &str) {
        self.paths.insert(id, path.to_owned());
        self.verdicts.remove(&id);
    }

    /// The container cgroup `id` belongs to; remembered so it outlives the container.
    pub fn observe(&mut self, id: u64) -> Option<&ContainerInfo> {
        if let Some(verdict) = self.verdicts.get(&id) {
            return self.containers.get(verdict.as_ref()?);
        }
        let Some(path) = self.path(id).map(str::to_owned) else {
            // Unknown even after a rescan: remember, until cgroup_mkdir teaches us.
            if self
                .last_scan
                .is_some_and(|t| t.elapsed() < RESCAN_INTERVAL)
            {
                self.verdicts.insert(id, None);
            }
            return None;
        };
        let Some((runtime, cid)) = parse_container(&path) else {
            self.verdicts.insert(id, None);
            return None;
        };
        self.verdicts.insert(id, Some(cid.clone()));
        let info = self.containers.entry(cid.clone()).or_insert_with(|| {
            let mut info = ContainerInfo {
                id: cid,
                runtime: runtime.to_owned(),
                cgroup_path: path,
                ..Default::default()
            };
            // The runtime's state files exist from creation: read them now, while
            // the container is alive.
            runtime_meta::enrich(&mut info, None);
            info
        });
        if !info.cgroup_ids.contains(&id) {
            info.cgroup_ids.push(id);
        }
        Some(info)
    }

    /// A process of container `cgroup` exec'd: by now it sees the container's root, so
    /// what only the container's own files say (users, hostname) can be read. Returns the
    /// container's users and groups the first time it succeeds.
    pub fn exec_in(
        &mut self,
        cgroup: u64,
        pid: u32,
    ) -> Option<(
        Vec<capture_format::UserInfo>,
        Vec<capture_format::GroupInfo>,
    )> {
        let cid = self.verdicts.get(&cgroup)?.clone()?;
        let info = self.containers.get_mut(&cid)?;
        if info.name.is_none() || info.hostname.is_none() {
            runtime_meta::enrich(info, Some(pid));
        }
        if !self.users_read.insert(cid.clone()) {
            return None;
        }
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let (users, groups) = runtime_meta::users_and_groups(&root, &cid);
        if users.is_empty() {
            // The process was gone or the files unreadable: try at the next exec.
            self.users_read.remove(&cid);
            return None;
        }
        Some((users, groups))
    }

    /// Containers seen so far.
    pub fn container_count(&self) -> usize {
        self.containers.len()
    }

    pub fn containers(&mut self) -> Vec<ContainerInfo> {
        // A last chance for containers whose runtime state was not readable when first
        // seen (still alive, or kept by the runtime after exit).
        for info in self.containers.values_mut().filter(|c| c.name.is_none()) {
            runtime_meta::enrich(info, None);
        }
        let mut v: Vec<_> = self.containers.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

impl Default for CgroupResolver {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b6c1d9e8a7f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b";

    #[test]
    fn parses_each_runtime_layout() {
        let cases = [
            (format!("/libpod_parent/libpod-{ID}"), "podman"),
            (format!("/machine.slice/libpod-{ID}.scope/container"), "podman"),
            (format!("/system.slice/docker-{ID}.scope"), "docker"),
            (format!("/docker/{ID}"), "docker"),
            (
                format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope"),
                "containerd",
            ),
            (format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"), "cri-o"),
            (format!("/kubepods/besteffort/pod1234/{ID}"), "kubernetes"),
        ];
        for (path, runtime) in cases {
            assert_eq!(
                parse_container(&path),
                Some((runtime, ID.to_owned())),
                "{path}"
            );
        }
    }

    #[test]
    fn monitors_and_host_cgroups_are_not_containers() {
        for path in [
            format!("/libpod_parent/libpod-conmon-{ID}"),
            format!("/machine.slice/crio-conmon-{ID}.scope"),
            "/user.slice/user-0.slice/session-1.scope".to_owned(),
            "/".to_owned(),
            "/system.slice/docker-notanid.scope".to_owned(),
        ] {
            assert_eq!(parse_container(&path), None, "{path}");
        }
    }

    #[test]
    fn resolves_own_cgroup() {
        let Some(root) = cgroup2_root() else {
            eprintln!("skipped: no cgroup2 mount");
            return;
        };
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
        let rel = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("a cgroup v2 line");
        let ino = std::fs::metadata(root.join(rel.trim_start_matches('/')))
            .expect("own cgroup dir")
            .ino();
        let mut r = CgroupResolver::new();
        assert_eq!(r.path(ino), Some(rel));
    }
}
