use std::sync::Arc;

use strom_protocol::batch::{BatchHeader, Compression};

use super::*;
use crate::{LogError, ReadResult};

fn headers(r: &ReadResult) -> Vec<BatchHeader> {
    let data = r.to_vec().unwrap();
    strom_protocol::batch::BatchFrames::new(&data)
        .map(|f| f.unwrap().1)
        .collect()
}

#[test]
fn log_file_holds_exactly_the_appended_bytes_and_indexes_follow_kafka_format() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = open(d.path(), cfg, true, 0);
    let mut expected = Vec::new();
    for i in 0..6i64 {
        let mut b = batch(999, &[1000 + i * 10, 1005 + i * 10], 40);
        log.append(&mut b, true, 0).unwrap();
        expected.extend_from_slice(&b);
    }
    assert_eq!(log.log_end_offset(), 12);
    log.close().unwrap();
    let name = |s: &str| d.path().join(format!("00000000000000000000{s}"));
    let data = std::fs::read(name(".log")).unwrap();
    assert_eq!(data, expected);
    // Base offsets were assigned in place: 0, 2, 4, ...
    let hs: Vec<_> = strom_protocol::batch::BatchFrames::new(&data)
        .map(|f| f.unwrap().1)
        .collect();
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 2, 4, 6, 8, 10]
    );
    let blen = hs[0].total_bytes() as u32; // every batch has the same size (> 100)
                                           // Entry after every batch once more than 100 bytes were written since the last entry:
                                           // batch 1 at position blen (last offset 3), batch 2 ... — each batch is > 100 bytes.
    let idx = std::fs::read(name(".index")).unwrap();
    let mut want = Vec::new();
    for k in 1..6u32 {
        want.extend_from_slice(&(2 * k + 1).to_be_bytes());
        want.extend_from_slice(&(k * blen).to_be_bytes());
    }
    assert_eq!(
        idx, want,
        "trimmed .index: (relative offset, position) big-endian"
    );
    let tidx = std::fs::read(name(".timeindex")).unwrap();
    let mut want = Vec::new();
    for k in 1..6i64 {
        want.extend_from_slice(&(1005 + k * 10).to_be_bytes());
        want.extend_from_slice(&((2 * k + 1) as u32).to_be_bytes());
    }
    assert_eq!(
        tidx, want,
        "trimmed .timeindex: (timestamp, relative offset)"
    );
}

#[test]
fn active_index_files_are_preallocated() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default(), true, 0);
    log.append(&mut batch(0, &[1], 10), true, 0).unwrap();
    let len = |s: &str| {
        std::fs::metadata(d.path().join(format!("00000000000000000000{s}")))
            .unwrap()
            .len()
    };
    assert_eq!(len(".index"), 10 * 1024 * 1024);
    assert_eq!(len(".timeindex"), 10 * 1024 * 1024 / 12 * 12);
    log.close().unwrap();
    assert_eq!(len(".index"), 0);
    assert_eq!(len(".timeindex"), 12, "final entry written at close");
}

