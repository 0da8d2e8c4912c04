//! Fills in what the kernel programs do not read: the executable's resolved path and the
//! working directory of exec'ing processes, from /proc while the process lives, else from
//! what the recorder learned earlier (fork inherits the parent's cwd).

use std::{collections::HashMap, path::Path};

use capture_format::{Event, EventBody, ProcessSnapshot};

use crate::procscan;

pub struct Enricher {
    cwd: HashMap<u32, Vec<u8>>,
}

fn file_name(p: &[u8]) -> &[u8] {
    p.rsplit(|&b| b == b'/').next().unwrap_or(p)
}

impl Enricher {
    pub fn new(snapshot: &ProcessSnapshot) -> Self {
        Enricher {
            cwd: snapshot
                .processes
                .iter()
                .filter_map(|p| Some((p.pid, p.cwd.clone()?)))
                .collect(),
        }
    }

    fn cwd_of(&mut self, pid: u32) -> Option<Vec<u8>> {
        if let Some(c) = procscan::cwd(pid) {
            self.cwd.insert(pid, c.clone());
            return Some(c);
        }
        self.cwd.get(&pid).cloned()
    }

    pub fn apply(&mut self, e: &mut Event) {
        match &mut e.body {
            EventBody::Fork(f) if f.child_pid != e.pid => {
                if let Some(c) = self.cwd_of(e.pid) {
                    self.cwd.insert(f.child_pid, c);
                }
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
            }
            EventBody::Exit(x) if x.group_dead => {
                self.cwd.remove(&e.pid);
            }
            _ => {}
        }
    }
}
