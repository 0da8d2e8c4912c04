//! Damaged, truncated and unusual scap files: what is good is read, what is lost is
//! reported, nothing panics. The samples are the three public captures in samples/scap/.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use scap_format::parse::{self, decompress, parse, ThreadInfo};

fn sample(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/scap")
        .join(name);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    decompress(&raw).unwrap().0.into_owned()
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    let mut v = Vec::new();
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(body);
    v.extend(std::iter::repeat_n(0, pad));
    v.extend_from_slice(&total.to_le_bytes());
    v
}

/// Offsets of the blocks of `data`, with their types.
fn blocks(data: &[u8]) -> Vec<(usize, u32, usize)> {
    let mut off = 0;
    let mut v = Vec::new();
    while off + 8 <= data.len() {
        let t = u32::from_le_bytes(data[off..off + 4].try_into().unwrap());
        let l = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as usize;
        v.push((off, t, l));
        off += l;
    }
    v
}

#[test]
fn an_unknown_block_is_skipped_and_counted() {
    let data = sample("test_ipv6_client.scap");
    let whole = parse(&data).unwrap();
    let at = blocks(&data)[6].0;
    let mut edited = data[..at].to_vec();
    edited.extend(block(0x7777, b"from a newer writer"));
    edited.extend_from_slice(&data[at..]);
    let p = parse(&edited).unwrap();
    assert_eq!(p.events.len(), whole.events.len());
    assert_eq!(p.report.unknown_blocks.get(&0x7777), Some(&1));
    assert!(p.report.lost.is_empty(), "{:?}", p.report.lost);
}

#[test]
fn a_damaged_block_costs_that_block_and_reading_resumes_after_it() {
    let data = sample("502Error.scap");
    let whole = parse(&data).unwrap();
    let evs: Vec<_> = blocks(&data)
        .into_iter()
        .filter(|b| b.1 == parse::EV)
        .collect();
    let (off, _, len) = evs[evs.len() / 2];
    let mut edited = data.clone();
    // Both length fields disagree now: the block cannot be framed.
    edited[off + 4..off + 8].copy_from_slice(&0x00ff_ff00u32.to_le_bytes());
    let p = parse(&edited).unwrap();
    assert_eq!(p.report.lost.len(), 1, "{:?}", p.report.lost);
    assert_eq!(p.report.lost[0].offset, off as u64);
    assert_eq!(p.report.lost[0].len, len as u64);
    assert_eq!(p.events.len() + 1, whole.events.len());
    // The events after the damage are the same as in the intact file.
    assert_eq!(p.events.last(), whole.events.last());
}

#[test]
fn truncated_copies_keep_a_prefix_and_report_the_rest() {
    for name in ["502Error.scap", "curl_google.scap", "test_ipv6_client.scap"] {
        let data = sample(name);
        let whole = parse(&data).unwrap();
        for tenth in 1..10 {
            let cut = data.len() * tenth / 10;
            let p = parse(&data[..cut]).unwrap();
            assert!(p.events.len() < whole.events.len(), "{name} {tenth}0%");
            assert_eq!(
                p.events[..],
                whole.events[..p.events.len()],
                "{name} {tenth}0%"
            );
            let lost = p.report.lost_bytes();
            assert!(
                lost > 0 && lost < 1 << 20,
                "{name} {tenth}0%: {:?}",
                p.report.lost
            );
        }
    }
}

#[test]
fn a_cut_gzip_stream_yields_what_it_inflated() {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/scap/curl_google.scap"),
    )
    .unwrap();
    let (plain, err) = decompress(&raw[..raw.len() / 2]).unwrap();
    assert!(err.is_some());
    let p = parse(&plain).unwrap();
    assert!(p.events.len() > 100, "{}", p.events.len());
    let (_, conv) = scap_format::to_atcap(&raw[..raw.len() / 2]).unwrap();
    assert!(conv.report.gzip_error.is_some());
}

