//! RecordBatch v2 framing ("magic 2"), as specified on Kafka's protocol page under
//! "Record Batch" and implemented by Kafka's `DefaultRecordBatch`.
//!
//! Byte layout of one batch (all integers big-endian):
//!
//! | offset | size | field                  |
//! |-------:|-----:|------------------------|
//! | 0      | 8    | base offset            |
//! | 8      | 4    | batch length (bytes after this field) |
//! | 12     | 4    | partition leader epoch |
//! | 16     | 1    | magic (2)              |
//! | 17     | 4    | CRC32C of bytes 21..end|
//! | 21     | 2    | attributes             |
//! | 23     | 4    | last offset delta      |
//! | 27     | 8    | base timestamp (ms)    |
//! | 35     | 8    | max timestamp (ms)     |
//! | 43     | 8    | producer id            |
//! | 51     | 2    | producer epoch         |
//! | 53     | 4    | base sequence          |
//! | 57     | 4    | records count          |
//! | 61     | ...  | records (maybe compressed) |
//!
//! The base offset, batch length and partition leader epoch lie outside the CRC, so the broker
//! can assign offsets and stamp the leader epoch without recomputing it. Setting
//! LogAppendTime changes the attributes and max timestamp, which are covered, so
//! [`set_log_append_time`] recomputes the CRC.

use std::ops::Range;

/// Bytes before the batch length field's coverage starts: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed v2 batch header, in bytes.
pub const BATCH_HEADER_BYTES: usize = 61;
/// The only record batch format Strom stores.
pub const MAGIC_V2: i8 = 2;
/// Producer id meaning "no producer" (non-idempotent).
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch meaning "no producer".
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Sequence meaning "no sequence".
pub const NO_SEQUENCE: i32 = -1;
/// Timestamp meaning "none".
pub const NO_TIMESTAMP: i64 = -1;

const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Compression codec ids carried in the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    /// Maps a codec id (0..=4) to a codec; `None` for ids Kafka does not define.
    pub fn from_id(id: i16) -> Option<Compression> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's config name for the codec (`compression.type` values).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Why a byte range is not a well-formed v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{0} bytes left, fewer than a batch header")]
    Truncated(usize),
    #[error("batch length {claimed} does not fit in the {available} bytes that follow")]
    LengthPastEnd { claimed: i64, available: usize },
    #[error("batch length {0} is smaller than the v2 header")]
    LengthTooSmall(i32),
    #[error("unsupported magic {0} (only magic 2 record batches are accepted)")]
    Magic(i8),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("unknown compression codec id {0}")]
    Compression(i16),
    #[error("negative record count {0}")]
    NegativeCount(i32),
    #[error("last offset delta {delta} does not match record count {count}")]
    OffsetDelta { delta: i32, count: i32 },
}

/// The decoded fixed header of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the batch length field; the whole batch is `LOG_OVERHEAD + batch_length`.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Decodes the header at the start of `buf` without checking the CRC or that the whole batch
    /// is present. Errors: [`BatchError::Truncated`] when fewer than 61 bytes are given.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated(buf.len()));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            partition_leader_epoch: be_i32(buf, 12),
            magic: buf[16] as i8,
            crc: u32::from_be_bytes(buf[17..21].try_into().expect("4 bytes")),
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of this batch on the wire and on disk.
    pub fn total_bytes(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Offset after this batch (`last_offset() + 1`).
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// The codec, or `None` for an id Kafka does not define.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.attributes & COMPRESSION_MASK)
    }

    /// True when timestamps are LogAppendTime (set by the broker) rather than CreateTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_BIT != 0
    }

    /// Sequence of the last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC32C over `batch[21..]` (attributes to end), as stored at bytes 17..21.
/// Panics if `batch` is shorter than the header: callers pass a framed batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    assert!(
        batch.len() >= BATCH_HEADER_BYTES,
        "compute_crc on a short batch"
    );
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Checks that `batch` (exactly one batch) is a well-formed v2 batch: magic 2, length
/// consistent with `batch.len()`, known codec, CRC matches, non-negative count, and for
/// uncompressed-or-not batches `last_offset_delta == records_count - 1` when records exist.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(batch)?;
    if h.magic != MAGIC_V2 {
        return Err(BatchError::Magic(h.magic));
    }
    if (h.batch_length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD) as i64 {
        return Err(BatchError::LengthTooSmall(h.batch_length));
    }
    if h.total_bytes() != batch.len() {
        return Err(BatchError::LengthPastEnd {
            claimed: h.batch_length as i64,
            available: batch.len() - LOG_OVERHEAD,
        });
    }
    let computed = compute_crc(batch);
    if computed != h.crc {
        return Err(BatchError::Crc {
            stored: h.crc,
            computed,
        });
    }
    if h.compression().is_none() {
        return Err(BatchError::Compression(h.attributes & COMPRESSION_MASK));
    }
    if h.records_count < 0 {
        return Err(BatchError::NegativeCount(h.records_count));
    }
    if h.records_count > 0 && h.last_offset_delta != h.records_count - 1 {
        return Err(BatchError::OffsetDelta {
            delta: h.last_offset_delta,
            count: h.records_count,
        });
    }
    Ok(h)
}

