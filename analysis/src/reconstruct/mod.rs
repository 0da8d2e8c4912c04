//! Reconstruction of what moved through a capture's file descriptors: scripts and files
//! rebuilt byte for byte from writes at their offsets, from what interpreters read, from
//! pipes into interpreters and from `-c` arguments; interactive terminal sessions; network
//! (and unix socket) connections with their data per direction. No terminal I/O here: the
//! CLI and the TUI render what [`reconstruct`] returns.
//!
//! - [`engine`]: the replay (fd tables, open file descriptions, offsets, pipes, sockets,
//!   terminals) over the records in time order.
//! - [`content`]: sparse content at offsets with named holes ([`Gap`]s): never glued.
//! - [`classify`]: interpreters and their program source, persistence paths, paths.
//! - [`lines`]: typed lines from terminal input, with line editing applied.
//!
//! Every artifact has an id that stays the same whatever the query selects: `fN` a file
//! written during the capture (one generation: a truncation starts a new one), `rN` what
//! an interpreter read from a file, `pN` a pipe an interpreter read its program from,
//! `aN` a `-c` argument, `tN` a terminal session, `nN` a connection.

pub mod classify;
pub mod content;
pub mod engine;
pub mod lines;
pub mod transcript;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aftertrace_filter::Filter;
use base64::Engine as _;
use capture_format::{syscall_def_of, Abi, CaptureReader, Event, EventBody, Records, SockAddr};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::commands::Command;
use crate::context::CaptureContext;
use crate::events::sockaddr;
use crate::meta::Lookups;
use crate::procs::ProcessTree;
use crate::scan::{self, Plan, TreeNeed};
use crate::select::TimeRange;
use crate::style::shell_words;

pub use content::{Cause, Content, Gap};
use engine::{Actor, ConnSegment, Direction, Engine, Image, ReadSource};
use lines::{typed_lines, Keys, LineEnd};
pub use transcript::Turn;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A process as an artifact names it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProcRef {
    pub pid: u32,
    /// Its command line then.
    pub argv: Vec<String>,
}

impl ProcRef {
    fn of(a: &Actor) -> ProcRef {
        ProcRef {
            pid: a.pid,
            argv: a.image.argv.iter().map(|x| text(x)).collect(),
        }
    }

    pub fn command(&self) -> String {
        if self.argv.is_empty() {
            "?".into()
        } else {
            shell_words(&self.argv)
        }
    }
}

/// How an artifact relates to something else.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Link {
    /// `same-content` (another artifact with the same sha256), `file` (the written file
    /// an interpreter read), `read-by` (an interpreter's read of this file), `exec` (the
    /// exec that ran it), `chmod` (a mode change), `writer` (a process that wrote into the
    /// pipe), `connection` (a connection of that writer: where the content came from).
    pub relation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl Link {
    fn to(relation: &'static str, id: String) -> Link {
        Link {
            relation,
            id: Some(id),
            pid: None,
            time: None,
            argv: None,
            mode: None,
        }
    }
}

