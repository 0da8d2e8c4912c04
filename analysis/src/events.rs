//! Every recorded event as a row: syscalls with their arguments decoded by name, and the
//! lifecycle records (exec, fork, exit, cgroup creation).

use aftertrace_filter::Context as _;
use base64::Engine as _;
use capture_format::{
    syscall_name, Abi, BufferCut, Completion, Event, EventBody, ParamValue, SockAddr,
};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::{
    context::CaptureContext,
    procs::comm_of,
    style::{pad, printable, Style},
    syscall_sig::{self, signature_of, ArgType},
};

/// One event, as `events --json` prints it (schema in the README).
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub time: String,
    #[serde(skip)]
    pub boot_ns: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub proc_name: Option<String>,
    /// syscall, exec, fork, exit, cgroup_mkdir
    pub kind: &'static str,
    /// The syscall's name (`syscall_NNN` when unknown), null for other kinds.
    pub syscall: Option<String>,
    pub abi: Option<&'static str>,
    pub args: Map<String, Value>,
    pub res: Option<i64>,
    /// complete, enter_only (never returned, or the recording ended first), exit_only.
    pub completion: Option<&'static str>,
    pub duration_ns: Option<u64>,
    pub container_id: Option<String>,
    /// The data buffer (UTF-8, lossy), when the syscall moved data.
    pub data: Option<String>,
    pub data_base64: Option<String>,
    /// The length the syscall transferred, which `data` may be a prefix of.
    pub data_len: Option<u64>,
    /// Why `data` is shorter than `data_len`: snaplen or unreadable; null when whole.
    pub data_cut: Option<&'static str>,
}

