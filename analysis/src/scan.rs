//! One pass over a capture's events: chunks decoded in parallel, only where the index says
//! they are needed, the process tree grown in time order as the pass goes, and results
//! handed on in time order.
//!
//! The pass goes batch by batch. For each batch of chunk groups:
//! 1. decompress the groups' chunks in parallel, and decode what the tree needs from them
//!    (only the lifecycle records, or every record without syscall parameters when activity
//!    is counted);
//! 2. grow the process tree with the batch's fork/exec/exit records, in order;
//! 3. decode each group's events in parallel, a few hundred at a time into a small buffer
//!    that stays in cache, and run the caller's `work` on each such run of events, with the
//!    tree as it now stands (every tree query takes a time, so a tree that has seen
//!    everything up to the group's end answers exactly as the finished one would);
//! 4. hand the results to the caller's `sink` in order.
//!
//! Only one batch of decompressed chunks is held at a time, so memory stays bounded whatever
//! the capture's size. A chunk that fails to decompress or that the tree's decode finds
//! malformed contributes nothing; one found malformed only by the full decode of step 3
//! has the events before the fault handed on, then its error.

use std::ops::Range;

use std::cell::RefCell;
use std::sync::Mutex;

use capture_format::{
    BootNs, CaptureReader, ChunkInfo, DecompressedChunk, Event, EventBuffer, Records,
};
use rayon::prelude::*;

use crate::procs::{activity, is_lifecycle, Activity, ProcessTree};
use crate::select::TimeRange;

/// How much of the process tree a pass must build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeNeed {
    /// None: neither the output nor the filter asks about processes.
    No,
    /// Up to the end of the time range (what events in the range need to be described).
    UntilRangeEnd,
    /// The whole capture (exits and children after the range matter too).
    Whole,
}

/// What a pass reads and what it hands to `work`.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Events outside this range are not handed to `work`.
    pub range: TimeRange,
    /// When set (sorted), only chunks holding one of these pids can hold events for
    /// `work` (see [`crate::select::required_pids`]).
    pub pids: Option<Vec<u32>>,
    pub tree: TreeNeed,
    /// Count each process's records into the tree ([`ProcessTree::add_activity`]).
    pub activity: bool,
    /// Whether `work` wants events at all (false: the pass only builds the tree).
    pub output: bool,
    /// The records `work` is given: all, or without syscalls (their columns are then not
    /// read), or without the syscalls its filter cannot select (their parameters are then
    /// not decoded).
    pub records: Records,
}

/// Consecutive chunks whose time ranges overlap (events reordered across a chunk
/// boundary), decoded and sorted together so the pass stays in time order. Captures this
/// project writes have one chunk per group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub chunks: Range<usize>,
    pub first_ts: BootNs,
    pub last_ts: BootNs,
    pub events: u64,
}

pub fn groups(chunks: &[ChunkInfo]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        match out.last_mut() {
            Some(g) if c.first_ts < g.last_ts => {
                g.chunks.end = i + 1;
                g.first_ts = g.first_ts.min(c.first_ts);
                g.last_ts = g.last_ts.max(c.last_ts);
                g.events += u64::from(c.event_count);
            }
            _ => out.push(Group {
                chunks: i..i + 1,
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                events: u64::from(c.event_count),
            }),
        }
        // A chunk reaching back before earlier groups' ends joins them too.
        while let [.., before, last] = out.as_mut_slice() {
            if before.last_ts <= last.first_ts {
                break;
            }
            before.chunks.end = last.chunks.end;
            before.first_ts = before.first_ts.min(last.first_ts);
            before.last_ts = before.last_ts.max(last.last_ts);
            before.events += last.events;
            out.pop();
        }
    }
    out
}

/// Groups of a hostile file cut where they would hold more decompressed bytes than this
/// (see [`bounded_groups`]).
pub const GROUP_RAW_BYTES: u64 = 128 << 20;

