//! Property tests: any event survives encoding, in a chunk and in a whole file.

mod common;

use capture_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn sockaddr() -> impl Strategy<Value = SockAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(addr, port)| SockAddr::Inet { addr, port }),
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>()).prop_map(|(addr, port, scope_id)| {
            SockAddr::Inet6 {
                addr,
                port,
                scope_id,
            }
        }),
        bytes().prop_map(SockAddr::Unix),
        (any::<u16>(), bytes()).prop_map(|(family, raw)| SockAddr::Other { family, raw }),
    ]
}

fn param_value() -> impl Strategy<Value = ParamValue> {
    prop_oneof![
        bytes().prop_map(ParamValue::Path),
        bytes().prop_map(ParamValue::Str),
        any::<i32>().prop_map(ParamValue::Fd),
        vec(any::<i32>(), 0..4).prop_map(ParamValue::Fds),
        sockaddr().prop_map(ParamValue::SockAddr),
        (
            bytes(),
            any::<u64>(),
            prop_oneof![
                Just(BufferCut::Whole),
                Just(BufferCut::Snaplen),
                Just(BufferCut::Unreadable)
            ]
        )
            .prop_map(|(data, original_len, cut)| ParamValue::Buffer(Buffer {
                data,
                original_len,
                cut
            })),
        (vec(bytes(), 0..4), any::<bool>())
            .prop_map(|(items, truncated)| ParamValue::StrList { items, truncated }),
    ]
}

fn syscall() -> impl Strategy<Value = SyscallEvent> {
    (
        any::<u32>(),
        prop_oneof![Just(Abi::X86_64), Just(Abi::I386)],
        prop_oneof![
            Just(Completion::Complete),
            Just(Completion::EnterOnly),
            Just(Completion::ExitOnly)
        ],
        any::<[u64; 6]>(),
        any::<Option<i64>>(),
        any::<Option<u64>>(),
        any::<u64>(),
        vec(
            (any::<u8>(), param_value()).prop_map(|(slot, value)| Param { slot, value }),
            0..4,
        ),
    )
        .prop_map(
            |(nr, abi, completion, args, ret, duration_ns, cgroup_id, params)| SyscallEvent {
                nr,
                abi,
                completion,
                args,
                ret,
                duration_ns,
                cgroup_id,
                params,
            },
        )
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        4 => syscall().prop_map(EventBody::Syscall),
        1 => (any::<u32>(), any::<u32>(), any::<u64>())
            .prop_map(|(child_pid, child_tid, cgroup_id)| EventBody::Fork(ForkEvent { child_pid, child_tid, cgroup_id })),
        1 => (bytes(), vec(bytes(), 0..5), any::<bool>(), any::<[u32; 5]>(), any::<u64>(), proptest::option::of(bytes()), proptest::option::of(bytes()))
            .prop_map(|(filename, argv, argv_truncated, ids, cgroup_id, exe, cwd)| EventBody::Exec(ExecEvent {
                filename,
                argv,
                argv_truncated,
                ppid: ids[0],
                uid: ids[1],
                gid: ids[2],
                euid: ids[3],
                egid: ids[4],
                cgroup_id,
                exe,
                cwd,
            })),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(status, group_dead)| EventBody::Exit(ExitEvent { status, group_dead })),
        1 => (any::<u64>(), bytes()).prop_map(|(cgroup_id, path)| EventBody::CgroupMkdir(CgroupEvent { cgroup_id, path })),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        body(),
    )
        .prop_map(|(ts, cpu, pid, tid, body)| Event {
            ts,
            cpu,
            pid,
            tid,
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_events_round_trip_through_a_chunk(events in vec(event(), 1..40), seq in any::<u64>()) {
        let chunk = encode_chunk(&events, seq, 1).expect("encodes");
        prop_assert_eq!(chunk.event_count as usize, events.len());
        prop_assert_eq!(chunk.first_ts, events.iter().map(|e| e.ts).min().unwrap_or(0));
        prop_assert_eq!(chunk.last_ts, events.iter().map(|e| e.ts).max().unwrap_or(0));
        prop_assert_eq!(chunk.decode().expect("decodes"), events);
    }

    #[test]
    fn any_events_round_trip_through_a_file(events in vec(event(), 0..60), chunk_raw_bytes in 1usize..2000) {
        let opts = WriterOptions { chunk_raw_bytes, zstd_level: 1, file_id: Some(common::FIXED_ID) };
        let mut w = CaptureWriter::new(Vec::new(), opts.clone()).expect("header");
        for e in &events {
            w.push_event(e).expect("push");
        }
        let bytes = w.finish().expect("finish");
        let r = CaptureReader::from_bytes(bytes.clone()).expect("opens");
        prop_assert!(r.damage().is_empty());
        prop_assert_eq!(common::all_events(&r), events.clone());
        // Byte-identical when written again.
        let mut w = CaptureWriter::new(Vec::new(), opts).expect("header");
        for e in r.events() {
            w.push_event(&e.expect("event")).expect("push");
        }
        prop_assert!(w.finish().expect("finish") == bytes);
    }

    #[test]
    fn any_bytes_never_panic_the_reader(mut tail in vec(any::<u8>(), 0..400), keep_header in any::<bool>()) {
        if keep_header {
            let mut b = b"\x89ATCAP\r\n\x01\x00\x00\x00\x00\x00\x00\x00".to_vec();
            b.extend_from_slice(&[0u8; 16]);
            b.append(&mut tail);
            tail = b;
        }
        if let Ok(r) = CaptureReader::from_bytes(tail) {
            let _ = r.verify();
            let _ = r.events().count();
        }
    }
}
