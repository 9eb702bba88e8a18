//! Idempotent-producer state of one partition (KIP-98), Kafka's `ProducerStateManager`.
//!
//! For every producer id seen, the epoch and the metadata of its last
//! [`limits::PRODUCER_BATCHES_CACHED`] batches (first and last sequence, first and last
//! offset). On the leader path an append is checked against it: a batch equal to a cached one
//! is a retried duplicate (answered with its original offsets); an older epoch is fenced; a
//! sequence that does not follow the last one is out of order. A producer with no state
//! (never seen, expired, or its records deleted) may start at any sequence, as Kafka 2.5+
//! allows (KIP-360).
//!
//! ## Snapshot files
//! `<20-digit offset>.snapshot` in the partition directory holds the state as of that offset
//! (the log end offset when it was written: at each segment roll and at close). Layout, all
//! big-endian, as Kafka's `ProducerStateManager` snapshot v1:
//!
//! | field | size |
//! |---|---|
//! | version (1) | 2 |
//! | CRC32C of everything after this field | 4 |
//! | entry count | 4 |
//! | per entry: producer id 8, epoch 2, last sequence 4, last offset 8, offset delta 4 (last sequence - first sequence of the last batch), timestamp 8, coordinator epoch 4, current transaction first offset 8 | 46 |
//!
//! Crash semantics: a snapshot is written to a temp file, fsynced and renamed, so it is whole
//! or absent. On open the newest readable snapshot at or below the log end offset is loaded
//! and the batches after it are replayed from the log; unreadable snapshots and those past the
//! log end offset are deleted. Only the last batch of each producer survives a snapshot, so a
//! retry of an older batch after a restart is checked by sequence only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use strom_protocol::batch::{BatchHeader, NO_SEQUENCE};
use tracing::warn;

use crate::limits::PRODUCER_BATCHES_CACHED;
use crate::LogError;

/// File suffix of producer state snapshots.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
const SNAPSHOT_VERSION: i16 = 1;
const ENTRY_BYTES: usize = 46;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

/// The state of one producer on this partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// Broker time (ms) of the producer's last append, for `producer.id.expiration.ms`.
    last_timestamp: i64,
}

/// What a producer looks like to DescribeProducers (KIP-664).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInfo {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
}

/// Result of checking a batch on the leader path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data: append it.
    Append,
    /// A retry of a batch already in the log at these offsets.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// All producers of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, Entry>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

