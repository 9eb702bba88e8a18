//! The records inside a v2 batch, and the batch payload codecs.
//!
//! Record layout (Kafka protocol page, "Record"): `length: varint`, `attributes: int8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, `keyLength: varint` (-1 = null),
//! `key`, `valueLength: varint` (-1 = null), `value`, `headersCount: varint`, then per header
//! `keyLength: varint`, `key` (UTF-8, never null), `valueLength: varint` (-1 = null), `value`.
//! Varints are zig-zag encoded, as in protobuf.
//!
//! Decompression is bounded: [`decompress`] stops and fails once the output would pass the
//! caller's limit, so a small "bomb" cannot make the broker allocate gigabytes.

use std::io::Read;

use crate::batch::Compression;

/// Why record bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record data ends early")]
    Truncated,
    #[error("varint is longer than allowed")]
    VarintOverflow,
    #[error("negative length {0} where a length is required")]
    BadLength(i64),
    #[error("record length {claimed} disagrees with its content ({actual} bytes)")]
    LengthMismatch { claimed: i64, actual: usize },
    #[error("header key is null")]
    NullHeaderKey,
    #[error("{0} bytes left after the last record")]
    TrailingBytes(usize),
    #[error("batch claims {claimed} records but holds {actual}")]
    CountMismatch { claimed: i32, actual: i32 },
    #[error("record offset delta {actual} where {expected} was expected")]
    OffsetDelta { expected: i32, actual: i32 },
    #[error("decompressed size passes the limit of {0} bytes")]
    TooLarge(usize),
    #[error("corrupt {codec} payload: {reason}")]
    Codec { codec: &'static str, reason: String },
}

/// One record, borrowing its bytes from the batch payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], Option<&'a [u8]>)],
}

/// A decoded record with owned header list (keys and values still borrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

/// Appends the zig-zag varint of `v` to `out`.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends the zig-zag varint of `v` to `out`.
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, v as i64)
}

