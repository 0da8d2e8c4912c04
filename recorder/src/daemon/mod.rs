//! `aftertrace-recorder run`: the node daemon. It records continuously into a rolling
//! buffer, takes alerts (HTTP webhooks, the control socket, SIGUSR1), plans one window per
//! alert (merged and rate limited in storms), and seals each window into a capture file on
//! a thread of its own while recording goes on.

pub mod alerts;
pub mod buffer;
pub mod control;
pub mod http;
pub mod seal;
pub mod upload;
pub mod windows;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::sync_channel,
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Result;
use capture_format::{Alert, EventBody};
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
    /// Records lost, by cause: in the kernel (ring_full, ...) and in the recorder
    /// (too_large, encode_failed).
    pub dropped: BTreeMap<String, u64>,
    /// The processes that lost the most records in the kernel: (pid, records), most
    /// first, at most LOST_BY_PID_SHOWN.
    pub lost_by_pid: Vec<(u32, u64)>,
    /// Failed reads of the kernel's ring or counters (retried; recording goes on).
    pub poll_errors: u64,
    pub alerts: u64,
    pub alerts_rate_limited: u64,
    /// Rule matches held back by the per rule and container throttle (counted on the
    /// capture that covers them).
    pub rules_throttled: u64,
    /// Windows sealed early (max_window, or the buffer about to evict their start) and
    /// continued in a linked capture.
    pub windows_split: u64,
    pub last_alert: Option<String>,
    pub open_window: Option<(u64, u64)>,
    pub captures: u64,
    pub captures_failed: u64,
    pub last_capture: Option<PathBuf>,
    pub captures_evicted: u64,
    /// Set when `[upload]` is configured.
    pub upload: Option<upload::UploadStats>,
    pub http_connections_refused: u64,
    pub http_requests_refused: u64,
    /// User plus system CPU time of the daemon, all threads.
    pub cpu_seconds: f64,
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
            "aftertrace_rules_throttled_total",
            "Rule matches held back by the per rule and container throttle (counted on the capture).",
            "counter",
            self.rules_throttled.to_string(),
        );
        metric(
            "aftertrace_windows_split_total",
            "Windows sealed early and continued in a linked capture.",
            "counter",
            self.windows_split.to_string(),
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
        metric(
            "aftertrace_poll_errors_total",
            "Failed reads of the kernel's ring or loss counters (retried).",
            "counter",
            self.poll_errors.to_string(),
        );
        metric(
            "aftertrace_buffer_bytes_max",
            "Cap on the rolling buffer's compressed bytes (fill = bytes / max).",
            "gauge",
            self.buffer_bytes_max.to_string(),
        );
        metric(
            "aftertrace_buffer_segments_evicted_total",
            "Rolling-buffer segments evicted (oldest first).",
            "counter",
            self.buffer_segments_evicted.to_string(),
        );
        metric(
            "aftertrace_captures_evicted_total",
            "Captures removed by the retention rules.",
            "counter",
            self.captures_evicted.to_string(),
        );
        metric(
            "aftertrace_http_connections_refused_total",
            "HTTP connections closed at once because the connection limit was reached.",
            "counter",
            self.http_connections_refused.to_string(),
        );
        metric(
            "aftertrace_http_requests_refused_total",
            "HTTP requests answered with a 4xx or 5xx.",
            "counter",
            self.http_requests_refused.to_string(),
        );
        metric(
            "aftertrace_cpu_seconds_total",
            "CPU time (user + system) of the recorder, all threads.",
            "counter",
            format!("{:.3}", self.cpu_seconds),
        );
        if let Some(u) = &self.upload {
            metric(
                "aftertrace_upload_queue_length",
                "Captures awaiting upload.",
                "gauge",
                u.queued.to_string(),
            );
            metric(
                "aftertrace_captures_uploaded_total",
                "Captures uploaded with their manifest.",
                "counter",
                u.uploaded.to_string(),
            );
            metric(
                "aftertrace_upload_bytes_total",
                "Bytes uploaded (captures and manifests).",
                "counter",
                u.uploaded_bytes.to_string(),
            );
            metric(
                "aftertrace_upload_failures_total",
                "Failed upload attempts (each is retried with backoff).",
                "counter",
                u.failures.to_string(),
            );
            metric(
                "aftertrace_upload_lost_total",
                "Captures removed by retention before they were uploaded.",
                "counter",
                u.lost.to_string(),
            );
        }
        out.push_str("# HELP aftertrace_dropped_total Records lost, by cause (kernel: ring_full, unreadable, scratch_full, regs_unreadable, data_lost; recorder: too_large, encode_failed).\n# TYPE aftertrace_dropped_total counter\n");
        for (cause, n) in &self.dropped {
            out.push_str(&format!(
                "aftertrace_dropped_total{{cause=\"{cause}\"}} {n}\n"
            ));
        }
        out.push_str(&format!("# HELP aftertrace_lost_records_by_pid Records lost in the kernel by the processes that lost the most (at most {LOST_BY_PID_SHOWN}).\n# TYPE aftertrace_lost_records_by_pid gauge\n"));
        for (pid, n) in &self.lost_by_pid {
            out.push_str(&format!(
                "aftertrace_lost_records_by_pid{{pid=\"{pid}\"}} {n}\n"
            ));
        }
        out
    }
}

