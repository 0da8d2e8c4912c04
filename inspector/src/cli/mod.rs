//! The command line: flags and subcommands (clap), their checks, exit codes, and the
//! dispatch to one module per subcommand that has logic of its own (`summary`, `verify`,
//! `cat`, `report`, `export`); the list views (`events`, `commands`, `procs`, `tree`, `scripts`,
//! `files`, `sessions`, `net`) are one call each into `query` and `output`.

mod cat;
mod export;
mod report;
mod summary;
mod verify;

use std::{
    io::{self, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use aftertrace_filter::{fields_help, Filter};
use aftertrace_inspector::{
    meta::Lookups,
    open::{open, OpenError},
    output::reconstruct as render,
    query::{self, Query},
    reconstruct::reconstruct,
    select::{parse_duration, window_start, TimeArgs, TimeSpec},
    style::Style,
};
use capture_format::CaptureReader;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Exit codes, documented in the README.
pub(crate) mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILURE: u8 = 1;
    /// `verify` found damage (what survived is still readable).
    pub const DAMAGED: u8 = 2;
    /// `verify --key`: the signature is missing or does not verify.
    pub const BAD_SIGNATURE: u8 = 3;
    /// Bad command line, including a `--filter` that does not parse and a time that
    /// cannot be read.
    pub const USAGE: u8 = 64;
    /// Not a capture file, or a capture of an unsupported major version.
    pub const NOT_A_CAPTURE: u8 = 65;
    /// The file does not exist or cannot be read, or is not a regular file (a device, a
    /// FIFO).
    pub const NO_INPUT: u8 = 66;
    /// `export`: the selection holds no record (nothing is written).
    pub const EMPTY_SELECTION: u8 = 3;
    /// `export`: the output cannot be created or written (nothing is left behind).
    pub const CANT_CREATE: u8 = 73;
}

/// `--around` without `--window` selects this much on each side.
const DEFAULT_WINDOW: &str = "5s";

#[derive(Parser)]
#[command(
    name = "aftertrace-inspector",
    version,
    about = "Inspect an aftertrace capture (*.atcap) offline: processes, commands, events, integrity.",
    long_about = "Inspect an aftertrace capture (*.atcap) offline: processes, commands, events, \
                  integrity.\n\nWith no subcommand, prints the summary. --filter and the time \
                  selection apply to events, commands, procs, tree, scripts, files, \
                  sessions and net; --json prints one object per line (schemas in the \
                  README)."
)]
struct Cli {
    /// The capture file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Args)]
struct Opts {
    /// One JSON object per line (schemas in the README).
    #[arg(long, global = true)]
    json: bool,
    /// Select events with a filter expression, e.g. 'proc.name = bash and fd.name
    /// startswith /etc'. events: the events it selects; commands: the execs it selects;
    /// procs and tree: the processes with a selected event, or whose state it selects.
    /// Fields and grammar: filter/README.md (and the list below with --help).
    #[arg(long, short = 'f', global = true, value_name = "EXPR")]
    filter: Option<String>,
    /// Only from this time on (inclusive): RFC 3339 (2024-05-01T12:00:00.5Z) or +DURATION
    /// from the capture's first event (+1.5s, +2m, +1m30s).
    #[arg(long, global = true, value_name = "TIME")]
    since: Option<String>,
    /// Only up to this time (inclusive); same forms as --since.
    #[arg(long, global = true, value_name = "TIME")]
    until: Option<String>,
    /// Only within --window of this time, on both sides; same forms as --since.
    #[arg(long, global = true, value_name = "TIME", conflicts_with_all = ["since", "until"])]
    around: Option<String>,
    /// With --around: how far on each side (default 5s), e.g. 500ms, 10s, 2m.
    #[arg(long, global = true, value_name = "DURATION", requires = "around")]
    window: Option<String>,
    /// Mask secrets (export, report): `none`, `default` (what a bare --redact means) or a
    /// policy FILE (README, "Redaction").
    #[arg(long, global = true, value_name = "POLICY", num_args = 0..=1,
          default_missing_value = "default", require_equals = true)]
    redact: Option<String>,
    /// Colour the text output: auto (when stdout is a terminal and NO_COLOR is not set),
    /// always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    color: ColorWhen,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Clone, PartialEq, Eq)]
