//! `strom producer-perf-test`: Kafka's `kafka-producer-perf-test.sh` (`ProducerPerformance`).
//! Sends `--num-records` records of `--record-size` bytes (or payloads from `--payload-file`)
//! to one topic through strom-client's pipelined [`Producer`], throttled to `--throughput`
//! records/s with Kafka's `ThroughputThrottler`, and prints Kafka's lines: a window line every
//! 5 s and the final line with latency percentiles from at most 500,000 sampled latencies.
//!
//! Latency of a record is the time from the call to `send` to its batch's acknowledgement, as
//! in Kafka's `PerfCallback`. The `--record-size` payload is one buffer of random A-Z letters
//! drawn once (Kafka 3.x draws new letters for every record; the broker never looks at them).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strom_client::producer::{Delivery, Producer, ProducerConfig};
use strom_client::Client;
use strom_protocol::batch::Compression;

use super::common;
use super::consumer_perf_test::emit;
use super::opts::{self, arg, flag, Opt, Parse};

const USAGE: &str = "This tool is used to verify the producer performance. Transactions (--transactional-id, --transaction-duration-ms, transactional.id) are not supported yet.";

const OPTS: &[Opt] = &[
    arg("topic", "TOPIC", "REQUIRED: produce messages to this topic."),
    arg("num-records", "NUM-RECORDS", "REQUIRED: number of messages to produce."),
    arg("record-size", "RECORD-SIZE", "message size in bytes. Note that you must provide exactly one of --record-size or --payload-file or --payload-monotonic."),
    arg("payload-file", "PAYLOAD-FILE", "file to read the message payloads from. This works only for UTF-8 encoded text files. Payloads will be read from this file and a payload will be randomly selected when sending messages."),
    flag("payload-monotonic", "payload is monotonically increasing integer."),
    arg("payload-delimiter", "PAYLOAD-DELIMITER", "provides delimiter to be used when --payload-file is provided. Defaults to new line. Note that this parameter will be ignored if --payload-file is not provided. (default: \\n)"),
    arg("throughput", "THROUGHPUT", "REQUIRED: throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this to -1 to disable throttling."),
    arg("producer-props", "PROP-NAME=PROP-VALUE", "kafka producer related configuration properties like bootstrap.servers,client.id etc. These configs take precedence over those passed via --producer.config. Several may follow one flag. Honoured: bootstrap.servers, acks, linger.ms, batch.size, compression.type, enable.idempotence, max.in.flight.requests.per.connection, buffer.memory, request.timeout.ms, client.id."),
    arg("producer.config", "CONFIG-FILE", "producer config properties file."),
    flag("print-metrics", "print out metrics at the end of the test."),
    arg("transactional-id", "TRANSACTIONAL-ID", "Not supported yet: Strom has no transactions."),
    arg("transaction-duration-ms", "TRANSACTION-DURATION", "Not supported yet: Strom has no transactions."),
];

const EXAMPLES: &str = "\
  strom producer-perf-test --topic perf --num-records 1000000 --record-size 1024 --throughput -1 --producer-props bootstrap.servers=localhost:9092
  strom producer-perf-test --topic perf --num-records 100000 --record-size 100 --throughput 10000 --producer-props bootstrap.servers=localhost:9092 acks=1 linger.ms=5 compression.type=lz4
";

/// Kafka's `--producer-props a=b c=d`: every argument after the flag up to the next `--flag`
/// is one value. Rewrites it into repeated `--producer-props` flags for [`opts::parse`].
pub fn expand_multi_value(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 4);
    let mut in_flag = false;
    for a in args {
        if a.starts_with("--") && a.len() > 2 {
            in_flag = a == flag;
            out.push(a.clone());
            continue;
        }
        if in_flag && out.last().is_some_and(|l| l != flag) {
            out.push(flag.to_string());
        }
        out.push(a.clone());
    }
    out
}

/// Kafka's `ThroughputThrottler`: sleep on average 1/throughput s per record, in sleeps of at
/// least 2 ms.
#[derive(Debug)]
pub struct Throttler {
    target: f64,
    sleep_time_ns: i64,
    sleep_deficit_ns: i64,
}

