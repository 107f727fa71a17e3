//! Compressed sample chunks, the encoding of Prometheus' XOR chunks
//! (Facebook's Gorilla): timestamps as delta-of-delta, values as the XOR with
//! the previous value. Regular scrapes of slowly changing values cost one to
//! two bytes a sample instead of sixteen, which is what lets three hours of
//! half a million series fit in memory. Stale markers are a NaN bit pattern
//! and survive the XOR exactly.

use std::sync::Arc;

/// Samples per chunk, as Prometheus: small enough that dropping a whole
/// chunk at the retention edge over-retains little, large enough that the
/// chunk header is amortised.
pub const CHUNK_SAMPLES: usize = 120;

/// MSB-first bit buffer over 64-bit words.
#[derive(Debug, Clone, Default)]
struct Bits {
    words: Vec<u64>,
    len: u32,
}

impl Bits {
    #[inline]
    fn push(&mut self, value: u64, nbits: u32) {
        if nbits == 0 {
            return;
        }
        let value = if nbits == 64 {
            value
        } else {
            value & ((1u64 << nbits) - 1)
        };
        let used = self.len % 64;
        if used == 0 {
            self.words.push(0);
        }
        let free = 64 - used;
        let last = self.words.len() - 1;
        if nbits <= free {
            self.words[last] |= value << (free - nbits);
        } else {
            let spill = nbits - free;
            self.words[last] |= value >> spill;
            self.words.push(value << (64 - spill));
        }
        self.len += nbits;
    }
}

struct BitReader<'a> {
    words: &'a [u64],
    len: u32,
    pos: u32,
}

impl BitReader<'_> {
    #[inline]
    fn read(&mut self, nbits: u32) -> Option<u64> {
        if nbits == 0 {
            return Some(0);
        }
        if self.pos + nbits > self.len {
            return None;
        }
        let idx = (self.pos / 64) as usize;
        let off = self.pos % 64;
        let hi = self.words[idx] as u128;
        let lo = self.words.get(idx + 1).copied().unwrap_or(0) as u128;
        let both = (hi << 64) | lo;
        self.pos += nbits;
        Some(((both << off) >> (128 - nbits)) as u64)
    }

    #[inline]
    fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

/// Delta-of-delta buckets: (prefix, prefix bits, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(v: i64, bits: u32) -> bool {
    let min = -(1i64 << (bits - 1));
    let max = (1i64 << (bits - 1)) - 1;
    (min..=max).contains(&v)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// A chunk's encoded samples and its bounds. Immutable once closed, and then
/// shared by `Arc` so a query can decode it after releasing the store lock.
#[derive(Debug, Clone)]
pub struct Chunk {
    bits: Bits,
    count: u16,
    min_ts: i64,
    max_ts: i64,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn min_ts(&self) -> i64 {
        self.min_ts
    }

    pub fn max_ts(&self) -> i64 {
        self.max_ts
    }

    pub fn overlaps(&self, from_ts: i64, to_ts: i64) -> bool {
        self.count > 0 && self.max_ts >= from_ts && self.min_ts <= to_ts
    }

    /// Heap bytes of the encoded samples.
    pub fn encoded_bytes(&self) -> usize {
        self.bits.words.len() * 8
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            reader: BitReader {
                words: &self.bits.words,
                len: self.bits.len,
                pos: 0,
            },
            remaining: self.count,
            index: 0,
            ts: 0,
            delta: 0,
            value_bits: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn shrink(&mut self) {
        self.bits.words.shrink_to_fit();
    }
}

/// Decodes a chunk front to back.
pub struct ChunkIter<'a> {
    reader: BitReader<'a>,
    remaining: u16,
    index: u16,
    ts: i64,
    delta: i64,
    value_bits: u64,
    leading: u32,
    trailing: u32,
}

