//! Writes a capture front to back: header, blocks, index, tail. Append-only, so a file cut
//! short at any point still holds every block written before the cut.

use std::io::{self, Write};

use serde::Serialize;

use sha2::{Digest, Sha256};

use crate::chain::{self, ChainRecord};
use crate::chunk::{ChunkBuilder, PushRefused, RawChunk};
use crate::error::Error;
use crate::index::{encode_index, ChunkInfo, IndexEntry};
use crate::layout::{
    BlockHeader, BlockKind, FileHeader, Tail, BLOCK_OVERHEAD, CHUNK_HEADER_LEN, FILE_HEADER_LEN,
    MAX_CHUNK_RAW_LEN, VERSION_MAJOR, VERSION_MINOR,
};
use crate::model::*;

#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// A chunk is emitted once this many bytes of encoded (uncompressed) records are
    /// buffered. Larger chunks compress better; smaller ones lose less when damaged.
    pub chunk_raw_bytes: usize,
    pub zstd_level: i32,
    /// The file's identity; `None` draws a fresh random one. Fix it to make output
    /// reproducible (byte-identical rewrites, golden files).
    pub file_id: Option<[u8; 16]>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            chunk_raw_bytes: 1 << 20,
            zstd_level: 3,
            file_id: None,
        }
    }
}

pub struct CaptureWriter<W: Write> {
    out: W,
    pos: u64,
    opts: WriterOptions,
    file_id: [u8; 16],
    entries: Vec<IndexEntry>,
    pending: ChunkBuilder,
    next_seq: u64,
    /// Set after a failed write: the output's length is then unknown, so any further
    /// block would be framed at the wrong offset in the index.
    failed: bool,
    /// The hash chain so far (see `chain.rs`): the last link's value and the links written.
    chain: [u8; 32],
    links: u64,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header.
    pub fn new(out: W, opts: WriterOptions) -> Result<Self, Error> {
        let file_id = opts.file_id.unwrap_or_else(random_file_id);
        let mut w = CaptureWriter {
            out,
            pos: 0,
            opts,
            file_id,
            entries: Vec::new(),
            pending: ChunkBuilder::default(),
            next_seq: 0,
            failed: false,
            chain: [0; 32],
            links: 0,
        };
        let header = FileHeader {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            flags: 0,
            file_id,
        }
        .encode();
        w.chain = chain::chain_start(&header);
        w.write_raw(&header)?;
        debug_assert_eq!(w.pos, FILE_HEADER_LEN as u64);
        Ok(w)
    }

    pub fn file_id(&self) -> [u8; 16] {
        self.file_id
    }