#[test]
fn flagged_and_large_event_blocks_read_like_plain_ones() {
    // The export writes v2 event blocks; the same events rewritten as EVF (with flags)
    // and as the large-payload variants (32-bit lengths) must parse to the same events.
    let data = sample("test_ipv6_client.scap");
    let orig = parse(&data).unwrap();
    let e = &orig.events[0];
    let mut ev = Vec::new();
    let lens: Vec<u32> = e.params.iter().map(|p| p.len() as u32).collect();
    for large in [false, true] {
        let lsize = if large { 4 } else { 2 };
        let len = 26 + lens.len() * lsize + lens.iter().sum::<u32>() as usize;
        ev.clear();
        ev.extend_from_slice(&e.ts.to_le_bytes());
        ev.extend_from_slice(&e.tid.to_le_bytes());
        ev.extend_from_slice(&(len as u32).to_le_bytes());
        ev.extend_from_slice(&e.etype.to_le_bytes());
        ev.extend_from_slice(&(lens.len() as u32).to_le_bytes());
        for l in &lens {
            if large {
                ev.extend_from_slice(&l.to_le_bytes());
            } else {
                ev.extend_from_slice(&(*l as u16).to_le_bytes());
            }
        }
        for p in &e.params {
            ev.extend_from_slice(p);
        }
        let shb = &data[..28];
        let (plain, flagged) = if large {
            (parse::EV_V2_LARGE, parse::EVF_V2_LARGE)
        } else {
            (parse::EV_V2, parse::EVF_V2)
        };
        let mut body = e.cpu.to_le_bytes().to_vec();
        body.extend_from_slice(&ev);
        let mut fbody = e.cpu.to_le_bytes().to_vec();
        fbody.extend_from_slice(&7u32.to_le_bytes());
        fbody.extend_from_slice(&ev);
        let file = [shb, &block(plain, &body), &block(flagged, &fbody)].concat();
        let p = parse(&file).unwrap();
        assert!(p.report.is_clean(), "{:?}", p.report);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[0].params, e.params);
        assert_eq!(p.events[1].params, e.params);
        assert_eq!(p.events[1].flags, 7);
    }
}

#[test]
fn process_lists_of_the_first_version_parse() {
    // PL v1 (0x202): no vm sizes, env, namespaces or cgroups.
    let mut e = Vec::new();
    for x in [42u64, 42, 1] {
        e.extend_from_slice(&x.to_le_bytes());
    }
    for s in [&b"sh"[..], b"/bin/sh", b"-c\0echo hi\0", b"/root"] {
        e.extend_from_slice(&(s.len() as u16).to_le_bytes());
        e.extend_from_slice(s);
    }
    e.extend_from_slice(&1024u64.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    let data = sample("test_ipv6_client.scap");
    let file = [&data[..28], &block(parse::PL_V1, &e)].concat();
    let p = parse(&file).unwrap();
    assert!(p.report.is_clean(), "{:?}", p.report);
    assert_eq!(
        p.threads,
        [ThreadInfo {
            tid: 42,
            pid: 42,
            ptid: 1,
            comm: b"sh".to_vec(),
            exe: b"/bin/sh".to_vec(),
            args: vec![b"-c".to_vec(), b"echo hi".to_vec()],
            cwd: b"/root".to_vec(),
            ..ThreadInfo::default()
        }]
    );
}

#[test]
fn not_a_scap_file_is_a_clear_error() {
    let e = parse(b"\x7fELF and more bytes than a header").unwrap_err();
    assert!(e.to_string().contains("not a scap file"), "{e}");
    let mut swapped = sample("test_ipv6_client.scap")[..28].to_vec();
    swapped[8..12].copy_from_slice(&0x4D3C_2B1Au32.to_le_bytes());
    let e = parse(&swapped).unwrap_err();
    assert!(e.to_string().contains("big-endian"), "{e}");
}

/// A deterministic mutation run over the samples (flips, cuts, inserted and deleted
/// bytes) through the fuzz target's body: the part of fuzzing that fits in `cargo test`.
#[test]
fn mutated_samples_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in ["curl_google.scap", "test_ipv6_client.scap"] {
        let data = sample(name);
        for round in 0..60 {
            let mut d = data.clone();
            for _ in 0..1 + rnd() % 8 {
                let at = (rnd() as usize) % d.len();
                match rnd() % 4 {
                    0 => d[at] ^= 1 << (rnd() % 8),
                    1 => d.truncate(at.max(28)),
                    2 => d.insert(at, rnd() as u8),
                    _ => {
                        d.remove(at);
                    }
                }
            }
            let r = catch_unwind(AssertUnwindSafe(|| {
                scap_format::fuzz_harness::scap_reader(&d)
            }));
            assert!(r.is_ok(), "{name} mutation round {round} panics");
        }
    }
}

