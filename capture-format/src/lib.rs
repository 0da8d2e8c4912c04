//! The aftertrace capture file (`*.atcap`): its data model, a writer, a reader that survives
//! damage, and a verifier. The byte layout is specified in `docs/capture-format.md`.
//!
//! This crate is the file format and nothing else: no kernel access, no terminal UI.
//!
//! ```
//! use capture_format::*;
//!
//! # fn main() -> Result<(), Error> {
//! let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default())?;
//! w.write_host(&HostInfo { hostname: "node-1".into(), ..HostInfo::default() })?;
//! w.push_event(&Event {
//!     ts: 1_000,
//!     cpu: 0,
//!     pid: 42,
//!     tid: 42,
//!     body: EventBody::Exit(ExitEvent { status: 0, group_dead: true }),
//! })?;
//! let bytes = w.finish()?;
//!
//! let r = CaptureReader::from_bytes(bytes)?;
//! assert!(r.damage().is_empty());
//! for e in r.events() {
//!     // A damaged chunk is one non-fatal error; the iteration goes on after it.
//!     let e = e?;
//!     assert_eq!(e.pid, 42);
//! }
//! # Ok(())
//! # }
//! ```

pub mod chain;
mod chunk;
mod codec;
mod error;
#[doc(hidden)]
pub mod fuzz_harness;
#[doc(hidden)]
pub mod hostile;
mod index;
mod layout;
pub mod model;
mod reader;
pub mod signature;
pub mod syscall_defs;
mod syscalls;
mod syscalls_table;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod verify;
pub mod vocab;
mod wire;
mod writer;

pub use chunk::{
    encode_chunk, encode_chunks, ChunkEvents, DecompressedChunk, EncodedChunks, EventBuffer,
    RawChunk,
};
pub use codec::{Records, SyscallSet};
pub use error::Error;
pub use index::ChunkInfo;
pub use layout::{VERSION_MAJOR, VERSION_MINOR};
pub use model::*;
pub use reader::{CaptureReader, Damage, EventCursor, LostRange, Metadata, UnknownBlock};
pub use syscall_defs::{syscall_def, syscall_def_of, ArgKind, Class, SyscallDef};
pub use syscalls::{syscall_name, syscall_number};
pub use verify::{verify, BadChunkReport, ChainProblem, ChainReport, ChunkCheck, VerifyReport};
pub use writer::{CaptureWriter, WriterOptions};