    /// The hash chain's current value: after [`CaptureWriter::finish`], the file's final
    /// chain hash.
    pub fn chain_hash(&self) -> [u8; 32] {
        self.chain
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn write_host(&mut self, h: &HostInfo) -> Result<(), Error> {
        self.write_json(BlockKind::Host, h)
    }

    pub fn write_clocks(&mut self, c: &[ClockPair]) -> Result<(), Error> {
        self.write_json(BlockKind::Clocks, &c)
    }

    pub fn write_processes(&mut self, s: &ProcessSnapshot) -> Result<(), Error> {
        self.write_json(BlockKind::Processes, s)
    }

    pub fn write_containers(&mut self, c: &[ContainerInfo]) -> Result<(), Error> {
        self.write_json(BlockKind::Containers, &c)
    }

    pub fn write_users(&mut self, u: &UsersAndGroups) -> Result<(), Error> {
        self.write_json(BlockKind::Users, u)
    }

    pub fn write_alert(&mut self, a: &Alert) -> Result<(), Error> {
        self.write_json(BlockKind::Alert, a)
    }

    pub fn write_drops(&mut self, d: &DropLedger) -> Result<(), Error> {
        self.write_json(BlockKind::Drops, d)
    }

    /// Writes a block of a kind this crate does not define (a private extension, or a kind
    /// from a newer minor version). Readers that do not know the kind skip it.
    pub fn write_custom_block(&mut self, kind: u16, payload: &[u8]) -> Result<(), Error> {
        if BlockKind::from_u16(kind).is_some() {
            return Err(Error::InvalidInput {
                reason: format!(
                    "block kind {kind:#06x} is defined by the format; use its own method"
                ),
            });
        }
        self.flush_chunk()?;
        self.write_block(kind, &[payload], None)
    }

    /// Buffers an event; a chunk is compressed and written once enough have gathered.
    /// Events should come in time order, but slight disorder is stored faithfully.
    pub fn push_event(&mut self, e: &Event) -> Result<(), Error> {
        self.check_usable()?;
        match self.pending.push(e) {
            Ok(()) => {}
            Err(PushRefused::ChunkFull) => {
                self.flush_chunk()?;
                self.pending
                    .push(e)
                    .map_err(|refused| Error::InvalidInput {
                        reason: refused.to_string(),
                    })?;
            }
            Err(refused @ PushRefused::EventTooLarge(_)) => {
                return Err(Error::InvalidInput {
                    reason: refused.to_string(),
                })
            }
        }
        if self.pending.raw_len() >= self.opts.chunk_raw_bytes || self.pending.is_full() {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Writes the buffered events as a chunk now (no-op when none are buffered).
    pub fn flush_chunk(&mut self) -> Result<(), Error> {
        self.check_usable()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let first_seq = self.next_seq;
        if let Some(chunk) = self.pending.finish(first_seq, self.opts.zstd_level)? {
            self.write_chunk_block(&chunk)?;
        }
        Ok(())
    }

    /// Hands everything written so far to the output and flushes it (the buffered events
    /// stay buffered: see [`CaptureWriter::flush_chunk`]). A recorder calls this so that a
    /// kill leaves every complete block on disk.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.check_usable()?;
        if let Err(e) = self.out.flush() {
            self.failed = true;
            return Err(Error::Io(e));
        }
        Ok(())
    }

    /// Bytes of encoded events waiting for the next chunk.
    pub fn pending_raw_bytes(&self) -> usize {
        self.pending.raw_len()
    }

    /// Appends a chunk taken from another capture (or built by [`crate::encode_chunk`])
    /// without recompressing it. Buffered events are flushed first to keep file order.
    pub fn copy_raw_chunk(&mut self, raw: &RawChunk) -> Result<(), Error> {
        self.flush_chunk()?;
        if raw.event_count == 0 {
            return Err(Error::InvalidInput {
                reason: "a chunk needs at least one event".into(),
            });
        }
        if raw.raw_len > MAX_CHUNK_RAW_LEN {
            return Err(Error::InvalidInput {
                reason: format!("chunk of {} raw bytes is over the limit", raw.raw_len),
            });
        }
        self.write_chunk_block(raw)
    }

    fn write_chunk_block(&mut self, chunk: &RawChunk) -> Result<(), Error> {
        let (header, data) = chunk.payload_parts();
        let offset = self.pos;
        let payload_len = (CHUNK_HEADER_LEN + data.len()) as u64;
        let info = ChunkInfo {
            offset,
            len: payload_len + BLOCK_OVERHEAD as u64,
            first_ts: chunk.first_ts,
            last_ts: chunk.last_ts,
            first_seq: chunk.first_seq,
            event_count: chunk.event_count,
            pids: chunk.pids.clone(),
            cgroup_ids: chunk.cgroup_ids.clone(),
        };
        self.write_block(BlockKind::Events as u16, &[&header, data], Some(info))?;
        self.next_seq = self
            .next_seq
            .max(chunk.first_seq.saturating_add(u64::from(chunk.event_count)));
        Ok(())
    }

    /// Flushes buffered events, writes the index block and the tail, and hands back the
    /// output (flushed).
    pub fn finish(mut self) -> Result<W, Error> {
        self.flush_chunk()?;
        let end = ChainRecord::End {
            links: self.links,
            chain: self.chain,
        };
        self.write_chain_record(&end)?;
        let index_offset = self.pos;
        let payload = encode_index(&self.entries);
        self.write_block(BlockKind::Index as u16, &[&payload], None)?;
        self.write_raw(&Tail { index_offset }.encode())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_json<T: Serialize + ?Sized>(
        &mut self,
        kind: BlockKind,
        value: &T,
    ) -> Result<(), Error> {
        // File order is call order: a snapshot written mid-stream must follow the events
        // pushed before it, so the pending chunk goes out first.
        self.flush_chunk()?;
        let json = serde_json::to_vec(value).map_err(|e| Error::InvalidInput {
            reason: format!("{} block does not serialize: {e}", kind.name()),
        })?;
        let compressed = zstd::bulk::compress(&json, self.opts.zstd_level)?;
        self.write_block(kind as u16, &[&compressed], None)
    }

    /// Frames the concatenation of `parts` as one block, without copying them together,
    /// lists it in the index (with `chunk` for an EVENTS block; the index itself is not
    /// listed), and follows it with its hash chain link (every kind but the chain's and
    /// the index).
    fn write_block(
        &mut self,
        kind: u16,
        parts: &[&[u8]],
        chunk: Option<ChunkInfo>,
    ) -> Result<(), Error> {
        let offset = self.pos;
        let payload_len: usize = parts.iter().map(|p| p.len()).sum();
        let header = BlockHeader {
            kind,
            flags: 0,
            payload_len: payload_len as u64,
        }
        .encode();
        let crc = parts.iter().fold(crc32c::crc32c(&header), |crc, p| {
            crc32c::crc32c_append(crc, p)
        });
        let chained = chain::is_chained(kind);
        let mut digest = Sha256::new();
        self.write_raw(&header)?;
        if chained {
            digest.update(header);
        }
        for p in parts {
            self.write_raw(p)?;
            if chained {
                digest.update(p);
            }
        }
        self.write_raw(&crc.to_le_bytes())?;
        if kind != BlockKind::Index as u16 {
            self.entries.push(IndexEntry {
                offset,
                kind,
                payload_len: payload_len as u64,
                chunk,
            });
        }
        if !chained {
            return Ok(());
        }
        digest.update(crc.to_le_bytes());
        let block_sha256: [u8; 32] = digest.finalize().into();
        let seq = self.links;
        let link = ChainRecord::Link {
            seq,
            kind,
            block_sha256,
            chain: chain::chain_next(&self.chain, seq, kind, &block_sha256),
        };
        self.write_chain_record(&link)?;
        if let ChainRecord::Link { chain, .. } = link {
            self.chain = chain;
        }
        self.links += 1;
        Ok(())
    }

    fn write_chain_record(&mut self, record: &ChainRecord) -> Result<(), Error> {
        self.write_block(BlockKind::Chain as u16, &[&record.encode()], None)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.check_usable()?;
        if let Err(e) = self.out.write_all(bytes) {
            self.failed = true;
            return Err(Error::Io(e));
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "an earlier write to this capture failed; it ends at the last complete block",
            )));
        }
        Ok(())
    }
}

/// Unique enough to link segments and tell files apart; not a secret, so std's randomly
/// keyed SipHash plus time and pid avoids a dependency on an RNG crate.
fn random_file_id() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 16];
    for (i, half) in id.chunks_mut(8).enumerate() {
        let h = RandomState::new().hash_one((nanos, std::process::id(), count, i));
        half.copy_from_slice(&h.to_le_bytes());
    }
    id
}
