//! Evaluation over hand-built events with a StaticContext: an exec of bash in a container,
//! an openat with a Path parameter, a connect with an IPv4 address, and the edge cases of
//! missing and multi-valued fields.

use aftertrace_filter::{
    Argv, Context, FdView, Filter, NoContext, ProcessView, SocketRole, StaticContext,
};
use capture_format::{
    Abi, BootNs, Buffer, BufferCut, CgroupEvent, ClockPair, Completion, ContainerInfo, Event,
    EventBody, ExecEvent, ExitEvent, FdInfo, FdKind, ForkEvent, Param, ParamValue, ProcessInfo,
    ProcessSnapshot, SockAddr, SyscallEvent, UserInfo, UsersAndGroups,
};

const CONTAINER_ID: &str = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081";
const CONTAINER_CG: u64 = 5000;
const HOST_CG: u64 = 1;
/// 2024-05-01T12:00:00Z
const WALL_AT_BOOT: i64 = 1_714_564_800_000_000_000;

fn proc_info(pid: u32, ppid: u32, comm: &str, argv: &[&str], cg: u64, euid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid,
        comm: comm.into(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        uid: euid,
        euid,
        cgroup_id: cg,
        ..Default::default()
    }
}

fn inet(a: [u8; 4], port: u16) -> SockAddr {
    SockAddr::Inet { addr: a, port }
}

/// systemd(1) -> conmon(100) -> sh(200) -> bash(300), the last two in a podman container;
/// systemd -> curl(400) on the host, as uid 1000; nginx(500) in the container, listening.
fn context() -> StaticContext {
    let mut bash = proc_info(300, 200, "bash", &["bash", "-i"], CONTAINER_CG, 0);
    bash.exe = Some(b"/usr/bin/bash".to_vec());
    bash.cwd = Some(b"/root".to_vec());
    bash.fds = vec![
        FdInfo {
            fd: 0,
            kind: FdKind::Tty,
            name: b"/dev/pts/0".to_vec(),
            local: None,
            remote: None,
        },
        FdInfo {
            fd: 4,
            kind: FdKind::Pipe,
            name: b"pipe:[1234]".to_vec(),
            local: None,
            remote: None,
        },
    ];
    let mut curl = proc_info(
        400,
        1,
        "curl",
        &["curl", "-s", "https://example.com/x.sh"],
        HOST_CG,
        1000,
    );
    curl.fds = vec![FdInfo {
        fd: 5,
        kind: FdKind::Socket,
        name: b"socket:[777]".to_vec(),
        local: Some(inet([10, 0, 0, 5], 51234)),
        remote: None,
    }];
    let mut nginx = proc_info(
        500,
        100,
        "nginx",
        &["nginx", "-g", "daemon off;"],
        CONTAINER_CG,
        33,
    );
    nginx.fds = vec![FdInfo {
        fd: 6,
        kind: FdKind::Socket,
        name: b"socket:[888]".to_vec(),
        local: Some(SockAddr::Inet6 {
            addr: [0; 16],
            port: 8080,
            scope_id: 0,
        }),
        remote: None,
    }];
    let snapshot = ProcessSnapshot {
        ts: 0,
        processes: vec![
            proc_info(1, 0, "systemd", &["/sbin/init"], HOST_CG, 0),
            proc_info(
                100,
                1,
                "conmon",
                &["/usr/bin/conmon", "--api-version", "1"],
                HOST_CG,
                0,
            ),
            proc_info(
                200,
                100,
                "sh",
                &["/bin/sh", "-c", "sleep 1; bash -i"],
                CONTAINER_CG,
                0,
            ),
            bash,
            curl,
            nginx,
        ],
    };
    let containers = vec![ContainerInfo {
        id: CONTAINER_ID.into(),
        runtime: "podman".into(),
        name: Some("web".into()),
        image: Some("docker.io/library/nginx:latest".into()),
        cgroup_ids: vec![CONTAINER_CG],
        ..Default::default()
    }];
    let user = |uid: u32, name: &str, container: &str| UserInfo {
        uid,
        name: name.into(),
        container_id: container.into(),
    };
    StaticContext::new(snapshot, containers)
        .with_users(UsersAndGroups {
            users: vec![
                user(0, "root", ""),
                user(1000, "alice", ""),
                user(0, "root", CONTAINER_ID),
                user(33, "www-data", CONTAINER_ID),
            ],
            groups: vec![],
        })
        .with_clock(vec![ClockPair {
            boot_ns: 0,
            realtime_ns: WALL_AT_BOOT,
        }])
}

