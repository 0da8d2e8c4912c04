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

pub fn open(path: &Path) -> Result<CaptureReader, OpenError> {
    // Check readability first so that "no such file" is not reported as a format error.
    if let Err(source) = std::fs::File::open(path) {
        return Err(OpenError::Unreadable {
            path: path.display().to_string(),
            source,
        });
    }
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