enum Cmd {
    /// Host, time window, event counts, containers, alerts, losses and integrity.
    Summary,
    /// The process tree: who started what, with each process's commands, user and
    /// container changes, and how it ended.
    Tree,
    /// Every process: start, end, exit status, user, container, syscall count, command.
    Procs,
    /// Every exec: time, pid, parent, user, container and full command line.
    Commands,
    /// Every event: syscalls with decoded arguments and data, and lifecycle records.
    Events,
    /// Check every block and chunk and the hash chain; exit 0 when intact, 2 when damaged.
    /// With --key, also the signature in FILE.sig (exit 3 when it is missing or does not
    /// verify).
    Verify {
        /// The signer's public key file (`aftertrace-recorder keygen` writes one).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Scripts recovered byte for byte (written files that ran or were made executable,
    /// interpreter reads, pipes into interpreters, -c arguments, persistence files), with
    /// sha256, gaps and links.
    Scripts,
    /// Every file written during the capture, rebuilt from the writes at their offsets.
    Files,
    /// The exact recovered bytes of a file, script or stream (an id from files, scripts or
    /// net, e.g. f3, p1, n2.in; or a path) on stdout; gaps zero-filled and listed on
    /// stderr.
    Cat {
        /// An id (f3, r1, p2, a4, n5.out, n5.in) or a path (its last written version).
        #[arg(value_name = "PATH|ID")]
        target: String,
    },
    /// Interactive terminal sessions: the lines typed (line editing applied) and the
    /// output, in order.
    Sessions,
    /// Connections (TCP, UDP, unix) with both ends, direction, process, bytes and the
    /// data per direction.
    Net,
    /// A Markdown incident report: alerts, window, host and containers, process tree,
    /// commands, recovered scripts with sha256, sessions, connections, every gap.
    Report,
    /// A selection as a new self-contained capture (`--format atcap`, the default: the
    /// records --filter, the time selection, --container and --pid select, with the state
    /// as of the selection's start restricted to them and an EXPORT block naming the
    /// source's sha256 and the selection), the tables (`jsonl`, `parquet`), or the whole
    /// capture in sysdig/Falco's format (`--format scap`, for sysdig -r and Stratoshark).
    Export {
        #[arg(long, value_enum, default_value = "atcap")]
        format: ExportFormat,
        /// The file to write (created 0600: captures hold secrets).
        #[arg(short = 'o', long, value_name = "OUT")]
        output: PathBuf,
        #[command(flatten)]
        scope: ExportScope,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Atcap,
    Scap,
    /// Tables as DIR/TABLE.jsonl (README, "Tables").
    Jsonl,
    /// Tables as DIR/TABLE.parquet (README, "Tables").
    Parquet,
}

/// What `export --format atcap` keeps besides --filter and the time selection.
#[derive(Args, Clone, PartialEq, Eq)]
struct ExportScope {
    /// Only this container: its full id, an id prefix (3+ characters) or its name.
    #[arg(long, value_name = "ID|NAME")]
    container: Option<String>,
    /// Only this process (a pid of the capture).
    #[arg(long, value_name = "N")]
    pid: Option<u32>,
    /// With --pid: also every process below it.
    #[arg(long, requires = "pid")]
    with_descendants: bool,
}

impl Cmd {
    fn name(&self) -> &'static str {
        match self {
            Cmd::Summary => "summary",
            Cmd::Tree => "tree",
            Cmd::Procs => "procs",
            Cmd::Commands => "commands",
            Cmd::Events => "events",
            Cmd::Verify { .. } => "verify",
            Cmd::Scripts => "scripts",
            Cmd::Files => "files",
            Cmd::Cat { .. } => "cat",
            Cmd::Sessions => "sessions",
            Cmd::Net => "net",
            Cmd::Report => "report",
            Cmd::Export { .. } => "export",
        }
    }

    /// Whether --filter and the time selection mean something for this view.
    fn selects(&self) -> bool {
        matches!(
            self,
            Cmd::Tree
                | Cmd::Procs
                | Cmd::Commands
                | Cmd::Events
                | Cmd::Scripts
                | Cmd::Files
                | Cmd::Sessions
                | Cmd::Net
                | Cmd::Export {
                    format: ExportFormat::Atcap | ExportFormat::Jsonl | ExportFormat::Parquet,
                    ..
                }
        )
    }

    /// Whether --json means something for this view.
    fn has_json(&self) -> bool {
        !matches!(self, Cmd::Cat { .. } | Cmd::Report | Cmd::Export { .. })
    }
}

/// The filter fields, for `--help`: generated from the filter crate's own table.
fn fields_text() -> String {
    let mut s =
        String::from("Filter fields (grammar, operators and semantics: filter/README.md):\n");
    for (name, ty, _) in fields_help() {
        s.push_str(&format!("  {name:<18} {ty}\n"));
    }
    s.push_str(
        "\nExit codes: 0 success (verify: intact), 1 other failure, 2 verify found damage, \
         3 verify --key: the signature is missing or does not verify (export: it selected \
         nothing), 73 export cannot write its output, \
         64 bad command line (including a bad --filter or time), 65 not an aftertrace capture, \
         66 the file cannot be read or is not a regular file (device, FIFO).",
    );
    s
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("aftertrace-inspector: {message}");
    ExitCode::from(exit::USAGE)
}

fn parse_cli() -> Result<Cli, ExitCode> {
    let command = Cli::command().after_long_help(fields_text());
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    parsed.map_err(|e| {
        let code = if e.use_stderr() {
            exit::USAGE
        } else {
            exit::SUCCESS
        };
        let _ = e.print();
        ExitCode::from(code)
    })
}

fn parse_time_args(opts: &Opts) -> Result<TimeArgs, String> {
    let spec = |flag: &str, s: &Option<String>| {
        s.as_deref()
            .map(|t| TimeSpec::parse(t).map_err(|e| format!("{flag}: {e}")))
            .transpose()
    };
    let around = match spec("--around", &opts.around)? {
        Some(center) => {
            let window = opts.window.as_deref().unwrap_or(DEFAULT_WINDOW);
            let window = parse_duration(window).map_err(|e| format!("--window: {e}"))?;
            Some((center, window))
        }
        None => None,
    };
    Ok(TimeArgs {
        since: spec("--since", &opts.since)?,
        until: spec("--until", &opts.until)?,
        around,
    })
}

/// Parses the command line and runs it: the whole CLI, with its exit code.
pub fn run() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // No subcommand on a terminal opens the TUI; piped or redirected, the summary.
    if cli.command.is_none() && !cli.opts.json && io::stdout().is_terminal() {
        let o = &cli.opts;
        if o.filter.is_none() && o.since.is_none() && o.until.is_none() && o.around.is_none() {
            return run_tui(&cli.file);
        }
    }
    let command = cli.command.unwrap_or(Cmd::Summary);
    let opts = &cli.opts;