/// One process list entry as version `v` lays it out (the fields each version added, in
/// place), and the thread every version must read back from it.
fn pl_entry(v: u32) -> Vec<u8> {
    let s16 = |e: &mut Vec<u8>, s: &[u8]| {
        e.extend_from_slice(&(s.len() as u16).to_le_bytes());
        e.extend_from_slice(s);
    };
    let mut e = Vec::new();
    for x in [7u64, 5, 1] {
        e.extend_from_slice(&x.to_le_bytes());
    }
    if v >= 6 {
        e.extend_from_slice(&5u64.to_le_bytes()); // sid
    }
    if v >= 8 {
        e.extend_from_slice(&5u64.to_le_bytes()); // vpgid
    }
    s16(&mut e, b"worker");
    s16(&mut e, b"python3");
    if v >= 7 {
        s16(&mut e, b"/usr/bin/python3.11");
    }
    s16(&mut e, b"-m\0http.server\0");
    s16(&mut e, b"/srv");
    e.extend_from_slice(&1024u64.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&33u32.to_le_bytes());
    e.extend_from_slice(&34u32.to_le_bytes());
    if v >= 2 {
        e.extend_from_slice(&[0; 28]);
        if v >= 3 {
            s16(&mut e, b"SECRET=1\0");
        }
        if v >= 4 {
            e.extend_from_slice(&7u64.to_le_bytes());
            e.extend_from_slice(&5u64.to_le_bytes());
            s16(&mut e, b"cpu=/a\0memory=/b\0");
            if v >= 5 {
                s16(&mut e, b"/");
            }
        }
    }
    if v >= 9 {
        // Fields from newer writers after the known ones: skipped by the entry's length.
        e.extend_from_slice(&[0xaa; 13]);
        let mut with_len = ((e.len() + 4) as u32).to_le_bytes().to_vec();
        with_len.extend_from_slice(&e);
        return with_len;
    }
    e
}

#[test]
fn process_lists_of_every_version_parse() {
    let shb = sample("test_ipv6_client.scap")[..28].to_vec();
    for (v, kind) in [
        (1, parse::PL_V1),
        (2, parse::PL_V2),
        (3, parse::PL_V3),
        (4, parse::PL_V4),
        (5, parse::PL_V5),
        (6, parse::PL_V6),
        (7, parse::PL_V7),
        (8, parse::PL_V8),
        (9, parse::PL_V9),
    ] {
        // Two entries, so a misread length shows on the second.
        let body = [pl_entry(v), pl_entry(v)].concat();
        let file = [shb.clone(), block(kind, &body)].concat();
        let p = parse(&file).unwrap();
        assert!(p.report.is_clean(), "v{v}: {:?}", p.report);
        assert_eq!(p.threads.len(), 2, "v{v}");
        let t = &p.threads[1];
        assert_eq!((t.tid, t.pid, t.ptid), (7, 5, 1), "v{v}");
        assert_eq!(t.comm, b"worker", "v{v}");
        assert_eq!(t.args, [b"-m".to_vec(), b"http.server".to_vec()], "v{v}");
        assert_eq!((t.uid, t.gid, &t.cwd[..]), (33, 34, &b"/srv"[..]), "v{v}");
        assert_eq!(t.exepath.is_empty(), v < 7, "v{v}");
        assert_eq!(t.cgroups.len(), if v >= 4 { 2 } else { 0 }, "v{v}");
    }
}

