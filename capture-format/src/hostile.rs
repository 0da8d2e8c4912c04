//! Hostile but well-framed files, built on demand for tests (so no blob is committed):
//! every CRC holds, yet the content is made to cost a careless reader dearly. Not part of
//! the crate's API.

use crate::chunk::RawChunk;
use crate::layout::{CODEC_ZSTD, ENCODING_COLUMNS_V1, MAX_CHUNK_RAW_LEN};
use crate::writer::{CaptureWriter, WriterOptions};

/// A capture of `chunks` EVENTS chunks, each a ~2 KiB zstd frame of 64 MiB of zeros that
/// claims (truthfully) 64 MiB of raw records and one event. The zeros do not decode, so a
/// reader that holds every decompressed chunk at once needs 64 MiB per chunk. With
/// `overlapping`, every chunk claims the same time range, so a reader that merges chunks
/// overlapping in time (to sort their events) would merge them all.
pub fn zero_bomb(chunks: usize, overlapping: bool) -> Vec<u8> {
    let zeros = vec![0u8; MAX_CHUNK_RAW_LEN as usize];
    let data = zstd::bulk::compress(&zeros, 19).unwrap_or_default();
    drop(zeros);
    let mut w = match CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            file_id: Some([0xB0; 16]),
            ..WriterOptions::default()
        },
    ) {
        Ok(w) => w,
        Err(_) => return Vec::new(),
    };
    for i in 0..chunks as u64 {
        let at = if overlapping { 0 } else { i * 10 };
        let chunk = RawChunk {
            first_ts: 1_000 + at,
            last_ts: 1_000 + at + 5,
            first_seq: i,
            event_count: 1,
            encoding: ENCODING_COLUMNS_V1,
            codec: CODEC_ZSTD,
            raw_len: MAX_CHUNK_RAW_LEN,
            pids: vec![1],
            cgroup_ids: Vec::new(),
            data: data.clone(),
        };
        if w.copy_raw_chunk(&chunk).is_err() {
            return Vec::new();
        }
    }
    w.finish().unwrap_or_default()
}

/// The blocks of `file` (index excluded) as raw bytes, in file order, handed to `edit`,
/// then framed again as a whole file with a fresh, valid index and tail: what a forger
/// does to keep every CRC and the index consistent after moving chunks around.
pub fn reframe(file: &[u8], edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    use crate::index::{encode_index, IndexEntry};
    use crate::layout::{BlockHeader, BlockKind, Tail, FILE_HEADER_LEN};
    use crate::reader::{scan, summarize_chunk, Scanned};

    let mut blocks: Vec<Vec<u8>> = scan(file)
        .into_iter()
        .filter_map(|item| match item {
            Scanned::Block(b) if b.kind != BlockKind::Index as u16 => {
                Some(file[b.offset as usize..b.end() as usize].to_vec())
            }
            _ => None,
        })
        .collect();
    edit(&mut blocks);
    let mut out = file[..FILE_HEADER_LEN].to_vec();
    let mut entries = Vec::new();
    for b in &blocks {
        let offset = out.len() as u64;
        out.extend_from_slice(b);
        let Ok(view) = crate::layout::parse_block(&out, offset) else {
            continue;
        };
        let chunk = (view.kind == BlockKind::Events as u16)
            .then(|| summarize_chunk(view).ok())
            .flatten();
        entries.push(IndexEntry {
            offset,
            kind: view.kind,
            payload_len: view.payload.len() as u64,
            chunk,
        });
    }
    let index_offset = out.len() as u64;
    let payload = encode_index(&entries);
    let header = BlockHeader {
        kind: BlockKind::Index as u16,
        flags: 0,
        payload_len: payload.len() as u64,
    }
    .encode();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header), &payload);
    out.extend_from_slice(&header);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&Tail { index_offset }.encode());
    out
}

/// Positions in `blocks` (as [`reframe`] hands them) of the EVENTS blocks.
pub fn events_blocks(blocks: &[Vec<u8>]) -> Vec<usize> {
    blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            b.get(4..6) == Some(&(crate::layout::BlockKind::Events as u16).to_le_bytes()[..])
        })
        .map(|(i, _)| i)
        .collect()
}
