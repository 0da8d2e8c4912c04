//! Event encoding 1 ("columns"): the records of a chunk split into streams of like fields
//! (all timestamps together, all first arguments together, ...), which zstd compresses far
//! better than interleaved records, with syscall arguments predicted from the same thread's
//! previous call of the same syscall. Normative description: `docs/capture-format.md`,
//! section 5.

use crate::error::Malformed;
use crate::model::*;
use crate::wire::{put_lp_bytes, put_varint, put_zigzag, zigzag, Cursor};

pub(crate) const REC_SYSCALL: u8 = 1;
pub(crate) const REC_FORK: u8 = 2;
pub(crate) const REC_EXEC: u8 = 3;
pub(crate) const REC_EXIT: u8 = 4;
pub(crate) const REC_CGROUP_MKDIR: u8 = 5;

const P_PATH: u8 = 1;
const P_STR: u8 = 2;
const P_FD: u8 = 3;
const P_FDS: u8 = 4;
const P_SOCKADDR: u8 = 5;
const P_BUFFER: u8 = 6;
const P_STRLIST: u8 = 7;

const SA_INET: u8 = 1;
const SA_INET6: u8 = 2;
const SA_UNIX: u8 = 3;
const SA_OTHER: u8 = 4;

const SYS_HAS_RET: u8 = 1 << 4;
const SYS_HAS_DURATION: u8 = 1 << 5;
const SYS_RESERVED: u8 = 0b1100_0000;

// Streams, in the order they are stored.
const S_TAG: usize = 0;
const S_TS: usize = 1;
const S_CPU: usize = 2;
const S_PID: usize = 3;
const S_TID: usize = 4;
const S_NR: usize = 5;
const S_SFLAGS: usize = 6;
const S_ARG0: usize = 7;
const S_RET: usize = 13;
const S_DUR: usize = 14;
const S_CGROUP: usize = 15;
const S_PARAMS: usize = 16;
const S_BODY: usize = 17;
pub(crate) const STREAMS: usize = 18;

const PREDICTOR_BITS: u32 = 10;

#[derive(Clone, Copy, Default)]
struct Slot {
    used: bool,
    tid: u32,
    nr: u32,
    args: [u64; 6],
    cgroup_id: u64,
}

/// Remembers the arguments of recent (thread, syscall) pairs in a small direct-mapped
/// table: a thread in a loop repeats its fds, buffers and flags, which then encode as
/// zero differences. Encoder and decoder run the same table, reset at every chunk.
struct Predictor {
    slots: Vec<Slot>,
}

impl Default for Predictor {
    fn default() -> Self {
        Predictor {
            slots: vec![Slot::default(); 1 << PREDICTOR_BITS],
        }
    }
}

impl Predictor {
    #[inline]
    fn index(tid: u32, nr: u32) -> usize {
        let h = u64::from(tid).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(nr).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (h >> (64 - PREDICTOR_BITS)) as usize
    }

    #[inline]
    fn predict(&self, i: usize, tid: u32, nr: u32) -> ([u64; 6], u64) {
        let s = &self.slots[i];
        if s.used && s.tid == tid && s.nr == nr {
            (s.args, s.cgroup_id)
        } else {
            ([0; 6], 0)
        }
    }

    fn reset(&mut self) {
        self.slots.fill(Slot::default());
    }
}

/// Where an encoder stood before an event, so a refused event can be taken back.
pub(crate) struct Mark {
    lens: [usize; STREAMS],
    prev_ts: u64,
    slot: Option<(usize, Slot)>,
}

/// Encodes the events of one chunk into its streams.
#[derive(Default)]
pub(crate) struct ColumnEncoder {
    streams: [Vec<u8>; STREAMS],
    prev_ts: u64,
    predictor: Predictor,
    body: Vec<u8>,
    param: Vec<u8>,
}

impl ColumnEncoder {
    /// An upper bound on the raw chunk's length if it were finished now (exact but for the
    /// directory, counted at its largest). Called for every event, so kept cheap.
    pub fn raw_len(&self) -> usize {
        let data: usize = self.streams.iter().map(Vec::len).sum();
        data + 10 * (STREAMS + 1)
    }

    pub fn mark(&self, e: &Event) -> Mark {
        let slot = match &e.body {
            EventBody::Syscall(s) => {
                let i = Predictor::index(e.tid, s.nr);
                Some((i, self.predictor.slots[i]))
            }
            _ => None,
        };
        Mark {
            lens: std::array::from_fn(|i| self.streams[i].len()),
            prev_ts: self.prev_ts,
            slot,
        }
    }

    pub fn rollback(&mut self, m: Mark) {
        for (s, len) in self.streams.iter_mut().zip(m.lens) {
            s.truncate(len);
        }
        self.prev_ts = m.prev_ts;
        if let Some((i, slot)) = m.slot {
            self.predictor.slots[i] = slot;
        }
    }

