//! A full check of a capture: every block's checksum, every chunk decompressed and decoded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::chain::{self, ChainRecord};
use crate::layout::BlockKind;
use crate::reader::Framed;

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
    /// The hash chain's check; `None` for a file without one (written before format 1.1).
    pub chain: Option<ChainReport>,
}

/// What following the hash chain found (see [`crate::chain`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Links whose block hashed as chained.
    pub links: u64,
    /// The end record's final hash, when the file has one.
    pub final_hash: Option<[u8; 32]>,
    /// Each place the chain does not hold, naming the chunk or block.
    pub problems: Vec<ChainProblem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainProblem {
    /// Where in the file.
    pub offset: u64,
    /// The event chunk concerned, by its number in the index, if it is one.
    pub chunk: Option<usize>,
    pub what: String,
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
        self.bad_chunks.is_empty()
            && self.lost.is_empty()
            && self.index_unusable.is_none()
            && self.chain.as_ref().is_none_or(|c| c.problems.is_empty())
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
        let bad: BTreeSet<usize> = report.bad_chunks.iter().map(|b| b.index).collect();
        report.chain = self.check_chain(&bad);
        report
    }

    /// The chain's final hash as the file's end record states it, unchecked (`verify`
    /// checks it); `None` without one.
    pub fn chain_final_hash(&self) -> Option<[u8; 32]> {
        self.sequence().iter().rev().find_map(|f| match f {
            Framed::Chain {
                record: Ok(ChainRecord::End { chain, .. }),
                ..
            } => Some(*chain),
            _ => None,
        })
    }

    /// Follows the chain through the blocks in file order. `bad` chunks are reported by
    /// the chunk check already; the chain is not held against them.
    fn check_chain(&self, bad: &BTreeSet<usize>) -> Option<ChainReport> {
        let sequence = self.sequence();
        let has_chain = sequence.iter().any(|f| matches!(f, Framed::Chain { .. }));
        if !has_chain {
            // A 1.1 writer always writes one; its absence from a 1.1 file is news.
            return (self.version() >= (1, 1)).then(|| ChainReport {
                problems: vec![ChainProblem {
                    offset: 0,
                    chunk: None,
                    what: "no hash chain, though the file says format 1.1 (which always has \
                           one): its chain blocks were removed"
                        .into(),
                }],
                ..ChainReport::default()
            });
        }
        let bytes = self.bytes();
        let mut report = ChainReport::default();
        let mut problem = |offset: u64, chunk: Option<usize>, what: String| {
            report.problems.push(ChainProblem {
                offset,
                chunk,
                what,
            })
        };
        // Every link's position and hash, to tell a duplicate from a move, and the
        // positions that appear anywhere, to tell a drop from a move.
        let mut all_positions = BTreeSet::new();
        for f in sequence {
            if let Framed::Chain {
                record: Ok(ChainRecord::Link { seq, .. }),
                ..
            } = f
            {
                all_positions.insert(*seq);
            }
        }
        // Each position's first link: its block's hash, the block named, and its chain value.
        let mut seen: BTreeMap<u64, ([u8; 32], String, [u8; 32])> = BTreeMap::new();
        let start = chain::chain_start(&self.header_bytes());
        // The chain value a link at `seq` must follow from, when that link was seen.
        let before = |seen: &BTreeMap<u64, ([u8; 32], String, [u8; 32])>, seq: u64| match seq {
            0 => Some(start),
            n => seen.get(&(n - 1)).map(|(_, _, c)| *c),
        };
        let mut expect: u64 = 0;
        // After lost bytes the chain is taken up again at the next link.
        let mut resync = false;
        let mut pending: Option<(u64, u64, u16, Option<usize>)> = None;
        let mut ended = false;
        let describe = |offset: u64, kind: u16, chunk: Option<usize>| match chunk {
            Some(i) => format!("chunk #{i} at byte {offset}"),
            None => match BlockKind::from_u16(kind) {
                Some(k) => format!("{} block at byte {offset}", k.name()),
                None => format!("block of kind {kind:#06x} at byte {offset}"),
            },
        };
        for f in sequence {
            match f {
                Framed::Lost => {
                    pending = None;
                    resync = true;
                }
                Framed::Block {
                    offset,
                    len,
                    kind,
                    chunk,
                } => {
                    if let Some((o, _, k, c)) = pending.take() {
                        problem(
                            o,
                            c,
                            format!(
                                "{} has no chain link after it: it was inserted (or its link removed)",
                                describe(o, k, c)
                            ),
                        );
                    }
                    if ended {
                        problem(
                            *offset,
                            *chunk,
                            format!(
                                "{} comes after the chain's end: it was appended",
                                describe(*offset, *kind, *chunk)
                            ),
                        );
                        continue;
                    }
                    pending = Some((*offset, *len, *kind, *chunk));
                }
                Framed::Chain { offset, record } => {
                    let record = match record {
                        Ok(r) => r,
                        Err(why) => {
                            problem(
                                *offset,
                                None,
                                format!("chain block at byte {offset}: {why}"),
                            );
                            pending = None;
                            resync = true;
                            continue;
                        }
                    };
                    match *record {
                        ChainRecord::End { links, chain } => {
                            if let Some((o, _, k, c)) = pending.take() {
                                problem(
                                    o,
                                    c,
                                    format!(
                                        "{} has no chain link after it: it was inserted (or its link removed)",
                                        describe(o, k, c)
                                    ),
                                );
                            }
                            if links != expect && !resync {
                                let what = if links > expect {
                                    format!(
                                        "the chain's end counts {links} links but the file has {expect}: \
                                         the last {} chained block(s) were dropped",
                                        links - expect
                                    )
                                } else {
                                    format!(
                                        "the chain's end counts {links} links but the file has {expect}: \
                                         blocks were added"
                                    )
                                };
                                problem(*offset, None, what);
                            } else if !resync
                                && links > 0
                                && before(&seen, links).is_some_and(|last| last != chain)
                            {
                                problem(
                                    *offset,
                                    None,
                                    "the chain's final hash is not the last link's".into(),
                                );
                            }
                            report.final_hash = Some(chain);
                            ended = true;
                        }
                        ChainRecord::Link {
                            seq,
                            kind,
                            block_sha256,
                            chain,
                        } => {
                            let Some((o, len, k, c)) = pending.take() else {
                                problem(
                                    *offset,
                                    None,
                                    format!(
                                        "the chain link at byte {offset} (position {seq}) follows no block: \
                                         its block was removed"
                                    ),
                                );
                                seen.entry(seq).or_insert(([0; 32], String::new(), chain));
                                expect = seq.saturating_add(1);
                                continue;
                            };
                            let what = describe(o, k, c);
                            let skip_hash = c.is_some_and(|i| bad.contains(&i));
                            let hash = usize::try_from(o)
                                .ok()
                                .zip(usize::try_from(o.saturating_add(len)).ok())
                                .and_then(|(a, b)| bytes.get(a..b))
                                .map(chain::sha256);
                            let mut fine = true;
                            if !skip_hash && (hash != Some(block_sha256) || k != kind) {
                                fine = false;
                                problem(
                                    o,
                                    c,
                                    format!(
                                        "{what}: its content is not what the chain recorded there \
                                         (replaced or edited)"
                                    ),
                                );
                            } else if seq != expect && !resync {
                                fine = false;
                                let text = if let Some((_, first, _)) =
                                    seen.get(&seq).filter(|(h, _, _)| *h == block_sha256)
                                {
                                    format!(
                                        "{what} duplicates {first} (chain position {seq}, expected {expect})"
                                    )
                                } else if seq > expect {
                                    let missing: Vec<u64> = (expect..seq)
                                        .filter(|p| !all_positions.contains(p))
                                        .collect();
                                    if missing.len() as u64 == seq - expect {
                                        format!(
                                            "before {what}: chain position(s) {} dropped (a chunk or \
                                             block removed)",
                                            positions(expect, seq)
                                        )
                                    } else {
                                        format!(
                                            "{what} is out of order: the chain puts it at position \
                                             {seq}, expected {expect} (chunks reordered)"
                                        )
                                    }
                                } else {
                                    format!(
                                        "{what} is out of order: the chain puts it at position {seq}, \
                                         expected {expect} (chunks reordered)"
                                    )
                                };
                                problem(o, c, text);
                            } else if !resync
                                && before(&seen, seq).is_some_and(|prev| {
                                    chain != chain::chain_next(&prev, seq, kind, &block_sha256)
                                })
                            {
                                fine = false;
                                problem(
                                    o,
                                    c,
                                    format!("{what}: its chain link does not follow from the one before"),
                                );
                            }
                            if fine {
                                report.links += 1;
                            }
                            seen.entry(seq).or_insert((block_sha256, what, chain));
                            expect = expect.max(seq.saturating_add(1));
                            resync = false;
                        }
                    }
                }
            }
        }
        if let Some((o, _, k, c)) = pending {
            problem(
                o,
                c,
                format!(
                    "{} has no chain link after it: it was inserted (or its link removed)",
                    describe(o, k, c)
                ),
            );
        }
        if !ended && self.damage().index_unusable.is_none() {
            problem(
                bytes.len() as u64,
                None,
                "the chain has no end record: the chain blocks at the end were removed".into(),
            );
        }
        Some(report)
    }
}

fn positions(from: u64, to: u64) -> String {
    if to - from == 1 {
        from.to_string()
    } else {
        format!("{from}..{}", to - 1)
    }
}
