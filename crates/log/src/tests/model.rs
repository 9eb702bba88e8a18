//! Random operation sequences against a simple in-memory model of the log (in the spirit of
//! Redpanda's `storage/opfuzz`): append, roll, read, read by timestamp, truncate, delete
//! records, retention, flush, clean reopen, and crash-then-recover.
//!
//! A crash drops what was not flushed: every segment but the last was fsynced when it rolled,
//! so the test truncates the last `.log` file to a random length between the bytes below the
//! recovery point and its current length (tearing the last write anywhere), and may add a
//! zeroed or garbage tail. After recovery the log must hold exactly the batches that survived
//! whole, which always include everything flushed; recovering twice gives the same log, and
//! the indexes agree with a scan of the `.log` files.

use std::path::Path;

use proptest::prelude::*;
use strom_protocol::batch::Compression;

use super::*;

#[derive(Clone, Debug)]
enum Op {
    /// Batches of (timestamps, value length); `gap` makes it a follower append whose first
    /// offset lies `gap` past the log end offset.
    Append {
        batches: Vec<(Vec<i64>, usize)>,
        gap: Option<u8>,
        /// 0: uncompressed CreateTime, 1: gzip, 2: lz4, 3: LogAppendTime stamped with the
        /// batch's first timestamp.
        kind: u8,
    },
    Roll,
    Read {
        at: u16,
        max_bytes: u16,
        hw: Option<u16>,
        min_one: bool,
    },
    ByTimestamp(i64),
    MaxTimestamp,
    Truncate(u16),
    DeleteBefore(u16),
    Retention {
        bytes: Option<u16>,
        ms: Option<u16>,
    },
    Flush,
    Crash {
        tear: u32,
        tail: u8,
        tail_len: u16,
        no_checkpoint: bool,
    },
    CleanReopen,
}

