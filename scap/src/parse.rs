//! The scap block stream, parsed from bytes with no I/O.
//!
//! A scap file is a pcapng-style sequence of blocks: `u32 type, u32 total length, body,
//! padding to 4 bytes, u32 total length again`. The first block is the section header
//! (type 0x0A0D0D0A, byte-order magic 0x1A2B3C4D, major/minor version). Everything is
//! little-endian (the byte order of the machines sysdig and Falco run on; a byte-swapped
//! magic is refused with a clear error). Block kinds grew versions over the years; since
//! scap 1.2 a block's entries carry their own length, so a reader tells new fields from
//! old by length, never by the file's minor version.

use std::collections::BTreeMap;

use crate::table;

pub const SHB: u32 = 0x0A0D_0D0A;
pub const SHB_MAGIC: u32 = 0x1A2B_3C4D;
pub const MI: u32 = 0x201;
pub const MI_INT: u32 = 0x8002_ABCD;
pub const PL_V1: u32 = 0x202;
pub const PL_V1_INT: u32 = 0x8000_ABCD;
pub const PL_V2: u32 = 0x207;
pub const PL_V2_INT: u32 = 0x8013_ABCD;
pub const PL_V3: u32 = 0x209;
pub const PL_V3_INT: u32 = 0x8014_ABCD;
pub const PL_V4: u32 = 0x210;
pub const PL_V5: u32 = 0x211;
pub const PL_V6: u32 = 0x212;
pub const PL_V7: u32 = 0x213;
pub const PL_V8: u32 = 0x214;
pub const PL_V9: u32 = 0x215;
pub const FDL: u32 = 0x203;
pub const FDL_INT: u32 = 0x8001_ABCD;
pub const FDL_V2: u32 = 0x218;
pub const EV: u32 = 0x204;
pub const EV_INT: u32 = 0x8010_ABCD;
pub const EV_V2: u32 = 0x216;
pub const EV_V2_LARGE: u32 = 0x221;
pub const EVF: u32 = 0x208;
pub const EVF_V2: u32 = 0x217;
pub const EVF_V2_LARGE: u32 = 0x222;
pub const IL: u32 = 0x205;
pub const IL_INT: u32 = 0x8011_ABCD;
pub const IL_V2: u32 = 0x219;
pub const UL: u32 = 0x206;
pub const UL_INT: u32 = 0x8012_ABCD;
pub const UL_V2: u32 = 0x220;

/// Why a scap file could not be read at all (everything else is a loss in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a scap file: it does not start with a section header block (0x0A0D0D0A)")]
    NotScap,
    #[error("scap section header: byte-order magic {0:#010x} (0x1A2B3C4D expected; big-endian scap files are not supported)")]
    ByteOrder(u32),
    #[error("scap major version {0} is newer than this reader (1)")]
    Version(u16),
    #[error("gzip-compressed scap file: {0}")]
    Gzip(String),
}

