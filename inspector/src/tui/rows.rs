//! The Events view's rows without materializing them: a [`RowSet`] says which events of
//! which chunk groups are rows (spans by the index, or the offsets a filter picked), so
//! position N is found by a binary search over per-segment counts; only the groups on
//! screen are decoded, through a small [`GroupCache`]. Filters and searches over the
//! whole capture run on background threads ([`spawn_filter`], [`spawn_search`]) and
//! report over the UI's channel, tagged with a generation so stale results are dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use aftertrace_filter::Filter;
use capture_format::{BootNs, Event};
use rayon::prelude::*;
use regex::Regex;
use serde_json::Value;

/// The filter and search jobs decode whole groups into events, several at once: at most
/// this many compressed-then-decompressed bytes of chunks per batch (decoded events take
/// several times their raw size), so a file of huge chunks cannot make a batch of
/// 2 × threads groups exhaust memory.
const DECODED_BATCH_RAW_BYTES: u64 = 32 << 20;

use crate::context::CaptureContext;
use crate::events::EventRow;
use crate::procs::{ProcId, ProcessTree};
use crate::select::{required_pids, TimeRange};
use crate::style::printable;
use crate::timefmt::Clock;

use super::app::Action;
use aftertrace_analysis::session::{Analysis, Capture};

/// Which events of one group are rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegRows {
    /// Offsets `lo..hi` of the group's time-ordered events.
    Span { lo: u32, hi: u32 },
    /// These offsets, ascending.
    Picks(Vec<u32>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub group: usize,
    pub rows: SegRows,
}

impl Seg {
    pub fn len(&self) -> u64 {
        match &self.rows {
            SegRows::Span { lo, hi } => u64::from(hi.saturating_sub(*lo)),
            SegRows::Picks(p) => p.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The group offset of the segment's `i`th row.
    pub fn offset(&self, i: u64) -> Option<u32> {
        match &self.rows {
            SegRows::Span { lo, hi } => {
                let o = u64::from(*lo) + i;
                (o < u64::from(*hi)).then_some(o as u32)
            }
            SegRows::Picks(p) => usize::try_from(i).ok().and_then(|i| p.get(i)).copied(),
        }
    }

    /// The segment row holding group offset `o`, or the first after it.
    fn index_of(&self, o: u32) -> u64 {
        match &self.rows {
            SegRows::Span { lo, hi } => u64::from(o.clamp(*lo, *hi) - lo),
            SegRows::Picks(p) => p.partition_point(|&x| x < o) as u64,
        }
    }
}

/// The rows of the Events view, in order. Cheap to clone (segments are shared).
#[derive(Clone, Debug, Default)]
pub struct RowSet {
    segs: Vec<Arc<Seg>>,
    /// Rows before each segment.
    before: Vec<u64>,
    total: u64,
    /// False while a filter is still scanning: more rows may come.
    pub complete: bool,
}

/// Where a row is: segment, group, offset in the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowLoc {
    pub seg: usize,
    pub group: usize,
    pub offset: u32,
}

impl RowSet {
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn segs(&self) -> &[Arc<Seg>] {
        &self.segs
    }

    pub fn push(&mut self, seg: Seg) {
        if seg.is_empty() {
            return;
        }
        self.before.push(self.total);
        self.total += seg.len();
        self.segs.push(Arc::new(seg));
    }

    pub fn locate(&self, pos: u64) -> Option<RowLoc> {
        if pos >= self.total {
            return None;
        }
        let s = self.before.partition_point(|&b| b <= pos) - 1;
        let seg = &self.segs[s];
        Some(RowLoc {
            seg: s,
            group: seg.group,
            offset: seg.offset(pos - self.before[s])?,
        })
    }

    /// The position of the row at (`group`, `offset`), or of the first row after it.
    pub fn position_of(&self, group: usize, offset: u32) -> u64 {
        let s = self.segs.partition_point(|seg| seg.group < group);
        match self.segs.get(s) {
            Some(seg) if seg.group == group => self.before[s] + seg.index_of(offset),
            Some(_) => self.before[s],
            None => self.total,
        }
    }

