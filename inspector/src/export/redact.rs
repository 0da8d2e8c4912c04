//! Redaction of secrets in records and state, applied at export (`export --redact`) and to
//! `report --redact`.
//!
//! A redacted span is overwritten in place by a marker of exactly its length (`[REDACTED]`
//! then `*`s; only `*`s when shorter than 10 bytes): buffers keep their lengths, so files
//! rebuilt from writes at offsets and stream sizes stay exact (the span's length is the one
//! thing a reader still learns). Every span is listed in the [`Ledger`]: its kind, where it
//! was, and how many bytes.
//!
//! Typed input with echo off (`read -s`, password prompts): the capture does not record the
//! terminal's flags (an ioctl's termios argument is not captured), so it cannot be known
//! that ECHO was off. The heuristic: after a successful `ioctl(fd, TCSETS/TCSETSW/TCSETSF)`
//! a process changed its terminal's mode; the bytes it then reads from that fd, up to its
//! next such ioctl on it, are treated as typed with echo off when the process wrote none of
//! them back (line editors such as readline also switch modes but echo what is typed
//! themselves). Such reads are redacted whole.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use capture_format::{
    syscall_name, Alert, Event, EventBody, ParamValue, ProcessSnapshot, SyscallEvent,
};
use regex::bytes::Regex;
use serde::Serialize;

/// One kind of secret: a pattern, and which group of it is the secret (0: the whole match).
#[derive(Clone, Debug)]
struct Rule {
    kind: String,
    re: Regex,
}

/// What to redact. [`Policy::default_policy`] is documented in the README.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `default`, or the policy file's name.
    pub name: String,
    rules: Vec<Rule>,
    /// An argument that names a secret flag (`--password`, `-token`): the next argument is
    /// the secret.
    secret_flag: Regex,
    echo_off: bool,
}

const DEFAULT_RULES: &[(&str, &str)] = &[
    (
        "private-key",
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(.+?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    ),
    (
        "authorization-header",
        r"(?i)(?:proxy-)?authorization:[ \t]*([^\r\n]+)",
    ),
    ("aws-access-key", r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    (
        "jwt",
        r"(eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+)",
    ),
    (
        "secret-assignment",
        r#"(?i)[a-z0-9_.-]*(?:token|secret|passw(?:or)?d|passwd|key|credential)s?[a-z0-9_.-]*["']?[ \t]*[=:][ \t]*["']?([^\s"'&;,]+)"#,
    ),
];

const SECRET_FLAG: &str =
    r"(?i)^-{1,2}[a-z0-9_-]*(?:token|secret|passw(?:or)?d|passwd|key|credential)s?$";

impl Policy {
    pub fn default_policy() -> Policy {
        Policy {
            name: "default".into(),
            rules: DEFAULT_RULES
                .iter()
                .map(|(kind, re)| Rule {
                    kind: (*kind).into(),
                    // The default patterns are constants, checked by the tests below.
                    re: Regex::new(re).expect("default redaction pattern"),
                })
                .collect(),
            secret_flag: Regex::new(SECRET_FLAG).expect("secret flag pattern"),
            echo_off: true,
        }
    }

    /// The default rules plus a policy file's: one rule a line, `KIND REGEX` (the regex's
    /// first group is the secret if it has one, else the whole match); `#` starts a
    /// comment line; a line `no-defaults` drops the default rules, `no-echo-off` the
    /// typed-with-echo-off heuristic.
    pub fn from_file(path: &Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("redaction policy {}: {e}", path.display()))?;
        let mut p = Policy::default_policy();
        p.name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut extra = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line {
                "no-defaults" => p.rules.clear(),
                "no-echo-off" => p.echo_off = false,
                _ => {
                    let (kind, re) = line.split_once(char::is_whitespace).ok_or_else(|| {
                        format!(
                            "redaction policy {} line {}: expected `KIND REGEX`, got {line:?}",
                            path.display(),
                            n + 1
                        )
                    })?;
                    let re = Regex::new(re.trim()).map_err(|e| {
                        format!(
                            "redaction policy {} line {}: bad regex: {e}",
                            path.display(),
                            n + 1
                        )
                    })?;
                    extra.push(Rule {
                        kind: kind.into(),
                        re,
                    });
                }
            }
        }
        p.rules.extend(extra);
        Ok(p)
    }

    /// Redacts `data` in place; returns (kind, bytes) per span, and adds each span's
    /// original value to `values`.
    fn redact_bytes_into(
        &self,
        data: &mut [u8],
        values: &mut BTreeSet<Vec<u8>>,
    ) -> Vec<(String, usize)> {
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        for rule in &self.rules {
            for caps in rule.re.captures_iter(data) {
                let m = caps.get(1).or_else(|| caps.get(0));
                if let Some(m) = m.filter(|m| !m.is_empty()) {
                    spans.push((m.start(), m.end(), &rule.kind));
                }
            }
        }
        spans.sort();
        let mut out = Vec::new();
        let mut covered = 0;
        for (start, end, kind) in spans {
            let start = start.max(covered);
            if start >= end {
                continue;
            }
            values.insert(data[start..end].to_vec());
            mask(&mut data[start..end]);
            covered = end;
            out.push((kind.to_owned(), end - start));
        }
        out
    }
}

