//! The bodies of the fuzz targets in `fuzz/`, kept here so that the committed regression
//! inputs (`fuzz/regressions/<target>/`) are replayed by `tests/fuzz_regressions.rs` through
//! exactly the code the fuzzer ran. Not part of the crate's API.

use crate::chunk::RawChunk;
use crate::layout::{FileHeader, CODEC_ZSTD, ENCODING_COLUMNS_V1, VERSION_MAJOR, VERSION_MINOR};
use crate::model::*;
use crate::reader::CaptureReader;
use crate::writer::{CaptureWriter, WriterOptions};

/// Whatever the bytes, opening either fails cleanly or yields a reader whose every
/// operation terminates without panicking.
pub fn reader_from_bytes(data: &[u8]) {
    if let Ok(r) = CaptureReader::from_bytes(data.to_vec()) {
        exercise(&r);
    }
}

/// The bytes after a valid file header: block framing, the index and the scan.
pub fn block_stream(data: &[u8]) {
    let mut file = header().to_vec();
    file.extend_from_slice(data);
    match CaptureReader::from_bytes(file) {
        Ok(r) => exercise(&r),
        Err(e) => panic!("a valid header must always open: {e}"),
    }
}

/// The data as the decompressed records of one chunk, in every known encoding.
pub fn chunk_records(data: &[u8]) {
    let Some((&count, records)) = data.split_first() else {
        return;
    };
    let Ok(compressed) = zstd::bulk::compress(records, 1) else {
        return;
    };
    let chunk = RawChunk {
        first_ts: 0,
        last_ts: 0,
        first_seq: 0,
        event_count: u32::from(count),
        encoding: ENCODING_COLUMNS_V1,
        codec: CODEC_ZSTD,
        raw_len: records.len() as u64,
        pids: Vec::new(),
        cgroup_ids: Vec::new(),
        data: compressed,
    };
    if let Ok(events) = chunk.decode() {
        // Whatever decodes must encode again and decode to the same events.
        if let Ok(again) = crate::chunk::encode_chunk(&events, 0, 1) {
            assert_eq!(again.decode().ok().as_ref(), Some(&events));
        }
    }
}

/// What the chunk decoder makes of `data` as `chunk_records` takes it (one count byte,
/// then the decompressed records): for fuzz targets of crates that consume decoded events.
pub fn decode_records(data: &[u8]) -> Option<Vec<Event>> {
    let (&count, records) = data.split_first()?;
    let compressed = zstd::bulk::compress(records, 1).ok()?;
    RawChunk {
        first_ts: 0,
        last_ts: 0,
        first_seq: 0,
        event_count: u32::from(count),
        encoding: ENCODING_COLUMNS_V1,
        codec: CODEC_ZSTD,
        raw_len: records.len() as u64,
        pids: Vec::new(),
        cgroup_ids: Vec::new(),
        data: compressed,
    }
    .decode()
    .ok()
}

/// The input [`decode_records`] (and `chunk_records`) takes that decodes to `events` (at
/// most 255 of them): to make seeds and regression inputs from real captures.
pub fn records_of(events: &[Event]) -> Option<Vec<u8>> {
    let events = events.get(..events.len().min(255))?;
    let chunk = crate::chunk::encode_chunk(events, 0, 1).ok()?;
    let raw = zstd::bulk::decompress(&chunk.data, chunk.raw_len as usize).ok()?;
    let mut out = vec![u8::try_from(events.len()).ok()?];
    out.extend_from_slice(&raw);
    Some(out)
}

/// A valid capture damaged by the edits the data describes (flip, truncate, insert,
/// delete), then opened: a file whose header survives must open.
pub fn recovery(data: &[u8]) {
    let mut file = sample_capture();
    for op in data.chunks(4) {
        let [kind, a, b, value] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        if file.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([a, b])) % file.len();
        match kind % 4 {
            0 => file[at] ^= value | 1,
            1 => file.truncate(at),
            2 => file.insert(at, value),
            _ => {
                file.remove(at);
            }
        }
    }
    let header_intact = file.len() >= 32 && file[..32] == header();
    match CaptureReader::from_bytes(file) {
        Ok(r) => exercise(&r),
        Err(e) => assert!(!header_intact, "header intact but refused: {e}"),
    }
}

