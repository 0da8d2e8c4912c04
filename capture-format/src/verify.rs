//! A full check of a capture: every block's checksum, every chunk decompressed and decoded.

use std::path::Path;

use crate::error::Error;
use crate::reader::{CaptureReader, LostRange};

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub good_chunks: Vec<ChunkCheck>,
    pub bad_chunks: Vec<BadChunkReport>,
    /// Byte ranges lost while framing the file (see [`crate::Damage`]).
    pub lost: Vec<LostRange>,
    /// Why the index was not used, when it was not.
    pub index_unusable: Option<String>,
    /// Events decoded from the good chunks.
    pub events: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkCheck {
    pub index: usize,
    pub offset: u64,
    pub first_ts: u64,
    pub last_ts: u64,
    pub event_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadChunkReport {
    pub index: usize,
    pub offset: u64,
    pub len: u64,
    /// The time range the index claims for the chunk.
    pub first_ts: u64,
    pub last_ts: u64,
    pub reason: String,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.bad_chunks.is_empty() && self.lost.is_empty() && self.index_unusable.is_none()
    }
}

/// Opens and fully checks a capture. Fails only when the file cannot be framed at all;
/// every other problem is in the report.
pub fn verify(path: &Path) -> Result<VerifyReport, Error> {
    Ok(CaptureReader::open(path)?.verify())
}

impl CaptureReader {
    /// Decodes every chunk; see [`verify`].
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport {
            lost: self.damage().lost.clone(),
            index_unusable: self.damage().index_unusable.clone(),
            ..VerifyReport::default()
        };
        for (index, info) in self.chunks().iter().enumerate() {
            match self.chunk_events(index) {
                Ok(events) => {
                    report.events += events.len() as u64;
                    report.good_chunks.push(ChunkCheck {
                        index,
                        offset: info.offset,
                        first_ts: info.first_ts,
                        last_ts: info.last_ts,
                        event_count: info.event_count,
                    });
                }
                Err(e) => report.bad_chunks.push(BadChunkReport {
                    index,
                    offset: info.offset,
                    len: info.len,
                    first_ts: info.first_ts,
                    last_ts: info.last_ts,
                    reason: match e {
                        Error::BadChunk { reason, .. } => reason,
                        other => other.to_string(),
                    },
                }),
            }
        }
        report
    }
}