impl ChunkIter<'_> {
    fn decode_ts(&mut self) -> Option<()> {
        let mut prefix_len = 0;
        while prefix_len < 4 && self.reader.bit()? {
            prefix_len += 1;
        }
        let dod = match prefix_len {
            0 => 0,
            4 => self.reader.read(64)? as i64,
            n => {
                let payload_bits = DOD_BUCKETS[n - 1].2;
                sign_extend(self.reader.read(payload_bits)?, payload_bits)
            }
        };
        self.delta = self.delta.wrapping_add(dod);
        self.ts = self.ts.wrapping_add(self.delta);
        Some(())
    }

    fn decode_value(&mut self) -> Option<()> {
        if !self.reader.bit()? {
            return Some(());
        }
        if self.reader.bit()? {
            self.leading = self.reader.read(5)? as u32;
            let mut significant = self.reader.read(6)? as u32;
            if significant == 0 {
                significant = 64;
            }
            self.trailing = 64 - self.leading - significant;
        }
        let significant = 64 - self.leading - self.trailing;
        let xor = self.reader.read(significant)? << self.trailing;
        self.value_bits ^= xor;
        Some(())
    }

    fn decode_next(&mut self) -> Option<(i64, f64)> {
        if self.index == 0 {
            self.ts = self.reader.read(64)? as i64;
            self.value_bits = self.reader.read(64)?;
        } else {
            self.decode_ts()?;
            self.decode_value()?;
        }
        Some((self.ts, f64::from_bits(self.value_bits)))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        let sample = self.decode_next();
        // a truncated stream can only come from a bug; stop rather than loop
        self.remaining = if sample.is_some() {
            self.remaining - 1
        } else {
            0
        };
        self.index += 1;
        sample
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

/// The chunk being appended to, with the encoder's running state.
#[derive(Debug, Clone)]
pub struct HeadChunk {
    chunk: Chunk,
    delta: i64,
    value_bits: u64,
    /// `u32::MAX` until the first XOR window is written.
    leading: u32,
    trailing: u32,
}

impl HeadChunk {
    pub fn new() -> Self {
        HeadChunk {
            chunk: Chunk {
                bits: Bits::default(),
                count: 0,
                min_ts: 0,
                max_ts: 0,
            },
            delta: 0,
            value_bits: 0,
            leading: u32::MAX,
            trailing: 0,
        }
    }

    pub fn chunk(&self) -> &Chunk {
        &self.chunk
    }

    pub fn is_full(&self) -> bool {
        self.chunk.len() >= CHUNK_SAMPLES
    }

    /// Appends a sample; the caller guarantees `ts` is after the last one.
    #[inline]
    pub fn push(&mut self, ts: i64, value: f64) {
        let bits = value.to_bits();
        let chunk = &mut self.chunk;
        if chunk.count == 0 {
            chunk.bits.push(ts as u64, 64);
            chunk.bits.push(bits, 64);
            chunk.min_ts = ts;
        } else {
            let delta = ts.wrapping_sub(chunk.max_ts);
            let dod = delta.wrapping_sub(self.delta);
            self.delta = delta;
            push_dod(&mut chunk.bits, dod);
            self.push_value(bits);
        }
        let chunk = &mut self.chunk;
        chunk.max_ts = ts;
        chunk.count += 1;
        self.value_bits = bits;
    }

    #[inline]
    fn push_value(&mut self, bits: u64) {
        let xor = bits ^ self.value_bits;
        let out = &mut self.chunk.bits;
        if xor == 0 {
            out.push(0, 1);
            return;
        }
        // five bits hold the leading-zero count
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if self.leading != u32::MAX && leading >= self.leading && trailing >= self.trailing {
            let significant = 64 - self.leading - self.trailing;
            out.push(0b10, 2);
            out.push(xor >> self.trailing, significant);
            return;
        }
        let significant = 64 - leading - trailing;
        out.push(0b11, 2);
        out.push(leading as u64, 5);
        // 64 significant bits is written as 0: six bits hold 0..=63
        out.push((significant % 64) as u64, 6);
        out.push(xor >> trailing, significant);
        self.leading = leading;
        self.trailing = trailing;
    }

    /// Closes the chunk for good, trimming the spare capacity of its buffer.
    pub fn close(self) -> Arc<Chunk> {
        let mut chunk = self.chunk;
        chunk.shrink();
        Arc::new(chunk)
    }
}

impl Default for HeadChunk {
    fn default() -> Self {
        HeadChunk::new()
    }
}

#[inline]
fn push_dod(out: &mut Bits, dod: i64) {
    if dod == 0 {
        out.push(0, 1);
        return;
    }
    for (prefix, prefix_bits, payload_bits) in DOD_BUCKETS {
        if fits_signed(dod, payload_bits) {
            out.push(prefix, prefix_bits);
            out.push(dod as u64, payload_bits);
            return;
        }
    }
    out.push(0b1111, 4);
    out.push(dod as u64, 64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        let mut head = HeadChunk::new();
        for &(ts, v) in samples {
            head.push(ts, v);
        }
        let closed = head.close();
        assert_eq!(closed.len(), samples.len());
        closed.iter().map(|(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn regular_scrapes_compress_well() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, 1.0))
            .collect();
        let mut head = HeadChunk::new();
        for &(ts, v) in &samples {
            head.push(ts, v);
        }
        // 16 bytes for the first sample, then two bits per sample
        assert!(
            head.chunk().encoded_bytes() <= 16 + 8 + 32,
            "{}",
            head.chunk().encoded_bytes()
        );
        assert_eq!(
            roundtrip(&samples),
            samples
                .iter()
                .map(|(t, v)| (*t, v.to_bits()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn special_values_survive() {
        let stale = f64::from_bits(crate::model::STALE_NAN_BITS);
        let samples = [
            (-5, f64::NAN),
            (0, 0.0),
            (1, -0.0),
            (2, f64::INFINITY),
            (1_000_000_000, stale),
            (1_000_000_001, f64::MIN_POSITIVE),
            (i64::MAX / 2, f64::MAX),
            (i64::MAX, f64::NEG_INFINITY),
        ];
        assert_eq!(
            roundtrip(&samples),
            samples
                .iter()
                .map(|(t, v)| (*t, v.to_bits()))
                .collect::<Vec<_>>()
        );
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((1i64..=i64::MAX / 1024, any::<u64>(), 0u8..4), 1..CHUNK_SAMPLES),
        ) {
            let mut ts = start;
            let mut value_bits = 0u64;
            let mut samples = Vec::new();
            for (step, bits, mode) in steps {
                // mix of tiny and huge gaps and of repeated, close and random values
                ts = ts.saturating_add(if mode % 2 == 0 { step % 100_000 + 1 } else { step });
                value_bits = match mode { 0 => value_bits, 1 => value_bits ^ (bits & 0xff), _ => bits };
                if samples.last().is_some_and(|(last, _)| *last >= ts) {
                    break;
                }
                samples.push((ts, f64::from_bits(value_bits)));
            }
            let decoded = roundtrip(&samples);
            prop_assert_eq!(decoded, samples.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());
        }
    }
}
