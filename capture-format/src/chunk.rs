//! Event chunks: building one from events, and decoding one back.

use std::collections::BTreeSet;

use crate::codec::{blank_event, decode_all, ColumnDecoder, ColumnEncoder, Records, Spares};
use crate::error::{Error, Malformed};
use crate::layout::{
    ChunkHeader, CHUNK_HEADER_LEN, CODEC_ZSTD, ENCODING_COLUMNS_V1, MAX_CHUNK_RAW_LEN,
};
use crate::model::{Event, EventBody};

/// A compressed chunk as it sits in an EVENTS block, with what the index says about it.
/// Readers hand these out and writers take them back, so sealing a capture from rolling
/// segments copies bytes instead of recompressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawChunk {
    pub first_ts: u64,
    pub last_ts: u64,
    pub first_seq: u64,
    pub event_count: u32,
    /// Layout of the decompressed records (1 = columns).
    pub encoding: u8,
    /// Compression of `data` (1 = one zstd frame).
    pub codec: u8,
    /// Length of `data` once decompressed.
    pub raw_len: u64,
    /// Sorted, distinct pids and cgroup ids of the events, for the index.
    pub pids: Vec<u32>,
    pub cgroup_ids: Vec<u64>,
    /// The compressed records.
    pub data: Vec<u8>,
}

impl RawChunk {
    /// Decompresses and decodes the events.
    pub fn decode(&self) -> Result<Vec<Event>, Error> {
        let header = self.header();
        decode_chunk_body(&header, &self.data).map_err(|reason| Error::BadRawChunk { reason })
    }

    pub(crate) fn header(&self) -> ChunkHeader {
        ChunkHeader {
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            first_seq: self.first_seq,
            event_count: self.event_count,
            encoding: self.encoding,
            codec: self.codec,
            raw_len: self.raw_len,
        }
    }

    /// The EVENTS block payload: chunk header then the compressed bytes.
    pub(crate) fn payload_parts(&self) -> ([u8; CHUNK_HEADER_LEN], &[u8]) {
        (self.header().encode(), &self.data)
    }
}

/// Encodes and compresses events into one chunk, outside any file: for a recorder that keeps
/// its rolling buffer as chunks in memory. `first_seq` numbers the first event.
pub fn encode_chunk(events: &[Event], first_seq: u64, zstd_level: i32) -> Result<RawChunk, Error> {
    let mut b = ChunkBuilder::default();
    for e in events {
        b.push(e).map_err(|refused| Error::InvalidInput {
            reason: refused.to_string(),
        })?;
    }
    b.finish(first_seq, zstd_level)?
        .ok_or_else(|| Error::InvalidInput {
            reason: "a chunk needs at least one event".into(),
        })
}

/// Events encoded into as many chunks as the chunk size limit needs (a burst of large
/// records does not fit one), with the events that could not be stored at all.
#[derive(Debug, Default)]
pub struct EncodedChunks {
    /// In event order; their sequence numbers continue from `first_seq`.
    pub chunks: Vec<RawChunk>,
    /// Indices (into the events given) of events that alone encode beyond the chunk
    /// limit, and so are in no chunk.
    pub too_large: Vec<usize>,
}

/// Like [`encode_chunk`], but never refuses a batch: it starts a new chunk where the
/// limit would be passed, and leaves out (reporting them) the events that can fit no
/// chunk. For a recorder, whose input must never end recording.
pub fn encode_chunks(
    events: &[Event],
    first_seq: u64,
    zstd_level: i32,
) -> Result<EncodedChunks, Error> {
    let mut out = EncodedChunks::default();
    let mut b = ChunkBuilder::default();
    let mut seq = first_seq;
    for (i, e) in events.iter().enumerate() {
        match b.push(e) {
            Ok(()) => {}
            Err(PushRefused::ChunkFull) => {
                if let Some(c) = b.finish(seq, zstd_level)? {
                    seq += u64::from(c.event_count);
                    out.chunks.push(c);
                }
                if b.push(e).is_err() {
                    out.too_large.push(i);
                }
            }
            Err(PushRefused::EventTooLarge(_)) => out.too_large.push(i),
        }
        if b.is_full() {
            if let Some(c) = b.finish(seq, zstd_level)? {
                seq += u64::from(c.event_count);
                out.chunks.push(c);
            }
        }
    }
    if let Some(c) = b.finish(seq, zstd_level)? {
        out.chunks.push(c);
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushRefused {
    ChunkFull,
    EventTooLarge(usize),
}

impl std::fmt::Display for PushRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushRefused::ChunkFull => write!(
                f,
                "events encode to more than the {MAX_CHUNK_RAW_LEN}-byte chunk limit"
            ),
            PushRefused::EventTooLarge(n) => write!(
                f,
                "one event encodes to {n} bytes, more than the {MAX_CHUNK_RAW_LEN}-byte chunk limit"
            ),
        }
    }
}

