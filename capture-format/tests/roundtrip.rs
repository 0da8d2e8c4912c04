//! Writing then reading gives back exactly what was written.

mod common;

use capture_format::*;
use common::*;

#[test]
fn events_and_metadata_survive_a_round_trip() {
    let mut events = syscall_stream(3000, 7);
    events.extend(lifecycle_events(events.last().map_or(0, |e| e.ts) + 1));
    let bytes = write_sample(&events, small_opts());
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    assert!(r.damage().is_empty(), "{:?}", r.damage());
    // Written by this version (1.1: the hash chain).
    assert_eq!(r.version(), (1, 1));
    assert_eq!(r.file_id(), FIXED_ID);
    assert!(r.verify().is_intact());
    assert!(r.chunks().len() > 5, "small chunks should give several");
    assert_eq!(all_events(&r), events);
    let m = r.metadata();
    assert_eq!(m.host.as_ref(), Some(&host()));
    assert_eq!(m.alerts, vec![alert()]);
    assert_eq!(m.clocks.len(), 1);
    assert_eq!(m.processes.len(), 1);
    assert_eq!(m.containers[0].id, "abc");
    assert_eq!(m.users.users[0].name, "root");
    assert_eq!(m.drops.entries[0].count, 3);
    let total: u32 = r.chunks().iter().map(|c| c.event_count).sum();
    assert_eq!(total as usize, events.len());
    assert!(r.verify().is_intact());
}

/// Writes a capture from what a reader gives back, the way a tool re-saving a file would.
fn rewrite(r: &CaptureReader, opts: WriterOptions) -> Vec<u8> {
    let m = r.metadata();
    let mut w = CaptureWriter::new(Vec::new(), opts).expect("header");
    w.write_host(m.host.as_ref().expect("host")).expect("host");
    w.write_clocks(&m.clocks).expect("clocks");
    for p in &m.processes {
        w.write_processes(p).expect("processes");
    }
    w.write_containers(&m.containers).expect("containers");
    w.write_users(&m.users).expect("users");
    for a in &m.alerts {
        w.write_alert(a).expect("alert");
    }
    for e in r.events() {
        w.push_event(&e.expect("event")).expect("push");
    }
    w.write_drops(&m.drops).expect("drops");
    w.finish().expect("finish")
}

#[test]
fn write_read_write_is_byte_identical() {
    let mut events = syscall_stream(2000, 11);
    events.extend(lifecycle_events(events.last().map_or(0, |e| e.ts) + 1));
    let first = write_sample(&events, small_opts());
    let r = CaptureReader::from_bytes(first.clone()).expect("opens");
    let second = rewrite(&r, small_opts());
    assert_eq!(first.len(), second.len());
    assert!(first == second, "re-encoding changed the bytes");
}

#[test]
fn copying_raw_chunks_reproduces_the_file_without_recompressing() {
    let events = syscall_stream(2000, 5);
    let first = write_sample(&events, small_opts());
    let r = CaptureReader::from_bytes(first.clone()).expect("opens");
    let m = r.metadata();
    let mut w = CaptureWriter::new(Vec::new(), small_opts()).expect("header");
    w.write_host(m.host.as_ref().expect("host")).expect("host");
    w.write_clocks(&m.clocks).expect("clocks");
    w.write_processes(&m.processes[0]).expect("processes");
    w.write_containers(&m.containers).expect("containers");
    w.write_users(&m.users).expect("users");
    w.write_alert(&m.alerts[0]).expect("alert");
    for i in 0..r.chunks().len() {
        let raw = r.raw_chunk(i).expect("raw chunk");
        assert_eq!(
            raw.decode().expect("decodes"),
            r.chunk_events(i).expect("chunk")
        );
        w.copy_raw_chunk(&raw).expect("copy");
    }
    w.write_drops(&m.drops).expect("drops");
    let second = w.finish().expect("finish");
    let diff = first.iter().zip(&second).position(|(a, b)| a != b);

    assert!(
        second == first,
        "lengths {} {}, first difference at {diff:?}",
        first.len(),
        second.len()
    );
}

