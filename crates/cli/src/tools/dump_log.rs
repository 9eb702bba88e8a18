//! `strom dump-log`: Kafka's `kafka-dump-log.sh` (DumpLogSegments) for `.log`, `.index` and
//! `.timeindex` files, read directly from disk: batch lines, record lines
//! (`--deep-iteration`), payloads (`--print-data-log`), index entries, and index verification
//! against the log (`--verify-index-only`, `--index-sanity-check`), in Kafka's output lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strom_client::records::batch_records;
use strom_protocol::batch::{self, BatchFrames, BatchHeader};

use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "This tool helps to parse a log file and dump its contents to the console, useful for debugging a seemingly corrupt log segment.";

const OPTS: &[Opt] = &[
    arg("files", "String: file1, file2, ...", "REQUIRED: The comma separated list of data and index log files to be dumped."),
    flag("print-data-log", "If set, printing the messages content when dumping data logs. Automatically set if any decoder option is specified."),
    flag("deep-iteration", "If set, uses deep instead of shallow iteration. Automatically set if print-data-log is enabled."),
    flag("verify-index-only", "If set, just verify the index log without printing its content."),
    flag("index-sanity-check", "If set, just checks the index sanity without printing its content."),
    flag("skip-record-metadata", "Whether to skip printing metadata for each record."),
    arg("max-bytes", "Integer: size", "Limit the amount of total batches read in bytes avoiding reading the whole .log file(s) (default: 2147483647)."),
    arg("max-message-size", "Integer: size", "Size of largest message (default: 5242880)."),
    arg("key-decoder-class", "String", "Accepted for compatibility; keys are printed as UTF-8 strings."),
    arg("value-decoder-class", "String", "Accepted for compatibility; values are printed as UTF-8 strings."),
];

const EXAMPLES: &str = "\
  strom dump-log --files data/orders-0/00000000000000000000.log
  strom dump-log --files data/orders-0/00000000000000000000.log --print-data-log
  strom dump-log --files data/orders-0/00000000000000000000.index,data/orders-0/00000000000000000000.timeindex --verify-index-only
";

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("dump-log", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let files = p.required("files")?;
    let mut errors = Errors::default();
    for f in files.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let path = PathBuf::from(f);
        println!("Dumping {}", path.display());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let suffix = name.rfind('.').map_or("", |i| &name[i..]);
        match suffix {
            ".log" => dump_log(&path, &p, &mut errors)?,
            ".index" => dump_index(&path, &p, &mut errors)?,
            ".timeindex" => dump_time_index(&path, &p, &mut errors)?,
            _ => eprintln!("Ignoring unknown file {}", path.display()),
        }
    }
    errors.print();
    Ok(())
}

#[derive(Default)]
struct Errors {
    index_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    time_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    out_of_order: BTreeMap<String, Vec<(i64, i64)>>,
    shallow_not_found: BTreeMap<String, Vec<(i64, i64)>>,
    non_consecutive: BTreeMap<String, Vec<(i64, i64)>>,
}

impl Errors {
    fn print(&self) {
        for (f, m) in &self.index_mismatches {
            eprintln!("Mismatches in :{f}");
            for (i, l) in m {
                eprintln!("  Index offset: {i}, log offset: {l}");
            }
        }
        for (f, m) in &self.time_mismatches {
            eprintln!("Found timestamp mismatch in :{f}");
            for (i, l) in m {
                eprintln!("  Index timestamp: {i}, log timestamp: {l}");
            }
        }
        for (f, m) in &self.out_of_order {
            eprintln!("Found out of order timestamp in :{f}");
            for (i, l) in m {
                eprintln!("  Index timestamp: {i}, Previously indexed timestamp: {l}");
            }
        }
        for m in self.shallow_not_found.values() {
            eprintln!("The following indexed offsets are not found in the log.");
            for (i, l) in m {
                eprintln!("Indexed offset: {i}, found log offset: {l}");
            }
        }
        for (f, m) in &self.non_consecutive {
            eprintln!("Non-consecutive offsets in {f}");
            for (a, b) in m {
                eprintln!("  {a} is followed by {b}");
            }
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {e}; check the --files path",
            path.display()
        )
    })
}

fn base_offset(path: &Path) -> anyhow::Result<i64> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .unwrap_or("");
    stem.parse::<i64>().map_err(|_| {
        anyhow::anyhow!(
            "{} is not named <base offset>.<suffix> as a segment file is",
            path.display()
        )
    })
}

fn sibling(path: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let base = base_offset(path)?;
    Ok(path.with_file_name(format!("{base:020}{suffix}")))
}

