//! A minimal PNG writer for black-and-white images (1 bit per pixel,
//! greyscale): what a QR code needs and nothing more. The image data is
//! zlib with stored (uncompressed) deflate blocks: a QR code's PNG stays a
//! few tens of kilobytes, and no compression crate is built for it.

/// The eight bytes every PNG starts with.
pub(crate) const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Encodes a `width` × `height` image; `dark(x, y)` says which pixels are black.
pub(crate) fn encode(width: u32, height: u32, dark: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let row_bytes = width.div_ceil(8) as usize;
    let mut raw = Vec::with_capacity((row_bytes + 1) * height as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        let start = raw.len();
        raw.resize(start + row_bytes, 0);
        for x in 0..width {
            if !dark(x, y) {
                raw[start + (x / 8) as usize] |= 0x80 >> (x % 8); // 1 = white
            }
        }
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // depth 1, greyscale, deflate, no filter, no interlace
    let mut out = SIGNATURE.to_vec();
    chunk(&mut out, *b"IHDR", &ihdr);
    chunk(&mut out, *b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, *b"IEND", &[]);
    out
}

/// One chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    let from = out.len();
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[from..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// `data` as a zlib stream of stored deflate blocks (RFC 1950, 1951 §3.2.4).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none())); // BFINAL on the last, BTYPE 00
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// CRC-32 (ISO-HDLC, the PNG and zlib one), bitwise: images are small.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Adler-32 of zlib.
pub(crate) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The chunks of a PNG, each CRC checked: (type, data).
    pub(crate) fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(png[..8], SIGNATURE, "the PNG signature");
        let mut out = Vec::new();
        let mut at = 8;
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
            let data = png[at + 8..at + 8 + len].to_vec();
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]), "CRC of {kind:?}");
            out.push((kind, data));
            at += 12 + len;
        }
        out
    }

    /// The pixel rows of our own PNGs (stored blocks only), `true` = dark.
    pub(crate) fn pixels(png: &[u8]) -> Vec<Vec<bool>> {
        let chunks = chunks(png);
        let ihdr = &chunks[0].1;
        let w = u32::from_be_bytes(ihdr[0..4].try_into().unwrap()) as usize;
        let h = u32::from_be_bytes(ihdr[4..8].try_into().unwrap()) as usize;
        let idat: Vec<u8> =
            chunks.iter().filter(|c| &c.0 == b"IDAT").flat_map(|c| c.1.clone()).collect();
        assert_eq!(idat[0] & 0x0f, 8, "zlib: deflate");
        let mut raw = Vec::new();
        let mut at = 2;
        loop {
            let last = idat[at] & 1 == 1;
            assert_eq!(idat[at] >> 1 & 3, 0, "stored block");
            let len = u16::from_le_bytes([idat[at + 1], idat[at + 2]]) as usize;
            let nlen = u16::from_le_bytes([idat[at + 3], idat[at + 4]]);
            assert_eq!(!(len as u16), nlen);
            raw.extend_from_slice(&idat[at + 5..at + 5 + len]);
            at += 5 + len;
            if last {
                break;
            }
        }
        let adler = u32::from_be_bytes(idat[at..at + 4].try_into().unwrap());
        assert_eq!(adler, adler32(&raw), "Adler-32");
        let row = w.div_ceil(8) + 1;
        assert_eq!(raw.len(), row * h);
        (0..h)
            .map(|y| {
                assert_eq!(raw[y * row], 0, "filter none");
                (0..w).map(|x| raw[y * row + 1 + x / 8] & (0x80 >> (x % 8)) == 0).collect()
            })
            .collect()
    }

    #[test]
    fn checksums_match_their_reference_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn an_image_round_trips_through_its_chunks_and_stored_blocks() {
        let png = encode(13, 3, |x, y| (x + y) % 2 == 0);
        let c = chunks(&png);
        let kinds: Vec<&[u8; 4]> = c.iter().map(|c| &c.0).collect();
        assert_eq!(kinds, [b"IHDR", b"IDAT", b"IEND"]);
        assert_eq!(c[0].1, [0, 0, 0, 13, 0, 0, 0, 3, 1, 0, 0, 0, 0]);
        let px = pixels(&png);
        for (y, row) in px.iter().enumerate() {
            for (x, &d) in row.iter().enumerate() {
                assert_eq!(d, (x + y) % 2 == 0, "({x},{y})");
            }
        }
    }

    #[test]
    fn a_large_image_spans_several_stored_blocks() {
        let png = encode(1200, 500, |x, _| x % 3 == 0);
        let px = pixels(&png);
        assert_eq!((px.len(), px[0].len()), (500, 1200));
        assert!(px[499][1197] && !px[499][1198]);
    }
}