#[test]
fn length_carrying_fd_user_and_interface_lists_parse_and_skip_newer_fields() {
    let s16 = |e: &mut Vec<u8>, s: &[u8]| {
        e.extend_from_slice(&(s.len() as u16).to_le_bytes());
        e.extend_from_slice(s);
    };
    let with_len = |e: Vec<u8>, extra: usize, counts_itself: bool| {
        let n = e.len() + extra + if counts_itself { 4 } else { 0 };
        let mut v = (n as u32).to_le_bytes().to_vec();
        v.extend_from_slice(&e);
        v.extend(std::iter::repeat_n(0xee, extra));
        v
    };
    // FDL v2: a FILE_V2 entry with its device and 6 bytes of fields this reader lacks.
    let mut fd = Vec::new();
    fd.extend_from_slice(&3i64.to_le_bytes());
    fd.extend_from_slice(&99u64.to_le_bytes());
    fd.push(16);
    fd.extend_from_slice(&1u32.to_le_bytes());
    s16(&mut fd, b"/etc/passwd");
    fd.extend_from_slice(&0x801u32.to_le_bytes());
    let mut fdl = 42u64.to_le_bytes().to_vec();
    fdl.extend(with_len(fd.clone(), 6, true));
    fdl.extend(with_len(fd, 6, true));
    // UL v2: a user and a group, each with trailing fields.
    let mut u = vec![0u8];
    u.extend_from_slice(&1000u32.to_le_bytes());
    u.extend_from_slice(&1000u32.to_le_bytes());
    s16(&mut u, b"alice");
    s16(&mut u, b"/home/alice");
    s16(&mut u, b"/bin/bash");
    let mut g = vec![1u8];
    g.extend_from_slice(&27u32.to_le_bytes());
    s16(&mut g, b"sudo");
    let ul = [with_len(u, 8, true), with_len(g, 2, true)].concat();
    // IL v2: an IPv4 interface; its length does not count itself.
    let mut i = 1u16.to_le_bytes().to_vec();
    i.extend_from_slice(&4u16.to_le_bytes());
    i.extend_from_slice(&[10, 0, 0, 7]);
    i.extend_from_slice(&[255, 255, 255, 0]);
    i.extend_from_slice(&[10, 0, 0, 255]);
    i.extend_from_slice(&1000u64.to_le_bytes());
    i.extend_from_slice(b"eth0");
    let il = with_len(i, 4, false);

    let shb = sample("test_ipv6_client.scap")[..28].to_vec();
    let file = [
        shb,
        block(parse::FDL_V2, &fdl),
        block(parse::UL_V2, &ul),
        block(parse::IL_V2, &il),
    ]
    .concat();
    let p = parse(&file).unwrap();
    assert!(p.report.is_clean(), "{:?}", p.report);
    assert_eq!(p.fds.len(), 2);
    assert_eq!((p.fds[1].tid, p.fds[1].fd, p.fds[1].ino), (42, 3, 99));
    assert_eq!(
        p.fds[1].detail,
        parse::FdDetail::File {
            open_flags: 1,
            name: b"/etc/passwd".to_vec()
        }
    );
    assert_eq!(p.users.len(), 1);
    assert_eq!((p.users[0].uid, &p.users[0].name[..]), (1000, "alice"));
    assert_eq!((p.groups[0].gid, &p.groups[0].name[..]), (27, "sudo"));
    assert_eq!(p.interfaces.len(), 1);
    assert_eq!(
        (&p.interfaces[0].name[..], &p.interfaces[0].addr[..]),
        ("eth0", "10.0.0.7")
    );
}
