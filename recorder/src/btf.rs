//! Just enough of the BPF Type Format to find struct member offsets in the running kernel.
//!
//! aya's Rust eBPF programs have no CO-RE field relocations, so the recorder reads the
//! offsets it needs (`task_struct.real_parent`, `mm_struct.arg_start`, ...) from
//! `/sys/kernel/btf/vmlinux` at load time and hands them to the programs as a global.
//! Layout reference: the kernel's Documentation/bpf/btf.rst.

use std::{collections::HashMap, path::Path};

use anyhow::{anyhow, bail, Context as _, Result};
use recorder_common::KernelOffsets;

const BTF_MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, Clone)]
struct Member {
    name: String,
    type_id: u32,
    bit_offset: u32,
}

#[derive(Debug, Clone)]
enum Type {
    /// Struct or union.
    Composite {
        members: Vec<Member>,
    },
    /// typedef / const / volatile / restrict / type tag: look through to `target`.
    Alias {
        target: u32,
    },
    Other,
}

/// Parsed type section of a BTF blob.
pub struct Btf {
    /// Index 0 is the implicit `void`.
    types: Vec<Type>,
    structs_by_name: HashMap<String, u32>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Result<u32> {
        let end = self.pos + 4;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| anyhow!("type section ends inside a record at byte {}", self.pos))?;
        self.pos = end;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }
    fn skip(&mut self, n: usize) -> Result<()> {
        if self.pos + n > self.data.len() {
            bail!("type section ends inside a record at byte {}", self.pos);
        }
        self.pos += n;
        Ok(())
    }
}

fn le_u32(data: &[u8], at: usize) -> Result<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| anyhow!("BTF header truncated"))
}

impl Btf {
    pub fn from_file(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&data).with_context(|| format!("parsing BTF in {}", path.display()))
    }

    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.len() < 24 {
            bail!("too short for a BTF header");
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != BTF_MAGIC {
            bail!("bad magic {magic:#x} (big-endian BTF is not supported)");
        }
        let hdr_len = le_u32(data, 4)? as usize;
        let type_off = le_u32(data, 8)? as usize;
        let type_len = le_u32(data, 12)? as usize;
        let str_off = le_u32(data, 16)? as usize;
        let str_len = le_u32(data, 20)? as usize;
        let types_data = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .ok_or_else(|| anyhow!("type section out of bounds"))?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or_else(|| anyhow!("string section out of bounds"))?;
        let name_at = |off: u32| -> String {
            let s = strings.get(off as usize..).unwrap_or_default();
            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        };

        let mut types = vec![Type::Other];
        let mut structs_by_name = HashMap::new();
        let mut c = Cursor {
            data: types_data,
            pos: 0,
        };
        while c.pos < types_data.len() {
            let name_off = c.u32()?;
            let info = c.u32()?;
            let size_or_type = c.u32()?;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let ty = match kind {
                KIND_STRUCT | KIND_UNION => {
                    let mut members = Vec::with_capacity(vlen);
                    for _ in 0..vlen {
                        let m_name = c.u32()?;
                        let m_type = c.u32()?;
                        let m_off = c.u32()?;
                        members.push(Member {
                            name: name_at(m_name),
                            type_id: m_type,
                            // With kind_flag the top 8 bits are a bitfield size.
                            bit_offset: if kind_flag { m_off & 0xff_ffff } else { m_off },
                        });
                    }
                    let name = name_at(name_off);
                    if kind == KIND_STRUCT && !name.is_empty() {
                        // The first definition wins; later ones are duplicates in split BTF.
                        structs_by_name
                            .entry(name.clone())
                            .or_insert(types.len() as u32);
                    }
                    Type::Composite { members }
                }
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    Type::Alias {
                        target: size_or_type,
                    }
                }
                KIND_INT | KIND_VAR | KIND_DECL_TAG => {
                    c.skip(4)?;
                    Type::Other
                }
                KIND_ARRAY => {
                    c.skip(12)?;
                    Type::Other
                }
                KIND_ENUM | KIND_FUNC_PROTO => {
                    c.skip(8 * vlen)?;
                    Type::Other
                }
                KIND_DATASEC | KIND_ENUM64 => {
                    c.skip(12 * vlen)?;
                    Type::Other
                }
                KIND_PTR | KIND_FWD | KIND_FUNC | KIND_FLOAT => Type::Other,
                other => bail!("unknown BTF kind {other} at type {}", types.len()),
            };
            types.push(ty);
        }
        Ok(Btf {
            types,
            structs_by_name,
        })
    }

    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..32 {
            match self.types.get(id as usize)? {
                Type::Alias { target } => id = *target,
                t => return Some(t),
            }
        }
        None
    }

    /// Byte offset of `path` (e.g. `"thread_info.status"`) inside `struct NAME`. Members of
    /// anonymous structs and unions are found as if they were direct members, as in C.
    pub fn member_offset(&self, struct_name: &str, path: &str) -> Result<u32> {
        let id = *self
            .structs_by_name
            .get(struct_name)
            .ok_or_else(|| anyhow!("struct {struct_name} not in the kernel's BTF"))?;
        let mut ty = id;
        let mut bits = 0u32;
        for part in path.split('.') {
            let (t, off) = self
                .find_member(ty, part)
                .ok_or_else(|| anyhow!("struct {struct_name} has no member {path}"))?;
            ty = t;
            bits += off;
        }
        if !bits.is_multiple_of(8) {
            bail!("{struct_name}.{path} is a bitfield");
        }
        Ok(bits / 8)
    }

    fn find_member(&self, type_id: u32, name: &str) -> Option<(u32, u32)> {
        let Type::Composite { members, .. } = self.resolve(type_id)? else {
            return None;
        };
        for m in members {
            if m.name == name {
                return Some((m.type_id, m.bit_offset));
            }
            if m.name.is_empty() {
                if let Some((t, off)) = self.find_member(m.type_id, name) {
                    return Some((t, m.bit_offset + off));
                }
            }
        }
        None
    }
}