impl Policy {
    #[cfg(test)]
    fn redact_bytes(&self, data: &mut [u8]) -> Vec<(String, usize)> {
        self.redact_bytes_into(data, &mut BTreeSet::new())
    }
}

/// The marker: exactly as long as the span.
fn mask(span: &mut [u8]) {
    const TAG: &[u8] = b"[REDACTED]";
    span.fill(b'*');
    if span.len() >= TAG.len() {
        span[..TAG.len()].copy_from_slice(TAG);
    }
}

/// One redacted span.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: String,
    /// Where: `event`, `process snapshot` or `alert`, with the field.
    pub location: String,
    /// The record's boot time, the process's pid, when they apply.
    pub ts: Option<u64>,
    pub pid: Option<u32>,
    pub bytes: usize,
}

/// Every redacted span, in record order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ledger {
    pub policy: String,
    pub entries: Vec<LedgerEntry>,
    /// The secrets found, to mask their other occurrences (never written out).
    #[serde(skip)]
    pub(crate) values: BTreeSet<Vec<u8>>,
}

impl Ledger {
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

/// The REDACTION block's kind (a private extension, like EXPORT's 0x8001).
pub const REDACTION_BLOCK_KIND: u16 = 0x8002;

const TCSETS: u64 = 0x5402;
const TCSETSF: u64 = 0x5404;

fn name(s: &SyscallEvent) -> &'static str {
    syscall_name(s.abi, s.nr).unwrap_or("")
}