const MIN_SLEEP_NS: i64 = 2_000_000;

impl Throttler {
    /// `target` records/s; negative: no throttling.
    pub fn new(target: f64) -> Throttler {
        Throttler {
            target,
            sleep_time_ns: if target > 0.0 {
                (1e9 / target) as i64
            } else {
                i64::MAX
            },
            sleep_deficit_ns: 0,
        }
    }

    /// Whether `amount_so_far` records sent `elapsed_sec` after the start are ahead of the
    /// target rate. Kafka measures the elapsed time in whole milliseconds, which never
    /// throttles a run that sends its first thousands of records within one millisecond; this
    /// takes the time at microsecond resolution.
    pub fn should_throttle(&self, amount_so_far: u64, elapsed_sec: f64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        elapsed_sec > 0.0 && (amount_so_far as f64 / elapsed_sec) > self.target
    }

    /// Adds one record's sleep to the deficit; returns how long to sleep now, if the deficit
    /// reached 2 ms (the caller sleeps, then calls [`Throttler::slept`]). With a target of 0
    /// the answer is "forever" (`Duration::MAX`), as Kafka blocks until woken.
    pub fn throttle(&mut self) -> Option<Duration> {
        if self.target == 0.0 {
            return Some(Duration::MAX);
        }
        self.sleep_deficit_ns = self.sleep_deficit_ns.saturating_add(self.sleep_time_ns);
        (self.sleep_deficit_ns >= MIN_SLEEP_NS)
            .then(|| Duration::from_nanos(self.sleep_deficit_ns as u64))
    }

    /// After a full sleep the deficit is paid.
    pub fn slept(&mut self) {
        self.sleep_deficit_ns = 0;
    }
}

/// Kafka's `ProducerPerformance.Stats`.
#[derive(Debug)]
pub struct Stats {
    start_ms: i64,
    window_start_ms: i64,
    latencies: Vec<i32>,
    sampling: u64,
    iteration: u64,
    count: u64,
    bytes: u64,
    max_latency: i32,
    total_latency: i64,
    window_count: u64,
    window_max_latency: i32,
    window_total_latency: i64,
    window_bytes: u64,
    reporting_interval_ms: i64,
    /// Batches that failed, and the first error.
    pub errors: u64,
    pub first_error: Option<String>,
    /// For --print-metrics.
    pub batches: u64,
    pub batch_bytes: u64,
}

impl Stats {
    pub fn new(num_records: u64, now_ms: i64) -> Stats {
        let sampling = (num_records / num_records.clamp(1, 500_000)).max(1);
        Stats {
            start_ms: now_ms,
            window_start_ms: now_ms,
            latencies: Vec::with_capacity((num_records / sampling + 1) as usize),
            sampling,
            iteration: 0,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window_count: 0,
            window_max_latency: 0,
            window_total_latency: 0,
            window_bytes: 0,
            reporting_interval_ms: 5000,
            errors: 0,
            first_error: None,
            batches: 0,
            batch_bytes: 0,
        }
    }

