//! `strom consumer-perf-test`: Kafka's `kafka-consumer-perf-test.sh` (`ConsumerPerformance`).
//! Reads `--messages` records from `--topic` (or the topics `--include` matches) and prints
//! Kafka's CSV header and line (or, with `--show-detailed-stats`, one line per reporting
//! interval). Bytes counted are key plus value lengths, as Kafka counts them.
//!
//! strom-client has no group membership yet: every partition is assigned directly (no
//! JoinGroup), so `rebalance.time.ms` is 0 and `--group` only names the consumer; no offsets
//! are committed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::{check, topics_of, Client};
use strom_protocol::batch::{self, BatchFrames, BATCH_HEADER_BYTES};
use strom_protocol::records::{decompress, Reader};

use super::common::Assigned;
use super::common::{self, fetch_topics};
use super::opts::{self, arg, flag, Opt, Parse};

const USAGE: &str = "This tool is used to verify the consumer performance. Strom's client assigns every partition directly (no group membership yet): rebalance.time.ms is always 0 and no offsets are committed.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "server to connect to", "REQUIRED: The server(s) to connect to."),
    arg("topic", "topic", "The topic to consume from."),
    arg("include", "Java regex (String)", "Regular expression specifying list of topics to include for consumption."),
    arg("group", "gid", "The group id to consume on (default: perf-consumer-<random>). Only a name here: partitions are assigned directly."),
    arg("fetch-size", "size", "The amount of data to fetch in a single request, per partition (default: 1048576)."),
    flag("from-latest", "If the consumer does not already have an established offset to consume from, start with the latest message present in the log rather than the earliest message."),
    arg("socket-buffer-size", "size", "The size of the tcp RECV size (accepted, not used)."),
    arg("consumer.config", "config file", "Consumer config properties file (client.id, request.timeout.ms, fetch.max.wait.ms)."),
    flag("print-metrics", "Print out the metrics."),
    flag("show-detailed-stats", "If set, stats are reported for each reporting interval as configured by reporting-interval"),
    arg("timeout", "milliseconds", "The maximum allowed time in milliseconds between returned records. (default: 10000)"),
    arg("messages", "count", "REQUIRED: The number of messages to consume."),
    arg("reporting-interval", "interval_ms", "Interval in milliseconds at which to print progress info. (default: 5000)"),
    arg("date-format", "date format", "The date format to use for formatting the time field. See java.text.SimpleDateFormat for options. (default: yyyy-MM-dd HH:mm:ss:SSS)"),
    flag("hide-header", "If set, skips printing the header for the stats"),
];

const EXAMPLES: &str = "\
  strom consumer-perf-test --bootstrap-server localhost:9092 --topic perf --messages 1000000
  strom consumer-perf-test --bootstrap-server localhost:9092 --topic perf --messages 1000000 --show-detailed-stats --reporting-interval 1000
";

/// Kafka's header line.
pub fn header(detailed: bool) -> String {
    let tail = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
    if detailed {
        format!(
            "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{tail}"
        )
    } else {
        format!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{tail}")
    }
}

/// Kafka's final CSV line. `join_ms` is the rebalance time.
pub fn total_line(
    start: &str,
    end: &str,
    bytes: u64,
    messages: u64,
    elapsed_ms: i64,
    join_ms: i64,
) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let sec = elapsed_ms as f64 / 1000.0;
    let fetch_ms = elapsed_ms - join_ms;
    format!(
        "{start}, {end}, {mb:.4}, {:.4}, {messages}, {:.4}, {join_ms}, {fetch_ms}, {:.4}, {:.4}",
        mb / sec,
        messages as f64 / sec,
        mb / (fetch_ms as f64 / 1000.0),
        messages as f64 / (fetch_ms as f64 / 1000.0)
    )
}

/// One line of `--show-detailed-stats`.
#[allow(clippy::too_many_arguments)]
pub fn progress_line(
    time: &str,
    bytes: u64,
    last_bytes: u64,
    messages: u64,
    last_messages: u64,
    start_ms: i64,
    end_ms: i64,
    join_ms: i64,
) -> String {
    let elapsed = (end_ms - start_ms) as f64;
    let total_mb = bytes as f64 / (1024.0 * 1024.0);
    let interval_mb = (bytes - last_bytes) as f64 / (1024.0 * 1024.0);
    let fetch_ms = end_ms - start_ms - join_ms;
    let n = (messages - last_messages) as f64;
    let (fmb, fmsg) = if fetch_ms <= 0 {
        (0.0, 0.0)
    } else {
        (
            1000.0 * interval_mb / fetch_ms as f64,
            1000.0 * n / fetch_ms as f64,
        )
    };
    format!(
        "{time}, 0, {total_mb:.4}, {:.4}, {messages}, {:.4}, {join_ms}, {fetch_ms}, {fmb:.4}, {fmsg:.4}",
        1000.0 * interval_mb / elapsed,
        n / elapsed * 1000.0
    )
}

