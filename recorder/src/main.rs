//! `aftertrace-recorder`: thin CLI glue over the `aftertrace_recorder` library.

use std::{
    ffi::OsString,
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use aftertrace_recorder::{
    preflight::Unavailable,
    probes::ProbeSettings,
    record::{record, OutputError, RecordOptions},
};
use capture_format::WriterOptions;
use clap::{Parser, Subcommand};

/// Exit codes (documented in the README). When `record` runs a COMMAND, the COMMAND's exit
/// code is passed on instead of SUCCESS.
mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 64;
    pub const UNAVAILABLE: u8 = 69;
    pub const IO: u8 = 74;
    pub const NO_PERMISSION: u8 = 77;
}

#[derive(Parser)]
#[command(
    name = "aftertrace-recorder",
    version,
    about = "Forensic flight recorder for Linux nodes: records every syscall, process and container event with eBPF."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Record the whole node into one capture file, until --duration passes, Ctrl-C or
    /// SIGTERM arrives, or COMMAND exits (its exit code is passed on).
    Record {
        /// The capture file to write (written as FILE.partial, renamed when complete).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Stop after this long, e.g. 10s, 2m.
        #[arg(short, long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Bytes of I/O data kept per read/write/send/recv buffer (at most 8192).
        #[arg(long, default_value_t = 256)]
        snaplen: u32,
        /// Size of the kernel's event ring buffer in bytes (a power of two).
        #[arg(long, default_value_t = 64 << 20, hide = true)]
        ring_bytes: u32,
        /// Uncompressed bytes of events per compressed chunk.
        #[arg(long, default_value_t = 1 << 20, hide = true)]
        chunk_bytes: usize,
        /// Run this command and stop recording when it exits.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AFTERTRACE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Cmd::Record {
            output,
            duration,
            chunk_bytes,
            snaplen,
            ring_bytes,
            command,
        } => {
            if duration.is_none() && command.is_empty() {
                eprintln!("aftertrace-recorder: record needs --duration or a COMMAND (or stop it with Ctrl-C); recording until interrupted");
            }
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
                    eprintln!("aftertrace-recorder: cannot handle signal {sig}: {e}");
                    return ExitCode::from(exit::FAILURE);
                }
            }
            let opts = RecordOptions {
                output,
                duration,
                command,
                writer: WriterOptions {
                    chunk_raw_bytes: chunk_bytes,
                    ..WriterOptions::default()
                },
                probes: ProbeSettings {
                    snaplen,
                    ring_bytes,
                },
                // Scripts and tests wait for this line before starting the workload.
                on_ready: Some(Box::new(|| eprintln!("aftertrace-recorder: recording"))),
            };
            match record(opts, stop) {
                Ok(outcome) => {
                    // Records lost, not parameters unreadable (those records are kept).
                    let dropped: u64 = outcome.drops
                        [recorder_common::drop_cause::RING_FULL as usize]
                        + outcome.drops[recorder_common::drop_cause::SCRATCH_FULL as usize]
                        + outcome.drops[recorder_common::drop_cause::REGS_UNREADABLE as usize];
                    if outcome.late_events > 0 {
                        eprintln!(
                            "aftertrace-recorder: {} events arrived after the reorder window and are out of time order",
                            outcome.late_events
                        );
                    }
                    eprintln!(
                        "aftertrace-recorder: wrote {} ({} events, {} lost in the kernel{})",
                        outcome.path.display(),
                        outcome.events,
                        dropped,
                        if outcome.bad_records > 0 {
                            format!(", {} malformed records", outcome.bad_records)
                        } else {
                            String::new()
                        }
                    );
                    match outcome.command_status {
                        Some(status) => ExitCode::from(command_exit_code(status)),
                        None => ExitCode::from(exit::SUCCESS),
                    }
                }
                Err(err) => {
                    eprintln!("aftertrace-recorder: {err:#}");
                    ExitCode::from(classify(&err))
                }
            }
        }
    }
}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
fn command_exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        _ => exit::FAILURE,
    }
}

fn classify(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<Unavailable>() {
            return match u {
                Unavailable::NotPrivileged { .. } => exit::NO_PERMISSION,
                Unavailable::NoBtf { .. } => exit::UNAVAILABLE,
            };
        }
        if cause.downcast_ref::<OutputError>().is_some() {
            return exit::IO;
        }
    }
    exit::FAILURE
}
