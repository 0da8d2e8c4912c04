//! Exports of a selection: `export -o OUT.atcap` writes a smaller self-contained capture of
//! the selected records ([`atcap`]).
//!
//! This module only reads the model (scan, process tree, lookups) and writes through
//! capture-format's writer, so it can move with that model into a library crate unchanged.

pub mod atcap;
pub mod redact;
pub mod tables;

pub use atcap::{export_atcap, redacted_copy, ExportError, Selection, EXPORT_BLOCK_KIND};
pub use redact::{Ledger, Policy};