    pub fn encode(&mut self, e: &Event) {
        let st = &mut self.streams;
        // Wrapping arithmetic makes the delta a bijection for any pair of u64 times, so
        // out-of-order events cost a few bytes but never fail.
        put_zigzag(&mut st[S_TS], e.ts.wrapping_sub(self.prev_ts) as i64);
        self.prev_ts = e.ts;
        put_varint(&mut st[S_CPU], u64::from(e.cpu));
        put_varint(&mut st[S_PID], u64::from(e.pid));
        // Most events come from a main thread, where tid == pid: a zero.
        put_zigzag(&mut st[S_TID], i64::from(e.tid.wrapping_sub(e.pid) as i32));
        let body = &mut self.body;
        body.clear();
        let tag = match &e.body {
            EventBody::Syscall(s) => {
                put_varint(&mut st[S_NR], u64::from(s.nr));
                st[S_SFLAGS].push(syscall_flags(s));
                let i = Predictor::index(e.tid, s.nr);
                let (pred_args, pred_cgroup) = self.predictor.predict(i, e.tid, s.nr);
                for (k, (a, p)) in s.args.iter().zip(pred_args).enumerate() {
                    put_varint(&mut st[S_ARG0 + k], zigzag(a.wrapping_sub(p) as i64));
                }
                if let Some(r) = s.ret {
                    put_zigzag(&mut st[S_RET], r);
                }
                if let Some(d) = s.duration_ns {
                    put_varint(&mut st[S_DUR], d);
                }
                put_varint(
                    &mut st[S_CGROUP],
                    zigzag(s.cgroup_id.wrapping_sub(pred_cgroup) as i64),
                );
                self.predictor.slots[i] = Slot {
                    used: true,
                    tid: e.tid,
                    nr: s.nr,
                    args: s.args,
                    cgroup_id: s.cgroup_id,
                };
                let out = &mut st[S_PARAMS];
                put_varint(out, s.params.len() as u64);
                for p in &s.params {
                    self.param.clear();
                    let ptype = encode_param_value(&mut self.param, &p.value);
                    out.push(p.slot);
                    out.push(ptype);
                    put_lp_bytes(out, &self.param);
                }
                st[S_TAG].push(REC_SYSCALL);
                return;
            }
            EventBody::Fork(f) => {
                put_varint(body, u64::from(f.child_pid));
                put_zigzag(
                    body,
                    i64::from(f.child_tid.wrapping_sub(f.child_pid) as i32),
                );
                put_varint(body, f.cgroup_id);
                REC_FORK
            }
            EventBody::Exec(x) => {
                put_lp_bytes(body, &x.filename);
                put_varint(body, x.argv.len() as u64);
                for a in &x.argv {
                    put_lp_bytes(body, a);
                }
                body.push(u8::from(x.argv_truncated));
                for v in [x.ppid, x.uid, x.gid, x.euid, x.egid] {
                    put_varint(body, u64::from(v));
                }
                put_varint(body, x.cgroup_id);
                put_opt_bytes(body, x.exe.as_deref());
                put_opt_bytes(body, x.cwd.as_deref());
                REC_EXEC
            }
            EventBody::Exit(x) => {
                put_varint(body, u64::from(x.status));
                body.push(u8::from(x.group_dead));
                REC_EXIT
            }
            EventBody::CgroupMkdir(c) => {
                put_varint(body, c.cgroup_id);
                put_lp_bytes(body, &c.path);
                REC_CGROUP_MKDIR
            }
        };
        st[S_TAG].push(tag);
        put_lp_bytes(&mut st[S_BODY], body);
    }

    /// Appends the finished raw chunk (directory, then streams) to `out` and resets.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.reserve(self.raw_len());
        put_varint(out, STREAMS as u64);
        for s in &self.streams {
            put_varint(out, s.len() as u64);
        }
        for s in &self.streams {
            out.extend_from_slice(s);
        }
        self.reset();
    }

    pub fn reset(&mut self) {
        for s in &mut self.streams {
            s.clear();
        }
        self.prev_ts = 0;
        self.predictor.reset();
    }
}

fn syscall_flags(s: &SyscallEvent) -> u8 {
    let abi = match s.abi {
        Abi::X86_64 => 0u8,
        Abi::I386 => 1,
    };
    let completion = match s.completion {
        Completion::Complete => 0u8,
        Completion::EnterOnly => 1,
        Completion::ExitOnly => 2,
    };
    let mut flags = abi | (completion << 2);
    if s.ret.is_some() {
        flags |= SYS_HAS_RET;
    }
    if s.duration_ns.is_some() {
        flags |= SYS_HAS_DURATION;
    }
    flags
}

fn put_opt_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_lp_bytes(out, b);
        }
    }
}

fn encode_param_value(out: &mut Vec<u8>, v: &ParamValue) -> u8 {
    match v {
        ParamValue::Path(b) => {
            out.extend_from_slice(b);
            P_PATH
        }
        ParamValue::Str(b) => {
            out.extend_from_slice(b);
            P_STR
        }
        ParamValue::Fd(fd) => {
            put_zigzag(out, i64::from(*fd));
            P_FD
        }
        ParamValue::Fds(fds) => {
            put_varint(out, fds.len() as u64);
            for fd in fds {
                put_zigzag(out, i64::from(*fd));
            }
            P_FDS
        }
        ParamValue::SockAddr(sa) => {
            encode_sockaddr(out, sa);
            P_SOCKADDR
        }
        ParamValue::Buffer(b) => {
            out.push(match b.cut {
                BufferCut::Whole => 0,
                BufferCut::Snaplen => 1,
                BufferCut::Unreadable => 2,
            });
            put_varint(out, b.original_len);
            out.extend_from_slice(&b.data);
            P_BUFFER
        }
        ParamValue::StrList { items, truncated } => {
            out.push(u8::from(*truncated));
            put_varint(out, items.len() as u64);
            for i in items {
                put_lp_bytes(out, i);
            }
            P_STRLIST
        }
    }
}

