//! Append and read throughput of `strom_log::Log` next to a plain `write()`/`read()` file
//! baseline measured in the same run, on the same disk.
//!
//! Batches hold 1 KiB records, 16 to 64 per batch (16-64 KiB). Scenarios: one partition, and
//! 16 partitions appended round-robin from one thread. Appends into the page cache and the
//! final fsync (log `flush`, file `sync_all`) are reported apart; baseline and log alternate,
//! best of `STROM_BENCH_ROUNDS` (default 2) rounds each. Reads go through the page cache on
//! both sides; the log's include `Log::read` and `ReadResult::to_vec` (a zeroed buffer and
//! `pread`s), the baseline `read()`s into one reused buffer.
//!
//! Run: `cargo bench -p strom-log --bench log_bench`. Environment:
//! - `STROM_BENCH_BYTES`: bytes per scenario (default 1 GiB).
//! - `STROM_BENCH_DIR`: where to write (default: cargo's target tmp dir); removed afterwards.
//!
//! CPU time is the process's user + system time from `/proc/self/stat`.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use strom_log::{Log, LogConfig, OpenOptions, TopicPartition};
use strom_protocol::batch::build_batch;
use strom_protocol::records::{encode_record, RecordRef};

const RECORD_BYTES: usize = 1024;
const READ_CHUNK_BYTES: u64 = 1 << 20;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0 // USER_HZ
}

struct Measure {
    wall: f64,
    cpu: f64,
    bytes: u64,
}

impl Measure {
    fn run(bytes: u64, f: impl FnOnce()) -> Measure {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        f();
        Measure {
            wall: t0.elapsed().as_secs_f64(),
            cpu: cpu_seconds() - c0,
            bytes,
        }
    }
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall
    }
    fn cpu_s_per_gb(&self) -> f64 {
        self.cpu / (self.bytes as f64 / 1e9)
    }
}

fn report(name: &str, log: &Measure, base: &Measure) {
    println!(
        "{name:<26} log {:>8.1} MB/s {:>6.2} CPU-s/GB | baseline {:>8.1} MB/s {:>6.2} CPU-s/GB | throughput {:>5.2}x, CPU {:>5.2}x",
        log.mb_s(),
        log.cpu_s_per_gb(),
        base.mb_s(),
        base.cpu_s_per_gb(),
        log.mb_s() / base.mb_s(),
        log.cpu_s_per_gb() / base.cpu_s_per_gb().max(1e-9),
    );
}

/// A pool of batches of 16..=64 records of 1 KiB each.
fn batch_pool() -> Vec<Vec<u8>> {
    let value = vec![b'x'; RECORD_BYTES];
    (0..32)
        .map(|i| {
            let n = 16 + (i * 37) % 49;
            let mut recs = Vec::with_capacity(n * (RECORD_BYTES + 16));
            for r in 0..n {
                encode_record(
                    &mut recs,
                    &RecordRef {
                        timestamp_delta: r as i64,
                        offset_delta: r as i32,
                        key: None,
                        value: Some(&value),
                        headers: &[],
                    },
                );
            }
            let n = n as i32;
            build_batch(
                0,
                0,
                n - 1,
                1_700_000_000_000,
                1_700_000_000_000 + n as i64 - 1,
                -1,
                -1,
                -1,
                n,
                &recs,
            )
        })
        .collect()
}

fn open_logs(dir: &Path, n: usize) -> Vec<Log> {
    (0..n)
        .map(|p| {
            let tp = TopicPartition::new("bench", p as i32);
            Log::open(
                dir.join(tp.dir_name()),
                tp,
                LogConfig::default(),
                OpenOptions {
                    recovery_point: 0,
                    log_start_offset: 0,
                    clean_shutdown: true,
                    now_ms: 0,
                },
            )
            .expect("open log")
        })
        .collect()
}

