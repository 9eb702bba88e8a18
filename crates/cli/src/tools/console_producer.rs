//! `strom console-producer`: Kafka's `kafka-console-producer.sh`. One record per stdin line,
//! parsed as Kafka's `LineMessageReader` does (`parse.key`, `key.separator`, `parse.headers`,
//! `headers.delimiter`, `headers.separator`, `headers.key.separator`, `null.marker`,
//! `ignore.error`); keyed records go to `murmur2(key) % partitions` as Kafka's default
//! partitioner sends them. On EOF or Ctrl-C it exits only after every line read has been
//! acknowledged, and reports the records that failed (exit 1).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::records::{encode_batch, ProducerRecord};
use strom_client::{topics_of, Client, TopicInfo};
use strom_protocol::batch::Compression;

use super::common;
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "This tool helps to read data from standard input and publish it to Kafka.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to."),
    arg("broker-list", "String: broker-list", "DEPRECATED, use --bootstrap-server instead."),
    arg("topic", "String: topic", "REQUIRED: The topic name to produce messages to."),
    arg("property", "String: prop", "A mechanism to pass user-defined properties in the form key=value to the message reader: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error."),
    arg("reader-property", "String: reader_prop", "Same as --property."),
    arg("producer-property", "String: producer_prop", "A mechanism to pass user-defined properties in the form key=value to the producer (acks, compression.type, batch.size, client.id, request.timeout.ms)."),
    arg("producer.config", "String: config file", "Producer config properties file. Note that --producer-property takes precedence over this config."),
    arg("command-config", "String: config file", "Same as --producer.config."),
    arg("request-required-acks", "String: request required acks", "The required acks of the producer requests (default: -1)."),
    arg("compression-codec", "String: compression-codec", "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified without value, then it defaults to 'gzip'."),
    flag("sync", "If set message send requests to the brokers are synchronously, one at a time as they arrive."),
    arg("batch-size", "Integer: size", "Number of bytes to send in a single batch if they are not being sent synchronously (default: 16384)."),
    arg("timeout", "Long: timeout_ms", "If set and the producer is running in asynchronous mode, this gives the maximum amount of time a message will queue awaiting sufficient batch size (default: 1000)."),
    arg("message-send-max-retries", "Integer", "Number of retries for retriable send errors (default: 3)."),
    arg("retry-backoff-ms", "Long", "Wait before each retry (default: 100)."),
    arg("request-timeout-ms", "Integer: request timeout ms", "The ack timeout of the producer requests (default: 1500)."),
    arg("max-memory-bytes", "Long: total memory in bytes", "The total memory used by the producer to buffer records waiting to be sent (default: 33554432)."),
    arg("max-partition-memory-bytes", "Long: memory in bytes per partition", "Accepted for compatibility."),
    arg("max-block-ms", "Long: max block on send", "The max time that the producer will block for during a send request (default: 60000)."),
    arg("metadata-expiry-ms", "Long: metadata expiration interval", "Accepted for compatibility."),
    arg("socket-buffer-size", "Integer: size", "Accepted for compatibility."),
    arg("line-reader", "String: reader_class", "Only the default LineMessageReader is supported."),
];

const EXAMPLES: &str = "\
  printf 'one\\ntwo\\n' | strom console-producer --bootstrap-server localhost:9092 --topic orders
  strom console-producer --bootstrap-server localhost:9092 --topic orders --property parse.key=true --property key.separator=:
  strom console-producer --bootstrap-server localhost:9092 --topic orders --property parse.headers=true --compression-codec zstd
";

/// Kafka's `LineMessageReader` settings.
#[derive(Debug, Clone)]
pub struct LineReader {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub ignore_error: bool,
    pub null_marker: Option<String>,
}

