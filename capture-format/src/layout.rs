//! The fixed-size structures of the file: header, block framing, chunk header, tail.
//! Pure functions over byte slices; `docs/capture-format.md` is the normative description.

use crate::error::{Error, Malformed};
use crate::wire::Cursor;

/// PNG-style: the high-bit byte catches 7-bit transports, CR LF catches text-mode newline
/// conversion in either direction.
pub const FILE_MAGIC: [u8; 8] = *b"\x89ATCAP\r\n";
pub const FILE_HEADER_LEN: usize = 32;
pub const VERSION_MAJOR: u16 = 1;
/// 1.1 added the hash chain (CHAIN blocks); 1.0 readers skip them as an unknown kind.
pub const VERSION_MINOR: u16 = 1;

/// Starts every block, so a recovery scan can find the next block after damage.
pub const BLOCK_SYNC: [u8; 4] = *b"ATBK";
pub const BLOCK_HEADER_LEN: usize = 16;
pub const BLOCK_TRAILER_LEN: usize = 4;
/// Header plus trailer: what a block costs beyond its payload.
pub const BLOCK_OVERHEAD: usize = BLOCK_HEADER_LEN + BLOCK_TRAILER_LEN;

pub const TAIL_MAGIC: [u8; 8] = *b"ATCAPEND";
pub const TAIL_LEN: usize = 24;

/// Bigger chunks or metadata payloads are refused by readers, which bounds what a corrupt or
/// hostile header can make a reader allocate.
pub const MAX_CHUNK_RAW_LEN: u64 = 64 << 20;
pub const MAX_METADATA_RAW_LEN: u64 = 256 << 20;

pub const CHUNK_HEADER_LEN: usize = 48;
/// Records split into columns (see the spec, "Event encoding 1").
pub const ENCODING_COLUMNS_V1: u8 = 1;
pub const CODEC_ZSTD: u8 = 1;

/// The kinds of block this version knows. Other values are skipped by readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum BlockKind {
    Host = 0x0001,
    Clocks = 0x0002,
    Processes = 0x0003,
    Containers = 0x0004,
    Users = 0x0005,
    Alert = 0x0006,
    Drops = 0x0007,
    /// A link of the hash chain, or its end (format 1.1).
    Chain = 0x0008,
    Events = 0x0010,
    Index = 0x0020,
}

impl BlockKind {
    pub fn from_u16(v: u16) -> Option<BlockKind> {
        Some(match v {
            0x0001 => BlockKind::Host,
            0x0002 => BlockKind::Clocks,
            0x0003 => BlockKind::Processes,
            0x0004 => BlockKind::Containers,
            0x0005 => BlockKind::Users,
            0x0006 => BlockKind::Alert,
            0x0007 => BlockKind::Drops,
            0x0008 => BlockKind::Chain,
            0x0010 => BlockKind::Events,
            0x0020 => BlockKind::Index,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Host => "host",
            BlockKind::Clocks => "clocks",
            BlockKind::Processes => "processes",
            BlockKind::Containers => "containers",
            BlockKind::Users => "users",
            BlockKind::Alert => "alert",
            BlockKind::Drops => "drops",
            BlockKind::Chain => "chain",
            BlockKind::Events => "events",
            BlockKind::Index => "index",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub major: u16,
    pub minor: u16,
    pub flags: u32,
    pub file_id: [u8; 16],
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..10].copy_from_slice(&self.major.to_le_bytes());
        b[10..12].copy_from_slice(&self.minor.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..32].copy_from_slice(&self.file_id);
        b
    }

    /// Every failure here is fatal: without a header there is nothing to frame.
    pub fn parse(bytes: &[u8]) -> Result<FileHeader, Error> {
        if bytes.len() < FILE_MAGIC.len() {
            return Err(Error::not_a_capture(format!(
                "only {} bytes long, too short for the file header",
                bytes.len()
            )));
        }
        let magic = &bytes[..8];
        if magic != FILE_MAGIC {
            return Err(Error::not_a_capture(describe_bad_magic(magic)));
        }
        if bytes.len() < FILE_HEADER_LEN {
            return Err(Error::not_a_capture(format!(
                "cut short inside the {FILE_HEADER_LEN}-byte file header ({} bytes)",
                bytes.len()
            )));
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let major = u16_at(8);
        let minor = u16_at(10);
        let flags = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let mut file_id = [0u8; 16];
        file_id.copy_from_slice(&bytes[16..32]);
        if major == 0 {
            return Err(Error::not_a_capture(
                "version 0.x in the header; no such version was ever written",
            ));
        }
        if major > VERSION_MAJOR {
            return Err(Error::UnsupportedVersion {
                found: (major, minor),
                supported: (VERSION_MAJOR, VERSION_MINOR),
            });
        }
        if flags != 0 {
            return Err(Error::HeaderFlags { flags });
        }
        Ok(FileHeader {
            major,
            minor,
            flags,
            file_id,
        })
    }
}

fn describe_bad_magic(magic: &[u8]) -> String {
    // Name the usual ways a capture gets mangled, so the user knows to re-transfer it.
    if magic.starts_with(b"\x89ATCAP\n") || magic.starts_with(b"\x89ATCAP\r\r\n") {
        "the file's line endings were converted (transferred in text mode?); copy it again in binary mode".into()
    } else if magic.starts_with(b"\x09ATCAP") || magic.starts_with(b"\xc2\x89ATCAP") {
        "the file went through a 7-bit or text transport that altered byte 0; copy it again in binary mode".into()
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "this is a bare zstd stream, not a capture".into()
    } else {
        format!("wrong magic bytes {magic:02x?}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub kind: u16,
    pub flags: u16,
    pub payload_len: u64,
}

impl BlockHeader {
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&BLOCK_SYNC);
        b[4..6].copy_from_slice(&self.kind.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.payload_len.to_le_bytes());
        b
    }
}

/// A block whose framing and CRC hold. Borrowed from the file bytes.
#[derive(Clone, Copy, Debug)]
pub struct BlockView<'a> {
    pub offset: u64,
    pub kind: u16,
    pub payload: &'a [u8],
}

impl BlockView<'_> {
    /// Total length on disk: header, payload and trailer.
    pub fn total_len(&self) -> u64 {
        (BLOCK_OVERHEAD + self.payload.len()) as u64
    }

