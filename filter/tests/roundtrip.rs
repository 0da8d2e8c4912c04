//! Properties: the canonical form round-trips (`parse(display(ast)) == ast`), the parser
//! never panics and keeps its error positions inside the input, and evaluation agrees with
//! the documented algebra (`not`, `!=` against `exists`).

use aftertrace_filter::{
    CmpOp, Comparison, Expr, Field, FieldType, Filter, IpNet, Literal, NoContext, Predicate,
    RegexLit, WallTime,
};
use capture_format::testing as t;
use capture_format::{Event, Param, ParamValue, SockAddr};
use proptest::prelude::*;
use std::net::IpAddr;

const EVT_TYPES: &[&str] = &[
    "openat",
    "read",
    "write",
    "connect",
    "execve",
    "exec",
    "fork",
    "exit",
    "cgroup_mkdir",
    "accept4",
    "clone3",
];
const FD_TYPES: &[&str] = &[
    "file",
    "directory",
    "pipe",
    "ipv4",
    "ipv6",
    "unix",
    "socket",
    "tty",
];
const TIMES: &[&str] = &[
    "2024-05-01T12:00:00Z",
    "2024-05-01T14:00:00.5+02:00",
    "1999-12-31 23:59:59.999999999z",
];
const REGEXES: &[&str] = &[r"^/etc/", r"\d+\.sh$", "a|b", "(?i)bash", r#"x"y\\z"#, ""];

fn wall_time(text: &str) -> WallTime {
    // The parser is the only public way to turn text into a WallTime's nanoseconds.
    let src = format!("evt.time = '{text}'");
    match Filter::parse(&src).map(|f| f.expr().clone()) {
        Ok(Expr::Cmp(Comparison {
            pred: Predicate::Cmp(_, Literal::Time(t)),
            ..
        })) => t,
        other => panic!("{text}: {other:?}"),
    }
}

fn any_ip() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<[u8; 4]>(), proptest::option::of(0u8..=32)).prop_map(|(a, prefix)| IpNet {
            addr: IpAddr::from(a),
            prefix,
        }),
        (any::<[u8; 16]>(), proptest::option::of(0u8..=128)).prop_map(|(a, prefix)| IpNet {
            addr: IpAddr::from(a),
            prefix,
        }),
    ]
}

fn str_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12),
        "[ -~]{0,12}".prop_map(String::into_bytes),
        any::<String>().prop_map(String::into_bytes),
        Just(b"and".to_vec()),
        Just(b"a b, (c)".to_vec()),
    ]
}

/// A literal of the field's type; `closed` asks for a member of evt.type's or fd.type's
/// closed set, as `=`, `!=` and `in` on those fields require.
fn literal(field: Field, closed: bool) -> BoxedStrategy<Literal> {
    match field.ty() {
        FieldType::Str if closed && field == Field::EvtType => proptest::sample::select(EVT_TYPES)
            .prop_map(|s| Literal::Str(s.as_bytes().to_vec()))
            .boxed(),
        FieldType::Str if closed && field == Field::FdType => proptest::sample::select(FD_TYPES)
            .prop_map(|s| Literal::Str(s.as_bytes().to_vec()))
            .boxed(),
        FieldType::Str => str_bytes().prop_map(Literal::Str).boxed(),
        FieldType::Num => any::<i64>().prop_map(Literal::Num).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Literal::Bool).boxed(),
        FieldType::Ip => any_ip().prop_map(Literal::Ip).boxed(),
    }
}

