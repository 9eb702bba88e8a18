//! Tests of the log through its public API (plus `debug_segments`), one file per area.

mod basic;
mod crash;
mod manager;
mod model;

use std::path::Path;

use strom_protocol::batch::{build_batch, set_log_append_time, Compression};
use strom_protocol::records::{compress, encode_record, RecordRef};

use crate::{Log, LogConfig, OpenOptions, TopicPartition};

/// A CreateTime batch at `base` with one record per timestamp, each value `value_len` bytes.
pub(crate) fn batch(base: i64, timestamps: &[i64], value_len: usize) -> Vec<u8> {
    batch_with(base, timestamps, value_len, Compression::None)
}

pub(crate) fn batch_with(
    base: i64,
    timestamps: &[i64],
    value_len: usize,
    codec: Compression,
) -> Vec<u8> {
    assert!(!timestamps.is_empty());
    let base_ts = timestamps[0];
    let value = vec![b'v'; value_len];
    let mut recs = Vec::new();
    for (i, ts) in timestamps.iter().enumerate() {
        encode_record(
            &mut recs,
            &RecordRef {
                timestamp_delta: ts - base_ts,
                offset_delta: i as i32,
                key: None,
                value: Some(&value),
                headers: &[],
            },
        );
    }
    let payload = compress(codec, &recs);
    let n = timestamps.len() as i32;
    let max = *timestamps.iter().max().expect("non-empty");
    build_batch(
        base,
        codec as i16,
        n - 1,
        base_ts,
        max,
        -1,
        -1,
        -1,
        n,
        &payload,
    )
}

/// A LogAppendTime batch of `n` records stamped `ts`.
pub(crate) fn append_time_batch(base: i64, n: usize, ts: i64) -> Vec<u8> {
    let mut b = batch(base, &vec![0; n], 10);
    set_log_append_time(&mut b, ts);
    b
}

pub(crate) fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

pub(crate) fn open(dir: &Path, config: LogConfig, clean: bool, rp: i64) -> Log {
    Log::open(
        dir.to_path_buf(),
        tp(),
        config,
        OpenOptions {
            recovery_point: rp,
            log_start_offset: 0,
            clean_shutdown: clean,
            now_ms: 0,
        },
    )
    .unwrap()
}

/// Small segments and a dense index so tests exercise rolls and index lookups.
pub(crate) fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        segment_index_bytes: 1024,
        index_interval_bytes: 128,
        retention_ms: -1,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

/// Every batch in the log as `(base offset, last offset, bytes)`, read through `Log::read`.
pub(crate) fn all_batches(log: &Log) -> Vec<(i64, i64, Vec<u8>)> {
    let data = log
        .read(log.log_start_offset(), u64::MAX, i64::MAX, true)
        .unwrap()
        .to_vec()
        .unwrap();
    strom_protocol::batch::BatchFrames::new(&data)
        .map(|f| {
            let (r, h) = f.unwrap();
            (h.base_offset, h.last_offset(), data[r].to_vec())
        })
        .collect()
}

/// Checks the indexes of every segment against a scan of its `.log` file: each offset index
/// entry names a batch start whose last offset matches, positions follow the interval rule,
/// and each time index entry is the running max timestamp where it was first reached.
pub(crate) fn check_indexes(log: &Log) {
    let dir = log.dir();
    for seg in log.debug_segments() {
        let bytes =
            std::fs::read(dir.join(crate::segment::file_name(seg.base_offset, ".log"))).unwrap();
        assert_eq!(
            bytes.len() as u64,
            seg.size,
            "segment {} size",
            seg.base_offset
        );
        let mut starts = std::collections::HashMap::new();
        let mut running: Vec<(i64, i64)> = Vec::new(); // (last offset, running max ts)
        let mut max = -1i64;
        let mut next = seg.base_offset;
        for f in strom_protocol::batch::BatchFrames::new(&bytes) {
            let (r, h) = f.unwrap();
            strom_protocol::batch::validate(&bytes[r.clone()]).unwrap();
            starts.insert(r.start as u32, h.last_offset());
            max = max.max(h.max_timestamp);
            running.push((h.last_offset(), max));
            next = h.next_offset();
        }
        assert_eq!(
            next, seg.next_offset,
            "segment {} next offset",
            seg.base_offset
        );
        assert_eq!(max, seg.max_timestamp, "segment {} max ts", seg.base_offset);
        for (off, pos) in &seg.offset_index {
            assert_eq!(starts.get(pos), Some(off), "offset index entry {off}@{pos}");
        }
        for (ts, off) in &seg.time_index {
            let (_, m) = running
                .iter()
                .find(|(o, _)| o == off)
                .expect("entry names a batch");
            assert_eq!(m, ts, "time index entry ({ts}, {off})");
            let first = running.iter().find(|(_, m)| m == ts).unwrap();
            assert_eq!(
                first.0, *off,
                "time index entry offset is where max was reached"
            );
        }
    }
}
