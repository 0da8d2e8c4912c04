//! The body of the fuzz target in `fuzz/`, kept here so that the committed regression
//! inputs (`fuzz/regressions/`) replay through exactly this code in `cargo test`
//! (`tests/fuzz_regressions.rs`). Not part of the crate's API.

use capture_format::{
    Abi, Completion, ContainerInfo, Event, EventBody, Param, ParamValue, ProcessInfo,
    ProcessSnapshot, SockAddr, SyscallEvent,
};

use crate::context::StaticContext;
use crate::Filter;

/// Any text: parsing either fails with an error that renders, or gives a filter that
/// evaluates on every kind of event without panicking, with and without a context.
pub fn filter_expr(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let filter = match Filter::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            let _ = e.message();
            return;
        }
    };
    let _ = filter.fields().count();
    let _ = filter.syscalls_that_can_match();
    let _ = filter.needs_context();
    let with = context();
    let without = StaticContext::new(ProcessSnapshot::default(), Vec::new());
    for e in events() {
        let a = filter.matches(e, &with);
        let b = filter.matches(e, &with);
        assert_eq!(
            a, b,
            "a filter's verdict is a function of the event and context"
        );
        let _ = filter.matches(e, &without);
    }
}

fn context() -> StaticContext {
    let process = |pid: u32, ppid: u32, comm: &str| ProcessInfo {
        pid,
        ppid,
        comm: comm.into(),
        exe: Some(format!("/usr/bin/{comm}").into_bytes()),
        argv: vec![comm.as_bytes().to_vec(), b"-c".to_vec(), b"id".to_vec()],
        cwd: Some(b"/root".to_vec()),
        cgroup_id: 7,
        ..ProcessInfo::default()
    };
    StaticContext::new(
        ProcessSnapshot {
            ts: 0,
            processes: vec![
                process(1, 0, "init"),
                process(100, 1, "bash"),
                process(101, 100, "sh"),
            ],
        },
        vec![ContainerInfo {
            id: "c0ffee".repeat(10) + "c0ff",
            runtime: "podman".into(),
            name: Some("web".into()),
            image: Some("localhost/shop:1".into()),
            cgroup_ids: vec![7],
            ..ContainerInfo::default()
        }],
    )
}

/// Every kind of record and parameter, built once per process.
fn events() -> &'static [Event] {
    static EVENTS: std::sync::OnceLock<Vec<Event>> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| {
        let sys = |nr: u32, ret: i64, params: Vec<Param>| SyscallEvent {
            nr,
            abi: Abi::X86_64,
            completion: Completion::Complete,
            args: [3, 0x7ffd_0000, 64, 0, 0, 0],
            ret: Some(ret),
            duration_ns: Some(900),
            cgroup_id: 7,
            params,
        };
        let p = |slot: u8, value: ParamValue| Param { slot, value };
        let bodies = vec![
            EventBody::Syscall(sys(
                257,
                3,
                vec![p(1, ParamValue::Path(b"/etc/shadow".to_vec()))],
            )),
            EventBody::Syscall(sys(
                42,
                -115,
                vec![p(
                    1,
                    ParamValue::SockAddr(SockAddr::Inet {
                        addr: [10, 0, 0, 1],
                        port: 443,
                    }),
                )],
            )),
            EventBody::Syscall(sys(0, 8, vec![p(1, ParamValue::Fd(3))])),
            EventBody::Syscall(sys(59, 0, vec![p(0, ParamValue::Str(b"x".to_vec()))])),
            EventBody::Syscall(sys(22, 0, vec![p(255, ParamValue::Fds(vec![3, 4]))])),
        ];
        let mut out: Vec<Event> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| Event {
                ts: 1_000 + i as u64,
                cpu: 0,
                pid: 101,
                tid: 101,
                body,
            })
            .collect();
        // The capture-format sample adds execs and data buffers.
        if let Ok(r) = capture_format::CaptureReader::from_bytes(
            capture_format::fuzz_harness::sample_capture(),
        ) {
            out.extend(r.events().flatten());
        }
        out
    })
}
