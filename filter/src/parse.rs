//! Recursive-descent parser with type checking: source text to [`Expr`], every error
//! carrying the byte offset it is about.
//!
//! Lexing is context sensitive (Falco-like): in value position a bare word runs to the next
//! whitespace, parenthesis or comma, so `fd.name = /etc/passwd` and `proc.args contains a=b`
//! need no quotes, while field names and operators are read by their own rules.

use crate::ast::{CmpOp, Comparison, Expr, IpNet, Literal, Predicate, RegexLit, WallTime};
use crate::error::FilterError;
use crate::fields::{closest, Field, FieldType, MAX_ANCESTORS};
use crate::time::parse_rfc3339;
use capture_format::{syscall_name, syscall_number, Abi};

/// How deep parentheses and `not` may nest: recursion in the parser and the evaluator is
/// bounded by it, so a hostile expression cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// `evt.type` names of the records that are not syscalls.
pub(crate) const RECORD_TYPES: [&str; 4] = ["fork", "exec", "exit", "cgroup_mkdir"];

/// Every value `fd.type` produces.
pub(crate) const FD_TYPES: [&str; 9] = [
    "file",
    "directory",
    "pipe",
    "ipv4",
    "ipv6",
    "unix",
    "socket",
    "tty",
    "other",
];

const OPERATORS: [&str; 15] = [
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "in",
    "exists",
    "regex",
    "matches",
];

pub(crate) fn parse(src: &str) -> Result<Expr, FilterError> {
    let mut p = Parser {
        src,
        pos: 0,
        depth: 0,
        last_bare_value_end: None,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err(
            0,
            "empty filter: expected a condition such as proc.name = bash",
        ));
    }
    let expr = p.parse_or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected_trailing());
    }
    Ok(expr)
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    depth: usize,
    /// Where the last unquoted value ended, to hint at quoting when a stray word follows.
    last_bare_value_end: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Cmp(CmpOp),
    In,
    Exists,
    Regex,
}

/// A value as written, before conversion to the field's type.
struct RawValue {
    bytes: Vec<u8>,
    start: usize,
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl<'s> Parser<'s> {
    fn err(&self, offset: usize, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.src, offset, msg)
    }