/// What the reader skipped or lost, for the responder to see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Byte ranges of the (decompressed) file that could not be parsed, with why.
    pub lost: Vec<Lost>,
    /// Blocks of kinds this reader does not know, by type: skipped whole.
    pub unknown_blocks: BTreeMap<u32, u64>,
    /// Events of types not in the event table, by type number: skipped.
    pub unknown_events: BTreeMap<u16, u64>,
    /// Events whose body does not match their header or the table: skipped.
    pub malformed_events: u64,
    /// The gzip stream ended early or was damaged (what came before is used).
    pub gzip_error: Option<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.unknown_blocks.is_empty()
            && self.unknown_events.is_empty()
            && self.malformed_events == 0
            && self.gzip_error.is_none()
    }

    pub fn lost_bytes(&self) -> u64 {
        self.lost.iter().map(|l| l.len).sum()
    }

    /// One line per kind of loss, for warnings and metadata.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(g) = &self.gzip_error {
            out.push(format!("gzip stream damaged or cut short: {g}"));
        }
        for l in &self.lost {
            out.push(format!(
                "{} bytes lost at offset {}: {}",
                l.len, l.offset, l.why
            ));
        }
        for (t, n) in &self.unknown_blocks {
            out.push(format!("{n} block(s) of unknown type {t:#x} skipped"));
        }
        if !self.unknown_events.is_empty() {
            let n: u64 = self.unknown_events.values().sum();
            let types: Vec<String> = self
                .unknown_events
                .iter()
                .map(|(t, n)| format!("{}x{n}", table::name_of(*t)))
                .collect();
            out.push(format!(
                "{n} event(s) of types this reader does not decode skipped: {}",
                types.join(", ")
            ));
        }
        if self.malformed_events > 0 {
            out.push(format!(
                "{} malformed event(s) skipped",
                self.malformed_events
            ));
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    pub offset: u64,
    pub len: u64,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineInfo {
    pub num_cpus: u32,
    pub memory_bytes: u64,
    pub max_pid: u64,
    pub hostname: String,
    /// Host boot time, ns since the epoch; 0 when the writer did not record it.
    pub boot_ts_epoch: u64,
}

/// One thread of the process list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub comm: Vec<u8>,
    /// argv[0].
    pub exe: Vec<u8>,
    /// The resolved executable (PL v7+), empty when unknown.
    pub exepath: Vec<u8>,
    /// argv[1..].
    pub args: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub vtid: Option<i64>,
    pub vpid: Option<i64>,
    /// `subsys=path` entries.
    pub cgroups: Vec<Vec<u8>>,
    pub root: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdDetail {
    /// A name (path, pipe:[ino], ...), with scap's fd type number.
    Named {
        kind: u8,
        name: Vec<u8>,
    },
    File {
        open_flags: u32,
        name: Vec<u8>,
    },
    Ipv4 {
        sip: [u8; 4],
        dip: [u8; 4],
        sport: u16,
        dport: u16,
        proto: u8,
    },
    Ipv4Server {
        ip: [u8; 4],
        port: u16,
        proto: u8,
    },
    Ipv6 {
        sip: [u8; 16],
        dip: [u8; 16],
        sport: u16,
        dport: u16,
        proto: u8,
    },
    Ipv6Server {
        ip: [u8; 16],
        port: u16,
        proto: u8,
    },
    Unix {
        source: u64,
        dest: u64,
        name: Vec<u8>,
    },
    /// A type this reader does not know (from a newer writer).
    Unsupported(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdEntry {
    pub tid: u64,
    pub fd: i64,
    pub ino: u64,
    pub detail: FdDetail,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
    pub shell: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub gid: u32,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// `a.b.c.d` or an IPv6 address, as text.
    pub addr: String,
}

/// One event as stored: its parameters are raw byte slices, decoded by [`crate::table`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent<'a> {
    pub cpu: u16,
    /// The EVF blocks' flags (0 for EV blocks).
    pub flags: u32,
    /// Nanoseconds since the epoch.
    pub ts: u64,
    pub tid: u64,
    pub etype: u16,
    pub params: Vec<&'a [u8]>,
    /// Offset of its block in the (decompressed) file.
    pub offset: u64,
}

/// A whole scap file, parsed.
#[derive(Clone, Debug, Default)]
pub struct Parsed<'a> {
    pub version: (u16, u16),
    pub machine: Option<MachineInfo>,
    pub threads: Vec<ThreadInfo>,
    pub fds: Vec<FdEntry>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub interfaces: Vec<Interface>,
    pub events: Vec<RawEvent<'a>>,
    pub report: Report,
}

/// True if `bytes` start like a scap file, plain or gzip-compressed (the caller then
/// decompresses with [`decompress`]). Decided by magic, never by the file name.
pub fn is_scap(bytes: &[u8]) -> bool {
    bytes.starts_with(&SHB.to_le_bytes()) || is_gzip(bytes)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The plain scap bytes: `bytes` itself, or its gzip stream inflated. A gzip stream cut
/// short yields what it had, with the error.
pub fn decompress(bytes: &[u8]) -> Result<(std::borrow::Cow<'_, [u8]>, Option<String>), Error> {
    if !is_gzip(bytes) {
        return Ok((std::borrow::Cow::Borrowed(bytes), None));
    }
    use std::io::Read;
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(bytes);
    // read_to_end keeps what was inflated before an error: a truncated .scap.gz still
    // yields its first events.
    let err = d.read_to_end(&mut out).err().map(|e| e.to_string());
    if out.is_empty() {
        if let Some(e) = err {
            return Err(Error::Gzip(e));
        }
    }
    Ok((std::borrow::Cow::Owned(out), err))
}

/// A bounds-checked little-endian cursor.
#[derive(Clone, Copy)]
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, pos: 0 }
    }
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    /// A `u16` length and that many bytes (scap's on-disk strings, not NUL-terminated).
    fn str16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.bytes(n)
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(cstr(b)).into_owned()
}

