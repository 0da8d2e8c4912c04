//! What the kernel-side full-payload policy keeps: a 100 KiB script run by bash, byte for
//! byte; a script piped through `base64 -d | bash`, whole; and an ordinary 100 KiB data
//! write cut at the snaplen with its original length recorded.

use aftertrace_tests::{inspector_json, record_command, require_root};
use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;

fn data(e: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(e["data_base64"].as_str().unwrap_or_default())
        .expect("base64")
}

/// Everything `pid` read from `fd`, concatenated.
fn read_back(events: &[Value], pid: &Value, fd: &Value) -> Vec<u8> {
    events
        .iter()
        .filter(|e| &e["pid"] == pid && e["syscall"] == "read" && &e["args"]["fd"] == fd)
        .flat_map(data)
        .collect()
}

#[test]
fn scripts_are_kept_whole_and_data_is_cut() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A 100 KiB script: lines that do nothing visible.
    let script: String = (0..2000)
        .map(|i| format!(": line {i:05} {}\n", "x".repeat(40)))
        .collect();
    assert!(script.len() >= 100 * 1024);
    std::fs::write(d.join("big.sh"), &script).expect("script");
    let piped = "echo piped-script-ran\nfor i in 1 2 3; do : \"$i\"; done\n".repeat(40);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&piped);
    // An SSH key longer than the snaplen, planted by a program that is no interpreter.
    let key = format!("ssh-ed25519 {} attacker@example\n", "A".repeat(600));
    std::fs::write(d.join("key.pub"), &key).expect("key");
    std::fs::create_dir_all(d.join("home/.ssh")).expect("dirs");
    let workload = format!(
        "bash {dir}/big.sh; echo {b64} | base64 -d | bash > /dev/null; head -c 102400 /dev/zero > {dir}/data.bin; \
         dd if={dir}/key.pub of={dir}/home/.ssh/authorized_keys bs=4096 status=none",
        dir = d.display()
    );
    let capture = d.join("payload.atcap");
    record_command(&capture, &[], ["bash", "-c", &workload]);
    let ev = inspector_json(&capture, "events");

    // bash opens the script, then reads it (on whatever fd it moves it to) in 8 KiB reads.
    let big = format!("{}/big.sh", d.display());
    let open = ev
        .iter()
        .find(|e| e["syscall"] == "openat" && e["args"]["pathname"] == big.as_str())
        .expect("bash opening the script");
    let pid = &open["pid"];
    let fds: Vec<&Value> = ev
        .iter()
        .filter(|e| &e["pid"] == pid && e["syscall"] == "read" && e["args"]["count"] == 8192)
        .map(|e| &e["args"]["fd"])
        .collect();
    let fd = fds.first().expect("bash reading the script in blocks");
    let read = read_back(&ev, pid, fd);
    assert_eq!(
        read.len(),
        script.len(),
        "every byte of the script was kept"
    );
    assert!(
        read == script.as_bytes(),
        "the script came back byte for byte"
    );

    // `base64 -d | bash`: the bash reading the pipe (one byte at a time) has it all.
    let piped_bash = ev
        .iter()
        .filter(|e| e["syscall"] == "read" && e["args"]["fd"] == 0 && e["proc_name"] == "bash")
        .map(|e| e["pid"].clone())
        .find(|p| read_back(&ev, p, &Value::from(0)) == piped.as_bytes())
        .is_some();
    assert!(
        piped_bash,
        "no bash read the whole decoded script from its stdin"
    );

    // A write below a persistence path (authorized_keys) is kept whole.
    let planted = ev
        .iter()
        .find(|e| e["syscall"] == "write" && e["proc_name"] == "dd" && e["data_len"] == key.len())
        .expect("dd's write of the key");
    assert_eq!(data(planted), key.as_bytes(), "the planted key, whole");
    assert_eq!(planted["data_cut"], Value::Null);

    // An ordinary data file: cut at the snaplen (256), original length kept.
    let head_writes: Vec<&Value> = ev
        .iter()
        .filter(|e| e["syscall"] == "write" && e["proc_name"] == "head")
        .collect();
    assert!(!head_writes.is_empty(), "head's writes were recorded");
    let total: u64 = head_writes
        .iter()
        .map(|e| e["data_len"].as_u64().expect("len"))
        .sum();
    assert_eq!(total, 102400, "original lengths add up to what was written");

    // head's reads of /dev/zero: a data-less device, recorded with their length only.
    let at = ev
        .iter()
        .position(|e| {
            e["syscall"] == "openat"
                && e["proc_name"] == "head"
                && e["args"]["pathname"] == "/dev/zero"
        })
        .expect("head opening /dev/zero");
    let zero = &ev[at];
    // After the open: the same fd number served the libraries and locale files before.
    let zero_reads: Vec<&Value> = ev[at..]
        .iter()
        .filter(|e| {
            e["pid"] == zero["pid"] && e["syscall"] == "read" && e["args"]["fd"] == zero["res"]
        })
        .collect();
    assert!(
        !zero_reads.is_empty(),
        "head's reads of /dev/zero were recorded"
    );
    let zero_total: i64 = zero_reads.iter().filter_map(|e| e["res"].as_i64()).sum();
    assert!(zero_total >= 102400, "their lengths are kept");
    assert!(
        zero_reads.iter().all(|e| data(e).is_empty()),
        "no bytes of /dev/zero were copied"
    );
    for w in head_writes {
        if w["data_len"].as_u64() > Some(256) {
            assert_eq!(data(w).len(), 256);
            assert_eq!(w["data_cut"], "snaplen");
        }
    }
}