/// Formats `ms` since the epoch in local time with a `SimpleDateFormat` pattern (the letters
/// y, M, d, H, h, m, s, S, a; text in single quotes is literal).
#[allow(unsafe_code)] // localtime_r: the local time zone, as Java's SimpleDateFormat uses
pub fn format_time(pattern: &str, ms: i64) -> String {
    let secs = ms.div_euclid(1000) as libc::time_t;
    let millis = ms.rem_euclid(1000);
    // SAFETY: `tm` is plain data (all-zero is a valid value); localtime_r only reads `secs`
    // and writes into `tm`, both owned here.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let v: Option<i64> = match c {
            'y' => Some(i64::from(tm.tm_year) + 1900),
            'M' => Some(i64::from(tm.tm_mon) + 1),
            'd' => Some(i64::from(tm.tm_mday)),
            'H' => Some(i64::from(tm.tm_hour)),
            'h' => Some(match tm.tm_hour % 12 {
                0 => 12,
                h => i64::from(h),
            }),
            'm' => Some(i64::from(tm.tm_min)),
            's' => Some(i64::from(tm.tm_sec)),
            'S' => Some(millis),
            _ => None,
        };
        match (c, v) {
            ('y', Some(y)) if n == 2 => out.push_str(&format!("{:02}", y % 100)),
            (_, Some(v)) => out.push_str(&format!("{v:0n$}")),
            ('a', None) => out.push_str(if tm.tm_hour < 12 { "AM" } else { "PM" }),
            _ => (0..n).for_each(|_| out.push(c)),
        }
        i += n;
    }
    out
}

/// Every partition of `topics` (names), positioned at the earliest (`latest` false) or
/// latest offset. Errors: a topic that does not exist.
pub async fn assign(
    client: &mut Client,
    topics: &[String],
    latest: bool,
) -> anyhow::Result<Vec<Assigned>> {
    let md = client.metadata(Some(topics)).await?;
    let mut out = Vec::new();
    for t in topics_of(&md) {
        if t.error_code == 3 {
            anyhow::bail!(
                "Topic {} does not exist; create it with 'strom topics --create --topic {}'",
                t.name,
                t.name
            );
        }
        check(t.error_code, None)?;
        for p in &t.partitions {
            out.push(Assigned {
                topic: t.name.clone(),
                topic_id: t.topic_id,
                partition: p.partition,
                leader: p.leader,
                position: -1,
            });
        }
    }
    let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, a) in out.iter().enumerate() {
        by_leader.entry(a.leader).or_default().push(i);
    }
    for (leader, idxs) in by_leader {
        let mut by_topic: BTreeMap<String, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for i in &idxs {
            by_topic.entry(out[*i].topic.clone()).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(out[*i].partition)
                    .with_timestamp(if latest { -1 } else { -2 }),
            );
        }
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = client.send_to(leader, &req).await?;
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, None)?;
                if let Some(a) = out
                    .iter_mut()
                    .find(|a| a.topic == t.name.0.as_str() && a.partition == p.partition_index)
                {
                    a.position = p.offset;
                }
            }
        }
    }
    Ok(out)
}

/// What one fetch round returned.
#[derive(Debug, Default)]
pub struct Fetched {
    pub messages: u64,
    /// Key plus value bytes.
    pub bytes: u64,
    /// The values of the records, when asked for.
    pub values: Vec<Vec<u8>>,
}

/// Counts (and optionally collects the values of) the records of `buf` at or above
/// `min_offset`, at most `limit`; returns the next offset to fetch. Control batches are
/// skipped; a trailing partial batch ends the scan. CRCs are not checked (Kafka's perf
/// consumer sets check.crcs=false).
pub fn scan_records(
    buf: &[u8],
    min_offset: i64,
    limit: u64,
    keep_values: bool,
    out: &mut Fetched,
) -> anyhow::Result<i64> {
    let mut next = min_offset;
    let mut frames = BatchFrames::new(buf);
    for frame in &mut frames {
        let Ok((range, h)) = frame else { break };
        if h.magic != batch::MAGIC_V2 {
            anyhow::bail!("batch at offset {} has magic {}", h.base_offset, h.magic);
        }
        if h.is_control() {
            next = next.max(h.next_offset());
            continue;
        }
        let codec = h.compression().ok_or_else(|| {
            anyhow::anyhow!("batch at offset {} has an unknown codec", h.base_offset)
        })?;
        let raw = &buf[range][BATCH_HEADER_BYTES..];
        let owned;
        let payload: &[u8] = if codec == batch::Compression::None {
            raw
        } else {
            owned = decompress(
                codec,
                raw,
                strom_client::records::DECOMPRESSED_BATCH_BYTES_MAX,
            )
            .map_err(|e| anyhow::anyhow!("batch at offset {}: {e}", h.base_offset))?;
            &owned
        };
        let mut r = Reader::new(payload);
        for _ in 0..h.records_count {
            let rec = r
                .record()
                .map_err(|e| anyhow::anyhow!("batch at offset {}: {e}", h.base_offset))?;
            let offset = h.base_offset + i64::from(rec.offset_delta);
            if offset < min_offset {
                continue;
            }
            if out.messages >= limit {
                return Ok(next);
            }
            out.messages += 1;
            out.bytes += (rec.key.map_or(0, <[u8]>::len) + rec.value.map_or(0, <[u8]>::len)) as u64;
            if keep_values {
                out.values.push(rec.value.unwrap_or_default().to_vec());
            }
            next = offset + 1;
        }
        next = next.max(h.next_offset());
    }
    Ok(next)
}

