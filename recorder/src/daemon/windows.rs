//! Which windows of the record become captures: one window per alert, anchored at its
//! receipt, merged while alerts keep coming (up to a maximum length), and new captures
//! rate limited, so an alert storm yields a few captures that hold every alert (beyond a
//! cap, as counts) instead of thousands of files.

use std::collections::VecDeque;

use capture_format::Alert;

/// A window to seal: [start, end] in boot-time ns, with the alerts that opened and
/// extended it.
#[derive(Clone, Debug)]
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub alerts: Vec<Alert>,
    /// Alerts beyond the per-capture cap, counted by source.
    pub alerts_not_kept: u64,
    /// Alerts that arrived while new captures were rate limited, counted here.
    pub alerts_rate_limited: u64,
}

pub struct Planner {
    pub before: u64,
    pub after: u64,
    pub max_window: u64,
    pub max_per_minute: u32,
    pub max_alerts: usize,
    open: Option<Window>,
    /// Boot times at which recent captures opened, for the rate limit.
    opened: VecDeque<u64>,
    /// Alerts refused by the rate limit since the last window, carried into the next.
    deferred: u64,
}

/// What became of an alert, for the log and the HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Opened { start: u64, end: u64 },
    Extended { start: u64, end: u64 },
    RateLimited,
}

const MINUTE: u64 = 60_000_000_000;

impl Planner {
    pub fn new(
        before: u64,
        after: u64,
        max_window: u64,
        max_per_minute: u32,
        max_alerts: usize,
    ) -> Self {
        Planner {
            before,
            after,
            max_window: max_window.max(before + after),
            max_per_minute,
            max_alerts,
            open: None,
            opened: VecDeque::new(),
            deferred: 0,
        }
    }

    /// Takes an alert received at `alert.received_boot_ns`, with its own before/after.
    pub fn alert(&mut self, alert: Alert, before: u64, after: u64) -> Decision {
        let at = alert.received_boot_ns;
        if let Some(w) = self.open.as_mut() {
            if at <= w.end {
                w.end = w.end.max(at + after).min(w.start + self.max_window);
                if w.alerts.len() < self.max_alerts {
                    w.alerts.push(alert);
                } else {
                    w.alerts_not_kept += 1;
                }
                return Decision::Extended {
                    start: w.start,
                    end: w.end,
                };
            }
        }
        while self.opened.front().is_some_and(|&t| t + MINUTE <= at) {
            self.opened.pop_front();
        }
        if self.opened.len() >= self.max_per_minute as usize || self.open.is_some() {
            // Either too many captures this minute, or the previous window has not been
            // sealed yet (a new one would overlap its tail): count it for the next one.
            self.deferred += 1;
            return Decision::RateLimited;
        }
        self.opened.push_back(at);
        let w = Window {
            start: at.saturating_sub(before),
            end: at + after,
            alerts: vec![alert],
            alerts_not_kept: 0,
            alerts_rate_limited: std::mem::take(&mut self.deferred),
        };
        let d = Decision::Opened {
            start: w.start,
            end: w.end,
        };
        self.open = Some(w);
        d
    }

    /// The open window, once the record has reached its end.
    pub fn due(&mut self, now: u64) -> Option<Window> {
        if self.open.as_ref().is_some_and(|w| now >= w.end) {
            self.open.take()
        } else {
            None
        }
    }

    pub fn open_window(&self) -> Option<&Window> {
        self.open.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn alert(at: u64) -> Alert {
        Alert {
            source: "test".into(),
            received_boot_ns: at,
            summary: format!("at {at}"),
            ..Default::default()
        }
    }

    #[test]
    fn merges_extends_and_rate_limits() {
        let mut p = Planner::new(30 * S, 10 * S, 60 * S, 2, 3);
        assert_eq!(
            p.alert(alert(100 * S), 30 * S, 10 * S),
            Decision::Opened {
                start: 70 * S,
                end: 110 * S
            }
        );
        assert_eq!(
            p.alert(alert(105 * S), 30 * S, 10 * S),
            Decision::Extended {
                start: 70 * S,
                end: 115 * S
            }
        );
        // Extension stops at the maximum window length.
        for i in 0..50 {
            p.alert(alert(110 * S + i * S / 10), 30 * S, 100 * S);
        }
        let w = p.due(1000 * S).expect("due");
        assert_eq!(w.end, 130 * S, "capped at start + 60 s");
        assert_eq!(w.alerts.len(), 3);
        assert_eq!(w.alerts_not_kept, 49, "52 alerts, 3 kept");
        // Second capture within the minute is allowed, the third is not.
        assert!(matches!(
            p.alert(alert(140 * S), 30 * S, 10 * S),
            Decision::Opened { .. }
        ));
        assert!(p.due(150 * S).is_some());
        assert_eq!(
            p.alert(alert(151 * S), 30 * S, 10 * S),
            Decision::RateLimited
        );
        // A minute later captures open again, carrying the count of refused alerts.
        assert!(matches!(
            p.alert(alert(201 * S), 30 * S, 10 * S),
            Decision::Opened { .. }
        ));
        assert_eq!(p.due(300 * S).expect("due").alerts_rate_limited, 1);
        assert!(p.due(301 * S).is_none());
    }
}