/// A recovered script or file (`scripts --json`, `files --json`; schema in the README).
#[derive(Clone, Debug, Serialize)]
pub struct Artifact {
    pub id: String,
    /// Its path (null for pipes and arguments). For a file renamed during the capture, the
    /// last name.
    pub path: Option<String>,
    /// written, interpreter-read, pipe, argument, stdin-redirect
    pub source: &'static str,
    /// The interpreter that ran it (or, for a file, its `#!` line's), when known.
    pub interpreter: Option<String>,
    /// The process that wrote it (the first writer), read it, or was given it.
    pub pid: Option<u32>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    /// Length of the bytes `cat` exports.
    pub size: u64,
    /// sha256 of the bytes `cat` exports (hex).
    pub sha256: String,
    /// No gap: the bytes are exactly the original's.
    pub complete: bool,
    pub gaps: Vec<Gap>,
    pub links: Vec<Link>,
    /// The persistence mechanism its path is a location for (cron, systemd, shell-rc,
    /// ssh, ld-preload, init, accounts, autostart).
    pub persistence: Option<&'static str>,
    /// Made executable, executed, or starting with `#!` or an ELF header.
    pub executable: bool,
    /// Earlier names of a renamed file.
    pub renamed_from: Vec<String>,
    /// When it was removed (a file).
    pub deleted: Option<String>,
    /// The processes that wrote (files, pipes) or read (interpreter reads) it.
    pub processes: Vec<ProcRef>,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The bytes as UTF-8 (lossy): in `scripts`, not in `files` (`cat` exports a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    #[serde(skip)]
    pub bytes: Arc<Vec<u8>>,
    #[serde(skip)]
    pub first_ts: u64,
    /// Its last contributing record.
    #[serde(skip)]
    pub last_ts: u64,
    #[serde(skip)]
    pub selected: bool,
    /// A file (`files`) that also counts as a script (`scripts`).
    #[serde(skip)]
    pub is_script: bool,
}

/// A typed line (`sessions --json`).
#[derive(Clone, Debug, Serialize)]
pub struct LineRow {
    pub time: String,
    pub pid: u32,
    pub text: String,
    /// enter, interrupt (Ctrl-C), eof (Ctrl-D), none (the input ended first)
    pub end: LineEnd,
    /// Cursor keys, history or completion were used: the text may differ from what ran.
    pub approximate: bool,
    /// Some keys were not captured.
    pub incomplete: bool,
    #[serde(skip)]
    pub ts: u64,
    #[serde(skip)]
    pub end_ts: u64,
}

/// One read from or write to the terminal (`sessions --json`).
#[derive(Clone, Debug, Serialize)]
pub struct IoRow {
    pub time: String,
    pub pid: u32,
    /// in (read from the terminal: typed), out (written to it)
    pub direction: &'static str,
    pub data: String,
    pub data_base64: String,
    /// Bytes moved; `data` may be a prefix.
    pub len: u64,
    pub cut: Option<Cause>,
    #[serde(skip)]
    pub ts: u64,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// An interactive session on one terminal (`sessions --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub id: String,
    /// The terminal's device path, or `pty#N` when the capture never named it.
    pub tty: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    /// The first interpreter that read from it.
    pub shell: Option<ProcRef>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub processes: Vec<ProcRef>,
    pub lines: Vec<LineRow>,
    pub transcript: Vec<IoRow>,
    /// The session in order: lines typed and the output between them (`transcript`).
    pub replay: Vec<Turn>,
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Reads or writes whose data was not all captured.
    pub cut_records: u64,
    #[serde(skip)]
    pub selected: bool,
    #[serde(skip)]
    pub first_ts: u64,
    #[serde(skip)]
    pub last_ts: u64,
}

/// One direction of a connection (`net --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Stream {
    /// Bytes the syscalls moved.
    pub bytes: u64,
    /// Length of what `cat nN.out` / `cat nN.in` exports.
    pub size: u64,
    pub sha256: String,
    pub complete: bool,
    pub gaps: Vec<Gap>,
    pub data: String,
    pub data_base64: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// One send or receive with data on a connection (`net --json`): where its bytes are in
/// that direction's stream. In time order, these interleave the two directions as they
/// happened ("follow stream").
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Segment {
    pub time: String,
    pub pid: u32,
    /// out (sent by this end), in (received)
    pub direction: &'static str,
    /// Offset in that direction's stream (`out` or `in`).
    pub offset: u64,
    pub len: u64,
    #[serde(skip)]
    pub ts: u64,
}

impl Segment {
    pub fn is_out(&self) -> bool {
        self.direction == "out"
    }
}

/// A connection, listening socket or socketpair end (`net --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    pub id: String,
    /// tcp, udp, unix, unix-dgram, raw...
    pub protocol: String,
    /// outbound (connect, or a datagram sent), inbound (accepted), listen, pair
    /// (socketpair), unknown (open when the capture began)
    pub direction: &'static str,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub pid: Option<u32>,
    pub processes: Vec<ProcRef>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// connect() failed: the errno.
    pub error: Option<i64>,
    /// The other end's id, when both ends are in the capture.
    pub peer: Option<String>,
    /// For an accepted connection: the listening socket's id.
    pub listener: Option<String>,
    /// For a listening socket: connections accepted.
    pub accepted: u32,
    pub out: Stream,
    #[serde(rename = "in")]
    pub inn: Stream,
    /// Sends and receives in time order (a direction this end never touched, taken from
    /// its peer's).
    pub segments: Vec<Segment>,
    #[serde(skip)]
    pub selected: bool,
    #[serde(skip)]
    pub first_ts: u64,
    /// Its last record.
    #[serde(skip)]
    pub last_ts: u64,
}

