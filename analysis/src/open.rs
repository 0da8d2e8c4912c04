//! Opening a capture, with errors a responder can act on.

use std::path::Path;

use capture_format::CaptureReader;

/// Why a capture could not be opened, each with its documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    NotACapture {
        path: String,
        source: capture_format::Error,
    },
}

/// Whether `path` can be opened as a capture at all: it exists, is readable, and is a
/// regular file. A device (/dev/zero never ends) or a FIFO (opening one blocks) is refused
/// without being opened, so the refusal is immediate.
pub fn check_input(path: &Path) -> Result<(), OpenError> {
    let unreadable = |source| OpenError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    match capture_format::Error::check_regular_file(path) {
        Ok(()) => {}
        Err(capture_format::Error::Io(source)) => return Err(unreadable(source)),
        Err(other) => return Err(unreadable(std::io::Error::other(other.to_string()))),
    }
    // Readability next, so that a permission problem is not reported as a format error.
    std::fs::File::open(path).map(drop).map_err(unreadable)
}

pub fn open(path: &Path) -> Result<CaptureReader, OpenError> {
    check_input(path)?;
    // sysdig/Falco .scap files, told by their first bytes, open through a conversion.
    if let Some(opened) = scap_format::open_if_scap(path) {
        return opened.map_err(|source| OpenError::NotACapture {
            path: path.display().to_string(),
            source,
        });
    }
    CaptureReader::open(path).map_err(|source| OpenError::NotACapture {
        path: path.display().to_string(),
        source,
    })
}
