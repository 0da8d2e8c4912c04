//! Names, images, labels and hostnames of containers, read from the runtimes' own state
//! files while the container is alive (never by running the runtime's CLI per event), so the
//! capture keeps them after the container is gone.

use std::{collections::BTreeMap, path::Path};

use capture_format::{ContainerInfo, GroupInfo, UserInfo};
use serde_json::Value;

/// Where podman (containers/storage) keeps its state, for root.
const PODMAN_STORAGE: &str = "/var/lib/containers/storage";
const DOCKER_ROOT: &str = "/var/lib/docker";

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Fills name, image, labels and hostname from the runtime's state files; `pid` is a
/// process inside the container, used for what only the container's own files say.
pub fn enrich(info: &mut ContainerInfo, pid: Option<u32>) {
    match info.runtime.as_str() {
        "podman" => podman(info, Path::new(PODMAN_STORAGE)),
        "docker" => docker(info, Path::new(DOCKER_ROOT)),
        _ => {}
    }
    tracing::debug!(
        "container {} ({}): name {:?}, image {:?}",
        info.id,
        info.runtime,
        info.name,
        info.image
    );
    if info.hostname.is_none() {
        if let Some(pid) = pid {
            info.hostname = std::fs::read_to_string(format!("/proc/{pid}/root/etc/hostname"))
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty());
        }
    }
}

/// containers/storage's `containers.json` has the name and the image name; the OCI
/// bundle's `config.json` the hostname; libpod's BoltDB the labels.
fn podman(info: &mut ContainerInfo, storage: &Path) {
    // The database is read while the container is still unresolved, not again on the
    // later passes that only look for a hostname (one per exec in the container).
    if info.name.is_none() && info.labels.is_empty() {
        if let Some(labels) = podman_labels(&storage.join("libpod/bolt_state.db"), &info.id) {
            info.labels = labels;
        }
    }
    let list = read_json(&storage.join("overlay-containers/containers.json"));
    if let Some(entry) = list
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|c| c["id"] == info.id.as_str()))
    {
        info.name = entry["names"][0].as_str().map(str::to_owned);
        // `metadata` is a JSON document inside a string.
        let meta: Option<Value> = entry["metadata"]
            .as_str()
            .and_then(|m| serde_json::from_str(m).ok());
        info.image = meta
            .as_ref()
            .and_then(|m| m["image-name"].as_str())
            .map(str::to_owned)
            .or_else(|| entry["image"].as_str().map(str::to_owned));
    }
    let config = read_json(
        &storage
            .join("overlay-containers")
            .join(&info.id)
            .join("userdata/config.json"),
    );
    if let Some(config) = config {
        info.hostname = config["hostname"].as_str().map(str::to_owned);
    }
}

/// Largest libpod database read for labels.
const BOLT_MAX: u64 = 256 << 20;

/// The labels in libpod's container config, which podman 4 keeps only in its BoltDB
/// (`bolt_state.db`). The config is one JSON document (`{"spec":..., "id":..., "labels":
/// ...}`) stored as a bolt value, and bolt keeps a value's bytes contiguous in the file
/// (overflow pages are consecutive): so the file is read without a bolt library, and
/// without taking podman's lock, by finding the document whose `id` is the container's.
/// Read-only; `None` when there is no such file or document.
fn podman_labels(db: &Path, id: &str) -> Option<BTreeMap<String, String>> {
    if std::fs::metadata(db).ok()?.len() > BOLT_MAX {
        return None;
    }
    let bytes = std::fs::read(db).ok()?;
    let needle = format!("\"id\":\"{id}\"");
    let needle = needle.as_bytes();
    let start_marker = b"{\"spec\":";
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&bytes[from..], needle).map(|i| i + from) {
        from = at + needle.len();
        let Some(start) = memchr::memmem::rfind(&bytes[..at], start_marker) else {
            continue;
        };
        let mut docs = serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<Value>();
        let Some(Ok(doc)) = docs.next() else {
            continue;
        };
        if doc["id"] != id {
            continue;
        }
        return Some(
            doc["labels"]
                .as_object()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    None
}

/// Docker's `containers/<id>/config.v2.json`.
fn docker(info: &mut ContainerInfo, root: &Path) {
    let Some(c) = read_json(
        &root
            .join("containers")
            .join(&info.id)
            .join("config.v2.json"),
    ) else {
        return;
    };
    info.name = c["Name"]
        .as_str()
        .map(|n| n.trim_start_matches('/').to_owned());
    info.image = c["Config"]["Image"].as_str().map(str::to_owned);
    info.hostname = c["Config"]["Hostname"].as_str().map(str::to_owned);
    if let Some(labels) = c["Config"]["Labels"].as_object() {
        info.labels = labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect::<BTreeMap<_, _>>();
    }
}

/// `name:x:id:...` lines of a passwd or group file.
fn id_names(text: &str) -> impl Iterator<Item = (u32, String)> + '_ {
    text.lines().filter_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id = f.nth(1)?.parse().ok()?;
        (!name.is_empty() && !name.starts_with('#')).then(|| (id, name.to_owned()))
    })
}