/// Accumulates encoded events until the writer decides the chunk is big enough.
#[derive(Default)]
pub(crate) struct ChunkBuilder {
    encoder: ColumnEncoder,
    count: u32,
    min_ts: u64,
    max_ts: u64,
    pids: BTreeSet<u32>,
    cgroups: BTreeSet<u64>,
    // Consecutive events usually share a pid and cgroup; skipping the set insert for
    // repeats keeps push cheap.
    last_pid: Option<u32>,
    last_cgroup: Option<u64>,
    compressor: Option<(i32, zstd::bulk::Compressor<'static>)>,
}

impl ChunkBuilder {
    pub fn raw_len(&self) -> usize {
        self.encoder.raw_len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count == u32::MAX
    }

    /// Appends one event, unless that would take the chunk past the size readers accept:
    /// then nothing changes and the caller flushes (or, for a lone event, gives up).
    pub fn push(&mut self, e: &Event) -> Result<(), PushRefused> {
        let mark = self.encoder.mark(e);
        self.encoder.encode(e);
        let raw_len = self.encoder.raw_len();
        if raw_len as u64 > MAX_CHUNK_RAW_LEN {
            self.encoder.rollback(mark);
            return Err(if self.count == 0 {
                PushRefused::EventTooLarge(raw_len)
            } else {
                PushRefused::ChunkFull
            });
        }
        if self.count == 0 {
            self.min_ts = e.ts;
            self.max_ts = e.ts;
        } else {
            self.min_ts = self.min_ts.min(e.ts);
            self.max_ts = self.max_ts.max(e.ts);
        }
        self.count += 1;
        self.note_pid(e.pid);
        match &e.body {
            EventBody::Syscall(s) => self.note_cgroup(s.cgroup_id),
            EventBody::Fork(f) => {
                self.note_pid(f.child_pid);
                self.note_cgroup(f.cgroup_id);
            }
            EventBody::Exec(x) => self.note_cgroup(x.cgroup_id),
            EventBody::Exit(_) => {}
            EventBody::CgroupMkdir(c) => self.note_cgroup(c.cgroup_id),
        }
        Ok(())
    }

    fn note_pid(&mut self, pid: u32) {
        if self.last_pid != Some(pid) {
            self.pids.insert(pid);
            self.last_pid = Some(pid);
        }
    }

    fn note_cgroup(&mut self, id: u64) {
        if self.last_cgroup != Some(id) {
            self.cgroups.insert(id);
            self.last_cgroup = Some(id);
        }
    }

    /// Compresses what was pushed and resets the builder; `None` when empty.
    pub fn finish(&mut self, first_seq: u64, zstd_level: i32) -> Result<Option<RawChunk>, Error> {
        if self.count == 0 {
            return Ok(None);
        }
        let mut raw = Vec::new();
        self.encoder.finish_into(&mut raw);
        // A compression context is costly to set up; keep one per builder and level.
        let compressor = match &mut self.compressor {
            Some((level, c)) if *level == zstd_level => c,
            slot => {
                &mut slot
                    .insert((zstd_level, zstd::bulk::Compressor::new(zstd_level)?))
                    .1
            }
        };
        let data = compressor.compress(&raw)?;
        let chunk = RawChunk {
            first_ts: self.min_ts,
            last_ts: self.max_ts,
            first_seq,
            event_count: self.count,
            encoding: ENCODING_COLUMNS_V1,
            codec: CODEC_ZSTD,
            raw_len: raw.len() as u64,
            pids: self.pids.iter().copied().collect(),
            cgroup_ids: self.cgroups.iter().copied().collect(),
            data,
        };
        self.reset();
        Ok(Some(chunk))
    }

