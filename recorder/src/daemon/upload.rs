//! Captures off the node: every sealed capture and its `.sha256` manifest go to
//! S3-compatible storage (`[upload]` in the config), because the node may be gone when a
//! responder looks.
//!
//! - The captures directory is the queue's source of truth: a capture is pending while it
//!   has its manifest and no `NAME.atcap.uploaded` marker. At start, and whenever the
//!   in-memory queue has run dry or overflowed, the directory is scanned again, so a restart
//!   or a full queue loses nothing.
//! - The in-memory queue is bounded (`queue`); an enqueue beyond it is only counted and left
//!   to the next scan. `enqueue` never blocks, so recording and sealing never wait on S3.
//! - Each upload is retried with exponential backoff (`retry_min` doubling to `retry_max`)
//!   for as long as the file exists; a file removed by retention before it was uploaded is
//!   counted as lost and logged.
//! - Files over `part_size` go up in multipart uploads of `part_size` parts (aborted on
//!   failure, so no half object is ever visible); the manifest goes after the capture, the
//!   marker is written after both, so an object with a manifest beside it is complete.
//! - Object keys: `PREFIX/NODE/NAME` (NODE from `node`, else `$AFTERTRACE_NODE_NAME`, else
//!   the host name).

use std::{
    collections::{HashSet, VecDeque},
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use object_store::{
    aws::{AmazonS3, AmazonS3Builder},
    path::Path as ObjectPath,
    ClientOptions, ObjectStoreExt as _, PutPayload, RetryConfig, WriteMultipart,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

/// `[upload]` in the daemon's TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    pub url: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); unset for AWS.
    pub endpoint: Option<String>,
    /// Region; unset for `$AWS_REGION`/`$AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// Allow a plain-http endpoint (a loopback test server, a cluster-internal gateway).
    pub allow_http: bool,
    /// The node's name in object keys.
    pub node: Option<String>,
    /// An AWS shared-credentials file (INI, `[default]` or `profile`) read at start;
    /// unset for the usual AWS environment variables.
    pub credentials_file: Option<PathBuf>,
    pub profile: Option<String>,
    /// Captures held in memory awaiting upload; the rest wait on disk for the next scan.
    pub queue: usize,
    /// Multipart above this size, in parts of this size (S3's minimum part is 5 MiB).
    #[serde(deserialize_with = "crate::config::size_de")]
    pub part_size: u64,
    /// Backoff between attempts at one file: from `retry_min`, doubling, up to `retry_max`.
    #[serde(with = "crate::config::duration_de")]
    pub retry_min: Duration,
    #[serde(with = "crate::config::duration_de")]
    pub retry_max: Duration,
    /// One request's time limit (a stalled server must not hold the queue forever).
    #[serde(with = "crate::config::duration_de")]
    pub timeout: Duration,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            url: String::new(),
            endpoint: None,
            region: None,
            allow_http: false,
            node: None,
            credentials_file: None,
            profile: None,
            queue: 256,
            part_size: 16 << 20,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
        }
    }
}

/// What `status` and `/metrics` show of the uploads.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UploadStats {
    /// `s3://bucket/prefix/node/`.
    pub destination: String,
    /// Captures waiting (in memory plus, after an overflow, on disk until the next scan).
    pub queued: u64,
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    /// Failed attempts (each retried).
    pub failures: u64,
    /// Captures removed (by retention) before they could be uploaded.
    pub lost: u64,
    /// Enqueues that found the in-memory queue full (left to the next scan).
    pub overflowed: u64,
    pub last_error: Option<String>,
    pub last_uploaded: Option<String>,
}

