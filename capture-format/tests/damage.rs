//! Damaged, truncated and foreign files: everything still good is read, what was lost is
//! reported, and nothing panics.

mod common;

use capture_format::*;
use common::*;

fn tiny_opts() -> WriterOptions {
    WriterOptions {
        chunk_raw_bytes: 300,
        zstd_level: 1,
        file_id: Some(FIXED_ID),
    }
}

/// A small file with several chunks, and the chunks' events as written.
fn sample() -> (Vec<u8>, Vec<ChunkInfo>, Vec<Vec<Event>>) {
    let mut events = syscall_stream(60, 3);
    events.extend(lifecycle_events(events.last().map_or(0, |e| e.ts) + 1));
    let bytes = write_sample(&events, tiny_opts());
    let r = CaptureReader::from_bytes(bytes.clone()).expect("sample opens");
    let per_chunk = (0..r.chunks().len())
        .map(|i| r.chunk_events(i).expect("chunk"))
        .collect();
    (bytes, r.chunks().to_vec(), per_chunk)
}

#[test]
fn truncation_at_every_offset_keeps_every_complete_chunk() {
    let (bytes, chunks, per_chunk) = sample();
    assert!(
        chunks.len() >= 4,
        "want several chunks, got {}",
        chunks.len()
    );
    for cut in 0..=bytes.len() {
        let prefix = bytes[..cut].to_vec();
        let r = match CaptureReader::from_bytes(prefix) {
            Ok(r) => r,
            Err(e) => {
                assert!(cut < 32, "cut at {cut} should open: {e}");
                assert!(e.is_fatal());
                continue;
            }
        };
        assert!(cut >= 32, "a {cut}-byte prefix cannot hold the header");
        if cut == bytes.len() {
            assert!(r.damage().is_empty());
        } else {
            assert!(!r.damage().is_empty(), "cut at {cut} must report loss");
        }
        // Every chunk that ends before the cut comes back whole.
        let complete: Vec<usize> = (0..chunks.len())
            .filter(|&i| chunks[i].offset + chunks[i].len <= cut as u64)
            .collect();
        assert_eq!(r.chunks().len(), complete.len(), "cut at {cut}");
        for (i, &orig) in complete.iter().enumerate() {
            assert_eq!(
                r.chunk_events(i).expect("complete chunk decodes"),
                per_chunk[orig]
            );
        }
        // A cut inside a block is reported as lost bytes ending at the cut.
        if let Some(last) = r.damage().lost.last() {
            assert_eq!(last.end, cut as u64);
            assert!(last.start < last.end);
        }
        assert!(r.verify().bad_chunks.is_empty());
    }
}

#[test]
fn cut_inside_a_chunk_dates_the_loss_from_its_neighbours() {
    let (bytes, chunks, _) = sample();
    let victim = &chunks[2];
    let cut = (victim.offset + victim.len / 2) as usize;
    let r = CaptureReader::from_bytes(bytes[..cut].to_vec()).expect("opens");
    let lost = r.damage().lost.last().expect("loss reported");
    assert_eq!(lost.start, victim.offset);
    assert_eq!(lost.end, cut as u64);
    assert_eq!(lost.after_ts, Some(chunks[1].last_ts));
    assert_eq!(lost.before_ts, None);
    assert!(r.damage().index_unusable.is_some());
}

