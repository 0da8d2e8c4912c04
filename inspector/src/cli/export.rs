//! `export --format scap -o OUT`: the capture as a sysdig/Falco `.scap` file.

use std::io;
use std::path::Path;

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
