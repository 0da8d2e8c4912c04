//! Primitive encodings shared by the event codec and the index: LEB128 varints, zigzag,
//! little-endian fixed integers, and a bounds-checked cursor that never panics.

use crate::error::Malformed;

/// Reads from a byte slice; every read checks bounds and reports where it failed.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn err(&self, what: &'static str) -> Malformed {
        Malformed { what, at: self.pos }
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err("unexpected end of data")),
        }
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.remaining() {
            return Err(self.err("length runs past the end of the data"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u16le(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32le(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64le(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Unsigned LEB128, at most 10 bytes; bits beyond 64 are an error rather than being
    /// dropped, so a corrupt stream cannot decode to a plausible small number.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, Malformed> {
        // Fast paths: one byte covers most deltas, small pids and syscall numbers; two
        // bytes the lengths of snaplen-sized buffers. The rest is out of line, so this
        // inlines where it is called per parameter.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
            if let Some(&b1) = self.buf.get(self.pos + 1) {
                if b1 < 0x80 {
                    self.pos += 2;
                    return Ok(u64::from(b & 0x7f) | (u64::from(b1) << 7));
                }
            }
        }
        self.varint_slow()
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Malformed> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("varint longer than 10 bytes"));
            }
        }
    }

    pub fn varint_u32(&mut self) -> Result<u32, Malformed> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.err("value does not fit in 32 bits"))
    }

    #[inline]
    pub fn zigzag(&mut self) -> Result<i64, Malformed> {
        Ok(unzigzag(self.varint()?))
    }

    /// A count of following items, bounded by the bytes left (each item takes at least
    /// `min_item_bytes`), so a corrupt count cannot make us reserve gigabytes.
    #[inline]
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, Malformed> {
        let n = self.varint()?;
        let max = self.remaining() / min_item_bytes.max(1);
        if n > max as u64 {
            return Err(self.err("item count exceeds the data left"));
        }
        Ok(n as usize)
    }

    /// A varint length followed by that many bytes.
    #[inline]
    pub fn lp_bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(self.err("length runs past the end of the data"));
        }
        self.bytes(n as usize)
    }

    pub fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("boolean byte is neither 0 nor 1")),
        }
    }
}

#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

pub(crate) fn put_lp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_extremes_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert!(b.len() <= 10);
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint(), Ok(v));
            assert!(c.is_empty());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let eleven = [0xffu8; 11];
        assert!(Cursor::new(&eleven).varint().is_err());
        let mut too_big = vec![0xffu8; 9];
        too_big.push(0x02);
        assert!(Cursor::new(&too_big).varint().is_err());
    }
}
