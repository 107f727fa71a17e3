//! Gzip, as Loki's JSON push may be sent with `Content-Encoding: gzip`.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::error::IngestError;
use crate::limits::Limits;
use crate::snappy::check_body_size;

/// Gunzips `body`, reading at most one byte past `max_decoded_bytes`: gzip
/// has no trustworthy size header (ISIZE is mod 2^32 and the sender's word),
/// so the bound is enforced while reading. Concatenated members are read as
/// one stream, as Go's gzip reader does.
pub fn decompress(body: &[u8], limits: &Limits) -> Result<Vec<u8>, IngestError> {
    check_body_size(body, limits)?;
    let limit = limits.max_decoded_bytes;
    let mut decoded = Vec::new();
    MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| IngestError::Gzip(error.to_string()))?;
    if decoded.len() > limit {
        return Err(IngestError::GzipTooLarge { limit });
    }
    Ok(decoded)
}

/// Gzips `raw` (for tests and the load tool).
pub fn compress(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let written = encoder.write_all(raw).and_then(|()| encoder.finish());
    written.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let raw = b"{\"streams\":[]}".repeat(100);
        assert_eq!(
            decompress(&compress(&raw), &Limits::default()).unwrap(),
            raw
        );
    }

    #[test]
    fn stops_a_gzip_bomb_at_the_limit() {
        // 16 MiB of zeros compress to about 16 KiB.
        let bomb = compress(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 100 << 10);
        let limits = Limits {
            max_decoded_bytes: 1 << 20,
            ..Limits::default()
        };
        let error = decompress(&bomb, &limits).unwrap_err();
        assert_eq!(error, IngestError::GzipTooLarge { limit: 1 << 20 });
        assert_eq!(error.reason(), "decompression_bomb");
        assert_eq!(error.status(), 413);
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let raw = vec![7u8; 1000];
        let limits = Limits {
            max_decoded_bytes: 1000,
            ..Limits::default()
        };
        assert_eq!(decompress(&compress(&raw), &limits).unwrap(), raw);
    }

    #[test]
    fn garbage_and_truncation_are_gzip_errors() {
        let whole = compress(b"some json that is long enough to be cut short");
        for body in [&b"not gzip"[..], &whole[..whole.len() / 2]] {
            let error = decompress(body, &Limits::default()).unwrap_err();
            assert_eq!(error.reason(), "gzip", "{error}");
        }
    }
}
