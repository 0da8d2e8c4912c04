//! `cat`: the exact recovered bytes of a file, script or stream.

use std::io::{self, Write};

use aftertrace_inspector::output::reconstruct as render;
use aftertrace_inspector::reconstruct::Reconstruction;

use super::exit;

/// `cat`: the exact recovered bytes on stdout; the gaps (zero-filled) on stderr.
pub fn print(out: &mut impl Write, r: &Reconstruction, target: &str) -> io::Result<u8> {
    let found = match r.find(target) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("aftertrace-inspector: cat: {e}");
            return Ok(exit::FAILURE);
        }
    };
    if !found.others.is_empty() {
        eprintln!(
            "aftertrace-inspector: cat: {target} names {} and earlier {}; exporting {} (name \
             an id for another)",
            found.id,
            found.others.join(", "),
            found.id
        );
    }
    for g in found.gaps {
        eprintln!(
            "aftertrace-inspector: cat {}: gap {}",
            found.id,
            render::gaps_text(std::slice::from_ref(g))
        );
    }
    out.write_all(found.bytes)?;
    Ok(exit::SUCCESS)
}