#[test]
fn any_flipped_byte_in_a_chunk_is_named_and_spares_the_others() {
    let (bytes, chunks, per_chunk) = sample();
    let k = 1;
    let victim = &chunks[k];
    for at in victim.offset..victim.offset + victim.len {
        let mut damaged = bytes.clone();
        damaged[at as usize] ^= 0x5a;
        let r = CaptureReader::from_bytes(damaged).expect("opens");
        let report = r.verify();
        assert!(!report.is_intact(), "flip at {at}");
        assert_eq!(report.bad_chunks.len(), 1, "flip at {at}: {report:?}");
        let bad = &report.bad_chunks[0];
        assert_eq!((bad.index, bad.offset), (k, victim.offset), "flip at {at}");
        assert_eq!(
            (bad.first_ts, bad.last_ts),
            (victim.first_ts, victim.last_ts)
        );
        for (i, expected) in per_chunk.iter().enumerate().filter(|(i, _)| *i != k) {
            assert_eq!(&r.chunk_events(i).expect("other chunks read"), expected);
        }
        // The event iterator reports the bad chunk once and carries on.
        let results: Vec<_> = r.events().collect();
        assert_eq!(results.iter().filter(|e| e.is_err()).count(), 1);
        assert!(results
            .iter()
            .all(|e| e.as_ref().map_or_else(|err| !err.is_fatal(), |_| true)));
    }
}

#[test]
fn a_flipped_byte_in_an_unfinished_file_loses_only_that_chunk() {
    let (bytes, chunks, per_chunk) = sample();
    let unfinished = &bytes
        [..(chunks.last().expect("chunks").offset + chunks.last().expect("chunks").len) as usize];
    let victim = &chunks[1];
    let mut damaged = unfinished.to_vec();
    damaged[(victim.offset + 30) as usize] ^= 0xff;
    let r = CaptureReader::from_bytes(damaged).expect("opens");
    assert_eq!(r.chunks().len(), chunks.len() - 1);
    let lost = &r.damage().lost;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        (lost[0].start, lost[0].end),
        (victim.offset, victim.offset + victim.len)
    );
    assert_eq!(lost[0].after_ts, Some(chunks[0].last_ts));
    assert_eq!(lost[0].before_ts, Some(chunks[2].first_ts));
    let got: Vec<Event> = all_events(&r);
    let want: Vec<Event> = per_chunk
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_damaged_index_falls_back_to_scanning() {
    let (bytes, chunks, per_chunk) = sample();
    // The tail's offset field points at the index; damage the index payload.
    let tail_offset = u64::from_le_bytes(
        bytes[bytes.len() - 24..bytes.len() - 16]
            .try_into()
            .expect("8"),
    );
    let mut damaged = bytes.clone();
    damaged[tail_offset as usize + 20] ^= 1;
    let r = CaptureReader::from_bytes(damaged).expect("opens");
    assert!(r.damage().index_unusable.is_some());
    assert_eq!(r.chunks().len(), chunks.len());
    assert_eq!(all_events(&r), per_chunk.concat());
    assert_eq!(r.metadata().alerts, vec![alert()]);
    // The scan meets the damaged index block and reports its bytes as lost.
    assert_eq!(r.damage().lost.len(), 1);
}

