//! Builds the eBPF programs (`recorder-ebpf`) with nightly for bpfel-unknown-none, so a
//! plain `cargo build` of the recorder produces a binary with the programs embedded.
use anyhow::{anyhow, Context as _};
use aya_build::cargo_metadata::{MetadataCommand, Package};

fn main() -> anyhow::Result<()> {
    let metadata = MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata failed")?;
    let ebpf: Package = metadata
        .packages
        .into_iter()
        .find(|p| p.name == "recorder-ebpf")
        .ok_or_else(|| anyhow!("recorder-ebpf is not a workspace member"))?;
    // aya-build relays everything the nested cargo prints as a build-script warning,
    // replayed on every build; keep it to real diagnostics.
    std::env::set_var("CARGO_TERM_QUIET", "true");
    // Flags meant for the host build (cargo-fuzz's sanitizer and coverage passes, a
    // target-cpu) must not reach the nested BPF build, which they break; cargo hands them to
    // build scripts in these variables, and the nested cargo would inherit them.
    std::env::remove_var("CARGO_ENCODED_RUSTFLAGS");
    std::env::remove_var("RUSTFLAGS");
    // recorder-common is compiled into the programs too: rebuild when the wire types change.
    println!("cargo:rerun-if-changed=../recorder-common/src");
    aya_build::build_ebpf([ebpf]).context(
        "building the eBPF programs failed; run scripts/setup.sh (nightly, rust-src, bpf-linker)",
    )
}