/// NUL-separated strings (argv, cgroups), without the empty tail.
pub fn split_nul(b: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = b.split(|&c| c == 0).map(<[u8]>::to_vec).collect();
    if v.last().is_some_and(Vec::is_empty) {
        v.pop();
    }
    v
}

fn is_known_block(t: u32) -> bool {
    matches!(
        t,
        SHB | MI
            | MI_INT
            | PL_V1
            | PL_V1_INT
            | PL_V2
            | PL_V2_INT
            | PL_V3
            | PL_V3_INT
            | PL_V4
            | PL_V5
            | PL_V6
            | PL_V7
            | PL_V8
            | PL_V9
            | FDL
            | FDL_INT
            | FDL_V2
            | EV
            | EV_INT
            | EV_V2
            | EV_V2_LARGE
            | EVF
            | EVF_V2
            | EVF_V2_LARGE
            | IL
            | IL_INT
            | IL_V2
            | UL
            | UL_INT
            | UL_V2
    )
}

/// A block whose two length fields agree and which fits in `data` at `off`.
fn frame_at(data: &[u8], off: usize) -> Option<(u32, &[u8])> {
    let mut c = Cur::new(data.get(off..)?);
    let t = c.u32()?;
    let len = c.u32()? as usize;
    if len < 12 || !len.is_multiple_of(4) {
        return None;
    }
    let block = data.get(off..off.checked_add(len)?)?;
    let trailer = u32::from_le_bytes(block[len - 4..].try_into().ok()?) as usize;
    if trailer != len {
        return None;
    }
    Some((t, &block[8..len - 4]))
}

/// The next offset after `from` where a known block kind frames correctly: where reading
/// resumes after damage.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut off = from.next_multiple_of(4);
    while off + 12 <= data.len() {
        if let Some((t, _)) = frame_at(data, off) {
            if is_known_block(t) && t != SHB {
                return Some(off);
            }
        }
        off += 4;
    }
    None
}

/// Parses a plain (decompressed) scap file. Framing damage, truncation and unknown blocks
/// are reported, not fatal: everything that frames correctly is kept.
pub fn parse(data: &[u8]) -> Result<Parsed<'_>, Error> {
    let mut p = Parsed::default();
    let Some((SHB, body)) = frame_at(data, 0) else {
        if data.starts_with(&SHB.to_le_bytes()) && data.len() >= 28 {
            // A section header whose length fields disagree: say what is wrong with it.
            let magic = u32::from_le_bytes(data[8..12].try_into().unwrap_or_default());
            if magic != SHB_MAGIC {
                return Err(Error::ByteOrder(magic));
            }
        }
        return Err(Error::NotScap);
    };
    let mut c = Cur::new(body);
    let magic = c.u32().ok_or(Error::NotScap)?;
    if magic != SHB_MAGIC {
        return Err(Error::ByteOrder(magic));
    }
    let major = c.u16().ok_or(Error::NotScap)?;
    let minor = c.u16().ok_or(Error::NotScap)?;
    if major > 1 {
        return Err(Error::Version(major));
    }
    p.version = (major, minor);
    let mut off = body.len() + 12;
    while off < data.len() {
        let Some((t, body)) = frame_at(data, off) else {
            let why = if data.len() - off < 12
                || frame_len(data, off).is_some_and(|l| off + l > data.len())
            {
                "block cut short (file truncated)"
            } else {
                "damaged block framing"
            };
            match resync(data, off + 4) {
                Some(next) => {
                    p.report.lost.push(Lost {
                        offset: off as u64,
                        len: (next - off) as u64,
                        why: why.into(),
                    });
                    off = next;
                    continue;
                }
                None => {
                    p.report.lost.push(Lost {
                        offset: off as u64,
                        len: (data.len() - off) as u64,
                        why: why.into(),
                    });
                    break;
                }
            }
        };
        let block_len = body.len() + 12;
        let ok = match t {
            SHB => {
                // A second section: scap files are one section; its blocks read on alike.
                true
            }
            MI | MI_INT => {
                p.machine = machine_info(body);
                p.machine.is_some()
            }
            PL_V1 | PL_V1_INT | PL_V2 | PL_V2_INT | PL_V3 | PL_V3_INT | PL_V4 | PL_V5 | PL_V6
            | PL_V7 | PL_V8 | PL_V9 => proclist(body, t, &mut p.threads),
            FDL | FDL_INT | FDL_V2 => fdlist(body, t, &mut p.fds),
            UL | UL_INT | UL_V2 => userlist(body, t, &mut p.users, &mut p.groups),
            IL | IL_INT | IL_V2 => iflist(body, t, &mut p.interfaces),
            EV | EV_INT | EV_V2 | EV_V2_LARGE | EVF | EVF_V2 | EVF_V2_LARGE => {
                match event(body, t, off as u64) {
                    Ok(e) => p.events.push(e),
                    Err(EventSkip::Unknown(ty)) => {
                        *p.report.unknown_events.entry(ty).or_default() += 1
                    }
                    Err(EventSkip::Malformed) => p.report.malformed_events += 1,
                }
                true
            }
            other => {
                *p.report.unknown_blocks.entry(other).or_default() += 1;
                true
            }
        };
        if !ok {
            p.report.lost.push(Lost {
                offset: off as u64,
                len: block_len as u64,
                why: format!("block {t:#x} does not parse (kept what came before it)"),
            });
        }
        off += block_len;
    }
    Ok(p)
}