#[test]
fn read_bounds_min_one_max_offset_and_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    for _ in 0..20 {
        log.append(&mut batch(0, &[5, 6, 7], 100), true, 0).unwrap();
    }
    assert_eq!(log.log_end_offset(), 60);
    assert!(log.segment_count() > 1);
    let one = all_batches(&log)[0].2.len() as u64;
    // max_bytes smaller than a batch: min_one gives exactly the first batch, else nothing.
    let r = log.read(4, 10, i64::MAX, true).unwrap();
    assert_eq!(r.first_offset, Some(3));
    assert_eq!(r.total_bytes(), one);
    let r = log.read(4, 10, i64::MAX, false).unwrap();
    assert_eq!(r.total_bytes(), 0);
    assert_eq!(r.first_offset, None);
    // Whole batches only, up to max_bytes, across segments.
    let r = log.read(0, one * 7 + 5, i64::MAX, false).unwrap();
    let hs = headers(&r);
    assert_eq!(hs.len(), 7);
    assert_eq!(hs[6].base_offset, 18);
    // max_offset (exclusive, e.g. the high watermark) stops before a batch that reaches it.
    let r = log.read(0, u64::MAX, 10, true).unwrap();
    assert_eq!(headers(&r).last().unwrap().last_offset(), 8);
    let r = log.read(9, u64::MAX, 10, true).unwrap();
    assert_eq!(r.total_bytes(), 0);
    // Reading everything returns every batch across all segments.
    let r = log.read(0, u64::MAX, i64::MAX, true).unwrap();
    assert_eq!(headers(&r).len(), 20);
    assert!(r.slices.len() > 1);
    // End and out of range.
    assert_eq!(log.read(60, 1000, i64::MAX, true).unwrap().total_bytes(), 0);
    assert!(matches!(
        log.read(61, 1000, i64::MAX, true),
        Err(LogError::OffsetOutOfRange {
            offset: 61,
            log_start_offset: 0,
            log_end_offset: 60
        })
    ));
    log.delete_records_before(30).unwrap();
    assert!(matches!(
        log.read(29, 1000, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        log.read(30, 1, i64::MAX, true).unwrap().first_offset,
        Some(30)
    );
}

#[test]
fn rolls_at_segment_bytes_and_rejects_oversized_appends() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    let b = batch(0, &[1], 1000);
    let blen = b.len() as u64;
    for _ in 0..8 {
        log.append(&mut b.clone(), true, 0).unwrap();
    }
    let per_seg = 4096 / blen;
    let segs = log.debug_segments();
    assert_eq!(segs.len() as u64, 8u64.div_ceil(per_seg));
    for s in &segs {
        assert!(s.size <= 4096);
    }
    assert_eq!(segs[1].base_offset, per_seg as i64);
    let mut huge = batch(0, &[1], 5000);
    assert!(matches!(
        log.append(&mut huge, true, 0),
        Err(LogError::RecordTooLarge {
            segment_bytes: 4096,
            ..
        })
    ));
    // The log is unaffected.
    assert_eq!(log.log_end_offset(), 8);
    check_indexes(&log);
}

#[test]
fn follower_appends_keep_offsets_roll_on_relative_offset_overflow_and_reject_going_back() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default(), true, 0);
    log.append(&mut batch(0, &[1, 2], 10), false, 0).unwrap();
    let far = 5_000_000_000i64;
    let info = log.append(&mut batch(far, &[3], 10), false, 0).unwrap();
    assert_eq!(info.first_offset, far);
    assert_eq!(log.log_end_offset(), far + 1);
    assert_eq!(log.segment_base_offsets(), vec![0, far]);
    assert!(matches!(
        log.append(&mut batch(far, &[3], 10), false, 0),
        Err(LogError::InvalidBatch(_))
    ));
    assert!(matches!(
        log.append(&mut b"garbage".to_vec(), true, 0),
        Err(LogError::InvalidBatch(_))
    ));
    // Reading in the gap returns the next batch.
    assert_eq!(
        log.read(2, 1000, i64::MAX, true).unwrap().first_offset,
        Some(far)
    );
}

#[test]
fn time_based_roll_uses_first_batch_timestamp() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let log = open(d.path(), cfg, true, 0);
    log.append(&mut batch(0, &[10_000], 10), true, 0).unwrap();
    log.append(&mut batch(0, &[10_900], 10), true, 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(0, &[11_001], 10), true, 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // maintenance rolls by the clock too.
    log.maintenance(11_500).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maintenance(12_002).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
}

#[test]
fn offset_for_timestamp_walks_records_compressed_and_log_append_time() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    log.append(&mut batch(0, &[100, 300, 200], 50), true, 0)
        .unwrap(); // 0..=2
    log.append(
        &mut batch_with(0, &[150, 400, 500], 50, Compression::Gzip),
        true,
        0,
    )
    .unwrap(); // 3..=5
    log.append(&mut append_time_batch(0, 2, 600), true, 0)
        .unwrap(); // 6..=7
    log.append(
        &mut batch_with(0, &[650, 640], 50, Compression::Zstd),
        true,
        0,
    )
    .unwrap(); // 8..=9
    log.roll(0).unwrap();
    log.append(&mut batch(0, &[700], 50), true, 0).unwrap(); // 10
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((1, 300)));
    assert_eq!(log.offset_for_timestamp(300).unwrap(), Some((1, 300)));
    assert_eq!(log.offset_for_timestamp(301).unwrap(), Some((4, 400)));
    assert_eq!(log.offset_for_timestamp(450).unwrap(), Some((5, 500)));
    assert_eq!(log.offset_for_timestamp(501).unwrap(), Some((6, 600)));
    assert_eq!(log.offset_for_timestamp(645).unwrap(), Some((8, 650)));
    assert_eq!(log.offset_for_timestamp(651).unwrap(), Some((10, 700)));
    assert_eq!(log.offset_for_timestamp(701).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((10, 700)));
    log.truncate_to(10).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((8, 650)));
    log.delete_records_before(7).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((7, 600)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((8, 650)));
    log.delete_records_before(9).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((9, 640)));
    log.delete_records_before(10).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
}