fn predicate(field: Field) -> BoxedStrategy<Predicate> {
    let ops: &'static [CmpOp] = match field.ty() {
        FieldType::Str => &[
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Contains,
            CmpOp::IContains,
            CmpOp::StartsWith,
            CmpOp::EndsWith,
        ],
        FieldType::Num => &[
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ],
        FieldType::Bool | FieldType::Ip => &[CmpOp::Eq, CmpOp::Ne],
    };
    let cmp = proptest::sample::select(ops)
        .prop_flat_map(move |op| {
            let closed = matches!(op, CmpOp::Eq | CmpOp::Ne);
            literal(field, closed).prop_map(move |lit| Predicate::Cmp(op, lit))
        })
        .boxed();
    let list = proptest::collection::vec(literal(field, true), 1..4)
        .prop_map(Predicate::In)
        .boxed();
    let mut choices = vec![Just(Predicate::Exists).boxed(), cmp, list];
    if field.ty() == FieldType::Str {
        choices.push(
            proptest::sample::select(REGEXES)
                .prop_map(|r| match RegexLit::new(r) {
                    Ok(re) => Predicate::Regex(re),
                    Err(e) => panic!("{r}: {e}"),
                })
                .boxed(),
        );
    }
    if field == Field::EvtTime {
        choices.push(
            (
                proptest::sample::select(&[CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Ge][..]),
                proptest::sample::select(TIMES),
            )
                .prop_map(|(op, t)| Predicate::Cmp(op, Literal::Time(wall_time(t))))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(choices).boxed()
}

fn comparison() -> impl Strategy<Value = Expr> {
    proptest::sample::select(Field::ALL).prop_flat_map(|field| {
        // evt.arg always has an index, of one of the six argument registers.
        let index = if field == Field::EvtArg {
            (0u32..=5).prop_map(Some).boxed()
        } else if field.takes_index() {
            proptest::option::of(0u32..=64).boxed()
        } else {
            Just(None).boxed()
        };
        (index, predicate(field))
            .prop_map(move |(index, pred)| Expr::Cmp(Comparison { field, index, pred }))
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    comparison().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// A few events of every kind, to evaluate generated filters on.
fn sample_events() -> Vec<Event> {
    let sc = |nr: u32, ret: Option<i64>, params: Vec<Param>| {
        let mut s = t::sys_nr(nr)
            .args(&[3])
            .duration(10)
            .cgroup(9)
            .params(params);
        s.0.ret = ret;
        Event {
            cpu: 1,
            tid: 8,
            ..s.at(42, 7)
        }
    };
    vec![
        sc(
            257,
            Some(3),
            vec![Param {
                slot: 1,
                value: ParamValue::Path(b"/etc/passwd".to_vec()),
            }],
        ),
        sc(
            42,
            Some(-111),
            vec![Param {
                slot: 1,
                value: ParamValue::SockAddr(SockAddr::Inet {
                    addr: [127, 0, 0, 1],
                    port: 80,
                }),
            }],
        ),
        sc(99_999, None, vec![]),
        t::exec(&["sh", "-c", "id"])
            .filename("/bin/sh")
            .cgroup(9)
            .at(1, 7),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_round_trips(ast in expr()) {
        let text = ast.to_string();
        let parsed = Filter::parse(&text);
        prop_assert!(parsed.is_ok(), "`{}` did not parse: {}", text, parsed.err().map(|e| e.to_string()).unwrap_or_default());
        let parsed = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.expr(), &ast, "through `{}`", text);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn not_negates(ast in expr()) {
        let f = Filter::parse(&ast.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let not_f = Filter::parse(&format!("not ({ast})")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for ev in sample_events() {
            prop_assert_eq!(not_f.matches(&ev, &NoContext), !f.matches(&ev, &NoContext));
        }
    }

    #[test]
    fn parse_never_panics(src in any::<String>()) {
        check_error_position(&src)?;
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        tokens in proptest::collection::vec(
            proptest::sample::select(&[
                "proc.name", "fd.sport", "proc.aname[", "]", "[1]", "=", "!=", "<", "in", "(",
                ")", ",", "not", "and", "or", "exists", "contains", "regex", "'", "\"", "\\",
                "bash", "443", "10.0.0.0/8", "-", "\n", " ", "\t", "é", "\\x", "evt.time",
                "'2024-05-01T12:00:00Z'", "true",
            ][..]),
            0..12,
        )
    ) {
        check_error_position(&tokens.concat())?;
    }
}

fn check_error_position(src: &str) -> Result<(), TestCaseError> {
    if let Err(e) = Filter::parse(src) {
        prop_assert!(e.offset <= src.len());
        let line = src.split('\n').nth(e.line - 1);
        prop_assert!(line.is_some(), "line {} of {:?}", e.line, src);
        let chars = line.map_or(0, |l| l.chars().count());
        prop_assert!(
            e.column >= 1 && e.column <= chars + 1,
            "column {} of {:?}",
            e.column,
            src
        );
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(())
}

#[test]
fn ne_is_exists_and_not_eq_on_every_field() {
    // `f != x` == `f exists and not f = x`, for every single-valued field, on events where
    // the field is missing and where it is present.
    let literal = |f: Field| match f.ty() {
        FieldType::Str if f == Field::EvtType => "openat".to_string(),
        FieldType::Str if f == Field::FdType => "file".to_string(),
        FieldType::Str => "'/etc/passwd'".to_string(),
        FieldType::Num => "3".to_string(),
        FieldType::Bool => "false".to_string(),
        FieldType::Ip => "127.0.0.1".to_string(),
    };
    for &field in Field::ALL {
        // evt.arg is only ever written with its index.
        let name = if field == Field::EvtArg {
            "evt.arg[1]"
        } else {
            field.name()
        };
        let lit = literal(field);
        let ne = Filter::parse(&format!("{name} != {lit}")).expect("parses");
        let spelled =
            Filter::parse(&format!("{name} exists and not {name} = {lit}")).expect("parses");
        for ev in sample_events() {
            assert_eq!(
                ne.matches(&ev, &NoContext),
                spelled.matches(&ev, &NoContext),
                "{name} != {lit} on {:?}",
                ev.body
            );
        }
    }
}
