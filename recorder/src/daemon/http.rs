//! The HTTP listener: `POST /alerts` (auto-detected), `/alerts/falco`,
//! `/alerts/alertmanager`, `GET /metrics` (Prometheus text format), `GET /captures` (JSON
//! list) and `GET /captures/NAME` (the file, streamed). Loopback by default, optional bearer
//! token on every path.
//!
//! The node is hostile and the listener is the daemon's front door, so every resource a
//! client can hold is bounded (hyper on a tokio runtime of its own thread, one task per
//! connection, so a slow or hostile client only ever holds its own task):
//! - a declared `Content-Length` over `max_request_bytes` is refused (413) before one body
//!   byte is read; a chunked body is read at most one byte past the limit;
//! - at most [`MAX_HEADERS`] headers and [`MAX_HEAD_BYTES`] of request head (431 beyond);
//! - the request head must arrive within [`HEAD_TIMEOUT`] (also the idle time a kept-alive
//!   connection may wait for its next request), the body within [`BODY_TIMEOUT`] (408);
//! - a client that stops reading its response (a download of a capture) is dropped once no
//!   byte could be written for [`WRITE_STALL_TIMEOUT`];
//! - at most [`MAX_CONNECTIONS`] connections at once; beyond, new ones are closed at once
//!   (counted in `/metrics`), so memory stays bounded under a connection flood.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::SyncSender,
        Arc,
    },
    time::Duration,
};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body_util::{combinators::BoxBody, BodyExt as _, Full, Limited, StreamBody};
use hyper::{
    body::{Frame, Incoming},
    header::{self, HeaderValue},
    Method, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;

use super::{
    alerts::{self, AlertError, Parsed},
    Request, SharedStatus,
};

/// Headers per request at most (a header flood gets 431).
pub const MAX_HEADERS: usize = 100;
/// Bytes of request line plus headers at most (a 1 MB header line gets 431). hyper's
/// smallest read buffer is 8 KiB.
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// The request head (or, on a kept-alive connection, the next request) must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// A response that cannot make progress this long (the client stopped reading) is dropped.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 512;

/// What the listener needs, owned by its thread.
pub struct HttpSettings {
    pub addr: SocketAddr,
    pub token: Option<String>,
    pub max_body: u64,
    /// Served by `GET /captures`.
    pub captures_dir: PathBuf,
}

/// Counters of the listener itself, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct HttpCounters {
    pub connections_refused: AtomicU64,
    pub requests_refused: AtomicU64,
}

type Body = BoxBody<Bytes, std::io::Error>;
type Response = hyper::Response<Body>;

struct Shared {
    settings: HttpSettings,
    requests: SyncSender<Request>,
    status: SharedStatus,
    counters: Arc<HttpCounters>,
}

/// Binds `settings.addr` (an error here is the caller's: a port in use stops the daemon
/// before it claims to record) and serves on a thread of its own.
pub fn serve(
    settings: HttpSettings,
    requests: SyncSender<Request>,
    status: SharedStatus,
    counters: Arc<HttpCounters>,
) -> Result<()> {
    let addr = settings.addr;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    listener
        .set_nonblocking(true)
        .with_context(|| format!("listening on {addr}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let shared = Arc::new(Shared {
        settings,
        requests,
        status,
        counters,
    });
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || runtime.block_on(accept_loop(listener, shared)))?;
    Ok(())
}

