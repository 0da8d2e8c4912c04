//! The fuzz target's body, here so that named regression inputs replay in `cargo test`.

/// Parses and converts arbitrary bytes; must never panic.
pub fn scap_reader(data: &[u8]) {
    if let Ok((atcap, _)) = crate::to_atcap(data) {
        // What the converter wrote must open with capture-format's own reader.
        let r = capture_format::CaptureReader::from_bytes(atcap).expect("converted capture opens");
        for e in r.events() {
            e.expect("converted events decode");
        }
    }
}