fn event(pid: u32, body: EventBody) -> Event {
    Event {
        ts: 5_000_000_000,
        cpu: 2,
        pid,
        tid: pid + 1,
        body,
    }
}

fn syscall(
    pid: u32,
    abi: Abi,
    nr: u32,
    args: [u64; 6],
    ret: Option<i64>,
    params: Vec<Param>,
) -> Event {
    let cg = if pid == 400 { HOST_CG } else { CONTAINER_CG };
    event(
        pid,
        EventBody::Syscall(SyscallEvent {
            nr,
            abi,
            completion: if ret.is_some() {
                Completion::Complete
            } else {
                Completion::EnterOnly
            },
            args,
            ret,
            duration_ns: ret.map(|_| 1500),
            cgroup_id: cg,
            params,
        }),
    )
}

fn param(slot: u8, value: ParamValue) -> Param {
    Param { slot, value }
}

const AT_FDCWD: u64 = -100i64 as u64;

fn exec_bash() -> Event {
    event(
        300,
        EventBody::Exec(ExecEvent {
            filename: b"/usr/bin/bash".to_vec(),
            argv: vec![b"bash".to_vec(), b"-i".to_vec()],
            argv_truncated: false,
            ppid: 200,
            uid: 0,
            gid: 0,
            euid: 0,
            egid: 0,
            cgroup_id: CONTAINER_CG,
            exe: Some(b"/usr/bin/bash".to_vec()),
            cwd: Some(b"/root".to_vec()),
        }),
    )
}

fn openat(path: &str, flags: u64, ret: i64) -> Event {
    syscall(
        300,
        Abi::X86_64,
        257,
        [AT_FDCWD, 0x7ffd_0000, flags, 0, 0, 0],
        Some(ret),
        vec![param(1, ParamValue::Path(path.as_bytes().to_vec()))],
    )
}

fn connect_curl() -> Event {
    syscall(
        400,
        Abi::X86_64,
        42,
        [5, 0x7ffd_0000, 16, 0, 0, 0],
        Some(0),
        vec![
            param(0, ParamValue::Fd(5)),
            param(1, ParamValue::SockAddr(inet([93, 184, 216, 34], 443))),
        ],
    )
}

/// Asserts each filter's result on `ev` under `ctx`.
#[track_caller]
fn check(ev: &Event, ctx: &dyn Context, cases: &[(&str, bool)]) {
    for (src, want) in cases {
        let filter = Filter::parse(src).unwrap_or_else(|e| panic!("`{src}`:\n{e}"));
        assert_eq!(filter.matches(ev, ctx), *want, "`{src}` on {:?}", ev.body);
        // A pass may skip the syscalls outside this set: a match must never be one.
        if let (true, EventBody::Syscall(s), Some(set)) =
            (*want, &ev.body, filter.syscalls_that_can_match())
        {
            assert!(
                set.contains(s.abi, s.nr),
                "`{src}` matches outside its syscall set"
            );
        }
        // The canonical form means the same.
        let again = Filter::parse(&filter.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.matches(ev, ctx), *want, "canonical `{again}`");
    }
}

