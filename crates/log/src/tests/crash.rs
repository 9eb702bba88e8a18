//! Damaged files on disk, as a crash or a bad disk leaves them.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

fn seg_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(crate::segment::file_name(base, suffix))
}

/// A log with `n` two-record batches (offset 2i, 2i+1; timestamps 10i, 10i+5), closed.
fn write_log(dir: &Path, n: i64) -> Vec<(i64, i64, Vec<u8>)> {
    let log = open(dir, small_config(), true, 0);
    for i in 0..n {
        log.append(&mut batch(0, &[10 * i, 10 * i + 5], 100), true, 0)
            .unwrap();
    }
    let b = all_batches(&log);
    log.close().unwrap();
    b
}

fn reopen_unclean(dir: &Path) -> Log {
    let log = open(dir, small_config(), false, 0);
    check_indexes(&log);
    log
}

#[test]
fn torn_last_batch_is_truncated() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 30);
    let log = open(d.path(), small_config(), true, 0);
    let last = *log.segment_base_offsets().last().unwrap();
    drop(log);
    let p = seg_path(d.path(), last, ".log");
    let len = fs::metadata(&p).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let log = reopen_unclean(d.path());
    assert_eq!(all_batches(&log), before[..29].to_vec());
    assert_eq!(log.log_end_offset(), 58);
    // Recovering twice gives the same log.
    drop(log);
    let log = reopen_unclean(d.path());
    assert_eq!(all_batches(&log), before[..29].to_vec());
    let info = log.append(&mut batch(0, &[1], 10), true, 0).unwrap();
    assert_eq!(info.first_offset, 58);
}

#[test]
fn zeroed_tail_is_truncated() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 5);
    let p = seg_path(d.path(), 0, ".log");
    let len = fs::metadata(&p).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();
    let log = reopen_unclean(d.path());
    assert_eq!(all_batches(&log), before);
    assert_eq!(fs::metadata(&p).unwrap().len(), len);
}

#[test]
fn flipped_byte_in_a_middle_batch_truncates_there_and_drops_later_segments() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 40);
    let log = open(d.path(), small_config(), true, 0);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    drop(log);
    // Flip a byte inside the third batch of the second segment.
    let mid = bases[1];
    let p = seg_path(d.path(), mid, ".log");
    let mut bytes = fs::read(&p).unwrap();
    let blen = before[0].2.len();
    bytes[2 * blen + 100] ^= 0x40;
    fs::write(&p, &bytes).unwrap();
    let log = reopen_unclean(d.path());
    assert_eq!(log.log_end_offset(), mid + 4);
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    let keep = before.iter().filter(|b| b.1 < mid + 4).count();
    assert_eq!(all_batches(&log), before[..keep].to_vec());
    for b in &bases[2..] {
        assert!(!seg_path(d.path(), *b, ".log").exists());
        assert!(!seg_path(d.path(), *b, ".index").exists());
    }
}

#[test]
fn recovery_starts_at_the_recovery_point_segment() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 40);
    let log = open(d.path(), small_config(), true, 0);
    let bases = log.segment_base_offsets();
    drop(log);
    // Damage the first segment, which lies below the recovery point: not scanned, so kept.
    let p = seg_path(d.path(), 0, ".log");
    let mut bytes = fs::read(&p).unwrap();
    bytes[200] ^= 1;
    fs::write(&p, &bytes).unwrap();
    let log = open(d.path(), small_config(), false, bases[1]);
    assert_eq!(log.log_end_offset(), 80);
    assert_eq!(all_batches(&log).len(), before.len());
    assert_eq!(log.recovery_point(), bases[1]);
}

#[test]
fn deleted_index_is_rebuilt_on_clean_open() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 40);
    let log = open(d.path(), small_config(), true, 0);
    let segs = log.debug_segments();
    drop(log);
    fs::remove_file(seg_path(d.path(), 0, ".index")).unwrap();
    fs::remove_file(seg_path(d.path(), segs[1].base_offset, ".timeindex")).unwrap();
    let log = open(d.path(), small_config(), true, 0);
    check_indexes(&log);
    let after = log.debug_segments();
    assert_eq!(after[0].offset_index, segs[0].offset_index);
    assert_eq!(after[1].time_index, segs[1].time_index);
    assert_eq!(all_batches(&log), before);
    // Rebuilt index files are trimmed to their entries.
    assert_eq!(
        fs::metadata(seg_path(d.path(), 0, ".index")).unwrap().len(),
        8 * segs[0].offset_index.len() as u64
    );
}

