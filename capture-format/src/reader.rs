//! Opens a capture: frames it through the index when the tail and index are intact, or by a
//! forward scan when they are not, and says what was lost either way.

use std::io::Read;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::chain::ChainRecord;
use crate::chunk::{decode_chunk_body, ChunkStream, DecompressedChunk, RawChunk};
use crate::codec::{blank_event, ColumnDecoder, Records, Spares};
use crate::error::Error;
use crate::index::{decode_index, ChunkInfo, IndexEntry};
use crate::layout::{
    parse_block, BlockKind, BlockView, ChunkHeader, FileHeader, Tail, BLOCK_HEADER_LEN,
    BLOCK_OVERHEAD, BLOCK_SYNC, FILE_HEADER_LEN, MAX_CHUNK_RAW_LEN, MAX_METADATA_RAW_LEN, TAIL_LEN,
};
use crate::model::*;

/// Every metadata block of the file, gathered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The last HOST block, if any.
    pub host: Option<HostInfo>,
    /// All CLOCKS blocks' pairs, sorted by boot time.
    pub clocks: Vec<ClockPair>,
    /// One per PROCESSES block, in file order.
    pub processes: Vec<ProcessSnapshot>,
    /// All CONTAINERS blocks; a later entry with the same id replaces an earlier one (in
    /// the earlier one's place).
    pub containers: Vec<ContainerInfo>,
    /// All USERS blocks' entries, concatenated.
    pub users: UsersAndGroups,
    /// One per ALERT block, in file order.
    pub alerts: Vec<Alert>,
    /// All DROPS blocks' entries, concatenated.
    pub drops: DropLedger,
}

/// What could not be read while opening the file. Empty for an intact file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    /// Why the index could not be used (missing tail: the writer never finished; or a
    /// damaged index), in which case the file was framed by a forward scan.
    pub index_unusable: Option<String>,
    /// Byte ranges whose content is lost, in file order.
    pub lost: Vec<LostRange>,
}

impl Damage {
    pub fn is_empty(&self) -> bool {
        self.index_unusable.is_none() && self.lost.is_empty()
    }
}

/// A stretch of the file that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostRange {
    /// Byte range `[start, end)` in the file.
    pub start: u64,
    pub end: u64,
    pub reason: String,
    /// Events lost here, if any, happened after this time: the last time of the nearest
    /// good chunk before the range.
    pub after_ts: Option<u64>,
    /// ... and before this time: the first time of the nearest good chunk after it.
    pub before_ts: Option<u64>,
}

/// A block of a kind this reader does not know; skipped, as the format requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownBlock {
    pub offset: u64,
    pub kind: u16,
    pub len: u64,
}

/// Files shorter than this are read rather than mapped.
const SMALL_FILE: u64 = 64 * 1024;

enum Backing {
    Map(memmap2::Mmap),
    Bytes(Vec<u8>),
}

impl Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Bytes(b) => b,
        }
    }
}

pub struct CaptureReader {
    bytes: Backing,
    path: Option<PathBuf>,
    header: FileHeader,
    metadata: Metadata,
    chunks: Vec<ChunkInfo>,
    unknown: Vec<UnknownBlock>,
    damage: Damage,
    sequence: Vec<Framed>,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .field("version", &self.version())
            .field("chunks", &self.chunks.len())
            .field("damage", &self.damage)
            .finish()
    }
}

