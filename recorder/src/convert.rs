//! Wire records from the ring buffer -> capture-format events. The kernel's structs are not
//! the on-disk schema; this is the one place that knows both.

use capture_format::{
    Abi, CgroupEvent, Completion, Event, EventBody, ExecEvent, ExitEvent, ForkEvent, SyscallEvent,
};
use recorder_common::{
    exec_flags, kind, syscall_flags, CgroupMkdirRecord, ExecRecord, ExitRecord, ForkRecord,
    RecordHeader, SyscallRecord, EXEC_ARGS_MAX, EXEC_FILENAME_MAX,
};

/// A ring-buffer record that does not match any known layout: a recorder/program version
/// mismatch, never expected in a working build.
#[derive(Debug, thiserror::Error)]
#[error("malformed ring buffer record: kind {kind}, {len} bytes")]
pub struct BadRecord {
    pub kind: u32,
    pub len: usize,
}

fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= size_of::<T>())
        // SAFETY: length checked; every T here is repr(C) plain data valid for any bytes.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The record's completion time: the key events are put back in order by.
pub fn completion_ts(bytes: &[u8]) -> Option<u64> {
    read::<RecordHeader>(bytes).map(|h| h.ts)
}

/// `Ok(None)` for records that are valid but not worth keeping.
pub fn convert(bytes: &[u8]) -> Result<Option<Event>, BadRecord> {
    let bad = |kind| BadRecord {
        kind,
        len: bytes.len(),
    };
    let header: RecordHeader = read(bytes).ok_or(bad(0))?;
    let event = |ts, body| Event {
        ts,
        cpu: header.cpu,
        pid: header.pid,
        tid: header.tid,
        body,
    };
    Ok(Some(match header.kind {
        kind::SYSCALL => {
            let r: SyscallRecord = read(bytes).ok_or(bad(header.kind))?;
            let abi = if r.flags & syscall_flags::COMPAT != 0 {
                Abi::I386
            } else {
                Abi::X86_64
            };
            event(
                r.enter_ts,
                EventBody::Syscall(SyscallEvent {
                    nr: r.nr,
                    abi,
                    completion: Completion::Complete,
                    args: r.args,
                    ret: Some(r.ret),
                    duration_ns: Some(r.header.ts.saturating_sub(r.enter_ts)),
                    cgroup_id: r.cgroup_id,
                    params: Vec::new(),
                }),
            )
        }
        kind::EXEC => {
            let r: ExecRecord = read(bytes).ok_or(bad(header.kind))?;
            let filename = r.filename[..(r.filename_len as usize).min(EXEC_FILENAME_MAX)].to_vec();
            let args = &r.args[..(r.args_len as usize).min(EXEC_ARGS_MAX)];
            let (argv, cut) = split_args(args);
            let truncated = r.flags & (exec_flags::ARGS_TRUNCATED | exec_flags::ARGS_UNREADABLE)
                != 0
                || cut
                || r.args_total as usize > args.len();
            event(
                header.ts,
                EventBody::Exec(ExecEvent {
                    filename,
                    argv,
                    argv_truncated: truncated,
                    ppid: r.ppid,
                    uid: r.uid,
                    gid: r.gid,
                    euid: r.euid,
                    egid: r.egid,
                    cgroup_id: r.cgroup_id,
                    exe: None,
                    cwd: None,
                }),
            )
        }
        kind::FORK => {
            let r: ForkRecord = read(bytes).ok_or(bad(header.kind))?;
            event(
                header.ts,
                EventBody::Fork(ForkEvent {
                    child_pid: r.child_pid,
                    child_tid: r.child_tid,
                    cgroup_id: r.cgroup_id,
                }),
            )
        }
        kind::EXIT => {
            let r: ExitRecord = read(bytes).ok_or(bad(header.kind))?;
            event(
                header.ts,
                EventBody::Exit(ExitEvent {
                    status: r.exit_code,
                    group_dead: r.group_dead != 0,
                }),
            )
        }
        kind::CGROUP_MKDIR => {
            let r: CgroupMkdirRecord = read(bytes).ok_or(bad(header.kind))?;
            // v1 hierarchies (hybrid systems) have their own id spaces; events carry v2 ids.
            if r.hierarchy_id != 0 {
                return Ok(None);
            }
            let len = (r.path_len as usize).min(r.path.len());
            event(
                header.ts,
                EventBody::CgroupMkdir(CgroupEvent {
                    cgroup_id: r.cgroup_id,
                    path: r.path[..len].to_vec(),
                }),
            )
        }
        other => return Err(bad(other)),
    }))
}