#[test]
fn exec_of_bash_in_a_container() {
    let ctx = context();
    check(
        &exec_bash(),
        &ctx,
        &[
            ("evt.type = exec", true),
            ("evt.type = execve", false),
            ("evt.type != exec", false),
            ("evt.type in (fork, exec)", true),
            ("proc.name = bash", true),
            ("proc.name = bash and container.id != host", true),
            ("proc.exe = /usr/bin/bash", true),
            ("proc.cmdline = 'bash -i'", true),
            ("proc.args = -i", true),
            ("proc.cwd = /root", true),
            (
                "proc.pid = 300 and proc.tid = 301 and thread.tid = 301",
                true,
            ),
            ("proc.ppid = 200", true),
            ("proc.pname = sh", true),
            // Any ancestor, like Falco; the process itself is not its own ancestor.
            ("proc.aname = sh", true),
            ("proc.aname = conmon", true),
            ("proc.aname = systemd", true),
            ("proc.aname = bash", false),
            ("proc.aname in (zsh, conmon)", true),
            ("proc.aname startswith con", true),
            ("proc.aname != bash", true),
            ("proc.aname != sh", false),
            ("proc.aname[0] = bash", true),
            ("proc.aname[1] = sh", true),
            ("proc.aname[2] = conmon", true),
            ("proc.aname[3] = systemd", true),
            ("proc.aname[4] exists", false),
            ("proc.apid = 100", true),
            ("proc.apid[3] = 1", true),
            ("proc.apid[0] = 300", true),
            ("proc.apid != 1", false),
            ("container.id = 3f4e5a6b7c8d", true),
            (&format!("container.full_id = {CONTAINER_ID}"), true),
            ("container.name = web", true),
            ("container.image startswith docker.io/library/nginx", true),
            ("container.runtime = podman", true),
            ("user.name = root and user.uid = 0", true),
            ("evt.res exists", false),
            ("evt.failed exists", false),
            ("fd.name exists", false),
            ("fd.name != /etc/passwd", false),
            ("not fd.name = /etc/passwd", true),
            ("evt.cpu = 2", true),
        ],
    );
}

#[test]
fn exec_name_is_the_kernel_comm() {
    let ctx = context();
    let mut ev = exec_bash();
    if let EventBody::Exec(x) = &mut ev.body {
        x.filename = b"/usr/local/bin/kube-controller-manager".to_vec();
        x.exe = None;
        x.argv = vec![];
        x.euid = 33;
    }
    check(
        &ev,
        &ctx,
        &[
            ("proc.name = kube-controller", true),
            ("proc.exe = /usr/local/bin/kube-controller-manager", true),
            ("proc.cmdline exists", false),
            // uid 33 is named from the container's passwd.
            ("user.name = www-data", true),
        ],
    );
}

#[test]
fn openat_with_a_path() {
    let ctx = context();
    let ev = openat("/etc/shadow", 0o2000000, 3);
    check(
        &ev,
        &ctx,
        &[
            ("evt.type = openat", true),
            ("evt.type in (open, openat, openat2)", true),
            ("evt.type != openat", false),
            ("evt.type = read", false),
            ("evt.type startswith open", true),
            ("fd.name = /etc/shadow", true),
            ("fd.name startswith /etc/", true),
            ("fd.name endswith shadow", true),
            ("fd.name contains sha", true),
            ("fd.name icontains SHADOW", true),
            ("fd.name contains SHADOW", false),
            ("fd.name regex '^/etc/g?shadow$'", true),
            ("fd.name matches 'passwd'", false),
            ("fd.name in (/etc/passwd, /etc/shadow)", true),
            ("fd.type = file", true),
            ("fd.num = 3 and evt.res = 3", true),
            ("evt.failed = false", true),
            ("evt.latency > 1000 and evt.latency <= 1500", true),
            ("evt.time = 5000000000", true),
            ("proc.name = bash and proc.cmdline = 'bash -i'", true),
            ("user.name = root", true),
            ("container.name = web", true),
            ("fd.sip exists or fd.port exists", false),
            (
                "proc.name = bash and fd.name startswith /etc and not evt.failed = true",
                true,
            ),
        ],
    );
    let dir = openat("/etc", 0o200000, 4);
    check(&dir, &ctx, &[("fd.type = directory", true)]);
    let failed = openat("/nonexistent", 0, -2);
    check(
        &failed,
        &ctx,
        &[
            ("evt.failed = true", true),
            ("evt.res = -2", true),
            ("evt.res < 0", true),
            ("fd.num exists", false),
            ("fd.name = /nonexistent", true),
        ],
    );
    // The same syscall through the i386 ABI has another number and the same name.
    let compat = syscall(
        300,
        Abi::I386,
        295,
        [AT_FDCWD & 0xffff_ffff, 0, 0, 0, 0, 0],
        None,
        vec![param(1, ParamValue::Path(b"/tmp/x".to_vec()))],
    );
    check(
        &compat,
        &ctx,
        &[
            ("evt.type = openat", true),
            ("evt.type in (read, openat)", true),
            ("evt.res exists", false),
            ("evt.latency exists", false),
            ("fd.name = /tmp/x", true),
        ],
    );
}

