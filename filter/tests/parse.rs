//! Parser tests: structure, precedence, quoting, lists, and errors pointing at columns.

use aftertrace_filter::{CmpOp, Comparison, Expr, Field, Filter, IpNet, Literal, Predicate};

fn parse(s: &str) -> Expr {
    match Filter::parse(s) {
        Ok(f) => f.expr().clone(),
        Err(e) => panic!("`{s}` should parse:\n{e}"),
    }
}

fn err(s: &str) -> (usize, String) {
    match Filter::parse(s) {
        Ok(f) => panic!("`{s}` should not parse, got {f}"),
        Err(e) => (e.column, e.message.clone()),
    }
}

fn cmp(field: Field, op: CmpOp, lit: Literal) -> Expr {
    Expr::Cmp(Comparison {
        field,
        index: None,
        pred: Predicate::Cmp(op, lit),
    })
}

fn s(v: &str) -> Literal {
    Literal::Str(v.as_bytes().to_vec())
}

fn name_is(v: &str) -> Expr {
    cmp(Field::ProcName, CmpOp::Eq, s(v))
}

#[test]
fn bare_words_and_quotes() {
    assert_eq!(parse("proc.name = bash"), name_is("bash"));
    assert_eq!(parse("proc.name=bash"), name_is("bash"));
    assert_eq!(parse("proc.name == 'bash'"), name_is("bash"));
    assert_eq!(parse("  proc.name = \"bash\"  "), name_is("bash"));
    assert_eq!(parse("proc.name = \"my app\""), name_is("my app"));
    assert_eq!(parse("proc.name = 'it\\'s'"), name_is("it's"));
    assert_eq!(
        parse("proc.name = \"say \\\"hi\\\"\""),
        name_is("say \"hi\"")
    );
    assert_eq!(parse("proc.name = 'a\"b'"), name_is("a\"b"));
    // A bare value runs to whitespace, a parenthesis or a comma: paths, `=` and keywords
    // are fine unquoted.
    assert_eq!(
        parse("fd.name = /etc/passwd"),
        cmp(Field::FdName, CmpOp::Eq, s("/etc/passwd"))
    );
    assert_eq!(
        parse("proc.args contains a=b"),
        cmp(Field::ProcArgs, CmpOp::Contains, s("a=b"))
    );
    assert_eq!(parse("proc.name = and"), name_is("and"));
    assert_eq!(parse("proc.name = 123"), name_is("123"));
}