/// Writes `base_offset` into bytes 0..8 (outside the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into bytes 12..16 (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch LogAppendTime with `timestamp_ms` as its max timestamp and recomputes the
/// CRC, as Kafka's broker does when `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) {
    let attrs = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&timestamp_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over concatenated batches in a buffer (a Produce request's `records`, a segment
/// file's bytes), yielding each batch's byte range and header. It only frames: it checks that
/// each claimed length fits in the buffer, not the CRC. Iteration stops after the first error.
pub struct BatchFrames<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BatchFrames<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchFrames {
            buf,
            pos: 0,
            failed: false,
        }
    }

    /// Byte position of the next batch to be yielded (the end of the last good frame).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchFrames<'_> {
    type Item = Result<(Range<usize>, BatchHeader), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let result = frame_one(rest);
        match result {
            Ok(h) => {
                let start = self.pos;
                self.pos += h.total_bytes();
                Some(Ok((start..self.pos, h)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn frame_one(rest: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(rest)?;
    if (h.batch_length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD) as i64 {
        return Err(BatchError::LengthTooSmall(h.batch_length));
    }
    if h.total_bytes() > rest.len() {
        return Err(BatchError::LengthPastEnd {
            claimed: h.batch_length as i64,
            available: rest.len() - LOG_OVERHEAD,
        });
    }
    Ok(h)
}

/// Builds an uncompressed v2 batch from already-encoded records. Used by tests and by the
/// broker for its own internal records. `records` must hold `count` encoded records.
#[allow(clippy::too_many_arguments)]
pub fn build_batch(
    base_offset: i64,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
    records: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(BATCH_HEADER_BYTES + records.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    let len = (BATCH_HEADER_BYTES - LOG_OVERHEAD + records.len()) as i32;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(MAGIC_V2 as u8);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&max_timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&base_sequence.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = compute_crc(&b);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{encode_record, RecordRef};

    fn sample(n: i32) -> Vec<u8> {
        let mut recs = Vec::new();
        for i in 0..n {
            encode_record(
                &mut recs,
                &RecordRef {
                    timestamp_delta: i as i64,
                    offset_delta: i,
                    key: Some(b"k"),
                    value: Some(b"value"),
                    headers: &[],
                },
            );
        }
        build_batch(0, 0, n - 1, 1000, 1000 + n as i64 - 1, -1, -1, -1, n, &recs)
    }

    #[test]
    fn validate_accepts_built_batch_and_rejects_flipped_bit() {
        let mut b = sample(3);
        let h = validate(&b).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_bytes(), b.len());
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(validate(&b), Err(BatchError::Crc { .. })));
    }

    #[test]
    fn offsets_and_epoch_do_not_touch_crc() {
        let mut b = sample(2);
        set_base_offset(&mut b, 77);
        set_partition_leader_epoch(&mut b, 5);
        let h = validate(&b).unwrap();
        assert_eq!(h.base_offset, 77);
        assert_eq!(h.partition_leader_epoch, 5);
        assert_eq!(h.next_offset(), 79);
    }

    #[test]
    fn log_append_time_recomputes_crc() {
        let mut b = sample(2);
        set_log_append_time(&mut b, 123_456);
        let h = validate(&b).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 123_456);
    }

    #[test]
    fn frames_stop_at_truncation() {
        let a = sample(1);
        let b = sample(2);
        let mut buf = a.clone();
        buf.extend_from_slice(&b);
        buf.extend_from_slice(&b[..30]);
        let frames: Vec<_> = BatchFrames::new(&buf).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].as_ref().unwrap().0, 0..a.len());
        assert!(frames[2].is_err());
    }

    #[test]
    fn huge_claimed_length_is_an_error_not_an_allocation() {
        let mut b = sample(1);
        b[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            BatchFrames::new(&b).next(),
            Some(Err(BatchError::LengthPastEnd { .. }))
        ));
    }

    #[test]
    fn last_sequence_wraps() {
        let mut h = BatchHeader::parse(&sample(3)).unwrap();
        h.base_sequence = i32::MAX - 1;
        assert_eq!(h.last_sequence(), 0);
    }
}
