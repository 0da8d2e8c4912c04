//! The compiled form of an [`Expr`] and its evaluation over events.
//!
//! Compilation resolves everything that does not depend on the event: literal lists are
//! sorted for binary search, `contains` gets a prebuilt substring finder, regexes are
//! already compiled, `evt.type = / != / in` becomes a bitset over syscall numbers, and the
//! operands of `and`/`or` are ordered cheapest first (they are pure, so order does not
//! change the result). Evaluation allocates nothing: values borrow from the event or the
//! context, and the few synthesized strings (joined command lines, rendered socket tuples)
//! are written into one reused scratch buffer.

use crate::ast::{canonical, CmpOp, Comparison, Expr, IpNet, Literal, Predicate};
use crate::context::{
    Argv, ContainerLookup, ContainerView, Context, FdView, ProcessView, SocketRole,
};
use crate::fields::{Field, MAX_ANCESTORS};
use capture_format::syscall_defs::{Kernel, Ret};
use capture_format::{
    syscall_def_of, syscall_name, syscall_number, Abi, Class, Event, EventBody, ExecEvent, FdKind,
    ParamValue, SockAddr, SyscallEvent, SyscallSet,
};
use memchr::memmem::Finder;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    EvtType(EvtTypeSet),
    Test(Test),
}

#[derive(Clone, Debug)]
pub(crate) struct Test {
    field: Field,
    index: Option<u32>,
    matcher: Matcher,
    /// `!=`: the field has a value and (for multi-valued fields: none of) its value(s)
    /// equal the literal.
    negate: bool,
}

#[derive(Clone, Debug)]
enum Matcher {
    Exists,
    Str(StrMatch),
    Num(NumMatch),
    /// Which values match: (true, false).
    Bool(bool, bool),
    Ip(Box<[IpNet]>),
    /// `evt.time` against wall-clock literals, through [`Context::realtime_ns`].
    Time(NumMatch),
    /// Cannot happen from the parser (literals are converted to the field's type); kept so
    /// compilation needs no panic path.
    Never,
}