fn encode_sockaddr(out: &mut Vec<u8>, sa: &SockAddr) {
    match sa {
        SockAddr::Inet { addr, port } => {
            out.push(SA_INET);
            out.extend_from_slice(addr);
            out.extend_from_slice(&port.to_le_bytes());
        }
        SockAddr::Inet6 {
            addr,
            port,
            scope_id,
        } => {
            out.push(SA_INET6);
            out.extend_from_slice(addr);
            out.extend_from_slice(&port.to_le_bytes());
            out.extend_from_slice(&scope_id.to_le_bytes());
        }
        SockAddr::Unix(p) => {
            out.push(SA_UNIX);
            out.extend_from_slice(p);
        }
        SockAddr::Other { family, raw } => {
            out.push(SA_OTHER);
            out.extend_from_slice(&family.to_le_bytes());
            out.extend_from_slice(raw);
        }
    }
}

/// Decodes a chunk's raw bytes one event at a time. It holds positions, not the bytes, so
/// an iterator can own both the bytes and the decoder; every call gets the same `raw`.
pub(crate) struct ColumnDecoder {
    pos: [usize; STREAMS],
    end: [usize; STREAMS],
    remaining: u32,
    prev_ts: u64,
    predictor: Predictor,
    done: bool,
    records: Records,
}

/// Which records a decode produces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Records {
    /// Every record.
    #[default]
    All,
    /// Every record but syscalls: fork, exec, exit and cgroup_mkdir. The syscall columns
    /// are never read, which makes a pass that only follows processes several times
    /// cheaper; the flip side is that damage confined to those columns goes unnoticed.
    NoSyscalls,
    /// Every record but the syscalls outside the set. Those are stepped over: their
    /// numbers and arguments are read (later records are predicted from them) but their
    /// parameters are not decoded, for a pass whose filter can only select syscalls in
    /// the set.
    Syscalls(SyscallSet),
    /// Every record, syscalls without their parameters (`params` left empty): for a pass
    /// that counts or times syscalls but never looks at what they carried.
    WithoutParams,
}

/// A set of syscalls by ABI and number (numbers below [`SyscallSet::LIMIT`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallSet {
    x86_64: [u64; SyscallSet::WORDS],
    i386: [u64; SyscallSet::WORDS],
}

impl SyscallSet {
    const WORDS: usize = 8;
    /// Numbers from here on cannot be in a set (both ABIs' tables end well before it).
    pub const LIMIT: u32 = 64 * Self::WORDS as u32;

    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a syscall; false (and nothing added) when `nr` is not below [`Self::LIMIT`].
    pub fn insert(&mut self, abi: Abi, nr: u32) -> bool {
        if nr >= Self::LIMIT {
            return false;
        }
        self.words_mut(abi)[nr as usize / 64] |= 1 << (nr % 64);
        true
    }

    #[inline]
    pub fn contains(&self, abi: Abi, nr: u32) -> bool {
        let words = match abi {
            Abi::X86_64 => &self.x86_64,
            Abi::I386 => &self.i386,
        };
        words
            .get(nr as usize / 64)
            .is_some_and(|w| w & (1 << (nr % 64)) != 0)
    }

    pub fn union(&self, other: &SyscallSet) -> SyscallSet {
        SyscallSet {
            x86_64: std::array::from_fn(|i| self.x86_64[i] | other.x86_64[i]),
            i386: std::array::from_fn(|i| self.i386[i] | other.i386[i]),
        }
    }

    pub fn intersection(&self, other: &SyscallSet) -> SyscallSet {
        SyscallSet {
            x86_64: std::array::from_fn(|i| self.x86_64[i] & other.x86_64[i]),
            i386: std::array::from_fn(|i| self.i386[i] & other.i386[i]),
        }
    }

    fn words_mut(&mut self, abi: Abi) -> &mut [u64; Self::WORDS] {
        match abi {
            Abi::X86_64 => &mut self.x86_64,
            Abi::I386 => &mut self.i386,
        }
    }
}

/// Allocations taken back from decoded events that are about to be overwritten, handed
/// out again for the next ones: decoding into reused events then allocates nothing once
/// the pools are warm.
#[derive(Default)]
pub(crate) struct Spares {
    bytes: Vec<Vec<u8>>,
    lists: Vec<Vec<Vec<u8>>>,
    params: Vec<Vec<Param>>,
}

impl Spares {
    /// Enough for the largest event's allocations, so pools never grow past what one event
    /// gives back.
    const MAX_POOLED: usize = 64;
    /// Bigger buffers (full payloads of scripts) are freed rather than kept: holding them
    /// for small paths would pin memory.
    const MAX_POOLED_BYTES: usize = 64 * 1024;

    #[inline]
    fn bytes_from(&mut self, src: &[u8]) -> Vec<u8> {
        match self.bytes.pop() {
            Some(mut v) => {
                v.clear();
                v.extend_from_slice(src);
                v
            }
            None => src.to_vec(),
        }
    }

    fn list(&mut self, capacity: usize) -> Vec<Vec<u8>> {
        reuse(&mut self.lists, capacity)
    }

    #[inline]
    fn params(&mut self, capacity: usize) -> Vec<Param> {
        reuse(&mut self.params, capacity)
    }

    #[inline]
    fn keep_bytes(&mut self, v: Vec<u8>) {
        if v.capacity() != 0
            && v.capacity() <= Self::MAX_POOLED_BYTES
            && self.bytes.len() < Self::MAX_POOLED
        {
            self.bytes.push(v);
        }
    }

    fn keep_list(&mut self, mut items: Vec<Vec<u8>>) {
        for b in items.drain(..) {
            self.keep_bytes(b);
        }
        if items.capacity() != 0 && self.lists.len() < Self::MAX_POOLED {
            self.lists.push(items);
        }
    }