    /// Rows of every event in `range`, by the index; only the groups at the range's ends
    /// are decoded (to find where it starts and ends inside them).
    pub fn span(capture: &Capture, range: TimeRange, cache: &mut GroupCache) -> RowSet {
        let mut rows = RowSet {
            complete: true,
            ..RowSet::default()
        };
        for (g, group) in capture.groups.iter().enumerate() {
            if !range.overlaps(group.first_ts, group.last_ts) {
                continue;
            }
            let whole = range.since.is_none_or(|s| s <= group.first_ts)
                && range.until.is_none_or(|u| u >= group.last_ts);
            let (lo, hi) = if whole {
                (0, u32::try_from(group.events).unwrap_or(u32::MAX))
            } else {
                let events = cache.get(capture, g);
                let lo = range
                    .since
                    .map_or(0, |s| events.partition_point(|e| e.ts < s));
                let hi = range
                    .until
                    .map_or(events.len(), |u| events.partition_point(|e| e.ts <= u));
                (lo as u32, hi.max(lo) as u32)
            };
            rows.push(Seg {
                group: g,
                rows: SegRows::Span { lo, hi },
            });
        }
        rows
    }
}

/// The last few decoded groups, most recent first.
pub struct GroupCache {
    cap: usize,
    entries: VecDeque<(usize, Arc<Vec<Event>>)>,
    /// Chunks that could not be decoded, as messages (newest last).
    pub errors: Vec<String>,
}

impl Default for GroupCache {
    fn default() -> Self {
        GroupCache::new(8)
    }
}

impl GroupCache {
    pub fn new(cap: usize) -> GroupCache {
        GroupCache {
            cap: cap.max(1),
            entries: VecDeque::new(),
            errors: Vec::new(),
        }
    }

    pub fn get(&mut self, capture: &Capture, g: usize) -> Arc<Vec<Event>> {
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == g) {
            let entry = self.entries.remove(i).expect("index from position");
            let events = Arc::clone(&entry.1);
            self.entries.push_front(entry);
            return events;
        }
        let (events, errors) = capture.decode_group(g);
        self.errors.extend(errors.iter().map(|e| e.to_string()));
        let events = Arc::new(events);
        self.entries.push_front((g, Arc::clone(&events)));
        self.entries.truncate(self.cap);
        events
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// One event as the Events view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowText {
    pub time: String,
    pub pid: u32,
    pub tid: u32,
    pub proc: String,
    /// `name(args) = res`, control characters escaped.
    pub call: String,
    /// The data buffer's start, escaped; empty when none.
    pub data: String,
    pub failed: bool,
    /// exec, fork, exit, cgroup_mkdir, syscall
    pub kind: &'static str,
}

impl RowText {
    /// The text `/` searches.
    pub fn haystack(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.time, self.pid, self.proc, self.call, self.data
        )
    }
}

/// Wall-clock time of day with microseconds (`17:20:01.123456`), or seconds since boot.
pub fn short_time(clock: &Clock, ts: BootNs) -> String {
    match clock.utc(ts) {
        Some(t) => t.format("%H:%M:%S%.6f").to_string(),
        None => format!(
            "boot+{}.{:06}",
            ts / 1_000_000_000,
            ts % 1_000_000_000 / 1000
        ),
    }
}

fn arg_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", s),
        other => other.to_string(),
    }
}

pub fn row_text(e: &Event, ctx: &CaptureContext<'_>) -> RowText {
    let row = EventRow::new(e, ctx);
    let args: Vec<String> = row
        .args
        .iter()
        .map(|(k, v)| format!("{k}={}", arg_text(v)))
        .collect();
    let what = row.syscall.as_deref().unwrap_or(row.kind);
    let mut call = format!("{what}({})", args.join(", "));
    if let Some(res) = row.res {
        call.push_str(&format!(" = {res}"));
    }
    let data = row
        .data
        .as_deref()
        .map(|d| {
            let cut: String = d.chars().take(200).collect();
            printable(&cut).into_owned()
        })
        .unwrap_or_default();
    RowText {
        time: short_time(ctx.lookups.clock(), e.ts),
        pid: e.pid,
        tid: e.tid,
        proc: row.proc_name.unwrap_or_else(|| "?".into()),
        call: printable(&call).into_owned(),
        data,
        failed: row.res.is_some_and(|r| r < 0),
        kind: row.kind,
    }
}