#[derive(Clone, Debug)]
enum StrMatch {
    Eq(Box<[u8]>),
    /// Boxed: a finder is large and the other variants are small.
    Contains(Box<Finder<'static>>),
    /// Needle already ASCII-lowercased.
    IContains(Box<[u8]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    /// Sorted, deduplicated.
    In(Box<[Box<[u8]>]>),
    Regex(regex::bytes::Regex),
}

#[derive(Clone, Debug)]
enum NumMatch {
    /// Never `Ne` (that is `Eq` with [`Test::negate`]).
    Cmp(CmpOp, i64),
    /// Sorted, deduplicated.
    In(Box<[i64]>),
}

/// `evt.type` in a set of names, as bitsets over syscall numbers per ABI plus the record
/// kinds, so the hot path compares numbers, not strings.
#[derive(Clone, Debug)]
pub(crate) struct EvtTypeSet {
    x86_64: Box<[u64]>,
    i386: Box<[u64]>,
    /// Bits: fork, exec, exit, cgroup_mkdir.
    records: u8,
    negate: bool,
}

/// A field's value for one event.
#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Str(&'a [u8]),
    Num(i64),
    Bool(bool),
    Ip(IpAddr),
}

// --------------------------------------------------------------------------- compiling

pub(crate) fn compile(expr: &Expr) -> Node {
    match expr {
        Expr::And(items) => Node::And(compile_all(items)),
        Expr::Or(items) => Node::Or(compile_all(items)),
        Expr::Not(inner) => Node::Not(Box::new(compile(inner))),
        Expr::Cmp(c) => compile_cmp(c),
    }
}

fn compile_all(items: &[Expr]) -> Box<[Node]> {
    let mut nodes: Vec<Node> = items.iter().map(compile).collect();
    nodes.sort_by_key(cost);
    nodes.into_boxed_slice()
}

/// A rough evaluation cost, to try cheap operands of `and`/`or` first.
fn cost(node: &Node) -> u32 {
    match node {
        Node::EvtType(_) => 1,
        Node::Test(t) => {
            let base = if t.field.needs_context() { 20 } else { 2 };
            let walk = if matches!(t.field, Field::ProcAname | Field::ProcApid) {
                40
            } else {
                0
            };
            let matcher = match &t.matcher {
                Matcher::Str(StrMatch::Regex(_) | StrMatch::IContains(_)) => 30,
                Matcher::Str(StrMatch::Contains(_)) => 5,
                _ => 0,
            };
            base + walk + matcher
        }
        Node::Not(inner) => cost(inner),
        Node::And(items) | Node::Or(items) => items.iter().map(cost).sum(),
    }
}

fn compile_cmp(c: &Comparison) -> Node {
    if c.field == Field::EvtType && c.index.is_none() {
        if let Some(set) = evt_type_set(&c.pred) {
            return Node::EvtType(set);
        }
    }
    let (matcher, negate) = match &c.pred {
        Predicate::Exists => (Matcher::Exists, false),
        Predicate::Regex(re) => (Matcher::Str(StrMatch::Regex(re.regex.clone())), false),
        Predicate::Cmp(op, lit) => {
            let negate = *op == CmpOp::Ne;
            let op = if negate { CmpOp::Eq } else { *op };
            (single_matcher(op, lit), negate)
        }
        Predicate::In(lits) => (list_matcher(lits), false),
    };
    Node::Test(Test {
        field: c.field,
        index: c.index,
        matcher,
        negate,
    })
}

fn single_matcher(op: CmpOp, lit: &Literal) -> Matcher {
    let bytes = |b: &[u8]| b.to_vec().into_boxed_slice();
    match lit {
        Literal::Str(s) => Matcher::Str(match op {
            CmpOp::Contains => StrMatch::Contains(Box::new(Finder::new(s).into_owned())),
            CmpOp::IContains => StrMatch::IContains(s.to_ascii_lowercase().into_boxed_slice()),
            CmpOp::StartsWith => StrMatch::StartsWith(bytes(s)),
            CmpOp::EndsWith => StrMatch::EndsWith(bytes(s)),
            CmpOp::Eq => StrMatch::Eq(bytes(s)),
            // The type check admits no ordering on strings.
            CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => return Matcher::Never,
        }),
        Literal::Num(n) => Matcher::Num(NumMatch::Cmp(op, *n)),
        Literal::Time(t) => Matcher::Time(NumMatch::Cmp(op, t.unix_ns)),
        Literal::Bool(b) => Matcher::Bool(*b, !*b),
        Literal::Ip(net) => Matcher::Ip(Box::new([*net])),
    }
}

fn list_matcher(lits: &[Literal]) -> Matcher {
    match lits.first() {
        Some(Literal::Str(_)) => {
            let mut items: Vec<Box<[u8]>> = lits
                .iter()
                .filter_map(|l| match l {
                    Literal::Str(s) => Some(s.clone().into_boxed_slice()),
                    _ => None,
                })
                .collect();
            items.sort();
            items.dedup();
            Matcher::Str(StrMatch::In(items.into_boxed_slice()))
        }
        Some(Literal::Num(_)) => {
            let mut items: Vec<i64> = lits
                .iter()
                .filter_map(|l| match l {
                    Literal::Num(n) => Some(*n),
                    _ => None,
                })
                .collect();
            items.sort_unstable();
            items.dedup();
            Matcher::Num(NumMatch::In(items.into_boxed_slice()))
        }
        Some(Literal::Bool(_)) => Matcher::Bool(
            lits.contains(&Literal::Bool(true)),
            lits.contains(&Literal::Bool(false)),
        ),
        Some(Literal::Ip(_)) => Matcher::Ip(
            lits.iter()
                .filter_map(|l| match l {
                    Literal::Ip(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        ),
        // Times are rejected in lists by the parser, and lists are never empty.
        Some(Literal::Time(_)) | None => Matcher::Never,
    }
}

const RECORD_BITS: [(&str, u8); 4] = [("fork", 1), ("exec", 2), ("exit", 4), ("cgroup_mkdir", 8)];

fn evt_type_set(pred: &Predicate) -> Option<EvtTypeSet> {
    let (names, negate): (Vec<&[u8]>, bool) = match pred {
        Predicate::Cmp(CmpOp::Eq, Literal::Str(s)) => (vec![s], false),
        Predicate::Cmp(CmpOp::Ne, Literal::Str(s)) => (vec![s], true),
        Predicate::In(lits) => (
            lits.iter()
                .map(|l| match l {
                    Literal::Str(s) => Some(s.as_slice()),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            false,
        ),
        _ => return None,
    };
    let mut set = EvtTypeSet {
        x86_64: Box::new([]),
        i386: Box::new([]),
        records: 0,
        negate,
    };
    let mut x86 = Vec::new();
    let mut i386 = Vec::new();
    for name in names {
        let name = std::str::from_utf8(name).ok()?;
        if let Some((_, bit)) = RECORD_BITS.iter().find(|(n, _)| *n == name) {
            set.records |= bit;
        }
        for (abi, bits) in [(Abi::X86_64, &mut x86), (Abi::I386, &mut i386)] {
            if let Some(nr) = syscall_number(abi, name) {
                let (word, bit) = (nr as usize / 64, nr % 64);
                if bits.len() <= word {
                    bits.resize(word + 1, 0u64);
                }
                bits[word] |= 1 << bit;
            }
        }
    }
    set.x86_64 = x86.into_boxed_slice();
    set.i386 = i386.into_boxed_slice();
    Some(set)
}

/// The syscalls the filter can select, when `evt.type` tests bound them: `None` when any
/// syscall might match. Records that are not syscalls are not restricted by it.
pub(crate) fn syscalls_that_can_match(node: &Node) -> Option<SyscallSet> {
    match node {
        Node::EvtType(set) if !set.negate => {
            let mut out = SyscallSet::new();
            for (abi, words) in [(Abi::X86_64, &set.x86_64), (Abi::I386, &set.i386)] {
                for (w, &bits) in words.iter().enumerate() {
                    for bit in (0..64).filter(|b| bits & (1 << b) != 0) {
                        if !out.insert(abi, (w * 64 + bit) as u32) {
                            return None;
                        }
                    }
                }
            }
            Some(out)
        }
        // Each operand bounds the whole; a test that bounds nothing is left out.
        Node::And(items) => items
            .iter()
            .filter_map(syscalls_that_can_match)
            .reduce(|a, b| a.intersection(&b)),
        // Every operand must be bounded.
        Node::Or(items) => items
            .iter()
            .map(syscalls_that_can_match)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .reduce(|a, b| a.union(&b)),
        Node::EvtType(_) | Node::Not(_) | Node::Test(_) => None,
    }
}

// --------------------------------------------------------------------------- evaluating

impl Node {
    pub(crate) fn eval(&self, ev: &Event, ctx: &dyn Context, scratch: &mut Vec<u8>) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.eval(ev, ctx, scratch)),
            Node::Or(items) => items.iter().any(|n| n.eval(ev, ctx, scratch)),
            Node::Not(inner) => !inner.eval(ev, ctx, scratch),
            Node::EvtType(set) => set.eval(ev),
            Node::Test(t) => t.eval(ev, ctx, scratch),
        }
    }
}

impl EvtTypeSet {
    fn eval(&self, ev: &Event) -> bool {
        let hit = match &ev.body {
            EventBody::Syscall(sc) => {
                // A number with no name has no evt.type: missing, so `!=` is false too.
                if syscall_name(sc.abi, sc.nr).is_none() {
                    return false;
                }
                let bits = match sc.abi {
                    Abi::X86_64 => &self.x86_64,
                    Abi::I386 => &self.i386,
                };
                bits.get(sc.nr as usize / 64)
                    .is_some_and(|w| w & (1 << (sc.nr % 64)) != 0)
            }
            EventBody::Fork(_) => self.records & 1 != 0,
            EventBody::Exec(_) => self.records & 2 != 0,
            EventBody::Exit(_) => self.records & 4 != 0,
            EventBody::CgroupMkdir(_) => self.records & 8 != 0,
        };
        hit != self.negate
    }
}

impl Test {
    fn eval(&self, ev: &Event, ctx: &dyn Context, scratch: &mut Vec<u8>) -> bool {
        if let Matcher::Time(m) = &self.matcher {
            return match ctx.realtime_ns(ev.ts) {
                Some(wall) => m.test(wall) != self.negate,
                None => false,
            };
        }
        if self.field.multi_valued(self.index) {
            let mut seen = false;
            let mut hit = false;
            visit_multi(self.field, ev, ctx, &mut |v| {
                seen = true;
                hit = self.matcher.test(v);
                !hit
            });
            return if self.negate { seen && !hit } else { hit };
        }
        match extract(self.field, self.index, ev, ctx, scratch) {
            Some(v) => self.matcher.test(v) != self.negate,
            None => false,
        }
    }
}

impl Matcher {
    fn test(&self, v: Val<'_>) -> bool {
        match (self, v) {
            (Matcher::Exists, _) => true,
            (Matcher::Str(m), Val::Str(s)) => m.test(s),
            (Matcher::Num(m), Val::Num(n)) => m.test(n),
            (Matcher::Bool(t, f), Val::Bool(b)) => {
                if b {
                    *t
                } else {
                    *f
                }
            }
            (Matcher::Ip(nets), Val::Ip(ip)) => nets.iter().any(|n| n.contains(ip)),
            _ => false,
        }
    }
}

impl StrMatch {
    fn test(&self, s: &[u8]) -> bool {
        match self {
            StrMatch::Eq(lit) => s == &**lit,
            StrMatch::Contains(finder) => finder.find(s).is_some(),
            StrMatch::IContains(needle) => icontains(s, needle),
            StrMatch::StartsWith(lit) => s.starts_with(lit),
            StrMatch::EndsWith(lit) => s.ends_with(lit),
            StrMatch::In(items) => items.binary_search_by(|i| (**i).cmp(s)).is_ok(),
            StrMatch::Regex(re) => re.is_match(s),
        }
    }
}

impl NumMatch {
    fn test(&self, n: i64) -> bool {
        match self {
            NumMatch::Cmp(op, lit) => match op {
                CmpOp::Eq => n == *lit,
                CmpOp::Ne => n != *lit,
                CmpOp::Lt => n < *lit,
                CmpOp::Le => n <= *lit,
                CmpOp::Gt => n > *lit,
                CmpOp::Ge => n >= *lit,
                _ => false,
            },
            NumMatch::In(items) => items.binary_search(&n).is_ok(),
        }
    }
}

/// ASCII case-insensitive substring search; `needle` is already lowercase.
fn icontains(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

// ---------------------------------------------------------------------- field extraction

fn syscall(ev: &Event) -> Option<&SyscallEvent> {
    match &ev.body {
        EventBody::Syscall(sc) => Some(sc),
        _ => None,
    }
}

fn exec(ev: &Event) -> Option<&ExecEvent> {
    match &ev.body {
        EventBody::Exec(x) => Some(x),
        _ => None,
    }
}

fn to_num(n: impl TryInto<i64>) -> i64 {
    // Only u64 nanosecond counts can exceed i64, past the year 2262: saturate.
    n.try_into().unwrap_or(i64::MAX)
}

/// The single value of a field for `ev`, or `None` if it is missing.
fn extract<'a>(
    field: Field,
    index: Option<u32>,
    ev: &'a Event,
    ctx: &'a dyn Context,
    scratch: &'a mut Vec<u8>,
) -> Option<Val<'a>> {
    let proc_ = || ctx.process(ev.pid, ev.ts);
    Some(match field {
        Field::EvtType => Val::Str(evt_type(ev)?.as_bytes()),
        Field::EvtTime => Val::Num(to_num(ev.ts)),
        Field::EvtCpu => Val::Num(ev.cpu.into()),
        Field::EvtRes => Val::Num(syscall(ev)?.ret?),
        Field::EvtFailed => Val::Bool(syscall(ev)?.ret? < 0),
        Field::EvtLatency => Val::Num(to_num(syscall(ev)?.duration_ns?)),
        Field::EvtBuffer => Val::Str(syscall(ev)?.params.iter().find_map(|p| match &p.value {
            ParamValue::Buffer(b) => Some(b.data.as_slice()),
            _ => None,
        })?),
        Field::EvtArg => {
            let s = syscall(ev)?;
            let raw = *s.args.get(index? as usize)?;
            Val::Num(match s.abi {
                capture_format::Abi::I386 => i64::from(raw as u32 as i32),
                capture_format::Abi::X86_64 => raw as i64,
            })
        }
        Field::EvtIsOpenWrite => {
            let s = syscall(ev)?;
            // O_WRONLY | O_RDWR | O_CREAT | O_TRUNC
            const WRITING: u64 = 0o1 | 0o2 | 0o100 | 0o1000;
            // Where the open's flags are, or that it always writes: the syscall table.
            let flags = match syscall_def_of(s.abi, s.nr)?.kernel {
                Kernel::OpenFlagsArg(i) => s.args[usize::from(i)],
                Kernel::OpenForWrite => return Some(Val::Bool(true)),
                _ => return None,
            };
            Val::Bool(flags & WRITING != 0)
        }
        Field::ProcExeWritten => Val::Bool(ctx.exe_written(ev.pid, ev.ts)?),
        Field::ProcPid => Val::Num(ev.pid.into()),
        Field::ProcTid => Val::Num(ev.tid.into()),
        Field::ProcPpid => Val::Num(ppid(ev, ctx)?.into()),
        Field::ProcName => Val::Str(proc_name(ev, ctx)?),
        Field::ProcExe => Val::Str(match exec(ev) {
            Some(x) => x.exe.as_deref().unwrap_or(&x.filename),
            None => proc_()?.exe?,
        }),
        Field::ProcCmdline | Field::ProcArgs => {
            let argv = match exec(ev) {
                Some(x) => Argv::List(&x.argv),
                None => proc_()?.argv,
            };
            if argv.is_empty() {
                return None;
            }
            let skip = usize::from(field == Field::ProcArgs);
            Val::Str(join_args(argv, skip, scratch))
        }
        Field::ProcCwd => Val::Str(match exec(ev).and_then(|x| x.cwd.as_deref()) {
            Some(cwd) => cwd,
            None => proc_()?.cwd?,
        }),
        Field::ProcPname => Val::Str(ctx.process(ppid(ev, ctx)?, ev.ts)?.name),
        Field::ProcAname => match index? {
            0 => Val::Str(proc_name(ev, ctx)?),
            n => Val::Str(nth_ancestor(ev, ctx, n)?.name),
        },
        Field::ProcApid => match index? {
            0 => Val::Num(ev.pid.into()),
            n => Val::Num(nth_ancestor(ev, ctx, n)?.pid.into()),
        },
        Field::UserUid => Val::Num(euid(ev, ctx)?.into()),
        Field::UserName => {
            let uid = euid(ev, ctx)?;
            // A process in a container is named from that container's users. A context
            // that cannot tell containers apart has one table: the host's.
            let container = match cgroup(ev, ctx).map(|cg| ctx.container(cg)) {
                Some(ContainerLookup::Container(c)) => c.id,
                _ => "",
            };
            Val::Str(ctx.user_name(uid, container)?.as_bytes())
        }
        Field::FdNum => Val::Num(event_fd(syscall(ev)?)?.into()),
        Field::FdName => Val::Str(fd_name(ev, ctx, scratch)?),
        Field::FdType => Val::Str(fd_type(ev, ctx)?.as_bytes()),
        Field::FdCip => Val::Ip(ip_of(endpoints(ev, ctx).client()?)?),
        Field::FdSip => Val::Ip(ip_of(endpoints(ev, ctx).server()?)?),
        Field::FdLip => Val::Ip(ip_of(endpoints(ev, ctx).local?)?),
        Field::FdRip => Val::Ip(ip_of(endpoints(ev, ctx).remote?)?),
        Field::FdCport => Val::Num(port_of(endpoints(ev, ctx).client()?)?.into()),
        Field::FdSport => Val::Num(port_of(endpoints(ev, ctx).server()?)?.into()),
        Field::FdLport => Val::Num(port_of(endpoints(ev, ctx).local?)?.into()),
        Field::FdRport => Val::Num(port_of(endpoints(ev, ctx).remote?)?.into()),
        // Multi-valued: evaluated through `visit_multi`.
        Field::FdIp | Field::FdPort => return None,
        Field::ContainerId | Field::ContainerFullId | Field::ContainerName => {
            Val::Str(match ctx.container(cgroup(ev, ctx)?) {
                ContainerLookup::Unknown => return None,
                ContainerLookup::Host => b"host",
                ContainerLookup::Container(c) => match field {
                    // Ids are hex; `get` falls back to the whole id if one is not.
                    Field::ContainerId => c.id.get(..12).unwrap_or(c.id).as_bytes(),
                    Field::ContainerFullId => c.id.as_bytes(),
                    _ => c.name?.as_bytes(),
                },
            })
        }
        Field::ContainerImage => Val::Str(in_container(ev, ctx)?.image?.as_bytes()),
        Field::ContainerRuntime => {
            let runtime = in_container(ev, ctx)?.runtime;
            if runtime.is_empty() {
                return None;
            }
            Val::Str(runtime.as_bytes())
        }
    })
}

/// Calls `f` with each value of a multi-valued field until it returns false.
fn visit_multi(field: Field, ev: &Event, ctx: &dyn Context, f: &mut dyn FnMut(Val<'_>) -> bool) {
    match field {
        Field::ProcAname => walk_ancestors(ev, ctx, |p| f(Val::Str(p.name))),
        Field::ProcApid => walk_ancestors(ev, ctx, |p| f(Val::Num(p.pid.into()))),
        Field::FdIp | Field::FdPort => {
            let e = endpoints(ev, ctx);
            for sa in [e.local, e.remote].into_iter().flatten() {
                let v = match field {
                    Field::FdIp => ip_of(sa).map(Val::Ip),
                    _ => port_of(sa).map(|p| Val::Num(p.into())),
                };
                if let Some(v) = v {
                    if !f(v) {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

fn evt_type(ev: &Event) -> Option<&'static str> {
    match &ev.body {
        EventBody::Syscall(sc) => syscall_name(sc.abi, sc.nr),
        EventBody::Fork(_) => Some("fork"),
        EventBody::Exec(_) => Some("exec"),
        EventBody::Exit(_) => Some("exit"),
        EventBody::CgroupMkdir(_) => Some("cgroup_mkdir"),
    }
}

/// The kernel's comm for an exec'd path: its basename, cut to TASK_COMM_LEN - 1 bytes.
fn comm_of(path: &[u8]) -> &[u8] {
    let base = match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    };
    &base[..base.len().min(15)]
}

/// An exec record describes the new image itself; other events ask the context.
fn proc_name<'a>(ev: &'a Event, ctx: &'a dyn Context) -> Option<&'a [u8]> {
    match exec(ev) {
        Some(x) => Some(comm_of(&x.filename)),
        None => Some(ctx.process(ev.pid, ev.ts)?.name),
    }
}

fn ppid(ev: &Event, ctx: &dyn Context) -> Option<u32> {
    match exec(ev) {
        Some(x) => Some(x.ppid),
        None => Some(ctx.process(ev.pid, ev.ts)?.ppid),
    }
}

fn euid(ev: &Event, ctx: &dyn Context) -> Option<u32> {
    match exec(ev) {
        Some(x) => Some(x.euid),
        None => Some(ctx.process(ev.pid, ev.ts)?.euid),
    }
}

/// The cgroup of the process generating the event (not, for cgroup_mkdir, the new one).
fn cgroup(ev: &Event, ctx: &dyn Context) -> Option<u64> {
    let own = match &ev.body {
        EventBody::Syscall(sc) => sc.cgroup_id,
        EventBody::Exec(x) => x.cgroup_id,
        EventBody::Fork(f) => f.cgroup_id,
        EventBody::Exit(_) | EventBody::CgroupMkdir(_) => 0,
    };
    // cgroup v2 ids start at 1 (the root): 0 means "not recorded".
    if own != 0 {
        return Some(own);
    }
    Some(ctx.process(ev.pid, ev.ts)?.cgroup_id)
}

/// The container of the process generating the event, if it is in one.
fn in_container<'a>(ev: &Event, ctx: &'a dyn Context) -> Option<ContainerView<'a>> {
    match ctx.container(cgroup(ev, ctx)?) {
        ContainerLookup::Container(c) => Some(c),
        ContainerLookup::Unknown | ContainerLookup::Host => None,
    }
}

/// Calls `f` with the parent, grandparent... until it returns false, the chain ends, or
/// [`MAX_ANCESTORS`] (a guard against a context whose parent links form a cycle).
fn walk_ancestors<'a>(
    ev: &Event,
    ctx: &'a dyn Context,
    mut f: impl FnMut(&ProcessView<'a>) -> bool,
) {
    let Some(mut pid) = ppid(ev, ctx) else {
        return;
    };
    for _ in 0..MAX_ANCESTORS {
        if pid == 0 {
            return;
        }
        let Some(p) = ctx.process(pid, ev.ts) else {
            return;
        };
        if !f(&p) || p.ppid == pid {
            return;
        }
        pid = p.ppid;
    }
}

fn nth_ancestor<'a>(ev: &Event, ctx: &'a dyn Context, n: u32) -> Option<ProcessView<'a>> {
    let mut depth = 0;
    let mut found = None;
    walk_ancestors(ev, ctx, |p| {
        depth += 1;
        if depth == n {
            found = Some(*p);
        }
        depth < n
    });
    found
}

/// argv[skip..] joined by single spaces. A lone argument is returned as is, without a copy.
fn join_args<'a>(argv: Argv<'a>, skip: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let mut items = argv.iter().skip(skip);
    let Some(first) = items.next() else {
        return &[];
    };
    let mut rest = items.peekable();
    if rest.peek().is_none() {
        return first;
    }
    scratch.clear();
    scratch.extend_from_slice(first);
    for a in rest {
        scratch.push(b' ');
        scratch.extend_from_slice(a);
    }
    scratch
}

// ------------------------------------------------------------------------------- fds

/// Whether the call returns a new fd (capture-format's syscall table).
fn returns_fd(sc: &SyscallEvent) -> bool {
    syscall_def_of(sc.abi, sc.nr).is_some_and(|d| d.ret == Ret::Fd)
}

/// The argument holding the fd the call works on (capture-format's syscall table).
fn acts_on(sc: &SyscallEvent) -> Option<u8> {
    syscall_def_of(sc.abi, sc.nr).and_then(|d| d.acts_on)
}

/// The fd a syscall event is about: the returned one for fd-creating calls, else an
/// fd-typed parameter, else the first argument of calls known to take an fd there.
fn event_fd(sc: &SyscallEvent) -> Option<i32> {
    if returns_fd(sc) {
        return sc
            .ret
            .filter(|r| *r >= 0)
            .and_then(|r| i32::try_from(r).ok());
    }
    let param = sc
        .params
        .iter()
        .filter(|p| p.slot <= 5)
        .find_map(|p| match p.value {
            ParamValue::Fd(fd) => Some(fd),
            _ => None,
        });
    if param.is_some() {
        return param;
    }
    // An fd argument is a C int: the low 32 bits of the register.
    let arg = sc.args[usize::from(acts_on(sc)?)];
    Some(arg as u32 as i32)
}

fn first_path(sc: &SyscallEvent) -> Option<&[u8]> {
    sc.params
        .iter()
        .filter(|p| p.slot <= 5)
        .find_map(|p| match &p.value {
            ParamValue::Path(path) => Some(path.as_slice()),
            _ => None,
        })
}

fn first_sockaddr(sc: &SyscallEvent) -> Option<&SockAddr> {
    sc.params.iter().find_map(|p| match &p.value {
        ParamValue::SockAddr(sa) => Some(sa),
        _ => None,
    })
}

/// The fd whose entry in the context's table describes the event. The table is as of the
/// event's start, so an fd a call returns is not in it yet (its number may even name an
/// older, closed file): open/socket-like calls consult nothing, and dup and accept consult
/// the fd they copy or accept on (same file; the listener's address is the local end).
fn described_fd(sc: &SyscallEvent) -> Option<i32> {
    if returns_fd(sc) {
        // An fd argument is a C int: the low 32 bits of the register.
        return acts_on(sc).map(|a| sc.args[usize::from(a)] as u32 as i32);
    }
    event_fd(sc)
}

fn event_fd_view<'a>(ev: &Event, sc: &SyscallEvent, ctx: &'a dyn Context) -> Option<FdView<'a>> {
    ctx.fd(ev.pid, described_fd(sc)?, ev.ts)
}