    // Everything about the command line is checked before the file is opened.
    let time_args = match parse_time_args(opts) {
        Ok(t) => t,
        Err(e) => return usage_error(&e),
    };
    let selecting = opts.filter.is_some() || !time_args.is_empty();
    if selecting && !command.selects() {
        return usage_error(&format!(
            "--filter, --since, --until and --around apply to events, commands, procs, tree, \
             scripts, files, sessions, net and export (atcap, jsonl, parquet), not to {}",
            command.name()
        ));
    }
    if opts.json && !command.has_json() {
        return usage_error(&format!(
            "--json does not apply to {}: it prints {}",
            command.name(),
            match command {
                Cmd::Report => "Markdown",
                Cmd::Export { .. } => "a file",
                _ => "the recovered bytes",
            }
        ));
    }
    let policy = match export::redaction_policy(opts.redact.as_deref(), &command) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let filter = match opts.filter.as_deref().map(Filter::parse).transpose() {
        Ok(f) => f,
        Err(e) => {
            // The error renders the expression with a caret under the column.
            eprintln!("aftertrace-inspector: invalid --filter expression: {e}");
            return ExitCode::from(exit::USAGE);
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
    if !damage.is_empty() && !matches!(command, Cmd::Verify { .. }) {
        eprintln!(
            "aftertrace-inspector: warning: {} is damaged; showing what survived ({} byte range(s) lost; run `verify` for details)",
            cli.file.display(),
            damage.lost.len()
        );
    }
    let lookups = Lookups::new(reader.metadata());
    let range = match time_args.resolve(window_start(&reader), lookups.clock()) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    warn_if_outside(&reader, &lookups, range);

    let color = match opts.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let q = Query {
        filter,
        range,
        json: opts.json,
        style: Style { color },
    };
    let report = |err: capture_format::Error| {
        eprintln!("aftertrace-inspector: skipped damaged data: {err}");
    };

    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let result = match &command {
        Cmd::Summary => summary::print(&mut out, &reader, q.format()),
        Cmd::Verify { key } => verify::print(&mut out, &reader, q.format(), key.as_deref()),
        Cmd::Events => query::events(&reader, &lookups, &q, &mut out, report).map(|()| 0),
        Cmd::Commands => query::commands(&reader, &lookups, &q, &mut out, report).map(|()| 0),
        Cmd::Procs => query::procs(&reader, &lookups, &q, &mut out, report).map(|()| 0),
        Cmd::Tree => query::tree(&reader, &lookups, &q, &mut out, report).map(|()| 0),
        Cmd::Scripts | Cmd::Files | Cmd::Sessions | Cmd::Net => {
            let r = reconstruct(&reader, &lookups, q.filter.as_ref(), q.range, report);
            let view = match command {
                Cmd::Scripts => render::scripts,
                Cmd::Files => render::files,
                Cmd::Sessions => render::sessions,
                _ => render::net,
            };
            view(&r, q.format(), &mut out).map(|()| 0)
        }
        Cmd::Cat { target } => {
            let r = reconstruct(&reader, &lookups, None, q.range, report);
            cat::print(&mut out, &r, target)
        }
        Cmd::Report => match &policy {
            Some(policy) => export::redacted_report(
                &mut out,
                &reader,
                &cli.file,
                &lookups,
                policy.clone(),
                q.range,
            ),
            None => report::print(&mut out, &reader, &lookups, &cli.file, q.range, report),
        },
        Cmd::Export {
            format,
            output,
            scope,
        } => match format {
            ExportFormat::Scap => {
                if scope.container.is_some() || scope.pid.is_some() {
                    return usage_error("--container and --pid apply to --format atcap only");
                }
                export::scap(&reader, output)
            }
            ExportFormat::Jsonl | ExportFormat::Parquet => {
                if scope.container.is_some() || scope.pid.is_some() {
                    return usage_error(
                        "--container and --pid apply to --format atcap; select tables with \
                         --filter 'container.name = NAME' or 'proc.pid = N'",
                    );
                }
                export::tables(
                    &reader,
                    &cli.file,
                    &lookups,
                    &q,
                    policy.clone(),
                    output,
                    *format == ExportFormat::Parquet,
                )
            }
            ExportFormat::Atcap => {
                let sel = aftertrace_inspector::export::Selection {
                    filter: opts.filter.clone(),
                    range: q.range,
                    container: scope.container.clone(),
                    pid: scope.pid,
                    with_descendants: scope.with_descendants,
                    redact: policy.clone(),
                };
                Ok(export::atcap(&reader, &cli.file, &lookups, &sel, output))
            }
        },
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

/// The TUI, with the CLI's exit codes: a file that cannot be read is reported before the
/// screen changes; one that is no capture, after the TUI (which shows why) is closed.
fn run_tui(path: &std::path::Path) -> ExitCode {
    if let Err(e) = aftertrace_inspector::open::check_input(path) {
        eprintln!("aftertrace-inspector: {e}");
        return ExitCode::from(exit::NO_INPUT);
    }
    match aftertrace_inspector::tui::run(path) {
        Ok(None) => ExitCode::from(exit::SUCCESS),
        Ok(Some(not_a_capture)) => {
            eprintln!("aftertrace-inspector: {not_a_capture}");
            ExitCode::from(exit::NOT_A_CAPTURE)
        }
        Err(e) => {
            eprintln!("aftertrace-inspector: terminal: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// A time range that misses every event is most likely a mistyped time: say so (the
/// output is still the empty selection it asked for).
fn warn_if_outside(
    reader: &CaptureReader,
    lookups: &Lookups,
    range: aftertrace_inspector::select::TimeRange,
) {
    let chunks = reader.chunks();
    let (Some(first), Some(last)) = (
        chunks.iter().map(|c| c.first_ts).min(),
        chunks.iter().map(|c| c.last_ts).max(),
    ) else {
        return;
    };
    if range.overlaps(first, last) {
        return;
    }
    let clock = lookups.clock();
    eprintln!(
        "aftertrace-inspector: warning: the time range selects nothing: the capture's events \
         run from {} to {}",
        clock.rfc3339(first),
        clock.rfc3339(last)
    );
}
