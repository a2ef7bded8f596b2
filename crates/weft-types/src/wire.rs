//! Bounds-checked reading and writing of wire formats.
//!
//! Every parser of network input in Weft reads through a [`WireReader`]: each
//! read checks the remaining length and returns [`WireError::Truncated`] instead
//! of panicking, so a malformed datagram becomes an error to count, never a crash.

/// A wire-format error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before a field of `needed` bytes (at `offset`).
    #[error("truncated: needed {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// Offset of the field that did not fit.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left over after a message that must fill its datagram.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A field held a value the format does not allow.
    #[error("invalid value for {field}")]
    Invalid {
        /// Name of the field.
        field: &'static str,
    },
    /// The output buffer is too small for the message being written.
    #[error("output buffer too small: needed {needed} bytes, {available} left")]
    BufferTooSmall {
        /// Bytes the write needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
}

/// Reads big-endian fields from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated {
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a `u16` length prefix, then that many bytes.
    pub fn len_prefixed(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u16()? as usize;
        self.bytes(n)
    }

    /// Takes everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Fails with [`WireError::Trailing`] unless everything was read.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// Writes big-endian fields into a caller-provided buffer, never past its end.
#[derive(Debug)]
pub struct WireWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> WireWriter<'a> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), WireError> {
        let available = self.buf.len() - self.pos;
        if available < b.len() {
            return Err(WireError::BufferTooSmall { needed: b.len(), available });
        }
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
        Ok(())
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a `u16` length prefix and the bytes; refuses more than 65 535 bytes.
    pub fn len_prefixed(&mut self, b: &[u8]) -> Result<(), WireError> {
        let n = u16::try_from(b.len()).map_err(|_| WireError::Invalid { field: "length" })?;
        self.u16(n)?;
        self.bytes(b)
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// Consumes the writer, returning the written prefix of the buffer.
    pub fn into_written(self) -> &'a mut [u8] {
        &mut self.buf[..self.pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reading_past_the_end_is_an_error_not_a_panic() {
        let mut r = WireReader::new(&[1, 2, 3]);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u32(), Err(WireError::Truncated { offset: 2, needed: 4, available: 1 }));
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn writing_past_the_end_is_an_error() {
        let mut buf = [0u8; 3];
        let mut w = WireWriter::new(&mut buf);
        w.u16(7).unwrap();
        assert_eq!(w.u16(8), Err(WireError::BufferTooSmall { needed: 2, available: 1 }));
        assert_eq!(w.written(), &[0, 7]);
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = WireReader::new(&[0, 1, 2]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(WireError::Trailing(2)));
    }

    proptest! {
        #[test]
        fn fields_round_trip(a in any::<u8>(), b in any::<u16>(), c in any::<u32>(), d in any::<u64>(),
                             blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = [0u8; 128];
            let mut w = WireWriter::new(&mut buf);
            w.u8(a).unwrap(); w.u16(b).unwrap(); w.u32(c).unwrap(); w.u64(d).unwrap();
            w.len_prefixed(&blob).unwrap();
            let n = w.len();
            let mut r = WireReader::new(&buf[..n]);
            prop_assert_eq!(r.u8().unwrap(), a);
            prop_assert_eq!(r.u16().unwrap(), b);
            prop_assert_eq!(r.u32().unwrap(), c);
            prop_assert_eq!(r.u64().unwrap(), d);
            prop_assert_eq!(r.len_prefixed().unwrap(), &blob[..]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn any_bytes_never_panic_the_reader(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut r = WireReader::new(&data);
            while r.len_prefixed().is_ok() {}
            let _ = r.u64();
        }
    }
}
