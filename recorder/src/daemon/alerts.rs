//! Alerts from the outside world: Falco's `http_output` (one alert per request),
//! Falcosidekick's webhook (the same shape plus its own fields) and Prometheus
//! Alertmanager's webhook (version 4, firing alerts only). Unknown fields are tolerated,
//! keys may come in any order; the body is kept verbatim.

use serde_json::Value;

/// Which format a request body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Falco,
    Falcosidekick,
    Alertmanager,
}

/// An alert as parsed: what the capture keeps besides the verbatim body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub format: Format,
    /// One line: the rule (Falco) or the alert names (Alertmanager).
    pub summary: String,
    /// The time the payload claims for itself, as sent.
    pub payload_time: Option<String>,
}

/// Why a body is not an alert we take; shown to the sender with a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("unrecognized alert: expected a Falco alert (with \"rule\" and \"output\") or an Alertmanager webhook (with \"version\": \"4\" and \"alerts\")")]
    Unrecognized,
    #[error("not a Falco alert: {0}")]
    NotFalco(&'static str),
    #[error("not an Alertmanager v4 webhook: {0}")]
    NotAlertmanager(String),
    /// A valid Alertmanager payload whose alerts are all resolved: nothing to capture.
    #[error("no firing alerts in the Alertmanager payload")]
    NothingFiring,
}

fn parse_json(body: &[u8]) -> Result<Value, AlertError> {
    serde_json::from_slice(body).map_err(|e| AlertError::NotJson(e.to_string()))
}

/// Auto-detects the format (`POST /alerts`).
pub fn parse_any(body: &[u8]) -> Result<Parsed, AlertError> {
    let v = parse_json(body)?;
    if v.get("alerts").is_some() && v.get("version").is_some() {
        alertmanager(&v)
    } else if v.get("rule").is_some() && v.get("output").is_some() {
        falco(&v)
    } else {
        Err(AlertError::Unrecognized)
    }
}

/// `POST /alerts/falco`: Falco or Falcosidekick.
pub fn parse_falco(body: &[u8]) -> Result<Parsed, AlertError> {
    falco(&parse_json(body)?)
}

/// `POST /alerts/alertmanager`.
pub fn parse_alertmanager(body: &[u8]) -> Result<Parsed, AlertError> {
    alertmanager(&parse_json(body)?)
}

fn falco(v: &Value) -> Result<Parsed, AlertError> {
    let rule = v["rule"]
        .as_str()
        .ok_or(AlertError::NotFalco("\"rule\" must be a string"))?;
    if !v["output"].is_string() {
        return Err(AlertError::NotFalco("\"output\" must be a string"));
    }
    // Falcosidekick adds a uuid (and hostname, tags) to Falco's own fields.
    let format = if v.get("uuid").is_some() {
        Format::Falcosidekick
    } else {
        Format::Falco
    };
    let priority = v["priority"].as_str().unwrap_or("");
    Ok(Parsed {
        format,
        summary: if priority.is_empty() {
            rule.to_owned()
        } else {
            format!("{rule} ({priority})")
        },
        payload_time: v["time"].as_str().map(str::to_owned),
    })
}

fn alertmanager(v: &Value) -> Result<Parsed, AlertError> {
    let version = v["version"].as_str().unwrap_or_default();
    if version != "4" {
        return Err(AlertError::NotAlertmanager(format!(
            "version {:?}, expected \"4\"",
            v["version"]
        )));
    }
    let alerts = v["alerts"]
        .as_array()
        .ok_or_else(|| AlertError::NotAlertmanager("\"alerts\" must be a list".into()))?;
    let firing: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["status"].as_str().unwrap_or("firing") == "firing")
        .collect();
    if firing.is_empty() {
        return Err(AlertError::NothingFiring);
    }
    let mut names: Vec<&str> = firing
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap_or("unnamed"))
        .collect();
    names.dedup();
    Ok(Parsed {
        format: Format::Alertmanager,
        summary: names.join(", "),
        payload_time: firing
            .iter()
            .filter_map(|a| a["startsAt"].as_str())
            .min()
            .map(str::to_owned),
    })
}