pub fn manifest_path(capture: &Path) -> PathBuf {
    let mut p = capture.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

fn marker_path(capture: &Path) -> PathBuf {
    let mut p = capture.as_os_str().to_owned();
    p.push(".uploaded");
    PathBuf::from(p)
}

/// Whether `capture` and its manifest are stored remotely.
pub fn is_uploaded(capture: &Path) -> bool {
    marker_path(capture)
        .symlink_metadata()
        .is_ok_and(|m| m.is_file())
}

/// The daemon's side: cheap, never blocking.
#[derive(Clone)]
pub struct Uploader {
    tx: tokio::sync::mpsc::Sender<PathBuf>,
    stats: Arc<Mutex<UploadStats>>,
}

impl Uploader {
    /// Checks the settings, scans `dir` for captures not yet uploaded, and starts the
    /// upload thread. Errors name the bad setting.
    pub fn start(cfg: &UploadConfig, dir: &Path) -> Result<Self> {
        let (store, bucket, prefix) = build_store(cfg)?;
        let node = cfg
            .node
            .clone()
            .or_else(|| std::env::var("AFTERTRACE_NODE_NAME").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| crate::host::host_info(Default::default()).hostname);
        if node.contains('/') || node.starts_with('.') {
            bail!(
                "[upload] node {node:?} cannot be part of an object key (no '/', no leading '.')"
            );
        }
        let base = if prefix.is_empty() {
            node.clone()
        } else {
            format!("{prefix}/{node}")
        };
        let stats = Arc::new(Mutex::new(UploadStats {
            destination: format!("s3://{bucket}/{base}/"),
            ..UploadStats::default()
        }));
        let (tx, rx) = tokio::sync::mpsc::channel(cfg.queue.max(1));
        let worker = Worker {
            store,
            base,
            dir: dir.to_owned(),
            cfg: cfg.clone(),
            stats: Arc::clone(&stats),
            rx,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            rescan: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the upload runtime")?;
        std::thread::Builder::new()
            .name("upload".into())
            .spawn(move || runtime.block_on(worker.run()))?;
        Ok(Uploader { tx, stats })
    }

    /// A capture was sealed (its manifest written): upload it when its turn comes.
    pub fn enqueue(&self, capture: PathBuf) {
        if self.tx.try_send(capture).is_err() {
            // The next scan of the directory finds it: nothing is lost, only later.
            if let Ok(mut s) = self.stats.lock() {
                s.overflowed += 1;
            }
        }
    }

    pub fn stats(&self) -> UploadStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Splits `s3://bucket/prefix` and builds the client: settings, then the AWS environment,
/// then the credentials file.
fn build_store(cfg: &UploadConfig) -> Result<(AmazonS3, String, String)> {
    let rest = cfg.url.strip_prefix("s3://").with_context(|| {
        format!(
            "[upload] url {:?} must look like s3://BUCKET/PREFIX",
            cfg.url
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("[upload] url {:?} names no bucket", cfg.url);
    }
    let prefix = prefix.trim_matches('/').to_owned();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_allow_http(cfg.allow_http)
        .with_client_options(
            ClientOptions::new()
                .with_timeout(cfg.timeout)
                .with_connect_timeout(Duration::from_secs(10))
                .with_allow_http(cfg.allow_http),
        )
        // object_store's own retries cover one request's transient errors; the worker's
        // backoff covers a server that is gone for minutes.
        .with_retry(RetryConfig {
            max_retries: 2,
            retry_timeout: cfg.timeout,
            ..RetryConfig::default()
        });
    if let Some(endpoint) = &cfg.endpoint {
        // S3-compatible servers generally want path-style requests (no bucket subdomain).
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    let region = cfg
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    builder = builder.with_region(region);
    if let Some(file) = &cfg.credentials_file {
        let profile = cfg.profile.as_deref().unwrap_or("default");
        let (key, secret, token) = read_credentials(file, profile)?;
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret);
        if let Some(token) = token {
            builder = builder.with_token(token);
        }
    }
    let store = builder
        .build()
        .with_context(|| format!("[upload] settings for {}", cfg.url))?;
    Ok((store, bucket.to_owned(), prefix))
}

/// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` of `[profile]` in
/// an AWS shared-credentials file.
fn read_credentials(file: &Path, profile: &str) -> Result<(String, String, Option<String>)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the credentials file {}", file.display()))?;
    let (mut key, mut secret, mut token) = (None, None, None);
    let mut in_profile = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            in_profile = section == profile || section == format!("profile {profile}");
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => key = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (key, secret) {
        (Some(k), Some(s)) => Ok((k, s, token)),
        _ => bail!(
            "the credentials file {} has no aws_access_key_id and aws_secret_access_key \
             under [{profile}]",
            file.display()
        ),
    }
}

struct Worker {
    store: AmazonS3,
    base: String,
    dir: PathBuf,
    cfg: UploadConfig,
    stats: Arc<Mutex<UploadStats>>,
    rx: tokio::sync::mpsc::Receiver<PathBuf>,
    queue: VecDeque<PathBuf>,
    queued: HashSet<PathBuf>,
    rescan: bool,
}

/// How often the directory is scanned again while nothing is queued (it catches captures
/// that overflowed the queue, or were sealed by a daemon that died before uploading).
const RESCAN: Duration = Duration::from_secs(60);

impl Worker {
    fn stats(&self, f: impl FnOnce(&mut UploadStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    fn push(&mut self, path: PathBuf) {
        if self.queued.insert(path.clone()) {
            self.queue.push_back(path);
        }
        let queued = self.queue.len() as u64;
        self.stats(|s| s.queued = queued);
    }

    /// Captures with a manifest and no marker, oldest first; markers of captures that
    /// retention removed are removed too.
    fn scan(&mut self) {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("upload: listing {}: {e}", self.dir.display());
                return;
            }
        };
        let mut pending = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.to_string_lossy();
            if let Some(capture) = name.strip_suffix(".uploaded") {
                if !Path::new(capture).exists() {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            if !name.ends_with(".atcap") {
                continue;
            }
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.is_file() && manifest_path(&path).exists() && !is_uploaded(&path) {
                pending.push((meta.modified().ok(), path));
            }
        }
        pending.sort();
        let found = pending.len();
        for (_, path) in pending {
            self.push(path);
        }
        let queued = self.queue.len() as u64;
        self.stats(|s| s.queued = queued);
        if found > 0 {
            tracing::info!("upload: {found} captures in the directory await upload");
        }
    }

    async fn run(mut self) {
        let mut backoff = self.cfg.retry_min;
        loop {
            if self.rescan {
                self.rescan = false;
                self.scan();
            }
            while let Ok(p) = self.rx.try_recv() {
                self.push(p);
            }
            let Some(path) = self.queue.front().cloned() else {
                match tokio::time::timeout(RESCAN, self.rx.recv()).await {
                    Ok(Some(p)) => self.push(p),
                    Ok(None) => return,
                    Err(_) => self.rescan = true,
                }
                continue;
            };
            if !path.exists() {
                tracing::error!(
                    "upload: {} was removed (retention) before it was uploaded",
                    path.display()
                );
                self.done(&path);
                self.stats(|s| s.lost += 1);
                continue;
            }
            match self.upload(&path).await {
                Ok(bytes) => {
                    backoff = self.cfg.retry_min;
                    let key = self.key(&path);
                    tracing::info!("uploaded {} to {key}", path.display());
                    self.done(&path);
                    self.stats(|s| {
                        s.uploaded += 1;
                        s.uploaded_bytes += bytes;
                        s.last_uploaded = Some(key);
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    let msg = format!("{}: {e:#}", path.display());
                    tracing::warn!("upload failed, retrying in {backoff:?}: {msg}");
                    self.stats(|s| {
                        s.failures += 1;
                        s.last_error = Some(msg);
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.retry_max);
                }
            }
        }
    }

    fn done(&mut self, path: &Path) {
        self.queue.retain(|p| p != path);
        self.queued.remove(path);
        let left = self.queue.len() as u64;
        let overflowed = self.stats.lock().map(|s| s.overflowed > 0).unwrap_or(false);
        self.stats(|s| s.queued = left);
        if left == 0 && overflowed {
            // Some enqueues found the queue full: find them on disk.
            self.rescan = true;
        }
    }

    fn key(&self, path: &Path) -> String {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{name}", self.base)
    }

    /// The capture, then its manifest, then the local marker. Returns the bytes sent.
    async fn upload(&self, path: &Path) -> Result<u64> {
        let sent = self.put_file(path).await?;
        let manifest = manifest_path(path);
        let sent = sent + self.put_file(&manifest).await?;
        let marker = marker_path(path);
        let key = self.key(path);
        tokio::task::spawn_blocking(move || write_marker(&marker, &key))
            .await
            .context("writing the upload marker")??;
        Ok(sent)
    }

    async fn put_file(&self, path: &Path) -> Result<u64> {
        let key = ObjectPath::parse(self.key(path))
            .with_context(|| format!("an object key for {}", path.display()))?;
        let mut file = open_nofollow(path).await?;
        let len = file.metadata().await?.len();
        if len <= self.cfg.part_size {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes).await?;
            self.store
                .put(&key, PutPayload::from(bytes))
                .await
                .with_context(|| format!("putting {key}"))?;
            return Ok(len);
        }
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .with_context(|| format!("starting the multipart upload of {key}"))?;
        let part = self.cfg.part_size as usize;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part);
        let mut buf = vec![0u8; part];
        let result: Result<()> = async {
            loop {
                let n = read_full(&mut file, &mut buf).await?;
                if n == 0 {
                    break;
                }
                // At most two parts in flight: memory stays at a few part sizes.
                writer.wait_for_capacity(2).await?;
                writer.write(&buf[..n]);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .with_context(|| format!("completing the multipart upload of {key}"))?;
                Ok(len)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e.context(format!("multipart upload of {key}")))
            }
        }
    }
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = file.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}

async fn open_nofollow(path: &Path) -> Result<tokio::fs::File> {
    let p = path.to_owned();
    let f = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&p)
    })
    .await
    .context("opening for upload")?
    .with_context(|| format!("opening {}", path.display()))?;
    Ok(tokio::fs::File::from_std(f))
}

/// `NAME.atcap.uploaded`: the object key, created exclusively and without following links.
fn write_marker(marker: &Path, key: &str) -> Result<()> {
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(marker)
    {
        Ok(f) => f,
        // A previous run stored it and died before forgetting it: already marked.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_uploaded_file(marker) => {
            return Ok(())
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", marker.display())),
    };
    writeln!(f, "{key}").with_context(|| format!("writing {}", marker.display()))?;
    Ok(())
}

fn is_uploaded_file(marker: &Path) -> bool {
    marker.symlink_metadata().is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_credentials_are_named() {
        let cfg = UploadConfig {
            url: "http://bucket".into(),
            ..UploadConfig::default()
        };
        let err = build_store(&cfg).unwrap_err().to_string();
        assert!(err.contains("s3://BUCKET"), "{err}");
        let cfg = UploadConfig {
            url: "s3:///x".into(),
            ..UploadConfig::default()
        };
        assert!(build_store(&cfg).is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[other]\naws_access_key_id = A\n[default]\naws_access_key_id = K\n\
             aws_secret_access_key = S\n",
        )
        .unwrap();
        assert_eq!(
            read_credentials(&file, "default").unwrap(),
            ("K".into(), "S".into(), None)
        );
        let err = read_credentials(&file, "other").unwrap_err().to_string();
        assert!(err.contains("[other]"), "{err}");
    }
}
