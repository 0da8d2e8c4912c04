//! The TUI opens sysdig/Falco `.scap` captures (samples/scap/) like its own: the Overview of
//! each, drawn into ratatui's TestBackend and compared with its insta snapshot. The scap
//! conversion itself is tested against sysdig in tests/tests/scap_interop.rs.

mod tui_support;

use aftertrace_inspector::tui::render_to_test_backend;
use tui_support::*;

fn overview(name: &str) -> String {
    let (app, _rx) = loaded(&sample(&format!("scap/{name}")), 110, 32);
    render_to_test_backend(&app, 110, 32).backend().to_string()
}

#[test]
fn scap_502error_overview() {
    insta::assert_snapshot!("scap_502error_overview", overview("502Error.scap"));
}

#[test]
fn scap_curl_google_overview() {
    insta::assert_snapshot!("scap_curl_google_overview", overview("curl_google.scap"));
}

#[test]
fn scap_test_ipv6_client_overview() {
    insta::assert_snapshot!(
        "scap_test_ipv6_client_overview",
        overview("test_ipv6_client.scap")
    );
}

#[test]
fn a_truncated_scap_shows_its_loss_on_the_overview() {
    let bytes = std::fs::read(sample("scap/502Error.scap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("502Error-cut.scap");
    std::fs::write(&cut, &bytes[..700_000]).unwrap();
    let (app, _rx) = loaded(&cut, 110, 32);
    let screen = render_to_test_backend(&app, 110, 32).backend().to_string();
    assert!(screen.contains("scap_file_damaged_bytes"), "{screen}");
}
