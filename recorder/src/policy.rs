//! What the kernel programs capture for each syscall: which arguments point at paths,
//! buffers, socket addresses or fds, and where each length comes from. Written by name
//! here and turned into per-ABI arrays (syscall number -> policy) loaded into the
//! programs' maps, so that the programs stay generic: copy, don't interpret.

use capture_format::{syscall_number, Abi};
use recorder_common::{
    len_from, param_kind, policy_flags, ParamSpec, SyscallPolicy, MAX_PARAMS, MAX_SYSCALL_NR,
};

const fn spec(kind: u8, slot: u8, len: u8) -> ParamSpec {
    ParamSpec {
        kind,
        slot,
        len_from: len,
        _pad: 0,
    }
}
/// A path in argument `slot`.
const fn path(slot: u8) -> ParamSpec {
    spec(param_kind::PATH, slot, len_from::NONE)
}
/// A string (not a path) in argument `slot`.
const fn string(slot: u8) -> ParamSpec {
    spec(param_kind::STR, slot, len_from::NONE)
}
/// Data the process hands the kernel: pointer in `slot`, length in argument `len`.
const fn data_in(slot: u8, len: u8) -> ParamSpec {
    spec(param_kind::BUF, slot, len)
}
/// Data the kernel hands the process: pointer in `slot`, length is the return value.
const fn data_out(slot: u8) -> ParamSpec {
    spec(param_kind::BUF, slot, len_from::RET)
}
/// A socket address given to the kernel, its length in argument `len`.
const fn addr_in(slot: u8, len: u8) -> ParamSpec {
    spec(param_kind::SOCKADDR, slot, len)
}
/// A socket address the kernel fills in, its length in a `socklen_t` that argument
/// `len_ptr` points to.
const fn addr_out(slot: u8, len_ptr: u8) -> ParamSpec {
    spec(param_kind::SOCKADDR, slot, len_from::ARG_PTR_BASE + len_ptr)
}
const fn fds(slot: u8) -> ParamSpec {
    spec(param_kind::FDS2, slot, len_from::NONE)
}
/// An iovec array in `slot` with its count in argument `count`.
const fn iov(slot: u8, count: u8) -> ParamSpec {
    spec(param_kind::IOV, slot, count)
}
const fn msg(slot: u8) -> ParamSpec {
    spec(param_kind::MSGHDR, slot, len_from::NONE)
}

