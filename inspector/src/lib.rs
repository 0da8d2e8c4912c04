//! aftertrace-inspector's library: opening captures and reconstructing what happened from
//! them (the process tree, commands, events, summary), with no terminal I/O. The CLI and
//! the TUI ([`tui`], whose terminal I/O stays in its `term` module) render what this
//! computes.
//!
//! - [`procs`]: the process tree from the snapshots and the fork/exec/exit records, with
//!   tombstones; queried by pid and time.
//! - [`context`]: the filter language's `Context` over that tree and the metadata.
//! - [`scan`]: one parallel, index-guided pass over a capture's chunks.
//! - [`query`]: the CLI's views (`events`, `commands`, `procs`, `tree`) as functions.
//! - [`reconstruct`]: scripts and files rebuilt byte for byte, terminal sessions and
//!   connections, from an fd-tracking replay of the capture.

pub mod commands;
pub mod context;
pub mod events;
pub mod export;
pub mod meta;
pub mod open;
pub mod procs;
pub mod query;
pub mod reconstruct;
pub mod scan;
pub mod select;
pub mod style;
pub mod summary;
pub mod syscall_sig;
pub mod timefmt;
pub mod tui;
pub mod views;