impl CaptureReader {
    /// Maps the file and frames it. Captures are written once and then left alone; a file
    /// truncated by someone else while mapped would fault on access, as with any mmap.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_inner(path).map_err(|e| e.in_file(path))
    }

    fn open_inner(path: &Path) -> Result<Self, Error> {
        // A device or FIFO has no length to bound a read by (/dev/zero never ends) and a
        // FIFO's open blocks: refuse them before opening, and again on what was opened.
        Error::check_regular_file(path)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Should the path turn into a FIFO between the check and the open.
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options.open(path)?;
        let meta = file.metadata()?;
        Error::check_file_type(meta.file_type())?;
        let len = meta.len();
        let bytes = if len < SMALL_FILE {
            // Small files (and empty ones, which cannot be mapped everywhere) are read, up
            // to the size they had: a file that claims 0 bytes (procfs) yet keeps giving
            // cannot make the read unbounded.
            let mut v = Vec::with_capacity(len as usize);
            (&file).take(SMALL_FILE).read_to_end(&mut v)?;
            Backing::Bytes(v)
        } else {
            // SAFETY: the map is read-only and private to this reader; see `open`'s note
            // on files changed by others while mapped.
            Backing::Map(unsafe { memmap2::Mmap::map(&file)? })
        };
        let mut r = Self::frame(bytes)?;
        r.path = Some(path.to_path_buf());
        Ok(r)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        Self::frame(Backing::Bytes(bytes))
    }

    fn frame(bytes: Backing) -> Result<Self, Error> {
        let header = FileHeader::parse(&bytes)?;
        let mut r = CaptureReader {
            bytes,
            path: None,
            header,
            metadata: Metadata::default(),
            chunks: Vec::new(),
            unknown: Vec::new(),
            damage: Damage::default(),
            sequence: Vec::new(),
        };
        let mut loaded = Loaded::default();
        let framed = match r.blocks_from_index() {
            Ok(blocks) => Framing::Index(blocks),
            Err(why) => {
                loaded.damage.index_unusable = Some(why);
                Framing::Scan(scan(&r.bytes))
            }
        };
        loaded.load(&r.bytes, framed);
        r.metadata = loaded.metadata;
        r.chunks = loaded.chunks;
        r.unknown = loaded.unknown;
        r.damage = loaded.damage;
        r.sequence = loaded.sequence;
        Ok(r)
    }

    pub fn version(&self) -> (u16, u16) {
        (self.header.major, self.header.minor)
    }

    pub fn file_id(&self) -> [u8; 16] {
        self.header.file_id
    }

    /// The path given to [`CaptureReader::open`], if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Chunks in file order (time order, for files this crate writes). With an intact
    /// index, every chunk it lists: a damaged one fails when read, keeping its number.
    /// After a recovery scan, the chunks that decoded.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    pub fn damage(&self) -> &Damage {
        &self.damage
    }

    pub fn unknown_blocks(&self) -> &[UnknownBlock] {
        &self.unknown
    }

    pub(crate) fn sequence(&self) -> &[Framed] {
        &self.sequence
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn header_bytes(&self) -> [u8; FILE_HEADER_LEN] {
        self.header.encode()
    }

    /// Every event of every chunk, in order, decoded as they are asked for. A chunk that
    /// fails yields one error (not fatal) and the iteration goes on with the next chunk;
    /// when the failure is found part way through a chunk, the events decoded before it
    /// have already been yielded ([`CaptureReader::chunk_events`] is all or nothing).
    pub fn events(&self) -> impl Iterator<Item = Result<Event, Error>> + '_ {
        EventsIter {
            reader: self,
            next_chunk: 0,
            current: None,
            spare: Vec::new(),
        }
    }

    /// Every event (or those `records` asks for) of every chunk, in order, decoded one at a
    /// time into the same [`Event`], which is lent out until the next call: a full pass
    /// allocates next to nothing. Errors as in [`CaptureReader::events`].
    pub fn event_cursor(&self, records: Records) -> EventCursor<'_> {
        EventCursor {
            reader: self,
            next_chunk: 0,
            chunk: DecompressedChunk::default(),
            decoder: None,
            event: blank_event(),
            spares: Spares::default(),
            records,
        }
    }

    /// Decompresses one chunk's records into `into` (reusing its buffer), to decode with
    /// [`DecompressedChunk::decode_into`]: the split lets a caller decompress once and
    /// decode as often as it needs.
    pub fn decompress_chunk(
        &self,
        chunk_index: usize,
        into: &mut DecompressedChunk,
    ) -> Result<(), Error> {
        let (header, body) = self.chunk_block(chunk_index)?;
        let info = &self.chunks[chunk_index];
        into.fill(chunk_index, info.offset, &header, body)
            .map_err(|reason| self.bad_chunk(chunk_index, info, reason))
    }

    /// What the chunk's header says it decompresses to, without checking the block (0 for
    /// a header that cannot be read, or a length over the limit: such a chunk is refused
    /// before anything is allocated for it). Lets a caller bound how many decompressed
    /// chunks it holds at once by their size rather than their number.
    pub fn chunk_raw_len(&self, chunk_index: usize) -> u64 {
        let Some(info) = self.chunks.get(chunk_index) else {
            return 0;
        };
        let at = |o: u64| usize::try_from(info.offset.saturating_add(o)).ok();
        let raw_len = match (
            at(BLOCK_HEADER_LEN as u64 + 32),
            at(BLOCK_HEADER_LEN as u64 + 40),
        ) {
            (Some(from), Some(to)) => self.bytes.get(from..to),
            _ => None,
        };
        raw_len
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .filter(|&n| n <= MAX_CHUNK_RAW_LEN)
            .unwrap_or(0)
    }

    /// Says the reader is done with a chunk's compressed bytes for now: on Linux, the pages
    /// of a mapped file that lie wholly inside the chunk's block stop counting toward the
    /// process's resident memory, so a pass over a large capture does not end up holding
    /// all of it. They stay in the page cache, and reading the chunk again maps them back.
    /// Does nothing for files read into memory, on other systems, or for a bad index.
    pub fn release_chunk_pages(&self, chunk_index: usize) {
        #[cfg(target_os = "linux")]
        if let (Backing::Map(map), Some(info)) = (&self.bytes, self.chunks.get(chunk_index)) {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let Ok(page) = u64::try_from(page) else {
                return;
            };
            if page == 0 {
                return;
            }
            // Whole pages only, so no byte of a neighbouring block is touched.
            let start = info.offset.div_ceil(page) * page;
            let end = (info.offset.saturating_add(info.len) / page * page).min(map.len() as u64);
            if end <= start {
                return;
            }
            // SAFETY: the map is read-only and the file is not changed while mapped (see
            // `open`), so MADV_DONTNEED drops only this process's page table entries: the
            // next access maps the same bytes back from the page cache, and slices
            // borrowed from the map keep reading what they read before. The range is
            // page-aligned and inside the map.
            let result = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start as usize,
                    (end - start) as usize,
                )
            };
            // Only a hint: a refusal leaves the pages mapped, which is merely the old cost.
            drop(result);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = chunk_index;
    }

    /// All events of one chunk, or why the chunk cannot be read (not fatal: other chunks
    /// still can).
    pub fn chunk_events(&self, chunk_index: usize) -> Result<Vec<Event>, Error> {
        let (header, body) = self.chunk_block(chunk_index)?;
        let info = &self.chunks[chunk_index];
        decode_chunk_body(&header, body).map_err(|reason| self.bad_chunk(chunk_index, info, reason))
    }

    /// The chunk's compressed bytes and header, for copying into another capture.
    pub fn raw_chunk(&self, chunk_index: usize) -> Result<RawChunk, Error> {
        let (header, body) = self.chunk_block(chunk_index)?;
        let info = &self.chunks[chunk_index];
        Ok(RawChunk {
            first_ts: header.first_ts,
            last_ts: header.last_ts,
            first_seq: header.first_seq,
            event_count: header.event_count,
            encoding: header.encoding,
            codec: header.codec,
            raw_len: header.raw_len,
            pids: info.pids.clone(),
            cgroup_ids: info.cgroup_ids.clone(),
            data: body.to_vec(),
        })
    }

    /// Checks the chunk's block CRC and header against the index; returns the header and
    /// the compressed body.
    fn chunk_block(&self, chunk_index: usize) -> Result<(ChunkHeader, &[u8]), Error> {
        let info = self.chunks.get(chunk_index).ok_or(Error::NoSuchChunk {
            index: chunk_index,
            count: self.chunks.len(),
        })?;
        let block = parse_block(&self.bytes, info.offset)
            .map_err(|e| self.bad_chunk(chunk_index, info, strip_block_prefix(e)))?;
        if block.kind != BlockKind::Events as u16 || block.total_len() != info.len {
            return Err(self.bad_chunk(
                chunk_index,
                info,
                "the block there is not the chunk the index describes".into(),
            ));
        }
        let (header, body) = ChunkHeader::parse(block.payload)
            .map_err(|m| self.bad_chunk(chunk_index, info, m.to_string()))?;
        if header.first_ts != info.first_ts
            || header.last_ts != info.last_ts
            || header.first_seq != info.first_seq
            || header.event_count != info.event_count
        {
            return Err(self.bad_chunk(
                chunk_index,
                info,
                "chunk header and index disagree".into(),
            ));
        }
        Ok((header, body))
    }

    fn bad_chunk(&self, index: usize, info: &ChunkInfo, reason: String) -> Error {
        Error::BadChunk {
            index,
            offset: info.offset,
            reason,
        }
    }

    /// The blocks the index lists, after checking that they tile the file exactly from
    /// the header to the index. Any inconsistency means the index cannot be trusted, and
    /// the caller falls back to scanning. A block the index lists but that is itself
    /// damaged does not discredit the index (whose own CRC held): that block alone is lost,
    /// and chunks keep the numbers the index gives them.
    fn blocks_from_index(&self) -> Result<Vec<IndexEntry>, String> {
        let file = &self.bytes[..];
        let tail = Tail::parse(file)
            .ok_or("no intact tail at the end of the file (the writer did not finish)")?;
        let index = parse_block(file, tail.index_offset)
            .map_err(|e| format!("index block unreadable: {e}"))?;
        if index.kind != BlockKind::Index as u16 {
            return Err("the tail does not point at an index block".into());
        }
        if index.end() != (file.len() - TAIL_LEN) as u64 {
            return Err("the index block does not end where the tail begins".into());
        }
        let entries =
            decode_index(index.payload).map_err(|m| format!("index block malformed: {m}"))?;
        let mut expect = FILE_HEADER_LEN as u64;
        for e in &entries {
            if e.offset != expect {
                return Err(format!(
                    "index entries do not tile the file (expected a block at {expect}, index says {})",
                    e.offset
                ));
            }
            let end = e
                .payload_len
                .checked_add(BLOCK_OVERHEAD as u64)
                .and_then(|l| l.checked_add(e.offset))
                .filter(|&end| end <= tail.index_offset)
                .ok_or_else(|| format!("index entry at {} runs past the index", e.offset))?;
            expect = end;
        }
        if expect != tail.index_offset {
            return Err("index entries stop short of the index block".into());
        }
        Ok(entries)
    }
}

