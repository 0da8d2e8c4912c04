//! Typed lines from what a terminal's readers read: keystrokes (a shell's line editor reads
//! one at a time) or whole lines (canonical mode), with the editing a person did applied.

use serde::Serialize;

/// One key stroke (or a run of them) with the time and process that read it.
#[derive(Clone, Debug)]
pub struct Keys<'a> {
    pub ts: u64,
    pub pid: u32,
    pub bytes: &'a [u8],
    /// The read moved more bytes than were captured.
    pub cut: bool,
}

/// How a typed line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnd {
    /// Enter.
    Enter,
    /// Ctrl-C: the line was abandoned.
    Interrupt,
    /// Ctrl-D on an empty line: end of input.
    Eof,
    /// The input ended without one.
    None,
}

/// One line as typed, after editing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedLine {
    /// When its first key was read, and when its end was.
    pub ts: u64,
    pub end_ts: u64,
    pub pid: u32,
    pub text: Vec<u8>,
    pub end: LineEnd,
    /// Editing the reconstruction cannot replay exactly was used (cursor keys, history,
    /// completion): `text` is what was typed, not necessarily what ran.
    pub approximate: bool,
    /// Some keys were not captured.
    pub incomplete: bool,
    /// The keys as read, before editing.
    pub raw: Vec<u8>,
}

struct Builder {
    lines: Vec<TypedLine>,
    cur: Option<TypedLine>,
    /// In an escape sequence: 1 after ESC, 2 inside CSI / SS3.
    esc: u8,
    after_cr: bool,
}

impl Builder {
    fn line(&mut self, ts: u64, pid: u32) -> &mut TypedLine {
        self.cur.get_or_insert_with(|| TypedLine {
            ts,
            end_ts: ts,
            pid,
            text: Vec::new(),
            end: LineEnd::None,
            approximate: false,
            incomplete: false,
            raw: Vec::new(),
        })
    }

    fn finish(&mut self, ts: u64, pid: u32, end: LineEnd) {
        let mut line = self.cur.take().unwrap_or(TypedLine {
            ts,
            end_ts: ts,
            pid,
            text: Vec::new(),
            end,
            approximate: false,
            incomplete: false,
            raw: Vec::new(),
        });
        line.end = end;
        line.end_ts = ts;
        self.lines.push(line);
    }
}

/// Removes the last character (a whole UTF-8 sequence).
fn pop_char(text: &mut Vec<u8>) {
    while let Some(b) = text.pop() {
        if b & 0xc0 != 0x80 {
            break;
        }
    }
}

fn pop_word(text: &mut Vec<u8>) {
    while text.last() == Some(&b' ') {
        text.pop();
    }
    while text.last().is_some_and(|&b| b != b' ') {
        text.pop();
    }
}

/// Applies line editing to the keys in order: Backspace (DEL, ^H) removes a character,
/// ^U the line, ^W a word; Enter (CR or LF; CR LF counts once) ends a line, ^C abandons
/// it, ^D on an empty line ends the input. Escape sequences (cursor keys, history) and
/// Tab (completion) are dropped and mark the line approximate.
pub fn typed_lines(keys: &[Keys<'_>]) -> Vec<TypedLine> {
    let mut b = Builder {
        lines: Vec::new(),
        cur: None,
        esc: 0,
        after_cr: false,
    };
    for k in keys {
        if k.cut {
            b.line(k.ts, k.pid).incomplete = true;
        }
        for &c in k.bytes {
            if b.esc == 1 {
                b.esc = if c == b'[' || c == b'O' { 2 } else { 0 };
                continue;
            }
            if b.esc == 2 {
                if (0x40..=0x7e).contains(&c) {
                    b.esc = 0;
                }
                continue;
            }
            let after_cr = std::mem::replace(&mut b.after_cr, false);
            if c == b'\n' && after_cr {
                continue;
            }
            if c != b'\r' && c != b'\n' {
                b.line(k.ts, k.pid).raw.push(c);
            }
            match c {
                b'\r' | b'\n' => {
                    b.after_cr = c == b'\r';
                    b.finish(k.ts, k.pid, LineEnd::Enter);
                }
                0x7f | 0x08 => pop_char(&mut b.line(k.ts, k.pid).text),
                0x15 => b.line(k.ts, k.pid).text.clear(),
                0x17 => pop_word(&mut b.line(k.ts, k.pid).text),
                0x03 => b.finish(k.ts, k.pid, LineEnd::Interrupt),
                0x04 => {
                    if b.cur.as_ref().is_none_or(|l| l.text.is_empty()) {
                        b.finish(k.ts, k.pid, LineEnd::Eof);
                    }
                }
                0x1b => {
                    b.esc = 1;
                    b.line(k.ts, k.pid).approximate = true;
                }
                b'\t' => b.line(k.ts, k.pid).approximate = true,
                // ^L redraws the screen: no effect on the line.
                0x0c => {}
                c if c < 0x20 => b.line(k.ts, k.pid).approximate = true,
                c => b.line(k.ts, k.pid).text.push(c),
            }
        }
    }
    if let Some(line) = b.cur.take() {
        if !line.raw.is_empty() || line.incomplete {
            let (ts, pid) = (line.end_ts, line.pid);
            b.cur = Some(line);
            b.finish(ts, pid, LineEnd::None);
        }
    }
    b.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(parts: &[&[u8]]) -> Vec<Keys<'static>> {
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| Keys {
                ts: i as u64,
                pid: 7,
                bytes: Box::leak(p.to_vec().into_boxed_slice()),
                cut: false,
            })
            .collect()
    }

    fn texts(lines: &[TypedLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn keystrokes_with_backspace() {
        let k: Vec<&[u8]> = b"echo hel\x7f\x7flo\r"
            .iter()
            .map(std::slice::from_ref)
            .collect();
        let lines = typed_lines(&keys(&k));
        assert_eq!(texts(&lines), vec!["echo hlo"]);
        assert_eq!(lines[0].end, LineEnd::Enter);
        assert_eq!(lines[0].ts, 0);
        assert!(!lines[0].approximate);
    }

    #[test]
    fn canonical_lines_and_control_keys() {
        let lines = typed_lines(&keys(&[
            b"ls -l\n",
            b"rm -rf /\x15id\r\n",
            b"cat foo bar\x17baz\n",
            b"sleep 100\x03",
            b"\x04",
        ]));
        assert_eq!(
            texts(&lines),
            vec!["ls -l", "id", "cat foo baz", "sleep 100", ""]
        );
        assert_eq!(lines[3].end, LineEnd::Interrupt);
        assert_eq!(lines[4].end, LineEnd::Eof);
    }

    #[test]
    fn cursor_keys_make_a_line_approximate() {
        let lines = typed_lines(&keys(&[b"\x1b[A", b"\x1b[Dx\n", "été\x7f\n".as_bytes()]));
        assert_eq!(texts(&lines), vec!["x", "ét"]);
        assert!(lines[0].approximate);
        assert!(!lines[1].approximate);
    }
}
