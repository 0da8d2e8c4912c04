//! The syscall zoo (tests/zoo/zoo.c) makes each decoded syscall with known arguments; the
//! real recorder records it and every one must come back decoded with the right values and
//! return codes, including an execve through the 32-bit entry (int 0x80).

use std::{path::Path, process::Command};

use aftertrace_tests::{inspector_json, record_command, repo_root, require_root};
use serde_json::Value;

fn build_zoo(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("zoo");
    let status = Command::new("cc")
        .args(["-static", "-no-pie", "-O1", "-o"])
        .arg(&out)
        .arg(repo_root().join("tests/zoo/zoo.c"))
        .status()
        .expect("run cc (apt-get install gcc libc6-dev)");
    assert!(status.success(), "building the zoo failed");
    out
}

struct Zoo<'a> {
    events: Vec<&'a Value>,
}

impl Zoo<'_> {
    /// The n-th call of `name` by the zoo process.
    fn nth(&self, name: &str, n: usize) -> &Value {
        self.events
            .iter()
            .filter(|e| e["syscall"] == name)
            .nth(n)
            .copied()
            .unwrap_or_else(|| panic!("no call #{n} of {name} by the zoo"))
    }
    fn call(&self, name: &str) -> &Value {
        self.nth(name, 0)
    }
}

