//! `LogSegment`: one `.log` file plus its `.index` and `.timeindex` (Kafka's `LogSegment.java`).
//!
//! File naming: the segment's base offset (the first offset it may hold) as 20 zero-padded
//! decimal digits, then the suffix: `00000000000000001234.log`.
//!
//! `.log` layout: record batches (magic v2), concatenated, byte for byte as produced (with the
//! broker-assigned base offset). Nothing else: no header, no padding, no trailer.
//!
//! Crash semantics of `.log`: bytes are written with `pwrite` at the end and become visible to
//! readers only after the whole write returned. Without fsync a crash may lose any suffix or
//! leave a torn or zero-filled tail; recovery (see [`Segment::recover`]) keeps the longest prefix
//! of batches with a sane length, magic 2, a matching CRC32C and increasing offsets, and
//! truncates the file there. Indexes are derived data, see [`crate::index`].

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use strom_protocol::batch::{self, BatchHeader, BATCH_HEADER_BYTES, LOG_OVERHEAD, MAGIC_V2};
use strom_protocol::records;

use crate::index::{Index, LoadProblem, OffsetEntry, TimeEntry};
use crate::{limits, LogError};

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// The file name of a segment file: `<20-digit base offset><suffix>`.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// Parses `<20 digits><suffix>` back into the base offset.
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, &str)> {
    if name.len() < 20 || !name.is_char_boundary(20) {
        return None;
    }
    let (digits, suffix) = name.split_at(20);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, suffix))
}

/// Mutable state of a segment, guarded by the segment's lock.
pub(crate) struct SegmentState {
    /// Bytes of whole batches in the `.log` file visible to readers.
    pub size: u64,
    /// Offset after the last batch (the base offset when empty).
    pub next_offset: i64,
    pub offset_index: Index<OffsetEntry>,
    pub time_index: Index<TimeEntry>,
    /// Largest batch max timestamp seen, -1 when none.
    pub max_timestamp: i64,
    /// Last offset of the batch where `max_timestamp` was first reached.
    pub offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch (what `segment.ms` is measured from), if any.
    pub rolling_base_timestamp: Option<i64>,
    /// The caller's clock when the segment was created or loaded.
    pub created_ms: i64,
    bytes_since_last_index_entry: u64,
}

pub(crate) struct Segment {
    pub base_offset: i64,
    pub file: Arc<File>,
    state: RwLock<SegmentState>,
}

/// What recovery found in one segment.
pub(crate) struct Recovered {
    /// Position and reason of the first bad batch, when the file was truncated.
    pub truncated: Option<(u64, u64, String)>,
}

fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Reads the header of the batch at `pos`, checking only what framing needs: the header fits,
/// the length is at least a header and the batch ends within `end`, magic is 2.
pub(crate) fn read_header(file: &File, pos: u64, end: u64) -> io::Result<BatchHeader> {
    if end.saturating_sub(pos) < BATCH_HEADER_BYTES as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} bytes left at position {pos}, fewer than a batch header",
                end.saturating_sub(pos)
            ),
        ));
    }
    let mut buf = [0u8; BATCH_HEADER_BYTES];
    file.read_exact_at(&mut buf, pos)?;
    let h = BatchHeader::parse(&buf).expect("61 bytes");
    if (h.batch_length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD) as i64
        || pos + h.total_bytes() as u64 > end
        || h.magic != MAGIC_V2
        || h.last_offset_delta < 0
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "bad batch header at position {pos}: length {}, magic {}, last offset delta {}",
                h.batch_length, h.magic, h.last_offset_delta
            ),
        ));
    }
    Ok(h)
}

/// Walks batch headers from `pos` to `end`.
pub(crate) struct HeaderWalk<'a> {
    file: &'a File,
    pub pos: u64,
    end: u64,
}

impl<'a> HeaderWalk<'a> {
    pub fn new(file: &'a File, pos: u64, end: u64) -> Self {
        HeaderWalk { file, pos, end }
    }
}

impl Iterator for HeaderWalk<'_> {
    type Item = io::Result<(u64, BatchHeader)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        match read_header(self.file, self.pos, self.end) {
            Ok(h) => {
                let at = self.pos;
                self.pos += h.total_bytes() as u64;
                Some(Ok((at, h)))
            }
            Err(e) => {
                self.pos = self.end;
                Some(Err(e))
            }
        }
    }
}

