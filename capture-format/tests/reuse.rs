//! Decoding into reused events (the event cursor, `EventBuffer`, runs of `decode_some`)
//! gives exactly what the owned decode gives, whatever the events held before.

mod common;

use capture_format::*;
use common::*;

/// Syscalls with every kind of parameter, interleaved with lifecycle records, so that
/// reused slots see each type replaced by every other.
fn mixed_events() -> Vec<Event> {
    let kinds = [
        ParamValue::Str(b"a string".to_vec()),
        ParamValue::Fd(-100),
        ParamValue::Fds(vec![3, 4]),
        ParamValue::SockAddr(SockAddr::Inet {
            addr: [10, 0, 0, 1],
            port: 443,
        }),
        ParamValue::SockAddr(SockAddr::Unix(b"\0abstract".to_vec())),
        ParamValue::SockAddr(SockAddr::Other {
            family: 16,
            raw: vec![1, 2, 3],
        }),
        ParamValue::StrList {
            items: vec![b"sh".to_vec(), b"-c".to_vec(), b"id".to_vec()],
            truncated: true,
        },
    ];
    let mut events = Vec::new();
    for (i, mut e) in syscall_stream(3000, 5).into_iter().enumerate() {
        if let EventBody::Syscall(s) = &mut e.body {
            if i % 3 == 0 {
                s.params.push(Param {
                    slot: 5,
                    value: kinds[i % kinds.len()].clone(),
                });
            }
            if i % 11 == 0 {
                s.params.clear();
            }
        }
        let ts = e.ts;
        events.push(e);
        if i % 97 == 0 {
            events.extend(lifecycle_events(ts));
        }
    }
    for (ts, e) in events.iter_mut().enumerate() {
        e.ts = ts as u64;
    }
    events
}

fn sample_files() -> Vec<CaptureReader> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let mut readers = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "atcap") {
            readers.push(CaptureReader::open(&path).expect("sample opens"));
        }
    }
    assert!(!readers.is_empty(), "no samples in {}", dir.display());
    readers
}

fn readers() -> Vec<CaptureReader> {
    let mut readers = sample_files();
    let bytes = write_sample(&mixed_events(), small_opts());
    readers.push(CaptureReader::from_bytes(bytes).expect("opens"));
    readers
}

fn is_syscall(e: &Event) -> bool {
    matches!(e.body, EventBody::Syscall(_))
}

#[test]
fn the_cursor_decodes_what_the_iterator_does() {
    for r in readers() {
        let owned = all_events(&r);
        let mut some = SyscallSet::new();
        for (abi, nr) in [(Abi::X86_64, 0), (Abi::X86_64, 59), (Abi::X86_64, 257)] {
            assert!(some.insert(abi, nr));
        }
        assert!(!some.insert(Abi::I386, SyscallSet::LIMIT));
        for records in [
            Records::All,
            Records::NoSyscalls,
            Records::Syscalls(some),
            Records::WithoutParams,
        ] {
            let mut cursor = r.event_cursor(records);
            let mut got = Vec::new();
            while let Some(e) = cursor.next() {
                got.push(e.expect("event").clone());
            }
            let want: Vec<Event> = owned
                .iter()
                .filter(|e| match (&records, &e.body) {
                    (Records::NoSyscalls, EventBody::Syscall(_)) => false,
                    (Records::Syscalls(set), EventBody::Syscall(s)) => set.contains(s.abi, s.nr),
                    _ => true,
                })
                .cloned()
                .map(|mut e| {
                    if let (Records::WithoutParams, EventBody::Syscall(s)) = (&records, &mut e.body)
                    {
                        s.params.clear();
                    }
                    e
                })
                .collect();
            if let Records::Syscalls(_) = records {
                assert!(
                    got.iter().any(is_syscall) && got.len() < owned.len(),
                    "the set should keep some syscalls and leave others out"
                );
            }
            assert_eq!(got, want, "{records:?} in {:?}", r.path());
        }
    }
}

#[test]
fn a_reused_buffer_decodes_each_chunk_as_chunk_events_does() {
    for r in readers() {
        let mut buffer = EventBuffer::new();
        let mut chunk = DecompressedChunk::default();
        // Forwards then backwards, so slots see other chunks' events before.
        let order: Vec<usize> = (0..r.chunks().len())
            .chain((0..r.chunks().len()).rev())
            .collect();
        for i in order {
            let want = r.chunk_events(i).expect("chunk");
            r.decompress_chunk(i, &mut chunk).expect("decompresses");
            assert_eq!(chunk.index(), i);
            buffer.clear();
            chunk
                .decode_into(&mut buffer, Records::All)
                .expect("decodes");
            assert_eq!(buffer.events(), want.as_slice(), "chunk {i}");

            buffer.clear();
            chunk
                .decode_into(&mut buffer, Records::NoSyscalls)
                .expect("decodes");
            let lifecycle: Vec<Event> = want.iter().filter(|e| !is_syscall(e)).cloned().collect();
            assert_eq!(buffer.events(), lifecycle.as_slice(), "chunk {i}");

            let mut runs = chunk.events(Records::All).expect("decoder");
            let mut got = Vec::new();
            loop {
                buffer.clear();
                let n = runs.decode_some(&mut buffer, 7).expect("decodes");
                assert_eq!(n, buffer.len());
                if n == 0 {
                    break;
                }
                got.extend_from_slice(buffer.events());
            }
            assert_eq!(got, want, "chunk {i} in runs");
        }
    }
}

#[test]
fn a_failed_decode_leaves_the_buffer_as_it_was() {
    let bytes = write_sample(&mixed_events(), small_opts());
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    let mut buffer = EventBuffer::new();
    let mut chunk = DecompressedChunk::default();
    r.decompress_chunk(0, &mut chunk).expect("decompresses");
    chunk
        .decode_into(&mut buffer, Records::All)
        .expect("decodes");
    let before = buffer.events().to_vec();
    // A chunk that never had anything decompressed into it decodes to an error.
    let empty = DecompressedChunk::default();
    assert!(empty.decode_into(&mut buffer, Records::All).is_err());
    assert_eq!(buffer.events(), before.as_slice());
}
