//! What the kernel programs capture for each syscall: which arguments point at paths,
//! buffers, socket addresses or fds, and where each length comes from. Derived from
//! capture-format's syscall table (`capture_format::syscall_defs`) into per-ABI arrays
//! (syscall number -> policy) loaded into the programs' maps, so that the programs stay
//! generic: copy, don't interpret.

use capture_format::syscall_defs::{Capture, Class, Kernel, Ret, SYSCALLS};
use capture_format::{syscall_number, Abi, SyscallDef};
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

/// Executables whose processes get their reads kept in full (up to MAX_ITEM per syscall):
/// shells and script interpreters, by the key `interpreter_key` computes (basename up to
/// the first digit or dot, so `python3.11` is `python`). The inspector's reconstruction
/// uses the same list.
pub use capture_format::vocab::INTERPRETERS;

/// The kernel's form of what capture-format's syscall table says to copy.
fn param(c: Capture) -> ParamSpec {
    match c {
        Capture::Path(slot) => path(slot),
        Capture::Str(slot) => string(slot),
        Capture::DataIn { ptr, len } => data_in(ptr, len),
        Capture::DataOut(slot) => data_out(slot),
        Capture::AddrIn { ptr, len } => addr_in(ptr, len),
        Capture::AddrOut { ptr, len_ptr } => addr_out(ptr, len_ptr),
        Capture::Fds(slot) => fds(slot),
        Capture::Iov { ptr, count } => iov(ptr, count),
        Capture::Msg(slot) => msg(slot),
    }
}

/// The kernel's policy flags for one entry of the syscall table.
fn flags(d: &SyscallDef) -> u32 {
    let mut f = match d.kernel {
        Kernel::None => 0,
        Kernel::Closes => policy_flags::CLOSES_FD,
        Kernel::DupToRet => policy_flags::DUP_TO_RET,
        Kernel::DupToArg1 => policy_flags::DUP_TO_ARG1,
        Kernel::Fcntl => policy_flags::DUP_TO_RET | policy_flags::FCNTL,
        Kernel::OpenFlagsArg(1) => policy_flags::OPEN_FLAGS_ARG1,
        Kernel::OpenFlagsArg(2) => policy_flags::OPEN_FLAGS_ARG2,
        // The programs know these two positions only; the table's test keeps it so.
        Kernel::OpenFlagsArg(_) => 0,
        Kernel::OpenForWrite => policy_flags::OPEN_FOR_WRITE,
        Kernel::ClosesRange => policy_flags::CLOSE_RANGE,
    };
    // The fd an open returns is followed in the kernel (data-less devices).
    if d.class == Class::Open {
        f |= policy_flags::OPENS_FD;
    }
    // execve's memory is replaced by the new image: read it at enter.
    if d.at_enter() {
        f |= policy_flags::AT_ENTER;
    }
    if d.ret == Ret::None {
        f |= policy_flags::NO_RETURN;
    }
    f
}

/// The policy array for one ABI, indexed by syscall number: capture-format's syscall
/// table in the form the programs' maps hold. A name an ABI lacks is skipped there.
pub fn policies(abi: Abi) -> Vec<SyscallPolicy> {
    let mut out = vec![SyscallPolicy::default(); MAX_SYSCALL_NR as usize];
    for d in SYSCALLS {
        let Some(nr) = syscall_number(abi, d.name) else {
            continue;
        };
        let Some(slot) = out.get_mut(nr as usize) else {
            continue;
        };
        slot.flags = flags(d);
        for (i, c) in d.capture.iter().take(MAX_PARAMS).enumerate() {
            slot.params[i] = param(*c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_fit_the_programs() {
        for d in SYSCALLS {
            assert!(d.capture.len() <= MAX_PARAMS, "{}", d.name);
            if let Kernel::OpenFlagsArg(i) = d.kernel {
                assert!(
                    matches!(i, 1 | 2),
                    "{}: the programs read open flags from argument 1 or 2",
                    d.name
                );
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
