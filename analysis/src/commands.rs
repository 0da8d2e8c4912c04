//! Commands: every exec in the capture with its command line, parent, user and container.

use capture_format::{Event, ExecEvent};
use serde::Serialize;

use crate::meta::Lookups;
use crate::style::{shell_words, Style};

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
    /// The name of `uid` in the process's container's user table (the host's on the
    /// host), when the capture has it.
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

impl Command {
    pub fn new(e: &Event, x: &ExecEvent, lookups: &Lookups) -> Command {
        let container = lookups.container(x.cgroup_id);
        Command {
            time: lookups.clock().rfc3339(e.ts),
            boot_ns: e.ts,
            pid: e.pid,
            ppid: x.ppid,
            uid: x.uid,
            euid: x.euid,
            user: lookups
                .user_in_cgroup(x.uid, x.cgroup_id)
                .map(str::to_owned),
            exe: text(x.exe.as_deref().unwrap_or(&x.filename)),
            argv: x.argv.iter().map(|a| text(a)).collect(),
            argv_truncated: x.argv_truncated,
            cwd: x.cwd.as_deref().map(text),
            container_id: container.map(|c| c.id.clone()),
            container_name: container.and_then(|c| c.name.clone()),
        }
    }

    /// The text view's column titles.
    pub fn text_header(style: Style) -> String {
        let header = format!(
            "{:<30} {:>7} {:>7} {:>6} {:<12} COMMAND",
            "TIME", "PID", "PPID", "UID", "CONTAINER"
        );
        style.bold(&header).into_owned()
    }

    /// One aligned line: time, pid, parent, uid, short container id, command line.
    pub fn text_line(&self, style: Style) -> String {
        let container = self
            .container_id
            .as_deref()
            .map(|id| &id[..id.len().min(12)])
            .unwrap_or("-");
        let mut line = shell_words(&self.argv);
        if self.argv_truncated {
            line.push_str(" [...]");
        }
        format!(
            "{:<30} {:>7} {:>7} {:>6} {:<12} {}",
            self.time,
            self.pid,
            self.ppid,
            self.uid,
            container,
            style.bold(&line)
        )
    }
}