/// Appends `total` bytes round-robin over the partitions: through `Log::append`, or with
/// plain `write()` calls. Returns the page-cache phase and the final fsync phase.
fn append_phase(
    root: &Path,
    partitions: usize,
    total: u64,
    pool: &mut [Vec<u8>],
    plain: bool,
) -> (Measure, Measure, Option<Vec<Log>>) {
    let dir = root.join(format!(
        "{}-{partitions}",
        if plain { "plain" } else { "log" }
    ));
    fs::remove_dir_all(&dir).ok();
    fs::create_dir_all(&dir).unwrap();
    let mut written = 0u64;
    if plain {
        let mut files: Vec<File> = (0..partitions)
            .map(|p| File::create(dir.join(format!("{p}.data"))).unwrap())
            .collect();
        let w = Measure::run(0, || {
            let mut i = 0usize;
            while written < total {
                let b = &pool[i % pool.len()];
                files[i % partitions].write_all(b).unwrap();
                written += b.len() as u64;
                i += 1;
            }
        });
        let s = Measure::run(written, || {
            for f in &files {
                f.sync_all().unwrap();
            }
        });
        (
            Measure {
                bytes: written,
                ..w
            },
            s,
            None,
        )
    } else {
        let logs = open_logs(&dir, partitions);
        let w = Measure::run(0, || {
            let mut i = 0usize;
            while written < total {
                let b = &mut pool[i % pool.len()];
                logs[i % partitions].append(b, true, 0).expect("append");
                written += b.len() as u64;
                i += 1;
            }
        });
        let s = Measure::run(written, || {
            for log in &logs {
                log.flush().expect("flush");
            }
        });
        (
            Measure {
                bytes: written,
                ..w
            },
            s,
            Some(logs),
        )
    }
}

fn best(a: Measure, b: Measure) -> Measure {
    if a.wall <= b.wall {
        a
    } else {
        b
    }
}

fn scenario(root: &Path, partitions: usize, total: u64, rounds: usize, pool: &mut [Vec<u8>]) {
    let mut log_best: Option<(Measure, Measure)> = None;
    let mut plain_best: Option<(Measure, Measure)> = None;
    let mut logs = Vec::new();
    // Alternate baseline and log so that neither always runs on a warmer or busier disk.
    for _ in 0..rounds {
        let (w, s, _) = append_phase(root, partitions, total, pool, true);
        plain_best = Some(match plain_best {
            None => (w, s),
            Some((bw, bs)) => (best(bw, w), best(bs, s)),
        });
        let (w, s, l) = append_phase(root, partitions, total, pool, false);
        logs = l.expect("logs");
        log_best = Some(match log_best {
            None => (w, s),
            Some((bw, bs)) => (best(bw, w), best(bs, s)),
        });
    }
    let (lw, ls) = log_best.expect("one round");
    let (pw, ps) = plain_best.expect("one round");
    report(&format!("append {partitions} part. (cache)"), &lw, &pw);
    report(&format!("fsync {partitions} part."), &ls, &ps);

    // Reads: 1 MiB fetches through the log; 1 MiB read() calls on the plain files.
    let base_dir = root.join(format!("plain-{partitions}"));
    let mut read_bytes = 0u64;
    let read = Measure::run(0, || {
        for log in &logs {
            let mut offset = log.log_start_offset();
            let end = log.log_end_offset();
            while offset < end {
                let r = log
                    .read(offset, READ_CHUNK_BYTES, i64::MAX, true)
                    .expect("read");
                let data = r.to_vec().expect("read bytes");
                read_bytes += data.len() as u64;
                // Next offset: after the last batch returned.
                let mut next = offset;
                for f in strom_protocol::batch::BatchFrames::new(&data) {
                    next = f.expect("frame").1.next_offset();
                }
                offset = next;
            }
        }
    });
    let read = Measure {
        bytes: read_bytes,
        ..read
    };
    let mut plain_bytes = 0u64;
    let read_plain = Measure::run(0, || {
        let mut buf = vec![0u8; READ_CHUNK_BYTES as usize];
        for p in 0..partitions {
            let mut f = File::open(base_dir.join(format!("{p}.data"))).unwrap();
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                plain_bytes += n as u64;
            }
        }
    });
    let read_plain = Measure {
        bytes: plain_bytes,
        ..read_plain
    };
    report(
        &format!("read {partitions} part. (cache)"),
        &read,
        &read_plain,
    );
    for log in &logs {
        log.close().unwrap();
    }
    drop(logs);
    fs::remove_dir_all(root.join(format!("log-{partitions}"))).ok();
    fs::remove_dir_all(&base_dir).ok();
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test` of benches passes nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: u64 = std::env::var("STROM_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let root: PathBuf = std::env::var_os("STROM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join(format!("strom-log-bench-{}", std::process::id()));
    fs::create_dir_all(&root).unwrap();
    println!(
        "strom-log bench: {} MiB per scenario, batches of 16-64 x 1 KiB records, dir {}",
        total >> 20,
        root.display()
    );
    let rounds: usize = std::env::var("STROM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
        .max(1);
    let mut pool = batch_pool();
    for partitions in [1usize, 16] {
        scenario(&root, partitions, total, rounds, &mut pool);
    }
    fs::remove_dir_all(&root).ok();
}