impl ProducerStateManager {
    /// Checks an idempotent batch before it is appended as leader. Errors:
    /// [`LogError::InvalidProducerEpoch`] for an epoch older than the producer's,
    /// [`LogError::OutOfOrderSequence`] for a sequence that does not follow the last one
    /// (or a new epoch not starting at 0).
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        let Some(e) = self.producers.get(&h.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < e.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if h.base_sequence == NO_SEQUENCE {
            return Ok(SequenceCheck::Append);
        }
        if h.producer_epoch == e.epoch {
            let last_seq = h.last_sequence();
            if let Some(b) = e
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
            {
                return Ok(SequenceCheck::Duplicate {
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                });
            }
            if let Some(last) = e.batches.back() {
                if !in_sequence(last.last_seq, h.base_sequence) {
                    return Err(LogError::OutOfOrderSequence {
                        producer_id: h.producer_id,
                        expected: last.last_seq.wrapping_add(1),
                        got: h.base_sequence,
                    });
                }
            }
        } else if h.base_sequence != 0 {
            return Err(LogError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected: 0,
                got: h.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended batch (its base offset already assigned). Non-idempotent batches
    /// (`producer_id < 0`) are ignored. `now_ms`: the broker time of the append.
    pub fn update(&mut self, h: &BatchHeader, now_ms: i64) {
        if h.producer_id < 0 {
            return;
        }
        let e = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| Entry {
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
                last_timestamp: now_ms,
            });
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.last_timestamp = e.last_timestamp.max(now_ms);
        if h.base_sequence == NO_SEQUENCE || h.is_control() {
            return;
        }
        e.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while e.batches.len() > PRODUCER_BATCHES_CACHED {
            e.batches.pop_front();
        }
    }

    /// Forgets producers idle for longer than `expiration_ms`. Returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }

    /// Producers, by id.
    pub fn producers(&self) -> Vec<ProducerInfo> {
        let mut v: Vec<ProducerInfo> = self
            .producers
            .iter()
            .map(|(id, e)| ProducerInfo {
                producer_id: *id,
                producer_epoch: e.epoch,
                last_sequence: e.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
            })
            .collect();
        v.sort_by_key(|p| p.producer_id);
        v
    }

    /// The snapshot bytes of this state.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort();
        let mut body = Vec::with_capacity(4 + ids.len() * ENTRY_BYTES);
        body.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for id in ids {
            let e = &self.producers[id];
            let last = e.batches.back().copied().unwrap_or(BatchMeta {
                first_seq: NO_SEQUENCE,
                last_seq: NO_SEQUENCE,
                first_offset: -1,
                last_offset: -1,
            });
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&last.last_seq.to_be_bytes());
            body.extend_from_slice(&last.last_offset.to_be_bytes());
            let delta = if last.last_seq == NO_SEQUENCE {
                0
            } else {
                (last.last_offset - last.first_offset) as i32
            };
            body.extend_from_slice(&delta.to_be_bytes());
            body.extend_from_slice(&e.last_timestamp.to_be_bytes());
            body.extend_from_slice(&(-1i32).to_be_bytes());
            body.extend_from_slice(&(-1i64).to_be_bytes());
        }
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses snapshot bytes; `None` when they are not a whole, valid snapshot.
    pub fn decode_snapshot(b: &[u8]) -> Option<ProducerStateManager> {
        if b.len() < 10 || i16::from_be_bytes([b[0], b[1]]) != SNAPSHOT_VERSION {
            return None;
        }
        let crc = u32::from_be_bytes(b[2..6].try_into().ok()?);
        let body = &b[6..];
        if crc32c::crc32c(body) != crc {
            return None;
        }
        let n = i32::from_be_bytes(body[0..4].try_into().ok()?);
        if n < 0 || body.len() != 4 + n as usize * ENTRY_BYTES {
            return None;
        }
        let mut m = ProducerStateManager::default();
        for c in body[4..].chunks_exact(ENTRY_BYTES) {
            let id = i64::from_be_bytes(c[0..8].try_into().ok()?);
            let epoch = i16::from_be_bytes(c[8..10].try_into().ok()?);
            let last_seq = i32::from_be_bytes(c[10..14].try_into().ok()?);
            let last_offset = i64::from_be_bytes(c[14..22].try_into().ok()?);
            let delta = i32::from_be_bytes(c[22..26].try_into().ok()?);
            let ts = i64::from_be_bytes(c[26..34].try_into().ok()?);
            let mut batches = VecDeque::new();
            if last_seq != NO_SEQUENCE {
                let first_seq =
                    (last_seq as i64 - delta as i64).rem_euclid(i32::MAX as i64 + 1) as i32;
                batches.push_back(BatchMeta {
                    first_seq,
                    last_seq,
                    first_offset: last_offset - delta as i64,
                    last_offset,
                });
            }
            m.producers.insert(
                id,
                Entry {
                    epoch,
                    batches,
                    last_timestamp: ts,
                },
            );
        }
        Some(m)
    }
}

/// `<dir>/<20-digit offset>.snapshot`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// Offsets of the snapshot files in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<i64>> {
    let mut v = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) {
            if stem.len() == 20 {
                if let Ok(o) = stem.parse::<i64>() {
                    v.push(o);
                }
            }
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Writes the snapshot of `state` at `offset` (temp file, fsync, rename).
pub fn write_snapshot(dir: &Path, offset: i64, state: &ProducerStateManager) -> io::Result<()> {
    let path = snapshot_path(dir, offset);
    let tmp = path.with_extension("snapshot.tmp");
    fs::write(&tmp, state.encode_snapshot())?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &path)
}

/// Loads the newest valid snapshot at or below `log_end_offset`, deleting snapshots past it
/// and unreadable ones. Returns the state and the offset it is valid at (None: no snapshot).
pub fn load_latest(
    dir: &Path,
    log_end_offset: i64,
    tp: &dyn std::fmt::Display,
) -> io::Result<(ProducerStateManager, Option<i64>)> {
    let mut found = None;
    for off in list_snapshots(dir)?.into_iter().rev() {
        let path = snapshot_path(dir, off);
        if off > log_end_offset {
            warn!(topic_partition = %tp, "deleting producer snapshot {off} past the log end offset {log_end_offset}");
            let _ = fs::remove_file(&path);
            continue;
        }
        if found.is_some() {
            continue;
        }
        match fs::read(&path)
            .ok()
            .and_then(|b| ProducerStateManager::decode_snapshot(&b))
        {
            Some(m) => found = Some((m, off)),
            None => {
                warn!(topic_partition = %tp, "deleting unreadable producer snapshot {}", path.display());
                let _ = fs::remove_file(&path);
            }
        }
    }
    Ok(match found {
        Some((m, off)) => (m, Some(off)),
        None => (ProducerStateManager::default(), None),
    })
}

