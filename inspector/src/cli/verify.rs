//! `verify`: every block and chunk checked; exit 2 when damaged.

use std::io::{self, Write};

use capture_format::CaptureReader;

use aftertrace_inspector::output::{json_line, Format};

use super::exit;

pub fn print(out: &mut impl Write, reader: &CaptureReader, format: Format) -> io::Result<u8> {
    let report = reader.verify();
    let intact = report.is_intact();
    if format.is_json() {
        let value = serde_json::json!({
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
        writeln!(out, "{}", if intact { "intact" } else { "DAMAGED" })?;
    }
    Ok(if intact { exit::SUCCESS } else { exit::DAMAGED })
}