    fn reset(&mut self) {
        self.encoder.reset();
        self.count = 0;
        self.pids.clear();
        self.cgroups.clear();
        self.last_pid = None;
        self.last_cgroup = None;
    }
}

/// Decompresses and decodes a chunk body; the error string is the reason, to be wrapped
/// with the chunk's index and offset by the caller.
pub(crate) fn decode_chunk_body(h: &ChunkHeader, compressed: &[u8]) -> Result<Vec<Event>, String> {
    let raw = decompress_chunk(h, compressed)?;
    match h.encoding {
        ENCODING_COLUMNS_V1 => {
            decode_all(&raw, h.event_count).map_err(|m: Malformed| m.to_string())
        }
        other => Err(format!(
            "unknown event encoding {other}; written by a newer aftertrace"
        )),
    }
}

/// One chunk's events, decoded as they are asked for: no `Vec<Event>` for the chunk is
/// built, which keeps a full pass over a capture cache-friendly.
pub(crate) struct ChunkStream {
    raw: Vec<u8>,
    decoder: ColumnDecoder,
}

impl ChunkStream {
    /// `buffer` is reused for the decompressed records (see [`ChunkStream::into_buffer`]),
    /// so a pass over many chunks does not fault in fresh pages for each.
    pub fn open(
        h: &ChunkHeader,
        compressed: &[u8],
        buffer: Vec<u8>,
    ) -> Result<ChunkStream, String> {
        let raw = decompress_chunk_into(h, compressed, buffer)?;
        let decoder = match h.encoding {
            ENCODING_COLUMNS_V1 => {
                ColumnDecoder::new(&raw, h.event_count, Records::All).map_err(|m| m.to_string())?
            }
            other => {
                return Err(format!(
                    "unknown event encoding {other}; written by a newer aftertrace"
                ))
            }
        };
        Ok(ChunkStream { raw, decoder })
    }

    #[inline]
    pub fn next_event(&mut self) -> Option<Result<Event, Malformed>> {
        self.decoder.next(&self.raw)
    }

    pub fn into_buffer(self) -> Vec<u8> {
        self.raw
    }
}

/// A chunk's records decompressed but not yet decoded (see
/// [`CaptureReader::decompress_chunk`](crate::CaptureReader::decompress_chunk)). Reusing
/// one for many chunks reuses its buffer.
#[derive(Debug, Default)]
pub struct DecompressedChunk {
    index: usize,
    offset: u64,
    header: Option<ChunkHeader>,
    raw: Vec<u8>,
}

impl DecompressedChunk {
    /// The chunk's number in [`CaptureReader::chunks`](crate::CaptureReader::chunks).
    pub fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn fill(
        &mut self,
        index: usize,
        offset: u64,
        h: &ChunkHeader,
        compressed: &[u8],
    ) -> Result<(), String> {
        self.header = None;
        self.index = index;
        self.offset = offset;
        let buffer = std::mem::take(&mut self.raw);
        self.raw = decompress_chunk_into(h, compressed, buffer)?;
        self.header = Some(*h);
        Ok(())
    }

    fn decoder(&self, records: Records) -> Result<ColumnDecoder, String> {
        let h = self
            .header
            .as_ref()
            .ok_or("no chunk decompressed into this buffer")?;
        match h.encoding {
            ENCODING_COLUMNS_V1 => {
                ColumnDecoder::new(&self.raw, h.event_count, records).map_err(|m| m.to_string())
            }
            other => Err(format!(
                "unknown event encoding {other}; written by a newer aftertrace"
            )),
        }
    }