#[test]
fn garbage_time_index_is_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 40);
    let log = open(d.path(), small_config(), true, 0);
    let segs = log.debug_segments();
    let want = log.offset_for_timestamp(57).unwrap();
    drop(log);
    let garbage: Vec<u8> = (0..240u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(seg_path(d.path(), 0, ".timeindex"), &garbage).unwrap();
    fs::write(
        seg_path(d.path(), segs[1].base_offset, ".index"),
        &garbage[..100],
    )
    .unwrap();
    let log = open(d.path(), small_config(), true, 0);
    check_indexes(&log);
    assert_eq!(log.debug_segments(), segs);
    assert_eq!(all_batches(&log), before);
    assert_eq!(log.offset_for_timestamp(57).unwrap(), want);
    assert_eq!(want, Some((12, 60)));
}

#[test]
fn index_pointing_into_the_middle_of_a_batch_is_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 10);
    let log = open(d.path(), small_config(), true, 0);
    let segs = log.debug_segments();
    drop(log);
    // A well-ordered index whose last entry names a position that is not a batch start.
    let mut idx = Vec::new();
    idx.extend_from_slice(&3u32.to_be_bytes());
    idx.extend_from_slice(&77u32.to_be_bytes());
    fs::write(seg_path(d.path(), 0, ".index"), &idx).unwrap();
    let log = open(d.path(), small_config(), true, 0);
    check_indexes(&log);
    assert_eq!(log.debug_segments(), segs);
    assert_eq!(all_batches(&log), before);
}

#[test]
fn leftover_deleted_swap_cleaned_and_orphan_index_files_are_removed() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 5);
    for name in [
        "00000000000000000100.log.deleted",
        "00000000000000000100.index.deleted",
        "00000000000000000100.timeindex.deleted",
        "00000000000000000200.log.cleaned",
        "00000000000000000300.log.swap",
        "00000000000000000400.index",
        "00000000000000000400.timeindex",
    ] {
        fs::write(d.path().join(name), b"junk").unwrap();
    }
    let log = open(d.path(), small_config(), false, 0);
    assert_eq!(all_batches(&log), before);
    // Producer state snapshots (written at close) are not leftovers.
    let mut names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".snapshot"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex"
        ]
    );
}

#[test]
fn unclean_open_after_appends_without_close_recovers_everything_written() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small_config(), true, 0);
    for i in 0..25 {
        log.append(&mut batch(0, &[i], 300), true, 0).unwrap();
    }
    assert_eq!(
        log.recovery_point(),
        0,
        "rolled segments are fsynced in the background"
    );
    log.maintenance(0).unwrap();
    let rp = log.recovery_point();
    assert_eq!(rp, 25, "maintenance flushes once segments have rolled");
    log.append(&mut batch(0, &[99], 300), true, 0).unwrap();
    log.flush().unwrap(); // writes the index entries behind the data, but does not trim
    let before = all_batches(&log);
    drop(log); // no close: the active segment's indexes are untrimmed, zero padded
               // A "clean" open of untrimmed indexes finds the valid entries.
    let log = open(d.path(), small_config(), true, 0);
    check_indexes(&log);
    assert_eq!(all_batches(&log), before);
    drop(log);
    let log = open(d.path(), small_config(), false, rp);
    check_indexes(&log);
    assert_eq!(all_batches(&log), before);
    assert_eq!(log.recovery_point(), rp);
}

#[test]
fn segment_that_lost_its_tail_at_a_batch_boundary_drops_later_segments() {
    let d = tempfile::tempdir().unwrap();
    let before = write_log(d.path(), 40);
    let log = open(d.path(), small_config(), true, 0);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    drop(log);
    // The rolled segment's last batch never reached the disk, the next segment's did.
    let p = seg_path(d.path(), bases[1], ".log");
    let len = fs::metadata(&p).unwrap().len();
    let blen = before[0].2.len() as u64;
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - blen)
        .unwrap();
    let log = open(d.path(), small_config(), false, bases[1]);
    check_indexes(&log);
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    assert_eq!(log.log_end_offset(), bases[2] - 2);
    let keep = before.iter().filter(|b| b.1 < bases[2] - 2).count();
    assert_eq!(all_batches(&log), before[..keep].to_vec());
}