fn exercise(r: &CaptureReader) {
    let _ = r.metadata();
    let _ = r.damage();
    let report = r.verify();
    let mut good = 0usize;
    // The reusing decode must agree with the owned one, chunk by chunk.
    let mut buffer = crate::EventBuffer::new();
    let mut chunk = crate::DecompressedChunk::default();
    for i in 0..r.chunks().len() {
        let owned = r.chunk_events(i);
        buffer.clear();
        let reused = r
            .decompress_chunk(i, &mut chunk)
            .and_then(|()| chunk.decode_into(&mut buffer, crate::Records::All));
        match (&owned, reused) {
            (Ok(events), Ok(())) => assert_eq!(events.as_slice(), buffer.events()),
            (Err(_), Err(_)) => {}
            (owned, reused) => panic!("chunk {i}: owned {owned:?}, reused {reused:?}"),
        }
        if owned.is_ok() {
            good += 1;
            let _ = r.raw_chunk(i);
        }
    }
    assert_eq!(good, report.good_chunks.len());
    assert_eq!(
        r.events().filter(Result::is_err).count(),
        report.bad_chunks.len()
    );
    let mut cursor = r.event_cursor(crate::Records::All);
    let mut cursor_errors = 0;
    while let Some(e) = cursor.next() {
        cursor_errors += usize::from(e.is_err());
    }
    assert_eq!(cursor_errors, report.bad_chunks.len());
}

fn header() -> [u8; 32] {
    FileHeader {
        major: VERSION_MAJOR,
        minor: VERSION_MINOR,
        flags: 0,
        file_id: [7; 16],
    }
    .encode()
}

/// A small, deterministic capture with every block kind and a few chunks. Built once per
/// process: rebuilding it for every fuzz input would make the fuzzer a compressor benchmark.
pub fn sample_capture() -> Vec<u8> {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(build_sample).clone()
}

fn build_sample() -> Vec<u8> {
    let opts = WriterOptions {
        chunk_raw_bytes: 200,
        zstd_level: 1,
        file_id: Some([7; 16]),
    };
    let build = || -> Result<Vec<u8>, crate::Error> {
        let mut w = CaptureWriter::new(Vec::new(), opts)?;
        w.write_host(&HostInfo {
            hostname: "fuzz".into(),
            ..HostInfo::default()
        })?;
        w.write_clocks(&[ClockPair {
            boot_ns: 1,
            realtime_ns: 2,
        }])?;
        for i in 0..40u32 {
            let body = if i % 10 == 3 {
                EventBody::Exec(ExecEvent {
                    filename: b"/bin/sh".to_vec(),
                    argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"id".to_vec()],
                    argv_truncated: false,
                    ppid: 1,
                    uid: 0,
                    gid: 0,
                    euid: 0,
                    egid: 0,
                    cgroup_id: 5,
                    exe: None,
                    cwd: Some(b"/".to_vec()),
                })
            } else {
                EventBody::Syscall(SyscallEvent {
                    nr: i % 5,
                    abi: Abi::X86_64,
                    completion: Completion::Complete,
                    args: [3, 0x7ffd_0000 + u64::from(i), 64, 0, 0, 0],
                    ret: Some(64),
                    duration_ns: Some(900),
                    cgroup_id: 5,
                    params: vec![Param {
                        slot: 1,
                        value: ParamValue::Buffer(Buffer {
                            data: b"echo hi\n".to_vec(),
                            original_len: 64,
                            cut: BufferCut::Snaplen,
                        }),
                    }],
                })
            };
            w.push_event(&Event {
                ts: 1000 + u64::from(i) * 10,
                cpu: i % 2,
                pid: 100 + i % 3,
                tid: 100 + i % 3,
                body,
            })?;
        }
        w.write_alert(&Alert {
            source: "fuzz".into(),
            ..Alert::default()
        })?;
        w.finish()
    };
    build().unwrap_or_default()
}
