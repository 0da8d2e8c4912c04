//! The hash chain (format 1.1): every block a writer writes, except the chain's own blocks
//! and the index, is followed by a CHAIN link naming its position in the file's sequence of
//! blocks and its SHA-256, and chaining that to the link before. A CHAIN end record before
//! the index holds the number of links and the final hash.
//!
//! CRCs catch accidents; the chain catches a file edited while keeping its framing valid (a
//! chunk duplicated, dropped, moved or replaced, with the index rebuilt), and names the
//! chunk. It does not by itself prove who wrote the file: anyone can compute a chain. A
//! signature over the file's SHA-256 and the final hash does (see [`crate::sign`]).

use sha2::{Digest, Sha256};

use crate::layout::{BlockKind, FILE_HEADER_LEN};

pub const CHAIN_PAYLOAD_LEN: usize = 88;
const LINK: u8 = 1;
const END: u8 = 2;
/// Domain separation: these hashes mean nothing outside this chain.
const DOMAIN: &[u8; 8] = b"ATCHAIN1";

/// One CHAIN block's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainRecord {
    /// Follows the block it covers.
    Link {
        /// The covered block's position among the file's chained blocks, from 0.
        seq: u64,
        /// The covered block's kind.
        kind: u16,
        /// SHA-256 of the covered block, sync marker to CRC.
        block_sha256: [u8; 32],
        /// `sha256(DOMAIN || previous chain || seq || kind || block_sha256)`.
        chain: [u8; 32],
    },
    /// Before the index: how many links there are and the last one's chain.
    End { links: u64, chain: [u8; 32] },
}

impl ChainRecord {
    pub fn encode(&self) -> [u8; CHAIN_PAYLOAD_LEN] {
        let mut b = [0u8; CHAIN_PAYLOAD_LEN];
        match *self {
            ChainRecord::Link {
                seq,
                kind,
                block_sha256,
                chain,
            } => {
                b[0] = LINK;
                b[8..16].copy_from_slice(&seq.to_le_bytes());
                b[16..18].copy_from_slice(&kind.to_le_bytes());
                b[24..56].copy_from_slice(&block_sha256);
                b[56..88].copy_from_slice(&chain);
            }
            ChainRecord::End { links, chain } => {
                b[0] = END;
                b[8..16].copy_from_slice(&links.to_le_bytes());
                b[56..88].copy_from_slice(&chain);
            }
        }
        b
    }

    pub fn parse(p: &[u8]) -> Result<ChainRecord, String> {
        if p.len() != CHAIN_PAYLOAD_LEN {
            return Err(format!(
                "chain record of {} bytes, expected {CHAIN_PAYLOAD_LEN}",
                p.len()
            ));
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let hash_at = |i: usize| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&p[i..i + 32]);
            a
        };
        let zero = |r: std::ops::Range<usize>| p[r].iter().all(|&b| b == 0);
        match p[0] {
            LINK if zero(1..8) && zero(18..24) => Ok(ChainRecord::Link {
                seq: u64_at(8),
                kind: u16::from_le_bytes([p[16], p[17]]),
                block_sha256: hash_at(24),
                chain: hash_at(56),
            }),
            END if zero(1..8) && zero(16..56) => Ok(ChainRecord::End {
                links: u64_at(8),
                chain: hash_at(56),
            }),
            LINK | END => Err("reserved chain record bytes are not zero".into()),
            other => Err(format!("unknown chain record type {other}")),
        }
    }
}

/// The chain's starting value, tied to the file header (and so to the file id).
pub fn chain_start(header: &[u8; FILE_HEADER_LEN]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(header);
    h.finalize().into()
}

pub fn chain_next(prev: &[u8; 32], seq: u64, kind: u16, block_sha256: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(seq.to_le_bytes());
    h.update(kind.to_le_bytes());
    h.update(block_sha256);
    h.finalize().into()
}

/// Whether a block of this kind gets a link.
pub fn is_chained(kind: u16) -> bool {
    kind != BlockKind::Chain as u16 && kind != BlockKind::Index as u16
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