#[test]
fn max_timestamp_offset_is_first_record_with_the_max() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default(), true, 0);
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    log.append(&mut batch(0, &[5, 9, 3], 10), true, 0).unwrap();
    log.append(&mut batch(0, &[9, 9], 10), true, 0).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((1, 9)));
}

#[test]
fn truncate_to_whole_batches_and_fully() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    for i in 0..30 {
        log.append(&mut batch(0, &[i, i + 1], 100), true, 0)
            .unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 60);
    let segs = log.segment_count();
    log.truncate_to(33).unwrap(); // inside the batch 32..=33
    assert_eq!(log.log_end_offset(), 32);
    assert_eq!(log.recovery_point(), 32);
    assert!(log.segment_count() < segs);
    check_indexes(&log);
    assert_eq!(all_batches(&log).last().unwrap().1, 31);
    // Appends continue at the new end.
    let info = log.append(&mut batch(0, &[7], 10), true, 0).unwrap();
    assert_eq!(info.first_offset, 32);
    check_indexes(&log);
    log.truncate_to(0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_count(), 1);
    assert!(all_batches(&log).is_empty());
    log.append(&mut batch(0, &[7], 10), true, 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn delete_records_before_advances_start_and_drops_whole_segments() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    for _ in 0..40 {
        log.append(&mut batch(0, &[1], 200), true, 0).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    assert_eq!(
        log.delete_records_before(bases[1] + 1).unwrap(),
        bases[1] + 1
    );
    assert_eq!(log.segment_base_offsets()[0], bases[1]);
    assert_eq!(log.log_start_offset(), bases[1] + 1);
    assert!(matches!(
        log.delete_records_before(41),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(2).unwrap(), bases[1] + 1);
    // Everything: the active segment is rolled away, the log is empty at 30.
    assert_eq!(log.delete_records_before(40).unwrap(), 40);
    assert_eq!(log.segment_base_offsets(), vec![40]);
    assert_eq!(log.read(40, 100, i64::MAX, true).unwrap().total_bytes(), 0);
    // No `.deleted` files are left with file.delete.delay.ms = 0.
    let leftovers = std::fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".deleted")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn retention_by_bytes_and_time_keeps_the_active_segment() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_bytes: 5000,
        file_delete_delay_ms: 1000,
        ..small_config()
    };
    let log = open(d.path(), cfg.clone(), true, 0);
    for i in 0..40 {
        log.append(&mut batch(0, &[i * 100], 200), true, 0).unwrap();
    }
    let before = log.segment_count();
    let deleted = log.maintenance(10_000).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), before - deleted);
    assert!(log.size_bytes() <= 5000 + 4096);
    assert!(log.size_bytes() > 5000 - 4096);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    // Deleted segments linger as .deleted until file.delete.delay.ms passed.
    let count_deleted = || {
        std::fs::read_dir(d.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .ends_with(".log.deleted")
            })
            .count()
    };
    assert_eq!(count_deleted(), deleted);
    log.maintenance(10_500).unwrap();
    assert_eq!(count_deleted(), deleted);
    log.maintenance(11_000).unwrap();
    assert_eq!(count_deleted(), 0);
    // Retention by time: everything is old, but the active segment stays.
    log.update_config(LogConfig {
        retention_bytes: -1,
        retention_ms: 1000,
        ..cfg
    });
    log.maintenance(1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert!(log.size_bytes() > 0);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(all_batches(&log).last().unwrap().1, 39);
}

#[test]
fn flush_messages_flushes_and_flush_ms_by_maintenance() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 3,
        ..LogConfig::default()
    };
    let log = open(d.path(), cfg.clone(), true, 0);
    log.append(&mut batch(0, &[1, 2], 10), true, 0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&mut batch(0, &[1], 10), true, 0).unwrap();
    assert_eq!(log.recovery_point(), 3);
    log.update_config(LogConfig {
        flush_messages: i64::MAX,
        flush_ms: 1000,
        ..cfg
    });
    log.append(&mut batch(0, &[1], 10), true, 100).unwrap();
    log.maintenance(500).unwrap();
    assert_eq!(log.recovery_point(), 3);
    log.maintenance(1000).unwrap();
    assert_eq!(log.recovery_point(), 4);
}