/// Everything recovered from one capture.
pub struct Reconstruction {
    /// Every file generation written during the capture, in order of creation.
    pub files: Vec<Artifact>,
    /// Scripts, executed, dropped and persistence files, in time order.
    pub scripts: Vec<Artifact>,
    pub sessions: Vec<Session>,
    pub connections: Vec<Connection>,
    /// Every exec, with whether the query selects it.
    pub commands: Vec<(Command, bool)>,
    pub tree: ProcessTree,
}

/// What `cat` exports.
pub struct CatTarget<'a> {
    pub id: String,
    pub bytes: &'a [u8],
    pub gaps: &'a [Gap],
    /// Other artifacts the path also named (the last is exported).
    pub others: Vec<String>,
}

impl Reconstruction {
    /// The artifact `target` names: an id (`f3`, `r1`, `p2`, `a4`, `n5.out`, `n5.in`), or
    /// a path (its last written generation, else the last interpreter read of it).
    pub fn find(&self, target: &str) -> Result<CatTarget<'_>, String> {
        let all = || self.files.iter().chain(self.scripts.iter());
        if let Some(a) = all().find(|a| a.id == target) {
            return Ok(CatTarget {
                id: a.id.clone(),
                bytes: &a.bytes,
                gaps: &a.gaps,
                others: Vec::new(),
            });
        }
        if let Some((id, dir)) = target.split_once('.') {
            if let Some(c) = self.connections.iter().find(|c| c.id == id) {
                let s = match dir {
                    "out" => &c.out,
                    "in" => &c.inn,
                    _ => return Err(format!("{target}: a connection has .out and .in")),
                };
                return Ok(CatTarget {
                    id: target.to_owned(),
                    bytes: &s.raw,
                    gaps: &s.gaps,
                    others: Vec::new(),
                });
            }
        }
        if self.connections.iter().any(|c| c.id == target) {
            return Err(format!(
                "{target} is a connection: name a direction, {target}.out or {target}.in"
            ));
        }
        let by_path: Vec<&Artifact> = self
            .files
            .iter()
            .filter(|a| a.path.as_deref() == Some(target))
            .collect();
        let by_path = if by_path.is_empty() {
            self.scripts
                .iter()
                .filter(|a| a.path.as_deref() == Some(target))
                .collect()
        } else {
            by_path
        };
        match by_path.split_last() {
            Some((last, rest)) => Ok(CatTarget {
                id: last.id.clone(),
                bytes: &last.bytes,
                gaps: &last.gaps,
                others: rest.iter().map(|a| a.id.clone()).collect(),
            }),
            None => Err(format!(
                "{target}: no recovered file, script or stream has this id or path (see \
                 `files`, `scripts` and `net`)"
            )),
        }
    }
}

/// Per syscall number of `abi`: whether the replay follows it (its class in
/// capture-format's syscall table is one [`capture_format::Class::replayed`] names).
fn relevant_table(abi: Abi) -> Vec<bool> {
    (0..1024)
        .map(|nr| syscall_def_of(abi, nr).is_some_and(|d| d.class.replayed()))
        .collect()
}

/// Replays the capture and returns what it recovered. `filter` and `range` decide which
/// artifacts are *selected* (those with a contributing record the filter selects in the
/// range); the replay itself always reads every record, since an fd opened before the
/// range is written inside it.
pub fn reconstruct(
    reader: &CaptureReader,
    lookups: &Lookups,
    filter: Option<&Filter>,
    range: TimeRange,
    on_error: impl FnMut(capture_format::Error),
) -> Reconstruction {
    let meta = reader.metadata();
    let plan = Plan {
        range: TimeRange::default(),
        pids: None,
        tree: TreeNeed::Whole,
        activity: false,
        output: true,
        records: Records::All,
    };
    let t64 = relevant_table(Abi::X86_64);
    let t32 = relevant_table(Abi::I386);
    let mut tree = ProcessTree::new(&meta.processes);
    let mut engine = Engine::new(lookups, &meta.processes);
    let mut commands = Vec::new();
    let _ = scan::run(
        reader,
        &plan,
        &mut tree,
        |events, tree| {
            let ctx = CaptureContext::new(tree, lookups);
            let mut out: Vec<(Event, bool, Option<Command>)> = Vec::new();
            for e in events {
                let keep = match &e.body {
                    EventBody::Syscall(s) => {
                        let t = match s.abi {
                            Abi::X86_64 => &t64,
                            Abi::I386 => &t32,
                        };
                        t.get(s.nr as usize).copied().unwrap_or(false)
                    }
                    EventBody::CgroupMkdir(_) => false,
                    _ => true,
                };
                if !keep {
                    continue;
                }
                let selected = range.contains(e.ts) && filter.is_none_or(|f| f.matches(e, &ctx));
                let command = match &e.body {
                    EventBody::Exec(x) => Some(Command::new(e, x, lookups)),
                    _ => None,
                };
                out.push((e.clone(), selected, command));
            }
            out
        },
        |batch| {
            for (e, selected, command) in batch {
                engine.apply(&e, selected);
                if let Some(c) = command {
                    commands.push((c, selected));
                }
            }
            Ok::<(), std::convert::Infallible>(())
        },
        on_error,
    );
    finish(engine, tree, commands, reader, lookups)
}