    fn rest(&self) -> &'s str {
        // `pos` only ever advances by whole chars, so this slice is at a boundary; `get`
        // keeps a mistake from panicking.
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The word at the cursor (field-name characters), without consuming it.
    fn peek_word(&self) -> &'s str {
        let rest = self.rest();
        let end = rest.find(|c| !is_field_char(c)).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Consumes `kw` if the next word is exactly it.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek_word() == kw {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// Describes what is at `offset` for error messages.
    fn describe_at(&self, offset: usize) -> String {
        let rest = self.src.get(offset..).unwrap_or("");
        match rest.chars().next() {
            None => "the end of the filter".to_string(),
            Some(c) if is_field_char(c) => {
                let end = rest.find(|c| !is_field_char(c)).unwrap_or(rest.len());
                format!("`{}`", &rest[..end])
            }
            Some(c) => format!("`{c}`"),
        }
    }

    fn enter(&mut self, offset: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                offset,
                format!("nesting deeper than {MAX_DEPTH} levels of parentheses and `not`"),
            ));
        }
        Ok(())
    }

    fn unexpected_trailing(&self) -> FilterError {
        let found = self.describe_at(self.pos);
        let mut msg = format!("expected `and`, `or` or the end of the filter, found {found}");
        if let Some(end) = self.last_bare_value_end {
            let between = self.src.get(end..self.pos).unwrap_or("");
            if !between.is_empty() && between.chars().all(char::is_whitespace) {
                msg.push_str(" (quote a value that contains spaces: \"like this\")");
            }
        }
        self.err(self.pos, msg)
    }

    // ------------------------------------------------------------------ boolean structure

    fn parse_or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_and()?];
        loop {
            self.skip_ws();
            if !self.eat_keyword("or") {
                break;
            }
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            if !self.eat_keyword("and") {
                break;
            }
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.eat_keyword("not") {
            self.enter(start)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('(') => {
                self.enter(start)?;
                self.bump();
                let inner = self.parse_or()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    let found = self.describe_at(self.pos);
                    let col = FilterError::new(self.src, start, "").column;
                    return Err(self.err(
                        self.pos,
                        format!("expected `)` to close the `(` at column {col}, found {found}"),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Some(c) if c.is_ascii_alphabetic() => self.parse_comparison(),
            _ => {
                let found = self.describe_at(start);
                Err(self.err(
                    start,
                    format!("expected a field name, `(` or `not`, found {found}"),
                ))
            }
        }
    }

    // ------------------------------------------------------------------------ comparisons

    fn parse_comparison(&mut self) -> Result<Expr, FilterError> {
        let field_start = self.pos;
        let name = self.peek_word();
        if matches!(name, "and" | "or") {
            return Err(self.err(
                field_start,
                format!("expected a field name, `(` or `not`, found `{name}`"),
            ));
        }
        let field = match Field::from_name(name) {
            Some(f) => f,
            None => {
                let mut msg = format!("unknown field `{name}`");
                if let Some(s) = Field::suggest(name) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                } else {
                    msg.push_str(" (fields_help() lists them)");
                }
                return Err(self.err(field_start, msg));
            }
        };
        self.pos += name.len();
        let index = self.parse_index(field)?;
        if field == Field::EvtArg && index.is_none() {
            return Err(self.err(
                self.pos,
                "evt.arg needs an index: evt.arg[N], N from 0 to 5",
            ));
        }

        self.skip_ws();
        let op_start = self.pos;
        let op = self.parse_op(field)?;
        self.check_op(field, op, op_start)?;

        let pred = match op {
            Op::Exists => Predicate::Exists,
            Op::Regex => {
                let raw = self.read_value(field)?;
                let pattern = String::from_utf8(raw.bytes)
                    .map_err(|_| self.err(raw.start, "a regex must be valid UTF-8"))?;
                let re = RegexLit::new(&pattern)
                    .map_err(|e| self.err(raw.start, format!("invalid regex: {e}")))?;
                Predicate::Regex(re)
            }
            Op::Cmp(cmp) => {
                let raw = self.read_value(field)?;
                Predicate::Cmp(cmp, self.convert(field, op, raw)?)
            }
            Op::In => Predicate::In(self.parse_list(field)?),
        };
        Ok(Expr::Cmp(Comparison { field, index, pred }))
    }

    fn parse_index(&mut self, field: Field) -> Result<Option<u32>, FilterError> {
        if self.peek() != Some('[') {
            return Ok(None);
        }
        let open = self.pos;
        if !field.takes_index() {
            return Err(self.err(
                open,
                format!(
                    "{} takes no [index] (only proc.aname, proc.apid and evt.arg do)",
                    field.name()
                ),
            ));
        }
        self.bump();
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = self.src.get(digits_start..self.pos).unwrap_or("");
        // Syscalls have six argument registers; ancestors go back MAX_ANCESTORS.
        let max = if field == Field::EvtArg {
            5
        } else {
            MAX_ANCESTORS
        };
        let index = digits
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| self.err(digits_start, format!("expected an index from 0 to {max}")))?;
        if self.peek() != Some(']') {
            return Err(self.err(self.pos, "expected `]`"));
        }
        self.bump();
        Ok(Some(index))
    }

    fn parse_op(&mut self, field: Field) -> Result<Op, FilterError> {
        let start = self.pos;
        let rest = self.rest();
        let symbol = ["==", "!=", "<=", ">=", "=", "<", ">"]
            .into_iter()
            .find(|s| rest.starts_with(s));
        if let Some(sym) = symbol {
            self.pos += sym.len();
            return Ok(Op::Cmp(match sym {
                "==" | "=" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<=" => CmpOp::Le,
                ">=" => CmpOp::Ge,
                "<" => CmpOp::Lt,
                _ => CmpOp::Gt,
            }));
        }
        let word = self.peek_word();
        let op = match word {
            "contains" => Op::Cmp(CmpOp::Contains),
            "icontains" => Op::Cmp(CmpOp::IContains),
            "startswith" => Op::Cmp(CmpOp::StartsWith),
            "endswith" => Op::Cmp(CmpOp::EndsWith),
            "in" => Op::In,
            "exists" => Op::Exists,
            "regex" | "matches" => Op::Regex,
            "" => {
                let found = self.describe_at(start);
                return Err(self.err(
                    start,
                    format!("expected an operator after {}, found {found}", field.name()),
                ));
            }
            _ => {
                let mut msg = format!("unknown operator `{word}`");
                match closest(word, OPERATORS.into_iter()) {
                    Some(s) => msg.push_str(&format!(" (did you mean `{s}`?)")),
                    None => msg.push_str(&format!(" (operators: {})", OPERATORS.join(" "))),
                }
                return Err(self.err(start, msg));
            }
        };
        self.pos += word.len();
        Ok(op)
    }

    fn check_op(&self, field: Field, op: Op, at: usize) -> Result<(), FilterError> {
        let ty = field.ty();
        let ok = match op {
            Op::Exists | Op::In | Op::Cmp(CmpOp::Eq | CmpOp::Ne) => true,
            Op::Cmp(CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) => ty == FieldType::Num,
            Op::Cmp(CmpOp::Contains | CmpOp::IContains | CmpOp::StartsWith | CmpOp::EndsWith)
            | Op::Regex => ty == FieldType::Str,
        };
        if ok {
            return Ok(());
        }
        let takes = match ty {
            FieldType::Str => "=, !=, contains, icontains, startswith, endswith, in, regex, exists",
            FieldType::Num => "=, !=, <, <=, >, >=, in, exists",
            FieldType::Bool | FieldType::Ip => "=, !=, in, exists",
        };
        let op_text = self.peek_op_text(at);
        Err(self.err(
            at,
            format!(
                "`{op_text}` does not apply to {} (a {ty}); it takes {takes}",
                field.name()
            ),
        ))
    }

    /// The operator as the user spelled it, for messages.
    fn peek_op_text(&self, at: usize) -> &'s str {
        let rest = self.src.get(at..).unwrap_or("");
        let end = if rest.starts_with(|c: char| "=!<>".contains(c)) {
            rest.find(|c: char| !"=!<>".contains(c))
        } else {
            rest.find(|c| !is_field_char(c))
        };
        &rest[..end.unwrap_or(rest.len())]
    }

    fn parse_list(&mut self, field: Field) -> Result<Vec<Literal>, FilterError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            let found = self.describe_at(self.pos);
            return Err(self.err(
                self.pos,
                format!("expected `(` to start the list after `in`, found {found}"),
            ));
        }
        self.bump();
        let mut items = Vec::new();
        loop {
            let raw = self.read_value(field)?;
            items.push(self.convert(field, Op::In, raw)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(')') => {
                    self.bump();
                    break;
                }
                _ => {
                    let found = self.describe_at(self.pos);
                    return Err(self.err(
                        self.pos,
                        format!("expected `,` or `)` in the list, found {found}"),
                    ));
                }
            }
        }
        // A list ends with `)`, so a word after it is not a continuation of a bare value.
        self.last_bare_value_end = None;
        Ok(items)
    }

    // ----------------------------------------------------------------------------- values

    fn read_value(&mut self, field: Field) -> Result<RawValue, FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None | Some(')') | Some(',') => {
                let found = self.describe_at(start);
                Err(self.err(
                    start,
                    format!(
                        "expected a value to compare {} with, found {found}",
                        field.name()
                    ),
                ))
            }
            Some('(') => Err(self.err(
                start,
                "expected a value, found `(` (for a list use `in (a, b)`)",
            )),
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let bytes = self.read_quoted(q, start)?;
                self.last_bare_value_end = None;
                Ok(RawValue { bytes, start })
            }
            Some(_) => {
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | ','))
                {
                    self.bump();
                }
                self.last_bare_value_end = Some(self.pos);
                Ok(RawValue {
                    bytes: self
                        .src
                        .get(start..self.pos)
                        .unwrap_or("")
                        .as_bytes()
                        .to_vec(),
                    start,
                })
            }
        }
    }

    /// The body of a quoted string after its opening quote. Escapes: `\\ \" \' \n \r \t
    /// \0 \xHH`; any other backslash is kept as written, so regexes like `"\d+"` need no
    /// doubling.
    fn read_quoted(&mut self, quote: char, start: usize) -> Result<Vec<u8>, FilterError> {
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            let Some(c) = self.bump() else {
                return Err(self.err(
                    start,
                    format!("unterminated string: missing closing {quote}"),
                ));
            };
            match c {
                c if c == quote => return Ok(out),
                '\\' => match self.peek() {
                    Some(e @ ('\\' | '"' | '\'')) => {
                        self.bump();
                        out.push(e as u8);
                    }
                    Some('n') => {
                        self.bump();
                        out.push(b'\n');
                    }
                    Some('r') => {
                        self.bump();
                        out.push(b'\r');
                    }
                    Some('t') => {
                        self.bump();
                        out.push(b'\t');
                    }
                    Some('0') => {
                        self.bump();
                        out.push(0);
                    }
                    Some('x') => {
                        let hex = self.src.get(self.pos + 1..self.pos + 3);
                        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            // from_str_radix accepts a sign; require two hex digits.
                            Some(b)
                                if hex
                                    .is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) =>
                            {
                                self.pos += 3;
                                out.push(b);
                            }
                            _ => return Err(self.err(at, "`\\x` needs two hex digits, e.g. \\x1b")),
                        }
                    }
                    _ => out.push(b'\\'),
                },
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    /// Converts a value to the field's type, and checks it against the values the field
    /// can have where that set is closed (`evt.type`, `fd.type`), to catch typos.
    fn convert(&self, field: Field, op: Op, raw: RawValue) -> Result<Literal, FilterError> {
        let at = raw.start;
        let text = || std::str::from_utf8(&raw.bytes).ok();
        let shown = String::from_utf8_lossy(&raw.bytes).into_owned();
        match field.ty() {
            FieldType::Str => {
                if matches!(op, Op::In | Op::Cmp(CmpOp::Eq | CmpOp::Ne)) {
                    self.check_closed_set(field, &raw.bytes, at)?;
                }
                Ok(Literal::Str(raw.bytes))
            }
            FieldType::Num => {
                if let Some(n) = text().and_then(parse_number) {
                    return Ok(Literal::Num(n));
                }
                if field == Field::EvtTime {
                    if let Some(unix_ns) = text().and_then(parse_rfc3339) {
                        if op == Op::In {
                            return Err(self.err(
                                at,
                                "an RFC 3339 time compares with =, !=, <, <=, >, >=, not in a list",
                            ));
                        }
                        let text = text().unwrap_or_default().to_string();
                        return Ok(Literal::Time(WallTime { text, unix_ns }));
                    }
                    return Err(self.err(
                        at,
                        format!(
                            "expected nanoseconds since boot or an RFC 3339 time (2024-05-01T12:00:00Z) for evt.time, found `{shown}`"
                        ),
                    ));
                }
                Err(self.err(
                    at,
                    format!("expected a number for {}, found `{shown}`", field.name()),
                ))
            }
            FieldType::Bool => match text().map(str::to_ascii_lowercase).as_deref() {
                Some("true") => Ok(Literal::Bool(true)),
                Some("false") => Ok(Literal::Bool(false)),
                _ => Err(self.err(
                    at,
                    format!("expected true or false for {}, found `{shown}`", field.name()),
                )),
            },
            FieldType::Ip => text()
                .and_then(IpNet::parse)
                .map(Literal::Ip)
                .ok_or_else(|| {
                    self.err(
                        at,
                        format!(
                            "expected an IP address or network (10.0.0.1, 10.0.0.0/8, fd00::/8) for {}, found `{shown}`",
                            field.name()
                        ),
                    )
                }),
        }
    }

    fn check_closed_set(&self, field: Field, value: &[u8], at: usize) -> Result<(), FilterError> {
        let v = std::str::from_utf8(value).unwrap_or("");
        match field {
            Field::EvtType => {
                let known = RECORD_TYPES.contains(&v)
                    || syscall_number(Abi::X86_64, v).is_some()
                    || syscall_number(Abi::I386, v).is_some();
                if known {
                    return Ok(());
                }
                let names = RECORD_TYPES
                    .into_iter()
                    .chain((0..1024).filter_map(|nr| syscall_name(Abi::X86_64, nr)))
                    .chain((0..1024).filter_map(|nr| syscall_name(Abi::I386, nr)));
                let mut msg = format!("unknown event type `{v}`: not a syscall name nor one of fork, exec, exit, cgroup_mkdir");
                if let Some(s) = closest(v, names) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                Err(self.err(at, msg))
            }
            Field::FdType => {
                if FD_TYPES.contains(&v) {
                    return Ok(());
                }
                Err(self.err(
                    at,
                    format!(
                        "unknown fd type `{v}` (fd.type is one of {})",
                        FD_TYPES.join(", ")
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Decimal (optionally signed) or `0x` hexadecimal.
fn parse_number(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude: i128 =
        if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            i128::from_str_radix(hex, 16).ok()?
        } else {
            if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            body.parse::<i128>().ok()?
        };
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(42));
        assert_eq!(parse_number("-2"), Some(-2));
        assert_eq!(parse_number("+7"), Some(7));
        assert_eq!(parse_number("0x1f"), Some(31));
        assert_eq!(parse_number("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_number("9223372036854775808"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_number("--1"), None);
        assert_eq!(parse_number(""), None);
    }
}
