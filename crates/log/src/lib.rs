//! `strom-log`: the partition log, Kafka's `storage/internals/log` in Rust.
//!
//! Responsibility: store the record batches of each partition on disk exactly as they were
//! produced, find them again by offset and by timestamp, roll, truncate, retain and delete
//! segments, make data durable on request (`flush`, with group commit), and bring a log back
//! to a consistent state after a crash. It knows nothing of the network or of other
//! partitions; [`LogManager`] only keeps the set of logs and their checkpoint files.
//!
//! Vocabulary follows Kafka: [`Log`] (Kafka's `UnifiedLog`), `Segment` (`LogSegment`),
//! `OffsetIndex`, `TimeIndex`, the loader (`LogLoader`), [`LogManager`].
//!
//! On-disk layout (Kafka's). Each file's byte layout and crash semantics are documented in
//! the module that writes it:
//!
//! | path | written by | layout / crash semantics |
//! |------|------------|--------------------------|
//! | `<log.dir>/<topic>-<partition>/<base>.log` | `segment` | batches verbatim; a torn or corrupt tail is truncated by recovery |
//! | `.../<base>.index`, `.../<base>.timeindex` | `index` | fixed big-endian entries, preallocated, trimmed at roll/close; rebuilt when corrupt |
//! | `.../<base>.{log,index,timeindex}.deleted` | `log` | segments awaiting removal after `file.delete.delay.ms`; removed on load |
//! | `<log.dir>/recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` | `checkpoint` | Kafka's text format; temp file, fsync, rename, fsync dir |
//! | `<log.dir>/.kafka_cleanshutdown` | `manager` | empty; written last at clean shutdown, deleted after start |
//! | `<log.dir>/<topic>-<partition>.<uuid>-delete/` | `manager` | a deleted log, removed in the background (and on load) |
//!
//! `<base>` is the segment's base offset as 20 zero-padded digits.
//!
//! Invariants:
//! - `log start offset <= log end offset` and `recovery point <= log end offset` (asserted
//!   where they change); the log start offset is at or above the first segment's base
//!   offset once an append has seen the segment list.
//! - Offsets strictly increase through the log; every batch lives in the segment with the
//!   greatest base offset <= its base offset; a segment's offsets fit 32 bits relative to its
//!   base. A new segment starts at the log end offset (unless the append's offsets would not
//!   fit 32 bits relative to it), so segments are contiguous and recovery can tell a segment
//!   that lost its tail from a gap.
//! - Readers never see a partially written batch: a segment's visible size and the log end
//!   offset move only after the bytes have been written; appends are serialized per log.
//! - Only the last segment (the active one) is appended to; retention never deletes it.
//! - Everything below the recovery point has been fsynced. After an unclean shutdown every
//!   segment from the one holding the recovery point on is scanned (length, magic, CRC32C,
//!   increasing offsets) and the log is cut at the first bad batch or hole.

mod checkpoint;
mod index;
pub mod limits;
mod log;
mod manager;
pub mod producer_state;
mod segment;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

pub use crate::log::{Log, OpenOptions};
pub use crate::manager::LogManager;
pub use crate::producer_state::ProducerInfo;

/// Per-topic log settings, named after Kafka's topic-level configs (in each field's doc).
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this. Default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is this old. Default 7 days.
    pub segment_ms: i64,
    /// `segment.jitter.ms`: up to this much is subtracted from `segment.ms` per segment.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`: preallocated size of each index file. Default 10 MiB.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: log bytes between offset index entries. Default 4096.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose largest timestamp is older; -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete old segments while the partition is larger; -1 = unlimited.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync once this many messages are unflushed. Default never.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is this old (checked by maintenance).
    pub flush_ms: i64,
    /// `file.delete.delay.ms`: how long `.deleted` files stay before removal. Default 60 s.
    pub file_delete_delay_ms: i64,
    /// `producer.id.expiration.ms` (a broker config): producers idle this long are forgotten.
    /// Default 1 day.
    pub producer_id_expiration_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LogConfig {
    /// `segment.bytes` bounded to what a segment can address.
    pub(crate) fn segment_bytes_bounded(&self) -> u64 {
        self.segment_bytes
            .clamp(limits::SEGMENT_BYTES_MIN, limits::SEGMENT_BYTES_MAX)
    }
}

/// Errors of the log. Conversion to Kafka wire codes happens in the server.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("append of {bytes} bytes is larger than segment.bytes {segment_bytes}")]
    RecordTooLarge { bytes: usize, segment_bytes: u64 },
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// Stored records that cannot be decoded (only reported by searches that decode records).
    #[error("corrupt records in the batch at offset {offset}: {reason}")]
    CorruptRecords { offset: i64, reason: String },
    /// The log was deleted; its handle can no longer be used.
    #[error("log {0} has been deleted")]
    Deleted(String),
    /// The same partition was found in two log dirs, or a log dir is unusable.
    #[error("{0}")]
    Storage(String),
    /// An idempotent batch whose sequence does not follow the producer's last one.
    #[error(
        "out of order sequence number for producer {producer_id}: expected {expected}, got {got}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// An idempotent batch from an epoch older than the producer's current one (fenced).
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
}

impl LogError {
    pub(crate) fn io_context(e: std::io::Error, what: impl std::fmt::Display) -> LogError {
        LogError::Io(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

/// A topic and partition index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The directory name, `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses `<topic>-<partition>`; `None` for other names.
    pub fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(TopicPartition::new(topic, partition.parse().ok()?))
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What one append wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Base offset of the first batch.
    pub first_offset: i64,
    /// Last offset of the last batch.
    pub last_offset: i64,
    /// Largest batch max timestamp (-1 when no batch has one).
    pub max_timestamp: i64,
    /// Last offset of the first batch holding `max_timestamp` (Kafka's
    /// `shallowOffsetOfMaxTimestamp`).
    pub offset_of_max_timestamp: i64,
    /// Bytes appended.
    pub bytes: usize,
    /// The batch was a retry of an idempotent batch already in the log: nothing was written
    /// and the offsets are those of the original append.
    pub duplicate: bool,
    /// `Some(offset)` when `flush.messages` asks for an fsync of everything below `offset`
    /// before the append is acknowledged. [`Log::append`] has done it by the time it returns;
    /// after [`Log::append_unflushed`] it is the caller's to do, with [`Log::flush_up_to`].
    pub flush_to: Option<i64>,
}

/// Bytes of whole batches within one segment file: `len` bytes at `position`.
#[derive(Clone, Debug)]
pub struct FileSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}

/// The result of [`Log::read`].
#[derive(Clone, Debug, Default)]
pub struct ReadResult {
    /// Slices in offset order; together they hold whole batches only.
    pub slices: Vec<FileSlice>,
    /// Base offset of the first batch returned, `None` when nothing was returned.
    pub first_offset: Option<i64>,
}

impl ReadResult {
    pub fn total_bytes(&self) -> u64 {
        self.slices.iter().map(|s| s.len).sum()
    }

    /// Reads the slices into one buffer (a fetch response's `records`).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; self.total_bytes() as usize];
        let mut at = 0usize;
        for s in &self.slices {
            s.file
                .read_exact_at(&mut out[at..at + s.len as usize], s.position)?;
            at += s.len as usize;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