#[test]
fn unknown_block_kinds_are_skipped() {
    let events = syscall_stream(50, 9);
    let mut w = CaptureWriter::new(Vec::new(), tiny_opts()).expect("w");
    w.write_host(&host()).expect("host");
    for e in &events[..25] {
        w.push_event(e).expect("e");
    }
    w.write_custom_block(0x0042, b"from a future minor version")
        .expect("custom");
    for e in &events[25..] {
        w.push_event(e).expect("e");
    }
    let bytes = w.finish().expect("finish");
    let r = CaptureReader::from_bytes(bytes.clone()).expect("opens");
    assert!(r.damage().is_empty(), "{:?}", r.damage());
    assert_eq!(r.unknown_blocks().len(), 1);
    assert_eq!(r.unknown_blocks()[0].kind, 0x0042);
    assert_eq!(all_events(&r), events);
    // Also when found by a scan (no tail).
    let cut = r.unknown_blocks()[0].offset + r.unknown_blocks()[0].len;
    let r = CaptureReader::from_bytes(bytes[..cut as usize].to_vec()).expect("opens");
    assert_eq!(r.unknown_blocks().len(), 1);
    assert!(r.damage().lost.is_empty());
    assert!(matches!(
        CaptureWriter::new(Vec::new(), tiny_opts())
            .expect("w")
            .write_custom_block(0x0010, b""),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn a_newer_major_version_is_refused_naming_both_versions() {
    let (mut bytes, _, _) = sample();
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&3u16.to_le_bytes());
    let err = CaptureReader::from_bytes(bytes.clone()).expect_err("must refuse");
    assert!(err.is_fatal());
    let msg = err.to_string();
    // The reader names its own version: 1.1 since the hash chain.
    let ours = format!("({VERSION_MAJOR}.{VERSION_MINOR})");
    assert_eq!(ours, "(1.1)");
    assert!(msg.contains("2.3") && msg.contains(&ours), "{msg}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("future.atcap");
    std::fs::write(&path, &bytes).expect("write");
    let msg = CaptureReader::open(&path)
        .expect_err("must refuse")
        .to_string();
    assert!(msg.contains("future.atcap") && msg.contains("2.3"), "{msg}");
}

#[test]
fn a_newer_minor_version_opens() {
    let (mut bytes, _, per_chunk) = sample();
    bytes[10..12].copy_from_slice(&7u16.to_le_bytes());
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    assert_eq!(r.version(), (1, 7));
    assert_eq!(all_events(&r), per_chunk.concat());
}

#[test]
fn foreign_and_mangled_files_get_a_clear_fatal_error() {
    let (bytes, _, _) = sample();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "too short"),
        (
            b"hello world, this is not a capture at all".to_vec(),
            "wrong magic",
        ),
        ([&b"\x89ATCAP\n"[..], &bytes[8..]].concat(), "line endings"),
        (
            [&[0x28, 0xb5, 0x2f, 0xfd][..], &bytes[4..]].concat(),
            "zstd",
        ),
    ];
    for (input, expect) in cases {
        let err = CaptureReader::from_bytes(input).expect_err("refused");
        assert!(err.is_fatal());
        assert!(
            err.to_string().contains(expect),
            "{err} should mention {expect}"
        );
    }
    let mut flags = bytes.clone();
    flags[12] = 1;
    assert!(matches!(
        CaptureReader::from_bytes(flags),
        Err(Error::HeaderFlags { .. })
    ));
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.atcap");
    let err = CaptureReader::open(&missing).expect_err("missing");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("missing.atcap"), "{err}");
    let empty = dir.path().join("empty.atcap");
    std::fs::write(&empty, b"").expect("write");
    let err = CaptureReader::open(&empty).expect_err("empty");
    assert!(err.to_string().contains("empty.atcap"), "{err}");
    let err = verify(&empty).expect_err("empty");
    assert!(err.to_string().contains("empty.atcap"), "{err}");
}

/// Fake block headers that each claim the rest of the file would make a naive resync
/// check a CRC over megabytes at every marker: quadratic, a hang in practice. The scan's
/// work budget keeps it linear and says why it stopped.
#[test]
fn fake_sync_markers_cannot_make_recovery_quadratic() {
    let (bytes, _, _) = sample();
    let mut hostile = bytes[..32].to_vec();
    let fakes = 200_000u64;
    for i in 0..fakes {
        hostile.extend_from_slice(b"ATBK");
        hostile.extend_from_slice(&0x10u16.to_le_bytes());
        hostile.extend_from_slice(&0u16.to_le_bytes());
        // Each claim leaves exactly room for the CRC trailer, so every one gets checked.
        hostile.extend_from_slice(&((fakes - i - 1) * 16).saturating_sub(4).to_le_bytes());
    }
    let r = CaptureReader::from_bytes(hostile.clone()).expect("opens");
    assert!(r.chunks().is_empty());
    let lost = &r.damage().lost;
    assert_eq!(lost.last().map(|l| l.end), Some(hostile.len() as u64));
    assert!(
        lost.iter().any(|l| l.reason.contains("recovery stopped")),
        "{lost:?}"
    );
}