impl LineReader {
    /// From `--property` pairs. Errors: invalid combinations Kafka also refuses.
    pub fn from_props(props: &BTreeMap<String, String>) -> anyhow::Result<LineReader> {
        let b = |k: &str| {
            props
                .get(k)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        };
        let s = |k: &str, d: &str| props.get(k).cloned().unwrap_or_else(|| d.to_string());
        let r = LineReader {
            parse_key: b("parse.key"),
            key_separator: s("key.separator", "\t"),
            parse_headers: b("parse.headers"),
            headers_delimiter: s("headers.delimiter", "\t"),
            headers_separator: s("headers.separator", ","),
            headers_key_separator: s("headers.key.separator", ":"),
            ignore_error: b("ignore.error"),
            null_marker: props.get("null.marker").filter(|m| !m.is_empty()).cloned(),
        };
        for (name, v) in [
            ("key.separator", &r.key_separator),
            ("headers.delimiter", &r.headers_delimiter),
            ("headers.separator", &r.headers_separator),
            ("headers.key.separator", &r.headers_key_separator),
        ] {
            if v.is_empty() {
                anyhow::bail!("{name} must not be empty");
            }
        }
        if r.headers_separator == r.headers_key_separator {
            anyhow::bail!("headers.separator and headers.key.separator may not be equal");
        }
        if let Some(m) = &r.null_marker {
            if m == &r.key_separator {
                anyhow::bail!("null.marker and key.separator may not be equal");
            }
            if m == &r.headers_separator {
                anyhow::bail!("null.marker and headers.separator may not be equal");
            }
            if m == &r.headers_delimiter {
                anyhow::bail!("null.marker and headers.delimiter may not be equal");
            }
            if m == &r.headers_key_separator {
                anyhow::bail!("null.marker and headers.key.separator may not be equal");
            }
        }
        Ok(r)
    }

    fn part<'a>(
        &self,
        enabled: bool,
        line: &'a str,
        start: usize,
        sep: &str,
        what: &str,
        line_no: u64,
    ) -> anyhow::Result<Option<&'a str>> {
        if !enabled {
            return Ok(None);
        }
        match line[start..].find(sep) {
            Some(i) => Ok(Some(&line[start..start + i])),
            None if self.ignore_error => Ok(None),
            None => anyhow::bail!("No {what} found on line number {line_no}: '{line}'"),
        }
    }

    fn is_null(&self, s: &str) -> bool {
        self.null_marker.as_deref() == Some(s)
    }

    /// Parses one line (without its newline) into a record. Errors as Kafka words them.
    pub fn parse(&self, line: &str, line_no: u64) -> anyhow::Result<ProducerRecord> {
        let headers = self.part(
            self.parse_headers,
            line,
            0,
            &self.headers_delimiter,
            "headers delimiter",
            line_no,
        )?;
        let header_off = headers.map_or(0, |h| h.len() + self.headers_delimiter.len());
        let key = self.part(
            self.parse_key,
            line,
            header_off,
            &self.key_separator,
            "key separator",
            line_no,
        )?;
        let key_off = key.map_or(0, |k| k.len() + self.key_separator.len());
        let value = &line[header_off + key_off..];
        let mut rec = ProducerRecord {
            key: key
                .filter(|k| !self.is_null(k))
                .map(|k| k.as_bytes().to_vec()),
            value: (!self.is_null(value)).then(|| value.as_bytes().to_vec()),
            headers: Vec::new(),
            timestamp_ms: now_ms(),
        };
        if let Some(h) = headers.filter(|h| !self.is_null(h)) {
            for pair in h.split(self.headers_separator.as_str()) {
                match pair.find(self.headers_key_separator.as_str()) {
                    None if self.ignore_error => rec.headers.push((pair.as_bytes().to_vec(), None)),
                    None => anyhow::bail!(
                        "No header key separator found in pair '{pair}' on line number {line_no}"
                    ),
                    Some(i) => {
                        let k = &pair[..i];
                        if self.is_null(k) {
                            anyhow::bail!("Header keys should not be equal to the null marker '{k}' as they can't be null");
                        }
                        let v = &pair[i + self.headers_key_separator.len()..];
                        let v = (!self.is_null(v)).then(|| v.as_bytes().to_vec());
                        rec.headers.push((k.as_bytes().to_vec(), v));
                    }
                }
            }
        }
        Ok(rec)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Kafka's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    let len = data.len();
    let seed: i32 = 0x9747b28cu32 as i32;
    let m: i32 = 0x5bd1e995;
    let r = 24;
    let mut h: i32 = seed ^ (len as i32);
    for chunk in data.chunks_exact(4) {
        let mut k = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(m);
        k ^= ((k as u32) >> r) as i32;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[len & !3..];
    if tail.len() == 3 {
        h ^= i32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= i32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= i32::from(tail[0]);
        h = h.wrapping_mul(m);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(m);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// Kafka's default partition of a keyed record.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions) as i32
}

fn parse_codec(name: &str) -> anyhow::Result<Compression> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "none" | "" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => anyhow::bail!(
            "invalid compression codec '{other}': use none, gzip, snappy, lz4 or zstd"
        ),
    })
}

fn parse_acks(v: &str) -> anyhow::Result<i16> {
    match v.trim() {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => anyhow::bail!("invalid acks '{other}': use all, -1, 0 or 1"),
    }
}

