//! `aftertrace-recorder run`: the node daemon. It records continuously into a rolling
//! buffer, takes alerts (HTTP webhooks, the control socket, SIGUSR1), plans one window per
//! alert (merged and rate limited in storms), and seals each window into a capture file on
//! a thread of its own while recording goes on.

pub mod alerts;
pub mod buffer;
pub mod control;
pub mod http;
pub mod seal;
pub mod windows;

use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::sync_channel,
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use capture_format::Alert;
use serde::Serialize;

use crate::{clock, config::DaemonConfig, host, pipeline::Pipeline, probes::ProbeSettings};
use buffer::RollingBuffer;
use windows::{Decision, Planner, Window};

/// What the listener threads ask of the recording loop.
pub enum Request {
    Trigger {
        source: String,
        summary: String,
        /// The request exactly as received.
        payload: Vec<u8>,
        payload_time: Option<String>,
        /// Overrides of the configured window, from `trigger --before/--after`.
        before: Option<Duration>,
        after: Option<Duration>,
    },
}

/// What `status` and `/metrics` report; updated by the loop after every poll.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub buffer_bytes: u64,
    pub buffer_bytes_max: u64,
    pub buffer_chunks: usize,
    pub buffer_span_s: f64,
    pub buffer_segments_evicted: u64,
    pub events: u64,
    pub dropped: BTreeMap<String, u64>,
    pub alerts: u64,
    pub alerts_rate_limited: u64,
    pub last_alert: Option<String>,
    pub open_window: Option<(u64, u64)>,
    pub captures: u64,
    pub captures_failed: u64,
    pub last_capture: Option<PathBuf>,
    pub captures_evicted: u64,
}

impl Status {
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, kind: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "aftertrace_buffer_bytes",
            "Compressed bytes in the rolling buffer.",
            "gauge",
            self.buffer_bytes.to_string(),
        );
        metric(
            "aftertrace_buffer_span_seconds",
            "Time the rolling buffer reaches back.",
            "gauge",
            format!("{:.3}", self.buffer_span_s),
        );
        metric(
            "aftertrace_events_total",
            "Events recorded.",
            "counter",
            self.events.to_string(),
        );
        metric(
            "aftertrace_alerts_total",
            "Alerts received.",
            "counter",
            self.alerts.to_string(),
        );
        metric(
            "aftertrace_alerts_rate_limited_total",
            "Alerts that found new captures rate limited.",
            "counter",
            self.alerts_rate_limited.to_string(),
        );
        metric(
            "aftertrace_captures_total",
            "Captures sealed.",
            "counter",
            self.captures.to_string(),
        );
        metric(
            "aftertrace_captures_failed_total",
            "Seals that failed (and were retried).",
            "counter",
            self.captures_failed.to_string(),
        );
        out.push_str("# HELP aftertrace_dropped_total Losses counted in the kernel, by cause.\n# TYPE aftertrace_dropped_total counter\n");
        for (cause, n) in &self.dropped {
            out.push_str(&format!(
                "aftertrace_dropped_total{{cause=\"{cause}\"}} {n}\n"
            ));
        }
        out
    }
}

pub type SharedStatus = Arc<Mutex<Status>>;

const POLL: Duration = Duration::from_millis(50);
/// A failed seal (disk full...) is retried this often while its record is still buffered.
const SEAL_RETRY: Duration = Duration::from_secs(5);

/// Test-only: milliseconds to pause per chunk while sealing, to let kill -9 land mid-seal.
const SLOW_SEAL_ENV: &str = "AFTERTRACE_TEST_SLOW_SEAL_MS";

struct Sealing {
    window: Window,
    thread: JoinHandle<Result<PathBuf>>,
}