/// Byte length of the zig-zag varint encoding of `v`.
pub fn varlong_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// A cursor over record bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn varlong_max(&mut self, max_bytes: usize) -> Result<i64, RecordError> {
        let mut z: u64 = 0;
        for i in 0..max_bytes {
            let b = *self.buf.get(self.pos).ok_or(RecordError::Truncated)?;
            self.pos += 1;
            z |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(RecordError::VarintOverflow)
    }

    pub fn varlong(&mut self) -> Result<i64, RecordError> {
        self.varlong_max(10)
    }

    pub fn varint(&mut self) -> Result<i32, RecordError> {
        let v = self.varlong_max(5)?;
        i32::try_from(v).map_err(|_| RecordError::VarintOverflow)
    }

    pub fn u8(&mut self) -> Result<u8, RecordError> {
        let b = *self.buf.get(self.pos).ok_or(RecordError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.remaining() {
            return Err(RecordError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn nullable(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        let n = self.varint()?;
        match n {
            -1 => Ok(None),
            n if n < -1 => Err(RecordError::BadLength(n as i64)),
            n => Ok(Some(self.bytes(n as usize)?)),
        }
    }

    /// Decodes one record. Errors on truncation, bad lengths, null header keys, and a record
    /// length that disagrees with what the fields used.
    pub fn record(&mut self) -> Result<Record<'a>, RecordError> {
        let length = self.varint()? as i64;
        if length < 0 {
            return Err(RecordError::BadLength(length));
        }
        if length as usize > self.remaining() {
            return Err(RecordError::Truncated);
        }
        let start = self.pos;
        let attributes = self.u8()? as i8;
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let key = self.nullable()?;
        let value = self.nullable()?;
        let count = self.varint()?;
        if count < 0 {
            return Err(RecordError::BadLength(count as i64));
        }
        // Each header takes at least two bytes, so this bound is what the bytes can hold.
        let mut headers = Vec::with_capacity((count as usize).min(self.remaining() / 2));
        for _ in 0..count {
            let k = self.nullable()?.ok_or(RecordError::NullHeaderKey)?;
            let v = self.nullable()?;
            headers.push((k, v));
        }
        let used = self.pos - start;
        if used as i64 != length {
            return Err(RecordError::LengthMismatch {
                claimed: length,
                actual: used,
            });
        }
        Ok(Record {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        })
    }
}

/// Appends one encoded record (with its length prefix) to `out`.
pub fn encode_record(out: &mut Vec<u8>, r: &RecordRef<'_>) {
    let mut body =
        Vec::with_capacity(32 + r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len()));
    body.push(0u8);
    put_varlong(&mut body, r.timestamp_delta);
    put_varint(&mut body, r.offset_delta);
    put_nullable(&mut body, r.key);
    put_nullable(&mut body, r.value);
    put_varint(&mut body, r.headers.len() as i32);
    for (k, v) in r.headers {
        put_nullable(&mut body, Some(k));
        put_nullable(&mut body, *v);
    }
    put_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
}

fn put_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Decodes all `count` records of an uncompressed payload, checking that offset deltas run
/// 0, 1, 2, ... and that no bytes trail the last record.
pub fn decode_all(payload: &[u8], count: i32) -> Result<Vec<Record<'_>>, RecordError> {
    let mut r = Reader::new(payload);
    // A record is at least 7 bytes, so the capacity is bounded by what the payload can hold.
    let mut out = Vec::with_capacity((count.max(0) as usize).min(payload.len() / 7 + 1));
    let mut n = 0i32;
    while r.remaining() > 0 {
        if n == count {
            return Err(RecordError::TrailingBytes(r.remaining()));
        }
        let rec = r.record()?;
        if rec.offset_delta != n {
            return Err(RecordError::OffsetDelta {
                expected: n,
                actual: rec.offset_delta,
            });
        }
        out.push(rec);
        n += 1;
    }
    if n != count {
        return Err(RecordError::CountMismatch {
            claimed: count,
            actual: n,
        });
    }
    Ok(out)
}

/// Decompresses a batch payload (the bytes after the 61-byte header) into at most
/// `max_bytes`. Snappy accepts both raw blocks and the xerial framing the Java client writes;
/// LZ4 is the LZ4 frame format. Errors: [`RecordError::TooLarge`] past the limit,
/// [`RecordError::Codec`] for a corrupt payload.
pub fn decompress(
    codec: Compression,
    payload: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, RecordError> {
    let codec_err = |codec: &'static str| {
        move |e: std::io::Error| RecordError::Codec {
            codec,
            reason: e.to_string(),
        }
    };
    match codec {
        Compression::None => {
            if payload.len() > max_bytes {
                return Err(RecordError::TooLarge(max_bytes));
            }
            Ok(payload.to_vec())
        }
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(payload), max_bytes)
            .map_err(codec_err("gzip"))?,
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(payload), max_bytes)
            .map_err(codec_err("lz4"))?,
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::new(payload).map_err(codec_err("zstd"))?;
            read_bounded(dec, max_bytes).map_err(codec_err("zstd"))?
        }
        Compression::Snappy => snappy_decompress(payload, max_bytes),
    }
}

const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