fn fd_name<'a>(ev: &'a Event, ctx: &'a dyn Context, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let sc = syscall(ev)?;
    if let Some(path) = first_path(sc) {
        return Some(path);
    }
    let e = endpoints(ev, ctx);
    let inet = |sa: Option<&SockAddr>| sa.is_some_and(|sa| ip_of(sa).is_some());
    if inet(e.local) || inet(e.remote) {
        // client->server when the roles are known (as sysdig prints), else local->remote.
        let (a, b) = match e.local_is_server() {
            Some(true) => (e.remote, e.local),
            _ => (e.local, e.remote),
        };
        scratch.clear();
        match (a, b) {
            (Some(a), Some(b)) => {
                write_addr(scratch, a);
                scratch.extend_from_slice(b"->");
                write_addr(scratch, b);
            }
            (Some(one), None) | (None, Some(one)) => write_addr(scratch, one),
            (None, None) => {}
        }
        return Some(scratch);
    }
    let unix = |sa: Option<&'a SockAddr>| match sa {
        Some(SockAddr::Unix(path)) if !path.is_empty() => Some(path.as_slice()),
        _ => None,
    };
    if let Some(path) = unix(e.remote).or_else(|| unix(e.local)) {
        return Some(path);
    }
    Some(event_fd_view(ev, sc, ctx)?.name)
}