impl SegmentState {
    /// Time index needs one slot kept free for the final entry written at roll.
    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.room() <= 1
    }

    /// Accounts one batch at `pos` (already in the file): max timestamp, index entries.
    fn on_batch(&mut self, base: i64, pos: u64, h: &BatchHeader, interval: u64) -> io::Result<()> {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.rolling_base_timestamp.is_none() && pos == 0 {
            self.rolling_base_timestamp = Some(h.max_timestamp);
        }
        if self.bytes_since_last_index_entry > interval && !self.indexes_full() {
            let rel = (h.last_offset() - base) as u32;
            self.offset_index.append(OffsetEntry {
                rel_offset: rel,
                position: pos as u32,
            })?;
            self.maybe_append_time_entry(base)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += h.total_bytes() as u64;
        self.next_offset = h.next_offset();
        Ok(())
    }

    fn maybe_append_time_entry(&mut self, base: i64) -> io::Result<()> {
        let grows = match self.time_index.last() {
            Some(last) => self.max_timestamp > last.timestamp,
            None => self.max_timestamp >= 0,
        };
        if grows {
            self.time_index.append(TimeEntry {
                timestamp: self.max_timestamp,
                rel_offset: (self.offset_of_max_timestamp - base) as u32,
            })?;
        }
        Ok(())
    }

    /// Position to start scanning for `offset`: the floor index entry's position, or 0.
    pub fn lookup_position(&self, base: i64, offset: i64) -> u64 {
        let rel = offset.saturating_sub(base).clamp(0, u32::MAX as i64) as u32;
        self.offset_index
            .floor(|e| e.rel_offset <= rel)
            .map_or(0, |e| e.position as u64)
    }
}