fn timestamp_type(h: &BatchHeader) -> &'static str {
    if h.magic < 1 {
        "NoTimestampType"
    } else if h.is_log_append_time() {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

/// Kafka's batch line (`printBatchLevel`) for a v2 batch at byte `position`.
pub fn batch_line(h: &BatchHeader, position: u64, bytes: &[u8]) -> String {
    let codec = h.compression().map_or("unknown", |c| c.name());
    let valid = batch::compute_crc(bytes) == h.crc;
    let delete_horizon = if h.has_delete_horizon() {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {delete_horizon} position: {position} {}: {} size: {} magic: {} compresscodec: {codec} crc: {} isvalid: {valid}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        h.last_sequence(),
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        timestamp_type(h),
        h.max_timestamp,
        h.total_bytes(),
        h.magic,
        h.crc,
    )
}

fn dump_log(path: &Path, p: &Parsed, errors: &mut Errors) -> anyhow::Result<()> {
    let data = read(path)?;
    println!("Log starting offset: {}", base_offset(path)?);
    let max_bytes: usize = p.number("max-bytes")?.unwrap_or(i32::MAX as usize);
    let print_data = p.has("print-data-log");
    let deep = p.has("deep-iteration") || print_data;
    let skip_meta = p.has("skip-record-metadata");
    let limit = data.len().min(max_bytes);
    let mut valid_bytes = 0u64;
    let mut last_offset = -1i64;
    let abs = std::fs::canonicalize(path).unwrap_or(path.to_path_buf());
    let abs = abs.display().to_string();
    // Shown when stdout goes to a file or pipe and stderr is a terminal.
    let progress = super::progress::Progress::bytes(
        super::progress::wanted(
            super::progress::stderr_is_terminal(),
            !std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ),
        limit as u64,
        &path
            .file_name()
            .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
    );
    for frame in BatchFrames::new(&data[..limit]) {
        let Ok((range, h)) = frame else { break };
        progress.position(range.end as u64);
        let bytes = &data[range];
        if h.magic != batch::MAGIC_V2 {
            println!(
                "offset: {} position: {valid_bytes} (magic {} batches are not decoded by Strom)",
                h.last_offset(),
                h.magic
            );
            valid_bytes += h.total_bytes() as u64;
            continue;
        }
        println!("{}", batch_line(&h, valid_bytes, bytes));
        if deep {
            match batch_records(bytes, &h) {
                Ok(recs) => {
                    for (i, r) in recs.iter().enumerate() {
                        if r.offset != last_offset + 1 {
                            errors
                                .non_consecutive
                                .entry(abs.clone())
                                .or_default()
                                .push((last_offset, r.offset));
                        }
                        last_offset = r.offset;
                        let mut line = String::new();
                        if !skip_meta {
                            let seq = if h.base_sequence < 0 {
                                -1
                            } else {
                                h.base_sequence.wrapping_add(i as i32)
                            };
                            let keys: Vec<String> = r
                                .headers
                                .iter()
                                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                                .collect();
                            line.push_str(&format!(
                                "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {seq} headerKeys: [{}]",
                                r.offset,
                                timestamp_type(&h),
                                r.timestamp_ms,
                                r.key.as_ref().map_or(-1, |k| k.len() as i64),
                                r.value.as_ref().map_or(-1, |v| v.len() as i64),
                                keys.join(",")
                            ));
                            if h.is_control() {
                                line.push_str(&control_text(r.key.as_deref()));
                            }
                        }
                        if print_data && !h.is_control() {
                            let mut prefix = if skip_meta { "| " } else { " " };
                            if let Some(k) = &r.key {
                                line.push_str(&format!(
                                    "{prefix}key: {}",
                                    String::from_utf8_lossy(k)
                                ));
                                prefix = " ";
                            }
                            if let Some(v) = &r.value {
                                line.push_str(&format!(
                                    "{prefix}payload: {}",
                                    String::from_utf8_lossy(v)
                                ));
                            }
                        }
                        println!("{line}");
                    }
                }
                Err(e) => println!("| could not decode the records of this batch: {e}"),
            }
        }
        valid_bytes += h.total_bytes() as u64;
    }
    let trailing = data.len() as u64 - valid_bytes;
    if trailing > 0 && max_bytes == i32::MAX as usize {
        println!(
            "Found {trailing} invalid bytes at the end of {}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        );
    }
    Ok(())
}

fn control_text(key: Option<&[u8]>) -> String {
    let ty = key
        .filter(|k| k.len() >= 4)
        .map_or(-1, |k| i16::from_be_bytes([k[2], k[3]]));
    match ty {
        0 => " endTxnMarker: ABORT".into(),
        1 => " endTxnMarker: COMMIT".into(),
        t => format!(" controlType: UNKNOWN({t})"),
    }
}

/// The batch starting at `position` of `log`, if a whole one is there.
fn batch_at(log: &[u8], position: usize) -> Option<(BatchHeader, &[u8])> {
    let rest = log.get(position..)?;
    let h = BatchHeader::parse(rest).ok()?;
    let bytes = rest.get(..h.total_bytes())?;
    Some((h, bytes))
}

fn dump_index(path: &Path, p: &Parsed, errors: &mut Errors) -> anyhow::Result<()> {
    let base = base_offset(path)?;
    let idx = read(path)?;
    let log = read(&sibling(path, ".log")?)?;
    let entries: Vec<(i64, u32)> = idx
        .chunks_exact(8)
        .map(|e| {
            (
                base + i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
                u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    if entries.is_empty() {
        println!("{} is empty.", path.display());
        return Ok(());
    }
    if p.has("index-sanity-check") {
        if idx.len() % 8 != 0 {
            anyhow::bail!(
                "Index file {} is corrupt, found {} bytes which is neither positive nor a multiple of 8.",
                path.display(),
                idx.len()
            );
        }
        println!("{} passed sanity check.", path.display());
        return Ok(());
    }
    let abs = std::fs::canonicalize(path)
        .unwrap_or(path.to_path_buf())
        .display()
        .to_string();
    for (i, (offset, position)) in entries.iter().enumerate() {
        if *offset == base && i > 0 {
            break;
        }
        let found = batch_at(&log, *position as usize).map_or(-1, |(h, _)| h.last_offset());
        if found != *offset {
            errors
                .index_mismatches
                .entry(abs.clone())
                .or_default()
                .push((*offset, found));
        }
        if !p.has("verify-index-only") {
            println!("offset: {offset} position: {position}");
        }
    }
    Ok(())
}

fn dump_time_index(path: &Path, p: &Parsed, errors: &mut Errors) -> anyhow::Result<()> {
    let base = base_offset(path)?;
    let tidx = read(path)?;
    let log = read(&sibling(path, ".log")?)?;
    if p.has("index-sanity-check") {
        if tidx.len() % 12 != 0 {
            anyhow::bail!(
                "Time index file {} is corrupt, found {} bytes which is neither positive nor a multiple of 12.",
                path.display(),
                tidx.len()
            );
        }
        println!("{} passed sanity check.", path.display());
        return Ok(());
    }
    // Every batch of the log: (last offset, max record timestamp).
    let mut batches: Vec<(i64, i64)> = Vec::new();
    for (range, h) in BatchFrames::new(&log).map_while(Result::ok) {
        let max_ts = batch_records(&log[range], &h)
            .ok()
            .and_then(|rs| rs.iter().map(|r| r.timestamp_ms).max())
            .unwrap_or(h.max_timestamp);
        batches.push((h.last_offset(), max_ts));
    }
    let abs = std::fs::canonicalize(path)
        .unwrap_or(path.to_path_buf())
        .display()
        .to_string();
    let mut prev = -1i64;
    for (i, e) in tidx.chunks_exact(12).enumerate() {
        let ts = i64::from_be_bytes(e[0..8].try_into().expect("8 bytes"));
        let offset = base + i64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]]));
        if offset == base && i > 0 {
            break;
        }
        match batches.iter().find(|(last, _)| *last >= offset) {
            None => errors
                .shallow_not_found
                .entry(abs.clone())
                .or_default()
                .push((offset, -1)),
            Some((last, _)) if *last != offset => errors
                .shallow_not_found
                .entry(abs.clone())
                .or_default()
                .push((offset, *last)),
            Some((_, max_ts)) => {
                if *max_ts != ts {
                    errors
                        .time_mismatches
                        .entry(abs.clone())
                        .or_default()
                        .push((ts, *max_ts));
                }
                if prev >= ts {
                    errors
                        .out_of_order
                        .entry(abs.clone())
                        .or_default()
                        .push((ts, prev));
                }
            }
        }
        if !p.has("verify-index-only") {
            println!("timestamp: {ts} offset: {offset}");
        }
        prev = ts;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::records::{encode_batch, ProducerRecord};
    use strom_protocol::batch::Compression;

    #[test]
    fn batch_line_has_kafka_fields() {
        let b = encode_batch(
            &[ProducerRecord {
                key: None,
                value: Some(b"v".to_vec()),
                headers: vec![],
                timestamp_ms: 5,
            }],
            Compression::Gzip,
        );
        let h = batch::validate(&b).unwrap();
        let line = batch_line(&h, 0, &b);
        assert!(line.starts_with("baseOffset: 0 lastOffset: 0 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 5 size: "), "{line}");
        assert!(
            line.ends_with(&format!(
                "magic: 2 compresscodec: gzip crc: {} isvalid: true",
                h.crc
            )),
            "{line}"
        );
    }
}