fn write_addr(out: &mut Vec<u8>, sa: &SockAddr) {
    // Writing to a Vec cannot fail.
    let _ = match (ip_of(sa), port_of(sa)) {
        (Some(IpAddr::V6(ip)), Some(port)) => write!(out, "[{ip}]:{port}"),
        (Some(ip), Some(port)) => write!(out, "{ip}:{port}"),
        _ => Ok(()),
    };
}

const O_DIRECTORY: u64 = 0o200000;

fn fd_type(ev: &Event, ctx: &dyn Context) -> Option<&'static str> {
    let sc = syscall(ev)?;
    if let Some(def) = syscall_def_of(sc.abi, sc.nr).filter(|d| d.class == Class::Open) {
        let flags = match def.kernel {
            Kernel::OpenFlagsArg(i) => sc.args[usize::from(i)],
            _ => 0,
        };
        return Some(if flags & O_DIRECTORY != 0 {
            "directory"
        } else {
            "file"
        });
    }
    let view = event_fd_view(ev, sc, ctx);
    let kind = view.map(|v| v.kind);
    match kind {
        Some(FdKind::File) => return Some("file"),
        Some(FdKind::Directory) => return Some("directory"),
        Some(FdKind::Pipe) => return Some("pipe"),
        Some(FdKind::Tty) => return Some("tty"),
        Some(FdKind::Other) => return Some("other"),
        Some(FdKind::Socket) | None => {}
    }
    // A socket's type is its addresses' family, the peer's first: a dual-stack listener
    // accepting an IPv4 client (a mapped address) is an ipv4 connection, as sysdig has it.
    let e = endpoints(ev, ctx);
    if let Some(sa) = e.remote.or(e.local) {
        return Some(family_name(sa));
    }
    if kind.is_some() {
        return Some("socket");
    }
    if syscall_name(sc.abi, sc.nr) == Some("socket") {
        // The domain argument: AF_UNIX, AF_INET, AF_INET6.
        return Some(match sc.args[0] {
            1 => "unix",
            2 => "ipv4",
            10 => "ipv6",
            _ => "socket",
        });
    }
    None
}