#[test]
fn connect_with_an_inet_address() {
    let ctx = context();
    let ev = connect_curl();
    check(
        &ev,
        &ctx,
        &[
            ("evt.type = connect", true),
            ("fd.sip = 93.184.216.34 and fd.sport = 443", true),
            ("fd.dip = 93.184.216.34 and fd.dport = 443", true),
            ("fd.rip = 93.184.216.0/24 and fd.rport = 443", true),
            ("fd.rip = 93.184.217.0/24", false),
            ("fd.sip in (1.1.1.1, 93.184.0.0/16)", true),
            ("fd.sip != 93.184.216.34", false),
            ("fd.sip != 1.1.1.1", true),
            ("fd.cip = 10.0.0.5 and fd.cport = 51234", true),
            ("fd.lip = 10.0.0.5 and fd.lport = 51234", true),
            ("fd.ip = 10.0.0.5", true),
            ("fd.ip = 93.184.216.34", true),
            ("fd.ip = 8.8.8.8", false),
            ("fd.ip != 8.8.8.8", true),
            ("fd.ip != 10.0.0.5", false),
            ("fd.port in (80, 443)", true),
            ("fd.port > 50000", true),
            ("fd.type = ipv4", true),
            ("fd.name = '10.0.0.5:51234->93.184.216.34:443'", true),
            ("fd.name contains 93.184.216.34", true),
            ("fd.num = 5", true),
            ("container.id = host and container.name = host", true),
            ("container.image exists", false),
            ("user.name = alice and user.uid = 1000", true),
            (
                "proc.name = curl and proc.cmdline contains example.com",
                true,
            ),
            ("proc.args = '-s https://example.com/x.sh'", true),
            ("proc.aname = systemd and proc.aname[1] = systemd", true),
        ],
    );
    // Without a context, what the event carries still answers.
    check(
        &ev,
        &NoContext,
        &[
            ("fd.sip = 93.184.216.34 and fd.sport = 443", true),
            ("fd.cip exists", false),
            ("fd.name = '93.184.216.34:443'", true),
            ("fd.type = ipv4", true),
            ("proc.name exists", false),
            ("proc.name != curl", false),
            ("not proc.name = curl", true),
            ("container.id exists", false),
        ],
    );
}

#[test]
fn accept_of_a_mapped_ipv6_peer() {
    let ctx = context();
    let mut peer = [0u8; 16];
    peer[10] = 0xff;
    peer[11] = 0xff;
    peer[12..].copy_from_slice(&[192, 168, 1, 9]);
    let ev = syscall(
        500,
        Abi::X86_64,
        288, // accept4
        [6, 0, 0, 0, 0, 0],
        Some(7),
        vec![param(
            1,
            ParamValue::SockAddr(SockAddr::Inet6 {
                addr: peer,
                port: 40000,
                scope_id: 0,
            }),
        )],
    );
    check(
        &ev,
        &ctx,
        &[
            ("evt.type = accept4", true),
            // The peer is the client, in IPv4 terms; the listener's address is the server.
            ("fd.cip = 192.168.1.9 and fd.cport = 40000", true),
            ("fd.cip = ::ffff:192.168.1.9", true),
            ("fd.sport = 8080 and fd.lport = 8080", true),
            ("fd.sip = ::", true),
            ("fd.num = 7", true),
            ("fd.type = ipv4", true),
            ("fd.name = '192.168.1.9:40000->[::]:8080'", true),
            ("user.name = www-data", true),
        ],
    );
}

#[test]
fn unix_sockets_ttys_pipes_and_buffers() {
    let ctx = context();
    let docker = syscall(
        300,
        Abi::X86_64,
        42,
        [9, 0, 0, 0, 0, 0],
        Some(0),
        vec![param(
            1,
            ParamValue::SockAddr(SockAddr::Unix(b"/run/docker.sock".to_vec())),
        )],
    );
    check(
        &docker,
        &ctx,
        &[
            ("fd.name = /run/docker.sock", true),
            ("fd.type = unix", true),
            ("fd.sip exists", false),
        ],
    );
    let read_tty = syscall(
        300,
        Abi::X86_64,
        0,
        [0, 0, 4096, 0, 0, 0],
        Some(9),
        vec![param(
            1,
            ParamValue::Buffer(Buffer {
                data: b"cat /etc/shadow\n".to_vec(),
                original_len: 16,
                cut: BufferCut::Whole,
            }),
        )],
    );
    check(
        &read_tty,
        &ctx,
        &[
            (
                "fd.name = /dev/pts/0 and fd.type = tty and fd.num = 0",
                true,
            ),
            ("evt.buffer contains /etc/shadow", true),
            ("evt.buffer startswith cat", true),
            ("evt.buffer = 'cat /etc/shadow\\n'", true),
            ("evt.buffer regex '^cat\\s'", true),
        ],
    );
    let write_pipe = syscall(
        300,
        Abi::X86_64,
        1,
        [4, 0, 5, 0, 0, 0],
        Some(5),
        vec![param(
            1,
            ParamValue::Buffer(Buffer {
                data: b"#!/bi".to_vec(),
                original_len: 5000,
                cut: BufferCut::Snaplen,
            }),
        )],
    );
    check(
        &write_pipe,
        &ctx,
        &[
            ("fd.type = pipe and fd.name startswith pipe:", true),
            ("evt.buffer startswith '#!'", true),
        ],
    );
    let socket = syscall(300, Abi::X86_64, 41, [10, 1, 0, 0, 0, 0], Some(8), vec![]);
    check(&socket, &ctx, &[("fd.type = ipv6 and fd.num = 8", true)]);
}

