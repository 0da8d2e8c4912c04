//! Which windows of the record become captures: one window per alert, anchored at its
//! receipt, merged while alerts keep coming (up to a maximum length), and new captures
//! rate limited, so an alert storm yields a few captures that hold every alert (beyond a
//! cap, as counts) instead of thousands of files.

use std::collections::{BTreeMap, VecDeque};

use capture_format::Alert;

/// A window to seal: [start, end] in boot-time ns, with the alerts that opened and
/// extended it.
#[derive(Clone, Debug)]
pub struct Window {
    /// Unique per daemon run: links the parts of a split window.
    pub id: u64,
    pub start: u64,
    pub end: u64,
    pub alerts: Vec<Alert>,
    /// Alerts beyond the per-capture cap, counted (operator triggers are never counted:
    /// they are always kept).
    pub alerts_not_kept: u64,
    /// Alerts that arrived while new captures were rate limited, counted here.
    pub alerts_rate_limited: u64,
    /// Rule alerts held back by the per rule and container throttle, by "RULE (container)".
    pub rules_throttled: BTreeMap<String, u64>,
    /// 1 for a window as opened; 2, 3... for the parts it continued in after a split.
    pub part: u32,
    /// The part this one continues (its id), when a long window was split.
    pub previous: Option<u64>,
    /// This part was closed early (max_window, or the buffer about to evict its start)
    /// and the window continues in the next part.
    pub continued: bool,
    /// What names the file: the first alert's summary and receipt, inherited by parts.
    pub title: String,
    pub title_realtime_ns: i64,
    /// Rule alerts kept verbatim (counted against the cap; operator triggers are not).
    counted: usize,
}

pub struct Planner {
    pub before: u64,
    pub after: u64,
    pub max_window: u64,
    pub max_per_minute: u32,
    pub max_alerts: usize,
    open: Option<Window>,
    /// Parts closed by a split (or an operator trigger after the open window's end),
    /// sealed once the record reaches their end.
    closed: VecDeque<Window>,
    /// Boot times at which recent captures opened, for the rate limit.
    opened: VecDeque<u64>,
    /// Alerts refused by the rate limit since the last window, carried into the next.
    deferred: u64,
    /// Throttled rule alerts while no window was open, carried into the next.
    deferred_throttled: BTreeMap<String, u64>,
    next_id: u64,
}

/// What became of an alert, for the log and the HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Opened { start: u64, end: u64 },
    Extended { start: u64, end: u64 },
    RateLimited,
}

const MINUTE: u64 = 60_000_000_000;