impl Segment {
    /// Creates a new empty segment (truncating leftovers of the same name).
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_bytes: u64,
        now_ms: i64,
    ) -> io::Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(file_name(base_offset, LOG_SUFFIX)))?;
        let offset_index =
            Index::create(&dir.join(file_name(base_offset, INDEX_SUFFIX)), index_bytes)?;
        let time_index = Index::create(
            &dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
            index_bytes,
        )?;
        Ok(Segment {
            base_offset,
            file: Arc::new(file),
            state: RwLock::new(SegmentState {
                size: 0,
                next_offset: base_offset,
                offset_index,
                time_index,
                max_timestamp: -1,
                offset_of_max_timestamp: base_offset,
                rolling_base_timestamp: None,
                created_ms: now_ms,
                bytes_since_last_index_entry: 0,
            }),
        })
    }

    /// Opens an existing segment. With `for_recovery` the indexes are recreated empty and the
    /// caller must [`Segment::recover`] it. Otherwise nothing is scanned (the clean-shutdown
    /// path): indexes are loaded and sanity-checked, and the tail after the last index entry is walked (headers
    /// only) to find the next offset and largest timestamp. Returns the segment and, when an
    /// index is missing or corrupt or the tail does not parse, why it must be recovered.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_bytes: u64,
        now_ms: i64,
        for_recovery: bool,
    ) -> io::Result<(Segment, Option<String>)> {
        let file = open_rw(&dir.join(file_name(base_offset, LOG_SUFFIX)), false)?;
        let size = file.metadata()?.len();
        let index_path = dir.join(file_name(base_offset, INDEX_SUFFIX));
        let time_path = dir.join(file_name(base_offset, TIME_INDEX_SUFFIX));
        if for_recovery {
            // The indexes are about to be rebuilt: do not read (possibly preallocated,
            // megabytes of zeros) files that would be thrown away.
            let seg = Segment {
                base_offset,
                file: Arc::new(file),
                state: RwLock::new(SegmentState {
                    size,
                    next_offset: base_offset,
                    offset_index: Index::create(&index_path, index_bytes)?,
                    time_index: Index::create(&time_path, index_bytes)?,
                    max_timestamp: -1,
                    offset_of_max_timestamp: base_offset,
                    rolling_base_timestamp: None,
                    created_ms: now_ms,
                    bytes_since_last_index_entry: 0,
                }),
            };
            return Ok((seg, None));
        }
        let mut problem = None;
        let offset_index =
            match Index::<OffsetEntry>::open(&index_path, |e| (e.position as u64) < size) {
                Ok(i) => i,
                Err(p) => {
                    problem = Some(format!(
                        "offset index {}: {}",
                        index_path.display(),
                        describe(&p)
                    ));
                    Index::create(&index_path, index_bytes)?
                }
            };
        let time_index = match Index::<TimeEntry>::open(&time_path, |_| true) {
            Ok(i) => i,
            Err(p) => {
                problem.get_or_insert(format!(
                    "time index {}: {}",
                    time_path.display(),
                    describe(&p)
                ));
                Index::create(&time_path, index_bytes)?
            }
        };
        let (max_timestamp, offset_of_max_timestamp) = match time_index.last() {
            Some(e) => (e.timestamp, base_offset + e.rel_offset as i64),
            None => (-1, base_offset),
        };
        let seg = Segment {
            base_offset,
            file: Arc::new(file),
            state: RwLock::new(SegmentState {
                size,
                next_offset: base_offset,
                offset_index,
                time_index,
                max_timestamp,
                offset_of_max_timestamp,
                rolling_base_timestamp: None,
                created_ms: now_ms,
                bytes_since_last_index_entry: 0,
            }),
        };
        if problem.is_none() {
            if size > (limits::SEGMENT_BYTES_MAX) {
                problem = Some(format!("{size} bytes is larger than a segment may be"));
            } else if let Err(e) = seg.load_tail() {
                problem = Some(format!(
                    "tail of {}: {e}",
                    file_name(base_offset, LOG_SUFFIX)
                ));
            }
        }
        Ok((seg, problem))
    }

    /// Walks the batches after the last offset-index entry, setting next offset, max
    /// timestamp, bytes since the last entry and the rolling base timestamp; checks that the
    /// last index entry and every time index entry agree with the file.
    fn load_tail(&self) -> io::Result<()> {
        let mut st = self.write();
        let base = self.base_offset;
        let size = st.size;
        let last_entry = st.offset_index.last();
        let start = last_entry.map_or(0, |e| e.position as u64);
        let mut next = base;
        for (i, item) in HeaderWalk::new(&self.file, start, size).enumerate() {
            let (pos, h) = item?;
            if i == 0 {
                if let Some(e) = last_entry {
                    if h.last_offset() != base + e.rel_offset as i64 {
                        return Err(invalid(format!(
                            "last index entry says offset {} at position {pos}, the batch there ends at {}",
                            base + e.rel_offset as i64,
                            h.last_offset()
                        )));
                    }
                }
            }
            if h.base_offset < next || h.last_offset() - base > i32::MAX as i64 {
                return Err(invalid(format!(
                    "batch at position {pos} has offsets {}..={} out of order",
                    h.base_offset,
                    h.last_offset()
                )));
            }
            next = h.next_offset();
            if h.max_timestamp > st.max_timestamp {
                st.max_timestamp = h.max_timestamp;
                st.offset_of_max_timestamp = h.last_offset();
            }
        }
        if let Some(e) = st.time_index.last() {
            if base + e.rel_offset as i64 >= next {
                return Err(invalid(format!(
                    "time index entry for offset {} is past the end {next}",
                    base + e.rel_offset as i64
                )));
            }
        }
        st.next_offset = next;
        st.bytes_since_last_index_entry = size - start;
        if size > 0 {
            st.rolling_base_timestamp = Some(read_header(&self.file, 0, size)?.max_timestamp);
        }
        Ok(())
    }

    /// Scans the whole `.log` file, validating every batch (length, magic, CRC32C, offsets
    /// increasing from the base offset), rebuilds both indexes from scratch and truncates the
    /// file at the first invalid batch. The indexes are trimmed afterwards.
    pub fn recover(&self, interval: u64, index_bytes: u64) -> io::Result<Recovered> {
        let base = self.base_offset;
        let mut st = self.write();
        st.offset_index.resize(index_bytes)?;
        st.time_index.resize(index_bytes)?;
        st.offset_index.clear()?;
        st.time_index.clear()?;
        st.max_timestamp = -1;
        st.offset_of_max_timestamp = base;
        st.rolling_base_timestamp = None;
        st.bytes_since_last_index_entry = 0;
        st.next_offset = base;
        let file_len = self.file.metadata()?.len();
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_start = 0u64;
        let mut pos = 0u64;
        let mut bad: Option<String> = None;
        while pos < file_len {
            // Make sure `want` bytes at `pos` are in `buf`.
            let ensure =
                |pos: u64, want: usize, buf: &mut Vec<u8>, buf_start: &mut u64| -> io::Result<()> {
                    if pos >= *buf_start && pos + want as u64 <= *buf_start + buf.len() as u64 {
                        return Ok(());
                    }
                    let n = (want.max(limits::RECOVERY_READ_CHUNK_BYTES) as u64).min(file_len - pos)
                        as usize;
                    buf.resize(n, 0);
                    self.file.read_exact_at(buf, pos)?;
                    *buf_start = pos;
                    Ok(())
                };
            let left = file_len - pos;
            if left < BATCH_HEADER_BYTES as u64 {
                bad = Some(format!(
                    "{left} bytes at the end, fewer than a batch header"
                ));
                break;
            }
            ensure(pos, BATCH_HEADER_BYTES, &mut buf, &mut buf_start)?;
            let at = (pos - buf_start) as usize;
            let h = BatchHeader::parse(&buf[at..]).expect("61 bytes");
            if (h.batch_length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD) as i64 {
                bad = Some(format!(
                    "batch length {} is smaller than a header",
                    h.batch_length
                ));
                break;
            }
            let total = h.total_bytes() as u64;
            if total > left {
                bad = Some(format!(
                    "batch length {} runs past the end of the file ({left} bytes left)",
                    h.batch_length
                ));
                break;
            }
            ensure(pos, total as usize, &mut buf, &mut buf_start)?;
            let at = (pos - buf_start) as usize;
            if let Err(e) = batch::validate(&buf[at..at + total as usize]) {
                bad = Some(e.to_string());
                break;
            }
            if h.base_offset < st.next_offset || h.last_offset() - base > i32::MAX as i64 {
                bad = Some(format!(
                    "batch offsets {}..={} do not follow {} in a segment based at {base}",
                    h.base_offset,
                    h.last_offset(),
                    st.next_offset
                ));
                break;
            }
            if pos + total > limits::SEGMENT_BYTES_MAX {
                bad = Some("segment grows past the largest segment size".into());
                break;
            }
            st.on_batch(base, pos, &h, interval)?;
            pos += total;
        }
        st.size = pos;
        let truncated = match bad {
            Some(reason) => {
                self.file.set_len(pos)?;
                Some((pos, file_len - pos, reason))
            }
            None => None,
        };
        st.maybe_append_time_entry(base)?;
        st.offset_index.trim()?;
        st.time_index.trim()?;
        Ok(Recovered { truncated })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, SegmentState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, SegmentState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn size(&self) -> u64 {
        self.read().size
    }

    /// Appends `data` (whole batches, framed as `frames`) at the end of the file, then makes
    /// it visible. The caller serializes appends.
    pub fn append(
        &self,
        data: &[u8],
        frames: &[(std::ops::Range<usize>, BatchHeader)],
        interval: u64,
    ) -> io::Result<()> {
        let pos = self.size();
        if let Err(e) = self.file.write_all_at(data, pos) {
            let _ = self.file.set_len(pos);
            return Err(e);
        }
        let mut st = self.write();
        for (range, h) in frames {
            st.on_batch(self.base_offset, pos + range.start as u64, h, interval)?;
        }
        st.size = pos + data.len() as u64;
        Ok(())
    }

    /// Position and header of the first batch whose last offset is >= `offset`, looking no
    /// further than `end` bytes.
    pub fn translate_offset(
        &self,
        offset: i64,
        end: u64,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        let start = self.read().lookup_position(self.base_offset, offset);
        for item in HeaderWalk::new(&self.file, start, end) {
            let (pos, h) = item?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
        }
        Ok(None)
    }

    /// Removes every batch whose last offset is >= `offset`; returns the new next offset.
    pub fn truncate_to(&self, offset: i64) -> io::Result<i64> {
        let size = self.size();
        let Some((pos, first_removed)) = self.translate_offset(offset, size)? else {
            return Ok(self.read().next_offset);
        };
        self.file.set_len(pos)?;
        let base = self.base_offset;
        {
            let mut st = self.write();
            st.size = pos;
            st.offset_index.truncate(|e| (e.position as u64) < pos)?;
            // Surviving batches end before the first removed batch's base offset.
            st.time_index
                .truncate(|e| base + (e.rel_offset as i64) < first_removed.base_offset)?;
            let (m, o) = match st.time_index.last() {
                Some(e) => (e.timestamp, base + e.rel_offset as i64),
                None => (-1, base),
            };
            st.max_timestamp = m;
            st.offset_of_max_timestamp = o;
            st.rolling_base_timestamp = None;
        }
        self.load_tail()?;
        Ok(self.read().next_offset)
    }

    /// The segment stops being active: write the final time index entry and trim both
    /// indexes to their entries.
    pub fn seal(&self) -> io::Result<()> {
        let mut st = self.write();
        st.maybe_append_time_entry(self.base_offset)?;
        st.offset_index.trim()?;
        st.time_index.trim()
    }

    /// Grows the indexes back to `index_bytes` so the segment can take appends again.
    pub fn make_active(&self, index_bytes: u64) -> io::Result<()> {
        let mut st = self.write();
        st.offset_index.resize(index_bytes)?;
        st.time_index.resize(index_bytes)
    }

    /// fsync of the `.log` data; with `indexes` also the two index files. Index entries not
    /// yet written are written either way.
    pub fn sync(&self, indexes: bool) -> io::Result<()> {
        self.file.sync_data()?;
        let mut st = self.write();
        if indexes {
            st.offset_index.sync()?;
            st.time_index.sync()?;
        } else {
            st.offset_index.write_pending()?;
            st.time_index.write_pending()?;
        }
        Ok(())
    }

    /// Renames the three files to `<name>.deleted`; returns the new paths.
    pub fn rename_to_deleted(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let from = dir.join(file_name(self.base_offset, suffix));
            let to = dir.join(format!(
                "{}{DELETED_SUFFIX}",
                file_name(self.base_offset, suffix)
            ));
            match std::fs::rename(&from, &to) {
                Ok(()) => out.push(to),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes the three files outright (an empty segment being replaced).
    pub fn remove_files(&self, dir: &Path) -> io::Result<()> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            match std::fs::remove_file(dir.join(file_name(self.base_offset, suffix))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Largest timestamp for retention: the max batch timestamp, else the file's mtime.
    pub fn largest_timestamp(&self) -> i64 {
        let m = self.read().max_timestamp;
        if m >= 0 {
            return m;
        }
        self.file
            .metadata()
            .and_then(|md| md.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Reads one whole batch at `pos`.
    pub fn read_batch(&self, pos: u64, h: &BatchHeader) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; h.total_bytes()];
        self.file.read_exact_at(&mut buf, pos)?;
        Ok(buf)
    }

    /// First record with offset >= `start_offset`, offset < `end_offset` and timestamp >= `ts`:
    /// time index to find where to start, then batches, then records within the first batch
    /// whose max timestamp reaches `ts`.
    pub fn find_by_timestamp(
        &self,
        ts: i64,
        start_offset: i64,
        end_offset: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        let (pos, size) = {
            let st = self.read();
            let from = st
                .time_index
                .floor(|e| e.timestamp <= ts)
                .map_or(self.base_offset, |e| self.base_offset + e.rel_offset as i64);
            (
                st.lookup_position(self.base_offset, from.max(start_offset)),
                st.size,
            )
        };
        for item in HeaderWalk::new(&self.file, pos, size) {
            let (pos, h) = item?;
            if h.base_offset >= end_offset {
                break;
            }
            if h.last_offset() < start_offset || h.max_timestamp < ts {
                continue;
            }
            if let Some(found) =
                self.first_record_at_or_after(pos, &h, ts, start_offset, end_offset)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Within one batch, the first record (offset in `[start, end)`) whose timestamp is >= `ts`.
    fn first_record_at_or_after(
        &self,
        pos: u64,
        h: &BatchHeader,
        ts: i64,
        start: i64,
        end: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if h.is_log_append_time() {
            let off = h.base_offset.max(start);
            return Ok(
                (h.max_timestamp >= ts && off <= h.last_offset() && off < end)
                    .then_some((off, h.max_timestamp)),
            );
        }
        let mut found = None;
        self.for_each_record(pos, h, |off, rts| {
            if off >= start && off < end && rts >= ts {
                found = Some((off, rts));
                return false;
            }
            true
        })?;
        Ok(found)
    }

    /// Calls `f(offset, timestamp)` for each record of the batch until it returns false.
    pub fn for_each_record(
        &self,
        pos: u64,
        h: &BatchHeader,
        mut f: impl FnMut(i64, i64) -> bool,
    ) -> Result<(), LogError> {
        let corrupt = |reason: String| LogError::CorruptRecords {
            offset: h.base_offset,
            reason,
        };
        if h.is_log_append_time() {
            for i in 0..h.records_count.max(0) as i64 {
                if !f(h.base_offset + i, h.max_timestamp) {
                    break;
                }
            }
            return Ok(());
        }
        let bytes = self.read_batch(pos, h)?;
        let codec = h
            .compression()
            .ok_or_else(|| corrupt("unknown compression codec".into()))?;
        let payload = records::decompress(
            codec,
            &bytes[BATCH_HEADER_BYTES..],
            limits::DECOMPRESSED_BATCH_BYTES_MAX,
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let recs =
            records::decode_all(&payload, h.records_count).map_err(|e| corrupt(e.to_string()))?;
        for r in recs {
            if !f(
                h.base_offset + r.offset_delta as i64,
                h.base_timestamp.wrapping_add(r.timestamp_delta),
            ) {
                break;
            }
        }
        Ok(())
    }
}

fn describe(p: &LoadProblem) -> String {
    match p {
        LoadProblem::Missing => "missing".into(),
        LoadProblem::Corrupt(s) => s.clone(),
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}
