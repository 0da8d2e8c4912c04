//! Detached signatures: a capture signed with a key verifies with its public key, and
//! not with another key, nor after one byte of the file changed.

use capture_format::signature::{
    generate_key_files, sign_capture, signature_path, verify_capture_signature, SignatureError,
};

fn setup() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("c.atcap");
    std::fs::write(&capture, capture_format::fuzz_harness::sample_capture()).expect("write");
    let key = dir.path().join("k");
    let public = generate_key_files(&key).expect("keygen");
    (dir, capture, key, public)
}

#[test]
fn a_signed_capture_verifies_with_its_key() {
    let (_dir, capture, key, public) = setup();
    let sig = sign_capture(&capture, &key).expect("sign");
    assert_eq!(sig, signature_path(&capture));
    let good = verify_capture_signature(&capture, &public).expect("verifies");
    let r = capture_format::CaptureReader::open(&capture).expect("opens");
    assert_eq!(
        good.chain_final,
        capture_format::chain::hex(&r.chain_final_hash().expect("final hash"))
    );
}

#[test]
fn another_key_does_not_verify() {
    let (dir, capture, key, _public) = setup();
    sign_capture(&capture, &key).expect("sign");
    let other = generate_key_files(&dir.path().join("other")).expect("keygen");
    let err = verify_capture_signature(&capture, &other).expect_err("wrong key");
    assert!(matches!(err, SignatureError::Mismatch(_)), "{err}");
    assert!(err.to_string().contains("not by the key"), "{err}");
}

#[test]
fn one_flipped_byte_does_not_verify() {
    let (_dir, capture, key, public) = setup();
    sign_capture(&capture, &key).expect("sign");
    let mut bytes = std::fs::read(&capture).expect("read");
    // A byte inside an alert's payload region: past the header, before the index.
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&capture, bytes).expect("write");
    let err = verify_capture_signature(&capture, &public).expect_err("flipped");
    assert!(
        err.to_string().contains("changed after it was signed"),
        "{err}"
    );
}

#[test]
fn an_altered_signature_file_does_not_verify() {
    let (_dir, capture, key, public) = setup();
    let sig = sign_capture(&capture, &key).expect("sign");
    let text = std::fs::read_to_string(&sig).expect("sig");
    // Claim another file hash (as a forger who edited the capture would).
    let forged: String = text
        .lines()
        .map(|l| match l.strip_prefix("file-sha256 ") {
            Some(_) => format!("file-sha256 {}\n", "00".repeat(32)),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&sig, forged).expect("write");
    let err = verify_capture_signature(&capture, &public).expect_err("forged");
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[test]
fn keys_are_never_overwritten_and_bad_key_files_are_named() {
    let (dir, _capture, key, _public) = setup();
    let err = generate_key_files(&key).expect_err("exists");
    assert!(
        err.to_string().contains(&key.display().to_string()),
        "{err}"
    );
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "hello").expect("write");
    let err = capture_format::signature::load_signing_key(&junk).expect_err("junk");
    assert!(err.to_string().contains("junk") && err.to_string().contains("not a key file"));
}
