//! The library's queries over a hand-built capture (written with capture-format's writer,
//! in many small chunks): what the filter context answers (names, ancestors, users,
//! containers), that skipping chunks by the index never changes a result, and that output
//! stays in time order when chunks overlap in time.

use aftertrace_filter::Filter;
use aftertrace_inspector::{
    meta::Lookups,
    query::{self, Query},
    select::TimeRange,
};
use capture_format::testing as t;
use capture_format::{
    CaptureReader, CaptureWriter, ClockPair, ContainerInfo, Event, ProcessInfo, ProcessSnapshot,
    UserInfo, UsersAndGroups, WriterOptions,
};
use serde_json::Value;

const CONTAINER: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const CGROUP_HOST: u64 = 10;
const CGROUP_CTR: u64 = 77;
const OPENAT: u32 = 257;
const GETPID: u32 = 39;

fn syscall(ts: u64, pid: u32, nr: u32, cgroup: u64, path: Option<&str>) -> Event {
    t::sys_nr(nr)
        .ret(3)
        .duration(10)
        .cgroup(cgroup)
        .params(path.map(|p| t::path(1, p)))
        .at(ts, pid)
}

fn fork(ts: u64, pid: u32, child: u32, cgroup: u64) -> Event {
    t::event(ts, pid, t::fork(child, cgroup))
}

fn exec(ts: u64, pid: u32, ppid: u32, argv: &[&str], uid: u32, cgroup: u64) -> Event {
    t::exec(argv)
        .ppid(ppid)
        .uid(uid)
        .cgroup(cgroup)
        .cwd("/srv")
        .at(ts, pid)
}

fn exit(ts: u64, pid: u32, status: u32) -> Event {
    t::event(ts, pid, t::exit(status))
}

/// sshd (snapshot, pid 100) forks bash 200 (uid 1000) which runs `cat /etc/shadow` (300)
/// and is killed; in a container, sh 500 (forked by a snapshot runtime 400) runs wget 600
/// as uid 33. Many getpid calls in between spread this over many chunks.
fn events() -> Vec<Event> {
    let mut v = Vec::new();
    let mut t = 1_000;
    let filler = |v: &mut Vec<Event>, t: &mut u64, pid: u32, n: usize| {
        for _ in 0..n {
            *t += 10;
            v.push(syscall(*t, pid, GETPID, CGROUP_HOST, None));
        }
    };
    filler(&mut v, &mut t, 100, 400);
    v.push(fork(t + 1, 100, 200, CGROUP_HOST));
    v.push(exec(t + 2, 200, 100, &["bash", "-i"], 1000, CGROUP_HOST));
    t += 10;
    filler(&mut v, &mut t, 200, 400);
    v.push(fork(t + 1, 200, 300, CGROUP_HOST));
    v.push(exec(
        t + 2,
        300,
        200,
        &["cat", "/etc/shadow"],
        1000,
        CGROUP_HOST,
    ));
    v.push(syscall(
        t + 3,
        300,
        OPENAT,
        CGROUP_HOST,
        Some("/etc/shadow"),
    ));
    v.push(exit(t + 4, 300, 0));
    t += 10;
    filler(&mut v, &mut t, 100, 400);
    v.push(fork(t + 1, 400, 500, CGROUP_CTR));
    v.push(exec(
        t + 2,
        500,
        400,
        &["sh", "-c", "wget x"],
        0,
        CGROUP_CTR,
    ));
    v.push(fork(t + 3, 500, 600, CGROUP_CTR));
    v.push(exec(t + 4, 600, 500, &["wget", "x"], 33, CGROUP_CTR));
    v.push(syscall(t + 5, 600, OPENAT, CGROUP_CTR, Some("/etc/passwd")));
    v.push(exit(t + 6, 600, 1 << 8));
    t += 10;
    filler(&mut v, &mut t, 500, 400);
    v.push(exit(t + 1, 200, 9));
    v
}