/// Users and groups from `root`'s /etc/passwd and /etc/group (`/` for the host, or
/// `/proc/PID/root` for a container), tagged with `container_id` ("" for the host).
pub fn users_and_groups(root: &Path, container_id: &str) -> (Vec<UserInfo>, Vec<GroupInfo>) {
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_default();
    let users = id_names(&read("etc/passwd"))
        .map(|(uid, name)| UserInfo {
            uid,
            name,
            container_id: container_id.to_owned(),
        })
        .collect();
    let groups = id_names(&read("etc/group"))
        .map(|(gid, name)| GroupInfo {
            gid,
            name,
            container_id: container_id.to_owned(),
        })
        .collect();
    (users, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b6c1d9e8a7f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b";

    #[test]
    fn reads_podman_state_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path();
        std::fs::create_dir_all(storage.join(format!("overlay-containers/{ID}/userdata")))
            .expect("dirs");
        std::fs::write(
            storage.join("overlay-containers/containers.json"),
            format!(
                r#"[{{"id":"{ID}","names":["web"],"image":"abc","metadata":"{{\"image-name\":\"localhost/app:1\"}}"}}]"#
            ),
        )
        .expect("containers.json");
        std::fs::write(
            storage.join(format!("overlay-containers/{ID}/userdata/config.json")),
            r#"{"hostname":"3f2b6c1d9e8a"}"#,
        )
        .expect("config.json");
        let mut info = ContainerInfo {
            id: ID.into(),
            runtime: "podman".into(),
            ..Default::default()
        };
        // libpod's BoltDB: pages of other data around the config document, a stale
        // document of another container, and the container's own.
        std::fs::create_dir_all(storage.join("libpod")).expect("libpod dir");
        let mut bolt = vec![0u8; 4096];
        bolt.extend_from_slice(
            br#"{"spec":{"process":{"args":["sh"]}},"id":"0000","labels":{"team":"other"}}"#,
        );
        bolt.extend_from_slice(&[0xff; 100]);
        bolt.extend_from_slice(
            format!(
                r#"{{"spec":{{"ociVersion":"1.0.2","hostname":"x"}},"id":"{ID}","name":"web","labels":{{"team":"payments","app.kubernetes.io/name":"checkout"}},"stopSignal":15}}"#
            )
            .as_bytes(),
        );
        bolt.extend_from_slice(&[0u8; 300]);
        std::fs::write(storage.join("libpod/bolt_state.db"), &bolt).expect("bolt");
        podman(&mut info, storage);
        assert_eq!(
            info.labels.get("team").map(String::as_str),
            Some("payments")
        );
        assert_eq!(
            info.labels
                .get("app.kubernetes.io/name")
                .map(String::as_str),
            Some("checkout")
        );
        assert_eq!(info.labels.len(), 2);
        assert_eq!(
            podman_labels(&storage.join("libpod/bolt_state.db"), "1234"),
            None
        );
        assert_eq!(info.name.as_deref(), Some("web"));
        assert_eq!(info.image.as_deref(), Some("localhost/app:1"));
        assert_eq!(info.hostname.as_deref(), Some("3f2b6c1d9e8a"));
    }

    #[test]
    fn reads_docker_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(format!("containers/{ID}"))).expect("dirs");
        std::fs::write(
            dir.path().join(format!("containers/{ID}/config.v2.json")),
            r#"{"Name":"/db","Config":{"Image":"postgres:16","Hostname":"dbhost","Labels":{"team":"red"}}}"#,
        )
        .expect("config");
        let mut info = ContainerInfo {
            id: ID.into(),
            runtime: "docker".into(),
            ..Default::default()
        };
        docker(&mut info, dir.path());
        assert_eq!(info.name.as_deref(), Some("db"));
        assert_eq!(info.image.as_deref(), Some("postgres:16"));
        assert_eq!(info.labels.get("team").map(String::as_str), Some("red"));
    }

    #[test]
    fn parses_passwd_and_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("etc");
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\nnobody:x:65534:65534::/:/bin/false\nbroken\n",
        )
        .expect("passwd");
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:a,b\n").expect("group");
        let (users, groups) = users_and_groups(dir.path(), "c1");
        let names: Vec<_> = users.iter().map(|u| (u.uid, u.name.as_str())).collect();
        assert_eq!(names, vec![(0, "root"), (65534, "nobody")]);
        assert_eq!(groups[1].gid, 50);
        assert!(users.iter().all(|u| u.container_id == "c1"));
    }
}