/// One Fetch to every leader of `parts`; advances positions. At most `limit` records are
/// counted. Errors: fetch errors other than an empty answer.
pub async fn fetch_round(
    client: &mut Client,
    parts: &mut [Assigned],
    fetch_size: i32,
    max_wait_ms: i32,
    limit: u64,
    keep_values: bool,
) -> anyhow::Result<Fetched> {
    let mut leaders: Vec<i32> = parts.iter().map(|a| a.leader).collect();
    leaders.sort_unstable();
    leaders.dedup();
    let mut out = Fetched::default();
    for leader in leaders {
        let conn = client.conn(leader).await?;
        let v = conn.version_for::<FetchRequest>()?;
        let topics = fetch_topics(parts, leader, v, fetch_size);
        let mut req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(50 * 1024 * 1024)
            .with_topics(topics);
        req.session_epoch = -1;
        let resp = conn.send_version(&req, v).await?;
        check(resp.error_code, None)?;
        for t in &resp.responses {
            for pr in &t.partitions {
                let Some(a) = parts.iter_mut().find(|a| {
                    a.leader == leader
                        && a.partition == pr.partition_index
                        && if v >= 13 {
                            t.topic_id.as_bytes() == &a.topic_id
                        } else {
                            t.topic.0.as_str() == a.topic
                        }
                }) else {
                    continue;
                };
                if pr.error_code != 0 {
                    anyhow::bail!(
                        "fetching {}-{} failed: {}",
                        a.topic,
                        a.partition,
                        strom_client::kafka_error_text(pr.error_code, None)
                    );
                }
                let Some(bytes) = &pr.records else { continue };
                a.position = scan_records(bytes, a.position, limit, keep_values, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Prints one line on stdout; when stdout is gone (a pipe into `head`), exits quietly, as
/// Kafka's tools (Java's `System.out`) ignore a closed stdout.
pub fn emit(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("consumer-perf-test", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let messages: u64 = p
        .number::<i64>("messages")?
        .ok_or_else(|| {
            anyhow::anyhow!("Missing required argument \"[messages]\"; add --messages <count>")
        })?
        .max(0) as u64;
    let bootstrap = p.required("bootstrap-server")?.to_string();
    if p.has("topic") == p.has("include") {
        anyhow::bail!("Exactly one of the following arguments is required: [topic], [include]");
    }
    let timeout_ms: i64 = p.number("timeout")?.unwrap_or(10_000);
    let interval_ms: i64 = p.number("reporting-interval")?.unwrap_or(5000);
    if interval_ms <= 0 {
        anyhow::bail!("Reporting interval must be greater than 0.");
    }
    let fetch_size: i32 = p.number("fetch-size")?.unwrap_or(1024 * 1024);
    if fetch_size <= 0 {
        anyhow::bail!("--fetch-size must be greater than 0");
    }
    let date_format = p
        .value("date-format")
        .unwrap_or("yyyy-MM-dd HH:mm:ss:SSS")
        .to_string();
    let props = match p.value("consumer.config") {
        Some(f) => common::load_properties(f)?,
        None => BTreeMap::new(),
    };
    let mut client_cfg = common::client_config(&props);
    if !props.contains_key("client.id") {
        client_cfg.client_id = "perf-consumer-client".into();
    }
    let max_wait: i32 = props
        .get("fetch.max.wait.ms")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(500);
    let detailed = p.has("show-detailed-stats");
    if !p.has("hide-header") {
        emit(&header(detailed));
    }
    let topic = p.value("topic").map(str::to_string);
    let include = p.value("include").map(common::topic_filter).transpose()?;
    let from_latest = p.has("from-latest");
    let print_metrics = p.has("print-metrics");
    common::block_on(async move {
        let mut client = Client::connect(&bootstrap, client_cfg).await?;
        let start_ms = now_ms();
        let topics = match (topic, include) {
            (Some(t), _) => vec![t],
            (None, Some(re)) => {
                let md = client.metadata(None).await?;
                let mut ts: Vec<String> = topics_of(&md)
                    .into_iter()
                    .filter(|t| !t.is_internal && re.is_match(&t.name))
                    .map(|t| t.name)
                    .collect();
                ts.sort();
                ts
            }
            (None, None) => unreachable!("checked above"),
        };
        let mut parts = if topics.is_empty() {
            Vec::new()
        } else {
            assign(&mut client, &topics, from_latest).await?
        };
        let (mut read, mut bytes) = (0u64, 0u64);
        let (mut last_read, mut last_bytes) = (0u64, 0u64);
        let mut last_report_ms = now_ms();
        let mut last_consumed = Instant::now();
        let mut fetches = 0u64;
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        while read < messages && last_consumed.elapsed() <= timeout {
            if parts.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let wait = (timeout.saturating_sub(last_consumed.elapsed()).as_millis() as i32)
                .clamp(0, max_wait);
            let f = fetch_round(
                &mut client,
                &mut parts,
                fetch_size,
                wait,
                messages - read,
                false,
            )
            .await?;
            fetches += 1;
            if f.messages == 0 {
                continue;
            }
            last_consumed = Instant::now();
            read += f.messages;
            bytes += f.bytes;
            let now = now_ms();
            if now - last_report_ms >= interval_ms {
                if detailed {
                    emit(&progress_line(
                        &format_time(&date_format, now),
                        bytes,
                        last_bytes,
                        read,
                        last_read,
                        last_report_ms,
                        now,
                        0,
                    ));
                }
                last_report_ms = now;
                last_read = read;
                last_bytes = bytes;
            }
        }
        if read < messages {
            emit(&format!("WARNING: Exiting before consuming the expected number of messages: timeout ({timeout_ms} ms) exceeded. You can use the --timeout option to increase the timeout."));
        }
        let end_ms = now_ms();
        if !detailed {
            emit(&total_line(
                &format_time(&date_format, start_ms),
                &format_time(&date_format, end_ms),
                bytes,
                read,
                end_ms - start_ms,
                0,
            ));
        }
        if print_metrics {
            let secs = ((end_ms - start_ms) as f64 / 1000.0).max(0.001);
            emit(&format!("\nMetric Name{:>60}Value", ""));
            for (name, v) in [
                ("records-consumed-total", read as f64),
                ("records-consumed-rate", read as f64 / secs),
                ("bytes-consumed-total", bytes as f64),
                ("bytes-consumed-rate", bytes as f64 / secs),
                ("fetch-total", fetches as f64),
            ] {
                let key = format!(
                    "consumer-fetch-manager-metrics:{name}:{{client-id=perf-consumer-client}}"
                );
                emit(&format!("{key:<70} : {v:.3}"));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::records::{encode_batch, ProducerRecord};

    #[test]
    fn lines_follow_kafka() {
        assert_eq!(
            header(false),
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        );
        assert!(header(true).starts_with("time, threadId, "));
        assert_eq!(
            total_line("a", "b", 2 * 1024 * 1024, 100, 2000, 0),
            "a, b, 2.0000, 1.0000, 100, 50.0000, 0, 2000, 1.0000, 50.0000"
        );
        assert_eq!(
            progress_line("t", 1024 * 1024, 0, 10, 0, 0, 1000, 0),
            "t, 0, 1.0000, 1.0000, 10, 10.0000, 0, 1000, 1.0000, 10.0000"
        );
    }

    #[test]
    fn date_format_subset() {
        let s = format_time("yyyy-MM-dd HH:mm:ss:SSS", 1_700_000_000_123);
        assert_eq!(s.len(), 23, "{s}");
        assert!(s.ends_with(":123"), "{s}");
        assert_eq!(format_time("'at' SSS", 5), "at 005");
    }

    #[test]
    fn scan_counts_key_and_value_bytes_and_honours_limits() {
        let recs: Vec<ProducerRecord> = (0..5)
            .map(|i| ProducerRecord {
                key: (i % 2 == 0).then(|| b"kk".to_vec()),
                value: Some(vec![b'x'; 10]),
                headers: vec![],
                timestamp_ms: 1,
            })
            .collect();
        let mut b = encode_batch(&recs, batch::Compression::Lz4);
        batch::set_base_offset(&mut b, 100);
        let mut f = Fetched::default();
        assert_eq!(scan_records(&b, 101, 10, true, &mut f).unwrap(), 105);
        assert_eq!(f.messages, 4);
        assert_eq!(f.bytes, 4 * 10 + 2 * 2);
        let mut f = Fetched::default();
        assert_eq!(scan_records(&b, 100, 2, false, &mut f).unwrap(), 102);
        assert_eq!(f.messages, 2);
    }
}