    fn keep_value(&mut self, v: ParamValue) {
        match v {
            ParamValue::Path(b) | ParamValue::Str(b) => self.keep_bytes(b),
            ParamValue::Buffer(b) => self.keep_bytes(b.data),
            ParamValue::StrList { items, .. } => self.keep_list(items),
            ParamValue::SockAddr(SockAddr::Unix(b) | SockAddr::Other { raw: b, .. }) => {
                self.keep_bytes(b)
            }
            ParamValue::Fd(_) | ParamValue::Fds(_) | ParamValue::SockAddr(_) => {}
        }
    }

    /// Takes back what `body` allocated.
    #[inline]
    pub fn keep_body(&mut self, body: EventBody) {
        match body {
            EventBody::Syscall(s) => {
                let mut params = s.params;
                if params.capacity() == 0 {
                    return;
                }
                for p in params.drain(..) {
                    self.keep_value(p.value);
                }
                if self.params.len() < Self::MAX_POOLED {
                    self.params.push(params);
                }
            }
            EventBody::Exec(x) => {
                self.keep_bytes(x.filename);
                self.keep_list(x.argv);
                if let Some(b) = x.exe {
                    self.keep_bytes(b);
                }
                if let Some(b) = x.cwd {
                    self.keep_bytes(b);
                }
            }
            EventBody::CgroupMkdir(c) => self.keep_bytes(c.path),
            EventBody::Fork(_) | EventBody::Exit(_) => {}
        }
    }
}

/// What an event slot holds before it is first decoded into: allocates nothing.
pub(crate) fn blank_event() -> Event {
    Event {
        ts: 0,
        cpu: 0,
        pid: 0,
        tid: 0,
        body: EventBody::Exit(ExitEvent {
            status: 0,
            group_dead: false,
        }),
    }
}

/// A syscall body with every field zero, for the decoder to fill in place.
fn blank_syscall(params: Vec<Param>) -> EventBody {
    EventBody::Syscall(SyscallEvent {
        nr: 0,
        abi: Abi::X86_64,
        completion: Completion::Complete,
        args: [0; 6],
        ret: None,
        duration_ns: None,
        cgroup_id: 0,
        params,
    })
}

impl ColumnDecoder {
    /// Reads the stream directory. `record_count` is the chunk header's count.
    pub fn new(raw: &[u8], record_count: u32, records: Records) -> Result<Self, Malformed> {
        let mut c = Cursor::new(raw);
        let n = c.count(1)?;
        if n < STREAMS {
            return Err(c.err("fewer streams than this version defines"));
        }
        let mut lens = Vec::with_capacity(n);
        for _ in 0..n {
            lens.push(c.varint()?);
        }
        let mut pos = [0usize; STREAMS];
        let mut end = [0usize; STREAMS];
        let mut at = c.pos() as u64;
        for (i, len) in lens.iter().enumerate() {
            let stop = at
                .checked_add(*len)
                .filter(|&s| s <= raw.len() as u64)
                .ok_or_else(|| c.err("stream lengths run past the end of the data"))?;
            if i < STREAMS {
                pos[i] = at as usize;
                end[i] = stop as usize;
            }
            // Streams past ours belong to a newer minor version and are ignored.
            at = stop;
        }
        if at != raw.len() as u64 {
            return Err(Malformed {
                what: "bytes after the last stream",
                at: at as usize,
            });
        }
        Ok(ColumnDecoder {
            pos,
            end,
            remaining: record_count,
            prev_ts: 0,
            // Only syscalls use the predictor: a pass without them need not build it.
            predictor: match records {
                Records::All | Records::Syscalls(_) | Records::WithoutParams => {
                    Predictor::default()
                }
                Records::NoSyscalls => Predictor { slots: Vec::new() },
            },
            done: false,
            records,
        })
    }

    /// The next event; `None` at the end. After an error it yields `None`.
    #[inline]
    pub fn next(&mut self, raw: &[u8]) -> Option<Result<Event, Malformed>> {
        // Shaped as a syscall, which most records are, so decoding fills it in place.
        let mut e = Event {
            body: blank_syscall(Vec::new()),
            ..blank_event()
        };
        let r = self.next_into(raw, &mut e, &mut Spares::default())?;
        Some(r.map(|()| e))
    }

    /// Decodes the next event into `slot`, whose allocations go to `spares` for reuse;
    /// `None` at the end. After an error (when `slot` holds a placeholder) it yields `None`.
    #[inline]
    pub fn next_into(
        &mut self,
        raw: &[u8],
        slot: &mut Event,
        spares: &mut Spares,
    ) -> Option<Result<(), Malformed>> {
        if self.done {
            return None;
        }
        let r = self.step(raw, slot, spares);
        if !matches!(r, Some(Ok(()))) {
            self.done = true;
        }
        r
    }

    #[inline]
    fn step(
        &mut self,
        raw: &[u8],
        slot: &mut Event,
        spares: &mut Spares,
    ) -> Option<Result<(), Malformed>> {
        loop {
            if self.remaining == 0 {
                return self.check_consumed().err().map(Err);
            }
            self.remaining -= 1;
            match self.record(raw, slot, spares) {
                Ok(true) => return Some(Ok(())),
                Ok(false) => continue,
                Err(m) => return Some(Err(m)),
            }
        }
    }

