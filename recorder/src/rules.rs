//! Built-in rules: conditions in the filter language (the one the inspector's `--filter`
//! takes), evaluated on the live event stream; a match is an alert like a webhook's. Rules
//! are YAML like Falco's. A rule is one condition on one event; what needs history (a file
//! written during this run, then executed) is a field backed by the recorder's state.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::Path,
};

use aftertrace_filter::{ContainerLookup, ContainerView, Context, Filter, ProcessView};
use anyhow::{bail, Context as _, Result};
use capture_format::{syscall_name, BootNs, Event, EventBody, ParamValue, UsersAndGroups};
use serde::Deserialize;

use crate::{containers::CgroupResolver, proctable::ProcTable};

/// The default rule set, used unless `--rules` names another file (or `none`).
pub const DEFAULT_RULES: &str = include_str!("default_rules.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    rule: String,
    #[serde(default)]
    desc: String,
    condition: String,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

pub struct Rule {
    pub name: String,
    pub desc: String,
    pub priority: String,
    pub filter: Filter,
}

/// A rule that matched an event.
#[derive(Clone, Debug)]
pub struct RuleMatch {
    pub rule: String,
    pub priority: String,
    pub event: Event,
}

/// Rule matches; the daemon throttles them per rule and container (`rule_throttle`) and
/// counts what it holds back, so nothing is dropped here unseen.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Matches not queued because MAX_PENDING_MATCHES were waiting, by rule: counted by
    /// the daemon like throttled ones, so a flood cannot grow the queue without bound.
    pub overflow: HashMap<String, u64>,
}

/// Matches waiting for the daemon (it takes them every 50 ms).
const MAX_PENDING_MATCHES: usize = 10_000;

impl RuleSet {
    /// Parses rules from YAML; `origin` names the input in errors.
    pub fn parse(yaml: &str, origin: &str) -> Result<Self> {
        let specs: Vec<RuleSpec> =
            serde_norway::from_str(yaml).with_context(|| format!("reading rules from {origin}"))?;
        let mut rules = Vec::new();
        for s in specs.into_iter().filter(|s| s.enabled) {
            let filter = match Filter::parse(&s.condition) {
                Ok(f) => f,
                Err(e) => bail!("{origin}: rule {:?}: condition {e}", s.rule),
            };
            rules.push(Rule {
                name: s.rule,
                desc: s.desc,
                priority: s.priority.unwrap_or_else(|| "WARNING".into()),
                filter,
            });
        }
        Ok(RuleSet {
            rules,
            overflow: HashMap::new(),
        })
    }