/// [`groups`], with any group whose chunks would decompress to more than
/// [`GROUP_RAW_BYTES`] together cut into pieces that do not (a piece may be one chunk of
/// up to the format's 64 MiB). Chunks that all overlap in time would otherwise be held
/// decompressed at once, however many there are; honest captures have one chunk per group
/// and are never cut. The pieces of a cut group are each in time order, but their events
/// may interleave in time: a hostile file gets a slightly disordered pass, not a reader
/// that runs out of memory.
pub fn bounded_groups(reader: &CaptureReader) -> Vec<Group> {
    let chunks = reader.chunks();
    let mut out = Vec::new();
    for g in groups(chunks) {
        let mut piece: Option<(Group, u64)> = None;
        for i in g.chunks.clone() {
            let c = &chunks[i];
            let raw = reader.chunk_raw_len(i);
            match &mut piece {
                Some((p, bytes)) if *bytes + raw <= GROUP_RAW_BYTES => {
                    p.chunks.end = i + 1;
                    p.first_ts = p.first_ts.min(c.first_ts);
                    p.last_ts = p.last_ts.max(c.last_ts);
                    p.events += u64::from(c.event_count);
                    *bytes += raw;
                }
                _ => {
                    out.extend(piece.take().map(|(p, _)| p));
                    piece = Some((
                        Group {
                            chunks: i..i + 1,
                            first_ts: c.first_ts,
                            last_ts: c.last_ts,
                            events: u64::from(c.event_count),
                        },
                        raw,
                    ));
                }
            }
        }
        out.extend(piece.map(|(p, _)| p));
    }
    out
}

/// A batch holds at most this many events (a decompressed chunk takes ~80 bytes each).
const BATCH_EVENTS: u64 = 1 << 20;

/// ... and its chunks decompress to at most this many bytes together (a batch of one group
/// may hold up to [`GROUP_RAW_BYTES`]). The number of chunks decompressed at once is thus
/// bounded by their size, not only by the thread count: 32 threads on chunks that each
/// claim 64 MiB would otherwise hold 4 GiB.
pub const BATCH_RAW_BYTES: u64 = 128 << 20;

/// Decompression buffers kept for reuse between batches hold at most this much.
const POOL_BYTES: usize = 64 << 20;

/// Events decoded per call of `work`: their ~200 KiB stay in the core's cache, where
/// decoding into the same buffer again reuses warm memory.
const RUN_EVENTS: usize = 1024;

struct Decompressed {
    /// The group's chunks that read well, in order, and whether `work` sees each.
    chunks: Vec<(DecompressedChunk, bool)>,
    lifecycle: Vec<Event>,
    activity: Vec<Activity>,
    errors: Vec<capture_format::Error>,
}

thread_local! {
    /// The records the tree needs from one group.
    static TREE_EVENTS: RefCell<EventBuffer> = RefCell::new(EventBuffer::new());
    /// One run of events for `work`.
    static RUN: RefCell<EventBuffer> = RefCell::new(EventBuffer::new());
    /// A whole group's events, when they must be sorted before `work` sees them.
    static GROUP_EVENTS: RefCell<EventBuffer> = RefCell::new(EventBuffer::new());
}