    /// Every stream must be used up exactly by the records: leftovers mean the count or
    /// the data is wrong. (Syscall columns are left unread by [`Records::NoSyscalls`].)
    fn check_consumed(&self) -> Result<(), Malformed> {
        let streams: &[usize] = match self.records {
            Records::All | Records::Syscalls(_) | Records::WithoutParams => &[
                S_TAG,
                S_TS,
                S_CPU,
                S_PID,
                S_TID,
                S_NR,
                S_SFLAGS,
                S_ARG0,
                S_ARG0 + 1,
                S_ARG0 + 2,
                S_ARG0 + 3,
                S_ARG0 + 4,
                S_ARG0 + 5,
                S_RET,
                S_DUR,
                S_CGROUP,
                S_PARAMS,
                S_BODY,
            ],
            Records::NoSyscalls => &[S_TAG, S_TS, S_CPU, S_PID, S_TID, S_BODY],
        };
        for &s in streams {
            if self.pos[s] != self.end[s] {
                return Err(Malformed {
                    what: "a stream holds more data than the records use",
                    at: self.pos[s],
                });
            }
        }
        Ok(())
    }

    #[inline]
    fn u8(&mut self, raw: &[u8], s: usize) -> Result<u8, Malformed> {
        let p = self.pos[s];
        if p < self.end[s] {
            if let Some(&b) = raw.get(p) {
                self.pos[s] = p + 1;
                return Ok(b);
            }
        }
        Err(Malformed {
            what: "a stream ends before its records do",
            at: p,
        })
    }

    #[inline(always)]
    fn varint(&mut self, raw: &[u8], s: usize) -> Result<u64, Malformed> {
        let p = self.pos[s];
        // Fast paths for the one- and two-byte values that make up most streams; the rest
        // goes out of line so this stays small enough to inline everywhere.
        if p + 1 < self.end[s] {
            if let Some(&[b0, b1]) = raw.get(p..p + 2).and_then(|w| <&[u8; 2]>::try_from(w).ok()) {
                if b0 < 0x80 {
                    self.pos[s] = p + 1;
                    return Ok(u64::from(b0));
                }
                if b1 < 0x80 {
                    self.pos[s] = p + 2;
                    return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
                }
            }
        }
        self.varint_slow(raw, s)
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self, raw: &[u8], s: usize) -> Result<u64, Malformed> {
        let p = self.pos[s];
        let mut c = Cursor::new(raw.get(p..self.end[s]).unwrap_or_default());
        match c.varint() {
            Ok(v) => {
                self.pos[s] = p + c.pos();
                Ok(v)
            }
            Err(m) => Err(Malformed {
                what: m.what,
                at: p + m.at,
            }),
        }
    }

    #[inline]
    fn zigzag(&mut self, raw: &[u8], s: usize) -> Result<i64, Malformed> {
        Ok(crate::wire::unzigzag(self.varint(raw, s)?))
    }

    /// A cursor over the rest of stream `s`; `advance` moves past what it consumed.
    fn cursor<'r>(&self, raw: &'r [u8], s: usize) -> Cursor<'r> {
        Cursor::new(raw.get(self.pos[s]..self.end[s]).unwrap_or_default())
    }

    fn advance(&mut self, s: usize, c: &Cursor<'_>) {
        self.pos[s] += c.pos();
    }

    /// Decodes one record into `slot`; false when it is not produced (a type from a newer
    /// minor version, or a syscall [`Records`] leaves out), when `slot` holds a valid event
    /// that is of no interest.
    #[inline]
    fn record(
        &mut self,
        raw: &[u8],
        slot: &mut Event,
        spares: &mut Spares,
    ) -> Result<bool, Malformed> {
        let tag = self.u8(raw, S_TAG)?;
        let ts = self.prev_ts.wrapping_add(self.zigzag(raw, S_TS)? as u64);
        self.prev_ts = ts;
        let cpu = u32_of(self.varint(raw, S_CPU)?, self.pos[S_CPU])?;
        let pid = u32_of(self.varint(raw, S_PID)?, self.pos[S_PID])?;
        let tid = pid.wrapping_add(self.zigzag(raw, S_TID)? as i32 as u32);
        if tag == REC_SYSCALL {
            if self.records == Records::NoSyscalls {
                return Ok(false);
            }
            if !matches!(slot.body, EventBody::Syscall(_)) {
                let fresh = blank_syscall(spares.params(0));
                spares.keep_body(std::mem::replace(&mut slot.body, fresh));
            }
            let EventBody::Syscall(s) = &mut slot.body else {
                unreachable!("the slot was just made a syscall");
            };
            if !self.syscall_into(raw, tid, s, spares)? {
                return Ok(false);
            }
        } else {
            let base = self.pos[S_BODY];
            let mut c = self.cursor(raw, S_BODY);
            let bytes = c.lp_bytes().map_err(|m| shift(m, base))?;
            self.advance(S_BODY, &c);
            let body_at = self.pos[S_BODY] - bytes.len();
            // A record type from a newer minor version: its common fields were read (so
            // times stay right) and its body is stepped over.
            if !matches!(tag, REC_FORK | REC_EXEC | REC_EXIT | REC_CGROUP_MKDIR) {
                return Ok(false);
            }
            let old = std::mem::replace(&mut slot.body, blank_event().body);
            spares.keep_body(old);
            match decode_body(tag, bytes, spares).map_err(|m| shift(m, body_at))? {
                Some(b) => slot.body = b,
                None => return Ok(false),
            }
        }
        slot.ts = ts;
        slot.cpu = cpu;
        slot.pid = pid;
        slot.tid = tid;
        Ok(true)
    }

    /// Decodes a syscall record's columns into `s`, reusing its parameter list and the
    /// buffers of parameters of the same type (consecutive decodes into one slot mostly see
    /// the same few syscalls). False when [`Records::Syscalls`] leaves it out: its
    /// parameters are then stepped over, not decoded.
    #[inline]
    fn syscall_into(
        &mut self,
        raw: &[u8],
        tid: u32,
        s: &mut SyscallEvent,
        spares: &mut Spares,
    ) -> Result<bool, Malformed> {
        let nr = u32_of(self.varint(raw, S_NR)?, self.pos[S_NR])?;
        let flags = self.u8(raw, S_SFLAGS)?;
        let flags_at = self.pos[S_SFLAGS] - 1;
        let bad_flags = |what| Malformed { what, at: flags_at };
        if flags & SYS_RESERVED != 0 {
            return Err(bad_flags("reserved syscall flag bits set"));
        }
        s.abi = match flags & 0b11 {
            0 => Abi::X86_64,
            1 => Abi::I386,
            _ => return Err(bad_flags("unknown syscall ABI")),
        };
        s.completion = match (flags >> 2) & 0b11 {
            0 => Completion::Complete,
            1 => Completion::EnterOnly,
            2 => Completion::ExitOnly,
            _ => return Err(bad_flags("unknown syscall completion")),
        };
        s.nr = nr;
        let i = Predictor::index(tid, nr);
        let (pred_args, pred_cgroup) = self.predictor.predict(i, tid, nr);
        for (k, a) in s.args.iter_mut().enumerate() {
            *a = pred_args[k].wrapping_add(self.zigzag(raw, S_ARG0 + k)? as u64);
        }
        s.ret = if flags & SYS_HAS_RET != 0 {
            Some(self.zigzag(raw, S_RET)?)
        } else {
            None
        };
        s.duration_ns = if flags & SYS_HAS_DURATION != 0 {
            Some(self.varint(raw, S_DUR)?)
        } else {
            None
        };
        s.cgroup_id = pred_cgroup.wrapping_add(self.zigzag(raw, S_CGROUP)? as u64);
        self.predictor.slots[i] = Slot {
            used: true,
            tid,
            nr,
            args: s.args,
            cgroup_id: s.cgroup_id,
        };
        let base = self.pos[S_PARAMS];
        let (wanted, with_params) = match &self.records {
            Records::Syscalls(set) => {
                let wanted = set.contains(s.abi, nr);
                (wanted, wanted)
            }
            Records::WithoutParams => (true, false),
            Records::All | Records::NoSyscalls => (true, true),
        };
        // Most syscalls carry no decoded parameters: a single zero count.
        let no_params = base < self.end[S_PARAMS] && raw.get(base) == Some(&0);
        if (no_params || !with_params) && !s.params.is_empty() {
            for p in s.params.drain(..) {
                spares.keep_value(p.value);
            }
        }
        if no_params {
            self.pos[S_PARAMS] = base + 1;
        } else {
            let mut c = self.cursor(raw, S_PARAMS);
            if with_params {
                decode_params_into(&mut c, &mut s.params, spares)
            } else {
                skip_params(&mut c)
            }
            .map_err(|m| shift(m, base))?;
            self.advance(S_PARAMS, &c);
        }
        Ok(wanted)
    }
}