/// Settings resolved from the flags.
struct Settings {
    topic: String,
    acks: i16,
    codec: Compression,
    sync: bool,
    batch_bytes: usize,
    retries: u32,
    retry_backoff: Duration,
    ack_timeout_ms: i32,
    reader: LineReader,
    bootstrap: String,
    client: strom_client::ClientConfig,
}

fn settings(p: &Parsed) -> anyhow::Result<Settings> {
    let bootstrap = p
        .value("bootstrap-server")
        .or(p.value("broker-list"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
            )
        })?
        .to_string();
    let topic = p.required("topic")?.to_string();
    if let Some(r) = p.value("line-reader") {
        if !r.ends_with("LineMessageReader") {
            anyhow::bail!("--line-reader {r} is not supported; Strom reads lines with Kafka's default LineMessageReader");
        }
    }
    let mut producer_props = BTreeMap::new();
    for f in ["producer.config", "command-config"] {
        if let Some(path) = p.value(f) {
            producer_props.extend(common::load_properties(path)?);
        }
    }
    producer_props.extend(opts::key_values(
        p.values("producer-property"),
        "--producer-property",
    )?);
    let mut reader_props = BTreeMap::new();
    reader_props.extend(opts::key_values(p.values("property"), "--property")?);
    reader_props.extend(opts::key_values(
        p.values("reader-property"),
        "--reader-property",
    )?);
    let acks = match p.value("request-required-acks") {
        Some(a) => parse_acks(a)?,
        None => producer_props
            .get("acks")
            .map_or(Ok(-1), |a| parse_acks(a))?,
    };
    let codec = match p.value("compression-codec") {
        Some(c) => parse_codec(c)?,
        None => producer_props
            .get("compression.type")
            .map_or(Ok(Compression::None), |c| parse_codec(c))?,
    };
    let batch_bytes = match p.number::<usize>("batch-size")? {
        Some(b) => b,
        None => producer_props
            .get("batch.size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(16384),
    }
    .max(1);
    let ack_timeout_ms = p.number::<i32>("request-timeout-ms")?.unwrap_or(1500);
    Ok(Settings {
        topic,
        acks,
        codec,
        sync: p.has("sync"),
        batch_bytes,
        retries: p.number("message-send-max-retries")?.unwrap_or(3),
        retry_backoff: Duration::from_millis(p.number("retry-backoff-ms")?.unwrap_or(100)),
        ack_timeout_ms: ack_timeout_ms.max(1),
        reader: LineReader::from_props(&reader_props)?,
        bootstrap,
        client: common::client_config(&producer_props),
    })
}

/// `--compression-codec` with no value means gzip, as in Kafka.
fn default_codec_arg(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    for (i, a) in args.iter().enumerate() {
        out.push(a.clone());
        if a == "--compression-codec"
            && args
                .get(i + 1)
                .is_none_or(|n| n.starts_with("--") && n.len() > 2)
        {
            out.push("gzip".into());
        }
    }
    out
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args = default_codec_arg(args);
    let p = match opts::parse("console-producer", USAGE, OPTS, EXAMPLES, &args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let s = settings(&p)?;
    common::block_on(produce_stdin(s))
}

enum Input {
    Line(u64, String),
    Eof,
    Failed(String),
}

async fn produce_stdin(s: Settings) -> anyhow::Result<()> {
    let mut client = Client::connect(&s.bootstrap, s.client.clone()).await?;
    let mut topic = topic_metadata(&mut client, &s.topic).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(1024);
    let interactive = std::io::stdin().is_terminal();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        let mut n = 0u64;
        loop {
            if interactive {
                eprint!(">");
                let _ = std::io::stderr().flush();
            }
            let mut buf = Vec::new();
            match lock.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Input::Eof);
                    return;
                }
                Ok(_) => {
                    n += 1;
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                        if buf.last() == Some(&b'\r') {
                            buf.pop();
                        }
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.blocking_send(Input::Line(n, line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Input::Failed(format!("cannot read stdin: {e}")));
                    return;
                }
            }
        }
    });
    let mut failed = 0u64;
    let (mut sent, mut acknowledged) = (0u64, 0u64);
    let progress = super::progress::Progress::records(
        super::progress::wanted(super::progress::stderr_is_terminal(), !interactive),
        "sent",
    );
    let mut fatal: Option<String> = None;
    let mut round_robin = (now_ms() as usize) % topic.partitions.len().max(1);
    let mut done = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while !done {
        // Wait for a line (or Ctrl-C), then take whatever else is already waiting.
        let first = tokio::select! {
            m = rx.recv() => m.unwrap_or(Input::Eof),
            _ = &mut ctrl_c => { done = true; Input::Eof }
        };
        let mut lines = Vec::new();
        let mut pending = Some(first);
        let mut bytes = 0usize;
        while let Some(m) = pending.take() {
            match m {
                Input::Line(n, l) => {
                    bytes += l.len() + 16;
                    lines.push((n, l));
                    if !s.sync && bytes < s.batch_bytes * 4 {
                        pending = rx.try_recv().ok();
                    }
                }
                Input::Eof => done = true,
                Input::Failed(e) => {
                    fatal = Some(e);
                    done = true;
                }
            }
        }
        let mut by_partition: BTreeMap<i32, Vec<ProducerRecord>> = BTreeMap::new();
        for (n, line) in lines {
            match s.reader.parse(&line, n) {
                Ok(rec) => {
                    let part = match &rec.key {
                        Some(k) => partition_for_key(k, topic.partitions.len()),
                        None => {
                            round_robin = (round_robin + 1) % topic.partitions.len();
                            topic.partitions[round_robin].partition
                        }
                    };
                    by_partition.entry(part).or_default().push(rec);
                }
                Err(e) => {
                    fatal = Some(e.to_string());
                    done = true;
                    break;
                }
            }
        }
        if !by_partition.is_empty() {
            let count: u64 = by_partition.values().map(|r| r.len() as u64).sum();
            sent += count;
            let f = send_with_retries(&mut client, &s, &mut topic, by_partition).await?;
            failed += f;
            acknowledged += count - f;
            progress.message(format!("{sent} records sent, {acknowledged} acknowledged"));
        }
    }
    drop(progress);
    if let Some(e) = fatal {
        anyhow::bail!("{e}");
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} record(s) could not be delivered to topic {}",
            s.topic
        );
    }
    Ok(())
}

