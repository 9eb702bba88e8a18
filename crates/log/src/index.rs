//! The two sparse per-segment indexes, `OffsetIndex` (`.index`) and `TimeIndex`
//! (`.timeindex`), as Kafka's `OffsetIndex.java` and `TimeIndex.java` define them.
//!
//! Byte layout (big-endian, fixed-size entries, no header, no checksum):
//!
//! | file         | entry bytes | fields                                                        |
//! |--------------|------------:|---------------------------------------------------------------|
//! | `.index`     | 8           | relative offset: u32 (offset - segment base), position: u32   |
//! | `.timeindex` | 12          | timestamp: i64 (ms), relative offset: u32                     |
//!
//! An `.index` entry `(r, p)` says: the batch starting at byte `p` of the `.log` file has last
//! offset `base + r`. Entries are added every `index.interval.bytes` of log, never for the
//! batch at position 0, so positions and offsets strictly increase and a zero entry never
//! occurs except as padding.
//!
//! A `.timeindex` entry `(t, r)` says: the largest timestamp among the batches up to the batch
//! whose last offset is `base + r` is `t`, and that batch is where the maximum was first
//! reached. Entries are added beside `.index` entries, only when `t` grows, plus one final
//! entry when the segment stops being active; timestamps strictly increase.
//!
//! Crash semantics: the active segment's index files are preallocated to
//! `segment.index.bytes` (zero-filled) and trimmed to their entries when the segment rolls or
//! the log closes. Entries are written with `pwrite`, in runs of up to
//! [`limits::INDEX_WRITE_BATCH_ENTRIES`] (and at trim and sync), not one syscall per entry, and
//! are not fsynced on their own: a crash may lose the unwritten tail, which recovery rebuilds
//! (the active segment is always at or past the recovery point). On load the
//! valid entries are the longest prefix that keeps the ordering rules above; everything after
//! it must be zero padding, positions must lie inside the `.log` file and offsets inside the
//! segment, else the index is corrupt and is rebuilt from the `.log` file (the index is never
//! the source of truth). After an unclean shutdown the indexes of every segment from the
//! recovery point on are rebuilt regardless.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::limits;

/// One fixed-size index entry.
pub(crate) trait Entry: Copy + PartialEq + std::fmt::Debug {
    /// Bytes per entry on disk.
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(b: &[u8]) -> Self;
    /// True when `self` may follow `prev` in a valid index.
    fn follows(&self, prev: &Self) -> bool;
    /// True when `self` may be the first entry.
    fn valid_first(&self) -> bool;
}

/// `.index` entry: the batch at `position` has last offset `base + rel_offset`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct OffsetEntry {
    pub rel_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.rel_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            rel_offset: u32::from_be_bytes(b[0..4].try_into().expect("4 bytes")),
            position: u32::from_be_bytes(b[4..8].try_into().expect("4 bytes")),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.rel_offset > prev.rel_offset && self.position > prev.position
    }
    fn valid_first(&self) -> bool {
        self.position > 0 && self.rel_offset <= i32::MAX as u32
    }
}

/// `.timeindex` entry: max timestamp `timestamp` first reached in the batch with last offset
/// `base + rel_offset`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub rel_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.rel_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        TimeEntry {
            timestamp: i64::from_be_bytes(b[0..8].try_into().expect("8 bytes")),
            rel_offset: u32::from_be_bytes(b[8..12].try_into().expect("4 bytes")),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.timestamp > prev.timestamp && self.rel_offset >= prev.rel_offset
    }
    fn valid_first(&self) -> bool {
        self.timestamp >= 0 && self.rel_offset <= i32::MAX as u32
    }
}

/// An index file kept in memory as a `Vec` of entries and written behind with `pwrite`.
pub(crate) struct Index<E: Entry> {
    file: File,
    entries: Vec<E>,
    /// Entries `[0, written)` are in the file; the rest are still to be written.
    written: usize,
    /// Entries the file has room for (its preallocated length / entry size).
    max_entries: usize,
}

/// Why an index file was found unusable on load.
#[derive(Debug)]
pub(crate) enum LoadProblem {
    Missing,
    Corrupt(String),
}

impl<E: Entry> Index<E> {
    /// Entries that fit in `index_bytes`, never fewer than [`limits::INDEX_ENTRIES_MIN`].
    pub fn entries_for(index_bytes: u64) -> usize {
        ((index_bytes.min(limits::INDEX_FILE_BYTES_MAX) / E::SIZE as u64) as usize)
            .max(limits::INDEX_ENTRIES_MIN)
    }

    /// Creates (or truncates) the file at `path`, empty and preallocated to `index_bytes`.
    pub fn create(path: &Path, index_bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let max_entries = Self::entries_for(index_bytes);
        file.set_len((max_entries * E::SIZE) as u64)?;
        Ok(Index {
            file,
            entries: Vec::new(),
            written: 0,
            max_entries,
        })
    }

