//! `export --format parquet -o DIR/`: the tables of a capture (a podman container and the
//! host both reading /etc/shadow), opened with DuckDB (PyPI `duckdb`, installed by
//! scripts/setup.sh): each table's row count equals the inspector's `--json` rows, every
//! row carries the node and capture id, and a join (the commands of the container whose
//! process opened /etc/shadow) gives what the inspector's JSON gives.

use std::collections::BTreeSet;
use std::process::Command;

use aftertrace_tests::{
    inspector_json, podman, recorder::BackgroundRecorder, require_root, target_bin,
};
use serde_json::Value;

const SCRIPT: &str = "cat /etc/shadow > /dev/null 2>&1; echo done > /tmp/x; sleep 0.2";

fn duckdb(sql: &str) -> Vec<Value> {
    let program = "import duckdb, json, sys\n\
                   rows = duckdb.sql(sys.argv[1]).fetchall()\n\
                   print(json.dumps([list(r) for r in rows], default=str))\n";
    let out = Command::new("python3")
        .args(["-c", program, sql])
        .output()
        .expect("python3 (scripts/setup.sh installs duckdb)");
    assert!(
        out.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("duckdb JSON")
}

#[test]
fn parquet_tables_match_the_inspector_in_duckdb() {
    require_root();
    podman::check_podman().expect("podman works");
    let image = podman::ensure_test_image().expect("test image");
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("fleet.atcap");

    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");
    let run = podman::run_in_container(&image, &["bash", "-c", SCRIPT]).expect("container");
    let host = Command::new("sh")
        .args(["-c", "cat /etc/shadow > /dev/null"])
        .status()
        .expect("host read");
    recorder.stop().expect("recorder");
    assert!(run.status.success() && host.success());

    let tables = dir.path().join("tables");
    let out = Command::new(target_bin(aftertrace_tests::INSPECTOR_BIN))
        .arg(&capture)
        .args(["export", "--format", "parquet", "-o"])
        .arg(&tables)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "export --format parquet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = |name: &str| format!("'{}/{name}.parquet'", tables.display());

    // Row counts against the inspector's own JSON.
    let json_counts = [
        ("events", inspector_json(&capture, "events").len()),
        ("processes", inspector_json(&capture, "procs").len()),
        ("commands", inspector_json(&capture, "commands").len()),
        (
            "artifacts",
            inspector_json(&capture, "scripts").len() + inspector_json(&capture, "files").len(),
        ),
        ("connections", inspector_json(&capture, "net").len()),
    ];
    for (table, want) in json_counts {
        let got = duckdb(&format!("SELECT count(*) FROM {}", t(table)));
        assert_eq!(got[0][0], want as u64, "{table} rows");
    }
    for table in ["alerts", "losses"] {
        duckdb(&format!("SELECT count(*) FROM {}", t(table)));
    }

    // Every row names its node and capture.
    let reader = capture_format::CaptureReader::open(&capture).expect("capture");
    let id: String = reader
        .file_id()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ids = duckdb(&format!(
        "SELECT DISTINCT capture_id FROM {} UNION SELECT DISTINCT capture_id FROM {}",
        t("events"),
        t("commands")
    ));
    assert_eq!(ids, vec![serde_json::json!([id])]);

    // The join: commands of the container whose process opened /etc/shadow.
    let got: BTreeSet<(u64, String)> = duckdb(&format!(
        "SELECT DISTINCT c.pid, c.exe FROM {} c JOIN {} e \
           ON c.pid = e.pid AND c.capture_id = e.capture_id \
         WHERE e.syscall IN ('open', 'openat') \
           AND json_extract_string(e.args, '$.pathname') = '/etc/shadow' \
           AND c.container_name = '{}'",
        t("commands"),
        t("events"),
        run.name
    ))
    .iter()
    .map(|r| {
        (
            r[0].as_u64().expect("pid"),
            r[1].as_str().expect("exe").to_owned(),
        )
    })
    .collect();
    let events = inspector_json(&capture, "events");
    let readers: BTreeSet<u64> = events
        .iter()
        .filter(|e| {
            (e["syscall"] == "openat" || e["syscall"] == "open")
                && e["args"]["pathname"] == "/etc/shadow"
        })
        .filter_map(|e| e["pid"].as_u64())
        .collect();
    let want: BTreeSet<(u64, String)> = inspector_json(&capture, "commands")
        .iter()
        .filter(|c| c["container_name"] == run.name.as_str())
        .filter(|c| c["pid"].as_u64().is_some_and(|p| readers.contains(&p)))
        .map(|c| {
            (
                c["pid"].as_u64().expect("pid"),
                c["exe"].as_str().expect("exe").to_owned(),
            )
        })
        .collect();
    assert!(
        want.iter().any(|(_, exe)| exe.ends_with("/cat")),
        "the container's cat read /etc/shadow: {want:?}"
    );
    assert_eq!(got, want, "DuckDB's join = the inspector's JSON");
}