async fn accept_loop(listener: std::net::TcpListener, shared: Arc<Shared>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("the HTTP listener cannot run: {e}");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning; the listener stays.
                tracing::warn!("accepting an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            shared
                .counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(respond(&shared, req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_headers(MAX_HEADERS)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(StallGuard::new(stream), service);
            if let Err(e) = conn.await {
                // Head too large, too many headers, timeouts: hyper has answered (431, 408)
                // where HTTP allows it; the rest is a client that went away.
                tracing::debug!("HTTP connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
}

/// The connection's socket, failing a write that has been blocked (the client's window
/// closed) for [`WRITE_STALL_TIMEOUT`]: hyper has no write timeout of its own, and a
/// client reading one byte a minute must not hold a connection and a file forever.
struct StallGuard {
    io: TokioIo<tokio::net::TcpStream>,
    stall: std::pin::Pin<Box<tokio::time::Sleep>>,
    blocked: bool,
}

impl StallGuard {
    fn new(stream: tokio::net::TcpStream) -> Self {
        StallGuard {
            io: TokioIo::new(stream),
            stall: Box::pin(tokio::time::sleep(WRITE_STALL_TIMEOUT)),
            blocked: false,
        }
    }
}

impl hyper::rt::Read for StallGuard {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for StallGuard {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::{future::Future as _, task::Poll};
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.blocked = false;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !this.blocked {
                    this.blocked = true;
                    this.stall
                        .as_mut()
                        .reset(tokio::time::Instant::now() + WRITE_STALL_TIMEOUT);
                }
                match this.stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).map_err(|e| match e {}).boxed()
}

fn json_response(code: StatusCode, body: String) -> Response {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(code: StatusCode, msg: &str) -> Response {
    json_response(code, serde_json::json!({ "error": msg }).to_string())
}

async fn respond(shared: &Shared, req: hyper::Request<Incoming>, peer: SocketAddr) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = route(shared, req).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        shared
            .counters
            .requests_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "{method} {path} from {peer} -> {}",
            response.status().as_u16()
        );
    }
    response
}

async fn route(shared: &Shared, req: hyper::Request<Incoming>) -> Response {
    let settings = &shared.settings;
    if let Some(token) = &settings.token {
        let expected = format!("Bearer {token}");
        let ok = req
            .headers()
            .get_all(header::AUTHORIZATION)
            .iter()
            .any(|v| v.as_bytes() == expected.as_bytes());
        if !ok {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => {
            let text = match shared.status.lock() {
                Ok(s) => s.prometheus(),
                Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "status unavailable"),
            };
            let mut r = hyper::Response::new(full(text));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (&Method::POST, "/alerts" | "/alerts/falco" | "/alerts/alertmanager") => {
            match read_body(req, settings.max_body).await {
                Ok(body) => take_alert(shared, &path, body),
                Err(r) => r,
            }
        }
        (&Method::POST, "/trigger") => match read_body(req, settings.max_body).await {
            Ok(body) => take_trigger(shared, body).await,
            Err(r) => r,
        },
        (&Method::GET, "/captures") => {
            let dir = settings.captures_dir.clone();
            match tokio::task::spawn_blocking(move || list_captures(&dir)).await {
                Ok(Ok(list)) => json_response(
                    StatusCode::OK,
                    serde_json::to_string(&list).unwrap_or_default(),
                ),
                Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
                Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "listing failed"),
            }
        }
        (&Method::GET, p) if p.starts_with("/captures/") => {
            send_capture(&settings.captures_dir, &p["/captures/".len()..]).await
        }
        (
            _,
            "/alerts" | "/alerts/falco" | "/alerts/alertmanager" | "/trigger" | "/metrics"
            | "/captures",
        ) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "unknown path (POST /alerts, /alerts/falco, /alerts/alertmanager, /trigger; GET /metrics, \
             /captures, /captures/NAME)",
        ),
    }
}

/// The body, or the response that refuses it.
async fn read_body(req: hyper::Request<Incoming>, max_body: u64) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body larger than {max_body} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before reading: hyper reads a body only when it is polled, so the client's
    // 100 MB stay in its socket (and hyper closes the connection rather than drain them).
    if declared.is_some_and(|n| n > max_body) {
        return Err(too_large());
    }
    let limited = Limited::new(req.into_body(), max_body as usize);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            &format!("the body did not arrive within {BODY_TIMEOUT:?}"),
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("reading the body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn take_alert(shared: &Shared, path: &str, body: Bytes) -> Response {
    let parsed = match path {
        "/alerts/falco" => alerts::parse_falco(&body),
        "/alerts/alertmanager" => alerts::parse_alertmanager(&body),
        _ => alerts::parse_any(&body),
    };
    match parsed {
        Ok(Parsed {
            format,
            summary,
            payload_time,
        }) => {
            let sent = shared.requests.try_send(Request::Trigger {
                source: format.source().into(),
                summary,
                payload: body.to_vec(),
                payload_time,
                before: None,
                after: None,
            });
            match sent {
                Ok(()) => json_response(StatusCode::ACCEPTED, r#"{"accepted":true}"#.into()),
                Err(_) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many alerts queued; retry later",
                ),
            }
        }
        Err(AlertError::NothingFiring) => json_response(
            StatusCode::OK,
            r#"{"accepted":false,"reason":"no firing alerts"}"#.into(),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `POST /trigger`: an operator's trigger over HTTP, as `aftertrace-recorder trigger` over
/// the control socket: a JSON object with optional `reason`, `before_s`, `after_s` (an
/// empty body is a trigger with the default reason and windows). Like every operator
/// trigger it is never rate limited, capped or dropped: it waits for room in the queue
/// (on a blocking thread, so the listener's other clients never wait) instead of a 503.
async fn take_trigger(shared: &Shared, body: Bytes) -> Response {
    let req: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the trigger body must be a JSON object",
                )
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("not JSON: {e}")),
        }
    };
    let secs = |k: &str| -> Result<Option<Duration>, Response> {
        match &req[k] {
            serde_json::Value::Null => Ok(None),
            v => v
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .map(|s| Some(Duration::from_secs_f64(s)))
                .ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        &format!("{k} must be a number of seconds from 0 to 86400"),
                    )
                }),
        }
    };
    let (before, after) = match (secs("before_s"), secs("after_s")) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let reason = req["reason"]
        .as_str()
        .unwrap_or("manual trigger (HTTP)")
        .to_owned();
    let requests = shared.requests.clone();
    let request = Request::Trigger {
        source: "trigger".into(),
        summary: reason,
        payload: body.to_vec(),
        payload_time: None,
        before,
        after,
    };
    match tokio::task::spawn_blocking(move || requests.send(request).is_ok()).await {
        Ok(true) => json_response(StatusCode::ACCEPTED, r#"{"accepted":true}"#.into()),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    }
}

/// One capture in `GET /captures`.
#[derive(Debug, Serialize)]
pub struct CaptureEntry {
    pub name: String,
    pub size: u64,
    /// From the `.sha256` manifest beside it (null if missing).
    pub sha256: Option<String>,
    /// File modification time, RFC 3339 UTC.
    pub modified: Option<String>,
    /// First and last event time of the capture, RFC 3339 UTC.
    pub window: Option<(String, String)>,
    /// Summaries of the alerts stored in it (source: summary).
    pub alerts: Vec<String>,
    /// Whether the upload (when configured) stored it and its manifest.
    pub uploaded: bool,
    /// Why the file could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn rfc3339(realtime_ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(realtime_ns)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Every sealed capture in `dir`, oldest first.
pub fn list_captures(dir: &Path) -> Result<Vec<CaptureEntry>> {
    let mut files: Vec<(std::time::SystemTime, PathBuf, u64)> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "atcap"))
        .filter_map(|e| {
            // symlink_metadata: a link planted in the directory is not a capture.
            let m = e.path().symlink_metadata().ok()?;
            if !m.is_file() {
                return None;
            }
            Some((m.modified().ok()?, e.path(), m.len()))
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|(modified, path, size)| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sha256 = std::fs::read_to_string(super::upload::manifest_path(&path))
                .ok()
                .and_then(|t| t.split_whitespace().next().map(str::to_owned));
            let mut entry = CaptureEntry {
                name,
                size,
                sha256,
                modified: modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| rfc3339(d.as_nanos() as i64)),
                window: None,
                alerts: Vec::new(),
                uploaded: super::upload::is_uploaded(&path),
                error: None,
            };
            match capture_format::CaptureReader::open(&path) {
                Ok(reader) => {
                    let meta = reader.metadata();
                    entry.alerts = meta
                        .alerts
                        .iter()
                        .map(|a| format!("{}: {}", a.source, a.summary))
                        .collect();
                    let first = reader.chunks().iter().map(|c| c.first_ts).min();
                    let last = reader.chunks().iter().map(|c| c.last_ts).max();
                    if let (Some(first), Some(last), Some(pair)) =
                        (first, last, meta.clocks.first())
                    {
                        let real = |boot: u64| {
                            pair.realtime_ns
                                .saturating_add(boot as i64 - pair.boot_ns as i64)
                        };
                        entry.window = Some((rfc3339(real(first)), rfc3339(real(last))));
                    }
                }
                Err(e) => entry.error = Some(e.to_string()),
            }
            entry
        })
        .collect())
}

