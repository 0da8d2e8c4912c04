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