/// Metadata of `topic`, asking the broker to auto-create it (as a producer does) and waiting
/// briefly for its partitions to get leaders.
async fn topic_metadata(client: &mut Client, topic: &str) -> anyhow::Result<TopicInfo> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last_code = 0;
    loop {
        let md = client
            .metadata_with(Some(&[topic.to_string()]), true)
            .await?;
        if let Some(t) = topics_of(&md).into_iter().find(|t| t.name == topic) {
            last_code = t.error_code;
            if t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions.iter().all(|p| p.leader >= 0)
            {
                return Ok(t);
            }
            if t.error_code == 17 {
                anyhow::bail!("invalid topic name '{topic}' (InvalidTopicException)");
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "Topic {topic} not present in metadata after 5000 ms ({}); create it with 'strom topics --create --topic {topic}' or enable auto.create.topics.enable",
                strom_client::error_name(last_code)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends the records, retrying retriable errors; returns how many records failed (each
/// reported on stderr).
async fn send_with_retries(
    client: &mut Client,
    s: &Settings,
    topic: &mut TopicInfo,
    mut by_partition: BTreeMap<i32, Vec<ProducerRecord>>,
) -> anyhow::Result<u64> {
    let mut attempt = 0;
    let mut failed = 0u64;
    loop {
        let mut by_leader: BTreeMap<i32, Vec<(i32, Vec<ProducerRecord>)>> = BTreeMap::new();
        for (part, recs) in std::mem::take(&mut by_partition) {
            let leader = topic
                .partitions
                .iter()
                .find(|p| p.partition == part)
                .map_or(-1, |p| p.leader);
            by_leader.entry(leader).or_default().push((part, recs));
        }
        for (leader, parts) in by_leader {
            let results = send_once(client, s, topic, leader, &parts).await;
            for ((part, recs), res) in parts.into_iter().zip(results) {
                let Err((code, msg)) = res else { continue };
                let retriable = code == -100
                    || kafka_protocol::error::ResponseError::try_from_code(code)
                        .is_some_and(|e| e.is_retriable());
                if retriable && attempt < s.retries {
                    by_partition.insert(part, recs);
                    continue;
                }
                for r in &recs {
                    eprintln!(
                        "Error when sending message to topic {} with key: {}, value: {} bytes with error: {msg}",
                        s.topic,
                        r.key.as_ref().map_or("null".to_string(), |k| format!("{} bytes", k.len())),
                        r.value.as_ref().map_or(0, Vec::len)
                    );
                }
                failed += recs.len() as u64;
            }
        }
        if by_partition.is_empty() {
            return Ok(failed);
        }
        attempt += 1;
        tokio::time::sleep(s.retry_backoff).await;
        if let Ok(t) = topic_metadata(client, &s.topic).await {
            *topic = t;
        }
    }
}

/// One Produce request to `leader`; per partition `Ok` or `(error code, text)`; code -100
/// means the request itself failed (connection, timeout).
async fn send_once(
    client: &mut Client,
    s: &Settings,
    topic: &TopicInfo,
    leader: i32,
    parts: &[(i32, Vec<ProducerRecord>)],
) -> Vec<Result<(), (i16, String)>> {
    let fail_all =
        |code: i16, msg: String| parts.iter().map(|_| Err((code, msg.clone()))).collect();
    if leader < 0 {
        return fail_all(5, "LeaderNotAvailable".into());
    }
    let conn = match client.conn(leader).await {
        Ok(c) => c,
        Err(e) => return fail_all(-100, e.to_string()),
    };
    let v = match conn.version_for::<ProduceRequest>() {
        Ok(v) => v,
        Err(e) => return fail_all(-101, e.to_string()),
    };
    let mut td = TopicProduceData::default().with_partition_data(
        parts
            .iter()
            .map(|(part, recs)| {
                // One batch per partition: Produce v3 and later take exactly one (the input
                // loop bounds a round to a few --batch-size worth of lines).
                let bytes = encode_batch(recs, s.codec);
                PartitionProduceData::default()
                    .with_index(*part)
                    .with_records(Some(bytes.into()))
            })
            .collect(),
    );
    if v >= 13 {
        td.topic_id = uuid::Uuid::from_bytes(topic.topic_id);
    } else {
        td.name = TopicName(StrBytes::from_string(topic.name.clone()));
    }
    let req = ProduceRequest::default()
        .with_acks(s.acks)
        .with_timeout_ms(s.ack_timeout_ms)
        .with_topic_data(vec![td]);
    if s.acks == 0 {
        return match conn.send_no_response(&req).await {
            Ok(()) => parts.iter().map(|_| Ok(())).collect(),
            Err(e) => fail_all(-100, e.to_string()),
        };
    }
    let resp = match conn.send_version(&req, v).await {
        Ok(r) => r,
        Err(e) => return fail_all(-100, e.to_string()),
    };
    let mut codes: HashMap<i32, (i16, Option<String>)> = HashMap::new();
    for t in &resp.responses {
        for pr in &t.partition_responses {
            codes.insert(
                pr.index,
                (
                    pr.error_code,
                    pr.error_message.as_ref().map(|m| m.to_string()),
                ),
            );
        }
    }
    parts
        .iter()
        .map(|(part, _)| match codes.get(part) {
            Some((0, _)) => Ok(()),
            Some((code, msg)) => {
                Err((*code, strom_client::kafka_error_text(*code, msg.as_deref())))
            }
            None => Err((-100, format!("no response for partition {part}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(props: &[(&str, &str)]) -> LineReader {
        let m = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LineReader::from_props(&m).unwrap()
    }

    #[test]
    fn murmur2_matches_kafka() {
        // Vectors from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn plain_lines_are_values() {
        let r = reader(&[]).parse("a\tb", 1).unwrap();
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_deref(), Some(&b"a\tb"[..]));
    }

    #[test]
    fn keys_headers_and_null_marker() {
        let r = reader(&[
            ("parse.key", "true"),
            ("key.separator", ":"),
            ("parse.headers", "true"),
            ("headers.delimiter", "|"),
            ("null.marker", "NULL"),
        ]);
        let rec = r.parse("h1:v1,h2:NULL|k:v:w", 1).unwrap();
        assert_eq!(rec.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(rec.value.as_deref(), Some(&b"v:w"[..]));
        assert_eq!(
            rec.headers,
            vec![
                (b"h1".to_vec(), Some(b"v1".to_vec())),
                (b"h2".to_vec(), None)
            ]
        );
        let rec = r.parse("NULL|NULL:NULL", 2).unwrap();
        assert_eq!((rec.key, rec.value, rec.headers.len()), (None, None, 0));
        let e = r.parse("h:1|novalue", 7).unwrap_err().to_string();
        assert_eq!(e, "No key separator found on line number 7: 'h:1|novalue'");
        let e = r.parse("nokeysep|k:v", 3).unwrap_err().to_string();
        assert!(
            e.starts_with("No header key separator found in pair 'nokeysep'"),
            "{e}"
        );
    }

    #[test]
    fn codec_flag_defaults_to_gzip() {
        let a: Vec<String> = ["--compression-codec", "--topic", "t"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(default_codec_arg(&a)[1], "gzip");
        assert!(parse_codec("brotli").is_err());
        assert_eq!(parse_acks("all").unwrap(), -1);
    }
}