fn family_name(sa: &SockAddr) -> &'static str {
    match sa {
        SockAddr::Inet { .. } => "ipv4",
        SockAddr::Inet6 { addr, .. } => match Ipv6Addr::from(*addr).to_ipv4_mapped() {
            Some(_) => "ipv4",
            None => "ipv6",
        },
        SockAddr::Unix(_) => "unix",
        SockAddr::Other { .. } => "socket",
    }
}

fn ip_of(sa: &SockAddr) -> Option<IpAddr> {
    match sa {
        SockAddr::Inet { addr, .. } => Some(IpAddr::V4(Ipv4Addr::from(*addr))),
        SockAddr::Inet6 { addr, .. } => Some(canonical(IpAddr::V6(Ipv6Addr::from(*addr)))),
        _ => None,
    }
}

fn port_of(sa: &SockAddr) -> Option<u16> {
    match sa {
        SockAddr::Inet { port, .. } | SockAddr::Inet6 { port, .. } => Some(*port),
        _ => None,
    }
}

/// The two ends of the connection an event is about, and which one this process holds.
#[derive(Default)]
struct Endpoints<'a> {
    local: Option<&'a SockAddr>,
    remote: Option<&'a SockAddr>,
    role: Option<SocketRole>,
}

impl<'a> Endpoints<'a> {
    fn local_is_server(&self) -> Option<bool> {
        match self.role {
            Some(r) => Some(r == SocketRole::Server),
            // Unknown role (a datagram socket the context has no role for): the end with
            // the lower port is taken as the server, as services listen on low ports and
            // clients get ephemeral ones.
            None => match (self.local.and_then(port_of), self.remote.and_then(port_of)) {
                (Some(l), Some(r)) if l != r => Some(l < r),
                _ => None,
            },
        }
    }

