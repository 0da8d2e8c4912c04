//! Signatures over a capture, for chain of custody: ed25519 over the file's SHA-256 and
//! its final chain hash, in a detached `FILE.sig` beside the file (and its `.sha256`).
//!
//! The files are small text files, so that a responder can read them and any tool can
//! check them (spec section 14):
//!
//! ```text
//! secret key  (0600)  aftertrace-ed25519-secret-key <64 hex digits: the 32-byte seed>
//! public key          aftertrace-ed25519-public-key <64 hex digits>
//! FILE.sig            aftertrace-signature-v1
//!                     file-sha256 <64 hex>
//!                     chain-final <64 hex>
//!                     key <64 hex: the public key>
//!                     signature <128 hex>
//! ```
//!
//! The signed message is `"aftertrace capture signature v1\0" || file_sha256 ||
//! chain_final` (32 + 32 bytes after the 32-byte prefix).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::chain::hex;
use crate::reader::CaptureReader;

const SECRET_TAG: &str = "aftertrace-ed25519-secret-key";
const PUBLIC_TAG: &str = "aftertrace-ed25519-public-key";
const SIG_TAG: &str = "aftertrace-signature-v1";
const PREFIX: &[u8; 32] = b"aftertrace capture signature v1\0";

/// Why signing or checking failed, naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Capture { path: PathBuf, reason: String },
    /// The file, its chain or the signature is not what the key signed.
    #[error("{0}")]
    Mismatch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SignatureError + '_ {
    move |source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `FILE.sig`.
pub fn signature_path(capture: &Path) -> PathBuf {
    let mut p = capture.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

/// Makes a new key pair: `secret` (mode 0600, never overwritten) and `secret.pub`. Returns
/// the public key file's path.
pub fn generate_key_files(secret: &Path) -> Result<PathBuf, SignatureError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| {
        io(secret)(std::io::Error::other(format!(
            "no randomness from the OS: {e}"
        )))
    })?;
    let key = SigningKey::from_bytes(&seed);
    let public = {
        let mut p = secret.as_os_str().to_owned();
        p.push(".pub");
        PathBuf::from(p)
    };
    write_new(
        secret,
        format!("{SECRET_TAG} {}\n", hex(&seed)).as_bytes(),
        0o600,
    )?;
    write_new(
        &public,
        format!("{PUBLIC_TAG} {}\n", hex(key.verifying_key().as_bytes())).as_bytes(),
        0o644,
    )?;
    Ok(public)
}

/// Created exclusively (an existing file, or a symlink planted there, is an error).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SignatureError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn read_key_line(path: &Path, tag: &str) -> Result<[u8; 32], SignatureError> {
    let bad = |reason: String| SignatureError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(io(path))?;
    let rest = text
        .trim()
        .strip_prefix(tag)
        .ok_or_else(|| bad(format!("not a key file: it should start with {tag:?}")))?;
    unhex32(rest.trim()).ok_or_else(|| bad("the key is not 64 hex digits".into()))
}

/// The secret key in `path` (as written by [`generate_key_files`]).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SignatureError> {
    read_key_line(path, SECRET_TAG).map(|seed| SigningKey::from_bytes(&seed))
}

pub fn load_public_key(path: &Path) -> Result<VerifyingKey, SignatureError> {
    let bytes = read_key_line(path, PUBLIC_TAG)?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| SignatureError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not an ed25519 public key: {e}"),
    })
}

/// What a signature covers.
struct Signed {
    file_sha256: [u8; 32],
    chain_final: [u8; 32],
}

impl Signed {
    fn of(capture: &Path) -> Result<Signed, SignatureError> {
        let mut h = Sha256::new();
        let mut f = std::fs::File::open(capture).map_err(io(capture))?;
        std::io::copy(&mut f, &mut h).map_err(io(capture))?;
        let reader = CaptureReader::open(capture).map_err(|e| SignatureError::Capture {
            path: capture.to_path_buf(),
            reason: e.to_string(),
        })?;
        let chain_final = reader
            .chain_final_hash()
            .ok_or_else(|| SignatureError::Capture {
                path: capture.to_path_buf(),
                reason: "no final chain hash (a file of format 1.0, or not finished)".into(),
            })?;
        Ok(Signed {
            file_sha256: h.finalize().into(),
            chain_final,
        })
    }

