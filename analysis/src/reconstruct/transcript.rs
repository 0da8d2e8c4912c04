//! A terminal session read back in order, as a replay: each line typed (after line
//! editing) and what came back on the terminal between them (escape sequences and the line
//! editor's echo left out), each with the time it started. The `sessions` text view, its
//! JSON `replay` and the TUI's Sessions view all show this one sequence.

use serde::Serialize;

use super::{IoRow, LineRow};

/// Output more than this long after the previous write (which ended a line) starts a new
/// turn with its own time, so a command that prints over time replays over time.
const BURST_GAP_NS: u64 = 500_000_000;

/// One step of a session's replay (`sessions --json`, `replay`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Turn {
    /// When the line's first key was read, or the output's first write.
    pub time: String,
    /// The process that read the line or wrote the output.
    pub pid: u32,
    /// `typed` (a line, after editing) or `output` (what the terminal showed).
    pub kind: &'static str,
    /// The typed line, or the output's lines joined by `\n` (blank lines left out).
    pub text: String,
    /// For a typed line: its index in the session's `lines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip)]
    pub ts: u64,
}

impl Turn {
    pub fn is_typed(&self) -> bool {
        self.kind == "typed"
    }
}

/// The replay of a session: its typed `lines` (from [`super::lines`]) and its reads and
/// writes (`transcript`, in time order) interleaved. `time` names a boot time.
pub fn replay(lines: &[LineRow], transcript: &[IoRow], time: impl Fn(u64) -> String) -> Vec<Turn> {
    let mut turns = Vec::new();
    output_turns(
        transcript,
        None,
        lines.first().map(|l| l.ts),
        None,
        &time,
        &mut turns,
    );
    for (i, l) in lines.iter().enumerate() {
        turns.push(Turn {
            time: l.time.clone(),
            pid: l.pid,
            kind: "typed",
            text: l.text.clone(),
            line: Some(i),
            ts: l.ts,
        });
        let next = lines.get(i + 1).map(|n| n.ts);
        // Read key by key (a line editor, which echoes itself), or by lines (the terminal
        // echoes: no write to leave out).
        let keys = transcript
            .iter()
            .filter(|io| io.direction == "in" && io.ts >= l.ts && io.ts <= l.end_ts);
        let key_by_key = keys.clone().count() > 1 && keys.clone().all(|io| io.len == 1);
        let echo_of = key_by_key.then_some(l.pid);
        output_turns(transcript, Some(l.end_ts), next, echo_of, &time, &mut turns);
    }
    turns
}