/// The indices of reads judged typed with echo off (see the module doc).
fn echo_off_reads(events: &[Event]) -> Vec<usize> {
    struct Window {
        reads: Vec<usize>,
        read: Vec<u8>,
        written: Vec<u8>,
    }
    let judge = |w: Window, out: &mut Vec<usize>| {
        let typed: Vec<u8> = w
            .read
            .iter()
            .copied()
            .filter(|b| *b != b'\n' && *b != b'\r')
            .collect();
        let echoed = !typed.is_empty() && w.written.windows(typed.len()).any(|x| x == typed);
        if !typed.is_empty() && !echoed {
            out.extend(w.reads);
        }
    };
    let mut open: HashMap<(u32, u64), Window> = HashMap::new();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let EventBody::Syscall(s) = &e.body else {
            if let EventBody::Exit(_) | EventBody::Exec(_) = e.body {
                let keys: Vec<_> = open.keys().filter(|k| k.0 == e.pid).copied().collect();
                for k in keys {
                    if let Some(w) = open.remove(&k) {
                        judge(w, &mut out);
                    }
                }
            }
            continue;
        };
        match name(s) {
            "ioctl" if (TCSETS..=TCSETSF).contains(&s.args[1]) && s.ret == Some(0) => {
                let key = (e.pid, s.args[0]);
                if let Some(w) = open.remove(&key) {
                    judge(w, &mut out);
                }
                open.insert(
                    key,
                    Window {
                        reads: Vec::new(),
                        read: Vec::new(),
                        written: Vec::new(),
                    },
                );
            }
            "read" | "readv" => {
                if let Some(w) = open.get_mut(&(e.pid, s.args[0])) {
                    for p in &s.params {
                        if let ParamValue::Buffer(b) = &p.value {
                            w.read.extend_from_slice(&b.data);
                        }
                    }
                    w.reads.push(i);
                }
            }
            "write" | "writev" => {
                for (k, w) in open.iter_mut() {
                    if k.0 == e.pid {
                        for p in &s.params {
                            if let ParamValue::Buffer(b) = &p.value {
                                w.written.extend_from_slice(&b.data);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (_, w) in open.drain() {
        judge(w, &mut out);
    }
    out.sort_unstable();
    out
}

/// Redacts a list of strings (argv, a StrList parameter): each item by the rules, and the
/// item after a secret flag whole.
fn redact_list(
    p: &Policy,
    items: &mut [Vec<u8>],
    what: &str,
    at: (Option<u64>, Option<u32>),
    ledger: &mut Ledger,
) {
    let mut after_flag = false;
    for (i, item) in items.iter_mut().enumerate() {
        let flag = p.secret_flag.is_match(item);
        if after_flag && !item.is_empty() {
            ledger.values.insert(item.clone());
            mask(item);
            ledger.entries.push(LedgerEntry {
                kind: "secret-flag-value".into(),
                location: format!("{what}[{i}]"),
                ts: at.0,
                pid: at.1,
                bytes: item.len(),
            });
        } else {
            for (kind, bytes) in p.redact_bytes_into(item, &mut ledger.values) {
                ledger.entries.push(LedgerEntry {
                    kind,
                    location: format!("{what}[{i}]"),
                    ts: at.0,
                    pid: at.1,
                    bytes,
                });
            }
        }
        after_flag = flag;
    }
}

fn redact_field(
    p: &Policy,
    data: &mut [u8],
    what: String,
    at: (Option<u64>, Option<u32>),
    ledger: &mut Ledger,
) {
    for (kind, bytes) in p.redact_bytes_into(data, &mut ledger.values) {
        ledger.entries.push(LedgerEntry {
            kind,
            location: what.clone(),
            ts: at.0,
            pid: at.1,
            bytes,
        });
    }
}

/// Redacts records in place, adding each span to `ledger`.
pub fn redact_events(p: &Policy, events: &mut [Event], ledger: &mut Ledger) {
    let echo_off = if p.echo_off {
        echo_off_reads(events)
    } else {
        Vec::new()
    };
    for (i, e) in events.iter_mut().enumerate() {
        let at = (Some(e.ts), Some(e.pid));
        match &mut e.body {
            EventBody::Exec(x) => redact_list(p, &mut x.argv, "exec argv", at, ledger),
            EventBody::Syscall(s) => {
                let call = name(s);
                let typed = echo_off.binary_search(&i).is_ok();
                for param in &mut s.params {
                    let slot = param.slot;
                    let what = format!("{call} arg {slot}");
                    match &mut param.value {
                        ParamValue::Buffer(b) if typed && !b.data.is_empty() => {
                            ledger.values.insert(b.data.clone());
                            mask(&mut b.data);
                            ledger.entries.push(LedgerEntry {
                                kind: "typed-echo-off".into(),
                                location: what,
                                ts: at.0,
                                pid: at.1,
                                bytes: b.data.len(),
                            });
                        }
                        ParamValue::Buffer(_) if typed => {}
                        ParamValue::Buffer(b) => redact_field(p, &mut b.data, what, at, ledger),
                        ParamValue::Str(v) | ParamValue::Path(v) => {
                            redact_field(p, v, what, at, ledger)
                        }
                        ParamValue::StrList { items, .. } => {
                            redact_list(p, items, &what, at, ledger)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Masks every other occurrence of a secret already found (6 bytes or more, without its
/// line ending): a password typed with echo off also passes through the process that
/// feeds the terminal (sshd, a terminal emulator: its write to the pty's master), a token
/// assigned in one place is used in others.
pub fn sweep_known(events: &mut [Event], snapshot: &mut ProcessSnapshot, ledger: &mut Ledger) {
    let needles: BTreeSet<Vec<u8>> = ledger
        .values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                v.pop();
            }
            v
        })
        .filter(|v| v.len() >= 6 && !v.iter().all(|b| *b == b'*'))
        .collect();
    if needles.is_empty() {
        return;
    }
    let alternation = needles
        .iter()
        .map(|v| regex::escape(&String::from_utf8_lossy(v)))
        .collect::<Vec<_>>()
        .join("|");
    let Ok(re) = Regex::new(&alternation) else {
        return;
    };
    let mut sweep = |data: &mut [u8], what: &str, ts: Option<u64>, pid: Option<u32>| {
        let spans: Vec<(usize, usize)> = re.find_iter(data).map(|m| (m.start(), m.end())).collect();
        for (start, end) in spans {
            mask(&mut data[start..end]);
            ledger.entries.push(LedgerEntry {
                kind: "known-secret-repeat".into(),
                location: what.to_owned(),
                ts,
                pid,
                bytes: end - start,
            });
        }
    };
    for e in events.iter_mut() {
        let (ts, pid) = (Some(e.ts), Some(e.pid));
        match &mut e.body {
            EventBody::Exec(x) => {
                for a in &mut x.argv {
                    sweep(a, "exec argv", ts, pid);
                }
            }
            EventBody::Syscall(s) => {
                let call = name(s);
                for param in &mut s.params {
                    let what = format!("{call} arg {}", param.slot);
                    match &mut param.value {
                        ParamValue::Buffer(b) => sweep(&mut b.data, &what, ts, pid),
                        ParamValue::Str(v) | ParamValue::Path(v) => sweep(v, &what, ts, pid),
                        ParamValue::StrList { items, .. } => {
                            for i in items {
                                sweep(i, &what, ts, pid);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for p in &mut snapshot.processes {
        for a in &mut p.argv {
            sweep(a, "process snapshot argv", None, Some(p.pid));
        }
    }
}

/// Redacts the command lines and working directories of a snapshot's processes.
pub fn redact_snapshot(p: &Policy, s: &mut ProcessSnapshot, ledger: &mut Ledger) {
    for proc in &mut s.processes {
        let at = (None, Some(proc.pid));
        redact_list(p, &mut proc.argv, "process snapshot argv", at, ledger);
    }
}

/// Redacts an alert's payload (alert bodies quote command lines).
pub fn redact_alert(p: &Policy, a: &mut Alert, ledger: &mut Ledger) {
    let at = (Some(a.received_boot_ns), None);
    redact_field(p, &mut a.payload, "alert payload".into(), at, ledger);
    let mut summary = a.summary.clone().into_bytes();
    redact_field(p, &mut summary, "alert summary".into(), at, ledger);
    a.summary = String::from_utf8_lossy(&summary).into_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(s: &str) -> (String, Vec<String>) {
        let p = Policy::default_policy();
        let mut b = s.as_bytes().to_vec();
        let kinds = p.redact_bytes(&mut b).into_iter().map(|(k, _)| k).collect();
        (String::from_utf8(b).unwrap(), kinds)
    }

    #[test]
    fn default_rules() {
        let (t, k) = redacted("API_TOKEN=abc123def456 other=1");
        assert_eq!(t, "API_TOKEN=[REDACTED]** other=1");
        assert_eq!(k, ["secret-assignment"]);
        assert_eq!(redacted("--password=hunter2").0, "--password=*******");
        assert!(
            !redacted("GET / HTTP/1.1\r\nAuthorization: Bearer s3cr3t-t0ken\r\n")
                .0
                .contains("s3cr3t")
        );
        assert!(!redacted("key AKIAABCDEFGHIJKLMNOP x").0.contains("AKIA"));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
        assert!(!redacted(jwt).0.contains("c2lnbmF0dXJl"));
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n";
        assert!(!redacted(pem).0.contains("MIIEow"));
        assert_eq!(redacted("ls -la /tmp").1.len(), 0);
        let (t, _) = redacted("db_password: 'p4ss'\n");
        assert!(!t.contains("p4ss") && t.len() == "db_password: 'p4ss'\n".len());
    }

    #[test]
    fn secret_flag_takes_the_next_argument() {
        let p = Policy::default_policy();
        let mut argv: Vec<Vec<u8>> = ["mysql", "--password", "hunter2", "db"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut l = Ledger::default();
        redact_list(&p, &mut argv, "argv", (None, None), &mut l);
        assert_eq!(argv[2], b"*******");
        assert_eq!(argv[3], b"db");
        assert_eq!(l.entries.len(), 1);
    }
}
