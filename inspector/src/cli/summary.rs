//! `summary`: where and when, how much, and how trustworthy.

use std::io::{self, Write};

use aftertrace_inspector::summary::Summary;
use capture_format::CaptureReader;

use super::{exit, json_line};

pub fn print(out: &mut impl Write, reader: &CaptureReader, json: bool) -> io::Result<u8> {
    let summary = Summary::compute(reader);
    if json {
        json_line(out, &summary)?;
    } else {
        write!(out, "{summary}")?;
    }
    Ok(exit::SUCCESS)
}
