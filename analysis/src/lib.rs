//! aftertrace-analysis: the model any front end uses. Opening captures and reconstructing
//! what happened from them (the process tree, commands, events, summary), with no terminal
//! I/O: the inspector's CLI and TUI render what this computes.
//!
//! - [`procs`]: the process tree from the snapshots and the fork/exec/exit records, with
//!   tombstones; queried by pid and time.
//! - [`context`]: the filter language's `Context` over that tree and the metadata.
//! - [`scan`]: one parallel, index-guided pass over a capture's chunks.
//! - [`select`]: time ranges from the command line, what the index rules out.
//! - [`selection`]: one selection (filter + time range) and the rows it picks, for every
//!   front end.
//! - [`session`]: a front end's capture and full analysis, loaded on a background thread
//!   that reports its stages and progress as events.
//! - [`reconstruct`]: scripts and files rebuilt byte for byte, terminal sessions and
//!   connections, from an fd-tracking replay of the capture.

pub mod commands;
pub mod context;
pub mod events;
pub mod meta;
pub mod open;
pub mod procs;
pub mod reconstruct;
pub mod scan;
pub mod select;
pub mod selection;
pub mod session;
pub mod style;
pub mod summary;
pub mod syscall_sig;
pub mod timefmt;
pub mod views;
