//! What a query selects: a time range (`--since`, `--until`, `--around` with `--window`)
//! and what the index can rule out before any chunk is decoded.

use aftertrace_filter::{CmpOp, Comparison, Expr, Field, Literal, Predicate};
use capture_format::{BootNs, CaptureReader};
use chrono::DateTime;

use crate::timefmt::Clock;

/// Parses a duration: one or more `NUMBER UNIT` pairs, e.g. `1.5s`, `2m`, `1m30s`,
/// `250ms`. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`. Returns nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u128)] = &[
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];
    let bad = |why: &str| {
        format!("invalid duration {text:?}: {why} (expected e.g. 1.5s, 250ms, 2m, 1m30s)")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() {
            return Err(bad("a number must come first"));
        }
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(bad("malformed number"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                bad("missing unit")
            } else {
                bad(&format!("unknown unit {unit:?}"))
            });
        };
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad("number too large"))?
        };
        // Fractions beyond nanoseconds are dropped.
        let mut frac_ns: u128 = 0;
        let mut div: u128 = 1;
        for d in frac.bytes().take(18) {
            frac_ns = frac_ns * 10 + u128::from(d - b'0');
            div *= 10;
        }
        total = int
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_ns * scale / div))
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too large"))?;
        rest = next;
    }
    u64::try_from(total).map_err(|_| bad("too large"))
}

/// A point in time as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// An RFC 3339 instant, as nanoseconds since the Unix epoch.
    Wall(i64),
    /// `+DUR`: this long after the capture window's start.
    Offset(u64),
}

impl TimeSpec {
    pub fn parse(text: &str) -> Result<TimeSpec, String> {
        let text = text.trim();
        if let Some(d) = text.strip_prefix('+') {
            return parse_duration(d).map(TimeSpec::Offset);
        }
        let t = DateTime::parse_from_rfc3339(text).map_err(|e| {
            format!(
                "invalid time {text:?}: {e} (expected RFC 3339 such as \
                 2024-05-01T12:00:00.5Z, or +DURATION from the capture's start such as +1.5s)"
            )
        })?;
        t.timestamp_nanos_opt()
            .map(TimeSpec::Wall)
            .ok_or_else(|| format!("invalid time {text:?}: out of range"))
    }

    /// Boot time of this instant in a capture whose window starts at `window_start`.
    pub fn resolve(&self, window_start: BootNs, clock: &Clock) -> Result<BootNs, String> {
        match *self {
            TimeSpec::Offset(d) => Ok(window_start.saturating_add(d)),
            TimeSpec::Wall(ns) => clock.boot_ns(ns).ok_or_else(|| {
                "the capture has no clock readings to map wall-clock times with; give times \
                 as +DURATION from its start instead"
                    .to_owned()
            }),
        }
    }
}

/// How the time range was asked for, before the capture is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeArgs {
    pub since: Option<TimeSpec>,
    pub until: Option<TimeSpec>,
    /// `--around TIME --window DUR`: `[TIME - DUR, TIME + DUR]`.
    pub around: Option<(TimeSpec, u64)>,
}

impl TimeArgs {
    pub fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.around.is_none()
    }

    pub fn resolve(&self, window_start: BootNs, clock: &Clock) -> Result<TimeRange, String> {
        if let Some((center, window)) = self.around {
            let c = center.resolve(window_start, clock)?;
            return Ok(TimeRange {
                since: Some(c.saturating_sub(window)),
                until: Some(c.saturating_add(window)),
            });
        }
        let since = self
            .since
            .map(|s| s.resolve(window_start, clock))
            .transpose()?;
        let until = self
            .until
            .map(|s| s.resolve(window_start, clock))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err("--since is after --until: the range is empty".into());
            }
        }
        Ok(TimeRange { since, until })
    }
}

/// An inclusive range of boot times; `None` ends are open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since: Option<BootNs>,
    pub until: Option<BootNs>,
}

impl TimeRange {
    pub fn contains(&self, ts: BootNs) -> bool {
        self.since.is_none_or(|s| ts >= s) && self.until.is_none_or(|u| ts <= u)
    }

