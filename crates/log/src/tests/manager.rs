use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::manager::CLEAN_SHUTDOWN_FILE;
use crate::LogManager;

fn cfg(_: &str) -> LogConfig {
    small_config()
}

fn t(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

#[test]
fn create_spread_shutdown_and_clean_reopen() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
    let m = LogManager::open(dirs.clone(), &cfg, 0).unwrap();
    assert!(!m.had_clean_shutdown(), "a fresh dir has no marker");
    for p in 0..4 {
        let log = m.get_or_create(&t("orders", p), small_config(), 0).unwrap();
        for i in 0..=p {
            log.append(&mut batch(0, &[i as i64], 10), true, 0).unwrap();
        }
    }
    // Two partitions per dir.
    for d in &dirs {
        let n = fs::read_dir(d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count();
        assert_eq!(n, 2);
    }
    assert!(m.get(&t("orders", 9)).is_none());
    assert_eq!(m.all().len(), 4);
    m.get(&t("orders", 3))
        .unwrap()
        .delete_records_before(2)
        .unwrap();
    m.shutdown().unwrap();
    for d in &dirs {
        assert!(d.join(CLEAN_SHUTDOWN_FILE).exists());
    }
    let text = fs::read_to_string(dirs[0].join("recovery-point-offset-checkpoint")).unwrap();
    assert!(text.starts_with("0\n2\norders "), "{text}");
    drop(m);
    let m = LogManager::open(dirs.clone(), &cfg, 0).unwrap();
    assert!(m.had_clean_shutdown());
    for d in &dirs {
        assert!(
            !d.join(CLEAN_SHUTDOWN_FILE).exists(),
            "marker removed after start"
        );
    }
    for p in 0..4 {
        let log = m.get(&t("orders", p)).unwrap();
        assert_eq!(log.log_end_offset(), p as i64 + 1);
        assert_eq!(log.recovery_point(), p as i64 + 1);
    }
    assert_eq!(m.get(&t("orders", 3)).unwrap().log_start_offset(), 2);
}

#[test]
fn unclean_start_recovers_and_garbage_checkpoint_means_recovery() {
    let a = tempfile::tempdir().unwrap();
    let dirs = vec![a.path().to_path_buf()];
    let m = LogManager::open(dirs.clone(), &cfg, 0).unwrap();
    let log = m.get_or_create(&t("x", 0), small_config(), 0).unwrap();
    for i in 0..5 {
        log.append(&mut batch(0, &[i], 10), true, 0).unwrap();
    }
    m.shutdown().unwrap();
    drop((m, log));
    // Tear the tail of the log and garble the recovery point checkpoint; the marker is there,
    // but with no trustworthy recovery point the log is scanned.
    let seg = a.path().join("x-0").join("00000000000000000000.log");
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    fs::write(
        a.path().join("recovery-point-offset-checkpoint"),
        b"\x00garbage\n",
    )
    .unwrap();
    let m = LogManager::open(dirs.clone(), &cfg, 0).unwrap();
    assert!(!m.had_clean_shutdown());
    let log = m.get(&t("x", 0)).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    // The checkpoint is rewritten sanely.
    let text = fs::read_to_string(a.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert_eq!(text, "0\n1\nx 0 0\n");
    // A crash now (no shutdown): the marker is absent, so the next start recovers.
    log.append(&mut batch(0, &[9], 10), true, 0).unwrap();
    drop((m, log));
    let m = LogManager::open(dirs, &cfg, 0).unwrap();
    assert!(!m.had_clean_shutdown());
    assert_eq!(m.get(&t("x", 0)).unwrap().log_end_offset(), 5);
}

#[test]
fn skips_metadata_ignores_strangers_removes_delete_dirs() {
    let a = tempfile::tempdir().unwrap();
    let root = a.path().to_path_buf();
    fs::create_dir_all(root.join("__cluster_metadata-0")).unwrap();
    fs::create_dir_all(root.join("lost+found")).unwrap();
    fs::create_dir_all(root.join("old-0.0123abcd-delete")).unwrap();
    fs::write(root.join("old-0.0123abcd-delete").join("x.log"), b"x").unwrap();
    let m = LogManager::open(vec![root.clone()], &cfg, 0).unwrap();
    assert!(m.all().is_empty());
    wait_gone(&root.join("old-0.0123abcd-delete"));
    assert!(root.join("__cluster_metadata-0").exists());
}

fn wait_gone(p: &std::path::Path) {
    let start = Instant::now();
    while p.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} not removed",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn delete_renames_then_removes_in_background() {
    let a = tempfile::tempdir().unwrap();
    let root = a.path().to_path_buf();
    let m = LogManager::open(vec![root.clone()], &cfg, 0).unwrap();
    let tp = t("gone", 2);
    let log = m.get_or_create(&tp, small_config(), 0).unwrap();
    log.append(&mut batch(0, &[1], 10), true, 0).unwrap();
    m.delete(&tp).unwrap();
    assert!(m.get(&tp).is_none());
    assert!(!root.join("gone-2").exists());
    assert!(matches!(
        log.append(&mut batch(0, &[1], 10), true, 0),
        Err(crate::LogError::Deleted(_))
    ));
    let start = Instant::now();
    loop {
        let left: Vec<PathBuf> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(left[0].to_str().unwrap().ends_with("-delete"), "{left:?}");
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    // A new log of the same name starts empty.
    let log = m.get_or_create(&tp, small_config(), 0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn maintenance_applies_retention_and_checkpoints() {
    let a = tempfile::tempdir().unwrap();
    let root = a.path().to_path_buf();
    let m = LogManager::open(vec![root.clone()], &cfg, 0).unwrap();
    let config = LogConfig {
        retention_bytes: 2000,
        ..small_config()
    };
    let log = m.get_or_create(&t("r", 0), config, 0).unwrap();
    for i in 0..40 {
        log.append(&mut batch(0, &[i], 200), true, 0).unwrap();
    }
    m.maintenance(1).unwrap();
    assert!(log.log_start_offset() > 0);
    let text = fs::read_to_string(root.join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(text, format!("0\n1\nr 0 {}\n", log.log_start_offset()));
}

/// Not a timing assertion: prints how long 1,000 partitions take to open after a clean
/// shutdown, and only fails if it is absurdly slow.
#[test]
fn thousand_partitions_open_quickly_after_clean_shutdown() {
    let a = tempfile::tempdir().unwrap();
    let root = a.path().to_path_buf();
    let config = LogConfig::default();
    let m = LogManager::open(vec![root.clone()], &|_| LogConfig::default(), 0).unwrap();
    for p in 0..1000 {
        let log = m.get_or_create(&t("many", p), config.clone(), 0).unwrap();
        for i in 0..3 {
            log.append(&mut batch(0, &[i], 100), true, 0).unwrap();
        }
    }
    m.shutdown().unwrap();
    drop(m);
    let start = Instant::now();
    let m = LogManager::open(vec![root], &|_| LogConfig::default(), 0).unwrap();
    let took = start.elapsed();
    eprintln!("opened 1000 partitions after a clean shutdown in {took:?}");
    assert_eq!(m.all().len(), 1000);
    assert!(took < Duration::from_secs(60));
    // No shutdown this time: the next start recovers every active segment.
    drop(m);
    let start = Instant::now();
    let m = LogManager::open(vec![a.path().to_path_buf()], &|_| LogConfig::default(), 0).unwrap();
    eprintln!(
        "opened 1000 partitions after an unclean shutdown in {:?}",
        start.elapsed()
    );
    assert!(!m.had_clean_shutdown());
    assert!(m.all().iter().all(|l| l.log_end_offset() == 3));
}
