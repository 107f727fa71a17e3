//! Snappy block format (not the framed format), as remote-write and Loki's
//! protobuf push use it.

use crate::error::IngestError;
use crate::limits::Limits;

/// Decompresses a snappy block. The decoded length is read from the block's
/// header first and refused when it is over `max_decoded_bytes`, so a 20-byte
/// body claiming 4 GiB costs nothing.
pub fn decompress(body: &[u8], limits: &Limits) -> Result<Vec<u8>, IngestError> {
    check_body_size(body, limits)?;
    let claimed = match snap::raw::decompress_len(body) {
        Ok(len) => len,
        // Over snappy's own 4 GiB ceiling: as much a bomb as anything else too large.
        Err(snap::Error::TooBig { given, .. }) => {
            return Err(IngestError::SnappyTooLarge {
                claimed: given,
                limit: limits.max_decoded_bytes,
            });
        }
        Err(error) => return Err(IngestError::Snappy(error.to_string())),
    };
    if claimed > limits.max_decoded_bytes {
        return Err(IngestError::SnappyTooLarge {
            claimed: claimed as u64,
            limit: limits.max_decoded_bytes,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|error| IngestError::Snappy(error.to_string()))
}

/// Compresses `raw` into one snappy block.
///
/// # Panics
///
/// When `raw` is over snappy's block limit of 4 GiB, which no encoder of this
/// crate produces from a batch that fits in memory twice.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy blocks hold up to 4 GiB")
}

pub(crate) fn check_body_size(body: &[u8], limits: &Limits) -> Result<(), IngestError> {
    if body.len() > limits.max_body_bytes {
        return Err(IngestError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snappy header (the decoded length as a varint) followed by junk.
    fn header_claiming(len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = len;
        while rest >= 0x80 {
            out.push((rest as u8) | 0x80);
            rest >>= 7;
        }
        out.push(rest as u8);
        out.extend_from_slice(&[0; 16]);
        out
    }

    #[test]
    fn round_trips() {
        let raw = b"hello hello hello hello".repeat(10);
        let decoded = decompress(&compress(&raw), &Limits::default()).unwrap();
        assert_eq!(decoded, raw);
    }

    #[test]
    fn refuses_a_header_claiming_4_gib_before_allocating() {
        for claimed in [u64::from(u32::MAX), 4 << 30, 65 << 20] {
            let error = decompress(&header_claiming(claimed), &Limits::default()).unwrap_err();
            assert_eq!(error.reason(), "decompression_bomb", "{claimed}: {error}");
            assert_eq!(error.status(), 413);
        }
    }

    #[test]
    fn refuses_more_than_the_decoded_limit() {
        let raw = vec![0u8; 2048];
        let limits = Limits {
            max_decoded_bytes: 1024,
            ..Limits::default()
        };
        let error = decompress(&compress(&raw), &limits).unwrap_err();
        assert_eq!(
            error,
            IngestError::SnappyTooLarge {
                claimed: 2048,
                limit: 1024
            }
        );
    }

    #[test]
    fn refuses_a_body_over_the_compressed_limit() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let error = decompress(&[0; 11], &limits).unwrap_err();
        assert_eq!(error.reason(), "too_large");
    }

    #[test]
    fn garbage_is_a_snappy_error() {
        for body in [&b""[..], b"\x05", b"\x0a\xff\xff\xff", b"not snappy at all"] {
            let error = decompress(body, &Limits::default()).unwrap_err();
            assert_eq!(error.reason(), "snappy", "{body:?}: {error}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn a_header_longer_than_the_data_is_an_error() {
        let error = decompress(&header_claiming(100), &Limits::default()).unwrap_err();
        assert_eq!(error.reason(), "snappy");
    }
}
