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
    segments::Rotation,
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
    /// SIGTERM arrives, or COMMAND exits (its exit code is passed on). With --rotate-size or
    /// --rotate-time, -o is a directory that receives a ring of capture files (continuous
    /// mode, like `sysdig -w -C -G -W`).
    #[command(group = clap::ArgGroup::new("rotation").args(["rotate_size", "rotate_time"]).multiple(true))]
    Record {
        /// The capture file to write (written as FILE.partial, renamed when complete); in
        /// continuous mode, the directory for the files.
        #[arg(short, long, value_name = "FILE|DIR")]
        output: PathBuf,
        /// Continuous mode: start a new file when the current one reaches SIZE (e.g. 100M).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        rotate_size: Option<u64>,
        /// Continuous mode: start a new file when the current one is DUR old (e.g. 5m).
        #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
        rotate_time: Option<Duration>,
        /// Continuous mode: keep the newest N files of this run (files of earlier runs are
        /// never touched).
        #[arg(long, value_name = "N", requires = "rotation")]
        keep: Option<usize>,
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

/// `123`, `64K`, `100M`, `2G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 100M"))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
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
            rotate_size,
            rotate_time,
            keep,
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
                rotation: (rotate_size.is_some() || rotate_time.is_some()).then_some(Rotation {
                    max_bytes: rotate_size,
                    max_age: rotate_time,
                    keep,
                }),
                // Scripts and tests wait for this line before starting the workload.
                on_ready: Some(Box::new(|| eprintln!("aftertrace-recorder: recording"))),
            };
            match record(opts, stop) {
                Ok(outcome) => {
                    // Records lost, not parameters unreadable (those records are kept).
                    let t = &outcome.totals;
                    let dropped: u64 = t.drops[recorder_common::drop_cause::RING_FULL as usize]
                        + t.drops[recorder_common::drop_cause::SCRATCH_FULL as usize]
                        + t.drops[recorder_common::drop_cause::REGS_UNREADABLE as usize];
                    if t.late_events > 0 {
                        eprintln!(
                            "aftertrace-recorder: {} events arrived after the reorder window and are out of time order",
                            t.late_events
                        );
                    }
                    let files: Vec<String> = outcome
                        .files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect();
                    eprintln!(
                        "aftertrace-recorder: wrote {} ({} events, {} lost in the kernel{})",
                        files.join(", "),
                        t.events,
                        dropped,
                        if t.bad_records > 0 {
                            format!(", {} malformed records", t.bad_records)
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
    }
}