fn frame_len(data: &[u8], off: usize) -> Option<usize> {
    Some(u32::from_le_bytes(data.get(off + 4..off + 8)?.try_into().ok()?) as usize)
}

fn machine_info(b: &[u8]) -> Option<MachineInfo> {
    let mut c = Cur::new(b);
    let num_cpus = c.u32()?;
    let memory_bytes = c.u64()?;
    let max_pid = c.u64()?;
    let hostname = lossy(c.bytes(128)?);
    // Older writers called this field reserved1 and left it 0.
    let boot_ts_epoch = c.u64().unwrap_or(0);
    Some(MachineInfo {
        num_cpus,
        memory_bytes,
        max_pid,
        hostname,
        boot_ts_epoch,
    })
}

/// Process list entries of every version; `false` if one does not parse (the entries
/// before it are kept).
fn proclist(b: &[u8], t: u32, out: &mut Vec<ThreadInfo>) -> bool {
    let v = match t {
        PL_V1 | PL_V1_INT => 1,
        PL_V2 | PL_V2_INT => 2,
        PL_V3 | PL_V3_INT => 3,
        PL_V4 => 4,
        PL_V5 => 5,
        PL_V6 => 6,
        PL_V7 => 7,
        PL_V8 => 8,
        _ => 9,
    };
    let mut c = Cur::new(b);
    // Entries end where fewer than 4 bytes (the block's padding) are left.
    while c.left() >= 4 {
        let start = c.pos;
        let Some((ti, sub_len)) = thread_entry(&mut c, v) else {
            return false;
        };
        if let Some(n) = sub_len {
            // v9 entries carry their length: newer fields after the ones read here are
            // skipped by it.
            let used = c.pos - start;
            if (n as usize) < used || c.bytes(n as usize - used).is_none() {
                return false;
            }
        }
        out.push(ti);
    }
    true
}

fn thread_entry(c: &mut Cur<'_>, v: u32) -> Option<(ThreadInfo, Option<u32>)> {
    let sub_len = if v >= 9 { Some(c.u32()?) } else { None };
    let mut t = ThreadInfo {
        tid: c.u64()?,
        pid: c.u64()?,
        ptid: c.u64()?,
        ..ThreadInfo::default()
    };
    if v >= 6 {
        c.u64()?; // sid
    }
    if v >= 8 {
        c.u64()?; // vpgid
    }
    t.comm = c.str16()?.to_vec();
    t.exe = c.str16()?.to_vec();
    if v >= 7 {
        t.exepath = c.str16()?.to_vec();
    }
    t.args = split_nul(c.str16()?);
    t.cwd = c.str16()?.to_vec();
    c.u64()?; // fdlimit
    c.u32()?; // flags
    t.uid = c.u32()?;
    t.gid = c.u32()?;
    if v >= 2 {
        c.bytes(4 + 4 + 4 + 8 + 8)?; // vmsize, vmrss, vmswap, pfmajor, pfminor
        if v >= 3 {
            c.str16()?; // env: not kept (secrets; the model has no place for it)
        }
        if v >= 4 {
            t.vtid = Some(c.u64()? as i64);
            t.vpid = Some(c.u64()? as i64);
            t.cgroups = split_nul(c.str16()?);
            if v >= 5 {
                t.root = c.str16()?.to_vec();
            }
        }
    }
    Some((t, sub_len))
}