#[test]
fn group_commit_covers_every_waiter() {
    let d = tempfile::tempdir().unwrap();
    let log = Arc::new(open(d.path(), LogConfig::default(), true, 0));
    let mut handles = Vec::new();
    for t in 0..8 {
        let log = log.clone();
        handles.push(std::thread::spawn(move || {
            for i in 0..20 {
                let info = log
                    .append(&mut batch(0, &[t * 100 + i], 100), true, 0)
                    .unwrap();
                log.flush_up_to(info.last_offset + 1).unwrap();
                assert!(log.recovery_point() > info.last_offset);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 160);
    assert_eq!(log.recovery_point(), 160);
}

#[test]
fn concurrent_reads_never_see_partial_batches() {
    let d = tempfile::tempdir().unwrap();
    let log = Arc::new(open(d.path(), small_config(), true, 0));
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                log.append(&mut batch(0, &[i, i], 150), true, 0).unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let leo = log.log_end_offset();
        let start = log.log_start_offset();
        let r = log.read(start, 1 << 20, i64::MAX, true).unwrap();
        let data = r.to_vec().unwrap();
        let mut next = start;
        for f in strom_protocol::batch::BatchFrames::new(&data) {
            let (range, h) = f.unwrap();
            strom_protocol::batch::validate(&data[range]).unwrap();
            assert_eq!(h.base_offset, next);
            next = h.next_offset();
        }
        assert!(
            next >= leo,
            "a read sees at least what was appended before it"
        );
        reads += 1;
    }
    writer.join().unwrap();
    assert_eq!(log.log_end_offset(), 600);
}

#[test]
fn reopen_after_close_keeps_everything_without_scanning() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    for i in 0..50 {
        log.append(&mut batch(0, &[i * 3, i * 3 + 1], 100), true, 0)
            .unwrap();
    }
    let before = all_batches(&log);
    let segs = log.debug_segments();
    log.close().unwrap();
    drop(log);
    let log = open(d.path(), small_config(), true, 0);
    assert_eq!(log.recovery_point(), 100);
    assert_eq!(all_batches(&log), before);
    let after = log.debug_segments();
    assert_eq!(after.len(), segs.len());
    for (a, b) in after.iter().zip(&segs) {
        assert_eq!(a.offset_index, b.offset_index);
        assert_eq!(a.max_timestamp, b.max_timestamp);
        assert_eq!(a.next_offset, b.next_offset);
    }
    check_indexes(&log);
    assert_eq!(log.offset_for_timestamp(40).unwrap(), Some((27, 40)));
    log.append(&mut batch(0, &[1000], 100), true, 0).unwrap();
    assert_eq!(log.log_end_offset(), 101);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<crate::Log>();
    assert_send_sync::<crate::LogManager>();
    assert_send_sync::<crate::LogError>();
    assert_send_sync::<crate::ReadResult>();
}

#[test]
fn appends_reads_flushes_and_retention_run_together() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_bytes: 8000,
        file_delete_delay_ms: 0,
        ..small_config()
    };
    let log = Arc::new(open(d.path(), cfg, true, 0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..400 {
                let info = log
                    .append(&mut batch(0, &[i, i + 1], 120), true, i)
                    .unwrap();
                if i % 7 == 0 {
                    log.flush_up_to(info.last_offset + 1).unwrap();
                    assert!(log.recovery_point() > info.last_offset);
                }
            }
        })
    };
    let janitor = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut now = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                now += 1;
                log.maintenance(now).unwrap();
                std::thread::yield_now();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let start = log.log_start_offset();
        let r = match log.read(start, 1 << 20, i64::MAX, true) {
            Ok(r) => r,
            Err(LogError::OffsetOutOfRange { .. }) => continue, // retention moved the start
            Err(e) => panic!("{e}"),
        };
        // Segment files removed by retention while we held their slices still read fine
        // (open file handles); every batch is whole and offsets are contiguous.
        let data = r.to_vec().unwrap();
        let mut next = None;
        for f in strom_protocol::batch::BatchFrames::new(&data) {
            let (range, h) = f.unwrap();
            strom_protocol::batch::validate(&data[range]).unwrap();
            if let Some(n) = next {
                assert_eq!(h.base_offset, n);
            }
            next = Some(h.next_offset());
        }
        reads += 1;
    }
    writer.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    janitor.join().unwrap();
    assert_eq!(log.log_end_offset(), 800);
    assert!(log.log_start_offset() > 0);
    assert!(log.size_bytes() < 8000 + 4096);
    check_indexes(&log);
}
