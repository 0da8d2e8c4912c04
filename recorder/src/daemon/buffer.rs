//! The rolling pre-trigger buffer: compressed chunks in memory, grouped in segments that
//! each open with a process snapshot, so any window can be sealed from whole segments
//! without recompressing anything. Bounded by span and by bytes, oldest first.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use capture_format::{encode_chunks, ClockPair, DropEntry, Event, ProcessSnapshot, RawChunk};

/// A chunk is encoded once this many events are pending, or they are this old: small
/// enough that a seal does not wait long for the newest events, large enough to compress.
const CHUNK_EVENTS: usize = 16_384;
const CHUNK_AGE: Duration = Duration::from_millis(500);
/// A new segment (with its own snapshot) starts this often.
const SEGMENT_SPAN: Duration = Duration::from_secs(10);
const ZSTD_LEVEL: i32 = 3;

/// Stretches of the record, each able to open a capture on its own.
pub struct Segment {
    pub start_ts: u64,
    pub end_ts: u64,
    pub snapshot: ProcessSnapshot,
    pub chunks: Vec<Arc<RawChunk>>,
    pub clocks: Vec<ClockPair>,
    pub drops: Vec<DropEntry>,
    pub bytes: u64,
}

pub struct RollingBuffer {
    segments: VecDeque<Arc<Segment>>,
    current: Segment,
    current_opened: Instant,
    pending: Vec<Event>,
    pending_since: Instant,
    next_seq: u64,
    span: Duration,
    max_bytes: u64,
    bytes: u64,
    /// Segments dropped to stay within bounds, for the status.
    pub evicted: u64,
    /// Events the buffer could not keep, by cause (`too_large`: one event alone beyond
    /// the chunk limit; `encode_failed`: compression failed), for the status and
    /// /metrics; each is also in the segment's drop ledger with its pid.
    pub lost: BTreeMap<String, u64>,
}

/// What a seal copies: whole segments overlapping the window.
pub struct Selection {
    pub segments: Vec<Arc<Segment>>,
}

