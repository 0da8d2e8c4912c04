//! The daemon's settings: built-in defaults that work out of the box, overridden by a TOML
//! file (`--config`), overridden by flags. Every key is documented in the README.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context as _, Result};
use serde::Deserialize;

/// Settings of `aftertrace-recorder run`. Durations are humantime strings in the file
/// ("30s", "2m"), sizes plain byte counts or with K/M/G suffixes.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where sealed captures go.
    pub captures_dir: PathBuf,
    /// HTTP listener for alerts and metrics; loopback by default.
    pub listen: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` when set.
    pub token: Option<String>,
    /// A file holding the token (a mounted Kubernetes Secret), read at start; replaces
    /// `token`. A missing or empty file is an error: the listener never opens unguarded.
    pub token_file: Option<PathBuf>,
    /// Local control socket for `trigger` and `status` (mode 0600).
    pub control_socket: PathBuf,
    /// Seconds of record kept before an alert.
    #[serde(with = "humantime_serde_compat")]
    pub before: Duration,
    /// Seconds of record kept after an alert.
    #[serde(with = "humantime_serde_compat")]
    pub after: Duration,
    /// How far back the rolling buffer reaches.
    #[serde(with = "humantime_serde_compat")]
    pub buffer_span: Duration,
    /// Cap on the rolling buffer's compressed chunks, in bytes.
    #[serde(deserialize_with = "size")]
    pub buffer_bytes: u64,
    /// Longest window one capture covers, however many alerts extend it.
    #[serde(with = "humantime_serde_compat")]
    pub max_window: Duration,
    /// New captures per minute at most; alerts beyond go into the next capture as counts.
    pub max_captures_per_minute: u32,
    /// Alerts stored verbatim per capture; beyond, they are counted. Operator triggers
    /// (trigger, SIGUSR1) are always kept and not counted against it.
    pub max_alerts_per_capture: usize,
    /// A built-in rule alerts at most once per this long per container (the host is one);
    /// the matches in between are counted on the capture. "0s" turns the throttle off.
    #[serde(with = "humantime_serde_compat")]
    pub rule_throttle: Duration,
    /// Retention of the captures directory, oldest first.
    #[serde(deserialize_with = "size")]
    pub max_captures_bytes: u64,
    pub max_captures: usize,
    /// Bytes of I/O data kept per buffer.
    pub snaplen: u32,
    /// Bytes kept of one buffer under the full-payload policy.
    #[serde(deserialize_with = "size")]
    pub payload_cap: u64,
    /// Rules file (YAML); unset for the built-in rules, "none" for no rules.
    pub rules: Option<PathBuf>,
    /// Largest HTTP request body accepted.
    #[serde(deserialize_with = "size")]
    pub max_request_bytes: u64,
    /// `[upload]`: captures to S3-compatible storage; unset for none.
    pub upload: Option<crate::daemon::upload::UploadConfig>,
    /// Secret key file (`aftertrace-recorder keygen`); when set, every sealed capture gets
    /// a detached signature, `NAME.atcap.sig`.
    pub signing_key: Option<PathBuf>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            captures_dir: PathBuf::from("/var/lib/aftertrace/captures"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9476)),
            token: None,
            token_file: None,
            control_socket: PathBuf::from("/run/aftertrace/recorder.sock"),
            before: Duration::from_secs(30),
            after: Duration::from_secs(10),
            buffer_span: Duration::from_secs(120),
            buffer_bytes: 512 << 20,
            max_window: Duration::from_secs(600),
            max_captures_per_minute: 6,
            max_alerts_per_capture: 100,
            rule_throttle: Duration::from_secs(60),
            max_captures_bytes: 10 << 30,
            max_captures: 200,
            snaplen: 256,
            payload_cap: recorder_common::FULL_PAYLOAD_DEFAULT as u64,
            rules: None,
            max_request_bytes: 1 << 20,
            upload: None,
            signing_key: None,
        }
    }
}

pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// The duration and size parsers, for settings tables defined elsewhere (`[upload]`).
pub(crate) use humantime_serde_compat as duration_de;
pub(crate) use size as size_de;

/// A byte count: a number, or a string like "512M".
pub(crate) fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(b) => Ok(b),
        Size::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

/// `123`, `64K`, `100M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 100M"))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

impl DaemonConfig {
    /// The defaults, overridden by the TOML file at `path`.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(DaemonConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        let mut cfg: DaemonConfig = toml::from_str(&text)
            .with_context(|| format!("in the config file {}", path.display()))?;
        if let Some(file) = &cfg.token_file {
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("reading token_file {}", file.display()))?;
            let token = token.trim();
            if token.is_empty() {
                anyhow::bail!("token_file {} is empty", file.display());
            }
            cfg.token = Some(token.to_owned());
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let c: DaemonConfig = toml::from_str(
            "before = \"5s\"\nbuffer_bytes = \"64M\"\nlisten = \"127.0.0.1:9999\"\n",
        )
        .expect("valid");
        assert_eq!(c.before, Duration::from_secs(5));
        assert_eq!(c.buffer_bytes, 64 << 20);
        assert_eq!(c.after, Duration::from_secs(10), "default kept");
        assert_eq!(c.listen.port(), 9999);
        let err = toml::from_str::<DaemonConfig>("befor = \"5s\"\n").unwrap_err();
        assert!(err.to_string().contains("befor"), "{err}");
    }

    #[test]
    fn token_file_replaces_token_and_must_hold_one() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let config = dir.path().join("daemon.toml");
        std::fs::write(
            &config,
            format!("token = \"old\"\ntoken_file = \"{}\"\n", token.display()),
        )
        .unwrap();
        let c = DaemonConfig::load(Some(&config)).unwrap();
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        std::fs::write(&token, "\n").unwrap();
        let err = DaemonConfig::load(Some(&config)).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        std::fs::remove_file(&token).unwrap();
        let err = format!("{:#}", DaemonConfig::load(Some(&config)).unwrap_err());
        assert!(err.contains("token_file"), "{err}");
    }

    /// The settings shipped in deploy/ parse (the ConfigMap's is also run by tests/deploy).
    #[test]
    fn deploy_settings_parse() {
        for (what, text) in [
            (
                "deploy/systemd/recorder.toml",
                include_str!("../../deploy/systemd/recorder.toml").to_owned(),
            ),
            (
                "deploy/container/recorder.toml",
                include_str!("../../deploy/container/recorder.toml").to_owned(),
            ),
            ("deploy/kubernetes/base/configmap.yaml", {
                let cm: serde_norway::Value = serde_norway::from_str(include_str!(
                    "../../deploy/kubernetes/base/configmap.yaml"
                ))
                .expect("YAML");
                cm["data"]["recorder.toml"]
                    .as_str()
                    .expect("recorder.toml")
                    .to_owned()
            }),
        ] {
            // The commented-out [upload] example must parse once uncommented, too.
            let uncommented = text
                .replace("# [upload]", "[upload]")
                .replace("# url", "url");
            for t in [&text, &uncommented] {
                if let Err(e) = toml::from_str::<DaemonConfig>(t) {
                    panic!("{what}: {e}");
                }
            }
            let c: DaemonConfig = toml::from_str(&uncommented).unwrap();
            assert!(c.upload.is_some(), "{what}: the [upload] example");
        }
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1X").is_err());
    }
}
