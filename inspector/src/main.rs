//! `aftertrace-inspector`: thin glue over the `aftertrace_inspector` library; the command
//! line is in `cli/`.

use std::process::ExitCode;

mod cli;

/// A pass decodes chunks into large, short-lived buffers on several threads. glibc returns
/// freed memory above 128 KiB to the kernel at once (and serves large blocks with fresh
/// mmaps), so every chunk would fault its pages in again: a third of a pass's time went to
/// the kernel. Keeping freed memory in the process removes that; a pass holds one bounded
/// batch of chunks at a time, so what is kept stays bounded too.
///
/// glibc also gives each thread that allocates its own arena, up to 8 per core, each
/// reserving 64 MiB of address space, and memory freed in one arena is not reused by
/// another: on a many-core laptop that alone nears the 512 MiB the inspector promises to
/// stay within (README, "Memory"). Four arenas serve the pass's threads (which allocate
/// little once their buffers are warm) as well.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists, and a rejected value leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    cli::run()
}
