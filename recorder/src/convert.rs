//! Wire records from the ring buffer -> capture-format events. The kernel's structs are not
//! the on-disk schema; this is the one place that knows both.

use std::collections::HashMap;

use crate::probes::Ring;
use capture_format::{
    Abi, Buffer, BufferCut, CgroupEvent, Completion, Event, EventBody, ExecEvent, ExitEvent,
    ForkEvent, Param, ParamValue, SockAddr, SyscallEvent,
};
use recorder_common::{
    data_more_flags, exec_flags, kind, param_flags, param_kind, syscall_flags, CgroupMkdirRecord,
    DataMoreRecord, ExecRecord, ExitRecord, ForkRecord, ParamHeader, RecordHeader, SyscallRecord,
    EXEC_ARGS_MAX, EXEC_FILENAME_MAX,
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

/// Turns records into events, joining the two halves of a successful execve (its filename
/// from sched_process_exec, its return from sys_exit) by thread id, and full-payload
/// buffers with the pieces that follow them.
#[derive(Default)]
pub struct Decoder {
    /// Enter halves waiting for their exit, by thread id. Both halves come through the
    /// lifecycle ring, in order.
    pending: HashMap<u32, Event>,
    /// Events whose data continues in DATA_MORE pieces, by ring and thread id. The kernel
    /// emits the pieces right after the record, in the same program run and ring, so any
    /// other record of the thread in that ring means no more pieces are coming (one was
    /// lost). The other ring's records say nothing: the two are read one after the other.
    growing: [HashMap<u32, Growing>; 2],
}

/// An event waiting for the DATA_MORE pieces of its data.
enum Growing {
    /// A syscall whose full-payload buffer continues.
    Buffer(Event),
    /// An exec whose argv block continues: the raw block so far and its full size.
    Args {
        event: Event,
        block: Vec<u8>,
        total: u64,
    },
}

impl Growing {
    fn ts(&self) -> u64 {
        match self {
            Growing::Buffer(e) | Growing::Args { event: e, .. } => e.ts,
        }
    }

    /// Appends a piece that starts where the data so far ends; false for one that does
    /// not (a piece was lost: never glued across the hole).
    fn append(&mut self, offset: u64, data: &[u8]) -> bool {
        match self {
            Growing::Buffer(event) => {
                let EventBody::Syscall(s) = &mut event.body else {
                    return false;
                };
                let buffer = s.params.iter_mut().find_map(|p| match &mut p.value {
                    ParamValue::Buffer(b) if b.cut == BufferCut::Snaplen => Some(b),
                    _ => None,
                });
                match buffer {
                    Some(b) if b.data.len() as u64 == offset => {
                        b.data.extend_from_slice(data);
                        if b.data.len() as u64 >= b.original_len {
                            b.cut = BufferCut::Whole;
                        }
                        true
                    }
                    _ => false,
                }
            }
            Growing::Args { block, .. } if block.len() as u64 == offset => {
                block.extend_from_slice(data);
                true
            }
            Growing::Args { .. } => false,
        }
    }

    /// The event with the data it got.
    fn into_event(self) -> Event {
        match self {
            Growing::Buffer(event) => event,
            Growing::Args {
                mut event,
                block,
                total,
            } => {
                if let EventBody::Exec(x) = &mut event.body {
                    let (argv, cut) = split_args(&block);
                    x.argv = argv;
                    x.argv_truncated = cut || (block.len() as u64) < total;
                }
                event
            }
        }
    }
}

impl Decoder {
    /// Decodes one record of the event ring; see [`Decoder::decode_from`].
    #[cfg(test)]
    pub fn decode(&mut self, bytes: &[u8], emit: &mut impl FnMut(Event)) -> Result<(), BadRecord> {
        self.decode_from(Ring::Events, bytes, emit)
    }

    /// Decodes one record from `ring`, handing `emit` the events it completes: none (an
    /// enter half waiting for its exit), one, or two (a thread's exit completes its
    /// pending enter).
    pub fn decode_from(
        &mut self,
        ring: Ring,
        bytes: &[u8],
        emit: &mut impl FnMut(Event),
    ) -> Result<(), BadRecord> {
        let ri = ring as usize;
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
        if !self.growing[ri].is_empty() && header.kind != kind::DATA_MORE {
            if let Some(done) = self.growing[ri].remove(&header.tid) {
                emit(done.into_event());
            }
        }
        let body = match header.kind {
            kind::DATA_MORE => {
                let r: DataMoreRecord = read(bytes).ok_or(bad(header.kind))?;
                let data = bytes
                    .get(size_of::<DataMoreRecord>()..)
                    .and_then(|d| d.get(..r.len as usize))
                    .ok_or(bad(header.kind))?;
                self.grow(ring, &r, data, emit);
                return Ok(());
            }
            kind::SYSCALL => {
                let (first, second) = self.syscall(ring, bytes).ok_or(bad(header.kind))?;
                first.into_iter().chain(second).for_each(emit);
                return Ok(());
            }
            kind::EXEC => {
                let r: ExecRecord = read(bytes).ok_or(bad(header.kind))?;
                let e = event(header.ts, EventBody::Exec(exec(&r)));
                if r.flags & exec_flags::ARGS_CONTINUED != 0 {
                    let block = r.args[..(r.args_len as usize).min(EXEC_ARGS_MAX)].to_vec();
                    let total = u64::from(r.args_total);
                    self.growing[ri].insert(
                        header.tid,
                        Growing::Args {
                            event: e,
                            block,
                            total,
                        },
                    );
                } else {
                    emit(e);
                }
                return Ok(());
            }
            kind::FORK => {
                let r: ForkRecord = read(bytes).ok_or(bad(header.kind))?;
                EventBody::Fork(ForkEvent {
                    child_pid: r.child_pid,
                    child_tid: r.child_tid,
                    cgroup_id: r.cgroup_id,
                })
            }
            kind::EXIT => {
                let r: ExitRecord = read(bytes).ok_or(bad(header.kind))?;
                // A pending enter half of this thread will never see its exit.
                if let Some(enter) = self.pending.remove(&header.tid) {
                    emit(enter);
                }
                EventBody::Exit(ExitEvent {
                    status: r.exit_code,
                    group_dead: r.group_dead != 0,
                })
            }
            kind::CGROUP_MKDIR => {
                let r: CgroupMkdirRecord = read(bytes).ok_or(bad(header.kind))?;
                // v1 hierarchies (hybrid systems) have their own id spaces; events carry
                // v2 ids.
                if r.hierarchy_id != 0 {
                    return Ok(());
                }
                let len = (r.path_len as usize).min(r.path.len());
                EventBody::CgroupMkdir(CgroupEvent {
                    cgroup_id: r.cgroup_id,
                    path: r.path[..len].to_vec(),
                })
            }
            other => return Err(bad(other)),
        };
        emit(event(header.ts, body));
        Ok(())
    }

    /// The events a syscall record completes (see [`Decoder::decode`]); `None` if the
    /// record is malformed.
    fn syscall(&mut self, ring: Ring, bytes: &[u8]) -> Option<(Option<Event>, Option<Event>)> {
        let r: SyscallRecord = read(bytes)?;
        let items = bytes.get(size_of::<SyscallRecord>()..)?;
        let items = items.get(..r.params_len as usize)?;
        let abi = if r.flags & syscall_flags::COMPAT != 0 {
            Abi::I386
        } else {
            Abi::X86_64
        };
        let mut event = Event {
            ts: r.header.ts,
            cpu: r.header.cpu,
            pid: r.header.pid,
            tid: r.header.tid,
            body: EventBody::Syscall(SyscallEvent {
                nr: r.nr,
                abi,
                completion: Completion::Complete,
                args: r.args,
                ret: Some(r.ret),
                duration_ns: None,
                cgroup_id: r.cgroup_id,
                params: params(items, r.nparams)?,
            }),
        };
        let EventBody::Syscall(s) = &mut event.body else {
            unreachable!("built above")
        };
        if r.nr == u32::MAX {
            // A return to user space with no syscall in progress (orig_ax = -1): a new
            // task's first return from fork/clone. The registers hold no arguments.
            s.completion = Completion::ExitOnly;
            s.args = [0; 6];
            return Some((Some(event), None));
        }
        if r.flags & syscall_flags::NO_RETURN != 0 {
            s.completion = Completion::EnterOnly;
            s.ret = None;
            return Some((Some(event), None));
        }
        if r.flags & syscall_flags::ENTER_HALF != 0 {
            s.ret = None;
            s.completion = Completion::EnterOnly;
            // A previous enter on this thread that never saw its exit stays enter-only.
            let previous = self.pending.insert(r.header.tid, event);
            return Some((previous, None));
        }
        if r.flags & syscall_flags::EXIT_HALF != 0 {
            if let Some(mut enter) = self.pending.remove(&r.header.tid) {
                {
                    if let EventBody::Syscall(e) = &mut enter.body {
                        // Compared by name: an exec that changes the personality rewrites
                        // the syscall number to the new ABI's execve (an int 0x80 execve
                        // of a 64-bit binary returns as x86_64 execve, 59).
                        let same = (e.nr, e.abi) == (r.nr, abi)
                            || capture_format::syscall_name(e.abi, e.nr).is_some_and(|n| {
                                Some(n) == capture_format::syscall_name(abi, r.nr)
                            });
                        if same {
                            e.completion = Completion::Complete;
                            e.ret = Some(r.ret);
                            e.duration_ns = Some(r.header.ts.saturating_sub(enter.ts));
                            // After a successful execve the thread may have become the
                            // group leader (de_thread): report the pid it has now.
                            enter.pid = r.header.pid;
                            return Some((Some(enter), None));
                        }
                    }
                    // Not the same syscall: both are kept, each marked for what it is.
                    s.completion = Completion::ExitOnly;
                    s.args = [0; 6];
                    return Some((Some(enter), Some(event)));
                }
            }
            // The enter half was lost or came before the recording: the registers at exit
            // no longer hold the arguments (execve replaced them), so drop them.
            s.completion = Completion::ExitOnly;
            s.args = [0; 6];
            return Some((Some(event), None));
        }
        if r.flags & syscall_flags::CONTINUED != 0 {
            // Held until its last piece; a previous one of this thread is complete.
            let previous = self.growing[ring as usize].insert(r.header.tid, Growing::Buffer(event));
            return Some((previous.map(Growing::into_event), None));
        }
        Some((Some(event), None))
    }

    /// Appends a DATA_MORE piece to its thread's growing event, and hands the event over
    /// once the piece is the last. A piece that does not start where the data ends (one
    /// was lost) is not glued on: the data stays marked cut there.
    fn grow(
        &mut self,
        ring: Ring,
        piece: &DataMoreRecord,
        data: &[u8],
        emit: &mut impl FnMut(Event),
    ) {
        let tid = piece.header.tid;
        let growing = &mut self.growing[ring as usize];
        let Some(g) = growing.get_mut(&tid) else {
            // Its record was lost: nothing to attach the piece to.
            return;
        };
        let fits = g.append(piece.offset, data);
        if !fits || piece.flags & (data_more_flags::LAST | data_more_flags::UNREADABLE) != 0 {
            if let Some(done) = growing.remove(&tid) {
                emit(done.into_event());
            }
        }
    }

    /// Enter halves that began before `ts`, handed over as enter-only events so that the
    /// file stays in time order: their exit, if it still comes, is kept as exit-only.
    /// Growing syscalls whose pieces stopped coming are handed over as they are.
    pub fn expire(&mut self, ts: u64) -> Vec<Event> {
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            let old: Vec<u32> = self
                .pending
                .iter()
                .filter(|(_, e)| e.ts < ts)
                .map(|(tid, _)| *tid)
                .collect();
            out.extend(old.iter().filter_map(|tid| self.pending.remove(tid)));
        }
        for growing in &mut self.growing {
            if growing.is_empty() {
                continue;
            }
            let old: Vec<u32> = growing
                .iter()
                .filter(|(_, g)| g.ts() < ts)
                .map(|(tid, _)| *tid)
                .collect();
            out.extend(
                old.iter()
                    .filter_map(|tid| growing.remove(tid))
                    .map(Growing::into_event),
            );
        }
        out
    }

    /// Enter halves still waiting when the recording ends, as enter-only events.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut v: Vec<Event> = self
            .pending
            .drain()
            .map(|(_, e)| e)
            .chain(
                self.growing
                    .iter_mut()
                    .flat_map(|g| g.drain())
                    .map(|(_, g)| g.into_event()),
            )
            .collect();
        v.sort_by_key(|e| e.ts);
        v
    }
}