/// What opening gathers, before it is moved into the reader (blocks borrow the bytes).
#[derive(Default)]
struct Loaded {
    metadata: Metadata,
    chunks: Vec<ChunkInfo>,
    unknown: Vec<UnknownBlock>,
    damage: Damage,
    /// Where each container id sits in `metadata.containers`, so a later block's entry
    /// replaces it without a quadratic search.
    container_at: std::collections::HashMap<String, usize>,
    /// Every block in file order, as the hash chain's check walks them.
    sequence: Vec<Framed>,
}

/// A block as the hash chain sees it (see `verify.rs`).
#[derive(Clone, Debug)]
pub(crate) enum Framed {
    /// A block the chain covers; `chunk` is its number when it is an event chunk.
    Block {
        offset: u64,
        len: u64,
        kind: u16,
        chunk: Option<usize>,
    },
    /// A CHAIN block, parsed.
    Chain {
        offset: u64,
        record: Result<ChainRecord, String>,
    },
    /// Bytes that could not be read (already reported as damage): the chain cannot be
    /// followed across them.
    Lost,
}

impl Framed {
    fn of(block: BlockView<'_>, chunk: Option<usize>) -> Framed {
        if block.kind == BlockKind::Chain as u16 {
            Framed::Chain {
                offset: block.offset,
                record: ChainRecord::parse(block.payload),
            }
        } else {
            Framed::Block {
                offset: block.offset,
                len: block.total_len(),
                kind: block.kind,
                chunk,
            }
        }
    }
}