    /// Opens and checks an existing index: the valid prefix of entries, zero padding after
    /// it, and `check` on every entry (e.g. positions inside the `.log` file). Returns the
    /// index or why it must be rebuilt.
    pub fn open(path: &Path, check: impl Fn(&E) -> bool) -> Result<Self, LoadProblem> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadProblem::Missing),
            Err(e) => return Err(LoadProblem::Corrupt(format!("cannot open: {e}"))),
        };
        let len = file
            .metadata()
            .map_err(|e| LoadProblem::Corrupt(format!("cannot stat: {e}")))?
            .len();
        if len > limits::INDEX_FILE_BYTES_MAX {
            return Err(LoadProblem::Corrupt(format!("{len} bytes is too large")));
        }
        if len % E::SIZE as u64 != 0 {
            return Err(LoadProblem::Corrupt(format!(
                "length {len} is not a multiple of the {}-byte entry",
                E::SIZE
            )));
        }
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| LoadProblem::Corrupt(format!("cannot read: {e}")))?;
        let entries = parse_entries::<E>(&buf, &check).map_err(LoadProblem::Corrupt)?;
        let max_entries = (len as usize / E::SIZE).max(entries.len());
        Ok(Index {
            file,
            written: entries.len(),
            entries,
            max_entries,
        })
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Entries left before the index is full.
    pub fn room(&self) -> usize {
        self.max_entries.saturating_sub(self.entries.len())
    }

    /// Appends an entry (the caller keeps the ordering rule; asserted). Does nothing when full.
    pub fn append(&mut self, e: E) -> io::Result<()> {
        if let Some(prev) = self.entries.last() {
            assert!(
                e.follows(prev),
                "index entry {e:?} does not follow {prev:?}"
            );
        }
        if self.is_full() {
            return Ok(());
        }
        self.entries.push(e);
        if self.entries.len() - self.written >= limits::INDEX_WRITE_BATCH_ENTRIES {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes the entries not yet in the file, in one `pwrite`.
    pub fn write_pending(&mut self) -> io::Result<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut buf = vec![0u8; (self.entries.len() - self.written) * E::SIZE];
        for (chunk, e) in buf
            .chunks_exact_mut(E::SIZE)
            .zip(&self.entries[self.written..])
        {
            e.encode(chunk);
        }
        self.file
            .write_all_at(&buf, (self.written * E::SIZE) as u64)?;
        self.written = self.entries.len();
        Ok(())
    }

    /// The last entry for which `le(entry)` holds, entries being sorted so that `le` is true
    /// for a prefix.
    pub fn floor(&self, le: impl Fn(&E) -> bool) -> Option<E> {
        let n = self.entries.partition_point(le);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drops the entries for which `keep` is false (a suffix) and zeroes them on disk, so a
    /// crash cannot resurrect them.
    pub fn truncate(&mut self, keep: impl Fn(&E) -> bool) -> io::Result<()> {
        let n = self.entries.partition_point(keep);
        if n == self.entries.len() {
            return Ok(());
        }
        if n < self.written {
            let zeros = vec![0u8; (self.written - n) * E::SIZE];
            self.file.write_all_at(&zeros, (n * E::SIZE) as u64)?;
            self.written = n;
        }
        self.entries.truncate(n);
        Ok(())
    }

    /// Removes every entry and zeroes the file.
    pub fn clear(&mut self) -> io::Result<()> {
        self.truncate(|_| false)
    }

    /// Shrinks the file to exactly its entries (segment rolled or log closed).
    pub fn trim(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.file.set_len((self.entries.len() * E::SIZE) as u64)?;
        self.max_entries = self.entries.len();
        Ok(())
    }

    /// Grows (or shrinks) the preallocated space to `index_bytes`, for the active segment.
    pub fn resize(&mut self, index_bytes: u64) -> io::Result<()> {
        let max_entries = Self::entries_for(index_bytes).max(self.entries.len());
        self.file.set_len((max_entries * E::SIZE) as u64)?;
        self.max_entries = max_entries;
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.file.sync_all()
    }
}

/// Parses the valid prefix of an index file and requires zero padding after it.
fn parse_entries<E: Entry>(buf: &[u8], check: &impl Fn(&E) -> bool) -> Result<Vec<E>, String> {
    let mut entries: Vec<E> = Vec::new();
    let mut chunks = buf.chunks_exact(E::SIZE);
    for chunk in chunks.by_ref() {
        let e = E::decode(chunk);
        let ok = match entries.last() {
            None => e.valid_first(),
            Some(prev) => e.follows(prev),
        };
        if !ok {
            if chunk.iter().all(|&b| b == 0) {
                break;
            }
            return Err(format!(
                "entry {} ({e:?}) breaks the ordering rule",
                entries.len()
            ));
        }
        if !check(&e) {
            return Err(format!(
                "entry {} ({e:?}) points outside the segment",
                entries.len()
            ));
        }
        entries.push(e);
    }
    if chunks.any(|c| c.iter().any(|&b| b != 0)) {
        return Err(format!(
            "non-zero bytes after the {} valid entries",
            entries.len()
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_prefix_then_zero_padding() {
        let mut buf = vec![0u8; 8 * 5];
        OffsetEntry {
            rel_offset: 3,
            position: 100,
        }
        .encode(&mut buf[0..8]);
        OffsetEntry {
            rel_offset: 9,
            position: 300,
        }
        .encode(&mut buf[8..16]);
        let e = parse_entries::<OffsetEntry>(&buf, &|_| true).unwrap();
        assert_eq!(e.len(), 2);
        buf[30] = 7;
        assert!(parse_entries::<OffsetEntry>(&buf, &|_| true).is_err());
    }

    #[test]
    fn time_entries_must_grow() {
        let mut buf = vec![0u8; 24];
        TimeEntry {
            timestamp: 50,
            rel_offset: 1,
        }
        .encode(&mut buf[0..12]);
        TimeEntry {
            timestamp: 40,
            rel_offset: 2,
        }
        .encode(&mut buf[12..24]);
        assert!(parse_entries::<TimeEntry>(&buf, &|_| true).is_err());
    }
}
