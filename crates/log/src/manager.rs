//! [`LogManager`]: the set of partition logs across the log dirs (Kafka's `LogManager`).
//!
//! Per log dir root it owns `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`
//! (see `checkpoint`) and `.kafka_cleanshutdown`: an empty file created (and fsynced, with its
//! directory) by [`LogManager::shutdown`] after every log was flushed and checkpointed, and
//! deleted once the next [`LogManager::open`] has loaded the logs, so that a crash afterwards
//! is detected by its absence. Deleted partitions are renamed to
//! `<topic>-<partition>.<uuid hex>-delete` and removed by a background thread.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tracing::{info, warn};

use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::log::sync_dir;
use crate::{Log, LogConfig, LogError, OpenOptions, TopicPartition};

/// Name of the clean shutdown marker in each log dir root.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// The metadata log's directory, owned by the controller, not by the log manager.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";
const DELETE_DIR_SUFFIX: &str = "-delete";

/// `(partition, offset)` lines of one checkpoint file.
type Offsets = Vec<(TopicPartition, i64)>;

struct Entry {
    log: Arc<Log>,
    dir_index: usize,
}

/// All partition logs of a broker. `Send + Sync`.
pub struct LogManager {
    log_dirs: Vec<PathBuf>,
    logs: RwLock<BTreeMap<TopicPartition, Entry>>,
    had_clean_shutdown: bool,
    /// Serializes creation and checkpoint writing.
    create_lock: Mutex<()>,
    checkpoint_lock: Mutex<()>,
}

fn read_checkpoint(dir: &Path, name: &str) -> (HashMap<TopicPartition, i64>, bool) {
    let path = dir.join(name);
    match checkpoint::read(&path) {
        Ok(m) => (m.unwrap_or_default(), true),
        Err(reason) => {
            warn!(
                "checkpoint file {} is garbage ({reason}); treating it as absent",
                path.display()
            );
            (HashMap::new(), false)
        }
    }
}

fn remove_in_background(path: PathBuf) {
    std::thread::spawn(move || {
        if let Err(e) = fs::remove_dir_all(&path) {
            warn!("cannot remove deleted log {}: {e}", path.display());
        }
    });
}

