//! `aftertrace-recorder`: thin CLI glue over the `aftertrace_recorder` library.

use std::{
    ffi::OsString,
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use aftertrace_recorder::{
    config::{self, DaemonConfig},
    daemon,
    preflight::Unavailable,
    probes::{Floor, ProbeSettings},
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
        #[arg(long, value_name = "SIZE", value_parser = config::parse_size)]
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
        /// Bytes kept of one buffer under the full-payload policy (a script an interpreter
        /// reads in one go, a written executable), e.g. 1M; at most about 2M.
        #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = config::parse_size)]
        payload_cap: u64,
        /// Size of the kernel's event ring buffer in bytes (a power of two).
        #[arg(long, default_value_t = 64 << 20, hide = true)]
        ring_bytes: u32,
        /// Size of the kernel's lifecycle ring buffer (exec, fork, exit, cgroup records).
        #[arg(long, default_value_t = 8 << 20, hide = true)]
        lifecycle_ring_bytes: u32,
        /// The bench's floor modes: attach only the syscall hooks, returning at once, and
        /// record nothing (what the attachment alone costs).
        #[arg(long, value_enum, default_value = "off", hide = true)]
        floor: Floor,
        /// Uncompressed bytes of events per compressed chunk.
        #[arg(long, default_value_t = 1 << 20, hide = true)]
        chunk_bytes: usize,
        /// Sign each capture written with this secret key file (`keygen` makes one): a
        /// detached FILE.sig beside it, once the recording ends.
        #[arg(long, value_name = "KEY")]
        signing_key: Option<PathBuf>,
        /// Run this command and stop recording when it exits.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Make an ed25519 key pair for signing captures: KEY (secret, mode 0600) and KEY.pub
    /// (for `aftertrace-inspector FILE verify --key KEY.pub`). Never overwrites a file.
    Keygen {
        /// Where to write the secret key; the public key goes to KEY.pub.
        #[arg(short, long, value_name = "KEY")]
        out: PathBuf,
    },
    /// The daemon: record continuously into a rolling buffer and seal a capture around
    /// every alert (HTTP webhooks from Falco, Falcosidekick and Alertmanager, `trigger`,
    /// SIGUSR1). Flags override the TOML config file; defaults work out of the box.
    Run {
        /// TOML settings (every key is documented in the README).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where sealed captures go [default: /var/lib/aftertrace/captures].
        #[arg(long, value_name = "DIR")]
        captures_dir: Option<PathBuf>,
        /// HTTP listener for alerts and /metrics [default: 127.0.0.1:9476].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Record kept before an alert [default: 30s].
        #[arg(long, value_parser = humantime::parse_duration)]
        before: Option<Duration>,
        /// Record kept after an alert [default: 10s].
        #[arg(long, value_parser = humantime::parse_duration)]
        after: Option<Duration>,
        /// Control socket [default: /run/aftertrace/recorder.sock].
        #[arg(long, value_name = "PATH")]
        control_socket: Option<PathBuf>,
        /// Rules file (YAML, conditions in the filter language), or `none`
        /// [default: the built-in rules].
        #[arg(long, value_name = "FILE|none")]
        rules: Option<PathBuf>,
        /// Sign every sealed capture with this secret key file (`keygen` makes one).
        #[arg(long, value_name = "KEY")]
        signing_key: Option<PathBuf>,
    },
    /// Ask the running daemon to seal a capture now.
    Trigger {
        /// Why: stored in the capture and used in its file name.
        #[arg(long)]
        reason: String,
        #[arg(long, value_parser = humantime::parse_duration)]
        before: Option<Duration>,
        #[arg(long, value_parser = humantime::parse_duration)]
        after: Option<Duration>,
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/run/aftertrace/recorder.sock"
        )]
        control_socket: PathBuf,
    },
    /// The running daemon's state: buffer fill and span, losses, captures, last alert.
    Status {
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/run/aftertrace/recorder.sock"
        )]
        control_socket: PathBuf,
        /// Print the JSON as received.
        #[arg(long)]
        json: bool,
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
        Cmd::Run {
            config,
            captures_dir,
            listen,
            before,
            after,
            control_socket,
            rules,
            signing_key,
        } => {
            let mut cfg = match DaemonConfig::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("aftertrace-recorder: {e:#}");
                    return ExitCode::from(exit::USAGE);
                }
            };
            cfg.captures_dir = captures_dir.unwrap_or(cfg.captures_dir);
            cfg.listen = listen.unwrap_or(cfg.listen);
            cfg.before = before.unwrap_or(cfg.before);
            cfg.after = after.unwrap_or(cfg.after);
            cfg.control_socket = control_socket.unwrap_or(cfg.control_socket);
            cfg.rules = rules.or(cfg.rules);
            cfg.signing_key = signing_key.or(cfg.signing_key);
            // A key that cannot be read is found now, not at the first alert.
            if let Some(key) = &cfg.signing_key {
                if let Err(e) = capture_format::signature::load_signing_key(key) {
                    eprintln!("aftertrace-recorder: signing_key: {e}");
                    return ExitCode::from(exit::USAGE);
                }
            }
            let stop = Arc::new(AtomicBool::new(false));
            let trigger = Arc::new(AtomicBool::new(false));
            for (sig, flag) in [
                (signal_hook::consts::SIGINT, &stop),
                (signal_hook::consts::SIGTERM, &stop),
                (signal_hook::consts::SIGUSR1, &trigger),
            ] {
                if let Err(e) = signal_hook::flag::register(sig, Arc::clone(flag)) {
                    eprintln!("aftertrace-recorder: cannot handle signal {sig}: {e}");
                    return ExitCode::from(exit::FAILURE);
                }
            }
            match daemon::run(cfg, stop, trigger, || {
                eprintln!("aftertrace-recorder: recording")
            }) {
                Ok(()) => ExitCode::from(exit::SUCCESS),
                Err(err) => {
                    eprintln!("aftertrace-recorder: {err:#}");
                    ExitCode::from(classify(&err))
                }
            }
        }
        Cmd::Keygen { out } => match capture_format::signature::generate_key_files(&out) {
            Ok(public) => {
                eprintln!(
                    "aftertrace-recorder: wrote the secret key {} (keep it on the node, mode 0600) and the public key {}",
                    out.display(),
                    public.display()
                );
                ExitCode::from(exit::SUCCESS)
            }
            Err(e) => {
                eprintln!("aftertrace-recorder: keygen: {e}");
                ExitCode::from(exit::IO)
            }
        },
        Cmd::Trigger {
            reason,
            before,
            after,
            control_socket,
        } => {
            let req = serde_json::json!({
                "cmd": "trigger",
                "reason": reason,
                "before_s": before.map(|d| d.as_secs_f64()),
                "after_s": after.map(|d| d.as_secs_f64()),
            });
            match daemon::control::call(&control_socket, &req) {
                Ok(_) => {
                    eprintln!("aftertrace-recorder: trigger accepted");
                    ExitCode::from(exit::SUCCESS)
                }
                Err(e) => {
                    eprintln!("aftertrace-recorder: {e:#}");
                    ExitCode::from(exit::UNAVAILABLE)
                }
            }
        }
        Cmd::Status {
            control_socket,
            json,
        } => match daemon::control::call(&control_socket, &serde_json::json!({"cmd": "status"})) {
            Ok(answer) => {
                let s = &answer["status"];
                if json {
                    println!("{s}");
                } else {
                    println!(
                        "buffer:   {:.1} MiB of {:.1} MiB, {} chunks, {:.1} s",
                        s["buffer_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                        s["buffer_bytes_max"].as_f64().unwrap_or(0.0) / 1048576.0,
                        s["buffer_chunks"],
                        s["buffer_span_s"].as_f64().unwrap_or(0.0)
                    );
                    println!("events:   {}", s["events"]);
                    println!("dropped:  {}", s["dropped"]);
                    println!(
                        "alerts:   {} ({} rate limited, {} rule matches throttled, {} windows split), last: {}",
                        s["alerts"],
                        s["alerts_rate_limited"],
                        s["rules_throttled"],
                        s["windows_split"],
                        s["last_alert"]
                    );
                    if s["poll_errors"].as_u64().unwrap_or(0) > 0 {
                        println!(
                            "errors:   {} failed reads of the kernel's ring (retried)",
                            s["poll_errors"]
                        );
                    }
                    println!(
                        "captures: {} sealed, {} failed, {} evicted, last: {}",
                        s["captures"],
                        s["captures_failed"],
                        s["captures_evicted"],
                        s["last_capture"]
                    );
                    let u = &s["upload"];
                    if u.is_object() {
                        println!(
                            "upload:   to {}, {} queued, {} uploaded, {} failed attempts, {} lost, last error: {}",
                            u["destination"],
                            u["queued"],
                            u["uploaded"],
                            u["failures"],
                            u["lost"],
                            u["last_error"]
                        );
                    }
                }
                ExitCode::from(exit::SUCCESS)
            }
            Err(e) => {
                eprintln!("aftertrace-recorder: {e:#}");
                ExitCode::from(exit::UNAVAILABLE)
            }
        },
        Cmd::Record {
            output,
            rotate_size,
            rotate_time,
            keep,
            duration,
            chunk_bytes,
            snaplen,
            payload_cap,
            ring_bytes,
            lifecycle_ring_bytes,
            floor,
            signing_key,
            command,
        } => {
            if let Some(key) = &signing_key {
                if let Err(e) = capture_format::signature::load_signing_key(key) {
                    eprintln!("aftertrace-recorder: --signing-key: {e}");
                    return ExitCode::from(exit::USAGE);
                }
            }
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
                    lifecycle_ring_bytes,
                    payload_cap: payload_cap.min(u32::MAX as u64) as u32,
                    floor,
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
                    if let Some(key) = &signing_key {
                        for f in &outcome.files {
                            match capture_format::signature::sign_capture(f, key) {
                                Ok(sig) => {
                                    eprintln!("aftertrace-recorder: signed {}", sig.display())
                                }
                                Err(e) => {
                                    eprintln!("aftertrace-recorder: signing: {e}");
                                    return ExitCode::from(exit::IO);
                                }
                            }
                        }
                    }
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
                Unavailable::NoBtf { .. } | Unavailable::OldKernel { .. } => exit::UNAVAILABLE,
            };
        }
        if cause.downcast_ref::<OutputError>().is_some()
            || cause
                .downcast_ref::<aftertrace_recorder::safe_fs::CreateError>()
                .is_some()
        {
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
}