#[test]
fn a_chunk_in_an_unknown_encoding_is_skipped_not_fatal() {
    let events = syscall_stream(40, 6);
    let good = encode_chunk(&events[..20], 0, 3).expect("encode");
    let future = RawChunk {
        encoding: 9,
        ..encode_chunk(&events[20..], 20, 3).expect("encode")
    };
    let mut w = CaptureWriter::new(Vec::new(), tiny_opts()).expect("w");
    w.copy_raw_chunk(&future).expect("copy");
    w.copy_raw_chunk(&good).expect("copy");
    let r = CaptureReader::from_bytes(w.finish().expect("finish")).expect("opens");
    let err = r.chunk_events(0).expect_err("unknown encoding");
    assert!(!err.is_fatal());
    assert!(
        err.to_string().contains("unknown event encoding 9"),
        "{err}"
    );
    assert_eq!(
        r.chunk_events(1).expect("good chunk"),
        events[..20].to_vec()
    );
    let results: Vec<_> = r.events().collect();
    assert_eq!(results.len(), 21);
    assert!(results[0].is_err() && results[1..].iter().all(Result::is_ok));
}

/// A sink that accepts `limit` bytes, then fails like a full disk.
struct FullDisk {
    written: Vec<u8>,
    limit: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit - self.written.len();
        if room == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ));
        }
        let n = room.min(buf.len());
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_disk_stops_the_writer_and_leaves_a_readable_prefix() {
    let events = syscall_stream(400, 12);
    let complete = write_sample(&events, tiny_opts());
    let limit = complete.len() / 2;
    let mut sink = FullDisk {
        written: Vec::new(),
        limit,
    };
    let mut w = CaptureWriter::new(&mut sink, tiny_opts()).expect("header fits");
    let mut failed = None;
    for e in &events {
        if let Err(e) = w.push_event(e) {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("the disk fills up");
    assert!(err.is_fatal());
    // Once failed, the writer refuses everything rather than mis-framing later blocks.
    assert!(w.push_event(&events[0]).is_err());
    assert!(w.finish().is_err());
    let r = CaptureReader::from_bytes(sink.written.clone()).expect("prefix opens");
    assert!(!r.chunks().is_empty());
    assert!(r.damage().index_unusable.is_some());
    let got = all_events(&r);
    assert_eq!(got[..], events[..got.len()]);
}

/// A chunk that claims more raw bytes than its compressed data could ever expand to is
/// refused before a buffer of that size is allocated; so is one whose zstd frame header
/// declares another length than the chunk header.
#[test]
fn a_lying_raw_length_is_refused_before_allocating() {
    let events = vec![Event {
        ts: 1,
        cpu: 0,
        pid: 1,
        tid: 1,
        body: EventBody::Exit(ExitEvent {
            status: 0,
            group_dead: true,
        }),
    }];
    let honest = encode_chunk(&events, 0, 1).expect("encode");
    assert_eq!(honest.decode().expect("decodes"), events);

    let mut inflated = honest.clone();
    inflated.raw_len = 64 << 20;
    let err = inflated.decode().expect_err("refused").to_string();
    assert!(err.contains("compressed bytes can hold"), "{err}");

    let mut off_by_one = honest.clone();
    off_by_one.raw_len += 1;
    let err = off_by_one.decode().expect_err("refused").to_string();
    assert!(err.contains("the zstd frame declares"), "{err}");

    let mut over_limit = honest;
    over_limit.raw_len = (64 << 20) + 1;
    let err = over_limit.decode().expect_err("refused").to_string();
    assert!(err.contains("over the"), "{err}");
}

/// Devices and FIFOs have no length to bound a read by; opening refuses them at once.
#[cfg(unix)]
#[test]
fn non_regular_files_are_refused() {
    let err = CaptureReader::open(std::path::Path::new("/dev/zero")).expect_err("refused");
    assert!(err.is_fatal());
    assert!(
        err.to_string()
            .contains("not a regular file (a character device)"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let err = CaptureReader::open(dir.path()).expect_err("refused");
    assert!(err.to_string().contains("a directory"), "{err}");
}
