//! The INDEX block's payload: where every block is, and for event chunks what they hold.
//!
//! Fixed-width little-endian rather than JSON: a reader in any language parses it with a
//! handful of reads, it is found and checked in one step on open, and its size is exact
//! (no escaping, no number formatting) so pid lists of thousands of chunks stay small.

use crate::error::Malformed;
use crate::layout::BlockKind;
use crate::wire::Cursor;

/// What an event chunk holds, as the index (or a recovery scan) describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Byte offset of the EVENTS block (its sync marker) in the file.
    pub offset: u64,
    /// Length of the whole block on disk: header, payload and checksum.
    pub len: u64,
    /// Smallest event time in the chunk.
    pub first_ts: u64,
    /// Largest event time in the chunk.
    pub last_ts: u64,
    /// Sequence number of the chunk's first event in the recording.
    pub first_seq: u64,
    pub event_count: u32,
    /// Sorted, distinct: every `pid` of an event, and every child pid of a fork.
    pub pids: Vec<u32>,
    /// Sorted, distinct cgroup ids named by the chunk's events (maps to containers).
    pub cgroup_ids: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub offset: u64,
    pub kind: u16,
    pub payload_len: u64,
    pub chunk: Option<ChunkInfo>,
}

pub(crate) fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + entries.len() * 64);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.kind.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&e.payload_len.to_le_bytes());
        if let Some(c) = &e.chunk {
            out.extend_from_slice(&c.first_ts.to_le_bytes());
            out.extend_from_slice(&c.last_ts.to_le_bytes());
            out.extend_from_slice(&c.first_seq.to_le_bytes());
            out.extend_from_slice(&c.event_count.to_le_bytes());
            out.extend_from_slice(&(c.pids.len() as u32).to_le_bytes());
            for p in &c.pids {
                out.extend_from_slice(&p.to_le_bytes());
            }
            out.extend_from_slice(&(c.cgroup_ids.len() as u32).to_le_bytes());
            for g in &c.cgroup_ids {
                out.extend_from_slice(&g.to_le_bytes());
            }
        }
    }
    out
}

pub(crate) fn decode_index(payload: &[u8]) -> Result<Vec<IndexEntry>, Malformed> {
    let mut c = Cursor::new(payload);
    let n = c.u32le()? as usize;
    if n > c.remaining() / 20 {
        return Err(c.err("index entry count exceeds the index size"));
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = c.u64le()?;
        let kind = c.u16le()?;
        if c.u16le()? != 0 {
            return Err(c.err("reserved index entry bytes are not zero"));
        }
        let payload_len = c.u64le()?;
        let chunk = if kind == BlockKind::Events as u16 {
            let first_ts = c.u64le()?;
            let last_ts = c.u64le()?;
            let first_seq = c.u64le()?;
            let event_count = c.u32le()?;
            let np = c.u32le()? as usize;
            if np > c.remaining() / 4 {
                return Err(c.err("pid count exceeds the index size"));
            }
            let mut pids = Vec::with_capacity(np);
            for _ in 0..np {
                pids.push(c.u32le()?);
            }
            let ng = c.u32le()? as usize;
            if ng > c.remaining() / 8 {
                return Err(c.err("cgroup count exceeds the index size"));
            }
            let mut cgroup_ids = Vec::with_capacity(ng);
            for _ in 0..ng {
                cgroup_ids.push(c.u64le()?);
            }
            let len = payload_len
                .checked_add(crate::layout::BLOCK_OVERHEAD as u64)
                .ok_or_else(|| c.err("block length overflows"))?;
            Some(ChunkInfo {
                offset,
                len,
                first_ts,
                last_ts,
                first_seq,
                event_count,
                pids,
                cgroup_ids,
            })
        } else {
            None
        };
        entries.push(IndexEntry {
            offset,
            kind,
            payload_len,
            chunk,
        });
    }
    if !c.is_empty() {
        return Err(c.err("trailing bytes after the last index entry"));
    }
    Ok(entries)
}
