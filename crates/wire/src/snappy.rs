//! Snappy block format (not the framed format), as remote write uses it.

use crate::{Error, Limits};

/// Decompresses a snappy *block* body, enforcing both limits. The uncompressed length is read from the
/// block header and checked against [`Limits::max_decompressed_bytes`] before any buffer is allocated, so a
/// small body that claims gigabytes (a snappy bomb) costs nothing.
pub fn decompress_snappy(body: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    if body.len() > limits.max_body_bytes {
        return Err(Error::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    // Read the header ourselves rather than through `snap::raw::decompress_len`, so the limit check does not
    // depend on how the codec treats lengths beyond its own maximum.
    let claimed = read_uvarint(body).ok_or(Error::Snappy(snap::Error::Header))?;
    if claimed > limits.max_decompressed_bytes as u64 {
        return Err(Error::DecompressedTooLarge {
            size: claimed,
            limit: limits.max_decompressed_bytes,
        });
    }
    // `claimed` fits in usize: it is at most `max_decompressed_bytes`.
    let mut out = vec![0u8; claimed as usize];
    let n = snap::raw::Decoder::new().decompress(body, &mut out)?;
    // The decoder writes exactly the header's length or fails; truncate defensively anyway.
    out.truncate(n);
    Ok(out)
}

/// Compresses `raw` as one snappy block (what remote write senders put in the body).
///
/// # Panics
/// If `raw` is larger than snappy's maximum block size (about 4 GiB), which no request body comes near.
pub fn compress_snappy(raw: &[u8]) -> Vec<u8> {
    match snap::raw::Encoder::new().compress_vec(raw) {
        Ok(v) => v,
        // The only failure is an input over snappy's maximum block size (about 4 GiB); no request we build
        // comes close, so this is a bug in the caller, not bad input.
        Err(e) => panic!("snappy compression of {} bytes failed: {e}", raw.len()),
    }
}

/// The leading unsigned LEB128 varint (at most 10 bytes), or `None` when truncated or overlong.
fn read_uvarint(b: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().take(10).enumerate() {
        let part = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return None; // more than 64 bits
        }
        v |= part << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_cases() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (&[], None),
            (&[0x00], Some(0)),
            (&[0x7f], Some(127)),
            (&[0x80, 0x01], Some(128)),
            (&[0x80], None),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], Some(u64::from(u32::MAX))),
            (&[0x80, 0x80, 0x80, 0x80, 0x10], Some(1 << 32)),
            (&[0xff; 10], None),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Some(u64::MAX),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(read_uvarint(input), *want, "input {input:x?}");
        }
    }

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let c = compress_snappy(&data);
        assert!(c.len() < data.len());
        assert_eq!(decompress_snappy(&c, &Limits::default()).unwrap(), data);
    }

    #[test]
    fn limits_are_inclusive() {
        let data = vec![7u8; 1000];
        let c = compress_snappy(&data);
        let exact = Limits {
            max_body_bytes: c.len(),
            max_decompressed_bytes: 1000,
        };
        assert_eq!(decompress_snappy(&c, &exact).unwrap(), data);
        let small_body = Limits {
            max_body_bytes: c.len() - 1,
            ..exact
        };
        assert!(matches!(
            decompress_snappy(&c, &small_body),
            Err(Error::BodyTooLarge { .. })
        ));
        let small_out = Limits {
            max_decompressed_bytes: 999,
            ..exact
        };
        assert!(matches!(
            decompress_snappy(&c, &small_out),
            Err(Error::DecompressedTooLarge { size: 1000, limit: 999 })
        ));
    }
}