/// Names `GET /captures/NAME` serves: a capture or its manifest, a plain name in the
/// directory (no path separators, no dot files), nothing else.
fn servable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && (name.ends_with(".atcap") || name.ends_with(".atcap.sha256"))
}

async fn send_capture(dir: &Path, name: &str) -> Response {
    let name = match percent_decode(name) {
        Some(n) if servable(&n) => n,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not a capture name (NAME.atcap or NAME.atcap.sha256, as GET /captures lists)",
            )
        }
    };
    let path = dir.join(&name);
    // O_NOFOLLOW: a link planted in the captures directory is never served.
    let file = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
        })
        .await
    };
    let file = match file {
        Ok(Ok(f)) => f,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return error(StatusCode::NOT_FOUND, &format!("no capture {name}"))
        }
        Ok(Err(e)) => return error(StatusCode::FORBIDDEN, &format!("opening {name}: {e}")),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "opening failed"),
    };
    let len = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => return error(StatusCode::NOT_FOUND, &format!("{name} is not a file")),
    };
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let body = StreamBody::new(stream.map_ok(Frame::data)).boxed();
    let mut r = hyper::Response::new(body);
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if name.ends_with(".sha256") {
            "text/plain"
        } else {
            "application/octet-stream"
        }),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `%XX` escapes decoded; None for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_capture_names_are_servable() {
        assert!(servable("node-20240501T100000Z-x.atcap"));
        assert!(servable("node-20240501T100000Z-x.atcap.sha256"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b.atcap",
            ".hidden.atcap",
            "x.atcap.partial",
            "x.atcap.uploaded",
            "control.sock",
        ] {
            assert!(!servable(bad), "{bad:?}");
        }
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert!(!servable(&percent_decode("..%2Fx.atcap").unwrap()));
        assert_eq!(percent_decode("%zz"), None);
    }
}