/// Runs one pass (see the module docs). `tree` is grown as far as `plan.tree` asks;
/// `on_error` hears about each chunk that could not be read, in order, before the results
/// of its group. Stops at the first error `sink` returns.
pub fn run<R, E>(
    reader: &CaptureReader,
    plan: &Plan,
    tree: &mut ProcessTree,
    work: impl Fn(&[Event], &ProcessTree) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
    mut on_error: impl FnMut(capture_format::Error),
) -> Result<(), E>
where
    R: Send,
{
    let chunks = reader.chunks();
    let all = bounded_groups(reader);
    let chunk_may_output = |i: usize| {
        let c = &chunks[i];
        plan.output
            && plan.range.overlaps(c.first_ts, c.last_ts)
            && plan
                .pids
                .as_ref()
                .is_none_or(|want| want.iter().any(|p| c.pids.binary_search(p).is_ok()))
    };
    let tree_needs = |g: &Group| match plan.tree {
        TreeNeed::No => false,
        TreeNeed::Whole => true,
        TreeNeed::UntilRangeEnd => plan.range.until.is_none_or(|u| g.first_ts <= u),
    };
    // Groups the pass must decode, with whether `work` sees them.
    let todo: Vec<(&Group, bool)> = all
        .iter()
        .filter_map(|g| {
            let output = g.chunks.clone().any(chunk_may_output);
            (output || tree_needs(g)).then_some((g, output))
        })
        .collect();
    let output_records = plan.records;
    // Activity counts and times every record, but never looks inside a syscall.
    let tree_records = if plan.activity {
        Records::WithoutParams
    } else {
        Records::NoSyscalls
    };

    let threads = rayon::current_num_threads().max(1);
    // Decompression buffers go round from batch to batch, so their pages are reused.
    let spare_chunks: Mutex<Vec<DecompressedChunk>> = Mutex::new(Vec::new());
    let take_chunk = || {
        spare_chunks
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    };
    let give_back = |done: Vec<(DecompressedChunk, bool)>| {
        if let Ok(mut v) = spare_chunks.lock() {
            let mut kept: usize = v.iter().map(DecompressedChunk::buffer_capacity).sum();
            for (c, _) in done {
                // A buffer grown by a rare huge chunk is freed rather than kept.
                if kept + c.buffer_capacity() <= POOL_BYTES {
                    kept += c.buffer_capacity();
                    v.push(c);
                }
            }
        }
    };
    let group_raw = |g: &Group| -> u64 { g.chunks.clone().map(|i| reader.chunk_raw_len(i)).sum() };
    let mut start = 0;
    while start < todo.len() {
        let mut end = start;
        let mut events = 0;
        let mut raw = 0;
        while end < todo.len() {
            let next_raw = group_raw(todo[end].0);
            let fits = events < BATCH_EVENTS
                && end - start < 2 * threads
                && raw + next_raw <= BATCH_RAW_BYTES;
            if end > start && !fits {
                break;
            }
            events += todo[end].0.events;
            raw += next_raw;
            end += 1;
        }
        let batch = &todo[start..end];
        start = end;

        let decompressed: Vec<Decompressed> = batch
            .par_iter()
            .map(|&(g, _)| {
                let for_tree = tree_needs(g);
                let mut d = Decompressed {
                    chunks: Vec::new(),
                    lifecycle: Vec::new(),
                    activity: Vec::new(),
                    errors: Vec::new(),
                };
                TREE_EVENTS.with_borrow_mut(|tree_events| {
                    tree_events.clear();
                    for i in g.chunks.clone() {
                        let output = chunk_may_output(i);
                        if !(for_tree || output) {
                            continue;
                        }
                        let mut chunk = take_chunk();
                        let decompressed = reader.decompress_chunk(i, &mut chunk);
                        // The compressed bytes are not read again in this pass.
                        reader.release_chunk_pages(i);
                        let read = decompressed.and_then(|()| {
                            if for_tree {
                                chunk.decode_into(tree_events, tree_records)
                            } else {
                                Ok(())
                            }
                        });
                        match read {
                            Ok(()) => d.chunks.push((chunk, output)),
                            Err(e) => {
                                d.errors.push(e);
                                give_back(vec![(chunk, false)]);
                            }
                        }
                    }
                    if !for_tree {
                        return;
                    }
                    if !tree_events.events().is_sorted_by_key(|e| e.ts) {
                        tree_events.sort_by_time();
                    }
                    d.lifecycle = tree_events
                        .events()
                        .iter()
                        .filter(|e| is_lifecycle(e))
                        .cloned()
                        .collect();
                    if plan.activity {
                        d.activity = activity(tree_events.events());
                    }
                });
                d
            })
            .collect();

        for (d, &(g, _)) in decompressed.iter().zip(batch) {
            if !tree_needs(g) {
                continue;
            }
            for e in &d.lifecycle {
                tree.apply(e);
            }
            for a in &d.activity {
                tree.add_activity(a);
            }
            tree.advance_to(g.last_ts);
        }

        let tree_now: &ProcessTree = tree;
        let results: Vec<(Vec<capture_format::Error>, Vec<R>)> = decompressed
            .into_par_iter()
            .zip(batch)
            .map(|(mut d, &(_, output))| {
                let mut results = Vec::new();
                if output {
                    let work_on = |run: &[Event]| {
                        let lo = plan
                            .range
                            .since
                            .map_or(0, |s| run.partition_point(|e| e.ts < s));
                        let hi = plan
                            .range
                            .until
                            .map_or(run.len(), |u| run.partition_point(|e| e.ts <= u));
                        (lo < hi).then(|| work(&run[lo..hi], tree_now))
                    };
                    let streamed = match d.chunks.as_slice() {
                        [(chunk, true)] => stream(chunk, output_records, work_on),
                        _ => None,
                    };
                    match streamed {
                        Some((r, errors)) => {
                            results = r;
                            d.errors.extend(errors);
                        }
                        None => GROUP_EVENTS.with_borrow_mut(|all| {
                            all.clear();
                            for (chunk, _) in d.chunks.iter().filter(|(_, out)| *out) {
                                if let Err(e) = chunk.decode_into(all, output_records) {
                                    d.errors.push(e);
                                }
                            }
                            if !all.events().is_sorted_by_key(|e| e.ts) {
                                all.sort_by_time();
                            }
                            results = all
                                .events()
                                .chunks(RUN_EVENTS)
                                .filter_map(work_on)
                                .collect();
                        }),
                    }
                }
                give_back(d.chunks);
                (d.errors, results)
            })
            .collect();

        for (errors, rs) in results {
            errors.into_iter().for_each(&mut on_error);
            for r in rs {
                sink(r)?;
            }
        }
    }
    if plan.tree == TreeNeed::Whole {
        tree.finish();
    }
    Ok(())
}

