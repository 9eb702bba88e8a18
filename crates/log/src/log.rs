//! [`Log`]: one partition's sequence of segments (Kafka's `UnifiedLog` + `LocalLog`), and its
//! loader (Kafka's `LogLoader`).
//!
//! Locking: `append_lock` serializes everything that changes the segment list or writes
//! (append, roll, truncate, delete-records, retention); `flush_lock` serializes fsyncs and is
//! taken after `append_lock` when both are needed; `state` (segment list, log start and end
//! offsets) is held only briefly, never across IO that readers would wait on, so reads run
//! alongside appends. A reader snapshots the end offset and never returns a batch at or past
//! it, and a segment's visible size moves only after its bytes were written.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strom_protocol::batch::{self, BatchFrames, BatchHeader, MAGIC_V2};
use tracing::{info, warn};

use crate::producer_state::{self, ProducerInfo, ProducerStateManager, SequenceCheck};
use crate::segment::{
    self, HeaderWalk, Segment, CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX,
    SWAP_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::{AppendInfo, FileSlice, LogConfig, LogError, ReadResult, TopicPartition};

/// How to open a log: what the checkpoints said and whether the last shutdown was clean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Everything below this offset was fsynced (from `recovery-point-offset-checkpoint`).
    pub recovery_point: i64,
    /// From `log-start-offset-checkpoint` (0 when absent).
    pub log_start_offset: i64,
    /// True when `.kafka_cleanshutdown` was present: no segment is scanned.
    pub clean_shutdown: bool,
    /// The caller's clock, ms since the epoch.
    pub now_ms: i64,
}

struct State {
    segments: BTreeMap<i64, Arc<Segment>>,
    log_start_offset: i64,
    log_end_offset: i64,
}

