//! The aftertrace filter language: sysdig/Falco-style expressions such as
//! `proc.name = bash and fd.name startswith /etc`, parsed and type-checked once, evaluated
//! over capture-format's [`Event`]s. The recorder's built-in rules and the inspector's
//! `--filter` share it, so the two never fork into two languages.
//!
//! ```
//! use aftertrace_filter::{Filter, NoContext};
//! use capture_format::{Event, EventBody, ExitEvent};
//!
//! let filter = Filter::parse("evt.type in (exit, fork) and proc.pid = 42").unwrap();
//! let ev = Event {
//!     ts: 1, cpu: 0, pid: 42, tid: 42,
//!     body: EventBody::Exit(ExitEvent { status: 0, group_dead: true }),
//! };
//! assert!(filter.matches(&ev, &NoContext));
//! assert_eq!(filter.fields().collect::<Vec<_>>(), ["evt.type", "proc.pid"]);
//! ```
//!
//! Semantics in brief (the README has the grammar and the field table):
//! - A field with no value for an event (no such process in the context, no fd, not a
//!   syscall...) is *missing*; every comparison on a missing field is false, `!=` included,
//!   and only `exists` tells. `f != x` is therefore `f exists and not f = x`; write
//!   `not f = x` to also keep events where `f` is missing.
//! - Multi-valued fields (`proc.aname`, `proc.apid`, `fd.ip`, `fd.port`) match if any
//!   value matches; `!=` holds if there are values and none equals.
//! - String operators work on bytes; `icontains` folds ASCII case only. `regex` (alias
//!   `matches`) searches anywhere in the value: anchor with `^...$` for a whole match.

mod ast;
mod context;
mod error;
mod eval;
mod fields;
#[doc(hidden)]
pub mod fuzz_harness;
mod parse;
mod time;

pub use ast::{CmpOp, Comparison, Expr, IpNet, Literal, Predicate, RegexLit, WallTime};
pub use context::{
    Argv, ContainerLookup, ContainerView, Context, FdView, NoContext, ProcessView, SocketRole,
    StaticContext,
};
pub use error::FilterError;
pub use fields::{fields_help, Field, FieldType, MAX_ANCESTORS};

use capture_format::Event;
use std::cell::RefCell;
use std::fmt;

/// A parsed, type-checked, compiled filter. Cheap to share across threads (`Send + Sync`).
#[derive(Clone, Debug)]
pub struct Filter {
    source: String,
    expr: Expr,
    root: eval::Node,
    /// Distinct fields used, in order of first appearance.
    fields: Vec<Field>,
}

/// Scratch buffers above this size are dropped after an evaluation rather than kept for
/// the thread's lifetime (a giant command line should not pin memory).
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// Room for the strings evaluation has to build (joined argv, socket tuples), reused
    /// so evaluating allocates nothing in the steady state.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Filter {
    /// Parses and type-checks `expr`, compiling it for evaluation.
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let ast = parse::parse(expr)?;
        let mut fields = Vec::new();
        collect_fields(&ast, &mut fields);
        Ok(Filter {
            source: expr.to_string(),
            root: eval::compile(&ast),
            expr: ast,
            fields,
        })
    }

    /// Whether `event` satisfies the filter. `ctx` answers what the event alone cannot
    /// (process table, fds, containers, users); pass [`NoContext`] if there is none.
    pub fn matches(&self, event: &Event, ctx: &dyn Context) -> bool {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                let hit = self.root.eval(event, ctx, &mut buf);
                if buf.capacity() > SCRATCH_KEEP {
                    *buf = Vec::new();
                }
                hit
            }
            // Re-entered (a Context method evaluating another filter): use a fresh buffer.
            Err(_) => self.root.eval(event, ctx, &mut Vec::new()),
        })
    }

    /// The canonical names of the fields the filter uses, each once, so a caller can skip
    /// work (e.g. not build a context if no field [`Field::needs_context`]).
    pub fn fields(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|f| f.name())
    }

    /// The fields the filter uses, each once.
    pub fn field_ids(&self) -> &[Field] {
        &self.fields
    }

    /// The syscalls this filter can select, when its `evt.type` tests bound them (`None`:
    /// any syscall might match). Records that are not syscalls are not restricted. A pass
    /// can decode the other syscalls without their parameters
    /// ([`capture_format::Records::Syscalls`]), since the filter rejects them whatever
    /// they hold.
    pub fn syscalls_that_can_match(&self) -> Option<capture_format::SyscallSet> {
        eval::syscalls_that_can_match(&self.root)
    }

    /// Whether any field used needs the [`Context`].
    pub fn needs_context(&self) -> bool {
        self.fields.iter().any(|f| f.needs_context())
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The expression as it was given to [`Filter::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn collect_fields(expr: &Expr, out: &mut Vec<Field>) {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| collect_fields(e, out)),
        Expr::Not(inner) => collect_fields(inner, out),
        Expr::Cmp(c) => {
            if !out.contains(&c.field) {
                out.push(c.field);
            }
        }
    }
}

/// The canonical form of the expression, which parses back to an equal [`Expr`].
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}