fn fdlist(b: &[u8], t: u32, out: &mut Vec<FdEntry>) -> bool {
    let mut c = Cur::new(b);
    let Some(tid) = c.u64() else { return false };
    while c.left() >= 4 {
        let start = c.pos;
        let sub_len = if t == FDL_V2 {
            match c.u32() {
                Some(n) => Some(n as usize),
                None => return false,
            }
        } else {
            None
        };
        let Some(e) = fd_entry(&mut c, tid, sub_len.map(|n| start + n)) else {
            return false;
        };
        if let Some(n) = sub_len {
            let used = c.pos - start;
            if n < used || c.bytes(n - used).is_none() {
                return false;
            }
        }
        out.push(e);
    }
    true
}

fn fd_entry(c: &mut Cur<'_>, tid: u64, end: Option<usize>) -> Option<FdEntry> {
    let fd = c.u64()? as i64;
    let ino = c.u64()?;
    let kind = c.u8()?;
    let detail = match kind {
        3 => FdDetail::Ipv4 {
            sip: c.arr()?,
            dip: c.arr()?,
            sport: c.u16()?,
            dport: c.u16()?,
            proto: c.u8()?,
        },
        5 => FdDetail::Ipv4Server {
            ip: c.arr()?,
            port: c.u16()?,
            proto: c.u8()?,
        },
        4 => FdDetail::Ipv6 {
            sip: c.arr()?,
            dip: c.arr()?,
            sport: c.u16()?,
            dport: c.u16()?,
            proto: c.u8()?,
        },
        6 => FdDetail::Ipv6Server {
            ip: c.arr()?,
            port: c.u16()?,
            proto: c.u8()?,
        },
        8 => FdDetail::Unix {
            source: c.u64()?,
            dest: c.u64()?,
            name: c.str16()?.to_vec(),
        },
        16 => {
            let open_flags = c.u32()?;
            let name = c.str16()?.to_vec();
            // FILE_V2 entries of FDL v2 may add the device after the name.
            if end.is_some_and(|e| c.pos + 4 <= e) {
                c.u32()?;
            }
            FdDetail::File { open_flags, name }
        }
        1 | 2 | 7 | 9..=15 | 17..=21 => FdDetail::Named {
            kind,
            name: c.str16()?.to_vec(),
        },
        // An unknown type has an unknown body: only a length-carrying entry can be
        // skipped past; without one the rest of the block is unreadable.
        _ if end.is_some() => FdDetail::Unsupported(kind),
        _ => return None,
    };
    Some(FdEntry {
        tid,
        fd,
        ino,
        detail,
    })
}

fn userlist(b: &[u8], t: u32, users: &mut Vec<User>, groups: &mut Vec<Group>) -> bool {
    let mut c = Cur::new(b);
    while c.left() >= 4 {
        let start = c.pos;
        let sub_len = if t == UL_V2 {
            match c.u32() {
                Some(n) => Some(n as usize),
                None => return false,
            }
        } else {
            None
        };
        let ok = (|| -> Option<()> {
            if c.u8()? == 0 {
                users.push(User {
                    uid: c.u32()?,
                    gid: c.u32()?,
                    name: lossy(c.str16()?),
                    home: lossy(c.str16()?),
                    shell: lossy(c.str16()?),
                });
            } else {
                groups.push(Group {
                    gid: c.u32()?,
                    name: lossy(c.str16()?),
                });
            }
            Some(())
        })();
        if ok.is_none() {
            return false;
        }
        if let Some(n) = sub_len {
            let used = c.pos - start;
            if n < used || c.bytes(n - used).is_none() {
                return false;
            }
        }
    }
    true
}