fn capture(events: &[Event]) -> CaptureReader {
    let opts = WriterOptions {
        chunk_raw_bytes: 2048,
        ..WriterOptions::default()
    };
    let mut w = CaptureWriter::new(Vec::new(), opts).expect("writer");
    w.write_processes(&ProcessSnapshot {
        ts: 900,
        processes: vec![
            ProcessInfo {
                pid: 100,
                ppid: 1,
                comm: "sshd".into(),
                argv: vec![b"/usr/sbin/sshd".to_vec()],
                cgroup_id: CGROUP_HOST,
                ..Default::default()
            },
            ProcessInfo {
                pid: 400,
                ppid: 1,
                comm: "runc".into(),
                argv: vec![b"runc".to_vec(), b"init".to_vec()],
                cgroup_id: CGROUP_CTR,
                ..Default::default()
            },
        ],
    })
    .expect("snapshot");
    for e in events {
        w.push_event(e).expect("event");
    }
    w.write_clocks(&[ClockPair {
        boot_ns: 0,
        realtime_ns: 1_700_000_000_000_000_000,
    }])
    .expect("clocks");
    w.write_containers(&[ContainerInfo {
        id: CONTAINER.into(),
        runtime: "podman".into(),
        name: Some("web".into()),
        image: Some("localhost/web:1".into()),
        cgroup_ids: vec![CGROUP_CTR],
        ..Default::default()
    }])
    .expect("containers");
    w.write_users(&UsersAndGroups {
        users: vec![
            UserInfo {
                uid: 1000,
                name: "alice".into(),
                container_id: String::new(),
            },
            UserInfo {
                uid: 33,
                name: "www-data".into(),
                container_id: CONTAINER.into(),
            },
        ],
        groups: vec![],
    })
    .expect("users");
    CaptureReader::from_bytes(w.finish().expect("finish")).expect("reader")
}

type QueryFn = fn(
    &CaptureReader,
    &Lookups,
    &Query,
    &mut dyn std::io::Write,
    fn(capture_format::Error),
) -> std::io::Result<()>;