impl RollingBuffer {
    pub fn new(span: Duration, max_bytes: u64, snapshot: ProcessSnapshot) -> Self {
        let ts = snapshot.ts;
        RollingBuffer {
            segments: VecDeque::new(),
            current: Segment {
                start_ts: ts,
                end_ts: ts,
                snapshot,
                chunks: Vec::new(),
                clocks: Vec::new(),
                drops: Vec::new(),
                bytes: 0,
            },
            current_opened: Instant::now(),
            pending: Vec::new(),
            pending_since: Instant::now(),
            next_seq: 0,
            span,
            max_bytes,
            bytes: 0,
            evicted: 0,
            lost: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, e: Event) {
        if self.pending.is_empty() {
            self.pending_since = Instant::now();
        }
        self.pending.push(e);
        if self.pending.len() >= CHUNK_EVENTS {
            self.flush();
        }
    }

    /// Encodes pending events into chunks of the current segment: as many as the chunk
    /// size limit needs (a burst of large writes does not fit one). Never fails: what
    /// cannot be kept is counted as lost, by process, and logged; no input ends
    /// recording.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match encode_chunks(&self.pending, self.next_seq, ZSTD_LEVEL) {
            Ok(encoded) => {
                for &i in &encoded.too_large {
                    let e = &self.pending[i];
                    tracing::warn!(
                        "event of pid {} at {} not kept: it alone encodes beyond the chunk limit (counted as too_large)",
                        e.pid,
                        e.ts
                    );
                }
                let lost: Vec<(u32, u64)> = encoded
                    .too_large
                    .iter()
                    .map(|&i| (self.pending[i].pid, self.pending[i].ts))
                    .collect();
                self.count_lost("too_large", lost);
                for chunk in encoded.chunks {
                    self.next_seq += u64::from(chunk.event_count);
                    let size = chunk.data.len() as u64;
                    self.current.end_ts = self.current.end_ts.max(chunk.last_ts);
                    self.current.bytes += size;
                    self.bytes += size;
                    self.current.chunks.push(Arc::new(chunk));
                }
            }
            Err(err) => {
                tracing::error!(
                    "{} events not kept: encoding their chunk failed: {err} (counted as encode_failed)",
                    self.pending.len()
                );
                let lost: Vec<(u32, u64)> = self.pending.iter().map(|e| (e.pid, e.ts)).collect();
                self.count_lost("encode_failed", lost);
            }
        }
        self.pending.clear();
        self.evict();
    }

    /// Counts `lost` (pid, time) events under `cause`, one ledger entry per pid.
    fn count_lost(&mut self, cause: &str, lost: Vec<(u32, u64)>) {
        if lost.is_empty() {
            return;
        }
        *self.lost.entry(cause.to_owned()).or_default() += lost.len() as u64;
        // As the kernel's losses are kept: one entry by cause, and the same records by
        // process under lost_records.
        self.current.drops.push(DropEntry {
            cause: cause.to_owned(),
            cpu: None,
            pid: None,
            from: lost.iter().map(|l| l.1).min().unwrap_or(0),
            to: lost.iter().map(|l| l.1).max().unwrap_or(0),
            count: lost.len() as u64,
        });
        let mut by_pid: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
        for (pid, ts) in lost {
            let e = by_pid.entry(pid).or_insert((ts, ts, 0));
            e.0 = e.0.min(ts);
            e.1 = e.1.max(ts);
            e.2 += 1;
        }
        for (pid, (from, to, count)) in by_pid {
            self.current.drops.push(DropEntry {
                cause: "lost_records".to_owned(),
                cpu: None,
                pid: Some(pid),
                from,
                to,
                count,
            });
        }
    }

    /// Called after each poll: encodes old pending events, and says whether a new segment
    /// is due (the caller then supplies its snapshot with `roll`).
    pub fn tick(&mut self) -> bool {
        if !self.pending.is_empty() && self.pending_since.elapsed() >= CHUNK_AGE {
            self.flush();
        }
        self.current_opened.elapsed() >= SEGMENT_SPAN
    }

    /// Closes the current segment with what was learned during it, and opens the next
    /// with `snapshot`.
    pub fn roll(
        &mut self,
        snapshot: ProcessSnapshot,
        clocks: Vec<ClockPair>,
        drops: Vec<DropEntry>,
    ) {
        self.flush();
        let ts = snapshot.ts;
        let mut closed = std::mem::replace(
            &mut self.current,
            Segment {
                start_ts: ts,
                end_ts: ts,
                snapshot,
                chunks: Vec::new(),
                clocks: Vec::new(),
                drops: Vec::new(),
                bytes: 0,
            },
        );
        closed.clocks.extend(clocks);
        closed.drops.extend(drops);
        closed.end_ts = closed.end_ts.max(ts);
        self.segments.push_back(Arc::new(closed));
        self.current_opened = Instant::now();
        self.evict();
    }

    /// Adds losses counted elsewhere (the kernel's, by the pipeline) to the current
    /// segment's ledger, so that a seal before the segment closes carries them.
    pub fn add_drops(&mut self, drops: Vec<DropEntry>) {
        self.current.drops.extend(drops);
    }

    /// Whether the record at `ts` is safe from eviction for a while yet at `now`: it is
    /// more than two segments inside the span, and if the buffer is near its byte cap,
    /// the oldest segment (the next to go) ends before it. A window whose start is not
    /// safe is sealed now (and continued in a linked capture) rather than lose its
    /// pre-window.
    pub fn keeps_safely(&self, ts: u64, now: u64) -> bool {
        let margin = 2 * SEGMENT_SPAN.as_nanos() as u64;
        let span_ok = now.saturating_add(margin) < ts.saturating_add(self.span.as_nanos() as u64);
        let bytes_ok = self.bytes <= self.max_bytes / 10 * 9
            || self.segments.front().is_none_or(|s| s.end_ts < ts);
        span_ok && bytes_ok
    }

    /// Drops the oldest closed segments beyond the span or the byte cap.
    fn evict(&mut self) {
        let newest = self.current.end_ts.max(self.current.start_ts);
        let horizon = newest.saturating_sub(self.span.as_nanos() as u64);
        while let Some(oldest) = self.segments.front() {
            if oldest.end_ts < horizon || self.bytes > self.max_bytes {
                self.bytes -= oldest.bytes;
                self.segments.pop_front();
                self.evicted += 1;
            } else {
                break;
            }
        }
    }

    /// The segments overlapping [from, to], the current one included (its pending events
    /// are encoded first). Its chunks and snapshot are shared, not copied.
    pub fn select(&mut self, from: u64, to: u64, clocks: &[ClockPair]) -> Selection {
        self.flush();
        let mut segments: Vec<Arc<Segment>> = self
            .segments
            .iter()
            .filter(|s| s.end_ts >= from && s.start_ts <= to)
            .cloned()
            .collect();
        if self.current.start_ts <= to {
            segments.push(Arc::new(Segment {
                start_ts: self.current.start_ts,
                end_ts: self.current.end_ts,
                snapshot: self.current.snapshot.clone(),
                chunks: self.current.chunks.clone(),
                clocks: clocks.to_vec(),
                drops: self.current.drops.clone(),
                bytes: self.current.bytes,
            }));
        }
        Selection { segments }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn chunks(&self) -> usize {
        self.segments.iter().map(|s| s.chunks.len()).sum::<usize>() + self.current.chunks.len()
    }

    /// Boot-time range the buffer holds.
    pub fn range(&self) -> (u64, u64) {
        let start = self
            .segments
            .front()
            .map_or(self.current.start_ts, |s| s.start_ts);
        (start, self.current.end_ts.max(self.current.start_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_format::{EventBody, ExitEvent};

    fn event(ts: u64) -> Event {
        Event {
            ts,
            cpu: 0,
            pid: 1,
            tid: 1,
            body: EventBody::Exit(ExitEvent {
                status: 0,
                group_dead: false,
            }),
        }
    }

    fn snapshot(ts: u64) -> ProcessSnapshot {
        ProcessSnapshot {
            ts,
            processes: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_span_and_selects_overlapping_segments() {
        let sec = 1_000_000_000;
        let mut b = RollingBuffer::new(Duration::from_secs(30), u64::MAX, snapshot(0));
        for s in 0..10u64 {
            for i in 0..100 {
                b.push(event(s * 10 * sec + i * sec / 10));
            }
            b.roll(snapshot((s + 1) * 10 * sec), Vec::new(), Vec::new());
        }
        // 100 s recorded, 30 s kept (plus the segment straddling the horizon).
        let (start, end) = b.range();
        assert!(end - start <= 40 * sec, "{start}..{end}");
        assert!(b.evicted >= 6);
        let sel = b.select(85 * sec, 92 * sec, &[]);
        let starts: Vec<u64> = sel.segments.iter().map(|s| s.start_ts / sec).collect();
        assert_eq!(
            starts,
            vec![80, 90],
            "the current segment starts after the window"
        );
        assert!(sel.segments[0]
            .chunks
            .iter()
            .all(|c| c.first_ts >= 80 * sec));
    }

    #[test]
    fn the_byte_cap_evicts_oldest_first() {
        let mut b = RollingBuffer::new(Duration::from_secs(3600), 1, snapshot(0));
        for s in 0..5u64 {
            b.push(event(s));
            b.roll(snapshot(s + 1), Vec::new(), Vec::new());
        }
        // Every closed segment has bytes: all were evicted to honour a 1-byte cap.
        assert_eq!(b.evicted, 5);
        assert_eq!(b.chunks(), 0);
    }
}