fn shift(m: Malformed, by: usize) -> Malformed {
    Malformed {
        what: m.what,
        at: m.at + by,
    }
}

fn u32_of(v: u64, at: usize) -> Result<u32, Malformed> {
    u32::try_from(v).map_err(|_| Malformed {
        what: "value does not fit in 32 bits",
        at,
    })
}

/// Decodes a whole chunk's raw bytes. Records of unknown types are counted in
/// `record_count` but skipped, so fewer events may come back.
pub(crate) fn decode_all(raw: &[u8], record_count: u32) -> Result<Vec<Event>, Malformed> {
    let mut d = ColumnDecoder::new(raw, record_count, Records::All)?;
    // Every record takes at least one byte in the tag stream.
    let mut events = Vec::with_capacity((record_count as usize).min(raw.len()));
    while let Some(e) = d.next(raw) {
        events.push(e?);
    }
    Ok(events)
}

/// Steps over a parameter list, checking only its framing.
fn skip_params(c: &mut Cursor<'_>) -> Result<(), Malformed> {
    let n = c.count(3)?;
    for _ in 0..n {
        c.u8()?;
        c.u8()?;
        c.lp_bytes()?;
    }
    Ok(())
}

/// Decodes a parameter list into `params`, overwriting the parameters already there.
fn decode_params_into(
    c: &mut Cursor<'_>,
    params: &mut Vec<Param>,
    spares: &mut Spares,
) -> Result<(), Malformed> {
    let n = c.count(3)?;
    params.reserve(n.saturating_sub(params.len()));
    let mut kept = 0;
    for _ in 0..n {
        let slot = c.u8()?;
        let tag = c.u8()?;
        let body = c.lp_bytes()?;
        let decoded = match params.get_mut(kept) {
            Some(p) => {
                let reused = decode_param_value_into(tag, body, &mut p.value, spares)?;
                p.slot = slot;
                reused
            }
            None => match decode_param_value(tag, body, spares)? {
                Some(value) => {
                    params.push(Param { slot, value });
                    true
                }
                None => false,
            },
        };
        kept += usize::from(decoded);
    }
    if params.len() > kept {
        for p in params.drain(kept..) {
            spares.keep_value(p.value);
        }
    }
    Ok(())
}