    /// Whether `[first, last]` and the range overlap.
    pub fn overlaps(&self, first: BootNs, last: BootNs) -> bool {
        self.since.is_none_or(|s| last >= s) && self.until.is_none_or(|u| first <= u)
    }

    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// Where `+DUR` times count from: the earliest event's time, from the index (no chunk is
/// decoded); else the first snapshot's or clock reading's time.
pub fn window_start(reader: &CaptureReader) -> BootNs {
    let meta = reader.metadata();
    reader
        .chunks()
        .iter()
        .map(|c| c.first_ts)
        .min()
        .or_else(|| meta.processes.iter().map(|s| s.ts).min())
        .or_else(|| meta.clocks.first().map(|c| c.boot_ns))
        .unwrap_or(0)
}

/// The pids an event must have for `expr` to hold, when the expression says so
/// (`proc.pid = 42 and ...`, `proc.pid in (1, 2) or proc.pid = 3`), sorted and distinct.
/// `None` when any pid could match. The chunk index lists each chunk's pids, so chunks
/// without one of these cannot match.
pub fn required_pids(expr: &Expr) -> Option<Vec<u32>> {
    let mut set = match expr {
        Expr::Cmp(Comparison {
            field: Field::ProcPid,
            index: None,
            pred,
        }) => match pred {
            Predicate::Cmp(CmpOp::Eq, lit) => pid_literals(std::slice::from_ref(lit)),
            Predicate::In(lits) => pid_literals(lits),
            _ => None,
        },
        Expr::And(items) => {
            // Every operand must hold: any operand's set will do; take the smallest.
            items.iter().filter_map(required_pids).min_by_key(Vec::len)
        }
        Expr::Or(items) => {
            let mut all = Vec::new();
            for item in items {
                all.extend(required_pids(item)?);
            }
            Some(all)
        }
        Expr::Not(_) | Expr::Cmp(_) => None,
    }?;
    set.sort_unstable();
    set.dedup();
    Some(set)
}

fn pid_literals(lits: &[Literal]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for lit in lits {
        match lit {
            // A pid out of u32's range matches nothing: it adds nothing to the set.
            Literal::Num(n) => out.extend(u32::try_from(*n).ok()),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftertrace_filter::Filter;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("10us"), Ok(10_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration(".5h"), Ok(1_800_000_000_000));
        assert_eq!(parse_duration("0.000000001s"), Ok(1));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn time_specs() {
        assert_eq!(
            TimeSpec::parse("+2m"),
            Ok(TimeSpec::Offset(120_000_000_000))
        );
        assert_eq!(
            TimeSpec::parse("1970-01-01T00:00:01.5Z"),
            Ok(TimeSpec::Wall(1_500_000_000))
        );
        assert_eq!(
            TimeSpec::parse("1970-01-01T01:00:01+01:00"),
            Ok(TimeSpec::Wall(1_000_000_000))
        );
        assert!(TimeSpec::parse("yesterday").is_err());
        let clock = Clock::new(&[capture_format::ClockPair {
            boot_ns: 1_000,
            realtime_ns: 1_000_000_000,
        }]);
        let args = TimeArgs {
            around: Some((TimeSpec::Wall(1_000_000_500), 100)),
            ..Default::default()
        };
        assert_eq!(
            args.resolve(0, &clock),
            Ok(TimeRange {
                since: Some(1_400),
                until: Some(1_600)
            })
        );
        let args = TimeArgs {
            since: Some(TimeSpec::Offset(10)),
            until: Some(TimeSpec::Offset(5)),
            around: None,
        };
        assert!(args.resolve(0, &clock).is_err());
        assert!(TimeSpec::Wall(5).resolve(0, &Clock::new(&[])).is_err());
    }

    fn pids(f: &str) -> Option<Vec<u32>> {
        required_pids(Filter::parse(f).unwrap().expr())
    }

    #[test]
    fn pid_requirements() {
        assert_eq!(pids("proc.pid = 42"), Some(vec![42]));
        assert_eq!(
            pids("proc.pid in (3, 1, 3) and evt.type = openat"),
            Some(vec![1, 3])
        );
        assert_eq!(
            pids("proc.pid = 5 or (proc.pid = 2 and proc.name = x)"),
            Some(vec![2, 5])
        );
        assert_eq!(pids("proc.pid = 5 or proc.name = x"), None);
        assert_eq!(pids("not proc.pid = 5"), None);
        assert_eq!(pids("proc.pid != 5"), None);
        assert_eq!(pids("proc.pid > 5"), None);
        assert_eq!(pids("proc.pid = -1"), Some(vec![]));
        assert_eq!(pids("proc.ppid = 5"), None);
    }
}
