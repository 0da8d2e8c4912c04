//! Syscall names and numbers per ABI. Events store the number in the ABI it came through
//! ([`Abi`]); an i386 number means something else on x86_64 (11 is execve there, munmap
//! here), so every lookup names the ABI.

use crate::{syscalls_table, Abi};

fn table(abi: Abi) -> &'static [&'static str] {
    match abi {
        Abi::X86_64 => &syscalls_table::X86_64,
        Abi::I386 => &syscalls_table::I386,
    }
}

/// The syscall's name, e.g. `syscall_name(Abi::I386, 11) == Some("execve")`.
pub fn syscall_name(abi: Abi, nr: u32) -> Option<&'static str> {
    table(abi)
        .get(nr as usize)
        .copied()
        .filter(|n| !n.is_empty())
}

/// The syscall's number in `abi`, if it exists there.
pub fn syscall_number(abi: Abi, name: &str) -> Option<u32> {
    table(abi)
        .iter()
        .position(|n| *n == name)
        .map(|nr| nr as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abis_differ() {
        assert_eq!(syscall_name(Abi::X86_64, 59), Some("execve"));
        assert_eq!(syscall_name(Abi::I386, 11), Some("execve"));
        assert_eq!(syscall_name(Abi::X86_64, 11), Some("munmap"));
        assert_eq!(syscall_name(Abi::X86_64, 0), Some("read"));
        assert_eq!(syscall_name(Abi::X86_64, 435), Some("clone3"));
        assert_eq!(syscall_name(Abi::X86_64, 462), Some("mseal"));
        assert_eq!(syscall_name(Abi::X86_64, 100_000), None);
        assert_eq!(syscall_number(Abi::X86_64, "openat"), Some(257));
        assert_eq!(syscall_number(Abi::I386, "openat"), Some(295));
        assert_eq!(syscall_number(Abi::I386, "map_shadow_stack"), None);
    }
}