/// Buffers longer than one kernel item (8 KiB) under the full-payload policy: python
/// importing a module reads the whole file in one `read`, and a dropper writing a script
/// in one go; both kept whole through the pieces that follow the record, and cut exactly
/// at `--payload-cap` when they exceed it.
#[test]
fn one_read_or_write_beyond_8k_is_kept_whole_up_to_the_cap() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A 300 KiB python module: comments and one assignment at the end, so a byte out
    // of place would also break the import.
    let mut module: String = (0..6000)
        .map(|i| format!("# filler {i:05} {}\n", "y".repeat(36)))
        .collect();
    module.push_str("MARKER = 'module-imported'\n");
    assert!(module.len() > 290 * 1024);
    std::fs::write(d.join("bigmod.py"), &module).expect("module");
    let dropped = format!("#!/bin/sh\n{}", ": dropped payload line\n".repeat(9000));
    std::fs::write(d.join("source.sh"), &dropped).expect("source");
    let workload = format!(
        "/usr/bin/python3 -B -c 'import sys; sys.path.insert(0, \"{dir}\"); import bigmod; print(bigmod.MARKER)'; \
         dd if={dir}/source.sh of={dir}/dropped.sh bs=1M status=none",
        dir = d.display()
    );
    let record = |cap: &str, name: &str| {
        let capture = d.join(name);
        let out = record_command(&capture, &["--payload-cap", cap], ["bash", "-c", &workload]);
        assert!(out.contains("module-imported"));
        inspector_json(&capture, "events")
    };
    let module_path = format!("{}/bigmod.py", d.display());
    // python's reads of the module, by the fd its open returned.
    let module_reads = |ev: &[Value]| -> Vec<Value> {
        let open = ev
            .iter()
            .find(|e| {
                e["syscall"] == "openat"
                    && e["args"]["pathname"] == module_path.as_str()
                    && e["res"].as_i64() > Some(0)
            })
            .expect("python opening the module");
        ev.iter()
            .filter(|e| {
                e["pid"] == open["pid"]
                    && e["syscall"] == "read"
                    && e["args"]["fd"] == open["res"]
                    && e["res"].as_i64() > Some(0)
            })
            .cloned()
            .collect()
    };
    let dd_write = |ev: &[Value]| -> Value {
        ev.iter()
            .find(|e| {
                e["syscall"] == "write"
                    && e["proc_name"] == "dd"
                    && e["data_len"].as_u64() == Some(dropped.len() as u64)
            })
            .expect("dd's write of the dropped script")
            .clone()
    };

    let ev = record("1M", "whole.atcap");
    let reads = module_reads(&ev);
    let big = reads
        .iter()
        .find(|e| e["data_len"].as_u64() >= Some(module.len() as u64))
        .expect("the module read in one read");
    assert_eq!(big["data_cut"], Value::Null, "kept whole");
    assert!(
        data(big) == module.as_bytes(),
        "the module came back byte for byte ({} of {} bytes)",
        data(big).len(),
        module.len()
    );
    let w = dd_write(&ev);
    assert_eq!(w["data_len"].as_u64(), Some(dropped.len() as u64));
    assert_eq!(w["data_cut"], Value::Null);
    assert!(data(&w) == dropped.as_bytes(), "the dropped script, whole");

    // With a 64 KiB cap: exactly the first 64 KiB, marked cut, length kept.
    let ev = record("64K", "capped.atcap");
    let reads = module_reads(&ev);
    let big = reads
        .iter()
        .find(|e| e["data_len"].as_u64() >= Some(module.len() as u64))
        .expect("the module read in one read");
    assert_eq!(big["data_cut"], "snaplen");
    assert!(data(big) == module.as_bytes()[..65536]);
    let w = dd_write(&ev);
    assert_eq!(w["data_cut"], "snaplen");
    assert!(data(&w) == dropped.as_bytes()[..65536]);
}

/// `bash -c` with a 40 KiB script (a dropper's usual shape): the whole argv comes back,
/// far beyond the exec record's 4 KiB, and `scripts` rebuilds the script byte for byte.
#[test]
fn a_long_bash_c_script_comes_back_whole() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let script: String = (0..800)
        .map(|i| format!(": stage {i:04} {}\n", "z".repeat(38)))
        .chain(std::iter::once("echo long-argv-ran\n".to_owned()))
        .collect();
    assert!(script.len() > 40 * 1024);
    let capture = dir.path().join("argv.atcap");
    let out = record_command(&capture, &[], ["bash", "-c", &script]);
    assert!(out.contains("long-argv-ran"));
    let commands = inspector_json(&capture, "commands");
    let bash = commands
        .iter()
        .find(|c| {
            c["argv"][0] == "bash"
                && c["argv"][1] == "-c"
                // The recorder sees the whole node: other tests' `bash -c` too.
                && c["argv"][2]
                    .as_str()
                    .is_some_and(|a| a.starts_with(": stage 0000 "))
        })
        .expect("the bash -c command");
    assert_eq!(bash["argv_truncated"], false);
    assert_eq!(
        bash["argv"][2].as_str().map(str::len),
        Some(script.len()),
        "the whole script argument"
    );
    assert!(bash["argv"][2] == script.as_str(), "byte for byte");
    let scripts = inspector_json(&capture, "scripts");
    let rebuilt = scripts
        .iter()
        .find(|s| {
            s["source"] == "argument"
                && s["interpreter"] == "bash"
                && s["size"].as_u64() > Some(40 * 1024)
        })
        .expect("the -c script among the scripts");
    assert_eq!(rebuilt["size"].as_u64(), Some(script.len() as u64));
    assert_eq!(rebuilt["complete"], true);
    let sha = sha2::Sha256::digest(script.as_bytes());
    assert_eq!(rebuilt["sha256"].as_str(), Some(hex(&sha).as_str()));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
