//! Boot-time nanoseconds -> wall-clock time, through the capture's clock pairs.

use capture_format::ClockPair;
use chrono::{DateTime, Utc};

/// Maps boot time to wall-clock time with the clock pair nearest each instant, so that a
/// wall-clock step during the capture shifts only the events after it.
pub struct Clock {
    pairs: Vec<ClockPair>,
}

impl Clock {
    pub fn new(pairs: &[ClockPair]) -> Self {
        let mut pairs = pairs.to_vec();
        pairs.sort_by_key(|p| p.boot_ns);
        Clock { pairs }
    }

    /// Nanoseconds since the Unix epoch, if the capture has any clock pair.
    pub fn realtime_ns(&self, boot_ns: u64) -> Option<i64> {
        let i = self.pairs.partition_point(|p| p.boot_ns <= boot_ns);
        let candidates = [i.checked_sub(1), Some(i)];
        let nearest = candidates
            .into_iter()
            .flatten()
            .filter_map(|j| self.pairs.get(j))
            .min_by_key(|p| p.boot_ns.abs_diff(boot_ns))?;
        Some(nearest.realtime_ns + (boot_ns as i64 - nearest.boot_ns as i64))
    }

    /// The boot time of a wall-clock instant (the inverse of [`Clock::realtime_ns`], through
    /// the pair nearest in wall-clock time), if the capture has any clock pair. Instants
    /// before boot clamp to 0.
    pub fn boot_ns(&self, realtime_ns: i64) -> Option<u64> {
        let nearest = self
            .pairs
            .iter()
            .min_by_key(|p| p.realtime_ns.abs_diff(realtime_ns))?;
        let boot =
            i128::from(nearest.boot_ns) + i128::from(realtime_ns) - i128::from(nearest.realtime_ns);
        Some(boot.clamp(0, i128::from(u64::MAX)) as u64)
    }

    pub fn utc(&self, boot_ns: u64) -> Option<DateTime<Utc>> {
        self.realtime_ns(boot_ns)
            .map(DateTime::from_timestamp_nanos)
    }

    /// RFC 3339 UTC with nanoseconds, or `boot+SECONDS` when the capture has no clock pairs.
    pub fn rfc3339(&self, boot_ns: u64) -> String {
        match self.utc(boot_ns) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
            None => format!(
                "boot+{}.{:09}",
                boot_ns / 1_000_000_000,
                boot_ns % 1_000_000_000
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_nearest_pair() {
        let c = Clock::new(&[
            ClockPair {
                boot_ns: 1_000,
                realtime_ns: 1_700_000_000_000_000_000,
            },
            // The wall clock was stepped forward 1 s between the pairs.
            ClockPair {
                boot_ns: 10_000,
                realtime_ns: 1_700_000_001_000_009_000,
            },
        ]);
        assert_eq!(c.realtime_ns(1_500), Some(1_700_000_000_000_000_500));
        assert_eq!(c.realtime_ns(9_000), Some(1_700_000_001_000_008_000));
        assert_eq!(c.rfc3339(1_000), "2023-11-14T22:13:20.000000000Z");
        assert_eq!(Clock::new(&[]).rfc3339(1_500_000_001), "boot+1.500000001");
        assert_eq!(c.boot_ns(1_700_000_000_000_000_500), Some(1_500));
        assert_eq!(c.boot_ns(1_700_000_001_000_008_000), Some(9_000));
        assert_eq!(c.boot_ns(0), Some(0));
        assert_eq!(Clock::new(&[]).boot_ns(5), None);
    }
}