/// (syscall name, policy flags, parameters). Names are looked up in each ABI; a name an
/// ABI lacks is skipped there. Arguments are in the order of that ABI's calling convention,
/// which matches for every syscall below.
const TABLE: &[(&str, u32, &[ParamSpec])] = &[
    // Data.
    ("read", 0, &[data_out(1)]),
    ("write", 0, &[data_in(1, 2)]),
    ("pread64", 0, &[data_out(1)]),
    ("pwrite64", 0, &[data_in(1, 2)]),
    ("readv", 0, &[iov(1, 2)]),
    ("writev", 0, &[iov(1, 2)]),
    ("preadv", 0, &[iov(1, 2)]),
    ("pwritev", 0, &[iov(1, 2)]),
    ("preadv2", 0, &[iov(1, 2)]),
    ("pwritev2", 0, &[iov(1, 2)]),
    // Network.
    ("sendto", 0, &[data_in(1, 2), addr_in(4, 5)]),
    ("recvfrom", 0, &[data_out(1), addr_out(4, 5)]),
    ("sendmsg", 0, &[msg(1)]),
    ("recvmsg", 0, &[msg(1)]),
    ("connect", 0, &[addr_in(1, 2)]),
    ("bind", 0, &[addr_in(1, 2)]),
    ("accept", 0, &[addr_out(1, 2)]),
    ("accept4", 0, &[addr_out(1, 2)]),
    ("getsockname", 0, &[addr_out(1, 2)]),
    ("getpeername", 0, &[addr_out(1, 2)]),
    ("socketpair", 0, &[fds(3)]),
    ("pipe", 0, &[fds(0)]),
    ("pipe2", 0, &[fds(0)]),
    // Processes. execve's memory is replaced by the new image: read it at enter.
    ("execve", policy_flags::AT_ENTER, &[path(0)]),
    ("execveat", policy_flags::AT_ENTER, &[path(1)]),
    ("close", policy_flags::CLOSES_FD, &[]),
    ("dup", policy_flags::DUP_TO_RET, &[]),
    ("dup2", policy_flags::DUP_TO_ARG1, &[]),
    ("dup3", policy_flags::DUP_TO_ARG1, &[]),
    ("fcntl", policy_flags::DUP_TO_RET | policy_flags::FCNTL, &[]),
    (
        "fcntl64",
        policy_flags::DUP_TO_RET | policy_flags::FCNTL,
        &[],
    ),
    ("exit", policy_flags::NO_RETURN, &[]),
    ("exit_group", policy_flags::NO_RETURN, &[]),
    // Files.
    (
        "open",
        policy_flags::OPEN_FLAGS_ARG1 | policy_flags::OPENS_FD,
        &[path(0)],
    ),
    (
        "openat",
        policy_flags::OPEN_FLAGS_ARG2 | policy_flags::OPENS_FD,
        &[path(1)],
    ),
    ("openat2", policy_flags::OPENS_FD, &[path(1)]),
    (
        "creat",
        policy_flags::OPEN_FOR_WRITE | policy_flags::OPENS_FD,
        &[path(0)],
    ),
    ("close_range", policy_flags::CLOSE_RANGE, &[]),
    ("unlink", 0, &[path(0)]),
    ("unlinkat", 0, &[path(1)]),
    ("rename", 0, &[path(0), path(1)]),
    ("renameat", 0, &[path(1), path(3)]),
    ("renameat2", 0, &[path(1), path(3)]),
    ("mkdir", 0, &[path(0)]),
    ("mkdirat", 0, &[path(1)]),
    ("rmdir", 0, &[path(0)]),
    ("chmod", 0, &[path(0)]),
    ("fchmodat", 0, &[path(1)]),
    ("fchmodat2", 0, &[path(1)]),
    ("chown", 0, &[path(0)]),
    ("lchown", 0, &[path(0)]),
    ("chown32", 0, &[path(0)]),
    ("lchown32", 0, &[path(0)]),
    ("fchownat", 0, &[path(1)]),
    ("symlink", 0, &[path(0), path(1)]),
    ("symlinkat", 0, &[path(0), path(2)]),
    ("link", 0, &[path(0), path(1)]),
    ("linkat", 0, &[path(1), path(3)]),
    ("truncate", 0, &[path(0)]),
    ("truncate64", 0, &[path(0)]),
    ("chdir", 0, &[path(0)]),
    ("chroot", 0, &[path(0)]),
    ("pivot_root", 0, &[path(0), path(1)]),
    ("mount", 0, &[path(0), path(1), string(2)]),
    ("umount2", 0, &[path(0)]),
    ("stat", 0, &[path(0)]),
    ("lstat", 0, &[path(0)]),
    ("stat64", 0, &[path(0)]),
    ("lstat64", 0, &[path(0)]),
    ("newfstatat", 0, &[path(1)]),
    ("fstatat64", 0, &[path(1)]),
    ("statx", 0, &[path(1)]),
    ("access", 0, &[path(0)]),
    ("faccessat", 0, &[path(1)]),
    ("faccessat2", 0, &[path(1)]),
    ("readlink", 0, &[path(0)]),
    ("readlinkat", 0, &[path(1)]),
    ("utimensat", 0, &[path(1)]),
    ("mknod", 0, &[path(0)]),
    ("mknodat", 0, &[path(1)]),
    ("memfd_create", 0, &[string(0)]),
    // Kernel modules: the parameter string and the module name.
    ("init_module", 0, &[string(2)]),
    ("finit_module", 0, &[string(1)]),
    ("delete_module", 0, &[string(0)]),
    ("sethostname", 0, &[data_in(0, 1)]),
];

/// Executables whose processes get their reads kept in full (up to MAX_ITEM per syscall):
/// shells and script interpreters, by the key `interpreter_key` computes (basename up to
/// the first digit or dot, so `python3.11` is `python`).
pub const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "fish", "csh", "tcsh", "python",
    "perl", "ruby", "node", "nodejs", "php", "lua", "luajit", "tclsh", "pwsh",
];

/// The policy array for one ABI, indexed by syscall number.
pub fn policies(abi: Abi) -> Vec<SyscallPolicy> {
    let mut out = vec![SyscallPolicy::default(); MAX_SYSCALL_NR as usize];
    for (name, flags, params) in TABLE {
        let Some(nr) = syscall_number(abi, name) else {
            continue;
        };
        let Some(slot) = out.get_mut(nr as usize) else {
            continue;
        };
        slot.flags = *flags;
        for (i, p) in params.iter().take(MAX_PARAMS).enumerate() {
            slot.params[i] = *p;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_exist_and_fit() {
        for (name, _, params) in TABLE {
            assert!(
                syscall_number(Abi::X86_64, name).is_some()
                    || syscall_number(Abi::I386, name).is_some(),
                "{name} is a syscall in neither ABI"
            );
            assert!(params.len() <= MAX_PARAMS, "{name}");
            for p in *params {
                assert!(p.slot <= 5, "{name}");
            }
        }
    }

    #[test]
    fn abis_get_their_own_numbers() {
        let p64 = policies(Abi::X86_64);
        let p32 = policies(Abi::I386);
        // execve is 59 on x86_64 and 11 on i386; 11 on x86_64 is munmap.
        assert_eq!(p64[59].flags, policy_flags::AT_ENTER);
        assert_eq!(p32[11].flags, policy_flags::AT_ENTER);
        assert_eq!(p64[11], SyscallPolicy::default());
        // openat's path is its second argument on both.
        assert_eq!(p64[257].params[0], path(1));
        assert_eq!(p32[295].params[0], path(1));
    }
}