#[test]
fn every_decoded_syscall_comes_back_with_its_values() {
    require_root();
    let work = tempfile::tempdir().expect("tempdir");
    let zoo_bin = build_zoo(work.path());
    let dir = work.path().join("scratch");
    std::fs::create_dir(&dir).expect("scratch dir");
    let d = dir.to_str().expect("UTF-8 path");
    let capture = work.path().join("zoo.atcap");
    record_command(&capture, &[], [zoo_bin.as_os_str(), dir.as_os_str()]);

    let all = inspector_json(&capture, "events");
    let zoo_exec = all
        .iter()
        .find(|e| e["kind"] == "exec" && e["args"]["argv"][1] == d)
        .expect("the zoo's exec");
    let pid = zoo_exec["pid"].clone();
    // From the zoo's own exec on (the recorder's child makes calls before it).
    let start = all
        .iter()
        .position(|e| std::ptr::eq(e, zoo_exec))
        .expect("position");
    let zoo = Zoo {
        events: all[start..].iter().filter(|e| e["pid"] == pid).collect(),
    };
    let file = format!("{d}/file");

    let open = zoo.call("openat");
    assert_eq!(open["args"]["pathname"], file.as_str());
    assert_eq!(open["args"]["flags"], "O_WRONLY|O_CREAT|O_TRUNC");
    assert_eq!(open["args"]["mode"], "0640");
    assert_eq!(open["abi"], "x86_64");
    let fd = open["res"].as_i64().expect("fd");
    assert!(fd >= 3);

    let write = zoo.call("write");
    assert_eq!(write["args"]["fd"], fd);
    assert_eq!(
        (write["data"].as_str(), write["res"].as_i64()),
        (Some("zoo-data-12345"), Some(14))
    );
    assert_eq!(write["data_len"], 14);
    assert_eq!(write["data_cut"], Value::Null);
    let pwrite = zoo.call("pwrite64");
    assert_eq!(
        (pwrite["data"].as_str(), pwrite["args"]["offset"].as_i64()),
        (Some("PW"), Some(100))
    );
    assert_eq!(zoo.call("writev")["data"], "abcd");
    let read = zoo.call("read");
    assert_eq!(
        (read["data"].as_str(), read["res"].as_i64()),
        (Some("zoo-data-12345"), Some(14))
    );
    assert_eq!(zoo.call("pread64")["data"], "PW");
    let readv = zoo.call("readv");
    assert_eq!(
        (readv["data"].as_str(), readv["res"].as_i64()),
        (Some("zoo-dat"), Some(7))
    );
    assert_eq!(zoo.call("dup2")["res"], 100);
    assert_eq!(zoo.call("dup3")["res"], 101);
    let fcntl = zoo.call("fcntl");
    assert_eq!(
        (fcntl["args"]["cmd"].as_i64(), fcntl["res"].as_i64()),
        (Some(0), Some(200))
    );

    let pipe = zoo.call("pipe2");
    assert_eq!(pipe["res"], 0);
    let fds = pipe["args"]["pipefd"].as_array().expect("pipe fds decoded");
    assert_eq!(fds.len(), 2);
    let through = zoo.nth("write", 1);
    assert_eq!(through["args"]["fd"], fds[1]);
    assert_eq!(through["data"], "through-the-pipe");
    assert_eq!(zoo.nth("read", 1)["data"], "through-the-pipe");

    let connect = zoo.call("connect");
    assert_eq!(connect["args"]["addr"], "127.0.0.1:1");
    assert_eq!(connect["res"], -111, "ECONNREFUSED");
    let sock = format!("unix:{d}/sock");
    assert_eq!(zoo.call("bind")["args"]["addr"], sock.as_str());
    let sendto = zoo.call("sendto");
    assert_eq!(
        (
            sendto["data"].as_str(),
            sendto["args"]["dest_addr"].as_str()
        ),
        (Some("hello-unix"), Some(sock.as_str()))
    );
    let recvfrom = zoo.call("recvfrom");
    assert_eq!(
        (
            recvfrom["data"].as_str(),
            recvfrom["args"]["src_addr"].as_str()
        ),
        (Some("hello-unix"), Some(sock.as_str()))
    );
    assert_eq!(
        zoo.call("socketpair")["args"]["sv"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(zoo.call("sendmsg")["data"], "msg-payload");
    assert_eq!(zoo.call("recvmsg")["data"], "msg-payload");

    assert_eq!(zoo.call("mkdir")["args"]["mode"], "0750");
    let rename = zoo.call("rename");
    assert_eq!(rename["args"]["oldpath"], file.as_str());
    assert_eq!(rename["args"]["newpath"], format!("{d}/moved").as_str());
    assert_eq!(zoo.call("symlinkat")["args"]["target"], "moved");
    assert_eq!(
        zoo.call("linkat")["args"]["newpath"],
        format!("{d}/link-hard").as_str()
    );
    assert_eq!(zoo.call("chmod")["args"]["mode"], "0700");
    assert_eq!(zoo.call("fchmodat")["args"]["mode"], "0600");
    assert_eq!(zoo.call("truncate")["args"]["length"], 5);
    assert_eq!(
        zoo.call("unlinkat")["args"]["pathname"],
        format!("{d}/link-hard").as_str()
    );
    assert_eq!(zoo.call("rmdir")["res"], 0);
    assert_eq!(zoo.call("chdir")["args"]["path"], d);

    assert_eq!(zoo.call("kill")["args"]["sig"], "0");
    assert_eq!(zoo.call("memfd_create")["args"]["name"], "zoo-memfd");
    assert_eq!(zoo.call("mprotect")["args"]["prot"], "PROT_READ");
    let mmap_exec = zoo
        .events
        .iter()
        .find(|e| e["syscall"] == "mmap" && e["args"]["prot"] == "PROT_READ|PROT_EXEC")
        .expect("the PROT_EXEC mmap");
    assert_eq!(mmap_exec["args"]["fd"], -1);
    assert_eq!(
        zoo.call("init_module")["args"]["param_values"],
        "zoo-param=1"
    );
    assert_eq!(
        zoo.call("delete_module")["args"]["name"],
        "zoo_no_such_module"
    );
    let mount = zoo.call("mount");
    assert_eq!(
        (
            mount["args"]["source"].as_str(),
            mount["args"]["filesystemtype"].as_str()
        ),
        (Some("zoo-src"), Some("zoofs"))
    );
    assert!(mount["res"].as_i64().expect("res") < 0);
    assert!(zoo.call("io_uring_setup")["res"].as_i64().expect("res") < 0);

    // The child leaves with exit_group(7), which never returns.
    let clone = zoo.call("clone");
    let child = clone["res"].clone();
    let exit = all
        .iter()
        .find(|e| e["pid"] == child && e["syscall"] == "exit_group")
        .expect("the child's exit_group");
    assert_eq!(
        (exit["args"]["status"].as_i64(), exit["completion"].as_str()),
        (Some(7), Some("enter_only"))
    );
    let child_exit = all
        .iter()
        .find(|e| e["pid"] == child && e["kind"] == "exit")
        .expect("the child's exit record");
    assert_eq!(child_exit["args"]["status"], 7 << 8, "wait status");

    // Last, execve through int 0x80: recorded as the i386 execve, decoded, joined with
    // its return (the kernel reports the return as the 64-bit execve).
    let exec32 = zoo
        .events
        .iter()
        .find(|e| e["syscall"] == "execve" && e["abi"] == "i386")
        .expect("the 32-bit execve");
    assert_eq!(exec32["args"]["filename"], "/bin/true");
    assert_eq!(
        (exec32["res"].as_i64(), exec32["completion"].as_str()),
        (Some(0), Some("complete"))
    );
    assert!(zoo
        .events
        .iter()
        .any(|e| e["kind"] == "exec" && e["args"]["argv"] == serde_json::json!(["true", "zoo32"])));
}