fn op() -> impl Strategy<Value = Op> {
    let batch = (prop::collection::vec(0i64..1000, 1..4), 0usize..200);
    prop_oneof![
        8 => (prop::collection::vec(batch.clone(), 1..4), prop::option::weighted(0.1, 0u8..5))
            .prop_map(|(batches, gap)| Op::Append { batches, gap, kind: 0 }),
        2 => (prop::collection::vec(batch, 1..3), 1u8..4)
            .prop_map(|(batches, kind)| Op::Append { batches, gap: None, kind }),
        1 => Just(Op::Roll),
        3 => (any::<u16>(), any::<u16>(), prop::option::of(any::<u16>()), any::<bool>())
            .prop_map(|(at, max_bytes, hw, min_one)| Op::Read { at, max_bytes, hw, min_one }),
        2 => (-5i64..1100).prop_map(Op::ByTimestamp),
        1 => Just(Op::MaxTimestamp),
        1 => any::<u16>().prop_map(Op::Truncate),
        1 => any::<u16>().prop_map(Op::DeleteBefore),
        1 => (prop::option::of(0u16..8000), prop::option::of(0u16..1500))
            .prop_map(|(bytes, ms)| Op::Retention { bytes, ms }),
        2 => Just(Op::Flush),
        2 => (any::<u32>(), 0u8..3, 0u16..300, prop::bool::weighted(0.3))
            .prop_map(|(tear, tail, tail_len, no_checkpoint)| Op::Crash { tear, tail, tail_len, no_checkpoint }),
        1 => Just(Op::CleanReopen),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct MBatch {
    base: i64,
    last: i64,
    bytes: Vec<u8>,
    /// (offset, timestamp) of each record.
    records: Vec<(i64, i64)>,
}

/// The model: every batch physically in the log (including those below the log start
/// offset that still sit in the first segment), and the two offsets.
#[derive(Clone, Debug)]
struct Model {
    batches: Vec<MBatch>,
    lso: i64,
    leo: i64,
}

impl Model {
    fn visible_records(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.batches
            .iter()
            .flat_map(|b| b.records.iter().copied())
            .filter(|(o, _)| *o >= self.lso && *o < self.leo)
    }

    fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> (Option<i64>, Vec<u8>) {
        let mut out = Vec::new();
        let mut first = None;
        for b in self.batches.iter().filter(|b| b.last >= offset) {
            let len = b.bytes.len() as u64;
            if b.last >= max_offset
                || (out.len() as u64 + len > max_bytes && !(first.is_none() && min_one))
            {
                break;
            }
            first.get_or_insert(b.base);
            out.extend_from_slice(&b.bytes);
            if out.len() as u64 >= max_bytes {
                break;
            }
        }
        (first, out)
    }
}

/// Batches as stored in the segment files, including those below the log start offset.
fn physical(log: &Log) -> Vec<(i64, i64, Vec<u8>)> {
    let dir = log.dir();
    let mut out = Vec::new();
    for s in log.debug_segments() {
        let bytes =
            std::fs::read(dir.join(crate::segment::file_name(s.base_offset, ".log"))).unwrap();
        assert_eq!(bytes.len() as u64, s.size);
        for f in strom_protocol::batch::BatchFrames::new(&bytes) {
            let (r, h) = f.unwrap();
            out.push((h.base_offset, h.last_offset(), bytes[r].to_vec()));
        }
    }
    out
}

fn check(log: &Log, m: &Model) {
    assert_eq!(log.log_end_offset(), m.leo, "log end offset");
    assert_eq!(log.log_start_offset(), m.lso, "log start offset");
    assert!(log.recovery_point() <= m.leo);
    let phys = physical(log);
    let want: Vec<_> = m
        .batches
        .iter()
        .map(|b| (b.base, b.last, b.bytes.clone()))
        .collect();
    assert_eq!(phys, want, "stored batches");
}

fn open_log(dir: &Path, config: &LogConfig, rp: i64, lso: i64, clean: bool) -> Log {
    Log::open(
        dir.to_path_buf(),
        tp(),
        config.clone(),
        OpenOptions {
            recovery_point: rp,
            log_start_offset: lso,
            clean_shutdown: clean,
            now_ms: 0,
        },
    )
    .unwrap()
}

/// Maps `at` onto `[lo, hi]`, sometimes one past either end.
fn pick(at: u16, lo: i64, hi: i64) -> i64 {
    let span = hi - lo + 3;
    lo - 1 + (at as i64 % span)
}

fn run(ops: Vec<Op>, index_bytes: u64) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let config = LogConfig {
        segment_index_bytes: index_bytes,
        ..small_config()
    };
    let mut log = open_log(dir, &config, 0, 0, true);
    let mut m = Model {
        batches: Vec::new(),
        lso: 0,
        leo: 0,
    };
    for op in ops {
        match op {
            Op::Append { batches, gap, kind } => {
                let mut data = Vec::new();
                let mut next = m.leo + gap.unwrap_or(0) as i64;
                let mut mb = Vec::new();
                for (ts, vlen) in &batches {
                    let (b, stamps): (Vec<u8>, Vec<i64>) = match kind {
                        0 => (batch(next, ts, *vlen), ts.clone()),
                        1 => (batch_with(next, ts, *vlen, Compression::Gzip), ts.clone()),
                        2 => (batch_with(next, ts, *vlen, Compression::Lz4), ts.clone()),
                        _ => (
                            append_time_batch(next, ts.len(), ts[0]),
                            vec![ts[0]; ts.len()],
                        ),
                    };
                    let n = ts.len() as i64;
                    mb.push(MBatch {
                        base: next,
                        last: next + n - 1,
                        bytes: b.clone(),
                        records: stamps
                            .iter()
                            .enumerate()
                            .map(|(i, t)| (next + i as i64, *t))
                            .collect(),
                    });
                    next += n;
                    data.extend_from_slice(&b);
                }
                let info = log.append(&mut data, gap.is_none(), 0).unwrap();
                assert_eq!(info.first_offset, mb[0].base);
                assert_eq!(info.last_offset, next - 1);
                m.leo = next;
                m.batches.extend(mb);
                m.lso = m.lso.max(log.segment_base_offsets()[0]);
            }
            Op::Roll => {
                let before = log.segment_count();
                let empty = log.debug_segments().last().unwrap().size == 0;
                log.roll(0).unwrap();
                assert_eq!(log.segment_count(), before + usize::from(!empty));
            }
            Op::Read {
                at,
                max_bytes,
                hw,
                min_one,
            } => {
                let offset = pick(at, m.lso, m.leo);
                let max_offset = hw.map_or(i64::MAX, |h| h as i64 % (m.leo + 2));
                let got = log.read(offset, max_bytes as u64, max_offset, min_one);
                if offset < m.lso || offset > m.leo {
                    assert!(matches!(got, Err(crate::LogError::OffsetOutOfRange { .. })));
                } else {
                    let got = got.unwrap();
                    let (first, bytes) = m.read(offset, max_bytes as u64, max_offset, min_one);
                    assert_eq!(
                        got.first_offset, first,
                        "read({offset}, {max_bytes}, {max_offset}, {min_one})"
                    );
                    assert_eq!(got.to_vec().unwrap(), bytes);
                }
            }
            Op::ByTimestamp(ts) => {
                let want = m.visible_records().find(|(_, t)| *t >= ts);
                assert_eq!(
                    log.offset_for_timestamp(ts).unwrap(),
                    want,
                    "by timestamp {ts}"
                );
            }
            Op::MaxTimestamp => {
                let mut best: Option<(i64, i64)> = None;
                for (o, t) in m.visible_records() {
                    if best.is_none_or(|(_, bt)| t > bt) {
                        best = Some((o, t));
                    }
                }
                assert_eq!(log.max_timestamp_offset().unwrap(), best);
            }
            Op::Truncate(at) => {
                let x = pick(at, 0, m.leo).max(0);
                let bases = log.segment_base_offsets();
                log.truncate_to(x).unwrap();
                if x < m.leo {
                    if x <= bases[0] {
                        m.batches.clear();
                        m.lso = x;
                        m.leo = x;
                    } else {
                        let floor = *bases.iter().rfind(|b| **b <= x).unwrap();
                        m.batches.retain(|b| b.last < x);
                        m.leo = m.batches.last().map_or(floor, |b| (b.last + 1).max(floor));
                        m.lso = m.lso.min(m.leo);
                    }
                }
            }
            Op::DeleteBefore(at) => {
                let x = pick(at, m.lso, m.leo);
                let got = log.delete_records_before(x);
                if x > m.leo || x < 0 {
                    assert!(matches!(got, Err(crate::LogError::OffsetOutOfRange { .. })));
                } else {
                    m.lso = m.lso.max(x);
                    assert_eq!(got.unwrap(), m.lso);
                    let first = log.segment_base_offsets()[0];
                    m.batches.retain(|b| b.base >= first);
                }
            }
            Op::Retention { bytes, ms } => {
                let active = *log.segment_base_offsets().last().unwrap();
                log.update_config(LogConfig {
                    retention_bytes: bytes.map_or(-1, |b| b as i64),
                    retention_ms: ms.map_or(-1, |b| b as i64),
                    ..config.clone()
                });
                log.maintenance(2000).unwrap();
                log.update_config(config.clone());
                let bases = log.segment_base_offsets();
                if m.lso < m.leo {
                    assert_eq!(*bases.last().unwrap(), active, "active segment kept");
                }
                if let Some(b) = bytes {
                    // What is left minus the oldest segment would be below the limit.
                    let segs = log.debug_segments();
                    if segs.len() > 1 {
                        let total: u64 = segs.iter().map(|s| s.size).sum();
                        assert!((total - segs[0].size) < b as u64 || total <= b as u64);
                    }
                }
                m.batches.retain(|b| b.base >= bases[0]);
                m.lso = m.lso.max(bases[0].min(m.leo));
            }
            Op::Flush => {
                log.flush().unwrap();
                assert_eq!(log.recovery_point(), m.leo);
            }
            Op::Crash {
                tear,
                tail,
                tail_len,
                no_checkpoint,
            } => {
                let rp = log.recovery_point();
                let bases = log.segment_base_offsets();
                drop(log);
                // Every segment holding offsets at or past the recovery point may have lost
                // anything not below it (rolled segments are fsynced in the background). Tear
                // such segments at random; recovery keeps the intact batches up to the first
                // segment that lost anything and drops the segments after it.
                let mut rng = tear as u64 | 1;
                let mut next_rand = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut kept: Vec<MBatch> = Vec::new();
                let mut last_base = bases[0];
                for (k, &base) in bases.iter().enumerate() {
                    let end = bases.get(k + 1).copied().unwrap_or(i64::MAX);
                    let in_seg: Vec<&MBatch> = m
                        .batches
                        .iter()
                        .filter(|b| b.base >= base && b.base < end)
                        .collect();
                    let durable: u64 = in_seg
                        .iter()
                        .filter(|b| b.last < rp)
                        .map(|b| b.bytes.len() as u64)
                        .sum();
                    let path = dir.join(crate::segment::file_name(base, ".log"));
                    let cur = std::fs::metadata(&path).unwrap().len();
                    assert!(durable <= cur);
                    let is_last = k + 1 == bases.len();
                    if cur > durable && (is_last || next_rand() % 2 == 0) {
                        let new_len = durable + next_rand() % (cur - durable + 1);
                        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                        f.set_len(new_len).unwrap();
                        let tail_bytes: Vec<u8> = match tail {
                            0 => Vec::new(),
                            1 => vec![0; tail_len as usize],
                            _ => (0..tail_len as u32)
                                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                                .collect(),
                        };
                        std::os::unix::fs::FileExt::write_all_at(&f, &tail_bytes, new_len).unwrap();
                    }
                    // Whole batches still intact in the file survive (a zero tail may happen
                    // to restore a torn batch's last byte).
                    let on_disk = std::fs::read(&path).unwrap();
                    let mut pos = 0usize;
                    let mut complete = true;
                    for b in &in_seg {
                        let end = pos + b.bytes.len();
                        if on_disk.get(pos..end) != Some(&b.bytes[..]) {
                            complete = false;
                            break;
                        }
                        pos = end;
                        kept.push((*b).clone());
                    }
                    last_base = base;
                    if !complete || on_disk.len() != pos {
                        break;
                    }
                }
                let (rp_in, lso_in) = if no_checkpoint { (0, 0) } else { (rp, m.lso) };
                m.leo = kept
                    .last()
                    .map_or(last_base, |b| (b.last + 1).max(last_base));
                assert!(m.leo >= rp, "flushed data kept: {} < {rp}", m.leo);
                m.batches = kept;
                m.lso = lso_in.max(bases[0]);
                if m.lso > m.leo {
                    m.batches.clear();
                    m.leo = m.lso;
                }
                log = open_log(dir, &config, rp_in, lso_in, false);
                check(&log, &m);
                check_indexes(&log);
                assert_eq!(log.recovery_point(), rp_in.min(m.leo));
                // Recovering again changes nothing.
                drop(log);
                log = open_log(dir, &config, rp_in, lso_in, false);
                check_indexes(&log);
            }
            Op::CleanReopen => {
                log.close().unwrap();
                let rp = log.recovery_point();
                assert_eq!(rp, m.leo);
                drop(log);
                log = open_log(dir, &config, rp, m.lso, true);
                check_indexes(&log);
            }
        }
        check(&log, &m);
    }
    log.close().unwrap();
    drop(log);
    let log = open_log(dir, &config, m.leo, m.lso, true);
    check(&log, &m);
    check_indexes(&log);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..120), small_index in any::<bool>()) {
        run(ops, if small_index { 64 } else { 1024 });
    }
}