fn iflist(b: &[u8], t: u32, out: &mut Vec<Interface>) -> bool {
    let mut c = Cur::new(b);
    while c.left() >= 4 {
        let start = c.pos;
        let entry_len = if t == IL_V2 {
            match c.u32() {
                Some(n) => Some(n as usize + 4),
                None => return false,
            }
        } else {
            None
        };
        let ok = (|| -> Option<()> {
            let ty = c.u16()?;
            let namelen = c.u16()? as usize;
            let addr = match ty {
                1 | 3 => {
                    let a: [u8; 4] = c.arr()?;
                    c.bytes(8)?; // netmask, broadcast
                    std::net::Ipv4Addr::from(a).to_string()
                }
                2 | 4 => {
                    let a: [u8; 16] = c.arr()?;
                    c.bytes(32)?;
                    std::net::Ipv6Addr::from(a).to_string()
                }
                _ => return None,
            };
            if ty <= 2 {
                c.u64()?; // link speed
            }
            let name = lossy(c.bytes(namelen)?);
            out.push(Interface { name, addr });
            Some(())
        })();
        if ok.is_none() {
            return false;
        }
        if let Some(n) = entry_len {
            let used = c.pos - start;
            if n < used || c.bytes(n - used).is_none() {
                return false;
            }
        }
    }
    true
}

enum EventSkip {
    Unknown(u16),
    Malformed,
}

fn event(b: &[u8], t: u32, offset: u64) -> Result<RawEvent<'_>, EventSkip> {
    let mut c = Cur::new(b);
    let cpu = c.u16().ok_or(EventSkip::Malformed)?;
    let flags = if matches!(t, EVF | EVF_V2 | EVF_V2_LARGE) {
        c.u32().ok_or(EventSkip::Malformed)?
    } else {
        0
    };
    let ev_start = c.pos;
    let ts = c.u64().ok_or(EventSkip::Malformed)?;
    let tid = c.u64().ok_or(EventSkip::Malformed)?;
    let len = c.u32().ok_or(EventSkip::Malformed)? as usize;
    let etype = c.u16().ok_or(EventSkip::Malformed)?;
    let v2 = matches!(t, EV_V2 | EV_V2_LARGE | EVF_V2 | EVF_V2_LARGE);
    let large = matches!(t, EV_V2_LARGE | EVF_V2_LARGE);
    let nparams = if v2 {
        Some(c.u32().ok_or(EventSkip::Malformed)? as usize)
    } else {
        None
    };
    let hdr = c.pos - ev_start;
    // The event's own length bounds it; block padding follows.
    let ev = b
        .get(ev_start..ev_start.checked_add(len).ok_or(EventSkip::Malformed)?)
        .ok_or(EventSkip::Malformed)?;
    if len < hdr {
        return Err(EventSkip::Malformed);
    }
    let rest = &ev[hdr..];
    let info = table::lookup(etype);
    let nparams = match nparams {
        Some(n) => n,
        None => {
            // Version 1 events do not store their parameter count: it is the table's,
            // or fewer for events written before parameters were appended, the one
            // count whose lengths add up to the event's length.
            let Some(info) = info else {
                return Err(EventSkip::Unknown(etype));
            };
            (0..=info.params.len())
                .rev()
                .find(|&n| {
                    let lens = n * 2;
                    lens <= rest.len()
                        && (0..n)
                            .map(|i| u16::from_le_bytes([rest[2 * i], rest[2 * i + 1]]) as usize)
                            .sum::<usize>()
                            == rest.len() - lens
                })
                .ok_or(EventSkip::Malformed)?
        }
    };
    let lsize = if large { 4 } else { 2 };
    // The count comes from the file: it cannot exceed what the lengths' bytes allow.
    if nparams > rest.len() / lsize {
        return Err(EventSkip::Malformed);
    }
    let mut lc = Cur::new(rest);
    let mut lens = Vec::with_capacity(nparams);
    for _ in 0..nparams {
        let l = if large {
            lc.u32().map(|x| x as usize)
        } else {
            lc.u16().map(usize::from)
        };
        lens.push(l.ok_or(EventSkip::Malformed)?);
    }
    let mut dc = Cur::new(&rest[nparams * lsize..]);
    let mut params = Vec::with_capacity(nparams);
    for l in lens {
        params.push(dc.bytes(l).ok_or(EventSkip::Malformed)?);
    }
    if info.is_none() {
        return Err(EventSkip::Unknown(etype));
    }
    Ok(RawEvent {
        cpu,
        flags,
        ts,
        tid,
        etype,
        params,
        offset,
    })
}