    /// Appends the chunk's events (those `records` asks for) to `out`, reusing the memory
    /// of events `out` held before. All or nothing: on error `out` is as it was.
    pub fn decode_into(&self, out: &mut EventBuffer, records: Records) -> Result<(), Error> {
        let bad = |reason: String| Error::BadChunk {
            index: self.index,
            offset: self.offset,
            reason,
        };
        let mut d = self.decoder(records).map_err(bad)?;
        let before = out.len;
        loop {
            if out.len == out.events.len() {
                out.events.push(blank_event());
            }
            match d.next_into(&self.raw, &mut out.events[out.len], &mut out.spares) {
                Some(Ok(())) => out.len += 1,
                None => return Ok(()),
                Some(Err(m)) => {
                    out.len = before;
                    return Err(bad(m.to_string()));
                }
            }
        }
    }

    /// A one-event-at-a-time decoder over these records.
    pub(crate) fn stream(&self, records: Records) -> Result<ColumnDecoder, String> {
        self.decoder(records)
    }

    /// The events, decoded a few at a time into a small reused buffer that stays in cache
    /// (see [`ChunkEvents::decode_some`]).
    pub fn events(&self, records: Records) -> Result<ChunkEvents<'_>, Error> {
        let decoder = self.decoder(records).map_err(|reason| self.bad(reason))?;
        Ok(ChunkEvents {
            chunk: self,
            decoder,
        })
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadChunk {
            index: self.index,
            offset: self.offset,
            reason,
        }
    }

    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Bytes the decompression buffer holds on to between uses: a pool of these can drop
    /// the ones a rare huge chunk grew, instead of keeping them for every later chunk.
    pub fn buffer_capacity(&self) -> usize {
        self.raw.capacity()
    }
}

/// See [`DecompressedChunk::events`].
pub struct ChunkEvents<'c> {
    chunk: &'c DecompressedChunk,
    decoder: ColumnDecoder,
}

impl ChunkEvents<'_> {
    /// Appends up to `max` more events to `out` (reusing the memory of events it held);
    /// how many, 0 at the end. Unlike [`DecompressedChunk::decode_into`], a fault is found
    /// only when the decode reaches it, so the events before it have been handed out.
    pub fn decode_some(&mut self, out: &mut EventBuffer, max: usize) -> Result<usize, Error> {
        let before = out.len;
        while out.len - before < max {
            if out.len == out.events.len() {
                out.events.push(blank_event());
            }
            match self
                .decoder
                .next_into(&self.chunk.raw, &mut out.events[out.len], &mut out.spares)
            {
                Some(Ok(())) => out.len += 1,
                None => break,
                Some(Err(m)) => return Err(self.chunk.bad(m.to_string())),
            }
        }
        Ok(out.len - before)
    }
}

/// Decoded events, kept for reuse: decoding into the buffer again overwrites the events it
/// held and reuses their memory (parameter lists, paths, data), so a pass over many chunks
/// allocates next to nothing once warm.
#[derive(Default)]
pub struct EventBuffer {
    /// `events[..len]` are current; the rest are kept for their allocations.
    events: Vec<Event>,
    len: usize,
    spares: Spares,
}

impl std::fmt::Debug for EventBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBuffer")
            .field("len", &self.len)
            .finish()
    }
}