impl Loaded {
    fn load(&mut self, bytes: &[u8], framing: Framing<'_>) {
        match framing {
            Framing::Index(entries) => {
                for e in entries {
                    if let Some(info) = e.chunk {
                        self.sequence.push(Framed::Block {
                            offset: info.offset,
                            len: info.len,
                            kind: e.kind,
                            chunk: Some(self.chunks.len()),
                        });
                        self.chunks.push(info);
                        continue;
                    }
                    match parse_block(bytes, e.offset) {
                        Ok(block) => {
                            self.sequence.push(Framed::of(block, None));
                            self.load_block(block)
                        }
                        Err(err) => {
                            self.sequence.push(Framed::Lost);
                            let end = e.offset + e.payload_len + BLOCK_OVERHEAD as u64;
                            self.damage.lost.push(LostRange {
                                start: e.offset,
                                end,
                                reason: strip_block_prefix(err),
                                after_ts: None,
                                before_ts: None,
                            });
                        }
                    }
                }
            }
            Framing::Scan(items) => {
                for item in items {
                    match item {
                        Scanned::Block(block) => {
                            if block.kind == BlockKind::Events as u16 {
                                match summarize_chunk(block) {
                                    Ok(info) => {
                                        self.sequence
                                            .push(Framed::of(block, Some(self.chunks.len())));
                                        self.chunks.push(info)
                                    }
                                    Err(reason) => {
                                        self.sequence.push(Framed::Lost);
                                        self.damage.lost.push(LostRange {
                                            start: block.offset,
                                            end: block.end(),
                                            reason: format!("event chunk unreadable: {reason}"),
                                            after_ts: None,
                                            before_ts: None,
                                        })
                                    }
                                }
                            } else if block.kind != BlockKind::Index as u16 {
                                self.sequence.push(Framed::of(block, None));
                                self.load_block(block);
                            }
                        }
                        Scanned::Lost { start, end, reason } => {
                            self.sequence.push(Framed::Lost);
                            self.damage.lost.push(LostRange {
                                start,
                                end,
                                reason,
                                after_ts: None,
                                before_ts: None,
                            })
                        }
                    }
                }
            }
        }
        self.metadata.clocks.sort_by_key(|c| c.boot_ns);
        self.date_lost_ranges();
    }

