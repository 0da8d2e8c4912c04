//! `aftertrace-recorder record`: record the whole node into one capture file (or a ring of
//! files in continuous mode) until a duration passes, a signal arrives, or a command exits.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::PathBuf,
    process::{Child, Command, ExitStatus},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use capture_format::WriterOptions;

use crate::{
    host,
    pipeline::{Pipeline, Totals},
    probes::ProbeSettings,
    segments::{Output, Rotation},
};

pub use crate::segments::OutputError;

pub struct RecordOptions {
    /// The capture file, or with `rotation` the directory of the ring of files.
    pub output: PathBuf,
    pub duration: Option<Duration>,
    /// Run this and stop when it exits; empty to record until the duration or a signal.
    pub command: Vec<OsString>,
    pub writer: WriterOptions,
    pub probes: ProbeSettings,
    /// Continuous mode: rotate files in the `output` directory.
    pub rotation: Option<Rotation>,
    /// Called once the programs are attached and recording has begun.
    pub on_ready: Option<Box<dyn FnOnce()>>,
}

#[derive(Debug)]
pub struct RecordOutcome {
    /// The capture files written, oldest first.
    pub files: Vec<PathBuf>,
    pub totals: Totals,
    /// The command's status, when one was run and it exited.
    pub command_status: Option<ExitStatus>,
    /// A signal stopped the recording.
    pub stopped_by_signal: bool,
}

const POLL: Duration = Duration::from_millis(50);

fn spawn(command: &[OsString]) -> Result<Option<Child>> {
    let Some((program, args)) = command.split_first() else {
        return Ok(None);
    };
    Command::new(program)
        .args(args)
        .spawn()
        .map(Some)
        .with_context(|| format!("starting {}", program.to_string_lossy()))
}

pub fn record(mut opts: RecordOptions, stop: Arc<AtomicBool>) -> Result<RecordOutcome> {
    let mut pipeline = Pipeline::start(&opts.probes)?;
    let started = Instant::now();
    let mut settings = BTreeMap::from([
        ("mode".to_owned(), "record".to_owned()),
        (
            "exec_args_max".to_owned(),
            recorder_common::EXEC_ARGS_MAX.to_string(),
        ),
        ("snaplen".to_owned(), opts.probes.snaplen.to_string()),
        (
            "payload_cap".to_owned(),
            opts.probes.payload_cap.to_string(),
        ),
        ("ring_bytes".to_owned(), opts.probes.ring_bytes.to_string()),
    ]);
    if let Some(r) = &opts.rotation {
        settings.insert("rotate_bytes".into(), format!("{:?}", r.max_bytes));
        settings.insert("rotate_age".into(), format!("{:?}", r.max_age));
        settings.insert("keep".into(), format!("{:?}", r.keep));
    }
    let host = host::host_info(settings);
    let mut out = match &opts.rotation {
        Some(r) => Output::rotating(
            &opts.output,
            r.clone(),
            opts.writer.clone(),
            &host,
            &mut pipeline,
        )?,
        None => Output::single(&opts.output, opts.writer.clone(), &host, &mut pipeline)?,
    };

    if let Some(ready) = opts.on_ready.take() {
        ready();
    }
    let mut child = spawn(&opts.command)?;
    let mut command_status = None;
    let mut stopping_at: Option<Instant> = None;
    // Events are handed over by the pipeline and written after each poll, because the
    // output needs the pipeline (its state) when it rotates.
    let mut ready: Vec<capture_format::Event> = Vec::new();

    let mut poll_errors: u64 = 0;
    loop {
        if let Err(e) = pipeline.poll(POLL, &mut |e| {
            ready.push(e);
            Ok(())
        }) {
            // Reading the ring or the loss counters failed: never a reason to stop
            // recording; logged (the first and every 100th), retried.
            poll_errors += 1;
            if poll_errors % 100 == 1 {
                tracing::error!(
                    "reading the kernel's events failed ({poll_errors} times so far), retrying: {e:#}"
                );
            }
            std::thread::sleep(POLL);
        }
        for e in ready.drain(..) {
            out.push(&e, &opts.writer, &host, &mut pipeline)?;
        }
        out.tick(&mut pipeline)?;

        if stopping_at.is_none() {
            if stop.load(Ordering::Relaxed) || opts.duration.is_some_and(|d| started.elapsed() >= d)
            {
                stopping_at = Some(Instant::now());
            }
            if let Some(c) = child.as_mut() {
                if let Some(status) = c.try_wait().context("waiting for the command")? {
                    command_status = Some(status);
                    stopping_at = Some(Instant::now());
                }
            }
        }
        // After the stop, keep draining briefly: records committed on other CPUs just
        // before it are still in the ring.
        if stopping_at.is_some_and(|t| t.elapsed() >= POLL * 2) {
            break;
        }
    }
    pipeline.finish(&mut |e| {
        ready.push(e);
        Ok(())
    })?;
    for e in ready.drain(..) {
        out.push(&e, &opts.writer, &host, &mut pipeline)?;
    }
    let files = out.close(&mut pipeline)?;
    Ok(RecordOutcome {
        files,
        totals: pipeline.totals().clone(),
        command_status,
        stopped_by_signal: stop.load(Ordering::Relaxed),
    })
}