/// The output written in `(from, to)` (exclusive), as turns. A line editor echoes keys late
/// when they come fast: with `echo_of` (the pid that read the line key by key), its writes
/// up to the first newline are that echo and are left out.
fn output_turns(
    transcript: &[IoRow],
    from: Option<u64>,
    to: Option<u64>,
    echo_of: Option<u32>,
    time: &impl Fn(u64) -> String,
    turns: &mut Vec<Turn>,
) {
    let mut echo = echo_of;
    let writes = transcript
        .iter()
        .filter(|io| io.direction == "out")
        .filter(|io| from.is_none_or(|f| io.ts > f) && to.is_none_or(|t| io.ts < t))
        .filter(|io| match echo {
            Some(pid) if io.pid == pid => {
                if io.bytes.contains(&b'\n') {
                    echo = None;
                }
                false
            }
            Some(_) => {
                echo = None;
                true
            }
            None => true,
        });
    // (first write's time and pid, bytes, time of the last write, whether it ended a line)
    let mut burst: Option<(u64, u32, Vec<u8>, u64, bool)> = None;
    let flush = |burst: Option<(u64, u32, Vec<u8>, u64, bool)>, turns: &mut Vec<Turn>| {
        let Some((ts, pid, bytes, _, _)) = burst else {
            return;
        };
        let text = screen_text(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if !lines.is_empty() {
            turns.push(Turn {
                time: time(ts),
                pid,
                kind: "output",
                text: lines.join("\n"),
                line: None,
                ts,
            });
        }
    };
    for io in writes {
        let mut b = io.bytes.clone();
        if io.cut.is_some() {
            b.extend_from_slice(
                format!(
                    "[... {} byte(s) not captured]",
                    io.len - io.bytes.len() as u64
                )
                .as_bytes(),
            );
        }
        let ends_line = b.last() == Some(&b'\n');
        match &mut burst {
            Some((_, _, bytes, last, ended))
                if !(*ended && io.ts.saturating_sub(*last) >= BURST_GAP_NS) =>
            {
                bytes.extend_from_slice(&b);
                *last = io.ts;
                *ended = ends_line;
            }
            _ => {
                flush(burst.take(), turns);
                burst = Some((io.ts, io.pid, b, io.ts, ends_line));
            }
        }
    }
    flush(burst, turns);
}

/// Output text for reading: escape sequences removed, `\r` dropped, backspace applied;
/// other control characters are kept (the views escape them).
pub fn screen_text(b: &[u8]) -> String {
    let mut clean = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x1b => {
                i += 1;
                if i < b.len() && (b[i] == b'[' || b[i] == b']') {
                    let osc = b[i] == b']';
                    i += 1;
                    while i < b.len() {
                        let c = b[i];
                        i += 1;
                        if (!osc && (0x40..=0x7e).contains(&c)) || (osc && c == 0x07) {
                            break;
                        }
                    }
                } else {
                    i += 1;
                }
                continue;
            }
            b'\r' | 0x07 => {}
            0x08 => {
                clean.pop();
            }
            c => clean.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&clean).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::lines::LineEnd;

    fn io(ts: u64, pid: u32, dir: &'static str, bytes: &[u8]) -> IoRow {
        IoRow {
            time: format!("t{ts}"),
            pid,
            direction: dir,
            data: String::from_utf8_lossy(bytes).into_owned(),
            data_base64: String::new(),
            len: bytes.len() as u64,
            cut: None,
            ts,
            bytes: bytes.to_vec(),
        }
    }

    fn line(ts: u64, end_ts: u64, pid: u32, text: &str) -> LineRow {
        LineRow {
            time: format!("t{ts}"),
            pid,
            text: text.into(),
            end: LineEnd::Enter,
            approximate: false,
            incomplete: false,
            ts,
            end_ts,
        }
    }

    fn kinds(turns: &[Turn]) -> Vec<(&str, &str, &str)> {
        turns
            .iter()
            .map(|t| (t.time.as_str(), t.kind, t.text.as_str()))
            .collect()
    }

    #[test]
    fn typed_lines_and_output_interleave_without_the_echo() {
        let s = 1_000_000_000;
        let transcript = vec![
            io(s, 10, "out", b"\x1b[1m$ \x1b[0m"),
            io(2 * s, 10, "in", b"l"),
            io(2 * s + 1, 10, "out", b"l"),
            io(2 * s + 2, 10, "in", b"s"),
            io(2 * s + 3, 10, "out", b"s"),
            io(2 * s + 4, 10, "in", b"\r"),
            io(2 * s + 5, 10, "out", b"\r\n"),
            io(2 * s + 6, 11, "out", b"a.txt\r\n"),
            io(2 * s + 7, 11, "out", b"b.txt\r\n"),
            // Printed later: a turn of its own.
            io(4 * s, 11, "out", b"late\r\n"),
            io(4 * s + 1, 10, "out", b"$ "),
        ];
        let lines = vec![line(2 * s, 2 * s + 4, 10, "ls")];
        let turns = replay(&lines, &transcript, |t| format!("t{t}"));
        assert_eq!(
            kinds(&turns),
            vec![
                ("t1000000000", "output", "$ "),
                ("t2000000000", "typed", "ls"),
                ("t2000000006", "output", "a.txt\nb.txt"),
                ("t4000000000", "output", "late\n$ "),
            ]
        );
        assert_eq!(turns[1].line, Some(0));
        assert_eq!(turns[2].pid, 11);
    }

    #[test]
    fn a_cut_write_says_so_and_a_line_split_across_writes_stays_whole() {
        let s = 1_000_000_000;
        let mut cut = io(s + 1, 11, "out", b"par");
        cut.len = 10;
        cut.cut = Some(crate::reconstruct::Cause::Snaplen);
        let transcript = vec![io(s, 11, "out", b"one "), cut, io(3 * s, 11, "out", b"\n")];
        let turns = replay(&[], &transcript, |t| t.to_string());
        assert_eq!(
            kinds(&turns),
            vec![(
                "1000000000",
                "output",
                "one par[... 7 byte(s) not captured]"
            )]
        );
    }
}