    fn message(&self) -> Vec<u8> {
        let mut m = PREFIX.to_vec();
        m.extend_from_slice(&self.file_sha256);
        m.extend_from_slice(&self.chain_final);
        m
    }
}

/// Signs the finished capture at `capture` with the key in `key_file`; writes `FILE.sig`
/// (replacing an older one) and returns its path.
pub fn sign_capture(capture: &Path, key_file: &Path) -> Result<PathBuf, SignatureError> {
    let text = signature_text(capture, key_file)?;
    let path = signature_path(capture);
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    write_new(&partial, text.as_bytes(), 0o644)?;
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    Ok(path)
}

/// The text of `FILE.sig` for the finished capture at `capture`, for a caller that creates
/// the file itself (the recorder, through its link-safe directory handle).
pub fn signature_text(capture: &Path, key_file: &Path) -> Result<String, SignatureError> {
    let key = load_signing_key(key_file)?;
    let signed = Signed::of(capture)?;
    let sig = key.sign(&signed.message());
    Ok(format!(
        "{SIG_TAG}\nfile-sha256 {}\nchain-final {}\nkey {}\nsignature {}\n",
        hex(&signed.file_sha256),
        hex(&signed.chain_final),
        hex(key.verifying_key().as_bytes()),
        hex(&sig.to_bytes()),
    ))
}

/// What a good signature says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoodSignature {
    pub signature_file: PathBuf,
    pub file_sha256: String,
    pub chain_final: String,
    pub key: String,
}

/// Checks `FILE.sig` against the capture and the public key in `key_file`.
pub fn verify_capture_signature(
    capture: &Path,
    key_file: &Path,
) -> Result<GoodSignature, SignatureError> {
    let key = load_public_key(key_file)?;
    let sig_path = signature_path(capture);
    let bad = |reason: &str| SignatureError::Malformed {
        path: sig_path.clone(),
        reason: reason.into(),
    };
    let mut text = String::new();
    std::fs::File::open(&sig_path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(io(&sig_path))?;
    let mut lines = text.lines();
    if lines.next() != Some(SIG_TAG) {
        return Err(bad("not an aftertrace signature file"));
    }
    let mut field = |name: &str| -> Result<String, SignatureError> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("expected a {name:?} line")))
    };
    let file_sha256 = field("file-sha256")?;
    let chain_final = field("chain-final")?;
    let signer = field("key")?;
    let signature = field("signature")?;
    let claimed_sha =
        unhex32(&file_sha256).ok_or_else(|| bad("file-sha256 is not 64 hex digits"))?;
    let claimed_chain =
        unhex32(&chain_final).ok_or_else(|| bad("chain-final is not 64 hex digits"))?;
    let sig_bytes: [u8; 64] = unhex(&signature)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("signature is not 128 hex digits"))?;
    let actual = Signed::of(capture)?;
    if hex(key.as_bytes()) != signer {
        return Err(SignatureError::Mismatch(format!(
            "signed by key {signer}, not by the key in {} ({})",
            key_file.display(),
            hex(key.as_bytes())
        )));
    }
    let claimed = Signed {
        file_sha256: claimed_sha,
        chain_final: claimed_chain,
    };
    key.verify(&claimed.message(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| {
            SignatureError::Mismatch(format!(
                "{} does not verify with the key in {}: the signature file was altered",
                sig_path.display(),
                key_file.display()
            ))
        })?;
    if actual.file_sha256 != claimed.file_sha256 {
        return Err(SignatureError::Mismatch(format!(
            "the file's sha256 is {}, the signed one {file_sha256}: the file changed after it was signed",
            hex(&actual.file_sha256)
        )));
    }
    if actual.chain_final != claimed.chain_final {
        return Err(SignatureError::Mismatch(format!(
            "the file's final chain hash is {}, the signed one {chain_final}",
            hex(&actual.chain_final)
        )));
    }
    Ok(GoodSignature {
        signature_file: sig_path,
        file_sha256,
        chain_final,
        key: signer,
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s)?.try_into().ok()
}