/// Generations of background jobs: a job whose generation is no longer current stops.
#[derive(Clone, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    /// Starts a new generation (stopping the jobs of earlier ones) and returns it.
    pub fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn is_current(&self, gen: u64) -> bool {
        self.0.load(Ordering::SeqCst) == gen
    }
}

/// A filter's rows arriving from the background: segments in order, the processes that
/// had a selected event, and how far the scan is.
#[derive(Clone, Debug)]
pub struct FilterBatch {
    pub gen: u64,
    pub segs: Vec<Seg>,
    pub hits: Vec<ProcId>,
    pub scanned: usize,
    pub of: usize,
    pub done: bool,
}

/// Scans the groups in `range` (and holding a pid the filter requires) for events the
/// filter selects, batch by batch in parallel, reporting each batch in order.
pub fn spawn_filter(
    capture: Arc<Capture>,
    analysis: Arc<Analysis>,
    filter: Filter,
    range: TimeRange,
    gens: Generation,
    gen: u64,
    tx: Sender<Action>,
) {
    let _ = std::thread::Builder::new()
        .name("aftertrace-filter".into())
        .spawn(move || {
            let pids = required_pids(filter.expr());
            let chunks = capture.reader.chunks();
            let todo: Vec<usize> = capture
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| range.overlaps(g.first_ts, g.last_ts))
                .filter(|(_, g)| {
                    pids.as_ref().is_none_or(|want| {
                        g.chunks
                            .clone()
                            .any(|i| want.iter().any(|p| chunks[i].pids.binary_search(p).is_ok()))
                    })
                })
                .map(|(i, _)| i)
                .collect();
            let of = todo.len();
            let batch = (2 * rayon::current_num_threads()).max(2);
            let mut scanned = 0;
            // The first batch is one group: the first rows show as soon as possible.
            let mut sizes = std::iter::once(1).chain(std::iter::repeat(batch));
            let mut rest = &todo[..];
            while !rest.is_empty() || scanned == 0 {
                if !gens.is_current(gen) {
                    return;
                }
                let n = sizes
                    .next()
                    .unwrap_or(batch)
                    .min(rest.len())
                    .min(capture.groups_within(rest, DECODED_BATCH_RAW_BYTES));
                let (now, later) = rest.split_at(n);
                rest = later;
                let results: Vec<(Seg, Vec<ProcId>)> = now
                    .par_iter()
                    .map(|&g| filter_group(&capture, &analysis.tree, &filter, range, g))
                    .collect();
                scanned += n;
                let mut segs = Vec::new();
                let mut hits = Vec::new();
                for (seg, h) in results {
                    segs.push(seg);
                    hits.extend(h);
                }
                let done = rest.is_empty();
                let sent = tx.send(Action::FilterRows(FilterBatch {
                    gen,
                    segs,
                    hits,
                    scanned,
                    of,
                    done,
                }));
                if sent.is_err() || done {
                    return;
                }
            }
        });
}

fn filter_group(
    capture: &Capture,
    tree: &ProcessTree,
    filter: &Filter,
    range: TimeRange,
    g: usize,
) -> (Seg, Vec<ProcId>) {
    let (events, _) = capture.decode_group(g);
    let ctx = CaptureContext::new(tree, &capture.lookups);
    let mut picks = Vec::new();
    let mut hits: Vec<ProcId> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if range.contains(e.ts) && filter.matches(e, &ctx) {
            picks.push(i as u32);
            if let Some(id) = tree.lookup(e.pid, e.ts) {
                if hits.last() != Some(&id) {
                    hits.push(id);
                }
            }
        }
    }
    hits.sort_unstable();
    hits.dedup();
    (
        Seg {
            group: g,
            rows: SegRows::Picks(picks),
        },
        hits,
    )
}

