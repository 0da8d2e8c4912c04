//! The parsed, type-checked expression. `Display` prints a canonical form that parses back
//! to an equal tree (strings always quoted, `and`/`or` nesting kept with parentheses).

use crate::fields::Field;
use std::fmt;
use std::net::IpAddr;

/// A filter expression. `And`/`Or` are n-ary (a chain `a and b and c` is one node), so the
/// tree's depth is bounded by the parenthesis nesting, not by the expression's length.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// At least two operands.
    And(Vec<Expr>),
    /// At least two operands.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Comparison),
}

/// One test of one field.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub field: Field,
    /// `proc.aname[2]`: only for fields where [`Field::takes_index`].
    pub index: Option<u32>,
    pub pred: Predicate,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// `field exists`
    Exists,
    /// `field OP literal`
    Cmp(CmpOp, Literal),
    /// `field in (a, b, c)`: at least one literal.
    In(Vec<Literal>),
    /// `field regex "pattern"` (also spelled `matches`).
    Regex(RegexLit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "contains",
            CmpOp::IContains => "icontains",
            CmpOp::StartsWith => "startswith",
            CmpOp::EndsWith => "endswith",
        }
    }
}

/// A literal, already converted to the type of the field it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// Bytes: quoted strings may hold any byte through `\xHH`.
    Str(Vec<u8>),
    Num(i64),
    Bool(bool),
    Ip(IpNet),
    /// A wall-clock time compared with `evt.time` (through the context's clock mapping).
    Time(WallTime),
}

/// An address, or a network when `prefix` is set (`10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

impl IpNet {
    /// Parses `1.2.3.4`, `::1`, `10.0.0.0/8` or `fd00::/8`.
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                // Digits only: `u8::from_str` would also take a leading `+`, which would
                // not survive a Display round trip.
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix.is_some_and(|p| p > max) {
            return None;
        }
        Some(IpNet { addr, prefix })
    }

    /// Whether `ip` is this address, or inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 peers) compare as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip) = (canonical(self.addr), canonical(ip));
        // A mapped literal's prefix counts the 96 mapping bits; bring it to IPv4 terms.
        let prefix = match (self.addr, net) {
            (IpAddr::V6(_), IpAddr::V4(_)) => self.prefix.map(|p| p.saturating_sub(96)),
            _ => self.prefix,
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let bits = u32::from(prefix.unwrap_or(32).min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let bits = u32::from(prefix.unwrap_or(128).min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }
}

pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{}", self.addr, p),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// An RFC 3339 time as written, and its value in nanoseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WallTime {
    pub text: String,
    pub unix_ns: i64,
}

/// A regular expression (Rust `regex` syntax), compiled once at parse time.
#[derive(Clone, Debug)]
pub struct RegexLit {
    pub(crate) source: String,
    pub(crate) regex: regex::bytes::Regex,
}

/// Compiled regexes are capped so a hostile or mistaken pattern in a rule file cannot make
/// the recorder allocate without bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl RegexLit {
    /// Compiles `pattern`; the error is the regex crate's explanation.
    pub fn new(pattern: &str) -> Result<RegexLit, String> {
        regex::bytes::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|regex| RegexLit {
                source: pattern.to_string(),
                regex,
            })
            .map_err(|e| e.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for RegexLit {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

// ------------------------------------------------------------------------------ Display

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(items) => join(f, items, " and ", |e| {
                matches!(e, Expr::And(_) | Expr::Or(_))
            }),
            // An `and` inside `or` needs no parentheses: `and` binds tighter.
            Expr::Or(items) => join(f, items, " or ", |e| matches!(e, Expr::Or(_))),
            Expr::Not(inner) => {
                f.write_str("not ")?;
                if matches!(**inner, Expr::And(_) | Expr::Or(_)) {
                    write!(f, "({inner})")
                } else {
                    write!(f, "{inner}")
                }
            }
            Expr::Cmp(c) => write!(f, "{c}"),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    sep: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_parens(e) {
            write!(f, "({e})")?;
        } else {
            write!(f, "{e}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field.name())?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        match &self.pred {
            Predicate::Exists => f.write_str(" exists"),
            Predicate::Cmp(op, lit) => write!(f, " {} {}", op.as_str(), lit),
            Predicate::In(items) => {
                f.write_str(" in (")?;
                for (i, lit) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{lit}")?;
                }
                f.write_str(")")
            }
            Predicate::Regex(re) => {
                f.write_str(" regex ")?;
                write_quoted(f, re.source.as_bytes())
            }
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_quoted(f, s),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Ip(net) => write!(f, "{net}"),
            Literal::Time(t) => write_quoted(f, t.text.as_bytes()),
        }
    }
}

/// Double-quoted, with the escapes the parser reads back: `\\ \" \n \r \t` and `\xHH` for
/// other control bytes and for bytes that are not valid UTF-8.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_nets() {
        let net = IpNet::parse("10.0.0.0/8").expect("valid cidr");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("11.1.2.3".parse().expect("ip")));
        assert!(net.contains("::ffff:10.9.9.9".parse().expect("ip")));
        let one = IpNet::parse("1.2.3.4").expect("valid ip");
        assert!(one.contains("1.2.3.4".parse().expect("ip")));
        assert!(!one.contains("1.2.3.5".parse().expect("ip")));
        let v6 = IpNet::parse("fd00::/8").expect("valid v6 cidr");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        let all = IpNet::parse("0.0.0.0/0").expect("valid");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").expect("valid");
        assert!(mapped.contains("10.200.0.1".parse().expect("ip")));
        assert!(!mapped.contains("11.0.0.1".parse().expect("ip")));
        assert_eq!(IpNet::parse("1.2.3.4/33"), None);
        assert_eq!(IpNet::parse("1.2.3.4/+3"), None);
        assert_eq!(IpNet::parse("bash"), None);
    }
}