#[test]
fn records_that_are_not_syscalls() {
    let ctx = context();
    let fork = event(
        200,
        EventBody::Fork(ForkEvent {
            child_pid: 300,
            child_tid: 300,
            cgroup_id: CONTAINER_CG,
        }),
    );
    check(
        &fork,
        &ctx,
        &[
            ("evt.type = fork and proc.name = sh", true),
            ("evt.res exists", false),
            ("container.name = web", true),
        ],
    );
    let exit = event(
        400,
        EventBody::Exit(ExitEvent {
            status: 0,
            group_dead: true,
        }),
    );
    // Exit carries no cgroup: the process table's is used.
    check(
        &exit,
        &ctx,
        &[("evt.type = exit and container.id = host", true)],
    );
    let mkdir = event(
        100,
        EventBody::CgroupMkdir(CgroupEvent {
            cgroup_id: 6000,
            path: b"/sys/fs/cgroup/machine.slice/x".to_vec(),
        }),
    );
    check(
        &mkdir,
        &ctx,
        &[("evt.type = cgroup_mkdir and proc.name = conmon", true)],
    );
    let unknown = syscall(300, Abi::X86_64, 9999, [0; 6], Some(0), vec![]);
    check(
        &unknown,
        &ctx,
        &[
            ("evt.type exists", false),
            ("evt.type != openat", false),
            ("not evt.type = openat", true),
            ("evt.type startswith open", false),
        ],
    );
}

#[test]
fn wall_clock_times() {
    let ctx = context();
    let ev = openat("/etc/shadow", 0, 3);
    check(
        &ev,
        &ctx,
        &[
            (
                "evt.time > '2024-05-01T12:00:04Z' and evt.time < '2024-05-01T12:00:06Z'",
                true,
            ),
            ("evt.time = '2024-05-01T12:00:05Z'", true),
            ("evt.time = '2024-05-01T14:00:05+02:00'", true),
            ("evt.time != '2024-05-01T12:00:05Z'", false),
            ("evt.time >= '2024-05-01T12:00:05.000000001Z'", false),
        ],
    );
    check(
        &ev,
        &NoContext,
        &[
            ("evt.time > '2024-05-01T12:00:04Z'", false),
            ("evt.time <= '2024-05-01T12:00:04Z'", false),
        ],
    );
}

#[test]
fn precedence_when_evaluating() {
    let ctx = context();
    let ev = exec_bash();
    check(
        &ev,
        &ctx,
        &[
            // or(a, and(b, c)): true through a.
            (
                "proc.name = bash or proc.name = x and evt.type = openat",
                true,
            ),
            // and(or(a, b), c): false through c.
            (
                "(proc.name = bash or proc.name = x) and evt.type = openat",
                false,
            ),
            ("not proc.name = x and proc.name = bash", true),
            ("not (proc.name = x or proc.name = bash)", false),
            ("not not proc.name = bash", true),
        ],
    );
}

#[test]
fn long_lists() {
    let ctx = context();
    let names: Vec<String> = (0..200).map(|i| format!("name{i}")).collect();
    let src = format!("proc.name in ({}, bash)", names.join(", "));
    check(&exec_bash(), &ctx, &[(&src, true)]);
    let pids: Vec<String> = (1000..1300).map(|i| i.to_string()).collect();
    let src = format!("proc.pid in ({}, 300)", pids.join(", "));
    check(&exec_bash(), &ctx, &[(&src, true)]);
    let src = format!("proc.pid in ({})", pids.join(", "));
    check(&exec_bash(), &ctx, &[(&src, false)]);
}

