//! One pass over a capture's events: chunks decoded in parallel, only where the index says
//! they are needed, the process tree grown in time order as the pass goes, and results
//! handed on in time order.
//!
//! The pass goes batch by batch. For each batch of chunk groups:
//! 1. decode the groups in parallel (each group's events sorted by time);
//! 2. grow the process tree with the batch's fork/exec/exit records, in order;
//! 3. run the caller's `work` on each group's events in parallel, with the tree as it now
//!    stands (every tree query takes a time, so a tree that has seen everything up to the
//!    group's end answers exactly as the finished one would);
//! 4. hand the results to the caller's `sink` in order.
//!
//! Only one batch of decoded events is held at a time, so memory stays bounded whatever the
//! capture's size.

use std::ops::Range;

use capture_format::{BootNs, CaptureReader, ChunkInfo, Event};
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

/// A batch holds at most this many events (decoded events of ~100-200 bytes each).
const BATCH_EVENTS: u64 = 1 << 20;

struct Decoded {
    /// All the group's events, when `work` will see them.
    events: Vec<Event>,
    lifecycle: Vec<Event>,
    activity: Vec<Activity>,
    errors: Vec<capture_format::Error>,
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
    let all = groups(chunks);
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

    let threads = rayon::current_num_threads().max(1);
    let mut start = 0;
    while start < todo.len() {
        let mut end = start;
        let mut events = 0;
        while end < todo.len()
            && (end == start || (events < BATCH_EVENTS && end - start < 2 * threads))
        {
            events += todo[end].0.events;
            end += 1;
        }
        let batch = &todo[start..end];
        start = end;

        let decoded: Vec<Decoded> = batch
            .par_iter()
            .map(|&(g, output)| {
                let for_tree = tree_needs(g);
                let mut events = Vec::new();
                let mut errors = Vec::new();
                for i in g.chunks.clone() {
                    if !(for_tree || chunk_may_output(i)) {
                        continue;
                    }
                    match reader.chunk_events(i) {
                        Ok(v) if events.is_empty() => events = v,
                        Ok(mut v) => events.append(&mut v),
                        Err(e) => errors.push(e),
                    }
                }
                if !events.is_sorted_by_key(|e| e.ts) {
                    events.sort_by_key(|e| e.ts);
                }
                let lifecycle = if for_tree {
                    events.iter().filter(|e| is_lifecycle(e)).cloned().collect()
                } else {
                    Vec::new()
                };
                let activity = if for_tree && plan.activity {
                    activity(&events)
                } else {
                    Vec::new()
                };
                if !output {
                    events = Vec::new();
                }
                Decoded {
                    events,
                    lifecycle,
                    activity,
                    errors,
                }
            })
            .collect();

        for (d, &(g, _)) in decoded.iter().zip(batch) {
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
        // Consumed by value, so each group's events are also freed on a worker thread.
        let results: Vec<(Vec<capture_format::Error>, Option<R>)> = decoded
            .into_par_iter()
            .zip(batch)
            .map(|(d, &(_, output))| {
                let r = output.then(|| {
                    let lo = plan
                        .range
                        .since
                        .map_or(0, |s| d.events.partition_point(|e| e.ts < s));
                    let hi = plan
                        .range
                        .until
                        .map_or(d.events.len(), |u| d.events.partition_point(|e| e.ts <= u));
                    work(&d.events[lo..hi.max(lo)], tree_now)
                });
                (d.errors, r)
            })
            .collect();

        for (errors, r) in results {
            errors.into_iter().for_each(&mut on_error);
            if let Some(r) = r {
                sink(r)?;
            }
        }
    }
    if plan.tree == TreeNeed::Whole {
        tree.finish();
    }
    Ok(())
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
