//! Raw protobuf fields over borrowed bytes: the remote-write 1.0 decoder
//! reads them directly (no struct or String per element), and the other
//! formats, decoded with prost, get a pre-pass that counts repeated fields
//! first. prost allocates a struct per element (a 2-byte empty `Label`
//! becomes 48 bytes), so counts are checked against the limits before it
//! runs, and a hostile request is refused at the cost of one scan.

use crate::error::{IngestError, Position};
use crate::labels;
use crate::limits::Limits;

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Iterates over the fields of one message. Malformed input ends the
/// iteration with an error; prost would reject it too.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

pub(crate) fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { rest: buf }
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take<'a>(buf: &mut &'a [u8], len: u64) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len > buf.len() {
        return None;
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Some(head)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, FieldValue<'a>), IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.read_field();
        if field.is_none() {
            // Stop after the first error.
            self.rest = &[];
        }
        Some(field.ok_or_else(|| IngestError::Protobuf("malformed message".to_owned())))
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Option<(u64, FieldValue<'a>)> {
        let key = read_varint(&mut self.rest)?;
        let number = key >> 3;
        if number == 0 {
            return None;
        }
        let value = match key & 7 {
            0 => FieldValue::Varint(read_varint(&mut self.rest)?),
            1 => {
                let bytes: [u8; 8] = take(&mut self.rest, 8)?.try_into().ok()?;
                FieldValue::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = read_varint(&mut self.rest)?;
                FieldValue::Bytes(take(&mut self.rest, len)?)
            }
            5 => {
                let bytes: [u8; 4] = take(&mut self.rest, 4)?.try_into().ok()?;
                FieldValue::Fixed32(u32::from_le_bytes(bytes))
            }
            // Groups (3, 4) are long deprecated and never sent by these protocols.
            _ => return None,
        };
        Some((number, value))
    }
}

/// Where the counted fields are, per format.
struct Layout {
    /// The repeated message field of the request (series or streams).
    outer: u64,
    /// Inside each outer message: the labels field, if counted here.
    labels: Option<LabelEncoding>,
    /// Inside each outer message: the repeated samples/entries field.
    items: u64,
}

enum LabelEncoding {
    /// Two varint symbol references per label (remote-write 2.0 `labels_refs = 1`).
    RefPairs(u64),
}

/// Limit checks and errors for one layout.
struct Caps {
    outer: usize,
    items: usize,
    outer_error: fn(usize) -> IngestError,
    items_error: fn(usize) -> IngestError,
    position: fn(usize) -> Position,
}

fn count(buf: &[u8], layout: &Layout, caps: &Caps, limits: &Limits) -> Result<(), IngestError> {
    let mut outer = 0usize;
    let mut items = 0usize;
    for field in fields(buf) {
        let (number, value) = field?;
        let FieldValue::Bytes(message) = value else {
            continue;
        };
        if number != layout.outer {
            continue;
        }
        if outer == caps.outer {
            return Err((caps.outer_error)(caps.outer));
        }
        let mut label_halves = 0usize;
        for inner in fields(message) {
            let (number, value) = inner?;
            if number == layout.items {
                items += 1;
                if items > caps.items {
                    return Err((caps.items_error)(caps.items));
                }
                continue;
            }
            label_halves += match (&layout.labels, value) {
                (Some(LabelEncoding::RefPairs(field)), FieldValue::Varint(_))
                    if number == *field =>
                {
                    1
                }
                (Some(LabelEncoding::RefPairs(field)), FieldValue::Bytes(packed))
                    if number == *field =>
                {
                    // One varint ends at each byte without the continuation bit.
                    packed.iter().filter(|&&b| b & 0x80 == 0).count()
                }
                _ => 0,
            };
        }
        // A ref counts half a label, so an odd ref count rounds up.
        labels::check_count((caps.position)(outer), label_halves.div_ceil(2), limits)?;
        outer += 1;
    }
    Ok(())
}

/// Checks series, samples and labels-per-series counts of an `io.prometheus.write.v2.Request`.
pub(crate) fn check_remote_write_v2(buf: &[u8], limits: &Limits) -> Result<(), IngestError> {
    let layout = Layout {
        outer: 5,
        labels: Some(LabelEncoding::RefPairs(1)),
        items: 2,
    };
    count(buf, &layout, &series_caps(limits), limits)
}

/// Checks stream and entry counts of a `logproto.PushRequest`.
pub(crate) fn check_loki_push(buf: &[u8], limits: &Limits) -> Result<(), IngestError> {
    let layout = Layout {
        outer: 1,
        labels: None,
        items: 2,
    };
    let caps = Caps {
        outer: limits.max_streams_per_push,
        items: limits.max_entries_per_push,
        outer_error: |limit| IngestError::TooManyStreams { limit },
        items_error: |limit| IngestError::TooManyEntries { limit },
        position: Position::Stream,
    };
    count(buf, &layout, &caps, limits)
}

fn series_caps(limits: &Limits) -> Caps {
    Caps {
        outer: limits.max_series_per_request,
        items: limits.max_samples_per_request,
        outer_error: |limit| IngestError::TooManySeries { limit },
        items_error: |limit| IngestError::TooManySamples { limit },
        position: Position::Series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut buf: &[u8] = &[0xac, 0x02, 0x01];
        assert_eq!(read_varint(&mut buf), Some(300));
        assert_eq!(buf, &[0x01]);
        let mut too_long: &[u8] = &[0xff; 11];
        assert_eq!(read_varint(&mut too_long), None);
        let mut truncated: &[u8] = &[0x80];
        assert_eq!(read_varint(&mut truncated), None);
    }

    #[test]
    fn malformed_input_is_a_protobuf_error() {
        let limits = Limits::default();
        // Field 1, length 10, but only 2 bytes follow.
        let error = check_remote_write_v2(&[0x2a, 10, 1, 2], &limits).unwrap_err();
        assert_eq!(error.reason(), "protobuf");
        // Field number 0.
        let error = check_remote_write_v2(&[0x02, 0], &limits).unwrap_err();
        assert_eq!(error.reason(), "protobuf");
        // A start-group wire type.
        let error = check_loki_push(&[0x0b], &limits).unwrap_err();
        assert_eq!(error.reason(), "protobuf");
    }
}