impl State {
    fn active(&self) -> &Arc<Segment> {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// Segments from the one holding `offset` (or the first, when `offset` is below it) on.
    fn segments_from(&self, offset: i64) -> Vec<Arc<Segment>> {
        let start = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        self.segments
            .range(start..)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn check(&self, recovery_point: i64) {
        assert!(
            self.log_start_offset <= self.log_end_offset,
            "log start offset {} above log end offset {}",
            self.log_start_offset,
            self.log_end_offset
        );
        assert!(
            recovery_point <= self.log_end_offset,
            "recovery point {recovery_point} above log end offset {}",
            self.log_end_offset
        );
    }
}

/// One partition's log. `Send + Sync`; share it as `Arc<Log>`.
pub struct Log {
    tp: TopicPartition,
    dir: RwLock<PathBuf>,
    config: RwLock<LogConfig>,
    append_lock: Mutex<()>,
    flush_lock: Mutex<()>,
    state: RwLock<State>,
    recovery_point: AtomicI64,
    last_flush_ms: AtomicI64,
    /// The latest `now_ms` any caller passed in (for operations that take no clock).
    clock_ms: AtomicI64,
    /// A segment file was created or renamed since the directory was last fsynced.
    dir_dirty: AtomicBool,
    deleted: AtomicBool,
    /// `.deleted` files and when they may be removed.
    pending_deletes: Mutex<Vec<(i64, Vec<PathBuf>)>>,
    /// Idempotent producers; changed only under `append_lock`.
    producers: Mutex<ProducerStateManager>,
    /// Threads fsyncing rolled segments. Joined by `close` and on drop, so nothing writes
    /// this log's files once the `Log` is gone (a reopened log must not see late index
    /// writes from the previous one).
    background: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Log {
    fn drop(&mut self) {
        self.join_background();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic per-segment jitter in `[0, min(segment.jitter.ms, segment.ms))`.
fn jitter_ms(base_offset: i64, config: &LogConfig) -> i64 {
    let bound = config.segment_jitter_ms.min(config.segment_ms);
    if bound <= 0 {
        return 0;
    }
    let mut z = (base_offset as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % bound as u64) as i64
}

/// fsync of a directory, so that created, renamed and removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl Log {
    /// Opens (creating when missing) the log in `dir`: removes leftovers, loads segments,
    /// recovers after an unclean shutdown from the segment holding the recovery point on.
    pub fn open(
        dir: PathBuf,
        topic_partition: TopicPartition,
        config: LogConfig,
        opts: OpenOptions,
    ) -> Result<Log, LogError> {
        fs::create_dir_all(&dir).map_err(|e| LogError::io_context(e, dir.display()))?;
        let tp = topic_partition;
        let index_bytes = config.segment_index_bytes;
        let interval = config.index_interval_bytes;

        let bases = remove_leftovers_and_list(&dir, &tp)?;
        let recover_from = if opts.clean_shutdown {
            i64::MAX
        } else {
            bases
                .iter()
                .copied()
                .rfind(|b| *b <= opts.recovery_point)
                .unwrap_or(i64::MIN)
        };
        let mut segments: BTreeMap<i64, Arc<Segment>> = BTreeMap::new();
        let mut changed = false;
        for (i, &base) in bases.iter().enumerate() {
            // Segments are contiguous except after a relative-offset overflow roll, so a
            // segment starting past the previous one's end means the previous one lost its
            // tail in the crash (a flush after roll that never completed): everything from
            // here on follows a hole and goes.
            if base >= recover_from {
                if let Some(prev) = segments.values().next_back() {
                    let prev_next = prev.read().next_offset;
                    if base > prev_next && base - prev_next <= i32::MAX as i64 {
                        changed = true;
                        warn!(
                            topic_partition = %tp,
                            segment = base,
                            "previous segment {} ends at offset {prev_next}, before this segment's base {base}: its tail was lost; deleting segments from {base} on",
                            prev.base_offset
                        );
                        for &later in &bases[i..] {
                            remove_segment_files(&dir, later)?;
                        }
                        break;
                    }
                }
            }
            let scan = base >= recover_from;
            let (seg, problem) = Segment::open(&dir, base, index_bytes, opts.now_ms, scan)
                .map_err(|e| LogError::io_context(e, format!("{tp} segment {base}")))?;
            if let Some(p) = &problem {
                warn!(topic_partition = %tp, segment = base, "rebuilding indexes: {p}");
            }
            let mut stop = false;
            if scan || problem.is_some() {
                let rec = seg.recover(interval, index_bytes).map_err(|e| {
                    LogError::io_context(e, format!("{tp} recovering segment {base}"))
                })?;
                if let Some((pos, dropped, reason)) = rec.truncated {
                    changed = true;
                    warn!(
                        topic_partition = %tp,
                        segment = base,
                        "truncated at position {pos} (next offset {}), dropping {dropped} bytes: {reason}",
                        seg.read().next_offset
                    );
                    stop = true;
                }
            }
            segments.insert(base, Arc::new(seg));
            if stop {
                for &later in &bases[i + 1..] {
                    warn!(
                        topic_partition = %tp,
                        segment = later,
                        "deleting segment {later} after the truncation point"
                    );
                    remove_segment_files(&dir, later)?;
                }
                break;
            }
        }
        if segments.is_empty() {
            let base = opts.log_start_offset.max(0);
            let seg = Segment::create(&dir, base, index_bytes, opts.now_ms)
                .map_err(|e| LogError::io_context(e, format!("{tp} creating segment {base}")))?;
            segments.insert(base, Arc::new(seg));
            changed = true;
        }
        let last = segments.values().next_back().expect("one segment").clone();
        last.make_active(index_bytes)?;
        let mut leo = last.read().next_offset;
        let first_base = *segments.keys().next().expect("one segment");
        let mut lso = opts.log_start_offset.max(first_base);
        if lso > leo {
            warn!(topic_partition = %tp, "log start offset {lso} is past the log end offset {leo}; starting empty at {lso}");
            for &b in segments.keys() {
                remove_segment_files(&dir, b)?;
            }
            segments.clear();
            let seg = Segment::create(&dir, lso, index_bytes, opts.now_ms)?;
            segments.insert(lso, Arc::new(seg));
            leo = lso;
            changed = true;
        }
        lso = lso.min(leo);
        let recovery_point = if opts.clean_shutdown && !changed {
            leo
        } else {
            opts.recovery_point.clamp(0, leo)
        };
        let log = Log {
            tp,
            dir: RwLock::new(dir),
            config: RwLock::new(config),
            append_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            state: RwLock::new(State {
                segments,
                log_start_offset: lso,
                log_end_offset: leo,
            }),
            recovery_point: AtomicI64::new(recovery_point),
            last_flush_ms: AtomicI64::new(opts.now_ms),
            clock_ms: AtomicI64::new(opts.now_ms),
            dir_dirty: AtomicBool::new(changed),
            deleted: AtomicBool::new(false),
            pending_deletes: Mutex::new(Vec::new()),
            producers: Mutex::new(ProducerStateManager::default()),
            background: Mutex::new(Vec::new()),
        };
        log.read_state().check(recovery_point);
        log.load_producer_state(opts.now_ms)?;
        Ok(log)
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn config(&self) -> LogConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the config; segment sizes and index sizes apply from the next roll.
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.read_state().log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.read_state().log_end_offset
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.read_state().segments.values().map(|s| s.size()).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.read_state().segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.read_state().segments.keys().copied().collect()
    }

    fn observe_clock(&self, now_ms: i64) {
        self.clock_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    fn check_live(&self) -> Result<(), LogError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::Deleted(self.tp.to_string()));
        }
        Ok(())
    }

    /// Appends one or more concatenated v2 batches (already CRC-validated by the caller).
    ///
    /// With `assign_offsets` the base offsets are rewritten in place from the log end offset
    /// (the leader path); without, batches keep their offsets, which must be >= the log end
    /// offset and increasing (follower / metadata path). Rolls first when the active segment
    /// is full (`segment.bytes`), old (`segment.ms`), its indexes are full or the offsets would
    /// not fit 32 bits relative to its base. Returns once the bytes are written (not fsynced),
    /// unless `flush.messages` asks for a flush.
    ///
    /// Errors: [`LogError::InvalidBatch`] for bytes that are not whole v2 batches or offsets
    /// that go backwards, [`LogError::RecordTooLarge`] when the append is larger than
    /// `segment.bytes`.
    pub fn append(
        &self,
        batches: &mut [u8],
        assign_offsets: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let info = self.append_unflushed(batches, assign_offsets, now_ms)?;
        if let Some(offset) = info.flush_to {
            self.flush_up_to(offset)?;
        }
        Ok(info)
    }

    /// [`Log::append`] without the flush that `flush.messages` may ask for: when
    /// [`AppendInfo::flush_to`] is set, the caller must call [`Log::flush_up_to`] with it
    /// before acknowledging the append. This lets the fsync run off the request path and
    /// cover the appends made while it waited (group commit).
    pub fn append_unflushed(
        &self,
        batches: &mut [u8],
        assign_offsets: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.observe_clock(now_ms);
        let config = self.config();
        let guard = lock(&self.append_lock);
        self.check_live()?;
        let mut frames: Vec<(std::ops::Range<usize>, BatchHeader)> = Vec::new();
        for f in BatchFrames::new(batches) {
            let (range, h) = f.map_err(|e| LogError::InvalidBatch(e.to_string()))?;
            if h.magic != MAGIC_V2 {
                return Err(LogError::InvalidBatch(format!("magic {}", h.magic)));
            }
            if h.last_offset_delta < 0 {
                return Err(LogError::InvalidBatch(format!(
                    "negative last offset delta {}",
                    h.last_offset_delta
                )));
            }
            frames.push((range, h));
        }
        if frames.is_empty() {
            return Err(LogError::InvalidBatch("no record batch".into()));
        }
        let bytes = batches.len();
        if bytes as u64 > config.segment_bytes_bounded() {
            return Err(LogError::RecordTooLarge {
                bytes,
                segment_bytes: config.segment_bytes,
            });
        }
        let leo = self.log_end_offset();
        if assign_offsets {
            let producers = lock(&self.producers);
            for (_, h) in &frames {
                if h.producer_id < 0 {
                    continue;
                }
                if let SequenceCheck::Duplicate {
                    first_offset,
                    last_offset,
                } = producers.check(h)?
                {
                    if frames.len() != 1 {
                        return Err(LogError::InvalidBatch(
                            "a duplicate idempotent batch among others".into(),
                        ));
                    }
                    return Ok(AppendInfo {
                        first_offset,
                        last_offset,
                        max_timestamp: h.max_timestamp,
                        offset_of_max_timestamp: last_offset,
                        bytes: 0,
                        duplicate: true,
                        flush_to: self.flush_needed(last_offset, &config),
                    });
                }
            }
        }
        let mut expected = leo;
        for (range, h) in frames.iter_mut() {
            if assign_offsets {
                batch::set_base_offset(&mut batches[range.clone()], expected);
                h.base_offset = expected;
            } else if !(0..=i64::MAX / 2).contains(&h.base_offset) {
                return Err(LogError::InvalidBatch(format!(
                    "base offset {} out of range",
                    h.base_offset
                )));
            } else if h.base_offset < expected {
                return Err(LogError::InvalidBatch(format!(
                    "batch base offset {} is below the expected {expected}",
                    h.base_offset
                )));
            }
            expected = h.next_offset();
        }
        let first_offset = frames[0].1.base_offset;
        let last_offset = frames[frames.len() - 1].1.last_offset();
        if last_offset - first_offset > i32::MAX as i64 {
            return Err(LogError::InvalidBatch(format!(
                "offsets {first_offset}..={last_offset} span more than a segment can index"
            )));
        }
        let (mut max_timestamp, mut offset_of_max_timestamp) = (-1i64, -1i64);
        for (_, h) in &frames {
            if h.max_timestamp > max_timestamp {
                max_timestamp = h.max_timestamp;
                offset_of_max_timestamp = h.last_offset();
            }
        }
        let seg = self.maybe_roll(
            bytes as u64,
            first_offset,
            last_offset,
            max_timestamp,
            now_ms,
            &config,
        )?;
        seg.append(batches, &frames, config.index_interval_bytes)
            .map_err(|e| LogError::io_context(e, format!("{} append", self.tp)))?;
        {
            let mut st = self.write_state();
            assert!(
                last_offset >= st.log_end_offset,
                "log end offset going backwards"
            );
            st.log_end_offset = last_offset + 1;
            let first_base = *st.segments.keys().next().expect("one segment");
            st.log_start_offset = st.log_start_offset.max(first_base);
        }
        {
            let mut producers = lock(&self.producers);
            for (_, h) in &frames {
                producers.update(h, now_ms);
            }
        }
        drop(guard);
        Ok(AppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            bytes,
            duplicate: false,
            flush_to: self.flush_needed(last_offset, &config),
        })
    }

    /// `Some(last_offset + 1)` when `flush.messages` or more messages up to `last_offset`
    /// are not yet fsynced.
    fn flush_needed(&self, last_offset: i64, config: &LogConfig) -> Option<i64> {
        let unflushed = last_offset + 1 - self.recovery_point();
        (unflushed >= config.flush_messages.max(1)).then_some(last_offset + 1)
    }

    /// The active segment, after rolling when this append would not fit (Kafka's
    /// `LogSegment.shouldRoll`). Caller holds `append_lock`.
    fn maybe_roll(
        &self,
        bytes: u64,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<Arc<Segment>, LogError> {
        let active = self.read_state().active().clone();
        let should_roll = {
            let st = active.read();
            let waited = match st.rolling_base_timestamp {
                Some(t) if t >= 0 => max_timestamp.saturating_sub(t),
                _ => now_ms.saturating_sub(st.created_ms),
            };
            let roll_ms = config
                .segment_ms
                .saturating_sub(jitter_ms(active.base_offset, config));
            st.size + bytes > config.segment_bytes_bounded()
                || (st.size > 0 && waited > roll_ms)
                || st.indexes_full()
                || last_offset - active.base_offset > i32::MAX as i64
        };
        if !should_roll {
            return Ok(active);
        }
        // New segments start at the log end offset, so that segments are contiguous and
        // recovery can tell a lost tail from a gap; only when the offsets of this append
        // would not fit 32 bits relative to it does the segment start at the append.
        let leo = self.log_end_offset();
        let base = if last_offset - leo > i32::MAX as i64 {
            first_offset
        } else {
            leo
        };
        self.roll_at(base, now_ms, config)
    }

    /// Makes a new active segment at `base_offset`. An empty active segment is replaced
    /// (or kept, when it already starts there). Caller holds `append_lock`.
    fn roll_at(
        &self,
        base_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<Arc<Segment>, LogError> {
        let dir = self.dir();
        let active = self.read_state().active().clone();
        if active.size() == 0 {
            if active.base_offset == base_offset {
                return Ok(active);
            }
            self.write_state().segments.remove(&active.base_offset);
            active.remove_files(&dir)?;
        } else {
            assert!(base_offset > active.base_offset, "rolling backwards");
            active.seal()?;
        }
        self.dir_dirty.store(true, Ordering::Release);
        let seg = Arc::new(
            Segment::create(&dir, base_offset, config.segment_index_bytes, now_ms).map_err(
                |e| LogError::io_context(e, format!("{} creating segment {base_offset}", self.tp)),
            )?,
        );
        self.write_state().segments.insert(base_offset, seg.clone());
        // Producer state as of the new segment's base, so a restart replays at most one
        // segment (Kafka's `ProducerStateManager.takeSnapshot` at roll).
        if base_offset == self.log_end_offset() {
            producer_state::write_snapshot(&dir, base_offset, &lock(&self.producers)).map_err(
                |e| LogError::io_context(e, format!("{} producer snapshot {base_offset}", self.tp)),
            )?;
        }
        info!(topic_partition = %self.tp, "rolled new segment at offset {base_offset}");
        // Kafka flushes a segment once it is rolled, off the append path; so do we. The
        // recovery point moves at the next flush (maintenance does it when it finds the
        // recovery point below the active segment). Should a crash come first, recovery finds
        // the old segment torn or short and drops the later segments.
        if active.size() > 0 {
            let tp = self.tp.clone();
            let old = active.clone();
            let t = std::thread::spawn(move || {
                if let Err(e) = old.sync(true) {
                    warn!(topic_partition = %tp, "fsync of rolled segment {} failed: {e}", old.base_offset);
                }
            });
            let mut bg = lock(&self.background);
            bg.retain(|t| !t.is_finished());
            bg.push(t);
        }
        Ok(seg)
    }

    /// Whole batches from the batch holding `offset` on, stopping before any batch whose last
    /// offset is >= `max_offset` (exclusive bound, e.g. the high watermark) and keeping the
    /// total <= `max_bytes`, except that with `min_one` the first batch is returned whole
    /// whatever its size. Errors [`LogError::OffsetOutOfRange`] when `offset` is below the log
    /// start offset or above the log end offset; `offset == log end offset` gives an empty
    /// result.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        let (lso, leo, segs) = {
            let st = self.read_state();
            (
                st.log_start_offset,
                st.log_end_offset,
                st.segments_from(offset),
            )
        };
        if offset < lso || offset > leo {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: lso,
                log_end_offset: leo,
            });
        }
        let mut out = ReadResult::default();
        let mut total = 0u64;
        'segments: for seg in segs {
            let size = seg.size();
            let start = if out.first_offset.is_none() {
                match seg.translate_offset(offset, size)? {
                    Some((pos, _)) => pos,
                    None => continue,
                }
            } else {
                0
            };
            let mut end = start;
            let mut stop = false;
            for item in HeaderWalk::new(&seg.file, start, size) {
                let (pos, h) = match item {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e.into()),
                };
                let len = h.total_bytes() as u64;
                let first = out.first_offset.is_none();
                if h.base_offset >= leo
                    || h.last_offset() >= max_offset
                    || (total + len > max_bytes && !(first && min_one))
                {
                    stop = true;
                    break;
                }
                if first {
                    out.first_offset = Some(h.base_offset);
                }
                total += len;
                end = pos + len;
                if total >= max_bytes {
                    stop = true;
                    break;
                }
            }
            if end > start {
                out.slices.push(FileSlice {
                    file: seg.file.clone(),
                    position: start,
                    len: end - start,
                });
            }
            if stop {
                break 'segments;
            }
        }
        Ok(out)
    }

    /// `(offset, timestamp)` of the first record with timestamp >= `ts` at or after the log
    /// start offset (Kafka's ListOffsets by timestamp), `None` when there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let (lso, leo, segs) = {
            let st = self.read_state();
            (
                st.log_start_offset,
                st.log_end_offset,
                st.segments_from(st.log_start_offset),
            )
        };
        for seg in segs {
            if seg.read().max_timestamp < ts {
                continue;
            }
            if let Some(found) = seg.find_by_timestamp(ts, lso, leo)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the first record holding the largest timestamp at or after
    /// the log start offset (ListOffsets `MAX_TIMESTAMP`, KIP-734), `None` when the log is
    /// empty.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let (lso, leo, segs) = {
            let st = self.read_state();
            (
                st.log_start_offset,
                st.log_end_offset,
                st.segments_from(st.log_start_offset),
            )
        };
        if lso >= leo {
            return Ok(None);
        }
        // Segments that start at or after the log start offset: their own max timestamp.
        let mut best: Option<(i64, Arc<Segment>)> = None;
        let mut partial: Option<Arc<Segment>> = None;
        for seg in segs {
            if seg.base_offset < lso {
                partial = Some(seg);
                continue;
            }
            if seg.size() == 0 {
                continue;
            }
            let m = seg.read().max_timestamp;
            if best.as_ref().is_none_or(|(b, _)| m > *b) {
                best = Some((m, seg));
            }
        }
        // The segment holding the log start offset: only records at or after it count.
        if let Some(seg) = partial {
            if best
                .as_ref()
                .is_none_or(|(b, _)| seg.read().max_timestamp >= *b)
            {
                if let Some(m) = max_timestamp_from(&seg, lso, leo)? {
                    if best.as_ref().is_none_or(|(b, _)| m >= *b) {
                        best = Some((m, seg));
                    }
                }
            }
        }
        match best {
            Some((m, seg)) => seg.find_by_timestamp(m, lso, leo),
            None => Ok(None),
        }
    }

    /// Removes every batch whose last offset is >= `offset` (whole batches, so the new log
    /// end offset is the base offset of the batch holding `offset`, or `offset` itself at a
    /// batch boundary). Truncating at or below the first segment's base offset empties the
    /// log and restarts it at `offset`. Nothing happens when `offset >= log end offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let _g = lock(&self.append_lock);
        let _f = lock(&self.flush_lock);
        self.check_live()?;
        let config = self.config();
        let (leo, first_base) = {
            let st = self.read_state();
            (
                st.log_end_offset,
                *st.segments.keys().next().expect("one segment"),
            )
        };
        if offset >= leo {
            return Ok(());
        }
        if offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: leo,
            });
        }
        let dir = self.dir();
        if offset <= first_base {
            let all: Vec<i64> = self.read_state().segments.keys().copied().collect();
            self.delete_segments(&all)?;
            let seg = Arc::new(Segment::create(
                &dir,
                offset,
                config.segment_index_bytes,
                self.clock_ms.load(Ordering::Acquire),
            )?);
            self.dir_dirty.store(true, Ordering::Release);
            let mut st = self.write_state();
            st.segments.insert(offset, seg);
            st.log_start_offset = offset;
            st.log_end_offset = offset;
            self.recovery_point.fetch_min(offset, Ordering::AcqRel);
            st.check(self.recovery_point());
            drop(st);
            self.load_producer_state(self.clock_ms.load(Ordering::Acquire))?;
            warn!(topic_partition = %self.tp, "truncated fully, restarting at offset {offset}");
            return Ok(());
        }
        let later: Vec<i64> = self
            .read_state()
            .segments
            .range(offset + 1..)
            .map(|(b, _)| *b)
            .collect();
        self.delete_segments(&later)?;
        let seg = self.read_state().active().clone();
        let next = seg.truncate_to(offset)?;
        seg.make_active(config.segment_index_bytes)?;
        let mut st = self.write_state();
        st.log_end_offset = next;
        st.log_start_offset = st.log_start_offset.min(next);
        self.recovery_point.fetch_min(next, Ordering::AcqRel);
        st.check(self.recovery_point());
        drop(st);
        self.load_producer_state(self.clock_ms.load(Ordering::Acquire))?;
        info!(topic_partition = %self.tp, "truncated to offset {offset}, log end offset now {next}");
        Ok(())
    }

    /// Advances the log start offset to `offset` (DeleteRecords) and deletes the segments that
    /// lie entirely below it. Returns the new log start offset (unchanged when `offset` is not
    /// above it). Errors [`LogError::OffsetOutOfRange`] when `offset` is above the log end
    /// offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _g = lock(&self.append_lock);
        self.check_live()?;
        let (lso, leo) = {
            let st = self.read_state();
            (st.log_start_offset, st.log_end_offset)
        };
        if offset > leo || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: lso,
                log_end_offset: leo,
            });
        }
        if offset <= lso {
            return Ok(lso);
        }
        self.write_state().log_start_offset = offset;
        self.delete_below_log_start()?;
        Ok(offset)
    }

    /// Deletes segments entirely below the log start offset, rolling first when that includes
    /// the non-empty active segment. Caller holds `append_lock`. Returns segments deleted.
    fn delete_below_log_start(&self) -> Result<usize, LogError> {
        let (lso, leo, active) = {
            let st = self.read_state();
            (st.log_start_offset, st.log_end_offset, st.active().clone())
        };
        if lso == leo && active.size() > 0 && active.base_offset < lso {
            let config = self.config();
            self.roll_at(leo, self.clock_ms.load(Ordering::Acquire), &config)?;
        }
        let doomed: Vec<i64> = {
            let st = self.read_state();
            let bases: Vec<i64> = st.segments.keys().copied().collect();
            bases
                .windows(2)
                .take_while(|w| w[1] <= lso)
                .map(|w| w[0])
                .collect()
        };
        self.delete_segments(&doomed)
    }

    /// Removes segments from the log and renames their files to `.deleted`, to be removed
    /// after `file.delete.delay.ms`. Caller holds `append_lock`.
    fn delete_segments(&self, bases: &[i64]) -> Result<usize, LogError> {
        if bases.is_empty() {
            return Ok(0);
        }
        let dir = self.dir();
        let delay = self.config().file_delete_delay_ms;
        let now = self.clock_ms.load(Ordering::Acquire);
        let mut n = 0;
        for b in bases {
            let seg = self.write_state().segments.remove(b);
            let Some(seg) = seg else { continue };
            let paths = seg.rename_to_deleted(&dir)?;
            n += 1;
            if delay <= 0 {
                remove_paths(&paths);
            } else {
                lock(&self.pending_deletes).push((now.saturating_add(delay), paths));
            }
        }
        self.dir_dirty.store(true, Ordering::Release);
        let mut st = self.write_state();
        if let Some(first) = st.segments.keys().next().copied() {
            if st.log_start_offset < first {
                st.log_start_offset = first.min(st.log_end_offset);
            }
        }
        Ok(n)
    }

    /// Rolls the active segment now (a no-op when it is empty).
    pub fn roll(&self, now_ms: i64) -> Result<(), LogError> {
        self.observe_clock(now_ms);
        let _g = lock(&self.append_lock);
        self.check_live()?;
        let config = self.config();
        let leo = self.log_end_offset();
        self.roll_at(leo, now_ms, &config)?;
        Ok(())
    }

    /// fsyncs everything written so far and advances the recovery point to the log end
    /// offset seen before the fsync.
    pub fn flush(&self) -> Result<(), LogError> {
        let _f = lock(&self.flush_lock);
        self.flush_locked()
    }

    /// Group commit: returns at once when the recovery point is already >= `offset`;
    /// otherwise one caller fsyncs everything appended so far, which covers the others
    /// waiting on the flush lock.
    pub fn flush_up_to(&self, offset: i64) -> Result<(), LogError> {
        if self.recovery_point() >= offset {
            return Ok(());
        }
        let _f = lock(&self.flush_lock);
        if self.recovery_point() >= offset {
            return Ok(());
        }
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<(), LogError> {
        let rp = self.recovery_point();
        let (leo, segs) = {
            let st = self.read_state();
            (st.log_end_offset, st.segments_from(rp))
        };
        let dir_dirty = self.dir_dirty.swap(false, Ordering::AcqRel);
        if leo > rp || dir_dirty {
            let n = segs.len();
            for (i, seg) in segs.iter().enumerate() {
                seg.sync(i + 1 < n)
                    .map_err(|e| LogError::io_context(e, format!("{} fsync", self.tp)))?;
            }
            if dir_dirty {
                if let Err(e) = sync_dir(&self.dir()) {
                    self.dir_dirty.store(true, Ordering::Release);
                    return Err(e.into());
                }
            }
        }
        self.recovery_point.fetch_max(leo, Ordering::AcqRel);
        self.last_flush_ms
            .store(self.clock_ms.load(Ordering::Acquire), Ordering::Release);
        Ok(())
    }

    /// Periodic work: time-based roll (`segment.ms`), flushing rolled segments and
    /// `flush.ms`, retention by time and size, removal of `.deleted` files past
    /// `file.delete.delay.ms`. Returns the number of segments deleted.
    pub fn maintenance(&self, now_ms: i64) -> Result<usize, LogError> {
        self.observe_clock(now_ms);
        if self.deleted.load(Ordering::Acquire) {
            return Ok(0);
        }
        let config = self.config();
        {
            let _g = lock(&self.append_lock);
            let active = self.read_state().active().clone();
            let roll = {
                let st = active.read();
                let since = match st.rolling_base_timestamp {
                    Some(t) if t >= 0 => t,
                    _ => st.created_ms,
                };
                st.size > 0
                    && now_ms.saturating_sub(since)
                        > config
                            .segment_ms
                            .saturating_sub(jitter_ms(active.base_offset, &config))
            };
            if roll {
                let leo = self.log_end_offset();
                self.roll_at(leo, now_ms, &config)?;
            }
        }
        // Kafka flushes a segment once it is rolled; do it here, off the append path.
        let active_base = self.read_state().active().base_offset;
        if self.recovery_point() < active_base {
            self.flush_up_to(active_base)?;
        }
        if now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Acquire)) >= config.flush_ms {
            self.flush()?;
        }
        let deleted = {
            let _g = lock(&self.append_lock);
            let mut n = self.delete_below_log_start()?;
            n += self.delete_by_retention(now_ms, &config)?;
            n
        };
        self.remove_due_files(now_ms);
        let expired = lock(&self.producers).expire(now_ms, config.producer_id_expiration_ms);
        if expired > 0 {
            info!(topic_partition = %self.tp, "expired {expired} idle producer ids");
        }
        producer_state::prune_snapshots(
            &self.dir(),
            self.log_start_offset(),
            crate::limits::PRODUCER_SNAPSHOTS_KEPT,
        )?;
        Ok(deleted)
    }

    /// `retention.ms` then `retention.bytes`, oldest segments first, never the active one.
    fn delete_by_retention(&self, now_ms: i64, config: &LogConfig) -> Result<usize, LogError> {
        let segs: Vec<Arc<Segment>> = self.read_state().segments.values().cloned().collect();
        let inactive = &segs[..segs.len() - 1];
        let mut doomed = Vec::new();
        if config.retention_ms >= 0 {
            for seg in inactive {
                if now_ms.saturating_sub(seg.largest_timestamp()) > config.retention_ms {
                    doomed.push(seg.base_offset);
                } else {
                    break;
                }
            }
        }
        if config.retention_bytes >= 0 {
            let total: u64 = segs.iter().map(|s| s.size()).sum();
            let mut diff = total as i64 - config.retention_bytes;
            for seg in inactive {
                let size = seg.size() as i64;
                if doomed.contains(&seg.base_offset) {
                    diff -= size;
                    continue;
                }
                if diff - size >= 0 {
                    diff -= size;
                    doomed.push(seg.base_offset);
                } else {
                    break;
                }
            }
        }
        let n = self.delete_segments(&doomed)?;
        if n > 0 {
            info!(topic_partition = %self.tp, "retention deleted {n} segments, log start offset now {}", self.log_start_offset());
        }
        Ok(n)
    }

    fn remove_due_files(&self, now_ms: i64) {
        let due: Vec<Vec<PathBuf>> = {
            let mut pending = lock(&self.pending_deletes);
            let (due, keep): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|(at, _)| *at <= now_ms);
            *pending = keep;
            due.into_iter().map(|(_, p)| p).collect()
        };
        for paths in due {
            remove_paths(&paths);
        }
    }

    /// The idempotent producers of this partition (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerInfo> {
        lock(&self.producers).producers()
    }

    /// Rebuilds producer state: the newest snapshot at or below the log end offset, then the
    /// batches after it (from the log start when there is none). Caller holds `append_lock`
    /// or has exclusive access.
    fn load_producer_state(&self, now_ms: i64) -> Result<(), LogError> {
        let dir = self.dir();
        let leo = self.log_end_offset();
        let (mut state, at) = producer_state::load_latest(&dir, leo, &self.tp)
            .map_err(|e| LogError::io_context(e, format!("{} producer snapshots", self.tp)))?;
        let mut offset = at.unwrap_or(i64::MIN).max(self.log_start_offset());
        while offset < leo {
            let data = self
                .read(
                    offset,
                    crate::limits::RECOVERY_READ_CHUNK_BYTES as u64,
                    leo,
                    true,
                )?
                .to_vec()?;
            if data.is_empty() {
                break;
            }
            for f in BatchFrames::new(&data) {
                let (_, h) = f.map_err(|e| LogError::InvalidBatch(e.to_string()))?;
                if h.last_offset() >= offset {
                    state.update(&h, now_ms);
                }
                offset = h.next_offset();
            }
        }
        *lock(&self.producers) = state;
        Ok(())
    }

    /// Flushes, writes the active segment's final time index entry and trims its indexes.
    pub fn close(&self) -> Result<(), LogError> {
        self.join_background();
        if self.deleted.load(Ordering::Acquire) {
            return Ok(());
        }
        let _g = lock(&self.append_lock);
        self.read_state().active().seal()?;
        let leo = self.log_end_offset();
        producer_state::write_snapshot(&self.dir(), leo, &lock(&self.producers))
            .map_err(|e| LogError::io_context(e, format!("{} producer snapshot {leo}", self.tp)))?;
        self.dir_dirty.store(true, Ordering::Release);
        let _f = lock(&self.flush_lock);
        self.flush_locked()?;
        // The sealed active segment's indexes are trimmed; fsync them too.
        self.read_state().active().sync(true)?;
        let pending: Vec<_> = lock(&self.pending_deletes).drain(..).collect();
        for (_, paths) in pending {
            remove_paths(&paths);
        }
        Ok(())
    }

    /// Waits for the background fsyncs of rolled segments.
    fn join_background(&self) {
        let threads: Vec<_> = lock(&self.background).drain(..).collect();
        for t in threads {
            // A panic there has already been reported by the thread itself.
            let _ = t.join();
        }
    }

    /// Marks the log deleted and renames its directory to `to`. Later calls fail with
    /// [`LogError::Deleted`].
    pub(crate) fn mark_deleted(&self, to: &Path) -> Result<(), LogError> {
        let _g = lock(&self.append_lock);
        let _f = lock(&self.flush_lock);
        self.deleted.store(true, Ordering::Release);
        let from = self.dir();
        fs::rename(&from, to).map_err(|e| {
            LogError::io_context(
                e,
                format!("renaming {} to {}", from.display(), to.display()),
            )
        })?;
        *self.dir.write().unwrap_or_else(|e| e.into_inner()) = to.to_path_buf();
        lock(&self.pending_deletes).clear();
        Ok(())
    }

    /// Test and tooling hook: each segment's base offset, `.log` size, and index entries
    /// (offset index as `(offset, position)`, time index as `(timestamp, offset)`).
    #[doc(hidden)]
    pub fn debug_segments(&self) -> Vec<SegmentInfo> {
        let segs: Vec<Arc<Segment>> = self.read_state().segments.values().cloned().collect();
        segs.iter()
            .map(|s| {
                let st = s.read();
                SegmentInfo {
                    base_offset: s.base_offset,
                    size: st.size,
                    next_offset: st.next_offset,
                    max_timestamp: st.max_timestamp,
                    offset_index: st
                        .offset_index
                        .entries()
                        .iter()
                        .map(|e| (s.base_offset + e.rel_offset as i64, e.position))
                        .collect(),
                    time_index: st
                        .time_index
                        .entries()
                        .iter()
                        .map(|e| (e.timestamp, s.base_offset + e.rel_offset as i64))
                        .collect(),
                }
            })
            .collect()
    }
}

