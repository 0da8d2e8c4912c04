//! The bodies of the fuzz targets in `fuzz/`, kept here so that the committed regression
//! inputs (`fuzz/regressions/<target>/`) replay through exactly this code in `cargo test`
//! (`tests/fuzz_regressions.rs`). Everything here is input from outside the daemon: HTTP
//! bodies, the config file, the rules file. Not part of the crate's API.

use aftertrace_filter::StaticContext;
use capture_format::ProcessSnapshot;

use crate::daemon::alerts::{parse_alertmanager, parse_any, parse_falco, Format};

/// A body posted to `/alerts`, `/alerts/falco` (Falco and Falcosidekick) or
/// `/alerts/alertmanager`: each parser accepts it or refuses it with an error that renders,
/// and auto-detection agrees with the explicit endpoints.
pub fn alert(data: &[u8]) {
    let any = parse_any(data);
    let falco = parse_falco(data);
    let am = parse_alertmanager(data);
    for e in [&any, &falco, &am]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        let _ = e.to_string();
    }
    if let Ok(p) = &any {
        match p.format {
            Format::Falco | Format::Falcosidekick => {
                assert_eq!(
                    falco.as_ref().ok(),
                    Some(p),
                    "auto-detected Falco, endpoint differs"
                )
            }
            Format::Alertmanager => assert_eq!(
                am.as_ref().ok(),
                Some(p),
                "auto-detected Alertmanager, endpoint differs"
            ),
        }
    }
}

/// The daemon's TOML settings: parsed or refused with a message, never a panic.
pub fn daemon_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match toml::from_str::<crate::config::DaemonConfig>(&text) {
        Ok(cfg) => {
            let _ = format!("{cfg:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A rules file: parsed (every condition in the filter language) or refused; parsed rules
/// are evaluated on sample events.
pub fn rules_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(mut rules) = crate::rules::RuleSet::parse(&text, "fuzz input") else {
        return;
    };
    let ctx = StaticContext::new(ProcessSnapshot::default(), Vec::new());
    let Ok(reader) =
        capture_format::CaptureReader::from_bytes(capture_format::fuzz_harness::sample_capture())
    else {
        return;
    };
    let mut out = Vec::new();
    for e in reader.events().flatten() {
        rules.check(&e, &ctx, &mut out);
    }
}