impl Format {
    pub fn source(self) -> &'static str {
        match self {
            Format::Falco => "falco",
            Format::Falcosidekick => "falcosidekick",
            Format::Alertmanager => "alertmanager",
        }
    }
}

/// A file-name-safe slug of an alert summary: lowercase ASCII letters, digits and dashes,
/// at most 40 bytes, never empty.
pub fn slug(summary: &str) -> String {
    let mut out = String::new();
    for c in summary.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "alert".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Falco's documented http_output sample.
    pub const FALCO_SAMPLE: &str = r#"{"hostname":"node-1","output":"16:31:56.746609046: Notice A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 k8s.ns=<NA> k8s.pod=<NA> container=1c5e6f3c5a9b shell=sh parent=runc cmdline=sh -c ls terminal=34816 container_id=1c5e6f3c5a9b image=alpine)","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","mitre_execution","shell"],"time":"2021-06-11T16:31:56.746609046Z","output_fields":{"container.id":"1c5e6f3c5a9b","container.image.repository":"alpine","evt.time":1623429116746609046,"proc.cmdline":"sh -c ls","proc.name":"sh","user.name":"root"}}"#;

    const ALERTMANAGER_SAMPLE: &str = r#"{"receiver":"aftertrace","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighCPU","instance":"node-1"},"annotations":{"summary":"CPU high"},"startsAt":"2024-01-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"abc"},{"status":"resolved","labels":{"alertname":"DiskFull"},"startsAt":"2023-12-31T10:00:00Z"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","version":"4","groupKey":"{}:{}","truncatedAlerts":0}"#;

    #[test]
    fn detects_falco_and_sidekick() {
        let p = parse_any(FALCO_SAMPLE.as_bytes()).expect("falco");
        assert_eq!(p.format, Format::Falco);
        assert_eq!(p.summary, "Terminal shell in container (Notice)");
        assert_eq!(
            p.payload_time.as_deref(),
            Some("2021-06-11T16:31:56.746609046Z")
        );
        let sidekick = FALCO_SAMPLE.replacen('{', r#"{"uuid":"42","extra":{"x":1},"#, 1);
        assert_eq!(
            parse_any(sidekick.as_bytes()).expect("sidekick").format,
            Format::Falcosidekick
        );
        assert_eq!(
            parse_falco(sidekick.as_bytes()).expect("explicit").format,
            Format::Falcosidekick
        );
    }

    #[test]
    fn takes_firing_alertmanager_alerts_only() {
        let p = parse_any(ALERTMANAGER_SAMPLE.as_bytes()).expect("alertmanager");
        assert_eq!(p.format, Format::Alertmanager);
        assert_eq!(p.summary, "HighCPU");
        assert_eq!(p.payload_time.as_deref(), Some("2024-01-01T10:00:00Z"));
        let resolved = ALERTMANAGER_SAMPLE.replace(
            r#""status":"firing","labels""#,
            r#""status":"resolved","labels""#,
        );
        assert_eq!(
            parse_alertmanager(resolved.as_bytes()),
            Err(AlertError::NothingFiring)
        );
        let v3 = ALERTMANAGER_SAMPLE.replace(r#""version":"4""#, r#""version":"3""#);
        assert!(matches!(
            parse_alertmanager(v3.as_bytes()),
            Err(AlertError::NotAlertmanager(_))
        ));
    }

    #[test]
    fn rejects_what_is_not_an_alert() {
        assert!(matches!(
            parse_any(b"{not json"),
            Err(AlertError::NotJson(_))
        ));
        assert_eq!(parse_any(br#"{"hello":1}"#), Err(AlertError::Unrecognized));
        assert_eq!(parse_any(b"[]"), Err(AlertError::Unrecognized));
        assert!(matches!(
            parse_falco(br#"{"rule":5,"output":"x"}"#),
            Err(AlertError::NotFalco(_))
        ));
    }

    #[test]
    fn slugs_are_safe() {
        assert_eq!(
            slug("Terminal shell in container (Notice)"),
            "terminal-shell-in-container-notice"
        );
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(slug("¡¿!!"), "alert");
        assert!(slug(&"a".repeat(500)).len() <= 40);
    }
}