/// What [`Log::debug_segments`] reports about one segment.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: i64,
    pub size: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
    pub offset_index: Vec<(i64, u32)>,
    pub time_index: Vec<(i64, i64)>,
}

/// Largest record timestamp at offsets in `[lso, leo)` within `seg`.
fn max_timestamp_from(seg: &Segment, lso: i64, leo: i64) -> Result<Option<i64>, LogError> {
    let size = seg.size();
    let Some((start, _)) = seg.translate_offset(lso, size)? else {
        return Ok(None);
    };
    let mut best: Option<i64> = None;
    for item in HeaderWalk::new(&seg.file, start, size) {
        let (pos, h) = item?;
        if h.base_offset >= leo {
            break;
        }
        if h.base_offset >= lso {
            if best.is_none_or(|b| h.max_timestamp > b) {
                best = Some(h.max_timestamp);
            }
        } else {
            seg.for_each_record(pos, &h, |off, ts| {
                if off >= lso && off < leo && best.is_none_or(|b| ts > b) {
                    best = Some(ts);
                }
                true
            })?;
        }
    }
    Ok(best)
}

fn remove_paths(paths: &[PathBuf]) {
    for p in paths {
        if let Err(e) = fs::remove_file(p) {
            if e.kind() != io::ErrorKind::NotFound {
                warn!("cannot remove {}: {e}", p.display());
            }
        }
    }
}