    /// The rules in `path`, the default set for `None`, no rules for `none`.
    pub fn load(path: Option<&Path>) -> Result<Option<Self>> {
        match path {
            None => Self::parse(DEFAULT_RULES, "the built-in rules").map(Some),
            Some(p) if p == Path::new("none") => Ok(None),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading the rules file {}", p.display()))?;
                Self::parse(&text, &p.display().to_string()).map(Some)
            }
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every rule on `e`, appending matches.
    pub fn check(&mut self, e: &Event, ctx: &dyn Context, out: &mut Vec<RuleMatch>) {
        for rule in &self.rules {
            if rule.filter.matches(e, ctx) {
                if out.len() >= MAX_PENDING_MATCHES {
                    *self.overflow.entry(rule.name.clone()).or_default() += 1;
                    continue;
                }
                out.push(RuleMatch {
                    rule: rule.name.clone(),
                    priority: rule.priority.clone(),
                    event: e.clone(),
                });
            }
        }
    }
}

/// Paths opened for writing (or renamed into place) during the recording, bounded: the
/// state behind `proc.exe_written`.
#[derive(Default)]
pub struct WrittenFiles {
    set: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

const WRITTEN_MAX: usize = 65_536;

impl WrittenFiles {
    fn insert(&mut self, path: Vec<u8>) {
        if self.set.insert(path.clone()) {
            self.order.push_back(path);
            if self.order.len() > WRITTEN_MAX {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        self.set.contains(path)
    }

    /// Learns from a successful open-for-write, creat or rename; relative paths are
    /// resolved against the process's working directory. Files a compiler or linker
    /// writes on the host are not learned: running what was just built is what a build
    /// does (cargo's build scripts and tests, make check), and the rule would fire on
    /// every build node all day. Inside a container, and for files written by anything
    /// else (cp, curl, a shell redirect, an interpreter), they are.
    pub fn observe(&mut self, e: &Event, procs: &ProcTable, cgroups: &CgroupResolver) {
        let EventBody::Syscall(s) = &e.body else {
            return;
        };
        if s.ret.is_none_or(|r| r < 0) {
            return;
        }
        let on_host = cgroups.known(s.cgroup_id).is_some_and(|c| c.is_none());
        if on_host && procs.get(e.pid).is_some_and(|p| is_toolchain(&p.comm)) {
            return;
        }
        let path_at = |slot: u8| {
            s.params.iter().find_map(|p| match &p.value {
                ParamValue::Path(path) if p.slot == slot => Some(path.as_slice()),
                _ => None,
            })
        };
        const WRITING: u64 = 0o1 | 0o2 | 0o100 | 0o1000;
        let path = match syscall_name(s.abi, s.nr) {
            Some("open") if s.args[1] & WRITING != 0 => path_at(0),
            Some("openat") if s.args[2] & WRITING != 0 => path_at(1),
            Some("creat") => path_at(0),
            Some("rename") => path_at(1),
            Some("renameat" | "renameat2") => path_at(3),
            _ => None,
        };
        let Some(path) = path else {
            return;
        };
        let full = if path.first() == Some(&b'/') {
            path.to_vec()
        } else {
            let Some(cwd) = procs.get(e.pid).and_then(|p| p.cwd.clone()) else {
                return;
            };
            let mut full = cwd;
            if full.last() != Some(&b'/') {
                full.push(b'/');
            }
            full.extend_from_slice(path.strip_prefix(b"./").unwrap_or(path));
            full
        };
        self.insert(full);
    }
}

/// Compilers, assemblers and linkers, by the kernel's comm (the executable's name cut to
/// 15 bytes), cross tools (`x86_64-linux-gnu-gcc-12`) included.
fn is_toolchain(comm: &str) -> bool {
    const TOOLS: &[&str] = &[
        "cc", "c++", "gcc", "g++", "cc1", "cc1plus", "collect2", "clang", "clang++", "as", "ld",
        "ld.bfd", "ld.gold", "ld.lld", "lld", "mold", "rustc", "cargo", "go", "ar", "ranlib",
        "strip", "objcopy",
    ];
    let tool = match comm.split_once("-linux-") {
        // gnu-gcc-12 -> gcc
        Some((_, rest)) => match rest.split('-').nth(1) {
            Some(t) => t,
            // Cut by the 15-byte comm before the tool's name: a cross tool's prefix.
            None => return true,
        },
        None => comm,
    };
    let tool = tool
        .rsplit_once('-')
        .filter(|(_, v)| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map_or(tool, |(t, _)| t);
    TOOLS.contains(&tool)
}

/// The filter context the rules see: the recorder's live tables.
pub struct LiveContext<'a> {
    pub procs: &'a ProcTable,
    pub cgroups: &'a CgroupResolver,
    pub users: &'a UsersAndGroups,
    pub written: &'a WrittenFiles,
}

impl Context for LiveContext<'_> {
    fn process(&self, pid: u32, _at: BootNs) -> Option<ProcessView<'_>> {
        self.procs.get(pid).map(ProcessView::from)
    }

    fn container(&self, cgroup_id: u64) -> ContainerLookup<'_> {
        match self.cgroups.known(cgroup_id) {
            None => ContainerLookup::Unknown,
            Some(None) => ContainerLookup::Host,
            Some(Some(c)) => ContainerLookup::Container(ContainerView {
                id: &c.id,
                name: c.name.as_deref(),
                image: c.image.as_deref(),
                runtime: &c.runtime,
            }),
        }
    }

    fn user_name(&self, uid: u32, container_id: &str) -> Option<&str> {
        self.users
            .users
            .iter()
            .find(|u| u.uid == uid && u.container_id == container_id)
            .map(|u| u.name.as_str())
    }

    fn exe_written(&self, pid: u32, _at: BootNs) -> Option<bool> {
        let p = self.procs.get(pid)?;
        Some(
            p.exe
                .as_deref()
                .is_some_and(|exe| self.written.contains(exe)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_parse() {
        let set = RuleSet::parse(DEFAULT_RULES, "defaults").expect("valid");
        let names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
        for wanted in [
            "Shell spawned in a container",
            "Read of /etc/shadow",
            "Write below /etc or a binary directory",
            "File written during this run, then executed",
            "Execution from memory (memfd)",
            "Ptrace attach",
            "Kernel module load",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
    }

    #[test]
    fn toolchains_are_recognised_by_comm() {
        for t in [
            "cc",
            "rustc",
            "ld.lld",
            "gcc-12",
            "x86_64-linux-gn",
            "collect2",
        ] {
            assert!(is_toolchain(t), "{t}");
        }
        assert!(is_toolchain("x86_64-linux-gnu-gcc-12"));
        for t in ["cp", "bash", "curl", "python3", "install", "dd"] {
            assert!(!is_toolchain(t), "{t}");
        }
    }

    #[test]
    fn bad_rules_name_the_rule_and_column() {
        let err = RuleSet::parse("- rule: broken\n  condition: proc.name =\n", "rules.yaml")
            .err()
            .expect("an error");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("rules.yaml") && msg.contains("broken") && msg.contains("column"),
            "{msg}"
        );
        assert!(RuleSet::parse("- rule: x\n  conditon: a\n", "r.yaml").is_err());
    }
}
