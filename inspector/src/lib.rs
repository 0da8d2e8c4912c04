//! aftertrace-inspector's library: opening captures and reconstructing what happened from
//! them (processes, commands...), with no terminal I/O. The CLI (and later the TUI) render
//! what this computes.

pub mod commands;
pub mod events;
pub mod open;
pub mod summary;
pub mod syscall_sig;
pub mod timefmt;