fn snappy_decompress(payload: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
    let err = |reason: String| RecordError::Codec {
        codec: "snappy",
        reason,
    };
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let n = snap::raw::decompress_len(block).map_err(|e| err(e.to_string()))?;
        if out.len() + n > max_bytes {
            return Err(RecordError::TooLarge(max_bytes));
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| err(e.to_string()))?;
        Ok(())
    };
    let mut out = Vec::new();
    if payload.starts_with(XERIAL_MAGIC) && payload.len() >= 16 {
        // Xerial framing: 8-byte magic, 4-byte version, 4-byte compatible version, then
        // blocks of `u32 big-endian length` + raw snappy block.
        let mut pos = 16;
        while pos < payload.len() {
            if payload.len() - pos < 4 {
                return Err(err("truncated xerial block length".into()));
            }
            let len =
                u32::from_be_bytes(payload[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            pos += 4;
            if len > payload.len() - pos {
                return Err(err("xerial block past the end".into()));
            }
            raw(&payload[pos..pos + len], &mut out)?;
            pos += len;
        }
        return Ok(out);
    }
    raw(payload, &mut out)?;
    Ok(out)
}

fn read_bounded<R: Read>(
    r: R,
    max_bytes: usize,
) -> Result<Result<Vec<u8>, RecordError>, std::io::Error> {
    let mut out = Vec::new();
    let n = r.take(max_bytes as u64 + 1).read_to_end(&mut out)?;
    if n > max_bytes {
        return Ok(Err(RecordError::TooLarge(max_bytes)));
    }
    Ok(Ok(out))
}

/// Compresses a records payload with `codec` (snappy as the xerial framing Kafka's Java
/// client writes, lz4 as an LZ4 frame).
pub fn compress(codec: Compression, payload: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match codec {
        Compression::None => payload.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(payload).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        }
        Compression::Snappy => {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            for chunk in payload.chunks(32 * 1024) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .expect("snappy compress of a bounded chunk");
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(payload).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        }
        Compression::Zstd => zstd::bulk::compress(payload, 3).expect("zstd compress to a Vec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            prop_assert_eq!(b.len(), varlong_len(v));
            prop_assert_eq!(Reader::new(&b).varlong().unwrap(), v);
        }

        #[test]
        fn records_round_trip(recs in proptest::collection::vec(
            (any::<i64>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50))), 0..20)) {
            let mut payload = Vec::new();
            for (i, (ts, k, v)) in recs.iter().enumerate() {
                let hdrs: Vec<(&[u8], Option<&[u8]>)> = vec![(b"h", v.as_deref())];
                encode_record(&mut payload, &RecordRef { timestamp_delta: *ts, offset_delta: i as i32,
                    key: k.as_deref(), value: v.as_deref(), headers: &hdrs });
            }
            let decoded = decode_all(&payload, recs.len() as i32).unwrap();
            prop_assert_eq!(decoded.len(), recs.len());
            for (d, (ts, k, v)) in decoded.iter().zip(recs.iter()) {
                prop_assert_eq!(d.timestamp_delta, *ts);
                prop_assert_eq!(d.key, k.as_deref());
                prop_assert_eq!(d.value, v.as_deref());
            }
        }
    }

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let z = compress(c, &data);
            assert_eq!(decompress(c, &z, data.len()).unwrap(), data, "{c:?}");
            assert_eq!(
                decompress(c, &z, data.len() - 1),
                Err(RecordError::TooLarge(data.len() - 1)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn raw_snappy_is_accepted() {
        let data = b"hello hello hello hello".repeat(10);
        let z = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &z, 1 << 20).unwrap(), data);
    }

    #[test]
    fn garbage_is_a_codec_error() {
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(
                matches!(
                    decompress(c, b"not compressed at all", 1 << 20),
                    Err(RecordError::Codec { .. })
                ),
                "{c:?}"
            );
        }
    }

    #[test]
    fn count_mismatch_and_trailing_bytes() {
        let mut p = Vec::new();
        encode_record(
            &mut p,
            &RecordRef {
                timestamp_delta: 0,
                offset_delta: 0,
                key: None,
                value: Some(b"v"),
                headers: &[],
            },
        );
        assert!(matches!(
            decode_all(&p, 2),
            Err(RecordError::CountMismatch { .. })
        ));
        assert!(matches!(
            decode_all(&p, 0),
            Err(RecordError::TrailingBytes(_))
        ));
        assert_eq!(decode_all(&p, 1).unwrap()[0].value, Some(&b"v"[..]));
    }
}