#[test]
fn zero_tail_can_restore_a_torn_last_byte() {
    let a = |b: Vec<(Vec<i64>, usize)>| Op::Append {
        batches: b,
        gap: None,
        kind: 0,
    };
    run(
        vec![
            a(vec![(vec![0], 124), (vec![0], 141)]),
            a(vec![(vec![0], 13), (vec![0], 137)]),
            a(vec![(vec![479, 0, 0], 80)]),
            Op::Crash {
                tear: 753099444,
                tail: 1,
                tail_len: 1,
                no_checkpoint: false,
            },
            a(vec![(vec![0], 0)]),
        ],
        1024,
    );
}

#[test]
fn crash_after_a_gap_rolled_an_empty_active_segment() {
    let a = |b: Vec<(Vec<i64>, usize)>| Op::Append {
        batches: b,
        gap: None,
        kind: 0,
    };
    let g = |b: Vec<(Vec<i64>, usize)>| Op::Append {
        batches: b,
        gap: Some(1),
        kind: 0,
    };
    let crash = Op::Crash {
        tear: 0,
        tail: 0,
        tail_len: 0,
        no_checkpoint: false,
    };
    run(
        vec![
            a(vec![(vec![0, 0], 0)]),
            a(vec![(vec![0, 0], 0), (vec![0, 0], 0), (vec![0, 0], 0)]),
            a(vec![(vec![0, 0], 0), (vec![0, 0], 0), (vec![0, 0], 0)]),
            Op::Flush,
            a(vec![(vec![0], 39)]),
            Op::Crash {
                tear: 1620,
                tail: 0,
                tail_len: 0,
                no_checkpoint: false,
            },
            a(vec![(vec![0, 0], 0), (vec![0, 0, 0], 0)]),
            g(vec![(vec![0], 0), (vec![0], 0)]),
            a(vec![(vec![0], 0), (vec![0, 0], 0)]),
            Op::Read {
                at: 0,
                max_bytes: 0,
                hw: None,
                min_one: false,
            },
            a(vec![(vec![0], 7)]),
            Op::DeleteBefore(753),
            a(vec![(vec![0], 0)]),
            Op::DeleteBefore(0),
            a(vec![(vec![0], 0), (vec![0], 0)]),
            g(vec![(vec![0], 0)]),
            crash.clone(),
            Op::DeleteBefore(0),
            Op::CleanReopen,
            crash,
        ],
        64,
    );
}
