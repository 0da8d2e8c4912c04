//! aftertrace-inspector's library: the front ends over `aftertrace_analysis` (the model,
//! re-exported here under its module names): the CLI's queries ([`query`]), the text,
//! JSON and Markdown output ([`output`]) and the TUI ([`tui`], whose terminal I/O stays
//! in its `term` module).

pub use aftertrace_analysis::{
    commands, context, events, meta, open, procs, reconstruct, scan, select, selection, session,
    style, summary, syscall_sig, timefmt, views,
};

pub mod export;
#[doc(hidden)]
pub mod fuzz_harness;
pub mod output;
pub mod query;
pub mod tui;
