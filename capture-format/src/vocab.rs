//! The words every layer uses for programs: which executables are interpreters (their
//! input is a program) and which are shells. The recorder fills the kernel's interpreter
//! map from [`INTERPRETERS`] (whose processes get their reads kept whole) and the
//! inspector's reconstruction finds scripts by the same list, so the two never disagree
//! on what an interpreter is. Persistence locations the kernel keeps whole are in
//! `recorder-common` (the eBPF programs need them, and cannot use this crate); a test in
//! `aftertrace-analysis` checks that the inspector names every one of them.

/// Interpreters by the key `interpreter_key` computes (basename up to the first digit or
/// dot, so `python3.11` is `python`).
pub const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "fish", "csh", "tcsh", "python",
    "perl", "ruby", "node", "nodejs", "php", "lua", "luajit", "tclsh", "pwsh",
];

/// The interpreters that are shells (`-c` and a script operand read the shell's way).
pub const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "fish", "csh", "tcsh",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_is_an_interpreter() {
        for s in SHELLS {
            assert!(INTERPRETERS.contains(s), "{s}");
        }
    }
}
