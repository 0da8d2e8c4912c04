//! Parse and type errors, pointing at a column of the expression.

use std::fmt;

/// Why an expression was rejected, and where.
///
/// `Display` renders the message, then the offending line of the expression with a caret
/// under the column:
///
/// ```text
/// column 11: `contains` does not apply to proc.pid (a number); it takes =, !=, <, <=, >, >=, in, exists
///   proc.pid contains 3
///            ^
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based line of the expression (rules in YAML often span lines).
    pub line: usize,
    /// 1-based column within `line`, counted in characters.
    pub column: usize,
    /// Byte offset into the whole expression.
    pub offset: usize,
    pub message: String,
    /// The expression, kept to render the caret.
    source: String,
}

impl FilterError {
    pub(crate) fn new(source: &str, offset: usize, message: impl Into<String>) -> FilterError {
        // The parser only produces offsets at char boundaries within the source; clamp and
        // step back anyway so a bad offset can never make rendering panic.
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        FilterError {
            line,
            column,
            offset,
            message: message.into(),
            source: source.to_string(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let multiline = self.source.contains('\n');
        if multiline {
            writeln!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )?;
        } else {
            writeln!(f, "column {}: {}", self.column, self.message)?;
        }
        let text = self.source.lines().nth(self.line - 1).unwrap_or("");
        let text = text.strip_suffix('\r').unwrap_or(text);
        writeln!(f, "  {text}")?;
        // Tabs are copied so the caret lines up under the same tab stops.
        let pad: String = text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "  {pad}^")
    }
}

impl std::error::Error for FilterError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret() {
        let e = FilterError::new("proc.nam = bash", 0, "unknown field");
        assert_eq!(
            e.to_string(),
            "column 1: unknown field\n  proc.nam = bash\n  ^"
        );
        let e = FilterError::new("a\n\tb c", 5, "oops");
        assert_eq!((e.line, e.column), (2, 4));
        assert_eq!(e.to_string(), "line 2, column 4: oops\n  \tb c\n  \t  ^");
        // Past the end: the caret goes one past the last character.
        let e = FilterError::new("proc.name =", 11, "expected a value");
        assert_eq!(e.column, 12);
        assert!(e.to_string().ends_with("\n             ^"));
        // Not a char boundary: steps back instead of panicking.
        let e = FilterError::new("é", 1, "x");
        assert_eq!(e.column, 1);
    }
}