/// Splits the argv block (each string NUL-terminated) into strings. Returns whether the
/// last string was cut (no terminating NUL).
fn split_args(block: &[u8]) -> (Vec<Vec<u8>>, bool) {
    if block.is_empty() {
        return (Vec::new(), false);
    }
    let cut = block.last() != Some(&0);
    let body = if cut {
        block
    } else {
        &block[..block.len() - 1]
    };
    (body.split(|&b| b == 0).map(<[u8]>::to_vec).collect(), cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_argv_blocks() {
        assert_eq!(
            split_args(b"ls\0/\0"),
            (vec![b"ls".to_vec(), b"/".to_vec()], false)
        );
        assert_eq!(
            split_args(b"a\0\0b\0").0,
            vec![b"a".to_vec(), vec![], b"b".to_vec()]
        );
        assert_eq!(
            split_args(b"echo\0hel"),
            (vec![b"echo".to_vec(), b"hel".to_vec()], true)
        );
        assert_eq!(split_args(b""), (vec![], false));
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert!(convert(&[0u8; 3]).is_err());
        let mut unknown = [0u8; 64];
        unknown[0] = 99;
        assert_eq!(convert(&unknown).unwrap_err().kind, 99);
        // A syscall header with a body cut short.
        let mut short = [0u8; 30];
        short[0] = kind::SYSCALL as u8;
        assert!(convert(&short).is_err());
    }

    #[test]
    fn converts_exec_with_truncated_args() {
        let mut r = ExecRecord {
            header: RecordHeader {
                kind: kind::EXEC,
                cpu: 1,
                ts: 42,
                pid: 10,
                tid: 10,
            },
            ppid: 9,
            old_pid: 10,
            uid: 65534,
            gid: 65534,
            euid: 65534,
            egid: 65534,
            cgroup_id: 7,
            flags: 0,
            filename_len: 8,
            args_len: 7,
            args_total: 7,
            _pad0: 0,
            filename: [0; EXEC_FILENAME_MAX],
            args: [0; EXEC_ARGS_MAX],
        };
        r.filename[..8].copy_from_slice(b"/bin/cat");
        r.args[..7].copy_from_slice(b"cat\0/x\0");
        // SAFETY: plain repr(C) data viewed as bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&r as *const ExecRecord).cast::<u8>(),
                size_of::<ExecRecord>(),
            )
        };
        let e = convert(bytes).expect("valid").expect("kept");
        let EventBody::Exec(x) = e.body else {
            panic!("not an exec: {e:?}")
        };
        assert_eq!(x.argv, vec![b"cat".to_vec(), b"/x".to_vec()]);
        assert!(!x.argv_truncated);
        assert_eq!((e.pid, x.ppid, x.uid), (10, 9, 65534));
        r.args_total = 9000;
        r.flags = exec_flags::ARGS_TRUNCATED;
        // SAFETY: as above.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&r as *const ExecRecord).cast::<u8>(),
                size_of::<ExecRecord>(),
            )
        };
        let EventBody::Exec(x) = convert(bytes).expect("valid").expect("kept").body else {
            panic!()
        };
        assert!(x.argv_truncated);
    }
}
