//! Offset checkpoint files (Kafka's `OffsetCheckpointFile`): `recovery-point-offset-checkpoint`
//! and `log-start-offset-checkpoint` in each log dir root.
//!
//! Text format, UTF-8, `\n` line ends:
//!
//! ```text
//! 0                      <- version
//! 2                      <- number of entries
//! orders 0 1234          <- topic, partition, offset; separated by one space
//! orders 1 99
//! ```
//!
//! Crash semantics: written to `<name>.tmp`, fsynced, renamed over `<name>`, then the directory
//! is fsynced, so a reader sees the old file or the new one, never a mix. A file that does not
//! parse (wrong version, count mismatch, bad numbers) is reported as garbage; the caller warns
//! and treats it as absent, which makes every log in that dir recover from offset 0.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::limits;
use crate::TopicPartition;

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
const VERSION: i32 = 0;

/// Reads a checkpoint file. `Ok(None)` when it does not exist, `Err(reason)` for garbage.
pub(crate) fn read(path: &Path) -> Result<Option<HashMap<TopicPartition, i64>>, String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot stat: {e}")),
    };
    if meta.len() > limits::CHECKPOINT_FILE_BYTES_MAX {
        return Err(format!("{} bytes is too large", meta.len()));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    parse(&text).map(Some)
}

fn parse(text: &str) -> Result<HashMap<TopicPartition, i64>, String> {
    let mut lines = text.lines();
    let version: i32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("missing or bad version line")?;
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("missing or bad count line")?;
    let mut out = HashMap::new();
    for i in 0..count {
        let line = lines
            .next()
            .ok_or_else(|| format!("expected {count} entries, found {i}"))?;
        let mut parts = line.split(' ');
        let (Some(topic), Some(p), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed entry line {:?}", line));
        };
        let partition: i32 = p
            .parse()
            .map_err(|_| format!("bad partition in {line:?}"))?;
        let offset: i64 = o.parse().map_err(|_| format!("bad offset in {line:?}"))?;
        if topic.is_empty() || partition < 0 || offset < 0 {
            return Err(format!("bad entry {line:?}"));
        }
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(format!("more than {count} entries"));
    }
    Ok(out)
}

/// Writes a checkpoint file atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write(path: &Path, entries: &[(TopicPartition, i64)]) -> io::Result<()> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (tp, off) in entries {
        text.push_str(&format!("{} {} {off}\n", tp.topic, tp.partition));
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        crate::log::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(RECOVERY_POINT_FILE);
        assert_eq!(read(&p).unwrap(), None);
        let e = vec![
            (TopicPartition::new("a-b", 0), 5),
            (TopicPartition::new("c", 3), 0),
        ];
        write(&p, &e).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "0\n2\na-b 0 5\nc 3 0\n");
        let m = read(&p).unwrap().unwrap();
        assert_eq!(m[&TopicPartition::new("a-b", 0)], 5);
        for bad in [
            "",
            "1\n0\n",
            "0\n2\na 0 1\n",
            "0\n1\na x 1\n",
            "0\n1\na 0 1 2\n",
            "\u{0}\u{1}",
        ] {
            fs::write(&p, bad).unwrap();
            assert!(read(&p).is_err(), "{bad:?}");
        }
    }
}