pub fn run(
    cfg: DaemonConfig,
    stop: Arc<AtomicBool>,
    signal_trigger: Arc<AtomicBool>,
    on_ready: impl FnOnce(),
) -> Result<()> {
    let mut pipeline = Pipeline::start(&ProbeSettings {
        snaplen: cfg.snaplen,
        payload_cap: cfg.payload_cap.min(u32::MAX as u64) as u32,
        ..ProbeSettings::default()
    })?;
    let settings = BTreeMap::from([
        ("mode".to_owned(), "daemon".to_owned()),
        ("snaplen".to_owned(), cfg.snaplen.to_string()),
        ("payload_cap".to_owned(), cfg.payload_cap.to_string()),
        ("before".to_owned(), format!("{:?}", cfg.before)),
        ("after".to_owned(), format!("{:?}", cfg.after)),
        ("buffer_span".to_owned(), format!("{:?}", cfg.buffer_span)),
        ("buffer_bytes".to_owned(), cfg.buffer_bytes.to_string()),
    ]);
    let rules = crate::rules::RuleSet::load(cfg.rules.as_deref())?;
    let rule_names: Vec<String> = rules
        .iter()
        .flat_map(|r| r.rules().iter().map(|r| r.name.clone()))
        .collect();
    pipeline.set_rules(rules);
    let mut settings = settings;
    settings.insert("rules".to_owned(), rule_names.join("; "));
    let host = host::host_info(settings);
    let mut buffer = RollingBuffer::new(
        cfg.buffer_span,
        cfg.buffer_bytes,
        pipeline.state().processes,
    );
    std::fs::create_dir_all(&cfg.captures_dir).with_context(|| {
        format!(
            "creating the captures directory {}",
            cfg.captures_dir.display()
        )
    })?;

    let (tx, rx) = sync_channel::<Request>(1024);
    let status: SharedStatus = Arc::new(Mutex::new(Status {
        buffer_bytes_max: cfg.buffer_bytes,
        ..Status::default()
    }));
    http::serve(
        cfg.listen,
        cfg.token.clone(),
        cfg.max_request_bytes,
        tx.clone(),
        Arc::clone(&status),
    )?;
    control::serve(&cfg.control_socket, tx, Arc::clone(&status))?;
    tracing::info!(
        "recording; alerts on http://{}/alerts, control socket {}, captures in {}",
        cfg.listen,
        cfg.control_socket.display(),
        cfg.captures_dir.display()
    );
    on_ready();

    let ns = |d: Duration| d.as_nanos() as u64;
    let mut planner = Planner::new(
        ns(cfg.before),
        ns(cfg.after),
        ns(cfg.max_window),
        cfg.max_captures_per_minute,
        cfg.max_alerts_per_capture,
    );
    let slow = std::env::var(SLOW_SEAL_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let mut queue: VecDeque<(Window, Instant)> = VecDeque::new();
    let mut sealing: Option<Sealing> = None;
    let mut counts = Status::default();

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        pipeline.poll(POLL, &mut |e| buffer.push(e))?;
        if buffer.tick()? {
            let processes = pipeline.state().processes;
            let clocks = pipeline.take_clocks();
            let (from, _) = buffer.range();
            let drops = pipeline.take_drops(from);
            buffer.roll(processes, clocks, drops)?;
        }

        // Alerts.
        let mut take = |source: String,
                        summary: String,
                        payload: Vec<u8>,
                        payload_time: Option<String>,
                        before: Option<Duration>,
                        after: Option<Duration>| {
            let alert = Alert {
                source,
                received_boot_ns: clock::boot_ns(),
                received_realtime_ns: clock::pair().realtime_ns,
                payload_time,
                summary,
                payload,
            };
            counts.alerts += 1;
            counts.last_alert = Some(format!("{}: {}", alert.source, alert.summary));
            let decision = planner.alert(
                alert,
                before.map_or(planner.before, ns),
                after.map_or(planner.after, ns),
            );
            match decision {
                Decision::Opened { .. } => tracing::info!(
                    "alert opened a capture window: {}",
                    counts.last_alert.as_deref().unwrap_or("")
                ),
                Decision::Extended { .. } => tracing::debug!("alert extended the open window"),
                Decision::RateLimited => {
                    counts.alerts_rate_limited += 1;
                    tracing::warn!("alert rate limited (counted in the next capture)");
                }
            }
        };
        while let Ok(Request::Trigger {
            source,
            summary,
            payload,
            payload_time,
            before,
            after,
        }) = rx.try_recv()
        {
            take(source, summary, payload, payload_time, before, after);
        }
        for m in pipeline.take_rule_matches() {
            let payload = serde_json::json!({
                "rule": m.rule,
                "priority": m.priority,
                "event": m.event,
            });
            take(
                format!("rule:{}", m.rule),
                format!("{} ({})", m.rule, m.priority),
                payload.to_string().into_bytes(),
                None,
                None,
                None,
            );
        }
        if signal_trigger.swap(false, Ordering::Relaxed) {
            take(
                "signal".into(),
                "SIGUSR1".into(),
                b"SIGUSR1".to_vec(),
                None,
                None,
                None,
            );
        }

        // Windows whose end the record has reached (events are released 50 ms late).
        let now = clock::boot_ns().saturating_sub(100_000_000);
        if let Some(w) = planner.due(if stopping { u64::MAX } else { now }) {
            queue.push_back((w, Instant::now()));
        }
        if let Some(s) = sealing.take_if(|s| s.thread.is_finished()) {
            match s.thread.join() {
                Ok(Ok(path)) => {
                    counts.captures += 1;
                    tracing::info!("sealed {}", path.display());
                    counts.last_capture = Some(path);
                    match seal::enforce_retention(
                        &cfg.captures_dir,
                        cfg.max_captures_bytes,
                        cfg.max_captures,
                    ) {
                        Ok(removed) => {
                            for r in &removed {
                                tracing::warn!("retention: removed {}", r.display());
                            }
                            counts.captures_evicted += removed.len() as u64;
                        }
                        Err(e) => tracing::error!("retention: {e:#}"),
                    }
                }
                Ok(Err(e)) => {
                    counts.captures_failed += 1;
                    tracing::error!("sealing failed, retrying in {SEAL_RETRY:?} while the record is buffered: {e:#}");
                    queue.push_front((s.window, Instant::now() + SEAL_RETRY));
                }
                Err(_) => tracing::error!("the sealing thread panicked"),
            }
        }
        if sealing.is_none() {
            if let Some((window, at)) = queue.pop_front() {
                if at > Instant::now() && !stopping {
                    queue.push_front((window, at));
                } else {
                    let selection = buffer.select(window.start, window.end, pipeline.clocks())?;
                    let state = pipeline.state();
                    let job = seal::SealJob {
                        dir: cfg.captures_dir.clone(),
                        host: host.clone(),
                        received_realtime_ns: window
                            .alerts
                            .first()
                            .map_or(0, |a| a.received_realtime_ns),
                        window: window.clone(),
                        selection,
                        containers: state.containers,
                        users: state.users.clone(),
                        slow_per_chunk: slow,
                        signing_key: cfg.signing_key.clone(),
                    };
                    let thread = std::thread::Builder::new()
                        .name("seal".into())
                        .spawn(move || seal::seal(job))?;
                    sealing = Some(Sealing { window, thread });
                }
            }
        }

        // Status for `status` and /metrics.
        let (from, to) = buffer.range();
        let totals = pipeline.totals();
        if let Ok(mut s) = status.lock() {
            *s = Status {
                buffer_bytes: buffer.bytes(),
                buffer_bytes_max: cfg.buffer_bytes,
                buffer_chunks: buffer.chunks(),
                buffer_span_s: to.saturating_sub(from) as f64 / 1e9,
                buffer_segments_evicted: buffer.evicted,
                events: totals.events,
                dropped: pipeline.drop_counts_named(),
                open_window: planner.open_window().map(|w| (w.start, w.end)),
                ..counts.clone()
            };
        }

        if stopping && planner.open_window().is_none() && queue.is_empty() && sealing.is_none() {
            break;
        }
    }
    let mut flush_err = Ok(());
    pipeline.finish(&mut |e| {
        if flush_err.is_ok() {
            flush_err = buffer.push(e);
        }
        Ok(())
    })?;
    flush_err?;
    let _ = std::fs::remove_file(&cfg.control_socket);
    Ok(())
}