    /// Brackets each lost range with the times of the nearest good chunks around it.
    fn date_lost_ranges(&mut self) {
        // Chunks are in file order, so prefix maxima and suffix minima answer each range
        // with a binary search: linear-ish even for a file of thousands of tiny pieces.
        let mut prefix_max = Vec::with_capacity(self.chunks.len());
        let mut running: Option<u64> = None;
        for c in &self.chunks {
            running = Some(running.map_or(c.last_ts, |m| m.max(c.last_ts)));
            prefix_max.push(running);
        }
        let mut suffix_min = vec![None; self.chunks.len() + 1];
        for (i, c) in self.chunks.iter().enumerate().rev() {
            suffix_min[i] = Some(suffix_min[i + 1].map_or(c.first_ts, |m: u64| m.min(c.first_ts)));
        }
        for lost in &mut self.damage.lost {
            let before = self.chunks.partition_point(|c| c.offset < lost.start);
            lost.after_ts = before.checked_sub(1).and_then(|i| prefix_max[i]);
            let after = self.chunks.partition_point(|c| c.offset < lost.end);
            lost.before_ts = suffix_min[after];
        }
    }

    fn load_block(&mut self, block: BlockView<'_>) {
        let Some(kind) = BlockKind::from_u16(block.kind) else {
            self.unknown.push(UnknownBlock {
                offset: block.offset,
                kind: block.kind,
                len: block.total_len(),
            });
            return;
        };
        let m = &mut self.metadata;
        let result = match kind {
            BlockKind::Host => json::<HostInfo>(block.payload).map(|h| m.host = Some(h)),
            BlockKind::Clocks => json::<Vec<ClockPair>>(block.payload).map(|c| m.clocks.extend(c)),
            BlockKind::Processes => {
                json::<ProcessSnapshot>(block.payload).map(|s| m.processes.push(s))
            }
            BlockKind::Containers => json::<Vec<ContainerInfo>>(block.payload).map(|cs| {
                for c in cs {
                    match self.container_at.get(&c.id) {
                        Some(&i) => m.containers[i] = c,
                        None => {
                            self.container_at.insert(c.id.clone(), m.containers.len());
                            m.containers.push(c);
                        }
                    }
                }
            }),
            BlockKind::Users => json::<UsersAndGroups>(block.payload).map(|u| {
                m.users.users.extend(u.users);
                m.users.groups.extend(u.groups);
            }),
            BlockKind::Alert => json::<Alert>(block.payload).map(|a| m.alerts.push(a)),
            BlockKind::Drops => {
                json::<DropLedger>(block.payload).map(|d| m.drops.entries.extend(d.entries))
            }
            // Chain records are gathered by `load`, in file order.
            BlockKind::Events | BlockKind::Index | BlockKind::Chain => Ok(()),
        };
        if let Err(reason) = result {
            self.damage.lost.push(LostRange {
                start: block.offset,
                end: block.end(),
                reason: format!("{} block unreadable: {reason}", kind.name()),
                after_ts: None,
                before_ts: None,
            });
        }
    }
}

enum Framing<'a> {
    Index(Vec<IndexEntry>),
    Scan(Vec<Scanned<'a>>),
}

