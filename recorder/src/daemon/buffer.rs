//! The rolling pre-trigger buffer: compressed chunks in memory, grouped in segments that
//! each open with a process snapshot, so any window can be sealed from whole segments
//! without recompressing anything. Bounded by span and by bytes, oldest first.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use capture_format::{encode_chunk, ClockPair, DropEntry, Event, ProcessSnapshot, RawChunk};

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
        }
    }

    pub fn push(&mut self, e: Event) -> Result<()> {
        if self.pending.is_empty() {
            self.pending_since = Instant::now();
        }
        self.pending.push(e);
        if self.pending.len() >= CHUNK_EVENTS {
            self.flush()?;
        }
        Ok(())
    }

    /// Encodes pending events into a chunk of the current segment.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = encode_chunk(&self.pending, self.next_seq, ZSTD_LEVEL)?;
        self.next_seq += self.pending.len() as u64;
        self.pending.clear();
        let size = chunk.data.len() as u64;
        self.current.end_ts = self.current.end_ts.max(chunk.last_ts);
        self.current.bytes += size;
        self.bytes += size;
        self.current.chunks.push(Arc::new(chunk));
        self.evict();
        Ok(())
    }

    /// Called after each poll: encodes old pending events, and says whether a new segment
    /// is due (the caller then supplies its snapshot with `roll`).
    pub fn tick(&mut self) -> Result<bool> {
        if !self.pending.is_empty() && self.pending_since.elapsed() >= CHUNK_AGE {
            self.flush()?;
        }
        Ok(self.current_opened.elapsed() >= SEGMENT_SPAN)
    }

    /// Closes the current segment with what was learned during it, and opens the next
    /// with `snapshot`.
    pub fn roll(
        &mut self,
        snapshot: ProcessSnapshot,
        clocks: Vec<ClockPair>,
        drops: Vec<DropEntry>,
    ) -> Result<()> {
        self.flush()?;
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
        Ok(())
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
    pub fn select(&mut self, from: u64, to: u64, clocks: &[ClockPair]) -> Result<Selection> {
        self.flush()?;
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
                drops: Vec::new(),
                bytes: self.current.bytes,
            }));
        }
        Ok(Selection { segments })
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
                b.push(event(s * 10 * sec + i * sec / 10)).expect("push");
            }
            b.roll(snapshot((s + 1) * 10 * sec), Vec::new(), Vec::new())
                .expect("roll");
        }
        // 100 s recorded, 30 s kept (plus the segment straddling the horizon).
        let (start, end) = b.range();
        assert!(end - start <= 40 * sec, "{start}..{end}");
        assert!(b.evicted >= 6);
        let sel = b.select(85 * sec, 92 * sec, &[]).expect("select");
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
            b.push(event(s)).expect("push");
            b.roll(snapshot(s + 1), Vec::new(), Vec::new())
                .expect("roll");
        }
        // Every closed segment has bytes: all were evicted to honour a 1-byte cap.
        assert_eq!(b.evicted, 5);
        assert_eq!(b.chunks(), 0);
    }
}