/// Deletes snapshots below `keep_from` except the newest `keep_newest`.
pub fn prune_snapshots(dir: &Path, keep_from: i64, keep_newest: usize) -> io::Result<()> {
    let all = list_snapshots(dir)?;
    let newest: BTreeMap<i64, ()> = all
        .iter()
        .rev()
        .take(keep_newest)
        .map(|o| (*o, ()))
        .collect();
    for off in all {
        if off < keep_from && !newest.contains_key(&off) {
            let _ = fs::remove_file(snapshot_path(dir, off));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_protocol::batch::build_batch;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        let b = build_batch(base_offset, 0, count - 1, 0, 0, pid, epoch, seq, count, &[]);
        BatchHeader::parse(&b).unwrap()
    }

    #[test]
    fn duplicates_are_recognized_and_gaps_refused() {
        let mut m = ProducerStateManager::default();
        let a = header(7, 0, 0, 5, 0);
        assert_eq!(m.check(&a).unwrap(), SequenceCheck::Append);
        m.update(&a, 1);
        let b = header(7, 0, 5, 5, 5);
        assert_eq!(m.check(&b).unwrap(), SequenceCheck::Append);
        m.update(&b, 2);
        assert_eq!(
            m.check(&header(7, 0, 0, 5, 99)).unwrap(),
            SequenceCheck::Duplicate {
                first_offset: 0,
                last_offset: 4
            }
        );
        assert_eq!(
            m.check(&header(7, 0, 5, 5, 99)).unwrap(),
            SequenceCheck::Duplicate {
                first_offset: 5,
                last_offset: 9
            }
        );
        assert!(matches!(
            m.check(&header(7, 0, 11, 1, 10)),
            Err(LogError::OutOfOrderSequence {
                expected: 10,
                got: 11,
                ..
            })
        ));
        assert!(matches!(
            m.check(&header(7, 1, 3, 1, 10)),
            Err(LogError::OutOfOrderSequence { expected: 0, .. })
        ));
        assert_eq!(
            m.check(&header(7, 1, 0, 1, 10)).unwrap(),
            SequenceCheck::Append
        );
        m.update(&header(7, 1, 0, 1, 10), 3);
        assert!(matches!(
            m.check(&header(7, 0, 10, 1, 11)),
            Err(LogError::InvalidProducerEpoch { current: 1, .. })
        ));
        // Unknown producers may start anywhere (KIP-360).
        assert_eq!(
            m.check(&header(8, 3, 42, 1, 11)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn only_the_last_five_batches_are_cached() {
        let mut m = ProducerStateManager::default();
        for i in 0..7 {
            m.update(&header(1, 0, i, 1, i as i64), 0);
        }
        assert_eq!(
            m.check(&header(1, 0, 2, 1, 50)).unwrap(),
            SequenceCheck::Duplicate {
                first_offset: 2,
                last_offset: 2
            }
        );
        assert!(m.check(&header(1, 0, 1, 1, 50)).is_err());
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut m = ProducerStateManager::default();
        m.update(&header(1, 0, i32::MAX - 1, 2, 0), 0);
        assert_eq!(
            m.check(&header(1, 0, 0, 1, 2)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn snapshot_round_trips_the_last_batch() {
        let mut m = ProducerStateManager::default();
        m.update(&header(1, 2, 0, 3, 10), 100);
        m.update(&header(1, 2, 3, 4, 13), 200);
        m.update(&header(9, 0, 0, 1, 17), 300);
        let bytes = m.encode_snapshot();
        let back = ProducerStateManager::decode_snapshot(&bytes).unwrap();
        assert_eq!(back.producers(), m.producers());
        assert_eq!(
            back.check(&header(1, 2, 3, 4, 50)).unwrap(),
            SequenceCheck::Duplicate {
                first_offset: 13,
                last_offset: 16
            }
        );
        assert_eq!(
            back.check(&header(1, 2, 7, 1, 50)).unwrap(),
            SequenceCheck::Append
        );
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(ProducerStateManager::decode_snapshot(&bad).is_none());
        assert!(ProducerStateManager::decode_snapshot(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn expiry_forgets_idle_producers() {
        let mut m = ProducerStateManager::default();
        m.update(&header(1, 0, 0, 1, 0), 1_000);
        m.update(&header(2, 0, 0, 1, 1), 5_000);
        assert_eq!(m.expire(6_000, 3_000), 1);
        assert_eq!(m.producers().len(), 1);
    }
}
