//! The CLI's queries as library functions: each runs one pass over the capture and writes
//! its view (text or one JSON object per line) to a writer. No terminal handling here:
//! the caller says whether to colour.

use std::collections::BTreeSet;
use std::io::{self, Write};

use aftertrace_filter::Filter;
use capture_format::{CaptureReader, Event, EventBody, Records};

use crate::commands::Command;
use crate::context::CaptureContext;
use crate::events::EventRow;
use crate::meta::Lookups;
use crate::output::{emit, json_line, Format};
use crate::procs::{ProcId, ProcessTree};
use crate::scan::{self, Plan, TreeNeed};
use crate::select::TimeRange;
pub use crate::selection::state_probe;
use crate::selection::Selection;
use crate::style::Style;
use crate::views::{procs_header, procs_line, procs_order, tree_line, tree_order, ProcRow};
use serde::Serialize;

/// What to show and how.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    pub range: TimeRange,
    pub json: bool,
    pub style: Style,
}

impl Query {
    /// The query's filter and range, as every front end selects.
    pub fn selection(&self) -> Selection<'_> {
        Selection {
            filter: self.filter.as_ref(),
            range: self.range,
        }
    }

    /// `--json`, else text in the query's style.
    pub fn format(&self) -> Format {
        Format::of(self.json, self.style)
    }

    fn matches(&self, e: &Event, ctx: &CaptureContext<'_>) -> bool {
        self.selection().matches(e, ctx)
    }

    fn pids(&self) -> Option<Vec<u32>> {
        self.selection().pids()
    }

    fn records(&self) -> Records {
        self.selection().records()
    }

    fn selects(&self) -> bool {
        self.selection().selects()
    }
}

/// One row into a pass's buffer, in the query's format (writing to a Vec cannot fail,
/// and these plain structs always serialize).
fn put(
    buf: &mut Vec<u8>,
    format: Format,
    row: &impl Serialize,
    text: impl FnOnce(Style) -> String,
) {
    let _ = emit(buf, format, row, |b, style| {
        b.extend_from_slice(text(style).as_bytes());
        b.push(b'\n');
        Ok(())
    });
}

/// `events`: every event in the range that the filter selects, in time order.
pub fn events(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    out: &mut dyn Write,
    on_error: impl FnMut(capture_format::Error),
) -> io::Result<()> {
    let plan = Plan {
        range: q.range,
        pids: q.pids(),
        // Rows name each event's process, so the tree is always needed.
        tree: TreeNeed::UntilRangeEnd,
        activity: false,
        output: true,
        records: q.records(),
    };
    let mut tree = ProcessTree::new(&reader.metadata().processes);
    scan::run(
        reader,
        &plan,
        &mut tree,
        |events, tree| {
            let ctx = CaptureContext::new(tree, lookups);
            let mut buf = Vec::new();
            for e in events {
                if !q.matches(e, &ctx) {
                    continue;
                }
                let row = EventRow::new(e, &ctx);
                put(&mut buf, q.format(), &row, |style| row.text_line(style));
            }
            buf
        },
        |buf| out.write_all(&buf),
        on_error,
    )
}

/// `commands`: every exec in the range that the filter selects.
pub fn commands(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    out: &mut dyn Write,
    on_error: impl FnMut(capture_format::Error),
) -> io::Result<()> {
    let needs_tree = q.filter.as_ref().is_some_and(Filter::needs_context);
    let plan = Plan {
        range: q.range,
        pids: q.pids(),
        tree: if needs_tree {
            TreeNeed::UntilRangeEnd
        } else {
            TreeNeed::No
        },
        activity: false,
        output: true,
        // Only exec records become rows.
        records: Records::NoSyscalls,
    };
    if !q.json {
        writeln!(out, "{}", Command::text_header(q.style))?;
    }
    let mut tree = ProcessTree::new(&reader.metadata().processes);
    scan::run(
        reader,
        &plan,
        &mut tree,
        |events, tree| {
            let ctx = CaptureContext::new(tree, lookups);
            let mut buf = Vec::new();
            for e in events {
                let EventBody::Exec(x) = &e.body else {
                    continue;
                };
                if !q.matches(e, &ctx) {
                    continue;
                }
                let c = Command::new(e, x, lookups);
                put(&mut buf, q.format(), &c, |style| c.text_line(style));
            }
            buf
        },
        |buf| out.write_all(&buf),
        on_error,
    )
}

/// The whole process tree with each process's activity, and which processes the query
/// selects: with no filter, those alive at some point of the range; with one, those that
/// have an event in the range the filter selects, or whose state does (see
/// [`state_probe`]).
pub fn selected_processes(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    on_error: impl FnMut(capture_format::Error),
) -> (ProcessTree, Vec<bool>) {
    let plan = Plan {
        range: q.range,
        pids: q.pids(),
        tree: TreeNeed::Whole,
        activity: true,
        output: q.filter.is_some(),
        records: q.records(),
    };
    let mut tree = ProcessTree::new(&reader.metadata().processes);
    let mut hits: BTreeSet<ProcId> = BTreeSet::new();
    let _ = scan::run(
        reader,
        &plan,
        &mut tree,
        |events, tree| {
            let ctx = CaptureContext::new(tree, lookups);
            let mut ids: Vec<ProcId> = events
                .iter()
                .filter(|e| q.matches(e, &ctx))
                .filter_map(|e| tree.lookup(e.pid, e.ts))
                .collect();
            ids.dedup();
            ids
        },
        |ids| {
            hits.extend(ids);
            Ok::<(), std::convert::Infallible>(())
        },
        on_error,
    );
    let selected = q
        .selection()
        .processes(&tree, lookups, |id| hits.contains(&id));
    (tree, selected)
}

/// `procs`: the selected processes in start order.
pub fn procs(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    out: &mut dyn Write,
    on_error: impl FnMut(capture_format::Error),
) -> io::Result<()> {
    let (tree, selected) = selected_processes(reader, lookups, q, on_error);
    if !q.json {
        writeln!(out, "{}", procs_header(q.style))?;
    }
    for id in procs_order(&tree, &selected) {
        let p = &tree.processes()[id];
        if q.json {
            json_line(out, &ProcRow::new(&tree, p, lookups))?;
        } else {
            writeln!(out, "{}", procs_line(p, lookups, q.style))?;
        }
    }
    Ok(())
}

/// `tree`: the selected processes and their ancestors, depth first.
pub fn tree(
    reader: &CaptureReader,
    lookups: &Lookups,
    q: &Query,
    out: &mut dyn Write,
    on_error: impl FnMut(capture_format::Error),
) -> io::Result<()> {
    let (tree, selected) = selected_processes(reader, lookups, q, on_error);
    let shown = tree.with_ancestors((0..selected.len()).filter(|&i| selected[i]));
    let marks = q.selects();
    for node in tree_order(&tree, &shown) {
        let matched = !marks || selected[node.id];
        if q.json {
            let mut row = ProcRow::new(&tree, &tree.processes()[node.id], lookups);
            row.depth = Some(node.depth);
            row.matched = Some(selected[node.id]);
            json_line(out, &row)?;
        } else {
            writeln!(
                out,
                "{}",
                tree_line(&tree, &node, matched, lookups, q.style)
            )?;
        }
    }
    Ok(())
}