/// Decompresses a metadata payload (one zstd frame of JSON), bounded in size.
fn json<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    let decoder =
        zstd::stream::read::Decoder::with_buffer(payload).map_err(|e| format!("zstd: {e}"))?;
    let mut raw = Vec::new();
    decoder
        .take(MAX_METADATA_RAW_LEN + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("zstd: {e}"))?;
    if raw.len() as u64 > MAX_METADATA_RAW_LEN {
        return Err(format!(
            "decompresses to more than the {MAX_METADATA_RAW_LEN}-byte limit"
        ));
    }
    serde_json::from_slice(&raw).map_err(|e| format!("JSON: {e}"))
}

/// In a scan there is no index to say what a chunk holds, so it is decoded to find out;
/// that also proves the chunk readable before it is offered.
pub(crate) fn summarize_chunk(block: BlockView<'_>) -> Result<ChunkInfo, String> {
    let (header, body) = ChunkHeader::parse(block.payload).map_err(|m| m.to_string())?;
    let events = decode_chunk_body(&header, body)?;
    let mut pids = Vec::with_capacity(events.len());
    let mut cgroup_ids = Vec::new();
    for e in &events {
        pids.push(e.pid);
        match &e.body {
            EventBody::Syscall(s) => cgroup_ids.push(s.cgroup_id),
            EventBody::Fork(f) => {
                pids.push(f.child_pid);
                cgroup_ids.push(f.cgroup_id);
            }
            EventBody::Exec(x) => cgroup_ids.push(x.cgroup_id),
            EventBody::Exit(_) => {}
            EventBody::CgroupMkdir(c) => cgroup_ids.push(c.cgroup_id),
        }
    }
    pids.sort_unstable();
    pids.dedup();
    cgroup_ids.sort_unstable();
    cgroup_ids.dedup();
    Ok(ChunkInfo {
        offset: block.offset,
        len: block.total_len(),
        first_ts: header.first_ts,
        last_ts: header.last_ts,
        first_seq: header.first_seq,
        event_count: header.event_count,
        pids,
        cgroup_ids,
    })
}

pub(crate) enum Scanned<'a> {
    Block(BlockView<'a>),
    Lost {
        start: u64,
        end: u64,
        reason: String,
    },
}

/// Walks the file block by block from the header. After a bad block it resyncs on the
/// next sync marker that starts a block whose CRC holds; everything skipped is reported.
pub(crate) fn scan(file: &[u8]) -> Vec<Scanned<'_>> {
    let mut out = Vec::new();
    // An intact tail is not damage, even when the index it points at is.
    let end = if Tail::parse(file).is_some() {
        file.len() - TAIL_LEN
    } else {
        file.len()
    };
    let file_scanned = &file[..end];
    let mut budget = ScanBudget::for_len(end);
    let mut pos = FILE_HEADER_LEN;
    while pos < end {
        if !budget.charge(file_scanned, pos) {
            out.push(budget.exhausted(pos, end));
            break;
        }
        match parse_block(file_scanned, pos as u64) {
            Ok(block) => {
                pos = block.end() as usize;
                out.push(Scanned::Block(block));
            }
            Err(first_error) => match resync(file_scanned, pos + 1, &mut budget) {
                Ok(next) => {
                    out.push(Scanned::Lost {
                        start: pos as u64,
                        end: next as u64,
                        reason: strip_block_prefix(first_error),
                    });
                    pos = next;
                }
                Err(stopped_at) => {
                    if stopped_at > pos {
                        out.push(Scanned::Lost {
                            start: pos as u64,
                            end: stopped_at as u64,
                            reason: strip_block_prefix(first_error),
                        });
                    }
                    out.push(budget.exhausted(stopped_at, end));
                    break;
                }
            },
        }
    }
    out
}

/// Bounds the checksum work of a scan. Each candidate block costs a CRC over the length
/// its header claims, so a hostile file full of fake sync markers claiming long payloads
/// would make resyncing quadratic; past this budget (many times what an honest file
/// needs) the scan stops and reports the rest as lost, keeping open time linear.
struct ScanBudget {
    left: u64,
}

impl ScanBudget {
    fn for_len(len: usize) -> ScanBudget {
        ScanBudget {
            left: (len as u64).saturating_mul(16).saturating_add(64 << 20),
        }
    }

    /// Pays for checking a block at `at`; false when the budget cannot.
    fn charge(&mut self, file: &[u8], at: usize) -> bool {
        let rest = file.len().saturating_sub(at) as u64;
        let claimed = file
            .get(at + 8..at + 16)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        let cost = claimed.saturating_add(BLOCK_OVERHEAD as u64).min(rest);
        if cost > self.left {
            return false;
        }
        self.left -= cost;
        true
    }