struct Namer<'a> {
    lookups: &'a Lookups,
    containers: &'a [capture_format::ContainerInfo],
}

impl Namer<'_> {
    fn container(&self, ns: &str) -> (Option<String>, Option<String>) {
        if ns.is_empty() {
            return (None, None);
        }
        let name = self.lookups_container(ns).and_then(|c| c.name.clone());
        (Some(ns.to_owned()), name)
    }

    fn lookups_container(&self, id: &str) -> Option<&capture_format::ContainerInfo> {
        self.containers.iter().find(|c| c.id == id)
    }

    fn time(&self, ts: Option<u64>) -> Option<String> {
        ts.map(|t| self.lookups.clock().rfc3339(t))
    }
}

/// Marks content touched by processes whose events were lost at the time.
struct Losses {
    /// (pid or None for every process, from, to)
    spans: Vec<(Option<u32>, u64, u64)>,
}

impl Losses {
    fn new(reader: &CaptureReader) -> Losses {
        let entries = &reader.metadata().drops.entries;
        let per_pid = entries.iter().any(|d| d.pid.is_some());
        let mut spans: Vec<(Option<u32>, u64, u64)> = entries
            .iter()
            .filter(|d| d.count > 0 && (d.pid.is_some() || !per_pid))
            .filter(|d| d.cause != "unreadable")
            .map(|d| (d.pid, d.from, d.to))
            .collect();
        for l in &reader.damage().lost {
            spans.push((
                None,
                l.after_ts.unwrap_or(0),
                l.before_ts.unwrap_or(u64::MAX),
            ));
        }
        Losses { spans }
    }

    fn hit(&self, touch: &engine::Touch) -> bool {
        let (Some(first), Some(last)) = (touch.first, touch.last) else {
            return false;
        };
        self.spans.iter().any(|&(pid, from, to)| {
            from <= last && to >= first && pid.is_none_or(|p| touch.pids.contains(&p))
        })
    }
}

fn shebang_interpreter(bytes: &[u8]) -> Option<String> {
    let line = bytes.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
    let mut words = line
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let first = words.next()?;
    let key = classify::interpreter_key(first);
    if key == "env" {
        return words
            .find(|w| !w.starts_with(b"-"))
            .map(classify::interpreter_key);
    }
    Some(key)
}

fn interpreter_name(image: &Image) -> Option<String> {
    image.interpreter.clone()
}

fn protocol(family: u16, sock_type: u32) -> String {
    match (family, sock_type) {
        (2 | 10, 1) => "tcp".into(),
        (2 | 10, 2) => "udp".into(),
        (2 | 10, 3) => "raw".into(),
        (1, 1) => "unix".into(),
        (1, 2) => "unix-dgram".into(),
        (1, 5) => "unix-seqpacket".into(),
        (f, t) => format!("family{f}/type{t}"),
    }
}

fn same_endpoint(a: &SockAddr, b: &SockAddr) -> bool {
    match (a, b) {
        (SockAddr::Inet { addr: x, port: p }, SockAddr::Inet { addr: y, port: q }) => {
            p == q && (x == y || *y == [0; 4] || *x == [0; 4])
        }
        (
            SockAddr::Inet6 {
                addr: x, port: p, ..
            },
            SockAddr::Inet6 {
                addr: y, port: q, ..
            },
        ) => p == q && (x == y || *y == [0; 16] || *x == [0; 16]),
        (SockAddr::Unix(x), SockAddr::Unix(y)) => x == y && !x.is_empty(),
        _ => false,
    }
}

