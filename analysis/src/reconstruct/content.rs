//! Sparse byte content at offsets, with the holes named: the content of a file, a pipe or
//! one direction of a connection as far as the capture shows it.
//!
//! Writes *replace* what was there (the bytes a write did not carry are unknown after it,
//! whatever was known before); observations (reads, and both sides of a stream whose
//! records may come out of order) only *fill in* what is unknown. Holes are never closed
//! by gluing: [`Content::export`] zero-fills them and lists each one as a [`Gap`].

use std::collections::BTreeMap;

use serde::Serialize;

/// Why bytes are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The recorder kept a prefix of the syscall's buffer (snaplen or payload cap).
    Snaplen,
    /// The recorder could not read the process's memory.
    Unreadable,
    /// The recorder lost events of the process in that time (its drop ledger says so).
    Drop,
    /// No record carried these bytes: written before the capture, never read back, moved
    /// by a syscall whose data is not recorded (sendfile, splice, mmap), or cut short.
    Missing,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Snaplen => "snaplen",
            Cause::Unreadable => "unreadable",
            Cause::Drop => "drop",
            Cause::Missing => "missing",
        }
    }
}

/// A hole in recovered content. `offset` or `len` is null when the capture cannot say
/// (content before the first appended byte of a file that existed before the capture,
/// content after the last byte read, events lost at an unknown position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub offset: Option<u64>,
    pub len: Option<u64>,
    pub cause: Cause,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Data(Vec<u8>),
    Hole(u64, Cause),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Data(d) => d.len() as u64,
            Piece::Hole(n, _) => *n,
        }
    }

    /// The part `[from, to)` of this piece (relative offsets).
    fn slice(&self, from: u64, to: u64) -> Piece {
        match self {
            Piece::Data(d) => Piece::Data(d[from as usize..to as usize].to_vec()),
            Piece::Hole(_, c) => Piece::Hole(to - from, *c),
        }
    }
}

/// Bytes at offsets. Offsets not covered by any piece are unknown ("missing").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    pieces: BTreeMap<u64, Piece>,
    /// One past the last offset anything (data or hole) was placed at.
    extent: u64,
    /// The exact size, when known (an EOF was read, or every byte since an empty start was
    /// written).
    size: Option<u64>,
    /// Content of unknown length comes before offset 0 (appends to a file that existed
    /// before the capture, whose size was never learned).
    unknown_prefix: bool,
    /// Events of the writers or readers were lost: where is unknown.
    dropped: bool,
}

impl Content {
    /// Content known to start empty (a new or truncated file, a new pipe or connection).
    pub fn empty() -> Content {
        Content {
            size: Some(0),
            ..Content::default()
        }
    }

    /// Content whose earlier bytes are unknown (a file that existed before the capture).
    pub fn unknown() -> Content {
        Content::default()
    }

    pub fn extent(&self) -> u64 {
        self.extent
    }