    fn exhausted(&self, from: usize, end: usize) -> Scanned<'static> {
        Scanned::Lost {
            start: from as u64,
            end: end as u64,
            reason: "recovery stopped: too many false block markers to check (hostile or \
                     badly damaged file)"
                .into(),
        }
    }
}

/// The offset of the next intact block after damage, or the end of the data when there is
/// none; `Err(at)` when the budget ran out at `at` before one was found.
fn resync(file: &[u8], from: usize, budget: &mut ScanBudget) -> Result<usize, usize> {
    let mut at = from;
    while at < file.len() {
        let Some(found) = find_sync(&file[at..]) else {
            break;
        };
        let candidate = at + found;
        if !budget.charge(file, candidate) {
            return Err(candidate);
        }
        if parse_block(file, candidate as u64).is_ok() {
            return Ok(candidate);
        }
        at = candidate + 1;
    }
    Ok(file.len())
}

fn find_sync(hay: &[u8]) -> Option<usize> {
    hay.windows(BLOCK_SYNC.len()).position(|w| w == BLOCK_SYNC)
}

/// Block errors carry "bad block at byte N:"; inside a lost range that is redundant.
fn strip_block_prefix(e: Error) -> String {
    match e {
        Error::BadBlock { reason, .. } => reason,
        other => other.to_string(),
    }
}

struct EventsIter<'a> {
    reader: &'a CaptureReader,
    next_chunk: usize,
    current: Option<(usize, ChunkStream)>,
    spare: Vec<u8>,
}

impl Iterator for EventsIter<'_> {
    type Item = Result<Event, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((index, stream)) = &mut self.current {
                match stream.next_event() {
                    Some(Ok(e)) => return Some(Ok(e)),
                    Some(Err(malformed)) => {
                        let reason = malformed.to_string();
                        let index = *index;
                        if let Some((_, done)) = self.current.take() {
                            self.spare = done.into_buffer();
                        }
                        let info = &self.reader.chunks[index];
                        return Some(Err(self.reader.bad_chunk(index, info, reason)));
                    }
                    None => {
                        if let Some((_, done)) = self.current.take() {
                            self.spare = done.into_buffer();
                        }
                    }
                }
            }
            if self.next_chunk >= self.reader.chunks.len() {
                return None;
            }
            let i = self.next_chunk;
            self.next_chunk += 1;
            let opened = self.reader.chunk_block(i).and_then(|(header, body)| {
                ChunkStream::open(&header, body, std::mem::take(&mut self.spare))
                    .map_err(|reason| self.reader.bad_chunk(i, &self.reader.chunks[i], reason))
            });
            match opened {
                Ok(stream) => self.current = Some((i, stream)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// See [`CaptureReader::event_cursor`].
pub struct EventCursor<'r> {
    reader: &'r CaptureReader,
    next_chunk: usize,
    chunk: DecompressedChunk,
    decoder: Option<ColumnDecoder>,
    event: Event,
    spares: Spares,
    records: Records,
}

impl EventCursor<'_> {
    /// The next event; `None` at the end. A chunk that fails yields one error and the
    /// cursor goes on with the next chunk.
    #[inline]
    #[expect(
        clippy::should_implement_trait,
        reason = "a lending cursor: the event is borrowed until the next call, which Iterator cannot express"
    )]
    pub fn next(&mut self) -> Option<Result<&Event, Error>> {
        loop {
            if let Some(d) = &mut self.decoder {
                match d.next_into(self.chunk.raw(), &mut self.event, &mut self.spares) {
                    Some(Ok(())) => return Some(Ok(&self.event)),
                    Some(Err(malformed)) => {
                        self.decoder = None;
                        let index = self.chunk.index();
                        let info = &self.reader.chunks[index];
                        return Some(Err(self.reader.bad_chunk(
                            index,
                            info,
                            malformed.to_string(),
                        )));
                    }
                    None => self.decoder = None,
                }
            }
            if self.next_chunk >= self.reader.chunks.len() {
                return None;
            }
            let i = self.next_chunk;
            self.next_chunk += 1;
            let opened = self
                .reader
                .decompress_chunk(i, &mut self.chunk)
                .and_then(|()| {
                    self.chunk
                        .stream(self.records)
                        .map_err(|reason| self.reader.bad_chunk(i, &self.reader.chunks[i], reason))
                });
            match opened {
                Ok(d) => self.decoder = Some(d),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