/// A context written against the trait alone, with its own storage shapes: argv as
/// `/proc/PID/cmdline` bytes, socket roles, and a cyclic parent table.
struct LiveTables {
    cmdline: Vec<u8>,
    remote: SockAddr,
}

impl Context for LiveTables {
    fn process(&self, pid: u32, _at: BootNs) -> Option<ProcessView<'_>> {
        // 10 -> 11 -> 10 -> ...: a broken table must not hang the evaluator.
        let ppid = if pid == 10 { 11 } else { 10 };
        Some(ProcessView {
            pid,
            ppid,
            name: if pid == 10 { b"python3" } else { b"loop" },
            exe: None,
            argv: Argv::NulSeparated(&self.cmdline),
            cwd: None,
            uid: 0,
            euid: 0,
            cgroup_id: 0,
        })
    }

    fn fd(&self, _pid: u32, fd: i32, _at: BootNs) -> Option<FdView<'_>> {
        (fd == 3).then_some(FdView {
            kind: FdKind::Socket,
            name: b"socket:[1]",
            local: None,
            remote: Some(&self.remote),
            role: Some(SocketRole::Client),
        })
    }
}

#[test]
fn a_custom_context() {
    let ctx = LiveTables {
        cmdline: b"python3\0-c\0import os\0".to_vec(),
        remote: inet([8, 8, 8, 8], 53),
    };
    let send = syscall(10, Abi::X86_64, 44, [3, 0, 0, 0, 0, 0], Some(30), vec![]);
    check(
        &send,
        &ctx,
        &[
            ("proc.cmdline = 'python3 -c import os'", true),
            ("proc.args = '-c import os'", true),
            ("proc.aname = loop", true),
            ("proc.aname = nothing", false),
            ("proc.aname[64] exists", true),
            ("fd.sip = 8.8.8.8 and fd.sport = 53", true),
            ("fd.cip exists", false),
            ("fd.name = 8.8.8.8:53", true),
            ("fd.type = ipv4", true),
            // This context knows no containers: unknown is not the host.
            ("container.id exists", false),
        ],
    );
}

#[test]
fn evaluation_is_reentrant_and_threads_share_a_filter() {
    let filter = std::sync::Arc::new(
        Filter::parse("proc.cmdline contains 'sleep 1' or proc.aname = sh").expect("parses"),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let filter = filter.clone();
            std::thread::spawn(move || {
                let ctx = context();
                (0..1000).all(|_| filter.matches(&exec_bash(), &ctx))
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().expect("thread"));
    }
}

#[test]
fn syscalls_that_can_match_follow_evt_type() {
    let set = |src: &str| {
        Filter::parse(src)
            .expect("parses")
            .syscalls_that_can_match()
    };
    let nr = |name: &str| capture_format::syscall_number(Abi::X86_64, name).expect(name);
    let has = |s: &capture_format::SyscallSet, name: &str| s.contains(Abi::X86_64, nr(name));

    let s = set("evt.type = execve and proc.name = sh").expect("bounded");
    assert!(has(&s, "execve") && !has(&s, "read"));
    let s =
        set("evt.type in (openat, read) and (evt.type = read or proc.pid = 1)").expect("bounded");
    assert!(has(&s, "read") && has(&s, "openat") && !has(&s, "write"));
    let s = set("evt.type in (openat, read) and evt.type in (read, write)").expect("bounded");
    assert!(has(&s, "read") && !has(&s, "openat") && !has(&s, "write"));
    let s = set("evt.type = connect or evt.type = accept4").expect("bounded");
    assert!(has(&s, "connect") && has(&s, "accept4") && !has(&s, "read"));
    // Only the exec record, which is no syscall.
    assert_eq!(
        set("evt.type = exec"),
        Some(capture_format::SyscallSet::new())
    );

    for unbounded in [
        "proc.name = sh",
        "evt.type = execve or proc.name = sh",
        "evt.type != read",
        "not evt.type = read",
        "evt.type startswith exec",
    ] {
        assert_eq!(set(unbounded), None, "{unbounded}");
    }
}
