//! The aftertrace capture file (`*.atcap`): its data model, a writer, a reader that survives
//! damage, and a verifier. The byte layout is specified in `docs/capture-format.md`.
//!
//! This crate is the file format and nothing else: no kernel access, no terminal UI.

mod chunk;
mod codec;
mod error;
#[doc(hidden)]
pub mod fuzz_harness;
mod index;
mod layout;
pub mod model;
mod reader;
mod syscalls;
mod syscalls_table;
mod verify;
mod wire;
mod writer;

pub use chunk::{encode_chunk, RawChunk};
pub use error::Error;
pub use index::ChunkInfo;
pub use layout::{VERSION_MAJOR, VERSION_MINOR};
pub use model::*;
pub use reader::{CaptureReader, Damage, LostRange, Metadata, UnknownBlock};
pub use syscalls::{syscall_name, syscall_number};
pub use verify::{verify, BadChunkReport, ChunkCheck, VerifyReport};
pub use writer::{CaptureWriter, WriterOptions};