/// Characters of a buffer's data an `events` text line shows.
pub const TEXT_DATA_MAX: usize = 1024;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn sockaddr(sa: &SockAddr) -> String {
    match sa {
        SockAddr::Inet { addr, port } => {
            format!("{}.{}.{}.{}:{port}", addr[0], addr[1], addr[2], addr[3])
        }
        SockAddr::Inet6 { addr, port, .. } => {
            format!("[{}]:{port}", std::net::Ipv6Addr::from(*addr))
        }
        SockAddr::Unix(path) => match path.first() {
            Some(0) => format!("unix:@{}", text(&path[1..])),
            _ => format!("unix:{}", text(path)),
        },
        SockAddr::Other { family, raw } => format!("family{family}:{}", hex(raw)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn render(ty: ArgType, raw: u64, abi: Abi) -> Value {
    // 32-bit syscalls pass 32-bit registers: a long is 32 bits there.
    let long = match abi {
        Abi::I386 => raw as u32 as i32 as i64,
        Abi::X86_64 => raw as i64,
    };
    // A C int is the low 32 bits of the register on both ABIs.
    let int = raw as u32 as i32;
    match ty {
        ArgType::Fd if int == -100 => json!("AT_FDCWD"),
        ArgType::Fd | ArgType::Int => json!(int),
        ArgType::Long => json!(long),
        ArgType::Uint => json!(raw),
        ArgType::Mode => json!(format!("{raw:04o}")),
        ArgType::OpenFlags => json!(syscall_sig::open_flags(raw)),
        ArgType::Prot => json!(syscall_sig::prot(raw)),
        ArgType::Signal => json!(syscall_sig::signal(raw)),
        ArgType::SockFamily => json!(syscall_sig::sock_family(raw)),
        ArgType::SockType => json!(syscall_sig::sock_type(raw)),
        ArgType::Hex | ArgType::Str | ArgType::SockAddr | ArgType::Fds | ArgType::Buf => {
            json!(format!("{raw:#x}"))
        }
    }
}

fn param_json(v: &ParamValue) -> Option<Value> {
    Some(match v {
        ParamValue::Path(p) | ParamValue::Str(p) => json!(text(p)),
        ParamValue::Fd(fd) => json!(fd),
        ParamValue::Fds(fds) => json!(fds),
        ParamValue::SockAddr(sa) => json!(sockaddr(sa)),
        ParamValue::StrList { items, .. } => {
            json!(items.iter().map(|i| text(i)).collect::<Vec<_>>())
        }
        ParamValue::Buffer(b) if b.cut == BufferCut::Unreadable => json!("<unreadable>"),
        ParamValue::Buffer(_) => return None,
    })
}

/// The cgroup of the process making the event, as the filter language's `container.*`
/// fields take it: the event's own, else (exit and cgroup_mkdir records, or 0 = not
/// recorded) the process's as the reconstruction knows it.
pub fn event_cgroup(e: &Event, ctx: &CaptureContext<'_>) -> Option<u64> {
    let own = match &e.body {
        EventBody::Syscall(s) => s.cgroup_id,
        EventBody::Exec(x) => x.cgroup_id,
        EventBody::Fork(f) => f.cgroup_id,
        EventBody::Exit(_) | EventBody::CgroupMkdir(_) => 0,
    };
    if own != 0 {
        return Some(own);
    }
    ctx.process(e.pid, e.ts).map(|p| p.cgroup_id)
}

/// The process's name at the event (the kernel's comm; for an exec record, the new
/// image's), as the filter language's `proc.name` has it.
pub fn proc_name(e: &Event, ctx: &CaptureContext<'_>) -> Option<String> {
    match &e.body {
        EventBody::Exec(x) => Some(text(comm_of(&x.filename))),
        _ => ctx.process(e.pid, e.ts).map(|p| text(p.name)),
    }
}

impl EventRow {
    /// The row for `e`, described with what the reconstruction knew at its time.
    pub fn new(e: &Event, ctx: &CaptureContext<'_>) -> EventRow {
        let mut row = EventRow {
            time: ctx.lookups.clock().rfc3339(e.ts),
            boot_ns: e.ts,
            cpu: e.cpu,
            pid: e.pid,
            tid: e.tid,
            proc_name: None,
            kind: "syscall",
            syscall: None,
            abi: None,
            args: Map::new(),
            res: None,
            completion: None,
            duration_ns: None,
            container_id: None,
            data: None,
            data_base64: None,
            data_len: None,
            data_cut: None,
        };
        match &e.body {
            EventBody::Syscall(s) => {
                let name = syscall_name(s.abi, s.nr)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("syscall_{}", s.nr));
                row.abi = Some(match s.abi {
                    Abi::X86_64 => "x86_64",
                    Abi::I386 => "i386",
                });
                row.res = s.ret;
                row.completion = Some(match s.completion {
                    Completion::Complete => "complete",
                    Completion::EnterOnly => "enter_only",
                    Completion::ExitOnly => "exit_only",
                });
                row.duration_ns = s.duration_ns;
                match signature_of(s.abi, s.nr) {
                    Some(sig) => {
                        for (i, (arg, ty)) in sig.iter().enumerate() {
                            let param = s
                                .params
                                .iter()
                                .find(|p| p.slot as usize == i)
                                .and_then(|p| param_json(&p.value));
                            if *ty == ArgType::Buf && param.is_none() {
                                continue;
                            }
                            let value = param.unwrap_or_else(|| render(*ty, s.args[i], s.abi));
                            row.args.insert((*arg).to_owned(), value);
                        }
                    }
                    None => {
                        for (i, a) in s.args.iter().enumerate() {
                            row.args.insert(format!("arg{i}"), json!(format!("{a:#x}")));
                        }
                    }
                }
                if let Some(b) = s.params.iter().find_map(|p| match &p.value {
                    ParamValue::Buffer(b) if b.cut != BufferCut::Unreadable => Some(b),
                    _ => None,
                }) {
                    row.data = Some(text(&b.data));
                    row.data_base64 =
                        Some(base64::engine::general_purpose::STANDARD.encode(&b.data));
                    row.data_len = Some(b.original_len);
                    row.data_cut = match b.cut {
                        BufferCut::Whole => None,
                        BufferCut::Snaplen => Some("snaplen"),
                        BufferCut::Unreadable => Some("unreadable"),
                    };
                }
                row.syscall = Some(name);
            }
            EventBody::Exec(x) => {
                row.kind = "exec";
                row.args.insert("filename".into(), json!(text(&x.filename)));
                row.args.insert(
                    "argv".into(),
                    json!(x.argv.iter().map(|a| text(a)).collect::<Vec<_>>()),
                );
            }
            EventBody::Fork(f) => {
                row.kind = "fork";
                row.args.insert("child_pid".into(), json!(f.child_pid));
                row.args.insert("child_tid".into(), json!(f.child_tid));
            }
            EventBody::Exit(x) => {
                row.kind = "exit";
                row.args.insert("status".into(), json!(x.status));
                row.args.insert("group_dead".into(), json!(x.group_dead));
            }
            EventBody::CgroupMkdir(c) => {
                row.kind = "cgroup_mkdir";
                row.args.insert("cgroup_id".into(), json!(c.cgroup_id));
                row.args.insert("path".into(), json!(text(&c.path)));
            }
        }
        row.proc_name = proc_name(e, ctx);
        row.container_id = event_cgroup(e, ctx)
            .and_then(|cg| ctx.lookups.container(cg))
            .map(|c| c.id.clone());
        row
    }

    /// One line for humans: `TIME PID TID PROC syscall(args) = res`, with at most
    /// TEXT_DATA_MAX characters of data.
    pub fn text_line(&self, style: Style) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s:?}"),
                other => format!("{k}={other}"),
            })
            .collect();
        let what = self.syscall.as_deref().unwrap_or(self.kind);
        let what = if self.kind == "exec" {
            style.bold(what)
        } else {
            what.into()
        };
        let mut line = format!(
            "{} {:>7} {:>7} {} {}({})",
            self.time,
            self.pid,
            self.tid,
            pad(&printable(self.proc_name.as_deref().unwrap_or("?")), 15),
            what,
            args.join(", ")
        );
        if let Some(res) = self.res {
            let res = format!("{res}");
            if res.starts_with('-') {
                line.push_str(&format!(" = {}", style.red(&res)));
            } else {
                line.push_str(&format!(" = {res}"));
            }
        }
        if let Some(d) = &self.data {
            // A line stays a line: a script read whole (up to the payload cap) is shown by
            // its start here, and whole by --json (or `cat` for what was rebuilt).
            match d.char_indices().nth(TEXT_DATA_MAX) {
                Some((end, _)) => {
                    let more = d[end..].chars().count();
                    line.push_str(&format!(
                        " data={:?}...(+{more} more characters, in --json)",
                        &d[..end]
                    ));
                }
                None => line.push_str(&format!(" data={d:?}")),
            }
            if self.data_cut.is_some() {
                line.push_str(&format!("...({} bytes)", self.data_len.unwrap_or(0)));
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_row(data: &str) -> EventRow {
        EventRow {
            time: "2026-01-01T00:00:00.000000000Z".into(),
            boot_ns: 0,
            cpu: 0,
            pid: 7,
            tid: 7,
            proc_name: Some("python3".into()),
            kind: "syscall",
            syscall: Some("read".into()),
            abi: Some("x86_64"),
            args: Map::new(),
            res: Some(data.len() as i64),
            completion: Some("complete"),
            duration_ns: None,
            container_id: None,
            data: Some(data.into()),
            data_base64: None,
            data_len: Some(data.len() as u64),
            data_cut: None,
        }
    }

    #[test]
    fn a_text_line_shows_the_start_of_a_long_buffer() {
        let short = read_row("print('hi')\n").text_line(Style::PLAIN);
        assert!(short.ends_with(r#" = 12 data="print('hi')\n""#), "{short}");
        let long = "é".repeat(TEXT_DATA_MAX + 10);
        let line = read_row(&long).text_line(Style::PLAIN);
        let shown = "é".repeat(TEXT_DATA_MAX);
        assert!(
            line.ends_with(&format!(
                r#" data="{shown}"...(+10 more characters, in --json)"#
            )),
            "{line}"
        );
    }
}