/// The offsets the programs need, from the running kernel's BTF.
pub fn kernel_offsets(btf: &Btf) -> Result<KernelOffsets> {
    Ok(KernelOffsets {
        task_pid: btf.member_offset("task_struct", "pid")?,
        task_tgid: btf.member_offset("task_struct", "tgid")?,
        task_real_parent: btf.member_offset("task_struct", "real_parent")?,
        task_exit_code: btf.member_offset("task_struct", "exit_code")?,
        task_mm: btf.member_offset("task_struct", "mm")?,
        task_cred: btf.member_offset("task_struct", "cred")?,
        task_ti_status: btf.member_offset("task_struct", "thread_info.status")?,
        mm_arg_start: btf.member_offset("mm_struct", "arg_start")?,
        mm_arg_end: btf.member_offset("mm_struct", "arg_end")?,
        cred_euid: btf.member_offset("cred", "euid")?,
        cred_egid: btf.member_offset("cred", "egid")?,
        bprm_filename: btf.member_offset("linux_binprm", "filename")?,
        task_signal: btf.member_offset("task_struct", "signal")?,
        signal_tty: btf.member_offset("signal_struct", "tty")?,
        cgroup_kn: btf.member_offset("cgroup", "kn")?,
        cgroup_root: btf.member_offset("cgroup", "root")?,
        kernfs_node_id: btf.member_offset("kernfs_node", "id")?,
        cgroup_root_hierarchy_id: btf.member_offset("cgroup_root", "hierarchy_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    /// Checks against this kernel's BTF; skipped (with a reason) where there is none.
    #[test]
    fn finds_offsets_in_running_kernel() {
        if !Path::new(VMLINUX).exists() {
            eprintln!("skipped: {VMLINUX} absent (kernel built without CONFIG_DEBUG_INFO_BTF)");
            return;
        }
        let btf = Btf::from_file(Path::new(VMLINUX)).expect("parse vmlinux BTF");
        let off = kernel_offsets(&btf).expect("all offsets");
        // thread_info is the first member of task_struct on x86 (THREAD_INFO_IN_TASK),
        // and status follows two longs.
        assert_eq!(off.task_ti_status, 16);
        assert!(
            off.task_tgid == off.task_pid + 4,
            "tgid follows pid: {off:?}"
        );
        assert!(off.mm_arg_end == off.mm_arg_start + 8, "{off:?}");
        assert_ne!(off.task_real_parent, 0);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, not even close").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb]).is_err());
    }
}
