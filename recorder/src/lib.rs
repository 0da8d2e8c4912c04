//! aftertrace-recorder: loads the kernel programs, drains their ring buffer, enriches events
//! (processes, containers), and writes capture files. The binary is thin glue over this.

pub mod btf;
pub mod clock;
pub mod config;
pub mod containers;
pub mod convert;
pub mod daemon;
#[doc(hidden)]
pub mod fuzz_harness;
pub mod host;
pub mod pipeline;
pub mod policy;
pub mod preflight;
pub mod probes;
pub mod procscan;
pub mod proctable;
pub mod record;
pub mod rules;
pub mod runtime_meta;
pub mod safe_fs;
pub mod segments;