/// Operator triggers (the `trigger` CLI over the control socket, SIGUSR1, and an HTTP
/// trigger request) are never rate limited, dropped or counted against the cap.
pub fn is_operator(source: &str) -> bool {
    matches!(source, "cli" | "signal" | "trigger")
}

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
            closed: VecDeque::new(),
            opened: VecDeque::new(),
            deferred: 0,
            deferred_throttled: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Takes an alert received at `alert.received_boot_ns`, with its own before/after.
    pub fn alert(&mut self, alert: Alert, before: u64, after: u64) -> Decision {
        let at = alert.received_boot_ns;
        let operator = is_operator(&alert.source);
        if let Some(w) = self.open.as_mut() {
            if at <= w.end {
                // Not capped here: a window longer than max_window is split (see split).
                w.end = w.end.max(at + after);
                if operator {
                    w.alerts.push(alert);
                } else if w.counted < self.max_alerts {
                    w.alerts.push(alert);
                    w.counted += 1;
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
        if !operator && (self.opened.len() >= self.max_per_minute as usize || self.open.is_some()) {
            // Either too many captures this minute, or the previous window has not been
            // sealed yet (a new one would overlap its tail): count it for the next one.
            self.deferred += 1;
            return Decision::RateLimited;
        }
        if let Some(previous) = self.open.take() {
            // Only an operator gets here with a window open (past its end, not yet due):
            // that one is sealed as it is, and the trigger opens its own.
            self.closed.push_back(previous);
        }
        if !operator {
            self.opened.push_back(at);
        }
        let id = self.next_id;
        self.next_id += 1;
        let w = Window {
            id,
            start: at.saturating_sub(before),
            end: at + after,
            title: alert.summary.clone(),
            title_realtime_ns: alert.received_realtime_ns,
            counted: usize::from(!operator),
            alerts: vec![alert],
            alerts_not_kept: 0,
            alerts_rate_limited: std::mem::take(&mut self.deferred),
            rules_throttled: std::mem::take(&mut self.deferred_throttled),
            part: 1,
            previous: None,
            continued: false,
        };
        let d = Decision::Opened {
            start: w.start,
            end: w.end,
        };
        self.open = Some(w);
        d
    }

    /// Counts a rule alert held back by the throttle, on the open window (or the next).
    pub fn throttled(&mut self, key: String, n: u64) {
        let map = match self.open.as_mut() {
            Some(w) => &mut w.rules_throttled,
            None => &mut self.deferred_throttled,
        };
        *map.entry(key).or_default() += n;
    }

    /// Whether the open window must be split at `now`: it reached `max_window`, or
    /// `keeps_start` says the buffer is about to evict its start.
    pub fn needs_split(&self, now: u64, keeps_start: impl Fn(u64) -> bool) -> bool {
        self.open.as_ref().is_some_and(|w| {
            w.end > now && (now >= w.start + self.max_window || !keeps_start(w.start))
        })
    }

    /// Closes the open window at `now` (it is sealed once the record reaches `now`) and
    /// continues it in a new part from `now` to its planned end, linked to it.
    pub fn split(&mut self, now: u64) {
        let Some(mut first) = self.open.take() else {
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        let next = Window {
            id,
            start: now,
            end: first.end,
            alerts: Vec::new(),
            alerts_not_kept: 0,
            alerts_rate_limited: 0,
            rules_throttled: BTreeMap::new(),
            part: first.part + 1,
            previous: Some(first.id),
            continued: false,
            title: first.title.clone(),
            title_realtime_ns: first.title_realtime_ns,
            counted: 0,
        };
        first.end = now;
        first.continued = true;
        self.closed.push_back(first);
        self.open = Some(next);
    }

    /// The next window (or part) the record has reached the end of, oldest first.
    pub fn due(&mut self, now: u64) -> Option<Window> {
        if self.closed.front().is_some_and(|w| now >= w.end) {
            return self.closed.pop_front();
        }
        if self.closed.is_empty() && self.open.as_ref().is_some_and(|w| now >= w.end) {
            self.open.take()
        } else {
            None
        }
    }

    pub fn open_window(&self) -> Option<&Window> {
        self.open.as_ref()
    }

    /// Whether any window waits to be sealed (open, or a closed part not yet due).
    pub fn pending(&self) -> bool {
        self.open.is_some() || !self.closed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn alert(at: u64) -> Alert {
        Alert {
            source: "rule:test".into(),
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
        // Extension goes on, but at the maximum window length the window is split.
        for i in 0..50 {
            p.alert(alert(110 * S + i * S / 10), 30 * S, 100 * S);
        }
        assert!(!p.needs_split(129 * S, |_| true));
        assert!(p.needs_split(130 * S, |_| true), "start + 60 s");
        p.split(130 * S);
        let w = p.due(1000 * S).expect("due");
        assert_eq!(w.end, 130 * S, "closed at start + 60 s");
        assert!(w.continued);
        assert_eq!(w.alerts.len(), 3);
        assert_eq!(w.alerts_not_kept, 49, "52 alerts, 3 kept");
        let part2 = p.due(1000 * S).expect("the rest of the window");
        assert_eq!((part2.part, part2.previous), (2, Some(w.id)));
        assert_eq!((part2.start, part2.end), (130 * S, 214 * S + 9 * S / 10));
        // Two captures within a minute are allowed, the third is not.
        for at in [216, 231] {
            assert!(matches!(
                p.alert(alert(at * S), 30 * S, 10 * S),
                Decision::Opened { .. }
            ));
            assert!(p.due((at + 14) * S).is_some());
        }
        assert_eq!(
            p.alert(alert(246 * S), 30 * S, 10 * S),
            Decision::RateLimited
        );
        // A minute later captures open again, carrying the count of refused alerts.
        assert!(matches!(
            p.alert(alert(301 * S), 30 * S, 10 * S),
            Decision::Opened { .. }
        ));
        assert_eq!(p.due(400 * S).expect("due").alerts_rate_limited, 1);
        assert!(p.due(401 * S).is_none());
    }

    /// A storm fills the cap and the rate limit; an operator's trigger is kept anyway,
    /// whether it lands in the open window or after it.
    #[test]
    fn operator_triggers_are_never_dropped_or_counted() {
        let mut p = Planner::new(2 * S, S, 60 * S, 1, 5);
        let operator = |at: u64| Alert {
            source: "cli".into(),
            received_boot_ns: at,
            summary: "operator".into(),
            ..Default::default()
        };
        for i in 0..500 {
            p.alert(alert(10 * S + i * S / 100), 2 * S, S);
        }
        assert!(matches!(
            p.alert(operator(12 * S), 2 * S, S),
            Decision::Extended { .. }
        ));
        // Past the window's end, rate limited for rules, but not for the operator.
        assert_eq!(p.alert(alert(20 * S), 2 * S, S), Decision::RateLimited);
        assert!(matches!(
            p.alert(operator(21 * S), 2 * S, S),
            Decision::Opened { .. }
        ));
        p.throttled("noisy (host)".into(), 1);
        let first = p.due(100 * S).expect("first");
        assert_eq!(first.alerts.len(), 6, "5 rule alerts and the operator's");
        assert_eq!(first.alerts_not_kept, 495);
        assert!(first.alerts.iter().any(|a| a.source == "cli"));
        let second = p.due(100 * S).expect("second");
        assert_eq!(second.alerts[0].source, "cli");
        assert_eq!(second.alerts_rate_limited, 1);
        assert_eq!(second.rules_throttled.get("noisy (host)"), Some(&1));
    }
}
