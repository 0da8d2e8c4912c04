//! `export --format jsonl -o DIR/`: the capture as tables, one JSON object a line per row,
//! for log pipelines (Loki, Elasticsearch) and fleet queries. Each table's rows are the
//! inspector's own `--json` rows (so the schemas are the README's), with two columns added
//! to every row: `node` (the host name) and `capture_id` (the capture's file id), so the
//! tables of many captures concatenate into one dataset.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use capture_format::CaptureReader;
use serde_json::{Map, Value};

use crate::meta::Lookups;
use crate::output::{reconstruct as render, Format};
use crate::query::{self, Query};
use crate::reconstruct::reconstruct;

/// The tables, in the order they are written.
pub const TABLES: &[&str] = &[
    "events",
    "processes",
    "commands",
    "artifacts",
    "connections",
    "alerts",
    "losses",
];

/// One table's rows as JSON objects, with `node` and `capture_id` first.
pub fn table_rows(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    table: &str,
    mut on_error: impl FnMut(capture_format::Error),
) -> io::Result<Vec<Map<String, Value>>> {
    let q = Query {
        json: true,
        ..q.clone()
    };
    let mut buf = Vec::new();
    match table {
        "events" => query::events(reader, lookups, &q, &mut buf, &mut on_error)?,
        "processes" => query::procs(reader, lookups, &q, &mut buf, &mut on_error)?,
        "commands" => query::commands(reader, lookups, &q, &mut buf, &mut on_error)?,
        "artifacts" | "connections" => {
            let r = reconstruct(reader, lookups, q.filter.as_ref(), q.range, &mut on_error);
            if table == "artifacts" {
                render::scripts(&r, Format::Json, &mut buf)?;
                render::files(&r, Format::Json, &mut buf)?;
            } else {
                render::net(&r, Format::Json, &mut buf)?;
            }
        }
        "alerts" => {
            for a in &reader.metadata().alerts {
                if !q.range.contains(a.received_boot_ns) {
                    continue;
                }
                let row = serde_json::json!({
                    "source": a.source,
                    "time": lookups.clock().rfc3339(a.received_boot_ns),
                    "boot_ns": a.received_boot_ns,
                    "payload_time": a.payload_time,
                    "summary": a.summary,
                    "payload": String::from_utf8_lossy(&a.payload),
                });
                serde_json::to_writer(&mut buf, &row)?;
                buf.push(b'\n');
            }
        }
        "losses" => {
            for d in &reader.metadata().drops.entries {
                if !q.range.overlaps(d.from, d.to) {
                    continue;
                }
                let row = serde_json::json!({
                    "cause": d.cause,
                    "cpu": d.cpu,
                    "pid": d.pid,
                    "from": lookups.clock().rfc3339(d.from),
                    "to": lookups.clock().rfc3339(d.to),
                    "from_boot_ns": d.from,
                    "to_boot_ns": d.to,
                    "count": d.count,
                });
                serde_json::to_writer(&mut buf, &row)?;
                buf.push(b'\n');
            }
        }
        other => {
            return Err(io::Error::other(format!("no table named {other}")));
        }
    }
    let node = reader
        .metadata()
        .host
        .as_ref()
        .map(|h| h.hostname.clone())
        .unwrap_or_default();
    let capture_id: String = reader
        .file_id()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut rows = Vec::new();
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| io::Error::other(format!("{table} row is not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            continue;
        };
        let mut row = Map::new();
        row.insert("node".into(), Value::from(node.clone()));
        row.insert("capture_id".into(), Value::from(capture_id.clone()));
        row.extend(fields);
        rows.push(row);
    }
    Ok(rows)
}

/// Creates `dir` (if needed) and returns the path of `name` in it, refusing to write over
/// an existing file.
pub fn table_path(dir: &Path, name: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    Ok(dir.join(name))
}

/// Opens a new table file (0600: the rows hold what the capture holds).
pub fn create_table_file(path: &Path) -> io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Writes every table as `DIR/TABLE.jsonl`; returns (table, rows) per table.
pub fn export_jsonl(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    dir: &Path,
    mut on_error: impl FnMut(capture_format::Error),
) -> io::Result<Vec<(&'static str, usize)>> {
    let mut counts = Vec::new();
    for &table in TABLES {
        let rows = table_rows(reader, lookups, q, table, &mut on_error)?;
        let path = table_path(dir, &format!("{table}.jsonl"))?;
        let mut out = io::BufWriter::new(create_table_file(&path)?);
        for row in &rows {
            serde_json::to_writer(&mut out, row)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        counts.push((table, rows.len()));
    }
    Ok(counts)
}

/// Parquet wants flat, typed columns: a nested value (an object such as `args`, a list
/// such as `argv`) becomes its JSON text, which DuckDB, Athena and Trino read with their
/// JSON functions.
fn flatten(row: &Map<String, Value>) -> Map<String, Value> {
    row.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Object(_) | Value::Array(_) => Value::from(v.to_string()),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Writes one table's rows as a Parquet file; the schema is inferred from the rows (types
/// per column: integers, floats, booleans, strings; a column of mixed types is text).
fn write_parquet(path: &Path, rows: &[Map<String, Value>]) -> io::Result<()> {
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let err = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::other(format!("{}: {what}: {e}", path.display()))
    };
    let flat: Vec<Value> = rows.iter().map(|r| Value::Object(flatten(r))).collect();
    let schema = if flat.is_empty() {
        // An empty table still has the columns every table has.
        Schema::new(vec![
            Field::new("node", DataType::Utf8, true),
            Field::new("capture_id", DataType::Utf8, true),
        ])
    } else {
        arrow_json::reader::infer_json_schema_from_iterator(flat.iter().map(Ok))
            .map_err(|e| err("schema", &e))?
    };
    let schema = Arc::new(schema);
    let file = create_table_file(path)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
        .map_err(|e| err("writer", &e))?;
    if !flat.is_empty() {
        let mut decoder = arrow_json::ReaderBuilder::new(schema)
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(|e| err("decoder", &e))?;
        for chunk in flat.chunks(8192) {
            decoder.serialize(chunk).map_err(|e| err("rows", &e))?;
            if let Some(batch) = decoder.flush().map_err(|e| err("rows", &e))? {
                writer.write(&batch).map_err(|e| err("write", &e))?;
            }
        }
    }
    writer.close().map_err(|e| err("close", &e))?;
    Ok(())
}

/// Writes every table as `DIR/TABLE.parquet`; returns (table, rows) per table.
pub fn export_parquet(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    dir: &Path,
    mut on_error: impl FnMut(capture_format::Error),
) -> io::Result<Vec<(&'static str, usize)>> {
    let mut counts = Vec::new();
    for &table in TABLES {
        let rows = table_rows(reader, lookups, q, table, &mut on_error)?;
        write_parquet(&table_path(dir, &format!("{table}.parquet"))?, &rows)?;
        counts.push((table, rows.len()));
    }
    Ok(counts)
}
