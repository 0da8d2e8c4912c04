//! One error type for reading and writing captures.
//!
//! The split that matters to callers is [`Error::is_fatal`]: a fatal error means the file
//! cannot be framed at all (not a capture, a newer major version, I/O), so nothing more can
//! be had from it; anything else concerns one block or chunk, and the rest of the file is
//! still good.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// A device, FIFO, socket or directory: reading one could block or never end, so it is
    /// refused before any read.
    #[error("not a regular file ({kind}); copy the capture to a file first")]
    NotRegularFile { kind: &'static str },

    #[error("not an aftertrace capture: {reason}")]
    NotACapture { reason: String },

    #[error(
        "capture format version {}.{} is newer than this reader supports ({}.{}); \
         open it with a newer aftertrace",
        found.0, found.1, supported.0, supported.1
    )]
    UnsupportedVersion {
        found: (u16, u16),
        supported: (u16, u16),
    },

    #[error(
        "file header has reserved flag bits set ({flags:#x}); written by an incompatible writer"
    )]
    HeaderFlags { flags: u32 },

    #[error("bad block at byte {offset}: {reason}")]
    BadBlock { offset: u64, reason: String },

    #[error("bad metadata block ({kind}) at byte {offset}: {reason}")]
    BadMetadata {
        kind: &'static str,
        offset: u64,
        reason: String,
    },

    #[error("bad event chunk #{index} at byte {offset}: {reason}")]
    BadChunk {
        index: usize,
        offset: u64,
        reason: String,
    },

    /// A [`crate::RawChunk`] held in memory (not read from a file) does not decode.
    #[error("bad event chunk: {reason}")]
    BadRawChunk { reason: String },

    #[error("no chunk #{index}: the capture has {count} chunks")]
    NoSuchChunk { index: usize, count: usize },

    /// The caller handed the writer something it cannot store; nothing was written.
    #[error("cannot write: {reason}")]
    InvalidInput { reason: String },

    /// Wraps any other error with the file it concerns, so messages name the path.
    #[error("{}: {inner}", path.display())]
    InFile { path: PathBuf, inner: Box<Error> },
}

impl Error {
    /// True when nothing more can be read from (or written to) this file: the failure is in
    /// the framing or the I/O, not in one block or chunk that can be skipped.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Io(_)
            | Error::NotRegularFile { .. }
            | Error::NotACapture { .. }
            | Error::UnsupportedVersion { .. }
            | Error::HeaderFlags { .. } => true,
            Error::BadBlock { .. }
            | Error::BadMetadata { .. }
            | Error::BadChunk { .. }
            | Error::BadRawChunk { .. }
            | Error::NoSuchChunk { .. }
            | Error::InvalidInput { .. } => false,
            Error::InFile { inner, .. } => inner.is_fatal(),
        }
    }

    pub(crate) fn in_file(self, path: &std::path::Path) -> Error {
        match self {
            already @ Error::InFile { .. } => already,
            other => Error::InFile {
                path: path.to_path_buf(),
                inner: Box::new(other),
            },
        }
    }

    /// The file at `path` is regular, or the error saying what it is instead. Follows
    /// symlinks, as opening does; does not open the file (opening a FIFO blocks until a
    /// writer comes).
    pub fn check_regular_file(path: &std::path::Path) -> Result<(), Error> {
        let meta = std::fs::metadata(path)?;
        Self::check_file_type(meta.file_type())
    }

    pub(crate) fn check_file_type(t: std::fs::FileType) -> Result<(), Error> {
        if t.is_file() {
            return Ok(());
        }
        Err(Error::NotRegularFile {
            kind: file_type_name(t),
        })
    }

    pub(crate) fn not_a_capture(reason: impl Into<String>) -> Error {
        Error::NotACapture {
            reason: reason.into(),
        }
    }
}

/// A malformed byte sequence found while decoding; turned into a block- or chunk-level
/// [`Error`] by the caller, which knows where the bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub what: &'static str,
    pub at: usize,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {} of the decoded data)", self.what, self.at)
    }
}

fn file_type_name(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "neither a file nor a directory"
    }
}