#[test]
fn a_sealed_window_can_be_cut_from_raw_chunks() {
    let events = syscall_stream(3000, 8);
    let chunks: Vec<RawChunk> = events
        .chunks(500)
        .enumerate()
        .map(|(i, evs)| encode_chunk(evs, (i * 500) as u64, 3).expect("encode"))
        .collect();
    let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default()).expect("header");
    for c in &chunks[2..4] {
        w.copy_raw_chunk(c).expect("copy");
    }
    let r = CaptureReader::from_bytes(w.finish().expect("finish")).expect("opens");
    assert_eq!(r.chunks()[0].first_seq, 1000);
    assert_eq!(r.chunks()[1].first_seq, 1500);
    assert_eq!(all_events(&r), events[1000..2000].to_vec());
    assert!(matches!(
        encode_chunk(&[], 0, 3),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn out_of_order_events_are_kept_and_ranges_are_min_max() {
    let mut events = syscall_stream(10, 2);
    events.swap(0, 5);
    events.push(Event {
        ts: 0,
        ..events[1].clone()
    });
    events.push(Event {
        ts: u64::MAX,
        ..events[1].clone()
    });
    let bytes = write_sample(&events, WriterOptions::default());
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    assert_eq!(r.chunks().len(), 1);
    assert_eq!(
        (r.chunks()[0].first_ts, r.chunks()[0].last_ts),
        (0, u64::MAX)
    );
    assert_eq!(all_events(&r), events);
}

#[test]
fn metadata_blocks_written_several_times_are_merged() {
    let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default()).expect("header");
    w.write_clocks(&[ClockPair {
        boot_ns: 20,
        realtime_ns: 2,
    }])
    .expect("c");
    w.write_clocks(&[ClockPair {
        boot_ns: 10,
        realtime_ns: 1,
    }])
    .expect("c");
    w.write_alert(&alert()).expect("a");
    w.write_alert(&Alert {
        summary: "second".into(),
        ..alert()
    })
    .expect("a");
    let c = |id: &str, name: &str| ContainerInfo {
        id: id.into(),
        name: Some(name.into()),
        ..Default::default()
    };
    w.write_containers(&[c("a", "old"), c("b", "b")])
        .expect("c");
    w.write_containers(&[c("a", "new")]).expect("c");
    let r = CaptureReader::from_bytes(w.finish().expect("finish")).expect("opens");
    let m = r.metadata();
    assert_eq!(
        m.clocks.iter().map(|c| c.boot_ns).collect::<Vec<_>>(),
        vec![10, 20]
    );
    assert_eq!(m.alerts.len(), 2);
    assert_eq!(m.containers.len(), 2);
    assert_eq!(
        m.containers
            .iter()
            .find(|c| c.id == "a")
            .and_then(|c| c.name.clone()),
        Some("new".into())
    );
    assert_eq!(m.host, None);
    assert!(r.chunks().is_empty());
    assert_eq!(r.events().count(), 0);
}

#[test]
fn large_files_open_through_a_map_and_index_pids_and_cgroups() {
    let events = syscall_stream(50_000, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.atcap");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = CaptureWriter::new(
        std::io::BufWriter::new(file),
        WriterOptions {
            chunk_raw_bytes: 64 << 10,
            ..Default::default()
        },
    )
    .expect("w");
    for e in &events {
        w.push_event(e).expect("push");
    }
    drop(w.finish().expect("finish"));
    assert!(std::fs::metadata(&path).expect("meta").len() > 64 << 10);
    let r = CaptureReader::open(&path).expect("opens");
    assert_eq!(r.path(), Some(path.as_path()));
    assert_eq!(all_events(&r), events);
    for (i, c) in r.chunks().iter().enumerate() {
        let evs = r.chunk_events(i).expect("chunk");
        let mut pids: Vec<u32> = evs.iter().map(|e| e.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(c.pids, pids);
        assert!(
            c.pids.windows(2).all(|w| w[0] < w[1]) && c.cgroup_ids.windows(2).all(|w| w[0] < w[1])
        );
    }
    let report = verify(&path).expect("verify");
    assert!(report.is_intact());
    assert_eq!(report.events, events.len() as u64);
}
