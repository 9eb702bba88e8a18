//! Every limit of the log crate, in one place, named with its unit last.

/// Largest segment a log will write: index entries hold 4-byte file positions, so a segment
/// cannot grow past `i32::MAX` bytes (Kafka caps `segment.bytes` at `Integer.MAX_VALUE` too).
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

/// Smallest `segment.bytes` honoured (Kafka's `segment.bytes` lower bound is 14 bytes; we
/// need room for at least one batch header).
pub const SEGMENT_BYTES_MIN: u64 = 61;

/// Largest index file read into memory on load. A larger file is treated as corrupt and
/// rebuilt (`segment.index.bytes` is an `int` in Kafka, 10 MiB by default).
pub const INDEX_FILE_BYTES_MAX: u64 = 1 << 30;

/// Fewest entries an index may hold; a smaller `segment.index.bytes` is rounded up to this so
/// that a segment can always take its first entries and the time index's final entry.
pub const INDEX_ENTRIES_MIN: usize = 4;

/// Bound on the decompressed payload of one batch when searching records by timestamp.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 128 << 20;

/// Size of the reads used to scan a segment during recovery and index rebuilds.
pub const RECOVERY_READ_CHUNK_BYTES: usize = 4 << 20;

/// Largest checkpoint file accepted on load; a larger one is garbage.
pub const CHECKPOINT_FILE_BYTES_MAX: u64 = 256 << 20;

/// Batches remembered per idempotent producer for duplicate detection (Kafka's 5, which is
/// also the most in-flight requests an idempotent producer may have).
pub const PRODUCER_BATCHES_CACHED: usize = 5;

/// Producer state snapshots kept below the log start offset (the newest ones).
pub const PRODUCER_SNAPSHOTS_KEPT: usize = 2;

/// Index entries buffered before they are written to the index file in one `pwrite`.
pub const INDEX_WRITE_BATCH_ENTRIES: usize = 256;
