//! Text emphasis for the text views: ANSI colours when the caller says the output is a
//! terminal, nothing otherwise (so files and pipes get plain text).

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    fn paint<'a>(&self, code: &str, text: &'a str) -> Cow<'a, str> {
        if self.color && !text.is_empty() {
            Cow::Owned(format!("\x1b[{code}m{text}\x1b[0m"))
        } else {
            Cow::Borrowed(text)
        }
    }

    pub fn bold<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("1", text)
    }

    pub fn dim<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("2", text)
    }

    pub fn red<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("31", text)
    }

    pub fn green<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("32", text)
    }

    pub fn cyan<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("36", text)
    }
}

/// `s` with control characters written as escapes (`\n`, `\x1b`, `\u{85}`), so that text
/// from a capture (an attacker's command line, a process name set with prctl) can neither
/// break the layout nor drive the responder's terminal.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// argv joined for reading and pasting into a shell, quoting only what needs it: POSIX
/// single quotes, or bash's `$'...'` when an argument holds control characters (newlines
/// in a `bash -c` script stay on one line).
pub fn shell_words<S: AsRef<str>>(argv: &[S]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        let a = a.as_ref();
        if i > 0 {
            out.push(' ');
        }
        if !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
        {
            out.push_str(a);
        } else if a.chars().any(char::is_control) {
            out.push_str("$'");
            for c in a.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x80 && c.is_control() => {
                        out.push_str(&format!("\\x{:02x}", c as u32));
                    }
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('\'');
        } else {
            out.push('\'');
            out.push_str(&a.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    out
}

/// Left-aligns `text` in `width` columns (counting characters), never cutting it.
pub fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    let mut s = text.to_owned();
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_colour() {
        assert_eq!(
            shell_words(&["bash", "-c", "ls /; it's", ""]),
            r"bash -c 'ls /; it'\''s' ''"
        );
        assert_eq!(
            shell_words(&["bash", "-c", "echo 'a'\nls\t\x1b[2J"]),
            r"bash -c $'echo \'a\'\nls\t\x1b[2J'"
        );
        assert_eq!(printable("a\nb\u{85}"), r"a\nb\u{85}");
        assert_eq!(printable("plain"), "plain");
        assert_eq!(Style::PLAIN.bold("x"), "x");
        assert_eq!(Style { color: true }.red("x"), "\x1b[31mx\x1b[0m");
        assert_eq!(pad("é", 3), "é  ");
    }
}