pub type SharedStatus = Arc<Mutex<Status>>;

const POLL: Duration = Duration::from_millis(50);
/// Processes listed in the status and /metrics by records lost (the rest are in each
/// capture's drop ledger).
const LOST_BY_PID_SHOWN: usize = 10;
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
    // Created 0700; an existing one others can write to is refused (see safe_fs).
    crate::safe_fs::captures_dir(&cfg.captures_dir)?;

    let (tx, rx) = sync_channel::<Request>(1024);
    // Captures in place under their final name, counted by the sealing thread itself.
    let sealed_total = Arc::new(AtomicU64::new(0));
    let status: SharedStatus = Arc::new(Mutex::new(Status {
        buffer_bytes_max: cfg.buffer_bytes,
        ..Status::default()
    }));
    let http_counters = Arc::new(http::HttpCounters::default());
    http::serve(
        http::HttpSettings {
            addr: cfg.listen,
            token: cfg.token.clone(),
            max_body: cfg.max_request_bytes,
            captures_dir: cfg.captures_dir.clone(),
        },
        tx.clone(),
        Arc::clone(&status),
        Arc::clone(&http_counters),
    )?;
    let uploader = match &cfg.upload {
        Some(u) => Some(upload::Uploader::start(u, &cfg.captures_dir)?),
        None => None,
    };
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
    let mut lost_by_pid: Vec<(u32, u64)> = Vec::new();
    let mut last_rule_alert: HashMap<(String, String), Instant> = HashMap::new();
    // Capture file names by window id, so that a split window's next part names it.
    let mut sealed_names: BTreeMap<u64, String> = BTreeMap::new();
    let mut last_lost_by_pid = Instant::now();

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if let Err(e) = pipeline.poll(POLL, &mut |e| {
            buffer.push(e);
            Ok(())
        }) {
            // Reading the ring or the loss counters failed: never a reason to stop
            // recording; counted, logged (the first and then every 100th), retried.
            counts.poll_errors += 1;
            if counts.poll_errors % 100 == 1 {
                tracing::error!(
                    "reading the kernel's events failed ({} times so far), retrying: {e:#}",
                    counts.poll_errors
                );
            }
            std::thread::sleep(POLL);
        }
        if buffer.tick() {
            let processes = pipeline.state().processes;
            let clocks = pipeline.take_clocks();
            let (from, _) = buffer.range();
            let drops = pipeline.take_drops(from);
            buffer.roll(processes, clocks, drops);
        }

        // Built-in rules are throttled per rule and container: the first match in
        // `rule_throttle` is an alert, the rest are counted on the capture.
        let mut rule_alerts = Vec::new();
        let mut throttled_keys = Vec::new();
        let now_instant = Instant::now();
        for m in pipeline.take_rule_matches() {
            let cgroup = match &m.event.body {
                EventBody::Syscall(s) => s.cgroup_id,
                EventBody::Exec(x) => x.cgroup_id,
                EventBody::Fork(f) => f.cgroup_id,
                _ => 0,
            };
            let key = (m.rule.clone(), pipeline.container_of(cgroup));
            if last_rule_alert
                .get(&key)
                .is_some_and(|t: &Instant| now_instant.duration_since(*t) < cfg.rule_throttle)
            {
                counts.rules_throttled += 1;
                throttled_keys.push((format!("{} ({})", key.0, key.1), 1));
                continue;
            }
            last_rule_alert.insert(key, now_instant);
            rule_alerts.push(m);
        }
        for (rule, n) in pipeline.take_rule_overflow() {
            counts.rules_throttled += n;
            throttled_keys.push((format!("{rule} (queue full)"), n));
        }
        // Bounded: entries older than the throttle no longer hold anything back.
        if last_rule_alert.len() > 4096 {
            last_rule_alert.retain(|_, t| now_instant.duration_since(*t) < cfg.rule_throttle);
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
        for m in rule_alerts {
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

        for (key, n) in throttled_keys {
            planner.throttled(key, n);
        }

        // Storms: a window that reached max_window, or whose start the buffer is about
        // to evict, is sealed now and continues in a new capture that names it.
        let now_ts = clock::boot_ns();
        if planner.needs_split(now_ts, |start| buffer.keeps_safely(start, now_ts)) {
            planner.split(now_ts);
            counts.windows_split += 1;
            tracing::warn!(
                "a capture window reached max_window or the buffer's reach: sealed, continued in a linked capture"
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
                    if let Some(name) = path.file_name() {
                        sealed_names.insert(s.window.id, name.to_string_lossy().into_owned());
                        // Only the part that continues a window looks its predecessor up.
                        if sealed_names.len() > 64 {
                            if let Some(&oldest) = sealed_names.keys().next() {
                                sealed_names.remove(&oldest);
                            }
                        }
                    }
                    counts.captures = sealed_total.load(Ordering::Relaxed);
                    tracing::info!("sealed {}", path.display());
                    if let Some(u) = &uploader {
                        u.enqueue(path.clone());
                    }
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
                    let (from, _) = buffer.range();
                    buffer.add_drops(pipeline.take_drops(from));
                    let selection = buffer.select(window.start, window.end, pipeline.clocks());
                    let state = pipeline.state();
                    let job = seal::SealJob {
                        dir: cfg.captures_dir.clone(),
                        host: host.clone(),
                        received_realtime_ns: window.title_realtime_ns,
                        previous_capture: window
                            .previous
                            .and_then(|id| sealed_names.get(&id).cloned()),
                        window: window.clone(),
                        selection,
                        containers: state.containers,
                        users: state.users.clone(),
                        slow_per_chunk: slow,
                        published: {
                            let (sealed_total, status) =
                                (Arc::clone(&sealed_total), Arc::clone(&status));
                            Box::new(move |path| {
                                let n = sealed_total.fetch_add(1, Ordering::Relaxed) + 1;
                                if let Ok(mut s) = status.lock() {
                                    s.captures = n;
                                    s.last_capture = Some(path.to_path_buf());
                                }
                            })
                        },
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
        if last_lost_by_pid.elapsed() >= Duration::from_secs(1) {
            last_lost_by_pid = Instant::now();
            lost_by_pid = pipeline.lost_by_pid(LOST_BY_PID_SHOWN);
        }
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
                dropped: {
                    let mut d = pipeline.drop_counts_named();
                    for (cause, n) in &buffer.lost {
                        *d.entry(cause.clone()).or_default() += n;
                    }
                    d
                },
                lost_by_pid: lost_by_pid.clone(),
                open_window: planner.open_window().map(|w| (w.start, w.end)),
                upload: uploader.as_ref().map(upload::Uploader::stats),
                http_connections_refused: http_counters.connections_refused.load(Ordering::Relaxed),
                http_requests_refused: http_counters.requests_refused.load(Ordering::Relaxed),
                cpu_seconds: cpu_seconds(),
                ..counts.clone()
            };
        }

        if stopping && !planner.pending() && queue.is_empty() && sealing.is_none() {
            break;
        }
    }
    pipeline.finish(&mut |e| {
        buffer.push(e);
        Ok(())
    })?;
    let _ = std::fs::remove_file(&cfg.control_socket);
    Ok(())
}

/// This process's user plus system CPU time, from getrusage.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