/// Decodes a parameter value over `value`, reusing its buffer when it has the same type;
/// false (and `value` untouched) for a type from a newer minor version.
#[inline]
fn decode_param_value_into(
    tag: u8,
    body: &[u8],
    value: &mut ParamValue,
    spares: &mut Spares,
) -> Result<bool, Malformed> {
    match (tag, &mut *value) {
        (P_PATH, ParamValue::Path(v)) | (P_STR, ParamValue::Str(v)) => {
            v.clear();
            v.extend_from_slice(body);
        }
        (P_BUFFER, ParamValue::Buffer(b)) => {
            let mut c = Cursor::new(body);
            b.cut = buffer_cut(&mut c)?;
            b.original_len = c.varint()?;
            b.data.clear();
            b.data.extend_from_slice(c.bytes(c.remaining())?);
        }
        _ => match decode_param_value(tag, body, spares)? {
            Some(new) => spares.keep_value(std::mem::replace(value, new)),
            None => return Ok(false),
        },
    }
    Ok(true)
}

fn buffer_cut(c: &mut Cursor<'_>) -> Result<BufferCut, Malformed> {
    Ok(match c.u8()? {
        0 => BufferCut::Whole,
        1 => BufferCut::Snaplen,
        2 => BufferCut::Unreadable,
        _ => return Err(c.err("unknown buffer cut reason")),
    })
}

/// The body of a non-syscall record; `None` for a type from a newer minor version.
/// Bytes left after the known fields were appended by a newer minor version: ignored.
fn decode_body(tag: u8, body: &[u8], spares: &mut Spares) -> Result<Option<EventBody>, Malformed> {
    let mut c = Cursor::new(body);
    Ok(Some(match tag {
        REC_FORK => {
            let child_pid = c.varint_u32()?;
            let child_tid = child_pid.wrapping_add(c.zigzag()? as i32 as u32);
            let cgroup_id = c.varint()?;
            EventBody::Fork(ForkEvent {
                child_pid,
                child_tid,
                cgroup_id,
            })
        }
        REC_EXEC => {
            let filename = spares.bytes_from(c.lp_bytes()?);
            let argc = c.count(1)?;
            let mut argv = spares.list(argc);
            for _ in 0..argc {
                argv.push(spares.bytes_from(c.lp_bytes()?));
            }
            let argv_truncated = c.bool()?;
            let ppid = c.varint_u32()?;
            let uid = c.varint_u32()?;
            let gid = c.varint_u32()?;
            let euid = c.varint_u32()?;
            let egid = c.varint_u32()?;
            let cgroup_id = c.varint()?;
            let exe = opt_bytes(&mut c, spares)?;
            let cwd = opt_bytes(&mut c, spares)?;
            EventBody::Exec(ExecEvent {
                filename,
                argv,
                argv_truncated,
                ppid,
                uid,
                gid,
                euid,
                egid,
                cgroup_id,
                exe,
                cwd,
            })
        }
        REC_EXIT => {
            let status = c.varint_u32()?;
            let group_dead = c.bool()?;
            EventBody::Exit(ExitEvent { status, group_dead })
        }
        REC_CGROUP_MKDIR => {
            let cgroup_id = c.varint()?;
            let path = spares.bytes_from(c.lp_bytes()?);
            EventBody::CgroupMkdir(CgroupEvent { cgroup_id, path })
        }
        _ => return Ok(None),
    }))
}

fn opt_bytes(c: &mut Cursor<'_>, spares: &mut Spares) -> Result<Option<Vec<u8>>, Malformed> {
    Ok(if c.bool()? {
        Some(spares.bytes_from(c.lp_bytes()?))
    } else {
        None
    })
}

/// `None` for a parameter type from a newer minor version.
fn decode_param_value(
    tag: u8,
    body: &[u8],
    spares: &mut Spares,
) -> Result<Option<ParamValue>, Malformed> {
    let mut c = Cursor::new(body);
    Ok(Some(match tag {
        P_PATH => ParamValue::Path(spares.bytes_from(body)),
        P_STR => ParamValue::Str(spares.bytes_from(body)),
        P_FD => ParamValue::Fd(zigzag_i32(&mut c)?),
        P_FDS => {
            let n = c.count(1)?;
            let mut fds = Vec::with_capacity(n);
            for _ in 0..n {
                fds.push(zigzag_i32(&mut c)?);
            }
            ParamValue::Fds(fds)
        }
        P_SOCKADDR => ParamValue::SockAddr(decode_sockaddr(&mut c, spares)?),
        P_BUFFER => {
            let cut = buffer_cut(&mut c)?;
            let original_len = c.varint()?;
            let data = spares.bytes_from(c.bytes(c.remaining())?);
            ParamValue::Buffer(Buffer {
                data,
                original_len,
                cut,
            })
        }
        P_STRLIST => {
            let truncated = c.bool()?;
            let n = c.count(1)?;
            let mut items = spares.list(n);
            for _ in 0..n {
                items.push(spares.bytes_from(c.lp_bytes()?));
            }
            ParamValue::StrList { items, truncated }
        }
        _ => return Ok(None),
    }))
}

fn zigzag_i32(c: &mut Cursor<'_>) -> Result<i32, Malformed> {
    let v = c.zigzag()?;
    i32::try_from(v).map_err(|_| c.err("fd does not fit in 32 bits"))
}

fn decode_sockaddr(c: &mut Cursor<'_>, spares: &mut Spares) -> Result<SockAddr, Malformed> {
    Ok(match c.u8()? {
        SA_INET => {
            let addr = c.array::<4>()?;
            let port = c.u16le()?;
            SockAddr::Inet { addr, port }
        }
        SA_INET6 => {
            let addr = c.array::<16>()?;
            let port = c.u16le()?;
            let scope_id = c.u32le()?;
            SockAddr::Inet6 {
                addr,
                port,
                scope_id,
            }
        }
        SA_UNIX => SockAddr::Unix(spares.bytes_from(c.bytes(c.remaining())?)),
        SA_OTHER => {
            let family = c.u16le()?;
            SockAddr::Other {
                family,
                raw: spares.bytes_from(c.bytes(c.remaining())?),
            }
        }
        _ => return Err(c.err("unknown socket address type")),
    })
}

