//! The reconstruction's views: text and JSON lines for `scripts`, `files`, `sessions` and
//! `net`, and the Markdown incident report. Writers only: no terminal handling.

use std::collections::BTreeSet;
use std::io::{self, Write};

use capture_format::CaptureReader;

use super::{emit, json_line, Format};
use crate::meta::Lookups;
use crate::procs::ProcId;
use crate::style::{pad, printable, Style};
use crate::views::{tree_line, tree_order};
use aftertrace_analysis::reconstruct::{Artifact, Connection, Gap, Reconstruction, Session};

/// `s` cut to `n` characters, with an ellipsis when cut.
fn brief(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('…');
    out
}

fn short(id: &Option<String>) -> String {
    id.as_deref()
        .map_or_else(|| "host".into(), |i| i.chars().take(12).collect())
}

/// The gaps in words: `3..6 (3 B, snaplen)`, `from 120 on (missing)`.
pub fn gaps_text(gaps: &[Gap]) -> String {
    gaps.iter()
        .map(|g| match (g.offset, g.len) {
            (Some(o), Some(l)) => format!("{o}..{} ({l} B, {})", o + l, g.cause.as_str()),
            (Some(0), None) if g.cause == aftertrace_analysis::reconstruct::Cause::Missing => {
                "before 0: earlier content of unknown length (missing)".into()
            }
            (Some(o), None) => format!("from {o} on, length unknown ({})", g.cause.as_str()),
            (None, _) => format!(
                "somewhere, length unknown ({}: the recorder lost events of its processes)",
                g.cause.as_str()
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Content that is not text (NUL bytes, or mostly undecodable).
fn is_binary(b: &[u8]) -> bool {
    if b.contains(&0) && !b.iter().all(|&c| c == 0) {
        return true;
    }
    std::str::from_utf8(b).is_err()
        && String::from_utf8_lossy(b).matches('\u{fffd}').count() * 10 > b.len().max(1)
}

/// Up to this many lines of content in the text views.
const SHOW_LINES: usize = 200;

fn content_lines(a: &Artifact, prefix: &str, out: &mut dyn Write) -> io::Result<()> {
    if a.bytes.is_empty() {
        return writeln!(out, "{prefix}(empty)");
    }
    if is_binary(&a.bytes) {
        return writeln!(
            out,
            "{prefix}(binary, {} bytes: `cat {}` exports them)",
            a.size, a.id
        );
    }
    let content = String::from_utf8_lossy(&a.bytes);
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    for l in lines.iter().take(SHOW_LINES) {
        let l = l.strip_suffix('\n').unwrap_or(l);
        writeln!(out, "{prefix}{}", printable(l))?;
    }
    if lines.len() > SHOW_LINES {
        writeln!(
            out,
            "{prefix}... {} more line(s): `cat {}` exports them all",
            lines.len() - SHOW_LINES,
            a.id
        )?;
    }
    Ok(())
}

/// The links in words; `code` renders a command line.
fn links_text(a: &Artifact, code: impl Fn(&str) -> String) -> Vec<String> {
    a.links
        .iter()
        .map(|l| match l.relation {
            "exec" => format!(
                "run by {} {} at {}",
                l.pid.unwrap_or(0),
                code(&crate::style::shell_words(l.argv.as_deref().unwrap_or(&[]))),
                l.time.as_deref().unwrap_or("?")
            ),
            "chmod" => format!(
                "chmod {} by {} at {}",
                l.mode.as_deref().unwrap_or("?"),
                l.pid.unwrap_or(0),
                l.time.as_deref().unwrap_or("?")
            ),
            "writer" => format!(
                "written into by {} {}",
                l.pid.unwrap_or(0),
                code(&crate::style::shell_words(l.argv.as_deref().unwrap_or(&[])))
            ),
            "same-content" => format!("same content as {}", l.id.as_deref().unwrap_or("?")),
            "file" => format!("read from file {}", l.id.as_deref().unwrap_or("?")),
            "read-by" => format!("read by an interpreter: {}", l.id.as_deref().unwrap_or("?")),
            "connection" => format!("its writer's connection {}", l.id.as_deref().unwrap_or("?")),
            other => other.to_owned(),
        })
        .collect()
}

fn artifact_block(a: &Artifact, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let what = a.path.as_deref().map_or_else(
        || match a.source {
            "pipe" => "(pipe)".to_owned(),
            _ => "(command line)".to_owned(),
        },
        |p| printable(p).into_owned(),
    );
    let status = if a.complete {
        style.green("complete").into_owned()
    } else {
        style.red("INCOMPLETE").into_owned()
    };
    writeln!(
        out,
        "{}  {}  {}  {} B  {}  sha256 {}",
        style.bold(&a.id),
        a.source,
        style.bold(&what),
        a.size,
        status,
        a.sha256
    )?;
    let mut about = vec![format!("container {}", short(&a.container_id))];
    if let Some(i) = &a.interpreter {
        about.push(format!("interpreter {i}"));
    }
    if let Some(pid) = a.pid {
        let p = a.processes.iter().find(|p| p.pid == pid);
        about.push(match p {
            Some(p) => format!("pid {pid} `{}`", brief(&printable(&p.command()), 100)),
            None => format!("pid {pid}"),
        });
    }
    if let Some(t) = &a.first_time {
        about.push(t.clone());
    }
    if let Some(k) = a.persistence {
        about.push(format!("persistence: {k}"));
    }
    if let Some(d) = &a.deleted {
        about.push(format!("deleted {d}"));
    }
    writeln!(out, "    {}", about.join(", "))?;
    if !a.gaps.is_empty() {
        writeln!(out, "    gaps: {}", gaps_text(&a.gaps))?;
    }
    for l in links_text(a, |c| format!("`{}`", brief(&printable(c), 100))) {
        writeln!(out, "    {l}")?;
    }
    content_lines(a, "    | ", out)
}

/// `scripts`: every selected script, in time order.
pub fn scripts(r: &Reconstruction, format: Format, out: &mut dyn Write) -> io::Result<()> {
    for a in r.scripts.iter().filter(|a| a.selected) {
        emit(out, format, a, |out, style| {
            artifact_block(a, style, out)?;
            writeln!(out)
        })?;
    }
    Ok(())
}

/// `files`: every selected file written during the capture.
pub fn files(r: &Reconstruction, format: Format, out: &mut dyn Write) -> io::Result<()> {
    let (json, style) = (format.is_json(), format.style());
    if !json {
        let header = format!(
            "{:<5} {:>9} {:<10} {:<12} {:<32} PATH",
            "ID", "SIZE", "STATUS", "CONTAINER", "WRITTEN BY"
        );
        writeln!(out, "{}", style.bold(&header))?;
    }
    for a in r.files.iter().filter(|a| a.selected) {
        if json {
            json_line(out, a)?;
            continue;
        }
        let status = if a.complete { "complete" } else { "gaps" };
        let by = a.processes.first().map_or_else(
            || "?".to_owned(),
            |p| format!("{} {}", p.pid, printable(&p.command())),
        );
        let mut notes = Vec::new();
        if a.executable {
            notes.push("executable".to_owned());
        }
        if a.links.iter().any(|l| l.relation == "exec") {
            notes.push("executed".to_owned());
        }
        if let Some(k) = a.persistence {
            notes.push(format!("persistence: {k}"));
        }
        if a.deleted.is_some() {
            notes.push("deleted".to_owned());
        }
        let by: String = by.chars().take(32).collect();
        let mut line = format!(
            "{:<5} {:>9} {:<10} {:<12} {} {}",
            a.id,
            a.size,
            status,
            short(&a.container_id),
            pad(&by, 32),
            printable(a.path.as_deref().unwrap_or("?"))
        );
        if !notes.is_empty() {
            line.push_str(&format!("  [{}]", notes.join(", ")));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn session_block(s: &Session, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let shell = s.shell.as_ref().map_or_else(
        || "?".to_owned(),
        |p| format!("{} `{}`", p.pid, brief(&printable(&p.command()), 80)),
    );
    let user = match (&s.uid, &s.user) {
        (Some(u), Some(n)) => format!("uid {u} ({})", printable(n)),
        (Some(u), None) => format!("uid {u}"),
        _ => "uid ?".into(),
    };
    writeln!(
        out,
        "{}  {} in {}  shell {}  {}  {} .. {}  {} line(s)",
        style.bold(&s.id),
        printable(&s.tty),
        short(&s.container_id),
        shell,
        user,
        s.start.as_deref().unwrap_or("?"),
        s.end.as_deref().unwrap_or("?"),
        s.lines.len()
    )?;
    if s.cut_records > 0 {
        writeln!(
            out,
            "    {} read(s)/write(s) not captured whole",
            s.cut_records
        )?;
    }
    for turn in &s.replay {
        let Some(l) = turn.line.and_then(|i| s.lines.get(i)) else {
            // Output: its time and writer on the first line, the rest aligned under it.
            for (i, text) in turn.text.lines().enumerate() {
                if i == 0 {
                    writeln!(out, "  {} {:>7}   {}", turn.time, turn.pid, printable(text))?;
                } else {
                    writeln!(
                        out,
                        "  {:w$} {:>7}   {}",
                        "",
                        "",
                        printable(text),
                        w = turn.time.len()
                    )?;
                }
            }
            continue;
        };
        let mut marks = Vec::new();
        match l.end {
            aftertrace_analysis::reconstruct::lines::LineEnd::Interrupt => marks.push("^C"),
            aftertrace_analysis::reconstruct::lines::LineEnd::Eof => marks.push("^D"),
            aftertrace_analysis::reconstruct::lines::LineEnd::None => marks.push("no Enter"),
            aftertrace_analysis::reconstruct::lines::LineEnd::Enter => {}
        }
        if l.approximate {
            marks.push("edited with cursor keys or completion: approximate");
        }
        if l.incomplete {
            marks.push("keys missing");
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  ({})", marks.join(", "))
        };
        writeln!(
            out,
            "  {} {:>7} $ {}{}",
            l.time,
            l.pid,
            style.bold(&printable(&l.text)),
            marks
        )?;
    }
    Ok(())
}

/// `sessions`: every selected terminal session.
pub fn sessions(r: &Reconstruction, format: Format, out: &mut dyn Write) -> io::Result<()> {
    for s in r.sessions.iter().filter(|s| s.selected) {
        emit(out, format, s, |out, style| {
            session_block(s, style, out)?;
            writeln!(out)
        })?;
    }
    Ok(())
}

fn conn_line(c: &Connection) -> String {
    let who = c.processes.first().map_or_else(
        || "?".to_owned(),
        |p| format!("{} {}", p.pid, brief(&printable(&p.command()), 60)),
    );
    let mut notes = Vec::new();
    if let Some(e) = c.error {
        notes.push(format!("failed: errno {e}"));
    }
    if let Some(p) = &c.peer {
        notes.push(format!("peer {p}"));
    }
    if let Some(l) = &c.listener {
        notes.push(format!("via {l}"));
    }
    if c.direction == "listen" {
        notes.push(format!("{} accepted", c.accepted));
    }
    if !c.out.complete || !c.inn.complete {
        notes.push("gaps".into());
    }
    let mut line = format!(
        "{:<5} {:<30} {:<5} {:<8} {:<22} {:<22} {:>8} {:>8} {:<12} {}",
        c.id,
        c.start.as_deref().unwrap_or("?"),
        c.protocol,
        c.direction,
        printable(c.local.as_deref().unwrap_or("-")),
        printable(c.remote.as_deref().unwrap_or("-")),
        c.out.bytes,
        c.inn.bytes,
        short(&c.container_id),
        who
    );
    if !notes.is_empty() {
        line.push_str(&format!("  [{}]", notes.join(", ")));
    }
    line
}

/// `net`: every selected connection.
pub fn net(r: &Reconstruction, format: Format, out: &mut dyn Write) -> io::Result<()> {
    let (json, style) = (format.is_json(), format.style());
    if !json {
        let header = format!(
            "{:<5} {:<30} {:<5} {:<8} {:<22} {:<22} {:>8} {:>8} {:<12} PROCESS",
            "ID", "START", "PROTO", "DIR", "LOCAL", "REMOTE", "OUT", "IN", "CONTAINER"
        );
        writeln!(out, "{}", style.bold(&header))?;
    }
    for c in r.connections.iter().filter(|c| c.selected) {
        if json {
            json_line(out, c)?;
        } else {
            writeln!(out, "{}", conn_line(c))?;
        }
    }
    Ok(())
}

/// Markdown inline code for any text (backticks, pipes and controls handled).
fn md_code(s: &str) -> String {
    let s = printable(s).replace('|', "\\|");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

fn md_text(s: &str) -> String {
    let mut out = String::new();
    for c in printable(s).chars() {
        if "\\`*_[]<>|#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lines of one output turn a session's replay shows in the report.
const REPORT_OUTPUT_LINES: usize = 20;

/// A fence longer than any run of backticks in `s`.
fn fence(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Up to this many bytes of each script in the report.
const REPORT_SCRIPT_BYTES: usize = 8192;
/// Up to this many rows per report table or tree.
const REPORT_ROWS: usize = 400;

/// `report`: a Markdown incident report for a ticket.
pub fn report(
    r: &Reconstruction,
    reader: &CaptureReader,
    lookups: &Lookups,
    file_name: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let meta = reader.metadata();
    let clock = lookups.clock();
    writeln!(out, "# Incident report: {}", md_text(file_name))?;
    writeln!(out)?;

    // Alerts, and the containers they name.
    writeln!(out, "## Alerts")?;
    writeln!(out)?;
    let mut focus: BTreeSet<String> = BTreeSet::new();
    if meta.alerts.is_empty() {
        writeln!(out, "None: the capture was not sealed for an alert.")?;
    }
    for a in &meta.alerts {
        writeln!(
            out,
            "- {} from {}: {}{}",
            clock.rfc3339(a.received_boot_ns),
            md_code(&a.source),
            md_text(&a.summary),
            a.payload_time
                .as_deref()
                .map_or_else(String::new, |t| format!(" (payload time {})", md_text(t)))
        )?;
        let payload = format!("{} {}", a.summary, String::from_utf8_lossy(&a.payload));
        for c in &meta.containers {
            let short: String = c.id.chars().take(12).collect();
            if payload.contains(&short) || c.name.as_deref().is_some_and(|n| payload.contains(n)) {
                focus.insert(c.id.clone());
            }
        }
    }
    writeln!(out)?;

    // Window and host.
    writeln!(out, "## Window and host")?;
    writeln!(out)?;
    let chunks = reader.chunks();
    let first = chunks.iter().map(|c| c.first_ts).min();
    let last = chunks.iter().map(|c| c.last_ts).max();
    if let (Some(f), Some(l)) = (first, last) {
        writeln!(
            out,
            "- Window: {} .. {} ({:.3} s)",
            clock.rfc3339(f),
            clock.rfc3339(l),
            (l - f) as f64 / 1e9
        )?;
    } else {
        writeln!(out, "- Window: no events")?;
    }
    let events: u64 = chunks.iter().map(|c| u64::from(c.event_count)).sum();
    writeln!(out, "- Events: {events} in {} chunk(s)", chunks.len())?;
    if let Some(h) = &meta.host {
        writeln!(out, "- Host: {}", md_code(&h.hostname))?;
        writeln!(
            out,
            "- Kernel: {} ({})",
            md_code(&h.kernel_release),
            md_text(&h.arch)
        )?;
        writeln!(out, "- Recorder: {}", md_code(&h.recorder_version))?;
    }
    writeln!(out)?;

    // Containers.
    writeln!(out, "## Containers")?;
    writeln!(out)?;
    let active: BTreeSet<String> = r
        .commands
        .iter()
        .filter_map(|(c, _)| c.container_id.clone())
        .collect();
    if focus.is_empty() {
        focus = active.clone();
    }
    if meta.containers.is_empty() {
        writeln!(out, "None: every process ran on the host.")?;
    } else {
        writeln!(out, "| id | name | image | runtime | in focus |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for c in &meta.containers {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_code(&c.id),
                c.name.as_deref().map_or_else(|| "-".into(), md_code),
                c.image.as_deref().map_or_else(|| "-".into(), md_code),
                md_text(&c.runtime),
                if focus.contains(&c.id) { "yes" } else { "" }
            )?;
        }
    }
    writeln!(out)?;
    let in_scope = |id: &Option<String>| match id {
        Some(id) => focus.is_empty() || focus.contains(id),
        None => focus.is_empty(),
    };
    if !focus.is_empty() {
        writeln!(
            out,
            "The sections below cover the container(s) in focus ({}); host activity is left \
             out (`commands`, `scripts`, `net` and `sessions` show the whole capture), except \
             interactive sessions: every one is listed, wherever it ran.",
            if meta.alerts.is_empty() {
                "those that ran commands"
            } else {
                "named by the alerts"
            }
        )?;
        writeln!(out)?;
    }

    // Process trees.
    writeln!(out, "## Process tree")?;
    writeln!(out)?;
    let tree = &r.tree;
    let container_of = |id: ProcId| -> Option<String> {
        tree.processes()[id]
            .phases
            .iter()
            .find_map(|ph| lookups.container(ph.image.cgroup_id).map(|c| c.id.clone()))
    };
    let mut trees: Vec<(String, Vec<ProcId>)> = Vec::new();
    if focus.is_empty() {
        let ids: Vec<ProcId> = (0..tree.processes().len())
            .filter(|&i| tree.processes()[i].execs().next().is_some())
            .collect();
        trees.push(("the host (processes that ran a command)".into(), ids));
    } else {
        for c in &focus {
            let ids: Vec<ProcId> = (0..tree.processes().len())
                .filter(|&i| container_of(i).as_deref() == Some(c.as_str()))
                .collect();
            let name = meta
                .containers
                .iter()
                .find(|x| &x.id == c)
                .and_then(|x| x.name.clone())
                .unwrap_or_else(|| c.chars().take(12).collect());
            trees.push((format!("container {name} ({c})"), ids));
        }
    }
    for (title, ids) in trees {
        writeln!(out, "Tree of {}:", md_text(&title))?;
        writeln!(out)?;
        let mut selected = vec![false; tree.processes().len()];
        for &i in &ids {
            selected[i] = true;
        }
        // The container's own processes: their host ancestors (the runtime) are
        // `tree`'s business.
        let nodes = tree_order(tree, &selected);
        let mut block = String::new();
        for node in nodes.iter().take(REPORT_ROWS) {
            block.push_str(&tree_line(
                tree,
                node,
                selected[node.id],
                lookups,
                Style::PLAIN,
            ));
            block.push('\n');
        }
        if nodes.len() > REPORT_ROWS {
            block.push_str(&format!(
                "... {} more process(es)\n",
                nodes.len() - REPORT_ROWS
            ));
        }
        let f = fence(&block);
        writeln!(out, "{f}text\n{block}{f}")?;
        writeln!(out)?;
    }

    // Commands.
    writeln!(out, "## Commands, in order")?;
    writeln!(out)?;
    let commands: Vec<_> = r
        .commands
        .iter()
        .map(|(c, _)| c)
        .filter(|c| in_scope(&c.container_id))
        .collect();
    if commands.is_empty() {
        writeln!(out, "None.")?;
    } else {
        writeln!(out, "| time | pid | ppid | user | container | command |")?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for c in commands.iter().take(REPORT_ROWS) {
            let mut argv = crate::style::shell_words(&c.argv);
            if c.argv_truncated {
                argv.push_str(" [...]");
            }
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.time,
                c.pid,
                c.ppid,
                c.user.as_deref().map_or_else(|| c.uid.to_string(), md_text),
                short(&c.container_id),
                md_code(&argv)
            )?;
        }
        if commands.len() > REPORT_ROWS {
            writeln!(
                out,
                "\n... {} more command(s): `commands` lists them all.",
                commands.len() - REPORT_ROWS
            )?;
        }
    }
    writeln!(out)?;

    // Scripts.
    writeln!(out, "## Recovered scripts")?;
    writeln!(out)?;
    let scripts: Vec<&Artifact> = r
        .scripts
        .iter()
        .filter(|a| in_scope(&a.container_id))
        .collect();
    if scripts.is_empty() {
        writeln!(out, "None.")?;
        writeln!(out)?;
    }
    for a in &scripts {
        let what = a
            .path
            .as_deref()
            .map_or_else(|| format!("({})", a.source), md_code);
        writeln!(out, "### {} {} {}", a.id, a.source, what)?;
        writeln!(out)?;
        writeln!(out, "- sha256: `{}`", a.sha256)?;
        writeln!(
            out,
            "- size: {} bytes, {}",
            a.size,
            if a.complete {
                "complete".to_owned()
            } else {
                format!("INCOMPLETE: {}", md_text(&gaps_text(&a.gaps)))
            }
        )?;
        if let Some(i) = &a.interpreter {
            writeln!(out, "- interpreter: {}", md_code(i))?;
        }
        if let Some(p) = a
            .pid
            .and_then(|pid| a.processes.iter().find(|p| p.pid == pid))
        {
            writeln!(out, "- process: {} {}", p.pid, md_code(&p.command()))?;
        }
        if let Some(k) = a.persistence {
            writeln!(out, "- persistence: {k}")?;
        }
        for l in links_text(a, md_code) {
            writeln!(out, "- {l}")?;
        }
        writeln!(out)?;
        if is_binary(&a.bytes) {
            writeln!(
                out,
                "Binary content: `aftertrace-inspector {} cat {}` exports it.",
                md_text(file_name),
                a.id
            )?;
        } else {
            let shown = &a.bytes[..a.bytes.len().min(REPORT_SCRIPT_BYTES)];
            let body = printable_block(&String::from_utf8_lossy(shown));
            let f = fence(&body);
            writeln!(
                out,
                "{f}\n{body}{}{f}",
                if body.ends_with('\n') { "" } else { "\n" }
            )?;
            if a.bytes.len() > REPORT_SCRIPT_BYTES {
                writeln!(
                    out,
                    "\n({} more bytes: `cat {}` exports them.)",
                    a.bytes.len() - REPORT_SCRIPT_BYTES,
                    a.id
                )?;
            }
        }
        writeln!(out)?;
    }

    // Sessions.
    writeln!(out, "## Interactive sessions")?;
    writeln!(out)?;
    // Every session, in focus or not: a person typing on the node during an incident
    // matters wherever the terminal was.
    let sessions: Vec<&Session> = r.sessions.iter().collect();
    if sessions.is_empty() {
        writeln!(out, "None.")?;
    }
    for s in sessions {
        writeln!(
            out,
            "- {} on {} ({}), shell {}, {} .. {}:",
            s.id,
            md_code(&s.tty),
            short(&s.container_id),
            s.shell.as_ref().map_or_else(
                || "?".into(),
                |p| format!("{} {}", p.pid, md_code(&p.command()))
            ),
            s.start.as_deref().unwrap_or("?"),
            s.end.as_deref().unwrap_or("?")
        )?;
        // The replay, as the terminal showed it: typed lines after `$ `, then what came
        // back (each output turn cut at REPORT_OUTPUT_LINES; `sessions` has it all).
        let mut block = String::new();
        for t in &s.replay {
            if t.is_typed() {
                block.push_str(&format!("[{}] $ {}\n", t.time, t.text));
                continue;
            }
            let lines: Vec<&str> = t.text.lines().collect();
            for l in lines.iter().take(REPORT_OUTPUT_LINES) {
                block.push_str(l);
                block.push('\n');
            }
            if lines.len() > REPORT_OUTPUT_LINES {
                block.push_str(&format!(
                    "... {} more line(s) of output (aftertrace-inspector FILE sessions)\n",
                    lines.len() - REPORT_OUTPUT_LINES
                ));
            }
        }
        if !block.is_empty() {
            let block = printable_block(&block);
            let f = fence(&block);
            writeln!(out)?;
            writeln!(out, "{f}text\n{block}{f}")?;
        }
    }
    writeln!(out)?;

    // Connections.
    writeln!(out, "## Connections")?;
    writeln!(out)?;
    let conns: Vec<&Connection> = r
        .connections
        .iter()
        .filter(|c| in_scope(&c.container_id))
        .collect();
    if conns.is_empty() {
        writeln!(out, "None.")?;
    } else {
        writeln!(
            out,
            "| id | start | protocol | direction | local | remote | bytes out | bytes in | process |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
        for c in conns.iter().take(REPORT_ROWS) {
            writeln!(
                out,
                "| {} | {} | {} | {}{} | {} | {} | {} | {} | {} |",
                c.id,
                c.start.as_deref().unwrap_or("?"),
                c.protocol,
                c.direction,
                c.error
                    .map_or_else(String::new, |e| format!(" (failed, errno {e})")),
                c.local.as_deref().map_or_else(|| "-".into(), md_code),
                c.remote.as_deref().map_or_else(|| "-".into(), md_code),
                c.out.bytes,
                c.inn.bytes,
                c.processes.first().map_or_else(
                    || "?".into(),
                    |p| format!("{} {}", p.pid, md_code(&p.command()))
                )
            )?;
        }
    }
    writeln!(out)?;

    // Gaps.
    writeln!(out, "## Gaps in the record")?;
    writeln!(out)?;
    let mut any = false;
    for d in &meta.drops.entries {
        any = true;
        let whose = match (d.pid, d.cpu) {
            (Some(p), _) => format!("pid {p}"),
            (None, Some(c)) => format!("CPU {c}"),
            (None, None) => "all".into(),
        };
        writeln!(
            out,
            "- The recorder lost {} record(s) ({}) of {} between {} and {}.",
            d.count,
            md_text(&d.cause),
            whose,
            clock.rfc3339(d.from),
            clock.rfc3339(d.to)
        )?;
    }
    for l in &reader.damage().lost {
        any = true;
        writeln!(
            out,
            "- Capture file bytes {}..{} are damaged ({}): the events there are lost.",
            l.start,
            l.end,
            md_text(&l.reason)
        )?;
    }
    let partial: Vec<&Artifact> = r
        .files
        .iter()
        .chain(r.scripts.iter().filter(|a| a.source != "written"))
        .filter(|a| !a.complete && in_scope(&a.container_id))
        .collect();
    for a in partial.iter().take(REPORT_ROWS) {
        any = true;
        writeln!(
            out,
            "- {} {}: {}",
            a.id,
            a.path
                .as_deref()
                .map_or_else(|| format!("({})", a.source), md_code),
            md_text(&gaps_text(&a.gaps))
        )?;
    }
    if partial.len() > REPORT_ROWS {
        writeln!(
            out,
            "- ... {} more incomplete artifact(s)",
            partial.len() - REPORT_ROWS
        )?;
    }
    for c in r.connections.iter().filter(|c| in_scope(&c.container_id)) {
        for (dir, s) in [("out", &c.out), ("in", &c.inn)] {
            if !s.complete && s.bytes > 0 {
                any = true;
                writeln!(
                    out,
                    "- {}.{dir} ({} bytes moved): {}",
                    c.id,
                    s.bytes,
                    md_text(&gaps_text(&s.gaps))
                )?;
            }
        }
    }
    if !any {
        writeln!(
            out,
            "None: the recorder counted no loss, the file is intact, and every recovered \
             artifact in scope is complete."
        )?;
    }
    Ok(())
}

/// Text for a fenced block: controls other than newline and tab escaped.
fn printable_block(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| {
            let (body, nl) = match l.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (l, ""),
            };
            let body: String = body
                .split('\t')
                .map(|p| printable(p).into_owned())
                .collect::<Vec<_>>()
                .join("\t");
            format!("{body}{nl}")
        })
        .collect()
}