/// `work`'s results over one chunk's events, decoded a run at a time; `None` when the
/// events turn out not to be in time order (the caller then sorts them first).
fn stream<R>(
    chunk: &DecompressedChunk,
    records: Records,
    work_on: impl Fn(&[Event]) -> Option<R>,
) -> Option<(Vec<R>, Vec<capture_format::Error>)> {
    let mut events = match chunk.events(records) {
        Ok(events) => events,
        Err(e) => return Some((Vec::new(), vec![e])),
    };
    RUN.with_borrow_mut(|run| {
        let mut results = Vec::new();
        let mut last_ts = 0;
        loop {
            run.clear();
            let decoded = events.decode_some(run, RUN_EVENTS);
            let run = run.events();
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                if first.ts < last_ts || !run.is_sorted_by_key(|e| e.ts) {
                    return None;
                }
                last_ts = last.ts;
                results.extend(work_on(run));
            }
            match decoded {
                Ok(0) => return Some((results, Vec::new())),
                Ok(_) => {}
                Err(e) => return Some((results, vec![e])),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(first_ts: u64, last_ts: u64) -> ChunkInfo {
        ChunkInfo {
            offset: 0,
            len: 0,
            first_ts,
            last_ts,
            first_seq: 0,
            event_count: 1,
            pids: vec![],
            cgroup_ids: vec![],
        }
    }

    #[test]
    fn overlapping_chunks_are_grouped() {
        let g = groups(&[
            chunk(0, 10),
            chunk(10, 20),
            chunk(15, 30),
            chunk(25, 26),
            chunk(40, 50),
        ]);
        let ranges: Vec<_> = g.iter().map(|g| g.chunks.clone()).collect();
        assert_eq!(ranges, vec![0..1, 1..4, 4..5]);
        assert_eq!((g[1].first_ts, g[1].last_ts, g[1].events), (10, 30, 3));
    }
}