    pub fn size(&self) -> Option<u64> {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    pub fn set_unknown_prefix(&mut self) {
        self.unknown_prefix = true;
    }

    pub fn mark_dropped(&mut self) {
        self.dropped = true;
    }

    /// Splits the piece that straddles `at`, so that `at` starts a piece (or is
    /// uncovered).
    fn split_at(&mut self, at: u64) {
        let Some((&start, piece)) = self.pieces.range(..at).next_back() else {
            return;
        };
        let end = start + piece.len();
        if end <= at {
            return;
        }
        let piece = piece.clone();
        self.pieces.insert(start, piece.slice(0, at - start));
        self.pieces.insert(at, piece.slice(at - start, end - start));
    }

    /// Removes everything in `[from, to)`.
    fn clear(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        self.split_at(from);
        self.split_at(to);
        let keys: Vec<u64> = self.pieces.range(from..to).map(|(&k, _)| k).collect();
        for k in keys {
            self.pieces.remove(&k);
        }
    }

    fn grow(&mut self, end: u64) {
        self.extent = self.extent.max(end);
        if let Some(s) = self.size {
            // Writing past the known end of a known file makes it longer.
            self.size = Some(s.max(end));
        }
    }

    /// `len` bytes were written at `offset`, of which `data` (a prefix) was captured;
    /// the rest is a hole for `cut`. Replaces what was known there.
    pub fn write(&mut self, offset: u64, data: &[u8], len: u64, cut: Cause) {
        let kept = (data.len() as u64).min(len);
        let end = offset + len;
        self.clear(offset, end);
        if kept > 0 {
            self.pieces
                .insert(offset, Piece::Data(data[..kept as usize].to_vec()));
        }
        if kept < len {
            self.pieces
                .insert(offset + kept, Piece::Hole(len - kept, cut));
        }
        self.grow(end);
    }

    /// `len` bytes at `offset` were seen (read, or the other side of a stream), `data`
    /// being the captured prefix: fills in what is not known yet (holes included), and
    /// names the uncaptured rest as a hole where nothing is known.
    pub fn observe(&mut self, offset: u64, data: &[u8], len: u64, cut: Cause) {
        let kept = (data.len() as u64).min(len);
        let end = offset + len;
        if kept > 0 {
            self.fill(offset, &data[..kept as usize]);
        }
        if kept < len {
            self.fill_hole(offset + kept, end, cut);
        }
        self.grow(end);
    }

    /// Places `data` at `offset` wherever there is no data yet.
    fn fill(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        let mut cursor = offset;
        let known: Vec<(u64, u64)> = self.data_ranges(offset, end);
        let mut todo = Vec::new();
        for (s, e) in known {
            if s > cursor {
                todo.push((cursor, s));
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            todo.push((cursor, end));
        }
        for (s, e) in todo {
            self.clear(s, e);
            let bytes = data[(s - offset) as usize..(e - offset) as usize].to_vec();
            self.pieces.insert(s, Piece::Data(bytes));
        }
    }

    /// Marks `[from, to)` as a hole for `cause` wherever nothing is known.
    fn fill_hole(&mut self, from: u64, to: u64, cause: Cause) {
        let mut cursor = from;
        let covered: Vec<(u64, u64)> = self
            .overlapping(from, to)
            .map(|(s, p)| (s.max(from), (s + p.len()).min(to)))
            .collect();
        let mut todo = Vec::new();
        for (s, e) in covered {
            if s > cursor {
                todo.push((cursor, s));
            }
            cursor = cursor.max(e);
        }
        if cursor < to {
            todo.push((cursor, to));
        }
        for (s, e) in todo {
            self.pieces.insert(s, Piece::Hole(e - s, cause));
        }
    }

    fn overlapping(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &Piece)> {
        let first = self
            .pieces
            .range(..=from)
            .next_back()
            .filter(|(&s, p)| s + p.len() > from)
            .map(|(&s, _)| s)
            .unwrap_or(from);
        self.pieces
            .range(first..to)
            .map(|(&s, p)| (s, p))
            .filter(move |(s, p)| s + p.len() > from)
    }

    /// The data (not hole) ranges within `[from, to)`, clipped.
    fn data_ranges(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        self.overlapping(from, to)
            .filter(|(_, p)| matches!(p, Piece::Data(_)))
            .map(|(s, p)| (s.max(from), (s + p.len()).min(to)))
            .collect()
    }

    /// The known bytes within `[from, to)`, as (offset, bytes) runs.
    pub fn data_in(&self, from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
        self.overlapping(from, to)
            .filter_map(|(s, p)| match p {
                Piece::Data(d) => {
                    let a = s.max(from);
                    let b = (s + p.len()).min(to);
                    Some((a, d[(a - s) as usize..(b - s) as usize].to_vec()))
                }
                Piece::Hole(..) => None,
            })
            .collect()
    }

    /// Every byte of `[from, to)`, if all of them are known (no hole in between).
    pub fn bytes(&self, from: u64, to: u64) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(to.saturating_sub(from) as usize);
        for (at, run) in self.data_in(from, to) {
            if at != from + out.len() as u64 {
                return None;
            }
            out.extend_from_slice(&run);
        }
        (from + out.len() as u64 == to).then_some(out)
    }

    /// The end of the content is at `at` (a read returned 0 there).
    pub fn eof_at(&mut self, at: u64) {
        self.size = Some(at);
        self.extent = self.extent.max(at);
    }

    /// The content was truncated (or extended with zeros) to `len`.
    pub fn truncate(&mut self, len: u64) {
        if len < self.extent {
            self.clear(len, self.extent);
            self.extent = len;
        } else if len > self.extent {
            // ftruncate extends with zeros.
            let zeros = vec![0; (len - self.extent) as usize];
            let at = self.extent;
            self.pieces.insert(at, Piece::Data(zeros));
            self.extent = len;
        }
        if self.size.is_some() || len == 0 {
            self.size = Some(len);
        }
        if len == 0 {
            self.unknown_prefix = false;
        }
    }

    /// Fills what is unknown here from `other` (the same stream seen from elsewhere).
    pub fn merge_from(&mut self, other: &Content) {
        for (&s, p) in &other.pieces {
            match p {
                Piece::Data(d) => self.observe(s, d, d.len() as u64, Cause::Missing),
                Piece::Hole(n, c) => self.fill_hole(s, s + n, *c),
            }
        }
        self.extent = self.extent.max(other.extent);
        if self.size.is_none() {
            self.size = other.size;
        }
    }

    /// The first `n` known bytes from offset 0 (for recognising `#!` and ELF), if known.
    pub fn head(&self, n: usize) -> Vec<u8> {
        match self.pieces.get(&0) {
            Some(Piece::Data(d)) => d[..d.len().min(n)].to_vec(),
            _ => Vec::new(),
        }
    }

    /// The bytes `cat` exports (holes zero-filled, up to the extent) and every hole.
    pub fn export(&self) -> (Vec<u8>, Vec<Gap>) {
        let end = self.size.map_or(self.extent, |s| s.max(self.extent));
        let mut bytes = Vec::with_capacity(end as usize);
        let mut gaps = Vec::new();
        if self.unknown_prefix {
            gaps.push(Gap {
                offset: Some(0),
                len: None,
                cause: Cause::Missing,
            });
        }
        let push_gap = |gaps: &mut Vec<Gap>, at: u64, len: u64, cause: Cause| {
            if len == 0 {
                return;
            }
            match gaps.last_mut() {
                Some(g)
                    if g.cause == cause
                        && g.offset.is_some()
                        && g.len.is_some()
                        && g.offset.unwrap_or(0) + g.len.unwrap_or(0) == at =>
                {
                    g.len = Some(g.len.unwrap_or(0) + len);
                }
                _ => gaps.push(Gap {
                    offset: Some(at),
                    len: Some(len),
                    cause,
                }),
            }
        };
        for (&s, p) in &self.pieces {
            if s >= end {
                break;
            }
            let at = bytes.len() as u64;
            if s > at {
                push_gap(&mut gaps, at, s - at, Cause::Missing);
                bytes.resize(s as usize, 0);
            }
            let take = p.len().min(end - s);
            match p {
                Piece::Data(d) => bytes.extend_from_slice(&d[..take as usize]),
                Piece::Hole(_, c) => {
                    push_gap(&mut gaps, s, take, *c);
                    bytes.resize((s + take) as usize, 0);
                }
            }
        }
        let at = bytes.len() as u64;
        if at < end {
            push_gap(&mut gaps, at, end - at, Cause::Missing);
            bytes.resize(end as usize, 0);
        }
        if self.size.is_none() {
            // What follows the last byte seen is unknown.
            gaps.push(Gap {
                offset: Some(end),
                len: None,
                cause: Cause::Missing,
            });
        }
        if self.dropped {
            gaps.push(Gap {
                offset: None,
                len: None,
                cause: Cause::Drop,
            });
        }
        (bytes, gaps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(c: &Content) -> (Vec<u8>, Vec<Gap>) {
        c.export()
    }

    fn gap(offset: u64, len: u64, cause: Cause) -> Gap {
        Gap {
            offset: Some(offset),
            len: Some(len),
            cause,
        }
    }

    #[test]
    fn sequential_writes_make_a_complete_file() {
        let mut c = Content::empty();
        c.write(0, b"#!/bin/sh\n", 10, Cause::Snaplen);
        c.write(10, b"echo hi\n", 8, Cause::Snaplen);
        assert_eq!(export(&c), (b"#!/bin/sh\necho hi\n".to_vec(), vec![]));
        assert_eq!(c.size(), Some(18));
    }

    #[test]
    fn bytes_of_a_range_only_when_all_are_known() {
        let mut c = Content::empty();
        c.write(0, b"#!/bin/sh\n", 10, Cause::Snaplen);
        c.write(10, b"echo hi\n", 8, Cause::Snaplen);
        assert_eq!(c.bytes(0, 18), Some(b"#!/bin/sh\necho hi\n".to_vec()));
        assert_eq!(c.bytes(5, 12), Some(b"n/sh\nec".to_vec()));
        assert_eq!(c.bytes(10, 30), None, "beyond the known end");
        c.write(30, b"x", 1, Cause::Snaplen);
        assert_eq!(c.bytes(0, 31), None, "a hole in between");
        assert_eq!(c.bytes(30, 31), Some(b"x".to_vec()));
    }

    #[test]
    fn a_cut_write_leaves_a_named_hole_and_a_later_read_fills_it() {
        let mut c = Content::empty();
        c.write(0, b"abc", 6, Cause::Snaplen);
        c.write(6, b"ghi", 3, Cause::Snaplen);
        let (bytes, gaps) = export(&c);
        assert_eq!(bytes, b"abc\0\0\0ghi");
        assert_eq!(gaps, vec![gap(3, 3, Cause::Snaplen)]);
        c.observe(0, b"abcdefghi", 9, Cause::Snaplen);
        assert_eq!(export(&c), (b"abcdefghi".to_vec(), vec![]));
    }

    #[test]
    fn a_cut_read_never_erases_known_bytes() {
        let mut c = Content::empty();
        c.write(0, b"abcdef", 6, Cause::Snaplen);
        c.observe(0, b"ab", 6, Cause::Snaplen);
        assert_eq!(export(&c), (b"abcdef".to_vec(), vec![]));
    }

    #[test]
    fn a_write_replaces_what_was_known() {
        let mut c = Content::empty();
        c.write(0, b"abcdef", 6, Cause::Snaplen);
        c.write(2, b"X", 3, Cause::Unreadable);
        let (bytes, gaps) = export(&c);
        assert_eq!(bytes, b"abX\0\0f");
        assert_eq!(gaps, vec![gap(3, 2, Cause::Unreadable)]);
    }

    #[test]
    fn pwrite_past_the_end_leaves_a_missing_hole() {
        let mut c = Content::empty();
        c.write(0, b"ab", 2, Cause::Snaplen);
        c.write(5, b"xy", 2, Cause::Snaplen);
        let (bytes, gaps) = export(&c);
        assert_eq!(bytes, b"ab\0\0\0xy");
        assert_eq!(gaps, vec![gap(2, 3, Cause::Missing)]);
    }

    #[test]
    fn truncation_drops_the_tail() {
        let mut c = Content::empty();
        c.write(0, b"abcdef", 6, Cause::Snaplen);
        c.truncate(2);
        c.write(2, b"Z", 1, Cause::Snaplen);
        assert_eq!(export(&c), (b"abZ".to_vec(), vec![]));
        c.truncate(0);
        assert_eq!(export(&c), (Vec::new(), vec![]));
    }

    #[test]
    fn an_unknown_file_has_an_open_end_until_eof() {
        let mut c = Content::unknown();
        c.observe(0, b"abc", 3, Cause::Snaplen);
        let (_, gaps) = export(&c);
        assert_eq!(
            gaps,
            vec![Gap {
                offset: Some(3),
                len: None,
                cause: Cause::Missing
            }]
        );
        c.eof_at(3);
        assert_eq!(export(&c), (b"abc".to_vec(), vec![]));
    }

    #[test]
    fn out_of_order_stream_sides_merge() {
        // The reader's full data is seen before the writer's cut copy of it.
        let mut c = Content::empty();
        c.observe(0, b"0123456789", 10, Cause::Snaplen);
        c.observe(0, b"0123", 10, Cause::Snaplen);
        assert_eq!(export(&c), (b"0123456789".to_vec(), vec![]));
        let mut d = Content::empty();
        d.observe(0, b"0123", 10, Cause::Snaplen);
        d.observe(0, b"0123456789", 10, Cause::Snaplen);
        assert_eq!(export(&d), (b"0123456789".to_vec(), vec![]));
    }

    #[test]
    fn one_byte_reads_assemble() {
        let mut c = Content::empty();
        for (i, b) in b"echo piped\n".iter().enumerate() {
            c.observe(i as u64, &[*b], 1, Cause::Snaplen);
        }
        c.eof_at(11);
        assert_eq!(export(&c), (b"echo piped\n".to_vec(), vec![]));
    }
}
