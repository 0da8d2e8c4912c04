//! `verify`: every block and chunk and the hash chain checked; exit 2 when damaged, 3 when
//! `--key` was given and the signature is missing or does not verify.

use std::io::{self, Write};

use capture_format::CaptureReader;

use aftertrace_inspector::output::{json_line, Format};

use super::exit;

pub fn print(
    out: &mut impl Write,
    reader: &CaptureReader,
    format: Format,
    key: Option<&std::path::Path>,
) -> io::Result<u8> {
    let report = reader.verify();
    let intact = report.is_intact();
    let signature = key.map(|key| {
        let file = reader.path().unwrap_or(std::path::Path::new(""));
        capture_format::signature::verify_capture_signature(file, key)
    });
    if format.is_json() {
        let mut value = serde_json::json!({
            "intact": intact,
            "events": report.events,
            "good_chunks": report.good_chunks.len(),
            "bad_chunks": report.bad_chunks.iter().map(|b| serde_json::json!({
                "index": b.index, "offset": b.offset, "len": b.len,
                "first_ts": b.first_ts, "last_ts": b.last_ts, "reason": b.reason,
            })).collect::<Vec<_>>(),
            "lost": report.lost.iter().map(|l| serde_json::json!({
                "start": l.start, "end": l.end, "reason": l.reason,
                "after_ts": l.after_ts, "before_ts": l.before_ts,
            })).collect::<Vec<_>>(),
            "index_unusable": report.index_unusable,
        });
        // Files written before format 1.1 have no chain, and their output is as it was.
        if let (Some(chain), Some(map)) = (&report.chain, value.as_object_mut()) {
            map.insert(
                "chain".into(),
                serde_json::json!({
                    "links": chain.links,
                    "final_sha256": chain.final_hash.map(|h| capture_format::chain::hex(&h)),
                    "problems": chain.problems.iter().map(|p| serde_json::json!({
                        "offset": p.offset, "chunk": p.chunk, "what": p.what,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        if let (Some(sig), Some(map)) = (&signature, value.as_object_mut()) {
            map.insert(
                "signature".into(),
                match sig {
                    Ok(good) => serde_json::json!({
                        "valid": true, "file": good.signature_file, "key": good.key,
                        "file_sha256": good.file_sha256, "chain_final": good.chain_final,
                    }),
                    Err(e) => serde_json::json!({"valid": false, "error": e.to_string()}),
                },
            );
        }
        json_line(out, &value)?;
    } else {
        writeln!(
            out,
            "{} good chunk(s), {} event(s) readable",
            report.good_chunks.len(),
            report.events
        )?;
        if let Some(why) = &report.index_unusable {
            writeln!(out, "index not used: {why} (recovered by scanning)")?;
        }
        for b in &report.bad_chunks {
            writeln!(
                out,
                "BAD chunk {} at byte {} ({} bytes, boot time {}..{}): {}",
                b.index, b.offset, b.len, b.first_ts, b.last_ts, b.reason
            )?;
        }
        for l in &report.lost {
            writeln!(out, "LOST bytes {}..{}: {}", l.start, l.end, l.reason)?;
        }
        if let Some(chain) = &report.chain {
            for p in &chain.problems {
                writeln!(out, "CHAIN BROKEN: {}", p.what)?;
            }
            let end = chain.final_hash.map_or_else(
                || "no final hash".to_string(),
                |h| format!("final hash {}", capture_format::chain::hex(&h)),
            );
            writeln!(out, "hash chain: {} block(s) chained, {end}", chain.links)?;
        }
        match &signature {
            Some(Ok(good)) => writeln!(
                out,
                "signature: good ({}, key {}, file sha256 {})",
                good.signature_file.display(),
                good.key,
                good.file_sha256
            )?,
            Some(Err(e)) => writeln!(out, "SIGNATURE BAD: {e}")?,
            None => {}
        }
        writeln!(out, "{}", if intact { "intact" } else { "DAMAGED" })?;
    }
    Ok(match signature {
        Some(Err(_)) => exit::BAD_SIGNATURE,
        _ if intact => exit::SUCCESS,
        _ => exit::DAMAGED,
    })
}
