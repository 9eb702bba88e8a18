//! `consume`: a fresh consumer reads a topic from the beginning (catch-up of a backlog).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::{self, parse_prop, Deadline, Prop, Result};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Stop after this many records (default: the end offsets taken before the start).
    #[arg(long)]
    pub count: Option<u64>,
    /// Wall-clock limit of the whole run; the run fails when it is reached.
    #[arg(long, default_value_t = 600.0)]
    pub timeout_secs: f64,
    /// Consumer properties for librdkafka, e.g. `fetch.max.bytes=52428800`.
    #[arg(value_parser = parse_prop)]
    pub props: Vec<Prop>,
}

/// The topic's partitions with their (log start, end) offsets.
pub fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Deadline,
) -> Result<Vec<(i32, i64, i64)>> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("no metadata for {topic}"))?;
    if let Some(e) = t.error() {
        return Err(format!("metadata of {topic}: {e:?}"));
    }
    let mut out = Vec::new();
    for p in t.partitions() {
        deadline.check("end offsets")?;
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .map_err(|e| format!("offsets of {topic}-{}: {e}", p.id()))?;
        out.push((p.id(), low, high));
    }
    if out.is_empty() {
        return Err(format!("{topic} has no partitions"));
    }
    out.sort_unstable();
    Ok(out)
}

/// Consumer settings for reading with partitions assigned directly: no commits, no
/// end-of-partition events. librdkafka refuses `assign` without a `group.id`; the group is
/// never joined (see [`group_id`]).
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "strom-bench"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("auto.offset.reset", "earliest"),
];

/// A group id of its own for each consumer: it is only named, never joined or committed to.
fn group_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("strom-bench-{}-{nanos}", std::process::id())
}

/// [`CONSUMER_DEFAULTS`], a fresh group id unless the props name one, then the props.
pub fn consumer_config(bootstrap: &str, props: &[Prop]) -> ClientConfig {
    let mut c = common::client_config(bootstrap, CONSUMER_DEFAULTS, props);
    if c.get("group.id").is_none() {
        c.set("group.id", group_id());
    }
    c
}

pub fn run(a: &Args) -> Result<serde_json::Value> {
    let deadline = Deadline::after_secs(a.timeout_secs);
    let consumer: BaseConsumer = consumer_config(&a.bootstrap, &a.props)
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let parts = watermarks(&consumer, &a.topic, deadline)?;
    let backlog: u64 = parts
        .iter()
        .map(|&(_, lo, hi)| (hi - lo).max(0) as u64)
        .sum();
    let want = a.count.unwrap_or(backlog);
    if want > backlog {
        return Err(format!("{want} records asked, {} holds {backlog}", a.topic));
    }
    let mut tpl = TopicPartitionList::new();
    for &(p, _, _) in &parts {
        tpl.add_partition_offset(&a.topic, p, Offset::Beginning)
            .map_err(|e| format!("assignment: {e}"))?;
    }
    let start = Instant::now();
    consumer.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < want {
        let idle = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload_len() as u64 + m.key().map_or(0, |k| k.len() as u64);
                false
            }
            Some(Err(e)) => return Err(format!("after {records} records: {e}")),
            None => true,
        };
        if idle || records % 4096 == 0 {
            deadline.check(&format!("consume ({records} of {want} records)"))?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "records": records,
        "bytes": bytes,
        "seconds": seconds,
        "records_per_sec": records as f64 / seconds,
        "mb_per_sec": common::mb_per_sec(bytes, seconds),
        "partitions": parts.len(),
    }))
}