/// An empty vector with room for `capacity`, from `pool` when it has one to give back.
#[inline]
fn reuse<T>(pool: &mut Vec<Vec<T>>, capacity: usize) -> Vec<T> {
    match pool.pop() {
        Some(mut v) => {
            v.clear();
            v.reserve(capacity);
            v
        }
        None => Vec::with_capacity(capacity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_event(ts: u64) -> Event {
        Event {
            ts,
            cpu: 1,
            pid: 7,
            tid: 8,
            body: EventBody::Exit(ExitEvent {
                status: 0,
                group_dead: false,
            }),
        }
    }

    fn syscall_event(ts: u64, params: Vec<Param>) -> Event {
        Event {
            ts,
            cpu: 0,
            pid: 7,
            tid: 7,
            body: EventBody::Syscall(SyscallEvent {
                nr: 0,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args: [3, 0x7fff_0000, 10, 0, 0, 0],
                ret: Some(10),
                duration_ns: None,
                cgroup_id: 9,
                params,
            }),
        }
    }

    fn assemble(streams: &[Vec<u8>]) -> Vec<u8> {
        let mut raw = Vec::new();
        put_varint(&mut raw, streams.len() as u64);
        for s in streams {
            put_varint(&mut raw, s.len() as u64);
        }
        for s in streams {
            raw.extend_from_slice(s);
        }
        raw
    }

    /// What a newer minor version might write: an unknown record type, an unknown
    /// parameter type, a field appended to a record body, and an extra stream.
    #[test]
    fn newer_minor_additions_are_skipped() {
        let mut enc = ColumnEncoder::default();
        enc.encode(&exit_event(1000));
        // Append a field to the exit record's body: [len=2, status, dead] -> [len=3, .., x].
        enc.streams[S_BODY] = vec![3, 0, 0, 0x77];
        // Unknown record 0x40 at ts 1500.
        enc.streams[S_TAG].push(0x40);
        put_zigzag(&mut enc.streams[S_TS], 500);
        enc.streams[S_CPU].push(0);
        enc.streams[S_PID].push(7);
        enc.streams[S_TID].push(0);
        put_lp_bytes(&mut enc.streams[S_BODY], &[0xde, 0xad]);
        enc.prev_ts = 1500;
        enc.encode(&syscall_event(1600, Vec::new()));
        // Its params: an unknown type 99, then Fd(3) in slot 1.
        enc.streams[S_PARAMS] = vec![2, 0, 99, 2, 0xaa, 0xbb, 1, P_FD, 1, 6];
        let mut streams = enc.streams.to_vec();
        streams.push(b"a stream from the future".to_vec());
        let raw = assemble(&streams);

        let events = decode_all(&raw, 3).expect("decodes");
        assert_eq!(
            events,
            vec![
                exit_event(1000),
                syscall_event(
                    1600,
                    vec![Param {
                        slot: 1,
                        value: ParamValue::Fd(3)
                    }]
                )
            ]
        );
        assert!(
            decode_all(&raw, 2).is_err(),
            "leftover stream data is caught"
        );
        assert!(decode_all(&raw, 4).is_err(), "missing records are caught");
    }

    #[test]
    fn arguments_repeat_as_zero_differences() {
        let mut enc = ColumnEncoder::default();
        for i in 0..100 {
            enc.encode(&syscall_event(i, Vec::new()));
        }
        // After the first call, every argument and the cgroup match the prediction: the
        // streams end in 99 one-byte zeros.
        for k in [S_ARG0, S_ARG0 + 1, S_ARG0 + 2, S_ARG0 + 5, S_CGROUP] {
            let s = &enc.streams[k];
            assert!(
                s.len() > 99 && s[s.len() - 99..].iter().all(|&b| b == 0),
                "stream {k}"
            );
        }
        let mut raw = Vec::new();
        enc.finish_into(&mut raw);
        let events = decode_all(&raw, 100).expect("decodes");
        assert_eq!(events.len(), 100);
        assert_eq!(events[99], syscall_event(99, Vec::new()));
    }

    #[test]
    fn rollback_restores_the_encoder_exactly() {
        let mut a = ColumnEncoder::default();
        let mut b = ColumnEncoder::default();
        let first = syscall_event(5, Vec::new());
        let mut second = syscall_event(9, Vec::new());
        if let EventBody::Syscall(s) = &mut second.body {
            s.args[0] = 42;
        }
        a.encode(&first);
        b.encode(&first);
        let mark = a.mark(&second);
        a.encode(&second);
        a.rollback(mark);
        a.encode(&exit_event(20));
        b.encode(&exit_event(20));
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        a.finish_into(&mut ra);
        b.finish_into(&mut rb);
        assert_eq!(ra, rb);
    }

    #[test]
    fn malformed_chunks_are_errors_not_panics() {
        let mut enc = ColumnEncoder::default();
        enc.encode(&exit_event(5));
        enc.encode(&syscall_event(6, Vec::new()));
        let mut raw = Vec::new();
        enc.finish_into(&mut raw);
        for cut in 0..raw.len() {
            assert!(decode_all(&raw[..cut], 2).is_err());
        }
        for at in 0..raw.len() {
            let mut bad = raw.clone();
            bad[at] ^= 0xff;
            let _ = decode_all(&bad, 2);
        }
        assert!(
            decode_all(&assemble(&[vec![], vec![]]), 0).is_err(),
            "too few streams"
        );
    }
}
