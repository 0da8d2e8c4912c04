//! `summary`: where and when, how much, and how trustworthy.

use std::io::{self, Write};

use aftertrace_inspector::summary::Summary;
use capture_format::CaptureReader;

use aftertrace_inspector::output::{json_line, Format};

use super::exit;

pub fn print(out: &mut impl Write, reader: &CaptureReader, format: Format) -> io::Result<u8> {
    let summary = Summary::compute(reader);
    if format.is_json() {
        json_line(out, &summary)?;
    } else {
        write!(out, "{summary}")?;
    }
    Ok(exit::SUCCESS)
}