impl LogManager {
    /// Opens every `<topic>-<partition>` directory under each log dir (skipping
    /// `__cluster_metadata-0`; `*-delete` directories are removed in the background; other
    /// names are ignored with a warning), with the recovery points and log start offsets of
    /// the checkpoint files. Logs recover when `.kafka_cleanshutdown` is missing (or the
    /// recovery point checkpoint is garbage); the marker is deleted afterwards.
    /// `config_for(topic)` gives each topic's config.
    pub fn open(
        log_dirs: Vec<PathBuf>,
        config_for: &dyn Fn(&str) -> LogConfig,
        now_ms: i64,
    ) -> Result<LogManager, LogError> {
        if log_dirs.is_empty() {
            return Err(LogError::Storage("no log dirs configured".into()));
        }
        let mut logs: BTreeMap<TopicPartition, Entry> = BTreeMap::new();
        let mut all_clean = true;
        for (dir_index, dir) in log_dirs.iter().enumerate() {
            fs::create_dir_all(dir).map_err(|e| LogError::io_context(e, dir.display()))?;
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            let marker_present = marker.exists();
            let (recovery_points, rp_ok) = read_checkpoint(dir, RECOVERY_POINT_FILE);
            let (start_offsets, _) = read_checkpoint(dir, LOG_START_OFFSET_FILE);
            let clean = marker_present && rp_ok;
            all_clean &= clean;
            let mut names: Vec<(String, PathBuf)> = Vec::new();
            for entry in fs::read_dir(dir).map_err(|e| LogError::io_context(e, dir.display()))? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    warn!("ignoring non-UTF-8 directory in {}", dir.display());
                    continue;
                };
                names.push((name, entry.path()));
            }
            if !marker_present && !names.is_empty() {
                info!(
                    "log dir {} was not shut down cleanly; recovering",
                    dir.display()
                );
            }
            names.sort();
            for (name, path) in names {
                if name == METADATA_LOG_DIR {
                    continue;
                }
                if name.ends_with(DELETE_DIR_SUFFIX) {
                    remove_in_background(path);
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(&name) else {
                    warn!(
                        "ignoring {}: not a <topic>-<partition> directory",
                        path.display()
                    );
                    continue;
                };
                if let Some(other) = logs.get(&tp) {
                    return Err(LogError::Storage(format!(
                        "partition {tp} is in both {} and {}",
                        other.log.dir().display(),
                        path.display()
                    )));
                }
                let opts = OpenOptions {
                    recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                    log_start_offset: start_offsets.get(&tp).copied().unwrap_or(0),
                    clean_shutdown: clean,
                    now_ms,
                };
                let log = Log::open(path, tp.clone(), config_for(&tp.topic), opts)?;
                logs.insert(
                    tp,
                    Entry {
                        log: Arc::new(log),
                        dir_index,
                    },
                );
            }
        }
        let mgr = LogManager {
            log_dirs,
            logs: RwLock::new(logs),
            had_clean_shutdown: all_clean,
            create_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(()),
        };
        // Record what recovery established before the marker goes, so a crash now does not
        // repeat work, then remove the marker so that a later crash is detected.
        mgr.checkpoint()?;
        for dir in &mgr.log_dirs {
            match fs::remove_file(dir.join(CLEAN_SHUTDOWN_FILE)) {
                Ok(()) => sync_dir(dir)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io_context(e, dir.display())),
            }
        }
        Ok(mgr)
    }

    pub fn log_dirs(&self) -> Vec<PathBuf> {
        self.log_dirs.clone()
    }

    /// True when every log dir had the clean shutdown marker (and sane checkpoints).
    pub fn had_clean_shutdown(&self) -> bool {
        self.had_clean_shutdown
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        self.logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .map(|e| e.log.clone())
    }

    /// The log of `tp`, created in the log dir holding the fewest partitions when missing.
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Log>, LogError> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let _c = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let dir_index = {
            let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
            let mut counts = vec![0usize; self.log_dirs.len()];
            for e in logs.values() {
                counts[e.dir_index] += 1;
            }
            (0..counts.len()).min_by_key(|i| counts[*i]).unwrap_or(0)
        };
        let root = &self.log_dirs[dir_index];
        let path = root.join(tp.dir_name());
        let log = Arc::new(Log::open(
            path,
            tp.clone(),
            config,
            OpenOptions {
                recovery_point: 0,
                log_start_offset: 0,
                clean_shutdown: true,
                now_ms,
            },
        )?);
        sync_dir(root)?;
        self.logs.write().unwrap_or_else(|e| e.into_inner()).insert(
            tp.clone(),
            Entry {
                log: log.clone(),
                dir_index,
            },
        );
        info!(topic_partition = %tp, "created log in {}", root.display());
        Ok(log)
    }

    pub fn all(&self) -> Vec<Arc<Log>> {
        self.logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|e| e.log.clone())
            .collect()
    }

    /// Removes the log of `tp`: renames its directory to `<topic>-<partition>.<uuid>-delete`
    /// and removes it in the background. `get` returns `None` afterwards. No-op when absent.
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let entry = self
            .logs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tp);
        let Some(entry) = entry else { return Ok(()) };
        let root = &self.log_dirs[entry.dir_index];
        let to = root.join(format!(
            "{}.{}{DELETE_DIR_SUFFIX}",
            tp.dir_name(),
            uuid::Uuid::new_v4().simple()
        ));
        entry.log.mark_deleted(&to)?;
        sync_dir(root)?;
        remove_in_background(to);
        info!(topic_partition = %tp, "deleted log");
        Ok(())
    }

    /// Writes both checkpoint files in every log dir.
    pub fn checkpoint(&self) -> Result<(), LogError> {
        let _c = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut per_dir: Vec<(Offsets, Offsets)> =
            vec![(Vec::new(), Vec::new()); self.log_dirs.len()];
        {
            let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
            for (tp, e) in logs.iter() {
                per_dir[e.dir_index]
                    .0
                    .push((tp.clone(), e.log.recovery_point()));
                per_dir[e.dir_index]
                    .1
                    .push((tp.clone(), e.log.log_start_offset()));
            }
        }
        for (dir, (rps, lsos)) in self.log_dirs.iter().zip(per_dir) {
            checkpoint::write(&dir.join(RECOVERY_POINT_FILE), &rps)
                .map_err(|e| LogError::io_context(e, dir.join(RECOVERY_POINT_FILE).display()))?;
            checkpoint::write(&dir.join(LOG_START_OFFSET_FILE), &lsos)
                .map_err(|e| LogError::io_context(e, dir.join(LOG_START_OFFSET_FILE).display()))?;
        }
        Ok(())
    }

    /// [`Log::maintenance`] on every log, then checkpoints. Errors of one log are logged and
    /// do not stop the others; the first is returned.
    pub fn maintenance(&self, now_ms: i64) -> Result<(), LogError> {
        let mut first_err = None;
        for log in self.all() {
            if let Err(e) = log.maintenance(now_ms) {
                warn!(topic_partition = %log.topic_partition(), "maintenance failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        self.checkpoint()?;
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every log (flush, trim indexes), checkpoints, and writes the clean shutdown
    /// marker in each log dir (fsynced with its directory).
    pub fn shutdown(&self) -> Result<(), LogError> {
        for log in self.all() {
            log.close()?;
        }
        self.checkpoint()?;
        for dir in &self.log_dirs {
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            fs::File::create(&marker)
                .and_then(|f| f.sync_all())
                .map_err(|e| LogError::io_context(e, marker.display()))?;
            sync_dir(dir)?;
        }
        Ok(())
    }
}
