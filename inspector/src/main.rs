//! `aftertrace-inspector`: thin CLI glue over the `aftertrace_inspector` library.

use std::{
    io::{self, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use aftertrace_inspector::{
    commands::commands,
    open::{open, OpenError},
    summary::Summary,
};
use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILURE: u8 = 1;
    /// `verify` found damage (what survived is still readable).
    pub const DAMAGED: u8 = 2;
    pub const USAGE: u8 = 64;
    /// Not a capture file, or a capture of an unsupported major version.
    pub const NOT_A_CAPTURE: u8 = 65;
    /// The file does not exist or cannot be read.
    pub const NO_INPUT: u8 = 66;
}

#[derive(Parser)]
#[command(
    name = "aftertrace-inspector",
    version,
    about = "Inspect an aftertrace capture (*.atcap) offline: commands, processes, integrity."
)]
struct Cli {
    /// The capture file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every exec: time, pid, parent, user, container and full command line.
    Commands {
        /// One JSON object per line (schema in the README).
        #[arg(long)]
        json: bool,
    },
    /// Every event: syscalls with decoded arguments and data, and lifecycle records.
    Events {
        /// One JSON object per line (schema in the README).
        #[arg(long)]
        json: bool,
    },
    /// Host, time window, event counts, containers, losses and integrity.
    Summary {
        #[arg(long)]
        json: bool,
    },
    /// Check every block and chunk; exit 0 when intact, 2 when damaged.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
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
    let reader = match open(&cli.file) {
        Ok(r) => r,
        Err(err) => {
            eprintln!("aftertrace-inspector: {err}");
            return ExitCode::from(match err {
                OpenError::Unreadable { .. } => exit::NO_INPUT,
                OpenError::NotACapture { .. } => exit::NOT_A_CAPTURE,
            });
        }
    };
    let damage = reader.damage();
    if !damage.is_empty() && !matches!(cli.command, Some(Cmd::Verify { .. })) {
        eprintln!(
            "aftertrace-inspector: warning: {} is damaged; showing what survived ({} byte range(s) lost; run `verify` for details)",
            cli.file.display(),
            damage.lost.len()
        );
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = match cli.command {
        Some(Cmd::Commands { json }) => print_commands(&mut out, &reader, json),
        Some(Cmd::Summary { json }) => print_summary(&mut out, &reader, json),
        Some(Cmd::Events { json }) => print_events(&mut out, &reader, json),
        Some(Cmd::Verify { json }) => print_verify(&mut out, &reader, json),
        None => print_summary(&mut out, &reader, false),
    }
    .and_then(|code| out.flush().map(|()| code));
    match result {
        Ok(code) => ExitCode::from(code),
        // `| head` closing the pipe is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            eprintln!("aftertrace-inspector: writing output: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

fn print_commands(
    out: &mut impl Write,
    reader: &capture_format::CaptureReader,
    json: bool,
) -> io::Result<u8> {
    let (cmds, errors) = commands(reader);
    for err in &errors {
        eprintln!("aftertrace-inspector: skipped damaged data: {err}");
    }
    if json {
        for c in &cmds {
            json_line(out, c)?;
        }
        return Ok(exit::SUCCESS);
    }
    let bold = io::stdout().is_terminal();
    let header = format!(
        "{:<30} {:>7} {:>7} {:>6} {:<12} COMMAND",
        "TIME", "PID", "PPID", "UID", "CONTAINER"
    );
    if bold {
        writeln!(out, "\x1b[1m{header}\x1b[0m")?;
    } else {
        writeln!(out, "{header}")?;
    }
    for c in &cmds {
        let container = c
            .container_id
            .as_deref()
            .map(|id| &id[..id.len().min(12)])
            .unwrap_or("-");
        let mut line = shell_words(&c.argv);
        if c.argv_truncated {
            line.push_str(" [...]");
        }
        writeln!(
            out,
            "{:<30} {:>7} {:>7} {:>6} {:<12} {}",
            c.time, c.pid, c.ppid, c.uid, container, line
        )?;
    }
    Ok(exit::SUCCESS)
}

/// argv joined for reading, quoting only what needs it.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_events(
    out: &mut impl Write,
    reader: &capture_format::CaptureReader,
    json: bool,
) -> io::Result<u8> {
    let (events, errors) = aftertrace_inspector::events::events(reader);
    for err in &errors {
        eprintln!("aftertrace-inspector: skipped damaged data: {err}");
    }
    let mut rows = aftertrace_inspector::events::Rows::new(reader);
    for e in &events {
        let row = rows.row(e);
        if json {
            json_line(out, &row)?;
        } else {
            writeln!(out, "{}", row.text_line())?;
        }
    }
    Ok(exit::SUCCESS)
}

fn print_summary(
    out: &mut impl Write,
    reader: &capture_format::CaptureReader,
    json: bool,
) -> io::Result<u8> {
    let summary = Summary::compute(reader);
    if json {
        json_line(out, &summary)?;
    } else {
        write!(out, "{summary}")?;
    }
    Ok(exit::SUCCESS)
}

fn print_verify(
    out: &mut impl Write,
    reader: &capture_format::CaptureReader,
    json: bool,
) -> io::Result<u8> {
    let report = reader.verify();
    let intact = report.is_intact();
    if json {
        let value = serde_json::json!({
            "intact": intact,
            "events": report.events,
            "good_chunks": report.good_chunks.len(),
            "bad_chunks": report.bad_chunks.iter().map(|b| serde_json::json!({
                "index": b.index, "offset": b.offset, "len": b.len,
                "first_ts": b.first_ts, "last_ts": b.last_ts, "reason": b.reason,
            })).collect::<Vec<_>>(),
            "lost": report.lost.iter().map(|l| serde_json::json!({
                "start": l.start, "end": l.end, "reason": l.reason,
                "after_ts": l.after_ts, "before_ts": l.before_ts,
            })).collect::<Vec<_>>(),
            "index_unusable": report.index_unusable,
        });
        json_line(out, &value)?;
    } else {
        writeln!(
            out,
            "{} good chunk(s), {} event(s) readable",
            report.good_chunks.len(),
            report.events
        )?;
        if let Some(why) = &report.index_unusable {
            writeln!(out, "index not used: {why} (recovered by scanning)")?;
        }
        for b in &report.bad_chunks {
            writeln!(
                out,
                "BAD chunk {} at byte {} ({} bytes, boot time {}..{}): {}",
                b.index, b.offset, b.len, b.first_ts, b.last_ts, b.reason
            )?;
        }
        for l in &report.lost {
            writeln!(out, "LOST bytes {}..{}: {}", l.start, l.end, l.reason)?;
        }
        writeln!(out, "{}", if intact { "intact" } else { "DAMAGED" })?;
    }
    Ok(if intact { exit::SUCCESS } else { exit::DAMAGED })
}
