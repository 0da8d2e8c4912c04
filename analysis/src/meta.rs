//! Lookups into the capture's metadata that every view needs: containers by cgroup, user
//! names per container, and the clock.

use std::collections::HashMap;

use capture_format::{ContainerInfo, Metadata};

use crate::timefmt::Clock;

/// Containers, users and clock of one capture, indexed for per-event lookups.
pub struct Lookups {
    clock: Clock,
    containers: Vec<ContainerInfo>,
    by_cgroup: HashMap<u64, usize>,
    /// Container id ("" for the host) -> uid -> name.
    users: HashMap<String, HashMap<u32, String>>,
}

impl Lookups {
    pub fn new(meta: &Metadata) -> Lookups {
        let mut by_cgroup = HashMap::new();
        for (i, c) in meta.containers.iter().enumerate() {
            for &cg in &c.cgroup_ids {
                by_cgroup.insert(cg, i);
            }
        }
        let mut users: HashMap<String, HashMap<u32, String>> = HashMap::new();
        for u in &meta.users.users {
            users
                .entry(u.container_id.clone())
                .or_default()
                .insert(u.uid, u.name.clone());
        }
        Lookups {
            clock: Clock::new(&meta.clocks),
            containers: meta.containers.clone(),
            by_cgroup,
            users,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The container whose tasks live in `cgroup_id`; `None` on the host (and for cgroup
    /// id 0, which means "not recorded").
    pub fn container(&self, cgroup_id: u64) -> Option<&ContainerInfo> {
        self.by_cgroup
            .get(&cgroup_id)
            .and_then(|&i| self.containers.get(i))
    }

    /// The name of `uid` in the user table of `container_id` (the full id; "" for the
    /// host). A container's uid is never named from the host's table: uid 33 in a
    /// container is not the host's uid 33.
    pub fn user_name(&self, uid: u32, container_id: &str) -> Option<&str> {
        self.users.get(container_id)?.get(&uid).map(String::as_str)
    }

    /// The name of `uid` for a process in `cgroup_id` (its container's table, or the
    /// host's).
    pub fn user_in_cgroup(&self, uid: u32, cgroup_id: u64) -> Option<&str> {
        let container = self.container(cgroup_id).map_or("", |c| c.id.as_str());
        self.user_name(uid, container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_format::{UserInfo, UsersAndGroups};

    #[test]
    fn users_are_per_container() {
        let meta = Metadata {
            containers: vec![ContainerInfo {
                id: "c1".into(),
                cgroup_ids: vec![7],
                ..Default::default()
            }],
            users: UsersAndGroups {
                users: vec![
                    UserInfo {
                        uid: 0,
                        name: "root".into(),
                        container_id: String::new(),
                    },
                    UserInfo {
                        uid: 33,
                        name: "www-data".into(),
                        container_id: "c1".into(),
                    },
                ],
                groups: vec![],
            },
            ..Default::default()
        };
        let l = Lookups::new(&meta);
        assert_eq!(l.user_in_cgroup(0, 1), Some("root"));
        assert_eq!(l.user_in_cgroup(33, 7), Some("www-data"));
        assert_eq!(
            l.user_in_cgroup(0, 7),
            None,
            "no fallback to the host's table"
        );
        assert_eq!(l.container(7).map(|c| c.id.as_str()), Some("c1"));
        assert!(l.container(0).is_none());
    }
}