impl EventBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> &[Event] {
        &self.events[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the events (keeping their memory for the next decode).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Puts the events in time order (stable: equal times keep their order).
    pub fn sort_by_time(&mut self) {
        self.events[..self.len].sort_by_key(|e| e.ts);
    }
}

pub(crate) fn decompress_chunk(h: &ChunkHeader, compressed: &[u8]) -> Result<Vec<u8>, String> {
    decompress_chunk_into(h, compressed, Vec::new())
}

fn decompress_chunk_into(
    h: &ChunkHeader,
    compressed: &[u8],
    mut buffer: Vec<u8>,
) -> Result<Vec<u8>, String> {
    if h.codec != CODEC_ZSTD {
        return Err(format!("unknown chunk codec {}", h.codec));
    }
    if h.raw_len > MAX_CHUNK_RAW_LEN {
        return Err(format!(
            "claims {} bytes decompressed, over the {MAX_CHUNK_RAW_LEN}-byte limit",
            h.raw_len
        ));
    }
    check_raw_len(h.raw_len, compressed)?;
    // The header's length bounds the output, so a corrupt frame cannot balloon memory.
    buffer.clear();
    buffer.reserve_exact(h.raw_len as usize);
    let n = with_decompressor(|z| z.decompress_to_buffer(compressed, &mut buffer))
        .map_err(|e| format!("zstd: {e}"))?;
    if n as u64 != h.raw_len || buffer.len() != n {
        return Err(format!(
            "decompressed to {n} bytes, the header says {}",
            h.raw_len
        ));
    }
    Ok(buffer)
}

/// The most a zstd frame can expand to per compressed byte: a block holds at most 128 KiB
/// and costs at least 4 bytes (a 3-byte block header and one RLE byte), so no frame yields
/// more than 32 KiB of output for each byte it takes.
const ZSTD_MAX_EXPANSION: u64 = (128 << 10) / 4;

/// Refuses, before anything is allocated for it, a declared raw length that the compressed
/// bytes cannot produce: more than zstd's format allows for their size, or other than the
/// length the frame header itself declares. A hostile chunk that lies about its size then
/// costs nothing; one that tells the truth costs at most `MAX_CHUNK_RAW_LEN`.
fn check_raw_len(raw_len: u64, compressed: &[u8]) -> Result<(), String> {
    let most = (compressed.len() as u64).saturating_mul(ZSTD_MAX_EXPANSION);
    if raw_len > most {
        return Err(format!(
            "claims {raw_len} bytes decompressed, more than {} compressed bytes can hold",
            compressed.len()
        ));
    }
    match zstd::zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(declared)) if declared != raw_len => Err(format!(
            "the zstd frame declares {declared} bytes decompressed, the chunk header {raw_len}"
        )),
        Ok(_) => Ok(()),
        Err(_) => Err("zstd: the data does not start with a zstd frame header".into()),
    }
}

thread_local! {
    // Setting up a decompression context costs more than decompressing a small chunk;
    // one per thread serves every chunk that thread reads.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn with_decompressor<T>(
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    DECOMPRESSOR.with(|cell| {
        // A re-entrant call (not expected) gets a fresh context rather than a panic.
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return f(&mut zstd::bulk::Decompressor::new()?);
        };
        let z = match &mut *slot {
            Some(z) => z,
            empty => empty.insert(zstd::bulk::Decompressor::new()?),
        };
        f(z)
    })
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use crate::model::{Abi, Completion, Param, ParamValue, SyscallEvent};

    fn big(ts: u64, pid: u32, bytes: usize) -> Event {
        Event {
            ts,
            cpu: 0,
            pid,
            tid: pid,
            body: EventBody::Syscall(SyscallEvent {
                nr: 1,
                abi: Abi::X86_64,
                completion: Completion::Complete,
                args: [0; 6],
                ret: Some(0),
                duration_ns: Some(1),
                cgroup_id: 0,
                params: vec![Param {
                    slot: 1,
                    value: ParamValue::Str(vec![b'A'; bytes]),
                }],
            }),
        }
    }

    /// The daemon once exited on a burst of large writes ("events encode to more than the
    /// chunk limit"): a batch is split, and only an event no chunk can hold is left out.
    #[test]
    fn a_batch_over_the_chunk_limit_is_split_and_an_oversized_event_reported() {
        let mut events: Vec<Event> = (0..10).map(|i| big(i, 7, 8 << 20)).collect();
        events.insert(3, big(3, 9, (MAX_CHUNK_RAW_LEN as usize) + 1));
        let out = encode_chunks(&events, 100, 1).expect("encode");
        assert_eq!(out.too_large, vec![3]);
        assert!(out.chunks.len() >= 2, "{} chunks", out.chunks.len());
        let total: u32 = out.chunks.iter().map(|c| c.event_count).sum();
        assert_eq!(total, 10);
        assert_eq!(out.chunks[0].first_seq, 100);
        assert_eq!(
            out.chunks[1].first_seq,
            100 + u64::from(out.chunks[0].event_count)
        );
        assert!(out.chunks.iter().all(|c| c.raw_len <= MAX_CHUNK_RAW_LEN));
        assert_eq!(out.chunks[1].decode().expect("decode")[0].pid, 7);
    }
}