/// Searches the rows from `from` (exclusive) forward or backward for one whose text the
/// regex matches; reports `SearchDone` with the position (or none), and `SearchProgress`
/// on the way.
#[expect(clippy::too_many_arguments, reason = "one job's inputs, passed once")]
pub fn spawn_search(
    capture: Arc<Capture>,
    analysis: Option<Arc<Analysis>>,
    rows: RowSet,
    regex: Regex,
    from: Option<u64>,
    forward: bool,
    gens: Generation,
    gen: u64,
    tx: Sender<Action>,
) {
    let _ = std::thread::Builder::new()
        .name("aftertrace-search".into())
        .spawn(move || {
            let tree = analysis
                .as_ref()
                .map_or(&capture.snapshot_tree, |a| &a.tree);
            let ctx = CaptureContext::new(tree, &capture.lookups);
            let n = rows.segs.len();
            // Segments to visit, in search order, and the rows to skip in the first.
            let start = from.and_then(|p| rows.locate(p));
            let order: Vec<usize> = match (start, forward) {
                (Some(l), true) => (l.seg..n).collect(),
                (Some(l), false) => (0..=l.seg).rev().collect(),
                (None, true) => (0..n).collect(),
                (None, false) => (0..n).rev().collect(),
            };
            let batch = (2 * rayon::current_num_threads()).max(2);
            let mut done = 0;
            while done < order.len() {
                if !gens.is_current(gen) {
                    return;
                }
                let rest = &order[done..];
                let groups: Vec<usize> = rest.iter().map(|&s| rows.segs[s].group).collect();
                let n = batch.min(capture.groups_within(&groups, DECODED_BATCH_RAW_BYTES));
                let part = &rest[..n];
                done += n;
                let found: Vec<Option<u64>> = part
                    .par_iter()
                    .map(|&s| {
                        let seg = &rows.segs[s];
                        let (events, _) = capture.decode_group(seg.group);
                        let len = seg.len();
                        let first = rows.before[s];
                        let test = |i: u64| {
                            let pos = first + i;
                            if from.is_some_and(|f| if forward { pos <= f } else { pos >= f }) {
                                return false;
                            }
                            let Some(e) = seg.offset(i).and_then(|o| events.get(o as usize)) else {
                                return false;
                            };
                            regex.is_match(&row_text(e, &ctx).haystack())
                        };
                        if forward {
                            (0..len).find(|&i| test(i)).map(|i| first + i)
                        } else {
                            (0..len).rev().find(|&i| test(i)).map(|i| first + i)
                        }
                    })
                    .collect();
                if let Some(pos) = found.into_iter().flatten().next() {
                    let _ = tx.send(Action::SearchDone {
                        gen,
                        pos: Some(pos),
                    });
                    return;
                }
                let _ = tx.send(Action::SearchProgress {
                    gen,
                    scanned: done,
                    of: order.len(),
                });
            }
            let _ = tx.send(Action::SearchDone { gen, pos: None });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_located_across_segments() {
        let mut r = RowSet::default();
        r.push(Seg {
            group: 0,
            rows: SegRows::Span { lo: 2, hi: 5 },
        });
        r.push(Seg {
            group: 1,
            rows: SegRows::Picks(vec![]),
        });
        r.push(Seg {
            group: 3,
            rows: SegRows::Picks(vec![1, 7, 9]),
        });
        assert_eq!(r.len(), 6);
        assert_eq!(
            r.locate(0),
            Some(RowLoc {
                seg: 0,
                group: 0,
                offset: 2
            })
        );
        assert_eq!(r.locate(3).map(|l| (l.group, l.offset)), Some((3, 1)));
        assert_eq!(r.locate(5).map(|l| (l.group, l.offset)), Some((3, 9)));
        assert_eq!(r.locate(6), None);
        assert_eq!(r.position_of(3, 7), 4);
        assert_eq!(r.position_of(3, 8), 5);
        assert_eq!(r.position_of(2, 0), 3);
        assert_eq!(r.position_of(0, 0), 0);
        assert_eq!(r.position_of(9, 0), 6);
    }
}
