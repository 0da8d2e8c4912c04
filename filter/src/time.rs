//! RFC 3339 timestamps for `evt.time` literals, read by chrono (as the inspector's
//! `--since`/`--until` are).

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (a space or `t` may replace `T`, `z`
/// may replace `Z`; a leap second lands on the next second's first instant, as in POSIX)
/// to nanoseconds since the Unix epoch. `None` if it is not one.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00.5+02:00"),
            Some(1_714_564_800_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29 00:00:00.123456789123z"),
            Some(1_709_164_800_123_456_789)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00"), None);
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00.Z"), None);
        assert_eq!(parse_rfc3339("2024-13-01T12:00:00Z"), None);
        assert_eq!(parse_rfc3339("bash"), None);
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+0200"), None);
    }
}