    /// Records one acknowledged record; returns the window line when 5 s have passed.
    pub fn record(&mut self, latency_ms: i32, bytes: u64, now_ms: i64) -> Option<String> {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += i64::from(latency_ms);
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total_latency += i64::from(latency_ms);
        self.window_max_latency = self.window_max_latency.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies.push(latency_ms);
        }
        self.iteration += 1;
        if now_ms - self.window_start_ms >= self.reporting_interval_ms {
            let line = self.window_line(now_ms);
            self.window_start_ms = now_ms;
            self.window_count = 0;
            self.window_max_latency = 0;
            self.window_total_latency = 0;
            self.window_bytes = 0;
            return Some(line);
        }
        None
    }

    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
    pub fn window_line(&self, now_ms: i64) -> String {
        let elapsed = (now_ms - self.window_start_ms) as f64;
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            1000.0 * self.window_count as f64 / elapsed,
            1000.0 * self.window_bytes as f64 / elapsed / (1024.0 * 1024.0),
            self.window_total_latency as f64 / self.window_count as f64,
            f64::from(self.window_max_latency)
        )
    }

    /// Kafka's final line, with the 50th, 95th, 99th and 99.9th percentiles.
    pub fn total_line(&mut self, now_ms: i64) -> String {
        let elapsed = (now_ms - self.start_ms).max(1) as f64;
        let p = percentiles(&mut self.latencies, &[0.5, 0.95, 0.99, 0.999]);
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / elapsed,
            1000.0 * self.bytes as f64 / elapsed / (1024.0 * 1024.0),
            self.total_latency as f64 / self.count as f64,
            f64::from(self.max_latency),
            p[0],
            p[1],
            p[2],
            p[3]
        )
    }

    /// Records acknowledged so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Kafka's percentile pick: sort, then `values[(int)(p * size)]`; 0 for no samples.
pub fn percentiles<T: Ord + Copy + Default>(values: &mut [T], ps: &[f64]) -> Vec<T> {
    values.sort_unstable();
    ps.iter()
        .map(|p| {
            if values.is_empty() {
                T::default()
            } else {
                values[((p * values.len() as f64) as usize).min(values.len() - 1)]
            }
        })
        .collect()
}

fn parse_acks(v: &str) -> anyhow::Result<i16> {
    match v.trim() {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => anyhow::bail!(
            "Invalid value {other} for configuration acks: String must be one of: all, -1, 0, 1"
        ),
    }
}

fn parse_codec(v: &str) -> anyhow::Result<Compression> {
    Ok(match v.trim() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => anyhow::bail!(
            "Invalid value {other} for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd"
        ),
    })
}

fn num<T: std::str::FromStr>(
    props: &BTreeMap<String, String>,
    key: &str,
) -> anyhow::Result<Option<T>> {
    match props.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            anyhow::anyhow!("Invalid value {v} for configuration {key}: Not a number")
        }),
    }
}

/// Producer properties Strom's producer honours; others are accepted with a warning.
const KNOWN_PROPS: &[&str] = &[
    "bootstrap.servers",
    "acks",
    "linger.ms",
    "batch.size",
    "compression.type",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "buffer.memory",
    "request.timeout.ms",
    "client.id",
    "key.serializer",
    "value.serializer",
    "retries",
    "delivery.timeout.ms",
];

/// Resolves Kafka producer properties into a [`ProducerConfig`] with Kafka 4's defaults
/// (acks=all, linger.ms=5, batch.size=16384, idempotence on unless acks or
/// max.in.flight rule it out). Errors: bad values, `transactional.id`, and idempotence
/// explicitly on with acks other than all or more than 5 requests in flight (Kafka's
/// ConfigException wording).
pub fn producer_config(props: &BTreeMap<String, String>) -> anyhow::Result<ProducerConfig> {
    if props.contains_key("transactional.id") {
        anyhow::bail!("transactions are not supported yet: remove transactional.id (Strom has no transaction coordinator)");
    }
    for k in props.keys() {
        if !KNOWN_PROPS.contains(&k.as_str()) {
            eprintln!(
                "WARN The configuration '{k}' was supplied but isn't used by Strom's producer."
            );
        }
    }
    let mut c = ProducerConfig {
        client_id: props
            .get("client.id")
            .cloned()
            .unwrap_or_else(|| "perf-producer-client".into()),
        ..ProducerConfig::default()
    };
    if let Some(a) = props.get("acks") {
        c.acks = parse_acks(a)?;
    }
    if let Some(ms) = num::<u64>(props, "linger.ms")? {
        c.linger = Duration::from_millis(ms);
    }
    if let Some(b) = num::<usize>(props, "batch.size")? {
        c.batch_size = b.max(1);
    }
    if let Some(v) = props.get("compression.type") {
        c.compression = parse_codec(v)?;
    }
    if let Some(n) = num::<usize>(props, "max.in.flight.requests.per.connection")? {
        if n == 0 {
            anyhow::bail!("Invalid value 0 for configuration max.in.flight.requests.per.connection: Value must be at least 1");
        }
        c.max_in_flight = n;
    }
    if let Some(b) = num::<usize>(props, "buffer.memory")? {
        c.buffer_memory = b.max(1);
    }
    if let Some(ms) = num::<u64>(props, "request.timeout.ms")? {
        c.request_timeout = Duration::from_millis(ms.max(1));
    }
    c.idempotence = match props.get("enable.idempotence").map(|v| v.trim()) {
        Some("true") => {
            if c.acks != -1 {
                anyhow::bail!("Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.");
            }
            if c.max_in_flight > 5 {
                anyhow::bail!("Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer.");
            }
            true
        }
        Some("false") => false,
        Some(other) => anyhow::bail!(
            "Invalid value {other} for configuration enable.idempotence: Expected value to be either true or false"
        ),
        // Kafka 3.2+: the default is on, silently off when acks or in-flight rule it out.
        None => c.acks == -1 && c.max_in_flight <= 5,
    };
    Ok(c)
}

