//! Commands: every exec in the capture with its command line, parent, user and container.

use std::collections::HashMap;

use capture_format::{CaptureReader, ContainerInfo, EventBody};
use serde::Serialize;

use crate::timefmt::Clock;

/// One exec, as `commands --json` prints it (the README documents this schema).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Command {
    /// RFC 3339 UTC with nanoseconds.
    pub time: String,
    #[serde(skip)]
    pub boot_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    /// The user name, when the capture knows it.
    pub user: Option<String>,
    /// The executable: the resolved path if the recorder read it, else the exec'd path.
    pub exe: String,
    pub argv: Vec<String>,
    pub argv_truncated: bool,
    pub cwd: Option<String>,
    /// Full container id, or null on the host.
    pub container_id: Option<String>,
    pub container_name: Option<String>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every exec in the capture, in time order. Damaged chunks are skipped (the reader's
/// damage report says what was lost); their errors are returned beside the commands.
pub fn commands(reader: &CaptureReader) -> (Vec<Command>, Vec<capture_format::Error>) {
    let meta = reader.metadata();
    let clock = Clock::new(&meta.clocks);
    let by_cgroup: HashMap<u64, &ContainerInfo> = meta
        .containers
        .iter()
        .flat_map(|c| c.cgroup_ids.iter().map(move |&id| (id, c)))
        .collect();
    let users: HashMap<u32, &str> = meta
        .users
        .users
        .iter()
        .filter(|u| u.container_id.is_empty())
        .map(|u| (u.uid, u.name.as_str()))
        .collect();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for event in reader.events() {
        let e = match event {
            Ok(e) => e,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        let EventBody::Exec(x) = e.body else {
            continue;
        };
        let container = by_cgroup.get(&x.cgroup_id);
        out.push(Command {
            time: clock.rfc3339(e.ts),
            boot_ns: e.ts,
            pid: e.pid,
            ppid: x.ppid,
            uid: x.uid,
            euid: x.euid,
            user: users.get(&x.uid).map(|s| (*s).to_owned()),
            exe: text(x.exe.as_deref().unwrap_or(&x.filename)),
            argv: x.argv.iter().map(|a| text(a)).collect(),
            argv_truncated: x.argv_truncated,
            cwd: x.cwd.as_deref().map(text),
            container_id: container.map(|c| c.id.clone()),
            container_name: container.and_then(|c| c.name.clone()),
        });
    }
    out.sort_by_key(|c| c.boot_ns);
    (out, errors)
}