    pub fn end(&self) -> u64 {
        self.offset + self.total_len()
    }
}

/// Checks one block at `offset`: sync marker, reserved flags, length within the file, CRC.
/// On failure the error says why; the caller decides whether to resync.
pub fn parse_block(file: &[u8], offset: u64) -> Result<BlockView<'_>, Error> {
    let bad = |reason: String| Error::BadBlock { offset, reason };
    let start =
        usize::try_from(offset).map_err(|_| bad("offset beyond addressable memory".into()))?;
    let rest = file
        .get(start..)
        .ok_or_else(|| bad("offset beyond the end of the file".into()))?;
    if rest.len() < BLOCK_HEADER_LEN {
        return Err(bad(format!(
            "cut short: {} bytes left, a block header needs {BLOCK_HEADER_LEN}",
            rest.len()
        )));
    }
    if rest[0..4] != BLOCK_SYNC {
        return Err(bad("no block sync marker".into()));
    }
    let kind = u16::from_le_bytes([rest[4], rest[5]]);
    let flags = u16::from_le_bytes([rest[6], rest[7]]);
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&rest[8..16]);
    let payload_len = u64::from_le_bytes(len8);
    let available = (rest.len() - BLOCK_HEADER_LEN) as u64;
    if payload_len > available || available - payload_len < BLOCK_TRAILER_LEN as u64 {
        return Err(bad(format!(
            "cut short: payload of {payload_len} bytes plus its checksum does not fit in the {available} bytes left"
        )));
    }
    let body_end = BLOCK_HEADER_LEN + payload_len as usize;
    let stored = u32::from_le_bytes([
        rest[body_end],
        rest[body_end + 1],
        rest[body_end + 2],
        rest[body_end + 3],
    ]);
    let computed = crc32c::crc32c(&rest[..body_end]);
    if stored != computed {
        return Err(bad(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    // Checked after the CRC so that a damaged header reads as damage, not as a format error.
    if flags != 0 {
        return Err(bad(format!("reserved block flags set ({flags:#06x})")));
    }
    Ok(BlockView {
        offset,
        kind,
        payload: &rest[BLOCK_HEADER_LEN..body_end],
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    pub index_offset: u64,
}

impl Tail {
    pub fn encode(&self) -> [u8; TAIL_LEN] {
        let mut b = [0u8; TAIL_LEN];
        b[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        // bytes 8..12: reserved flags, zero
        let crc = crc32c::crc32c(&b[0..12]);
        b[12..16].copy_from_slice(&crc.to_le_bytes());
        b[16..24].copy_from_slice(&TAIL_MAGIC);
        b
    }

    /// The tail of `file`, if its last bytes are an intact one.
    pub fn parse(file: &[u8]) -> Option<Tail> {
        let t = file.get(file.len().checked_sub(TAIL_LEN)?..)?;
        if t[16..24] != TAIL_MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes([t[12], t[13], t[14], t[15]]);
        if crc != crc32c::crc32c(&t[0..12]) || t[8..12] != [0, 0, 0, 0] {
            return None;
        }
        let mut o = [0u8; 8];
        o.copy_from_slice(&t[0..8]);
        Some(Tail {
            index_offset: u64::from_le_bytes(o),
        })
    }
}

/// The fixed header at the start of an EVENTS block's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub first_ts: u64,
    pub last_ts: u64,
    pub first_seq: u64,
    pub event_count: u32,
    pub encoding: u8,
    pub codec: u8,
    pub raw_len: u64,
}

impl ChunkHeader {
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..8].copy_from_slice(&self.first_ts.to_le_bytes());
        b[8..16].copy_from_slice(&self.last_ts.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        b[24..28].copy_from_slice(&self.event_count.to_le_bytes());
        b[28] = self.encoding;
        b[29] = self.codec;
        // 30..32 reserved
        b[32..40].copy_from_slice(&self.raw_len.to_le_bytes());
        // 40..48 reserved
        b
    }

    pub fn parse(payload: &[u8]) -> Result<(ChunkHeader, &[u8]), Malformed> {
        let mut c = Cursor::new(payload);
        let first_ts = c.u64le()?;
        let last_ts = c.u64le()?;
        let first_seq = c.u64le()?;
        let event_count = c.u32le()?;
        let encoding = c.u8()?;
        let codec = c.u8()?;
        let reserved_a = c.u16le()?;
        let raw_len = c.u64le()?;
        let reserved_b = c.u64le()?;
        if reserved_a != 0 || reserved_b != 0 {
            return Err(Malformed {
                what: "reserved chunk header bytes are not zero",
                at: 30,
            });
        }
        let h = ChunkHeader {
            first_ts,
            last_ts,
            first_seq,
            event_count,
            encoding,
            codec,
            raw_len,
        };
        Ok((h, &payload[CHUNK_HEADER_LEN..]))
    }
}
