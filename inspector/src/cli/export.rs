//! `export`: a selection as a self-contained capture (`atcap`), the tables (`jsonl`,
//! `parquet`), the capture as a sysdig/Falco `.scap` file; and `report --redact`.

use std::io::{self, Write};
use std::path::Path;

use aftertrace_inspector::export::Policy;
use aftertrace_inspector::meta::Lookups;
use aftertrace_inspector::output::reconstruct as render;
use aftertrace_inspector::query::Query;
use aftertrace_inspector::reconstruct::reconstruct;
use aftertrace_inspector::select::TimeRange;
use capture_format::CaptureReader;

use super::exit;

/// What could not be exported is said on stderr.
pub fn scap(reader: &CaptureReader, output: &Path) -> io::Result<u8> {
    let (_, lines) = scap_format::export_to_path(reader, output)?;
    for line in lines {
        eprintln!("aftertrace-inspector: {line}");
    }
    Ok(exit::SUCCESS)
}

/// `--redact[=none|default|FILE]`: the policy, or why it cannot apply to `command`.
pub(super) fn redaction_policy(
    redact: Option<&str>,
    command: &super::Cmd,
) -> Result<Option<Policy>, String> {
    use super::{Cmd, ExportFormat};
    match redact {
        None | Some("none") => Ok(None),
        Some(_)
            if !matches!(
                command,
                Cmd::Report
                    | Cmd::Export {
                        format: ExportFormat::Atcap | ExportFormat::Jsonl | ExportFormat::Parquet,
                        ..
                    }
            ) =>
        {
            Err(format!(
                "--redact applies to report and export (atcap, jsonl, parquet), not to {}",
                command.name()
            ))
        }
        Some("default") => Ok(Some(Policy::default_policy())),
        Some(file) => Policy::from_file(file.as_ref()).map(Some),
    }
}

fn report_damage(err: capture_format::Error) {
    eprintln!("aftertrace-inspector: skipped damaged data: {err}");
}

/// `export --format jsonl|parquet -o DIR`: the tables of the capture (or of its redacted
/// copy).
pub fn tables(
    reader: &CaptureReader,
    source: &Path,
    lookups: &Lookups,
    q: &Query,
    policy: Option<Policy>,
    dir: &Path,
    parquet: bool,
) -> io::Result<u8> {
    use aftertrace_inspector::export::tables::{export_jsonl, export_parquet};
    let copy;
    let copy_lookups;
    let (reader, lookups) = match policy {
        Some(policy) => {
            let (bytes, _) = aftertrace_inspector::export::redacted_copy(
                reader,
                source,
                lookups,
                policy,
                report_damage,
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
            copy = CaptureReader::from_bytes(bytes).map_err(|e| io::Error::other(e.to_string()))?;
            copy_lookups = Lookups::new(copy.metadata());
            (&copy, &copy_lookups)
        }
        None => (reader, lookups),
    };
    let written = if parquet {
        export_parquet(reader, lookups, q, dir, report_damage)
    } else {
        export_jsonl(reader, lookups, q, dir, report_damage)
    };
    match written {
        Ok(counts) => {
            let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
            eprintln!(
                "aftertrace-inspector: wrote {} ({})",
                dir.display(),
                list.join(", ")
            );
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            eprintln!("aftertrace-inspector: export: {e}");
            Ok(exit::CANT_CREATE)
        }
    }
}

/// `report --redact`: the report of a redacted copy of the capture, then its ledger.
pub fn redacted_report(
    out: &mut impl Write,
    reader: &CaptureReader,
    source: &Path,
    lookups: &Lookups,
    policy: Policy,
    range: TimeRange,
) -> io::Result<u8> {
    let name = source.file_name().map_or_else(
        || source.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (bytes, ledger) = match aftertrace_inspector::export::redacted_copy(
        reader,
        source,
        lookups,
        policy,
        report_damage,
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("aftertrace-inspector: report --redact: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let copy = CaptureReader::from_bytes(bytes).map_err(|e| io::Error::other(e.to_string()))?;
    let copy_lookups = Lookups::new(copy.metadata());
    let r = reconstruct(&copy, &copy_lookups, None, range, report_damage);
    render::report(&r, &copy, &copy_lookups, &name, out)?;
    writeln!(out, "\n## Redactions (policy {})\n", ledger.policy)?;
    writeln!(
        out,
        "{} span(s), {} byte(s) masked in place by same-length markers; sha256s above are of \
         redacted content.\n",
        ledger.entries.len(),
        ledger.bytes()
    )?;
    writeln!(
        out,
        "| kind | where | time | pid | bytes |\n|---|---|---|---|---|"
    )?;
    for e in &ledger.entries {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            e.kind,
            e.location,
            e.ts.map_or_else(|| "-".to_owned(), |t| lookups.clock().rfc3339(t)),
            e.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            e.bytes
        )?;
    }
    Ok(exit::SUCCESS)
}

/// `export -o OUT.atcap`: exit 3 for an empty selection, 64 for an unknown container, 73
/// when the output cannot be written (README, "Exit codes").
pub fn atcap(
    reader: &CaptureReader,
    source: &Path,
    lookups: &Lookups,
    sel: &aftertrace_inspector::export::Selection,
    output: &Path,
) -> u8 {
    use aftertrace_inspector::export::{export_atcap, ExportError};
    match export_atcap(reader, source, lookups, sel, output, report_damage) {
        Ok(stats) => {
            eprintln!(
                "aftertrace-inspector: wrote {} ({} records, {} processes, {} containers, {} \
                 alerts, {} redacted spans, {} bytes)",
                output.display(),
                stats.events,
                stats.processes,
                stats.containers,
                stats.alerts,
                stats.redacted_spans,
                stats.bytes
            );
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("aftertrace-inspector: export: {e}");
            match e {
                ExportError::Empty(_) => exit::EMPTY_SELECTION,
                ExportError::UnknownContainer { .. }
                | ExportError::AmbiguousContainer { .. }
                | ExportError::BadSelection(_) => exit::USAGE,
                ExportError::Output { .. } => exit::CANT_CREATE,
                ExportError::Source { .. } => exit::NO_INPUT,
            }
        }
    }
}