fn exec(r: &ExecRecord) -> ExecEvent {
    let filename = r.filename[..(r.filename_len as usize).min(EXEC_FILENAME_MAX)].to_vec();
    let args = &r.args[..(r.args_len as usize).min(EXEC_ARGS_MAX)];
    let (argv, cut) = split_args(args);
    let truncated = r.flags & (exec_flags::ARGS_TRUNCATED | exec_flags::ARGS_UNREADABLE) != 0
        || cut
        || r.args_total as usize > args.len();
    ExecEvent {
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
    }
}

/// Parses `n` parameter items; `None` if they overrun the record (a malformed record).
fn params(mut items: &[u8], n: u32) -> Option<Vec<Param>> {
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let h: ParamHeader = read(items)?;
        let end = size_of::<ParamHeader>() + h.len as usize;
        let data = items.get(size_of::<ParamHeader>()..end)?;
        // Items start 8-byte aligned; the last one may end unpadded.
        items = items.get(end.next_multiple_of(8).min(items.len())..)?;
        out.push(Param {
            slot: h.slot,
            value: param_value(&h, data),
        });
    }
    Some(out)
}

fn param_value(h: &ParamHeader, data: &[u8]) -> ParamValue {
    let cut = if h.flags & param_flags::UNREADABLE != 0 {
        BufferCut::Unreadable
    } else if h.flags & param_flags::CUT != 0 {
        BufferCut::Snaplen
    } else {
        BufferCut::Whole
    };
    let buffer = || {
        ParamValue::Buffer(Buffer {
            data: data.to_vec(),
            original_len: h.orig_len,
            cut,
        })
    };
    if cut == BufferCut::Unreadable {
        // Whatever kind it was meant to be, all we know is its length, if that.
        return buffer();
    }
    match h.kind {
        param_kind::PATH if cut == BufferCut::Whole => ParamValue::Path(data.to_vec()),
        param_kind::STR if cut == BufferCut::Whole => ParamValue::Str(data.to_vec()),
        param_kind::SOCKADDR => sockaddr(data).unwrap_or_else(buffer),
        param_kind::FDS2 if data.len() == 8 => ParamValue::Fds(vec![
            i32::from_ne_bytes(data[..4].try_into().expect("4 bytes")),
            i32::from_ne_bytes(data[4..].try_into().expect("4 bytes")),
        ]),
        _ => buffer(),
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn sockaddr(d: &[u8]) -> Option<ParamValue> {
    let family = u16::from_ne_bytes(d.get(..2)?.try_into().ok()?);
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
    };
    Some(ParamValue::SockAddr(match family {
        AF_INET => SockAddr::Inet {
            port: be16(2)?,
            addr: d.get(4..8)?.try_into().ok()?,
        },
        AF_INET6 => SockAddr::Inet6 {
            port: be16(2)?,
            addr: d.get(8..24)?.try_into().ok()?,
            scope_id: u32::from_ne_bytes(d.get(24..28)?.try_into().ok()?),
        },
        AF_UNIX => {
            let path = &d[2..];
            // Abstract names start with NUL and may contain NULs; paths end at the first.
            let path = if path.first() == Some(&0) {
                path
            } else {
                &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())]
            };
            SockAddr::Unix(path.to_vec())
        }
        other => SockAddr::Other {
            family: other,
            raw: d[2..].to_vec(),
        },
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

    fn bytes_of<T>(v: &T) -> &[u8] {
        // SAFETY: plain repr(C) data viewed as bytes.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
    }

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
        let mut d = Decoder::default();
        assert!(d.decode(&[0u8; 3], &mut |_| {}).is_err());
        let mut unknown = [0u8; 64];
        unknown[0] = 99;
        assert_eq!(d.decode(&unknown, &mut |_| {}).unwrap_err().kind, 99);
        let mut short = [0u8; 30];
        short[0] = kind::SYSCALL as u8;
        assert!(d.decode(&short, &mut |_| {}).is_err());
    }

    fn syscall_record(nr: u32, flags: u32, tid: u32, ts: u64, ret: i64) -> SyscallRecord {
        SyscallRecord {
            header: RecordHeader {
                kind: kind::SYSCALL,
                cpu: 0,
                ts,
                pid: tid,
                tid,
            },
            nr,
            flags,
            args: [1, 2, 3, 4, 5, 6],
            ret,
            cgroup_id: 9,
            params_len: 0,
            nparams: 0,
        }
    }

    /// Decodes one record into the events it completes.
    fn decode(d: &mut Decoder, bytes: &[u8]) -> Result<Vec<Event>, BadRecord> {
        let mut out = Vec::new();
        d.decode(bytes, &mut |e| out.push(e))?;
        Ok(out)
    }

    fn one(d: &mut Decoder, bytes: &[u8]) -> Event {
        let mut v = decode(d, bytes).expect("valid record");
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    #[test]
    fn decodes_param_items_and_rejects_overruns() {
        let mut rec = syscall_record(42, 0, 7, 100, 0);
        let mut items = Vec::new();
        let sa: [u8; 16] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let h = ParamHeader {
            slot: 1,
            kind: param_kind::SOCKADDR,
            flags: 0,
            _pad: 0,
            len: 16,
            orig_len: 16,
        };
        items.extend_from_slice(bytes_of(&h));
        items.extend_from_slice(&sa);
        let h = ParamHeader {
            slot: 1,
            kind: param_kind::BUF,
            flags: param_flags::CUT,
            _pad: 0,
            len: 3,
            orig_len: 500,
        };
        items.extend_from_slice(bytes_of(&h));
        items.extend_from_slice(b"abc");
        rec.params_len = items.len() as u32;
        rec.nparams = 2;
        let mut bytes = bytes_of(&rec).to_vec();
        bytes.extend_from_slice(&items);
        let e = one(&mut Decoder::default(), &bytes);
        let EventBody::Syscall(s) = e.body else {
            panic!("not a syscall")
        };
        assert_eq!(
            s.params[0].value,
            ParamValue::SockAddr(SockAddr::Inet {
                addr: [127, 0, 0, 1],
                port: 8080
            })
        );
        assert_eq!(
            s.params[1].value,
            ParamValue::Buffer(Buffer {
                data: b"abc".to_vec(),
                original_len: 500,
                cut: BufferCut::Snaplen
            })
        );
        // Claiming more bytes than the record holds is malformed, not a panic.
        rec.params_len += 1;
        let mut bytes = bytes_of(&rec).to_vec();
        bytes.extend_from_slice(&items);
        assert!(decode(&mut Decoder::default(), &bytes).is_err());
    }

    #[test]
    fn joins_enter_and_exit_halves() {
        let mut d = Decoder::default();
        let enter = syscall_record(59, syscall_flags::ENTER_HALF, 5, 1_000, 0);
        assert!(decode(&mut d, bytes_of(&enter)).expect("ok").is_empty());
        let exit = syscall_record(59, syscall_flags::EXIT_HALF, 5, 3_500, 0);
        let e = one(&mut d, bytes_of(&exit));
        let EventBody::Syscall(s) = &e.body else {
            panic!()
        };
        assert_eq!((e.ts, s.duration_ns, s.ret), (1_000, Some(2_500), Some(0)));
        assert_eq!(s.completion, Completion::Complete);
        // An exit half with no enter is kept and marked, with no stale arguments.
        let e = one(&mut d, bytes_of(&exit));
        let EventBody::Syscall(s) = &e.body else {
            panic!()
        };
        assert_eq!((s.completion, s.args), (Completion::ExitOnly, [0; 6]));
        // An enter that never returns stays enter-only at the end.
        decode(&mut d, bytes_of(&enter)).expect("ok");
        let left = d.finish();
        assert_eq!(left.len(), 1);
        let no_return = syscall_record(231, syscall_flags::NO_RETURN, 5, 9, 0);
        let e = one(&mut d, bytes_of(&no_return));
        let EventBody::Syscall(s) = &e.body else {
            panic!()
        };
        assert_eq!((s.completion, s.ret), (Completion::EnterOnly, None));
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
        let e = one(&mut Decoder::default(), bytes_of(&r));
        let EventBody::Exec(x) = e.body else {
            panic!("not an exec: {e:?}")
        };
        assert_eq!(x.argv, vec![b"cat".to_vec(), b"/x".to_vec()]);
        assert!(!x.argv_truncated);
        assert_eq!((e.pid, x.ppid, x.uid), (10, 9, 65534));
        r.args_total = 9000;
        r.flags = exec_flags::ARGS_TRUNCATED;
        let EventBody::Exec(x) = one(&mut Decoder::default(), bytes_of(&r)).body else {
            panic!()
        };
        assert!(x.argv_truncated);

        // A 10,000-byte `bash -c SCRIPT` argv: the record's 4 KiB, then two pieces.
        let script: Vec<u8> = (0..10_000 - 13).map(|i| b'a' + (i % 26) as u8).collect();
        let mut block = b"bash\0-c\0".to_vec();
        block.extend_from_slice(&script);
        block.push(0);
        assert_eq!(block.len(), 9996);
        r.args.copy_from_slice(&block[..EXEC_ARGS_MAX]);
        r.args_len = EXEC_ARGS_MAX as u16;
        r.args_total = block.len() as u32;
        r.flags = exec_flags::ARGS_TRUNCATED | exec_flags::ARGS_CONTINUED;
        let mut d = Decoder::default();
        assert!(decode(&mut d, bytes_of(&r)).unwrap().is_empty());
        assert!(decode(&mut d, &piece(10, 4096, &block[4096..8192], 0))
            .unwrap()
            .is_empty());
        let e = one(
            &mut d,
            &piece(10, 8192, &block[8192..], data_more_flags::LAST),
        );
        let EventBody::Exec(x) = e.body else {
            panic!("not an exec: {e:?}")
        };
        assert_eq!(x.argv, vec![b"bash".to_vec(), b"-c".to_vec(), script]);
        assert!(!x.argv_truncated, "whole once the pieces are in");
    }

    /// A syscall record flagged CONTINUED whose BUF item holds `first` of `total` bytes.
    fn continued_record(tid: u32, first: &[u8], total: u64) -> Vec<u8> {
        let mut rec = syscall_record(0, syscall_flags::CONTINUED, tid, 500, total as i64);
        let h = ParamHeader {
            slot: 1,
            kind: param_kind::BUF,
            flags: param_flags::CUT,
            _pad: 0,
            len: first.len() as u32,
            orig_len: total,
        };
        let mut bytes = Vec::new();
        rec.params_len = (size_of::<ParamHeader>() + first.len()) as u32;
        rec.nparams = 1;
        bytes.extend_from_slice(bytes_of(&rec));
        bytes.extend_from_slice(bytes_of(&h));
        bytes.extend_from_slice(first);
        bytes
    }

    fn piece(tid: u32, offset: u64, data: &[u8], flags: u32) -> Vec<u8> {
        let r = DataMoreRecord {
            header: RecordHeader {
                kind: kind::DATA_MORE,
                cpu: 0,
                ts: 500,
                pid: tid,
                tid,
            },
            offset,
            len: data.len() as u32,
            flags,
        };
        let mut bytes = bytes_of(&r).to_vec();
        bytes.extend_from_slice(data);
        bytes
    }

    fn buffer_of(e: &Event) -> &Buffer {
        let EventBody::Syscall(s) = &e.body else {
            panic!("not a syscall: {e:?}")
        };
        match &s.params[0].value {
            ParamValue::Buffer(b) => b,
            other => panic!("not a buffer: {other:?}"),
        }
    }

    #[test]
    fn joins_a_full_payload_buffer_with_its_pieces() {
        let script: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut d = Decoder::default();
        assert!(
            decode(&mut d, &continued_record(7, &script[..8192], 20_000))
                .unwrap()
                .is_empty()
        );
        // Another thread's record in between is unaffected.
        one(&mut d, bytes_of(&syscall_record(39, 0, 8, 501, 8)));
        assert!(decode(&mut d, &piece(7, 8192, &script[8192..16384], 0))
            .unwrap()
            .is_empty());
        let e = one(
            &mut d,
            &piece(7, 16384, &script[16384..], data_more_flags::LAST),
        );
        let b = buffer_of(&e);
        assert_eq!(b.data, script);
        assert_eq!((b.original_len, b.cut), (20_000, BufferCut::Whole));
    }

    #[test]
    fn a_lost_piece_cuts_the_buffer_there_and_never_glues_across_it() {
        let script = vec![b'x'; 30_000];
        let mut d = Decoder::default();
        assert!(
            decode(&mut d, &continued_record(7, &script[..8192], 30_000))
                .unwrap()
                .is_empty()
        );
        // The piece at 8192 was lost; the one at 16384 must not be appended.
        let e = one(&mut d, &piece(7, 16384, &script[16384..24576], 0));
        let b = buffer_of(&e);
        assert_eq!((b.data.len(), b.cut), (8192, BufferCut::Snaplen));
        // A piece whose syscall is gone is ignored.
        assert!(decode(
            &mut d,
            &piece(7, 24576, &script[24576..], data_more_flags::LAST)
        )
        .unwrap()
        .is_empty());

        // Pieces that stop coming: the thread's next record hands the syscall over first.
        assert!(
            decode(&mut d, &continued_record(7, &script[..8192], 30_000))
                .unwrap()
                .is_empty()
        );
        let v = decode(&mut d, bytes_of(&syscall_record(39, 0, 7, 600, 7))).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(buffer_of(&v[0]).data.len(), 8192);
        // ...and so do expiry and the end of the recording.
        assert!(
            decode(&mut d, &continued_record(9, &script[..8192], 30_000))
                .unwrap()
                .is_empty()
        );
        assert_eq!(d.expire(501).len(), 1);
        assert!(
            decode(&mut d, &continued_record(9, &script[..8192], 30_000))
                .unwrap()
                .is_empty()
        );
        assert_eq!(d.finish().len(), 1);
    }
}