/// A connection's sends and receives in time order. A direction it has none of (one end
/// recorded, or a socket open before the capture) comes from its peer's, mirrored.
fn segments_of(engine: &Engine<'_>, i: usize) -> Vec<ConnSegment> {
    let c = &engine.conns[i];
    let mut v = c.segments.clone();
    if let Some(peer) = c.peer.and_then(|p| engine.conns.get(p)) {
        let (has_out, has_in) = (v.iter().any(|g| g.out), v.iter().any(|g| !g.out));
        v.extend(
            peer.segments
                .iter()
                .filter(|g| if g.out { !has_in } else { !has_out })
                .map(|g| ConnSegment { out: !g.out, ..*g }),
        );
        v.sort_by_key(|g| g.ts);
    }
    v
}

fn finish(
    mut engine: Engine<'_>,
    mut tree: ProcessTree,
    commands: Vec<(Command, bool)>,
    reader: &CaptureReader,
    lookups: &Lookups,
) -> Reconstruction {
    tree.finish();
    let namer = Namer {
        lookups,
        containers: &reader.metadata().containers,
    };
    let losses = Losses::new(reader);
    let exec_link = |engine: &Engine<'_>, i: usize| -> Link {
        let x = &engine.execs[i];
        Link {
            relation: "exec",
            id: None,
            pid: Some(x.pid),
            time: namer.time(Some(x.ts)),
            argv: Some(x.image.argv.iter().map(|a| text(a)).collect()),
            mode: None,
        }
    };

    // Connections: pair the two ends when both are in the capture, and let each fill
    // the other's holes (the same bytes, seen from the other side).
    let n = engine.conns.len();
    let mut taken = vec![false; n];
    for a in 0..n {
        let ca = &engine.conns[a];
        if ca.direction != Direction::Outbound || ca.peer.is_some() || ca.error.is_some() {
            continue;
        }
        let (Some(remote), Some(start)) = (ca.remote.clone(), ca.start) else {
            continue;
        };
        let best = (0..n)
            .filter(|&b| {
                let cb = &engine.conns[b];
                !taken[b]
                    && cb.direction == Direction::Inbound
                    && cb.peer.is_none()
                    && cb.local.as_ref().is_some_and(|l| same_endpoint(l, &remote))
                    && match (&ca.local, &cb.remote) {
                        (Some(l), Some(r)) => same_endpoint(l, r),
                        _ => true,
                    }
                    && cb.start.is_some_and(|s| s.abs_diff(start) < 2_000_000_000)
            })
            .min_by_key(|&b| {
                engine.conns[b]
                    .start
                    .map_or(u64::MAX, |s| s.abs_diff(start))
            });
        if let Some(b) = best {
            taken[b] = true;
            engine.conns[a].peer = Some(b);
            engine.conns[b].peer = Some(a);
        }
    }
    for a in 0..n {
        if let Some(b) = engine.conns[a].peer {
            if a < b {
                let (out_b, in_b) = (engine.conns[b].out.clone(), engine.conns[b].inn.clone());
                let (out_a, in_a) = (engine.conns[a].out.clone(), engine.conns[a].inn.clone());
                engine.conns[a].inn.merge_from(&out_b);
                engine.conns[a].out.merge_from(&in_b);
                engine.conns[b].inn.merge_from(&out_a);
                engine.conns[b].out.merge_from(&in_a);
            }
        }
    }

    // Connection ids: every listed connection, in order.
    let listed = |c: &engine::Conn| {
        matches!(c.family, 1 | 2 | 10)
            && match c.direction {
                Direction::Outbound => c.error.is_none() || c.family != 1,
                Direction::Inbound | Direction::Listen => true,
                Direction::Pair | Direction::Unknown => c.bytes_in + c.bytes_out > 0,
            }
    };
    let mut conn_ids: HashMap<usize, String> = HashMap::new();
    for (i, c) in engine.conns.iter().enumerate() {
        if listed(c) {
            conn_ids.insert(i, format!("n{}", conn_ids.len() + 1));
        }
    }
    let stream = |c: &Content, bytes: u64, dropped: bool| -> Stream {
        let mut c = c.clone();
        if dropped {
            c.mark_dropped();
        }
        let (raw, gaps) = c.export();
        Stream {
            bytes,
            size: raw.len() as u64,
            sha256: sha256_hex(&raw),
            complete: gaps.is_empty(),
            gaps,
            data: text(&raw),
            data_base64: b64(&raw),
            raw,
        }
    };
    let mut connections = Vec::new();
    for (i, c) in engine.conns.iter().enumerate() {
        let Some(id) = conn_ids.get(&i) else { continue };
        let dropped = losses.hit(&c.touch);
        let (container_id, container_name) = namer.container(&c.ns);
        connections.push(Connection {
            id: id.clone(),
            protocol: protocol(c.family, c.sock_type),
            direction: match c.direction {
                Direction::Outbound => "outbound",
                Direction::Inbound => "inbound",
                Direction::Listen => "listen",
                Direction::Pair => "pair",
                Direction::Unknown => "unknown",
            },
            local: c.local.as_ref().map(sockaddr),
            remote: c.remote.as_ref().map(sockaddr),
            pid: c.actors.first().map(|a| a.pid),
            processes: c.actors.iter().map(ProcRef::of).collect(),
            container_id,
            container_name,
            start: namer.time(c.start.or(c.touch.first)),
            end: namer.time(c.end),
            error: c.error,
            peer: c.peer.and_then(|p| conn_ids.get(&p).cloned()),
            listener: c.listener.and_then(|l| conn_ids.get(&l).cloned()),
            accepted: c.accepted,
            out: stream(&c.out, c.bytes_out, dropped),
            inn: stream(&c.inn, c.bytes_in, dropped),
            segments: segments_of(&engine, i)
                .into_iter()
                .map(|g| Segment {
                    time: lookups.clock().rfc3339(g.ts),
                    pid: g.pid,
                    direction: if g.out { "out" } else { "in" },
                    offset: g.offset,
                    len: g.len,
                    ts: g.ts,
                })
                .collect(),
            selected: c.touch.selected,
            first_ts: c.start.or(c.touch.first).unwrap_or(0),
            last_ts: c.touch.last.or(c.start).unwrap_or(0),
        });
    }
    let conns_of_pid = |pid: u32| -> Vec<String> {
        engine
            .conns
            .iter()
            .enumerate()
            .filter(|(i, c)| conn_ids.contains_key(i) && c.actors.iter().any(|a| a.pid == pid))
            .filter(|(_, c)| matches!(c.direction, Direction::Outbound | Direction::Inbound))
            .map(|(i, _)| conn_ids[&i].clone())
            .collect()
    };

    // Files: every generation with a write, outside pseudo file systems.
    let mut file_ids: HashMap<usize, String> = HashMap::new();
    for (i, f) in engine.files.iter().enumerate() {
        if f.writes > 0 && !classify::is_pseudo(&f.path) {
            file_ids.insert(i, format!("f{}", file_ids.len() + 1));
        }
    }
    let mut read_ids: HashMap<usize, String> = HashMap::new();
    for (i, r) in engine.reads.iter().enumerate() {
        if !r.content.is_empty() {
            read_ids.insert(i, format!("r{}", read_ids.len() + 1));
        }
    }

    let artifact = |id: String,
                    source: &'static str,
                    path: Option<&[u8]>,
                    ns: &str,
                    content: &Content,
                    touch: &engine::Touch| {
        let mut c = content.clone();
        if losses.hit(touch) {
            c.mark_dropped();
        }
        let (bytes, gaps) = c.export();
        let (container_id, container_name) = namer.container(ns);
        Artifact {
            id,
            path: path.map(text),
            source,
            interpreter: None,
            pid: None,
            container_id,
            container_name,
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            complete: gaps.is_empty(),
            gaps,
            links: Vec::new(),
            persistence: path.and_then(classify::persistence),
            executable: false,
            renamed_from: Vec::new(),
            deleted: None,
            processes: Vec::new(),
            first_time: namer.time(touch.first),
            last_time: namer.time(touch.last),
            content: None,
            content_base64: None,
            bytes: Arc::new(bytes),
            first_ts: touch.first.unwrap_or(0),
            last_ts: touch.last.unwrap_or(0),
            selected: touch.selected,
            is_script: false,
        }
    };

    let mut files = Vec::new();
    for (i, f) in engine.files.iter().enumerate() {
        let Some(id) = file_ids.get(&i) else { continue };
        let mut a = artifact(
            id.clone(),
            "written",
            Some(&f.path),
            &f.ns,
            &f.content,
            &f.touch,
        );
        a.pid = f.writers.first().map(|w| w.pid);
        a.processes = f.writers.iter().map(ProcRef::of).collect();
        a.renamed_from = f.renamed_from.iter().map(|p| text(p)).collect();
        a.deleted = namer.time(f.deleted);
        let made_executable = f.chmods.iter().any(|c| c.mode & 0o111 != 0);
        a.executable = made_executable
            || !f.execs.is_empty()
            || classify::looks_executable(&f.content.head(4));
        a.interpreter = f
            .execs
            .first()
            .and_then(|&x| interpreter_name(&engine.execs[x].image))
            .or_else(|| shebang_interpreter(&a.bytes));
        for &x in &f.execs {
            a.links.push(exec_link(&engine, x));
        }
        for c in &f.chmods {
            a.links.push(Link {
                relation: "chmod",
                id: None,
                pid: Some(c.pid),
                time: namer.time(Some(c.ts)),
                argv: None,
                mode: Some(format!("{:04o}", c.mode & 0o7777)),
            });
        }
        let read_by: Vec<String> = engine
            .reads
            .iter()
            .enumerate()
            .filter(|(_, r)| r.gen == Some(i))
            .filter_map(|(j, _)| read_ids.get(&j).cloned())
            .collect();
        for r in &read_by {
            a.links.push(Link::to("read-by", r.clone()));
        }
        a.is_script = a.executable || a.persistence.is_some() || !read_by.is_empty();
        files.push(a);
    }

    let mut scripts: Vec<Artifact> = files.iter().filter(|a| a.is_script).cloned().collect();
    for (i, r) in engine.reads.iter().enumerate() {
        let Some(id) = read_ids.get(&i) else { continue };
        let source = match r.source {
            ReadSource::Interpreter => "interpreter-read",
            ReadSource::StdinRedirect => "stdin-redirect",
        };
        let mut a = artifact(
            id.clone(),
            source,
            Some(&r.path),
            &r.ns,
            &r.content,
            &r.touch,
        );
        a.pid = Some(r.pid);
        a.interpreter = interpreter_name(&r.image);
        a.processes = vec![ProcRef {
            pid: r.pid,
            argv: r.image.argv.iter().map(|x| text(x)).collect(),
        }];
        a.executable = true;
        if let Some(g) = r.gen.and_then(|g| file_ids.get(&g)) {
            a.links.push(Link::to("file", g.clone()));
        }
        if let Some(x) = r.image.exec {
            a.links.push(exec_link(&engine, x));
        }
        scripts.push(a);
    }
    let mut pipe_n = 0;
    for p in &engine.pipes {
        if p.interpreters.is_empty() {
            continue;
        }
        pipe_n += 1;
        let mut a = artifact(
            format!("p{pipe_n}"),
            "pipe",
            None,
            &p.ns,
            &p.content,
            &p.touch,
        );
        let reader = &p.interpreters[0];
        a.pid = Some(reader.pid);
        a.interpreter = interpreter_name(&reader.image);
        a.executable = true;
        a.processes = p
            .writers
            .iter()
            .chain(p.interpreters.iter())
            .map(ProcRef::of)
            .collect();
        for r in &p.interpreters {
            if let Some(x) = r.image.exec {
                a.links.push(exec_link(&engine, x));
            }
        }
        for w in &p.writers {
            a.links.push(Link {
                relation: "writer",
                id: None,
                pid: Some(w.pid),
                time: None,
                argv: Some(w.image.argv.iter().map(|x| text(x)).collect()),
                mode: None,
            });
            for c in conns_of_pid(w.pid) {
                a.links.push(Link::to("connection", c));
            }
        }
        scripts.push(a);
    }
    for (i, arg) in engine.args.iter().enumerate() {
        let mut content = Content::empty();
        content.write(0, &arg.code, arg.code.len() as u64, Cause::Snaplen);
        let mut a = artifact(
            format!("a{}", i + 1),
            "argument",
            None,
            &arg.ns,
            &content,
            &arg.touch,
        );
        if arg.image.argv_truncated {
            // The command line was longer than the recorder keeps: the end is unknown.
            a.gaps.push(Gap {
                offset: Some(a.size),
                len: None,
                cause: Cause::Snaplen,
            });
            a.complete = false;
        }
        a.pid = Some(arg.pid);
        a.interpreter = interpreter_name(&arg.image);
        a.executable = true;
        a.processes = vec![ProcRef {
            pid: arg.pid,
            argv: arg.image.argv.iter().map(|x| text(x)).collect(),
        }];
        a.links.push(exec_link(&engine, arg.exec));
        scripts.push(a);
    }
    // The same bytes seen from several sources link to each other.
    let mut by_hash: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &scripts {
        if a.size > 0 {
            by_hash
                .entry(a.sha256.clone())
                .or_default()
                .push(a.id.clone());
        }
    }
    for a in scripts.iter_mut() {
        if let Some(ids) = by_hash.get(&a.sha256) {
            for id in ids.iter().filter(|id| **id != a.id) {
                a.links.push(Link::to("same-content", id.clone()));
            }
        }
    }
    let same: HashMap<String, Vec<Link>> = scripts
        .iter()
        .filter(|a| a.source == "written")
        .map(|a| (a.id.clone(), a.links.clone()))
        .collect();
    for f in files.iter_mut() {
        if let Some(links) = same.get(&f.id) {
            f.links = links.clone();
        }
    }
    scripts.sort_by(|a, b| a.first_ts.cmp(&b.first_ts).then_with(|| a.id.cmp(&b.id)));
    for a in scripts.iter_mut() {
        a.content = Some(text(&a.bytes));
        a.content_base64 = Some(b64(&a.bytes));
    }

    // Terminal sessions: those with typed input.
    let mut sessions = Vec::new();
    for t in &engine.ttys {
        let input: u64 = t.io.iter().filter(|io| io.input).map(|io| io.len).sum();
        if input == 0 {
            continue;
        }
        let keys: Vec<Keys<'_>> =
            t.io.iter()
                .filter(|io| io.input)
                .map(|io| Keys {
                    ts: io.ts,
                    pid: io.pid,
                    bytes: &io.data,
                    cut: io.cut.is_some(),
                })
                .collect();
        let lines: Vec<LineRow> = typed_lines(&keys)
            .into_iter()
            .map(|l| LineRow {
                time: lookups.clock().rfc3339(l.ts),
                pid: l.pid,
                text: text(&l.text),
                end: l.end,
                approximate: l.approximate,
                incomplete: l.incomplete,
                ts: l.ts,
                end_ts: l.end_ts,
            })
            .collect();
        let shell = t
            .actors
            .iter()
            .find(|a| a.image.interpreter.is_some())
            .or(t.actors.first());
        let uid_cg = shell.and_then(|s| {
            let id = tree.lookup(s.pid, t.touch.first.unwrap_or(0))?;
            let image = &tree.get(id)?.phase_at(t.touch.first.unwrap_or(0))?.image;
            Some((image.uid, image.cgroup_id))
        });
        let (container_id, container_name) = namer.container(&t.ns);
        let transcript: Vec<IoRow> =
            t.io.iter()
                .map(|io| IoRow {
                    time: lookups.clock().rfc3339(io.ts),
                    pid: io.pid,
                    direction: if io.input { "in" } else { "out" },
                    data: text(&io.data),
                    data_base64: b64(&io.data),
                    len: io.len,
                    cut: io.cut,
                    ts: io.ts,
                    bytes: io.data.clone(),
                })
                .collect();
        let replay = transcript::replay(&lines, &transcript, |ts| lookups.clock().rfc3339(ts));
        sessions.push(Session {
            id: format!("t{}", sessions.len() + 1),
            tty: t.name.clone(),
            container_id,
            container_name,
            shell: shell.map(ProcRef::of),
            uid: uid_cg.map(|u| u.0),
            user: uid_cg
                .and_then(|(uid, cg)| lookups.user_in_cgroup(uid, cg))
                .map(str::to_owned),
            start: namer.time(t.touch.first),
            end: namer.time(t.touch.last),
            processes: t.actors.iter().map(ProcRef::of).collect(),
            lines,
            transcript,
            replay,
            input_bytes: input,
            output_bytes: t.io.iter().filter(|io| !io.input).map(|io| io.len).sum(),
            cut_records: t.io.iter().filter(|io| io.cut.is_some()).count() as u64,
            selected: t.touch.selected,
            first_ts: t.touch.first.unwrap_or(0),
            last_ts: t.touch.last.unwrap_or(0),
        });
    }

    Reconstruction {
        files,
        scripts,
        sessions,
        connections,
        commands,
        tree,
    }
}