fn run_with(
    reader: &CaptureReader,
    f: QueryFn,
    filter: Option<&str>,
    range: TimeRange,
) -> Vec<Value> {
    let lookups = Lookups::new(reader.metadata());
    let q = Query {
        filter: filter.map(|f| Filter::parse(f).expect("filter")),
        range,
        json: true,
        ..Query::default()
    };
    let mut out = Vec::new();
    f(reader, &lookups, &q, &mut out, |e| panic!("damaged: {e}")).expect("query");
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

fn run(reader: &CaptureReader, f: QueryFn, filter: Option<&str>) -> Vec<Value> {
    run_with(reader, f, filter, TimeRange::default())
}

fn pids(rows: &[Value]) -> Vec<u64> {
    rows.iter()
        .map(|r| r["pid"].as_u64().expect("pid"))
        .collect()
}

#[test]
fn context_fields_come_from_the_reconstruction() {
    let r = capture(&events());
    assert!(r.chunks().len() > 5, "the capture spans many chunks");
    let e = |f| run(&r, query::events, Some(f));
    // Ancestors: cat's parent is bash, bash's is the snapshot's sshd.
    assert_eq!(pids(&e("evt.type = openat and proc.aname = sshd")), [300]);
    assert_eq!(pids(&e("proc.pname = bash and evt.type = exec")), [300]);
    // Users: the host's table for host processes, the container's for container ones.
    assert_eq!(pids(&e("user.name = alice and evt.type = openat")), [300]);
    // (The exit record carries no uid: it is the process's, from the reconstruction.)
    assert_eq!(pids(&e("user.name = www-data")), [600, 600, 600]);
    // Containers by cgroup, including exit records (which carry no cgroup).
    assert_eq!(
        pids(&e("container.name = web and evt.type in (exec, exit)")),
        [500, 600, 600]
    );
    assert_eq!(
        pids(&e("container.id = c0ffee00c0ff and proc.name = wget")).len(),
        3
    );
    // Names before any exec come from the snapshot.
    let sshd = e("proc.name = sshd");
    assert_eq!(sshd.len(), 801, "sshd's getpid calls and its fork");
    assert!(sshd.iter().all(|r| r["proc_name"] == "sshd"));
    // Wall-clock comparisons through the clock pairs.
    let late = e(r#"evt.time >= "2023-11-14T22:13:20.000011Z" and evt.type = exit"#);
    assert_eq!(pids(&late), [600, 200]);
}

#[test]
fn commands_name_users_and_containers() {
    let r = capture(&events());
    let cmds = run(&r, query::commands, None);
    assert_eq!(pids(&cmds), [200, 300, 500, 600]);
    assert_eq!(cmds[1]["user"], "alice");
    assert_eq!(cmds[1]["container_id"], Value::Null);
    assert_eq!(cmds[3]["user"], "www-data");
    assert_eq!(cmds[3]["container_id"], CONTAINER);
    assert_eq!(cmds[3]["container_name"], "web");
    assert_eq!(
        cmds[2]["user"],
        Value::Null,
        "uid 0 is not in the container's table"
    );
    let filtered = run(&r, query::commands, Some("proc.aname = runc"));
    assert_eq!(pids(&filtered), [500, 600]);
}

#[test]
fn processes_have_origins_tombstones_and_children() {
    let r = capture(&events());
    let procs = run(&r, query::procs, None);
    let by_pid = |pid: u64| {
        procs
            .iter()
            .find(|p| p["pid"] == pid)
            .unwrap_or_else(|| panic!("no {pid}"))
    };
    assert_eq!(by_pid(100)["origin"], "snapshot");
    assert_eq!(by_pid(100)["children"], serde_json::json!([200]));
    assert_eq!(by_pid(100)["syscalls"], 800);
    assert_eq!(by_pid(200)["exit_signal"], "SIGKILL");
    assert_eq!(by_pid(600)["exit_code"], 1);
    assert_eq!(by_pid(600)["user"], "www-data");
    assert_eq!(
        by_pid(300)["execs"][0]["argv"],
        serde_json::json!(["cat", "/etc/shadow"])
    );
    // Filters on state reach processes by what they ran, and by their events.
    // 500 was a forked copy of runc until it exec'd sh.
    assert_eq!(
        pids(&run(&r, query::procs, Some("proc.name = runc"))),
        [400, 500]
    );
    assert_eq!(
        pids(&run(
            &r,
            query::procs,
            Some("proc.name = runc and evt.type = exec")
        )),
        Vec::<u64>::new()
    );
    assert_eq!(
        pids(&run(&r, query::procs, Some("fd.name = /etc/shadow"))),
        [300]
    );
    // The tree keeps ancestors for context.
    let tree = run(&r, query::tree, Some("fd.name = /etc/shadow"));
    assert_eq!(pids(&tree), [100, 200, 300]);
    assert_eq!(
        tree.iter()
            .map(|n| n["matched"].clone())
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(tree[2]["depth"], 2);
}

#[test]
fn skipping_chunks_never_changes_a_result() {
    let r = capture(&events());
    let all = run(&r, query::events, None);
    for pid in [100, 300, 500, 600, 999] {
        let by_filter = run(&r, query::events, Some(&format!("proc.pid = {pid}")));
        let expected: Vec<Value> = all.iter().filter(|e| e["pid"] == pid).cloned().collect();
        assert_eq!(by_filter, expected, "proc.pid = {pid}");
    }
    let times: Vec<u64> = {
        let lookups = Lookups::new(r.metadata());
        let clock = lookups.clock();
        let mut t: Vec<u64> = r.events().map(|e| e.expect("event").ts).collect();
        t.sort_unstable();
        assert_eq!(clock.rfc3339(t[0]), all[0]["time"]);
        t
    };
    let (since, until) = (times[500], times[1500]);
    let ranged = run_with(
        &r,
        query::events,
        None,
        TimeRange {
            since: Some(since),
            until: Some(until),
        },
    );
    assert_eq!(ranged.len(), 1001, "both ends inclusive");
    assert_eq!(ranged[0], all[500]);
    assert_eq!(ranged[1000], all[1500]);
    // Names stay right inside a range that starts after the process began.
    assert!(ranged
        .iter()
        .filter(|e| e["pid"] == 200)
        .all(|e| e["proc_name"] == "bash"));
    let cmds = run_with(
        &r,
        query::commands,
        Some("proc.pid in (300, 600)"),
        TimeRange {
            since: Some(since),
            until: None,
        },
    );
    assert_eq!(pids(&cmds), [300, 600]);
}

#[test]
fn output_is_in_time_order_when_chunks_overlap() {
    // Events written out of order across chunk boundaries (a late CPU's records).
    let mut evs = events();
    let n = evs.len();
    // Swap neighbours now and then: slightly out of order inside chunks.
    for i in (0..n - 1).step_by(37) {
        evs.swap(i, i + 1);
    }
    // Move a block of events 300 positions later in the file: a chunk that reaches back
    // over several earlier ones.
    let late: Vec<Event> = evs.drain(100..110).collect();
    for (k, e) in late.into_iter().enumerate() {
        evs.insert(400 + k, e);
    }
    let r = capture(&evs);
    let out = run(&r, query::events, None);
    assert_eq!(out.len(), n);
    let times: Vec<&str> = out
        .iter()
        .map(|e| e["time"].as_str().expect("time"))
        .collect();
    let bad: Vec<_> = times
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] > w[1])
        .collect();
    let chunks: Vec<_> = r.chunks().iter().map(|c| (c.first_ts, c.last_ts)).collect();
    assert!(bad.is_empty(), "events out of order: {bad:?} {chunks:?}");
}
