//! `aftertrace-recorder keygen`: the documented way to make a signing key. Needs no root.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aftertrace-recorder");

#[test]
fn keygen_writes_a_private_secret_and_a_public_key_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("signing.key");
    let out = Command::new(BIN)
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .expect("run keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&key)
        .expect("secret")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let secret = std::fs::read_to_string(&key).expect("secret");
    assert!(
        secret.starts_with("aftertrace-ed25519-secret-key "),
        "{secret}"
    );
    let public = dir.path().join("signing.key.pub");
    let pub_text = std::fs::read_to_string(&public).expect("public");
    assert!(
        pub_text.starts_with("aftertrace-ed25519-public-key "),
        "{pub_text}"
    );
    // The pair works together.
    capture_format::signature::load_signing_key(&key).expect("secret loads");
    capture_format::signature::load_public_key(&public).expect("public loads");

    // A second run refuses rather than replace a key captures were signed with.
    let again = Command::new(BIN)
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .expect("run keygen");
    assert_eq!(again.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&again.stderr).contains("signing.key"));
    assert_eq!(std::fs::read_to_string(&key).expect("secret"), secret);
}
