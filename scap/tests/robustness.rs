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