    fn client(&self) -> Option<&'a SockAddr> {
        match self.local_is_server()? {
            true => self.remote,
            false => self.local,
        }
    }

    fn server(&self) -> Option<&'a SockAddr> {
        match self.local_is_server()? {
            true => self.local,
            false => self.remote,
        }
    }
}

fn endpoints<'a>(ev: &'a Event, ctx: &'a dyn Context) -> Endpoints<'a> {
    let Some(sc) = syscall(ev) else {
        return Endpoints::default();
    };
    let name = syscall_name(sc.abi, sc.nr).unwrap_or("");
    let addr = first_sockaddr(sc);
    let view = event_fd_view(ev, sc, ctx);
    let mut e = Endpoints {
        local: view.and_then(|v| v.local),
        remote: view.and_then(|v| v.remote),
        role: view.and_then(|v| v.role),
    };
    match name {
        "connect" => {
            e.remote = addr.or(e.remote);
            e.role = Some(SocketRole::Client);
        }
        "accept" | "accept4" => {
            // The view is the listener's (see `described_fd`): its address is this end.
            e.remote = addr.or(e.remote);
            e.role = Some(SocketRole::Server);
        }
        "bind" => {
            e.local = addr.or(e.local);
            e.role = e.role.or(Some(SocketRole::Server));
        }
        "getsockname" => e.local = addr.or(e.local),
        // The address a send/recv/getpeername names is the peer's.
        _ => e.remote = addr.or(e.remote),
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icontains_ascii() {
        assert!(icontains(b"Hello World", b"world"));
        assert!(icontains(b"abc", b""));
        assert!(!icontains(b"ab", b"abc"));
        assert!(!icontains(b"hello", b"xyz"));
    }

    #[test]
    fn comm_truncation() {
        assert_eq!(comm_of(b"/usr/bin/bash"), b"bash");
        assert_eq!(comm_of(b"kube-controller-manager"), b"kube-controller");
        assert_eq!(comm_of(b"sh"), b"sh");
    }
}
