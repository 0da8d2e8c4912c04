//! The hash chain (format 1.1): a file edited while its framing stays valid (blocks moved
//! with every CRC intact and the index rebuilt) is caught by `verify`, which names the
//! chunk; files without a chain (1.0) verify as before.

use capture_format::hostile::{events_blocks, reframe};
use capture_format::*;

/// The fuzz harness's sample: host, clocks, eight chunks, an alert.
fn sample() -> Vec<u8> {
    fuzz_harness::sample_capture()
}

fn verify_bytes(bytes: Vec<u8>) -> VerifyReport {
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    assert!(
        r.damage().is_empty(),
        "the edit keeps the framing valid: {:?}",
        r.damage()
    );
    r.verify()
}

fn problems(report: &VerifyReport) -> Vec<String> {
    report
        .chain
        .as_ref()
        .expect("a chain")
        .problems
        .iter()
        .map(|p| p.what.clone())
        .collect()
}

#[test]
fn an_untouched_file_has_an_intact_chain() {
    let bytes = sample();
    let r = CaptureReader::from_bytes(bytes).expect("opens");
    assert_eq!(r.version(), (1, 1));
    let report = r.verify();
    assert!(report.is_intact(), "{report:?}");
    let chain = report.chain.expect("a chain");
    // host, clocks, the chunks, alert
    assert_eq!(chain.links, r.chunks().len() as u64 + 3);
    assert_eq!(chain.final_hash, r.chain_final_hash());
    assert!(chain.final_hash.is_some());
    // Reframing with no edit changes nothing the chain sees.
    assert!(verify_bytes(reframe(&sample(), |_| {})).is_intact());
}

/// A chunk copied in place, its chain link with it (so each hashes as it should).
#[test]
fn a_duplicated_chunk_is_named() {
    let edited = reframe(&sample(), |blocks| {
        let at = events_blocks(blocks)[2];
        let (chunk, link) = (blocks[at].clone(), blocks[at + 1].clone());
        blocks.insert(at + 2, chunk);
        blocks.insert(at + 3, link);
    });
    let report = verify_bytes(edited);
    assert!(!report.is_intact());
    let p = problems(&report);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("chunk #3 at byte") && p[0].contains("duplicates chunk #2"),
        "{p:#?}"
    );
    assert_eq!(
        report.chain.as_ref().expect("chain").problems[0].chunk,
        Some(3)
    );
}

/// The forgery: the chunk alone duplicated in place, index rebuilt.
#[test]
fn a_chunk_copied_without_its_link_is_named() {
    let edited = reframe(&sample(), |blocks| {
        let at = events_blocks(blocks)[4];
        let chunk = blocks[at].clone();
        blocks.insert(at + 2, chunk);
    });
    let p = problems(&verify_bytes(edited));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("chunk #5 at byte") && p[0].contains("no chain link"),
        "{p:#?}"
    );
}

#[test]
fn a_dropped_chunk_is_named() {
    let edited = reframe(&sample(), |blocks| {
        let at = events_blocks(blocks)[3];
        blocks.drain(at..at + 2);
    });
    let report = verify_bytes(edited);
    let p = problems(&report);
    assert_eq!(p.len(), 1, "{p:#?}");
    // Chain positions: host 0, clocks 1, chunks 2..=9; chunk #3 was at position 5.
    assert!(
        p[0].starts_with("before chunk #3 at byte") && p[0].contains("position(s) 5 dropped"),
        "{p:#?}"
    );
}

#[test]
fn the_last_chunk_dropped_is_caught_at_the_end() {
    let edited = reframe(&sample(), |blocks| {
        let at = *events_blocks(blocks).last().expect("chunks");
        blocks.drain(at..at + 2);
    });
    let p = problems(&verify_bytes(edited));
    assert!(p.iter().any(|p| p.contains("dropped")), "{p:#?}");
}

#[test]
fn swapped_chunks_are_named() {
    let edited = reframe(&sample(), |blocks| {
        let at = events_blocks(blocks)[5];
        // chunk 5 + link, chunk 6 + link -> chunk 6 + link, chunk 5 + link
        let pair: Vec<_> = blocks.drain(at..at + 2).collect();
        blocks.splice(at + 2..at + 2, pair);
    });
    let p = problems(&verify_bytes(edited));
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].starts_with("chunk #5 at byte") && p[0].contains("out of order"),
        "{p:#?}"
    );
    assert!(
        p[1].starts_with("chunk #6 at byte") && p[1].contains("out of order"),
        "{p:#?}"
    );
}

/// A chunk replaced by another capture's (its CRC valid, its link kept).
#[test]
fn a_substituted_chunk_is_named() {
    let other = {
        let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default()).expect("writer");
        w.push_event(&Event {
            ts: 1_000,
            cpu: 0,
            pid: 100,
            tid: 100,
            body: EventBody::Exit(ExitEvent {
                status: 0,
                group_dead: true,
            }),
        })
        .expect("push");
        w.finish().expect("finish")
    };
    let mut foreign = Vec::new();
    reframe(&other, |blocks| {
        foreign = blocks[events_blocks(blocks)[0]].clone()
    });
    let edited = reframe(&sample(), |blocks| {
        let at = events_blocks(blocks)[0];
        blocks[at] = foreign;
    });
    let p = problems(&verify_bytes(edited));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("chunk #0 at byte") && p[0].contains("not what the chain recorded"),
        "{p:#?}"
    );
}

#[test]
fn a_file_stripped_of_its_chain_is_not_intact() {
    let edited = reframe(&sample(), |blocks| {
        blocks.retain(|b| b[4..6] != 0x0008u16.to_le_bytes());
    });
    let p = problems(&verify_bytes(edited));
    assert!(p[0].contains("no hash chain"), "{p:#?}");
}

/// A file cut short has no end record; that is the cut's damage, reported as such, and
/// the links before the cut still check.
#[test]
fn a_cut_file_keeps_its_links() {
    let bytes = sample();
    let r = CaptureReader::from_bytes(bytes[..bytes.len() / 2].to_vec()).expect("opens");
    let report = r.verify();
    assert!(report.index_unusable.is_some());
    let chain = report.chain.expect("chain");
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
    assert!(chain.links >= 3);
    assert_eq!(chain.final_hash, None);
}