fn remove_segment_files(dir: &Path, base: i64) -> Result<(), LogError> {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        let p = dir.join(segment::file_name(base, suffix));
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(LogError::io_context(e, p.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Kafka's `LogLoader.removeTempFilesAndCollectSwapFiles` for a log without compaction:
/// removes `.deleted`, `.cleaned` and `.swap` files and index files without a `.log`; returns
/// the base offsets of the `.log` files, ascending.
fn remove_leftovers_and_list(dir: &Path, tp: &TopicPartition) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    let mut indexes: Vec<(i64, PathBuf)> = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| LogError::io_context(e, dir.display()))?;
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.ends_with(DELETED_SUFFIX) {
            info!(topic_partition = %tp, "removing leftover {name}");
            remove_paths(&[path]);
            continue;
        }
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(SWAP_SUFFIX) {
            warn!(topic_partition = %tp, "removing leftover {name} (no compaction in progress)");
            remove_paths(&[path]);
            continue;
        }
        match segment::parse_file_name(name) {
            Some((base, LOG_SUFFIX)) => logs.push(base),
            Some((base, INDEX_SUFFIX | TIME_INDEX_SUFFIX)) => indexes.push((base, path)),
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            warn!(topic_partition = %tp, "removing orphan index {}", path.display());
            remove_paths(&[path]);
        }
    }
    Ok(logs)
}
