//! What the CLI writes: text, JSON and Markdown renderings of the analysis, in one
//! [`Format`], each row written through [`emit`].

pub mod reconstruct;

use std::io::{self, Write};

use serde::Serialize;

use crate::style::Style;

/// How a view is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text, emphasized in the style (ANSI colours or plain).
    Text(Style),
    /// One JSON object per line (schemas in the README).
    Json,
    /// Markdown (the incident report).
    Markdown,
}

impl Format {
    /// `--json`, else text in `style`.
    pub fn of(json: bool, style: Style) -> Format {
        if json {
            Format::Json
        } else {
            Format::Text(style)
        }
    }

    pub fn is_json(self) -> bool {
        self == Format::Json
    }

    /// The emphasis for text (plain for the other formats).
    pub fn style(self) -> Style {
        match self {
            Format::Text(style) => style,
            Format::Json | Format::Markdown => Style::PLAIN,
        }
    }
}

/// Writes one JSON object and a newline.
pub fn json_line<W: Write + ?Sized>(out: &mut W, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Writes one row in `format`: as JSON, `row` itself; otherwise what `text` writes.
pub fn emit<W: Write + ?Sized, T: Serialize>(
    out: &mut W,
    format: Format,
    row: &T,
    text: impl FnOnce(&mut W, Style) -> io::Result<()>,
) -> io::Result<()> {
    match format {
        Format::Json => json_line(out, row),
        Format::Text(style) => text(out, style),
        Format::Markdown => text(out, Style::PLAIN),
    }
}