/// What the records carry.
enum Payload {
    Fixed(Vec<u8>),
    File(Vec<Vec<u8>>),
    Monotonic,
}

/// A small xorshift generator (the tool needs cheap, reproducible choices, not quality).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args = expand_multi_value(args, "--producer-props");
    let p = match opts::parse("producer-perf-test", USAGE, OPTS, EXAMPLES, &args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    if p.has("transactional-id") || p.has("transaction-duration-ms") {
        anyhow::bail!("transactions are not supported yet: drop --transactional-id/--transaction-duration-ms (Strom has no transaction coordinator)");
    }
    let topic = p.required("topic")?.to_string();
    let num_records: i64 = p
        .number("num-records")?
        .ok_or_else(|| anyhow::anyhow!("argument --num-records is required"))?;
    if num_records <= 0 {
        anyhow::bail!("--num-records should be greater than zero");
    }
    let throughput: f64 = p
        .number("throughput")?
        .ok_or_else(|| anyhow::anyhow!("argument --throughput is required"))?;
    let chosen = ["record-size", "payload-file", "payload-monotonic"]
        .iter()
        .filter(|f| p.has(f))
        .count();
    if chosen != 1 {
        anyhow::bail!(
            "exactly one of --record-size, --payload-file or --payload-monotonic must be specified"
        );
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let payload = if let Some(size) = p.number::<i64>("record-size")? {
        if size <= 0 {
            anyhow::bail!("--record-size should be greater than zero");
        }
        Payload::Fixed((0..size).map(|_| b'A' + (rng.next() % 26) as u8).collect())
    } else if let Some(path) = p.value("payload-file") {
        let delim = match p.value("payload-delimiter").unwrap_or("\\n") {
            "\\n" => "\n".to_string(),
            d => d.to_string(),
        };
        let text = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read --payload-file {path}: {e}"))?;
        if text.is_empty() {
            anyhow::bail!("File does not exist or empty file provided.");
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let list: Vec<Vec<u8>> = text
            .split(delim.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if list.is_empty() {
            anyhow::bail!("--payload-file {path} holds no payload between delimiters");
        }
        emit(&format!(
            "Reading payloads from: {}",
            std::fs::canonicalize(path).map_or(path.into(), |p| p.display().to_string())
        ));
        emit(&format!("Number of messages read: {}", list.len()));
        Payload::File(list)
    } else {
        Payload::Monotonic
    };
    if !p.has("producer-props") && !p.has("producer.config") {
        anyhow::bail!("Either --producer-props or --producer.config must be specified.");
    }
    let mut props = BTreeMap::new();
    if let Some(f) = p.value("producer.config") {
        props.extend(common::load_properties(f)?);
    }
    for (k, v) in opts::key_values(p.values("producer-props"), "--producer-props")? {
        props.insert(k, v);
    }
    let config = producer_config(&props)?;
    let Some(bootstrap) = props.get("bootstrap.servers").cloned() else {
        anyhow::bail!("Missing required configuration \"bootstrap.servers\" which has no default value; add --producer-props bootstrap.servers=host:port");
    };
    common::block_on(perf(
        bootstrap,
        topic,
        num_records as u64,
        throughput,
        payload,
        config,
        p.has("print-metrics"),
        rng,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn perf(
    bootstrap: String,
    topic: String,
    num_records: u64,
    throughput: f64,
    payload: Payload,
    config: ProducerConfig,
    print_metrics: bool,
    mut rng: Rng,
) -> anyhow::Result<()> {
    let mut client_cfg = strom_client::ClientConfig {
        client_id: config.client_id.clone(),
        ..Default::default()
    };
    client_cfg.timeout = config.request_timeout.min(Duration::from_secs(30));
    let mut client = Client::connect(&bootstrap, client_cfg).await?;
    let start = Instant::now();
    let start_ms = now_ms();
    let stats = Arc::new(Mutex::new(Stats::new(num_records, start_ms)));
    let cb_stats = stats.clone();
    let on_delivery = Box::new(move |d: Delivery<'_>| {
        let now_ns = start.elapsed().as_nanos() as u64;
        let now = start_ms + (now_ns / 1_000_000) as i64;
        let mut s = cb_stats.lock().expect("stats");
        if let Some(e) = d.error {
            s.errors += 1;
            if s.first_error.is_none() {
                s.first_error = Some(format!("partition {}: {e}", d.partition));
            }
            return;
        }
        s.batches += 1;
        s.batch_bytes += d.batch_bytes as u64;
        let n = d.tokens.len() as u64;
        let each = d.payload_bytes / n.max(1);
        let extra = d.payload_bytes - each * n;
        for (i, t) in d.tokens.iter().enumerate() {
            let latency = (now_ns.saturating_sub(*t) / 1_000_000) as i32;
            let bytes = each + if i as u64 + 1 == n { extra } else { 0 };
            if let Some(line) = s.record(latency, bytes, now) {
                emit(&line);
            }
        }
    });
    let producer = Producer::new(&mut client, &topic, config.clone(), on_delivery)
        .await
        .map_err(|e| anyhow::anyhow!("cannot produce to {topic}: {e}"))?;
    let mut throttler = Throttler::new(throughput);
    let loop_start_ns = start.elapsed().as_nanos() as u64;
    let mut mono = String::new();
    for i in 0..num_records {
        let value: &[u8] = match &payload {
            Payload::Fixed(v) => v,
            Payload::File(list) => &list[(rng.next() % list.len() as u64) as usize],
            Payload::Monotonic => {
                mono.clear();
                use std::fmt::Write as _;
                let _ = write!(mono, "{i}");
                mono.as_bytes()
            }
        };
        let send_ns = start.elapsed().as_nanos() as u64;
        let send_ms = start_ms + (send_ns / 1_000_000) as i64;
        producer
            .send(None, None, Some(value), send_ms, send_ns)
            .await?;
        if throttler.should_throttle(i, (send_ns - loop_start_ns) as f64 / 1e9) {
            if let Some(d) = throttler.throttle() {
                if d == Duration::MAX {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(d).await;
                throttler.slept();
            }
        }
    }
    let closed = producer.close().await;
    let mut s = stats.lock().expect("stats");
    emit(&s.total_line(now_ms()));
    if print_metrics {
        let elapsed = start.elapsed().as_secs_f64();
        let id = &config.client_id;
        let rows = [
            ("record-send-total", s.count() as f64),
            ("record-send-rate", s.count() as f64 / elapsed),
            ("record-error-total", s.errors as f64),
            (
                "batch-size-avg",
                s.batch_bytes as f64 / s.batches.max(1) as f64,
            ),
            (
                "records-per-batch-avg",
                s.count() as f64 / s.batches.max(1) as f64,
            ),
            ("outgoing-batch-total", s.batches as f64),
        ];
        emit(&format!("\nMetric Name{:>60}Value", ""));
        for (name, v) in rows {
            let key = format!("producer-metrics:{name}:{{client-id={id}}}");
            emit(&format!("{key:<70} : {v:.3}"));
        }
    }
    if let Some(e) = &s.first_error {
        anyhow::bail!("{} batches failed; the first error: {e}", s.errors);
    }
    closed.map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn producer_props_take_several_values() {
        let got = expand_multi_value(
            &v(&[
                "--producer-props",
                "a=1",
                "b=2",
                "--topic",
                "t",
                "--producer-props",
                "c=3",
            ]),
            "--producer-props",
        );
        assert_eq!(
            got,
            v(&[
                "--producer-props",
                "a=1",
                "--producer-props",
                "b=2",
                "--topic",
                "t",
                "--producer-props",
                "c=3"
            ])
        );
    }

    #[test]
    fn throttler_follows_kafka() {
        let mut t = Throttler::new(1000.0);
        // At 1000 records/s, 1 ms per record: sleeps come in 2 ms steps.
        assert!(!t.should_throttle(5, 0.0), "no elapsed time: no throttling");
        assert!(t.should_throttle(5, 0.004));
        assert!(!t.should_throttle(3, 0.004));
        assert!(t.should_throttle(2, 0.000_5), "sub-millisecond resolution");
        assert_eq!(t.throttle(), None);
        assert_eq!(t.throttle(), Some(Duration::from_millis(2)));
        t.slept();
        assert_eq!(t.throttle(), None);
        let un = Throttler::new(-1.0);
        assert!(!un.should_throttle(1_000_000, 0.001));
        let mut zero = Throttler::new(0.0);
        assert_eq!(zero.throttle(), Some(Duration::MAX));
        let mut slow = Throttler::new(10.0);
        assert_eq!(slow.throttle(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn percentiles_pick_like_kafka() {
        let mut l: Vec<i32> = (1..=1000).rev().collect();
        assert_eq!(
            percentiles(&mut l, &[0.5, 0.95, 0.99, 0.999]),
            vec![501, 951, 991, 1000]
        );
        let mut one = vec![7];
        assert_eq!(percentiles(&mut one, &[0.5, 0.999]), vec![7, 7]);
        let mut none: Vec<i32> = vec![];
        assert_eq!(percentiles(&mut none, &[0.5]), vec![0]);
    }

    #[test]
    fn stats_sample_and_print_kafka_lines() {
        let mut s = Stats::new(1_000_000, 0);
        assert_eq!(s.sampling, 2);
        assert_eq!(s.record(10, 100, 1000), None);
        assert_eq!(s.record(30, 100, 2000), None);
        let w = s.record(20, 100, 5000).unwrap();
        assert_eq!(
            w,
            "3 records sent, 0.6 records/sec (0.00 MB/sec), 20.0 ms avg latency, 30.0 ms max latency."
        );
        assert_eq!(s.latencies, vec![10, 20], "every second latency is sampled");
        let t = s.total_line(10_000);
        assert_eq!(
            t,
            "3 records sent, 0.300000 records/sec (0.00 MB/sec), 20.00 ms avg latency, 30.00 ms max latency, 20 ms 50th, 20 ms 95th, 20 ms 99th, 20 ms 99.9th."
        );
    }

    #[test]
    fn idempotence_defaults_like_kafka() {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let c = producer_config(&m(&[])).unwrap();
        assert!(c.idempotence && c.acks == -1);
        let c = producer_config(&m(&[("acks", "1")])).unwrap();
        assert!(!c.idempotence);
        assert!(producer_config(&m(&[("acks", "1"), ("enable.idempotence", "true")])).is_err());
        assert!(producer_config(&m(&[("transactional.id", "x")])).is_err());
        assert!(producer_config(&m(&[("compression.type", "brotli")])).is_err());
        let c = producer_config(&m(&[("linger.ms", "0"), ("compression.type", "zstd")])).unwrap();
        assert_eq!(c.linger, Duration::ZERO);
        assert_eq!(c.compression, Compression::Zstd);
    }
}