#[test]
fn escapes() {
    assert_eq!(
        parse(r#"evt.buffer contains "\x7fELF\n\t\r\0""#),
        cmp(
            Field::EvtBuffer,
            CmpOp::Contains,
            Literal::Str(b"\x7fELF\n\t\r\0".to_vec())
        )
    );
    // Non-UTF-8 bytes through \x.
    assert_eq!(
        parse(r#"evt.buffer contains "\xff\xfe""#),
        cmp(
            Field::EvtBuffer,
            CmpOp::Contains,
            Literal::Str(vec![0xff, 0xfe])
        )
    );
    // Unknown escapes keep their backslash, so regexes need no doubling.
    let f = Filter::parse(r#"proc.cmdline regex "\d+\.sh""#).expect("parses");
    match &f.expr() {
        Expr::Cmp(Comparison {
            pred: Predicate::Regex(re),
            ..
        }) => assert_eq!(re.as_str(), r"\d+\.sh"),
        other => panic!("not a regex: {other:?}"),
    }
    assert_eq!(parse(r#"proc.name = "a\\b""#), name_is("a\\b"));
}

#[test]
fn precedence_not_and_or() {
    // not > and > or
    let e = parse("proc.name = a or proc.name = b and not proc.name = c");
    assert_eq!(
        e,
        Expr::Or(vec![
            name_is("a"),
            Expr::And(vec![name_is("b"), Expr::Not(Box::new(name_is("c")))]),
        ])
    );
    let e = parse("not proc.name = a and proc.name = b");
    assert_eq!(
        e,
        Expr::And(vec![Expr::Not(Box::new(name_is("a"))), name_is("b")])
    );
    let e = parse("not not proc.name = a");
    assert_eq!(e, Expr::Not(Box::new(Expr::Not(Box::new(name_is("a"))))));
    // Chains are flat.
    let e = parse("proc.name = a and proc.name = b and proc.name = c");
    assert_eq!(e, Expr::And(vec![name_is("a"), name_is("b"), name_is("c")]));
}

#[test]
fn parentheses() {
    let e = parse("(proc.name = a or proc.name = b) and proc.name = c");
    assert_eq!(
        e,
        Expr::And(vec![
            Expr::Or(vec![name_is("a"), name_is("b")]),
            name_is("c"),
        ])
    );
    let e = parse("not (proc.name = a or proc.name = b)");
    assert_eq!(
        e,
        Expr::Not(Box::new(Expr::Or(vec![name_is("a"), name_is("b")])))
    );
    assert_eq!(parse("((proc.name = a))"), name_is("a"));
    assert_eq!(parse("not(proc.name=a)"), Expr::Not(Box::new(name_is("a"))));
    // Nesting is kept: `a and (b and c)` is not flattened into one chain.
    let e = parse("proc.name = a and (proc.name = b and proc.name = c)");
    assert_eq!(
        e,
        Expr::And(vec![
            name_is("a"),
            Expr::And(vec![name_is("b"), name_is("c")]),
        ])
    );
}

#[test]
fn in_lists() {
    let e = parse("proc.name in (bash, 'sh', \"zsh\")");
    assert_eq!(
        e,
        Expr::Cmp(Comparison {
            field: Field::ProcName,
            index: None,
            pred: Predicate::In(vec![s("bash"), s("sh"), s("zsh")]),
        })
    );
    assert_eq!(parse("proc.name in(bash)"), parse("proc.name in ( bash )"));
    let e = parse("fd.sport in (80, 443)");
    assert_eq!(
        e,
        Expr::Cmp(Comparison {
            field: Field::FdSport,
            index: None,
            pred: Predicate::In(vec![Literal::Num(80), Literal::Num(443)]),
        })
    );
    let e = parse("fd.rip in (10.0.0.0/8, ::1)");
    let Expr::Cmp(Comparison {
        pred: Predicate::In(items),
        ..
    }) = e
    else {
        panic!("not a list")
    };
    assert_eq!(
        items,
        [
            Literal::Ip(IpNet::parse("10.0.0.0/8").expect("cidr")),
            Literal::Ip(IpNet::parse("::1").expect("ip")),
        ]
    );
    // evt.type lists accept syscall names and record kinds.
    parse("evt.type in (openat, connect, exec, fork, exit, cgroup_mkdir)");
}

#[test]
fn operators_and_types() {
    for src in [
        "proc.pid = 1",
        "proc.pid != 1",
        "proc.pid < 1",
        "proc.pid <= 1",
        "proc.pid > 1",
        "proc.pid >= 1",
        "proc.pid in (1)",
        "proc.pid exists",
    ] {
        parse(src);
    }
    for op in [
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "regex",
        "matches",
    ] {
        parse(&format!("proc.cmdline {op} x"));
    }
    assert_eq!(
        parse("evt.res < -1"),
        cmp(Field::EvtRes, CmpOp::Lt, Literal::Num(-1))
    );
    assert_eq!(
        parse("evt.res = 0x10"),
        cmp(Field::EvtRes, CmpOp::Eq, Literal::Num(16))
    );
    assert_eq!(
        parse("evt.failed = TRUE"),
        cmp(Field::EvtFailed, CmpOp::Eq, Literal::Bool(true))
    );
    // Quoted numbers are numbers for number fields.
    assert_eq!(
        parse("proc.pid = '5'"),
        cmp(Field::ProcPid, CmpOp::Eq, Literal::Num(5))
    );
    assert_eq!(
        parse("proc.aname[2] = bash"),
        Expr::Cmp(Comparison {
            field: Field::ProcAname,
            index: Some(2),
            pred: Predicate::Cmp(CmpOp::Eq, s("bash")),
        })
    );
    // Aliases resolve to the canonical field.
    assert_eq!(
        parse("fd.dport = 443"),
        cmp(Field::FdSport, CmpOp::Eq, Literal::Num(443))
    );
    match parse("evt.time >= '2024-05-01T12:00:00Z'") {
        Expr::Cmp(Comparison {
            pred: Predicate::Cmp(CmpOp::Ge, Literal::Time(t)),
            ..
        }) => assert_eq!(t.unix_ns, 1_714_564_800_000_000_000),
        other => panic!("not a time: {other:?}"),
    }
    // Multi-line expressions, as rules in YAML have them.
    parse("proc.name = bash\n  and fd.name startswith /etc\n");
}

#[test]
fn fields_used() {
    let f = Filter::parse(
        "proc.name = bash and (fd.name = x or proc.name = sh) and not evt.type = openat",
    )
    .expect("parses");
    assert_eq!(
        f.fields().collect::<Vec<_>>(),
        ["proc.name", "fd.name", "evt.type"]
    );
    assert!(f.needs_context());
    let f = Filter::parse("evt.type = read and proc.pid = 1").expect("parses");
    assert!(!f.needs_context());
    assert_eq!(f.to_string(), "evt.type = \"read\" and proc.pid = 1");
    assert_eq!(f.source(), "evt.type = read and proc.pid = 1");
}

#[test]
fn error_columns() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty filter"),
        ("   ", 1, "empty filter"),
        ("proc.nam = bash", 1, "did you mean `proc.name`"),
        (
            "proc.name = bash and proc.nmae = x",
            22,
            "unknown field `proc.nmae`",
        ),
        (
            "proc.pid contains 3",
            10,
            "`contains` does not apply to proc.pid (a number)",
        ),
        (
            "proc.name < bash",
            11,
            "`<` does not apply to proc.name (a string)",
        ),
        (
            "proc.pid = abc",
            12,
            "expected a number for proc.pid, found `abc`",
        ),
        ("proc.name =", 12, "expected a value"),
        ("proc.name", 10, "expected an operator after proc.name"),
        ("proc.name startwith x", 11, "did you mean `startswith`"),
        (
            "proc.name = my app",
            16,
            "quote a value that contains spaces",
        ),
        (
            "(proc.name = a",
            15,
            "expected `)` to close the `(` at column 1",
        ),
        ("proc.name = a)", 14, "expected `and`, `or` or the end"),
        ("proc.name = a and", 18, "expected a field name"),
        (
            "and proc.name = a",
            1,
            "expected a field name, `(` or `not`, found `and`",
        ),
        ("proc.name in bash", 14, "expected `(` to start the list"),
        ("proc.name in (a b)", 17, "expected `,` or `)`"),
        ("proc.name in (a,)", 17, "expected a value"),
        ("proc.name in ()", 15, "expected a value"),
        ("proc.name = 'abc", 13, "unterminated string"),
        ("proc.name = \"\\xZZ\"", 14, "two hex digits"),
        ("proc.cmdline regex 'a('", 20, "invalid regex"),
        ("evt.type = opnat", 12, "did you mean `openat`"),
        ("fd.type = ipv5", 11, "unknown fd type `ipv5`"),
        ("fd.sip = 1.2.3", 10, "expected an IP address"),
        ("evt.failed = yes", 14, "expected true or false"),
        ("proc.name[1] = x", 10, "takes no [index]"),
        ("proc.aname[x] = x", 12, "expected an index"),
        ("proc.aname[999] = x", 12, "expected an index from 0 to 64"),
        ("proc.name = (a, b)", 13, "for a list use `in (a, b)`"),
        ("evt.time in ('2024-05-01T12:00:00Z')", 14, "not in a list"),
        ("evt.time > yesterday", 12, "RFC 3339"),
        (
            "proc.name = a\n and fd.nam = x",
            6,
            "unknown field `fd.nam`",
        ),
        ("= bash", 1, "expected a field name"),
        ("proc.name ! bash", 11, "expected an operator"),
    ];
    for (src, column, msg) in cases {
        let (col, message) = err(src);
        assert!(
            message.contains(msg),
            "`{src}`: message {message:?} lacks {msg:?}"
        );
        assert_eq!(col, *column, "`{src}`: {message}");
    }
}

#[test]
fn error_display_has_caret() {
    let e = Filter::parse("proc.pid contains 3").expect_err("type error");
    assert_eq!(
        e.to_string(),
        "column 10: `contains` does not apply to proc.pid (a number); it takes =, !=, <, <=, >, >=, in, exists\n  proc.pid contains 3\n           ^"
    );
    let e = Filter::parse("proc.name = a\n and fd.nam = x").expect_err("unknown field");
    assert_eq!(e.line, 2);
    assert!(e
        .to_string()
        .starts_with("line 2, column 6: unknown field `fd.nam`"));
    assert!(e.to_string().ends_with("\n   and fd.nam = x\n       ^"));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}proc.pid = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let (_, msg) = err(&deep);
    assert!(msg.contains("nesting deeper than"), "{msg}");
    let nots = format!("{}proc.pid = 1", "not ".repeat(10_000));
    let (_, msg) = err(&nots);
    assert!(msg.contains("nesting deeper than"), "{msg}");
    // Long flat chains are fine: they are one n-ary node.
    let long = vec!["proc.pid = 1"; 10_000].join(" or ");
    assert!(Filter::parse(&long).is_ok());
    let ok = format!("{}proc.pid = 1{}", "(".repeat(100), ")".repeat(100));
    assert!(Filter::parse(&ok).is_ok());
}

#[test]
fn unicode_columns_count_characters() {
    let (col, _) = err("proc.name = 'é' and fd.nam = x");
    assert_eq!(col, 21);
}

#[test]
fn filter_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Filter>();
}
