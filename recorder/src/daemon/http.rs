//! The HTTP listener: `POST /alerts` (auto-detected), `/alerts/falco`,
//! `/alerts/alertmanager`, and `GET /metrics` (Prometheus text format). Loopback by default,
//! optional bearer token, bounded bodies, a clear 4xx for anything it cannot take.

use std::{io::Read, net::SocketAddr, sync::mpsc::SyncSender};

use anyhow::{anyhow, Result};
use tiny_http::{Header, Method, Response, Server};

use super::{
    alerts::{self, AlertError, Parsed},
    Request, SharedStatus,
};

pub fn serve(
    addr: SocketAddr,
    token: Option<String>,
    max_body: u64,
    requests: SyncSender<Request>,
    status: SharedStatus,
) -> Result<()> {
    let server = Server::http(addr).map_err(|e| anyhow!("listening on {addr}: {e}"))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for mut req in server.incoming_requests() {
                let (code, body) = handle(&mut req, token.as_deref(), max_body, &requests, &status);
                if code >= 400 {
                    tracing::warn!("{} {} -> {code}: {body}", req.method(), req.url());
                }
                let content_type = if req.url() == "/metrics" {
                    "text/plain; version=0.0.4"
                } else {
                    "application/json"
                };
                let header =
                    Header::from_bytes("Content-Type", content_type).expect("static header");
                let _ = req.respond(
                    Response::from_string(body)
                        .with_status_code(code)
                        .with_header(header),
                );
            }
        })?;
    Ok(())
}

fn error(code: u16, msg: &str) -> (u16, String) {
    (code, serde_json::json!({ "error": msg }).to_string())
}

fn handle(
    req: &mut tiny_http::Request,
    token: Option<&str>,
    max_body: u64,
    requests: &SyncSender<Request>,
    status: &SharedStatus,
) -> (u16, String) {
    if let Some(token) = token {
        let expected = format!("Bearer {token}");
        let ok = req
            .headers()
            .iter()
            .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
        if !ok {
            return error(401, "missing or wrong bearer token");
        }
    }
    let url = req.url().split('?').next().unwrap_or_default().to_owned();
    match (req.method(), url.as_str()) {
        (Method::Get, "/metrics") => match status.lock() {
            Ok(s) => (200, s.prometheus()),
            Err(_) => error(500, "status unavailable"),
        },
        (Method::Post, "/alerts" | "/alerts/falco" | "/alerts/alertmanager") => {
            if req.body_length().is_some_and(|n| n as u64 > max_body) {
                return error(413, &format!("body larger than {max_body} bytes"));
            }
            let mut body = Vec::new();
            // One byte more than allowed tells a chunked body that is too large.
            if let Err(e) = req.as_reader().take(max_body + 1).read_to_end(&mut body) {
                return error(400, &format!("reading the body: {e}"));
            }
            if body.len() as u64 > max_body {
                return error(413, &format!("body larger than {max_body} bytes"));
            }
            let parsed = match url.as_str() {
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
                    let sent = requests.try_send(Request::Trigger {
                        source: format.source().into(),
                        summary,
                        payload: body,
                        payload_time,
                        before: None,
                        after: None,
                    });
                    match sent {
                        Ok(()) => (202, r#"{"accepted":true}"#.into()),
                        Err(_) => error(503, "too many alerts queued; retry later"),
                    }
                }
                Err(AlertError::NothingFiring) => (
                    200,
                    r#"{"accepted":false,"reason":"no firing alerts"}"#.into(),
                ),
                Err(e) => error(400, &e.to_string()),
            }
        }
        (_, "/alerts" | "/alerts/falco" | "/alerts/alertmanager" | "/metrics") => {
            error(405, "method not allowed")
        }
        _ => error(
            404,
            "unknown path (POST /alerts, /alerts/falco, /alerts/alertmanager; GET /metrics)",
        ),
    }
}
