//! sysdig/Falco `.scap` captures: a parser over bytes (no I/O), the event table, a
//! converter into capture-format's model (so the inspector opens scap files unchanged),
//! and a writer of scap files from that model.
//!
//! Not here: reading files (the caller maps or reads them), any terminal output.

pub mod convert;
#[doc(hidden)]
pub mod fuzz_harness;
pub mod parse;
pub mod table;
pub mod write;

pub use convert::{to_atcap, Conversion};
pub use parse::{is_scap, Error, Report};
pub use write::{export, export_to_path, write_scap, ExportStats};

/// Opens `path` as a capture if its first bytes say it is a scap file (plain or gzip):
/// `None` for anything else, which the caller opens as its own format. The scap file is
/// converted in memory; what was lost or skipped is in the capture's drop ledger and
/// host settings (`scap.*`).
pub fn open_if_scap(
    path: &std::path::Path,
) -> Option<Result<capture_format::CaptureReader, capture_format::Error>> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).ok()?;
    f.read_exact(&mut head).ok()?;
    if !is_scap(&head) {
        return None;
    }
    Some((|| {
        let bytes = std::fs::read(path)?;
        let (atcap, _) = to_atcap(&bytes).map_err(|e| capture_format::Error::NotACapture {
            reason: format!("scap file: {e}"),
        })?;
        capture_format::CaptureReader::from_bytes(atcap)
    })())
}
