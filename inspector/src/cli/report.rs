//! `report`: the Markdown incident report of a reconstruction.

use std::io::{self, Write};
use std::path::Path;

use aftertrace_inspector::meta::Lookups;
use aftertrace_inspector::output::reconstruct as render;
use aftertrace_inspector::reconstruct::reconstruct;
use aftertrace_inspector::select::TimeRange;
use capture_format::CaptureReader;

/// The report of `file` over `range`, named by the file's name.
pub fn print(
    out: &mut impl Write,
    reader: &CaptureReader,
    lookups: &Lookups,
    file: &Path,
    range: TimeRange,
    on_error: impl FnMut(capture_format::Error),
) -> io::Result<u8> {
    let r = reconstruct(reader, lookups, None, range, on_error);
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    render::report(&r, reader, lookups, &name, out).map(|()| 0)
}
