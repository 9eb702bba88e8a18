//! `strom console-consumer`: Kafka's `kafka-console-consumer.sh`. With `--group` (or
//! `group.id`) it joins the consumer group (range assignor), starts from the group's committed
//! offsets and commits what it printed every 5 s and at exit. Reads the partitions of `--topic` (or every topic matching `--include`) from the
//! latest offset, `--from-beginning`, or `--partition` + `--offset`, and prints each record
//! with Kafka's `DefaultMessageFormatter` (`print.*`, `key.separator`, `line.separator`,
//! `headers.separator`, `null.literal`). Stops at `--max-messages`, after `--timeout-ms`
//! without records, or on Ctrl-C, then prints "Processed a total of N messages" on stderr.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::records::{decode_batches, ConsumerRecord};
use strom_client::{check, topics_of, Client, TopicInfo};

use super::common::{self, fetch_topics, is_internal_topic, topic_filter, Assigned};
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str =
    "This tool helps to read data from Kafka topics and outputs it to standard output.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to."),
    arg("topic", "String: topic", "The topic to consume on."),
    arg("include", "String: Java regex (String)", "Regular expression specifying list of topics to include for consumption."),
    arg("whitelist", "String: Java regex (String)", "DEPRECATED, use --include instead."),
    arg("partition", "Integer: partition", "The partition to consume from. Consumption starts from the end of the partition unless '--offset' is specified."),
    arg("offset", "String: consume offset", "The offset to consume from (a non-negative number), or 'earliest' which means from beginning, or 'latest' which means from end (default: latest)."),
    flag("from-beginning", "If the consumer does not already have an established offset to consume from, start with the earliest message present in the log rather than the latest message."),
    arg("max-messages", "Integer: num_messages", "The maximum number of messages to consume before exiting. If not set, consumption is continual."),
    arg("timeout-ms", "Long: timeout_ms", "If specified, exit if no message is available for consumption for the specified interval."),
    arg("group", "String: consumer group id", "The consumer group id of the consumer."),
    arg("isolation-level", "String", "Set to read_committed in order to filter out transactional messages which are not committed. Set to read_uncommitted to read all messages (default: read_uncommitted)."),
    arg("property", "String: prop", "The properties to initialize the message formatter: print.timestamp, print.key, print.offset, print.partition, print.headers, print.value, key.separator, line.separator, headers.separator, null.literal."),
    arg("formatter-config", "String: config file", "Config properties file to initialize the message formatter."),
    arg("formatter", "String: class", "The name of a class to use for formatting Kafka messages for display (only the default formatter is supported)."),
    flag("skip-message-on-error", "If there is an error when processing a message, skip it instead of halt."),
    arg("consumer-property", "String: consumer_prop", "A mechanism to pass user-defined properties in the form key=value to the consumer."),
    arg("consumer.config", "String: config file", "Consumer config properties file. Note that --consumer-property takes precedence over this config."),
    arg("command-config", "String: config file", "Same as --consumer.config."),
    arg("key-deserializer", "String: deserializer for key", "Accepted for compatibility; keys are printed as bytes (UTF-8)."),
    arg("value-deserializer", "String: deserializer for values", "Accepted for compatibility; values are printed as bytes (UTF-8)."),
    flag("enable-systest-events", "Accepted for compatibility."),
];

const EXAMPLES: &str = "\
  strom console-consumer --bootstrap-server localhost:9092 --topic orders --from-beginning
  strom console-consumer --bootstrap-server localhost:9092 --topic orders --partition 0 --offset 42 --max-messages 10
  strom console-consumer --bootstrap-server localhost:9092 --include 'orders.*' --property print.key=true --property print.timestamp=true
";

/// Kafka's `DefaultMessageFormatter`.
#[derive(Debug, Clone)]
pub struct Formatter {
    pub print_timestamp: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub key_separator: Vec<u8>,
    pub line_separator: Vec<u8>,
    pub headers_separator: Vec<u8>,
    pub null_literal: Vec<u8>,
}

impl Formatter {
    /// From `--property` pairs; unknown keys are ignored, as Kafka does.
    pub fn from_props(props: &BTreeMap<String, String>) -> Formatter {
        let b = |k: &str, d: bool| {
            props
                .get(k)
                .map_or(d, |v| v.trim().eq_ignore_ascii_case("true"))
        };
        let s = |k: &str, d: &str| {
            props
                .get(k)
                .map_or(d.as_bytes().to_vec(), |v| unescape(v).into_bytes())
        };
        Formatter {
            print_timestamp: b("print.timestamp", false),
            print_key: b("print.key", false),
            print_value: b("print.value", true),
            print_partition: b("print.partition", false),
            print_offset: b("print.offset", false),
            print_headers: b("print.headers", false),
            key_separator: s("key.separator", "\t"),
            line_separator: s("line.separator", "\n"),
            headers_separator: s("headers.separator", ","),
            null_literal: s("null.literal", "null"),
        }
    }

    fn sep(&self, out: &mut Vec<u8>, column: bool) {
        out.extend_from_slice(if column {
            &self.key_separator
        } else {
            &self.line_separator
        });
    }

    /// Appends one record's output to `out`.
    pub fn write(&self, out: &mut Vec<u8>, partition: i32, r: &ConsumerRecord) {
        let bytes = |b: &Option<Vec<u8>>| b.clone().unwrap_or_else(|| self.null_literal.clone());
        if self.print_timestamp {
            let kind = if r.timestamp_ms < 0 {
                None
            } else if r.log_append_time {
                Some("LogAppendTime")
            } else {
                Some("CreateTime")
            };
            match kind {
                Some(k) => out.extend_from_slice(format!("{k}:{}", r.timestamp_ms).as_bytes()),
                None => out.extend_from_slice(b"NO_TIMESTAMP"),
            }
            self.sep(
                out,
                self.print_partition
                    || self.print_offset
                    || self.print_headers
                    || self.print_key
                    || self.print_value,
            );
        }
        if self.print_partition {
            out.extend_from_slice(format!("Partition:{partition}").as_bytes());
            self.sep(
                out,
                self.print_offset || self.print_headers || self.print_key || self.print_value,
            );
        }
        if self.print_offset {
            out.extend_from_slice(format!("Offset:{}", r.offset).as_bytes());
            self.sep(
                out,
                self.print_headers || self.print_key || self.print_value,
            );
        }
        if self.print_headers {
            if r.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            }
            for (i, (k, v)) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(&self.headers_separator);
                }
                out.extend_from_slice(k);
                out.push(b':');
                out.extend_from_slice(&bytes(v));
            }
            self.sep(out, self.print_key || self.print_value);
        }
        if self.print_key {
            out.extend_from_slice(&bytes(&r.key));
            self.sep(out, self.print_value);
        }
        if self.print_value {
            out.extend_from_slice(&bytes(&r.value));
            out.extend_from_slice(&self.line_separator);
        }
    }
}

/// Java-properties style escapes a shell user types in `--property key.separator=\t`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Earliest,
    Latest,
    At(i64),
}

struct Settings {
    bootstrap: String,
    topic: Option<String>,
    include: Option<regex::Regex>,
    partition: Option<i32>,
    start: Start,
    max_messages: Option<u64>,
    timeout: Option<Duration>,
    isolation_level: i8,
    formatter: Formatter,
    skip_on_error: bool,
    client: strom_client::ClientConfig,
    /// `--group` or `group.id`: join this consumer group and commit offsets.
    group: Option<String>,
}

fn settings(p: &Parsed) -> anyhow::Result<Settings> {
    let bootstrap = p
        .value("bootstrap-server")
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
            )
        })?
        .to_string();
    let include = p.value("include").or(p.value("whitelist"));
    let topic = p.value("topic");
    match (topic, include) {
        (None, None) => {
            anyhow::bail!("Exactly one of --include/--topic is required; add --topic <topic>")
        }
        (Some(_), Some(_)) => {
            anyhow::bail!("Exactly one of --include/--topic is required, not both")
        }
        _ => {}
    }
    if p.has("partition") && topic.is_none() {
        anyhow::bail!("The topic is required when partition is specified.");
    }
    if p.has("from-beginning") && p.has("offset") {
        anyhow::bail!("Options from-beginning and offset cannot be specified together.");
    }
    if p.has("offset") && !p.has("partition") {
        anyhow::bail!("The partition is required when offset is specified.");
    }
    if let Some(f) = p.value("formatter") {
        if !f.ends_with("DefaultMessageFormatter") {
            anyhow::bail!(
                "--formatter {f} is not supported; only Kafka's DefaultMessageFormatter is"
            );
        }
    }
    let start = match p.value("offset") {
        Some(o) => match o.trim().to_ascii_lowercase().as_str() {
            "earliest" => Start::Earliest,
            "latest" => Start::Latest,
            n => match n.parse::<i64>() {
                Ok(n) if n >= 0 => Start::At(n),
                _ => anyhow::bail!("The provided offset value '{o}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
            },
        },
        None if p.has("from-beginning") => Start::Earliest,
        None => Start::Latest,
    };
    let mut consumer_props = BTreeMap::new();
    for f in ["consumer.config", "command-config"] {
        if let Some(path) = p.value(f) {
            consumer_props.extend(common::load_properties(path)?);
        }
    }
    consumer_props.extend(opts::key_values(
        p.values("consumer-property"),
        "--consumer-property",
    )?);
    let group = match (p.value("group"), consumer_props.get("group.id")) {
        (Some(g), Some(id)) if g != id => anyhow::bail!(
            "The group ids provided in different places (directly using '--group': {g}, via property 'group.id': {id}) do not match; give one"
        ),
        (Some(g), _) => Some(g.to_string()),
        (None, id) => id.cloned(),
    };
    if group.is_some() && p.has("partition") {
        anyhow::bail!("Options group and partition cannot be specified together: a group member reads the partitions the group assigns it");
    }
    let isolation = p
        .value("isolation-level")
        .or(consumer_props.get("isolation.level").map(String::as_str))
        .unwrap_or("read_uncommitted");
    let isolation_level = match isolation {
        "read_uncommitted" => 0,
        "read_committed" => 1,
        other => anyhow::bail!(
            "invalid --isolation-level '{other}': use read_committed or read_uncommitted"
        ),
    };
    let mut fprops = BTreeMap::new();
    if let Some(f) = p.value("formatter-config") {
        fprops.extend(common::load_properties(f)?);
    }
    fprops.extend(opts::key_values(p.values("property"), "--property")?);
    let max_messages = p.number::<i64>("max-messages")?;
    Ok(Settings {
        bootstrap,
        topic: topic.map(String::from),
        include: include.map(topic_filter).transpose()?,
        partition: p.number("partition")?,
        start,
        max_messages: max_messages.filter(|n| *n >= 0).map(|n| n as u64),
        timeout: p.number::<u64>("timeout-ms")?.map(Duration::from_millis),
        isolation_level,
        formatter: Formatter::from_props(&fprops),
        skip_on_error: p.has("skip-message-on-error"),
        client: common::client_config(&consumer_props),
        group,
    })
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("console-consumer", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let s = settings(&p)?;
    let mut processed = 0u64;
    let r = common::block_on(consume(&s, &mut processed));
    // Kafka prints this at exit; after a failure before any record it would only add a
    // second line to the one-line error.
    if r.is_ok() || processed > 0 {
        eprintln!("Processed a total of {processed} messages");
    }
    r
}

async fn assignment(client: &mut Client, s: &Settings) -> anyhow::Result<Vec<Assigned>> {
    let topics: Vec<TopicInfo> = match &s.topic {
        Some(t) => {
            let md = client.metadata(Some(std::slice::from_ref(t))).await?;
            let ti = topics_of(&md).into_iter().next();
            match ti {
                Some(ti) if ti.error_code == 0 => vec![ti],
                Some(ti) if ti.error_code == 3 => anyhow::bail!(
                    "Topic {t} does not exist; create it with 'strom topics --create --topic {t}' or check the name"
                ),
                Some(ti) => {
                    check(ti.error_code, None)?;
                    unreachable!()
                }
                None => anyhow::bail!("Topic {t} not present in metadata"),
            }
        }
        None => {
            let md = client.metadata(None).await?;
            let re = s.include.as_ref().expect("checked in settings");
            let mut ts: Vec<TopicInfo> = topics_of(&md)
                .into_iter()
                .filter(|t| !t.is_internal && !is_internal_topic(&t.name) && re.is_match(&t.name))
                .collect();
            ts.sort_by(|a, b| a.name.cmp(&b.name));
            ts
        }
    };
    let mut out = Vec::new();
    for t in topics {
        for p in &t.partitions {
            if s.partition.is_some_and(|want| want != p.partition) {
                continue;
            }
            out.push(Assigned {
                topic: t.name.clone(),
                topic_id: t.topic_id,
                partition: p.partition,
                leader: p.leader,
                position: -1,
            });
        }
    }
    if let (Some(want), Some(t)) = (s.partition, &s.topic) {
        if out.is_empty() {
            anyhow::bail!("Partition {want} of topic {t} does not exist");
        }
    }
    Ok(out)
}

/// ListOffsets for every assigned partition at `timestamp` (-2 earliest, -1 latest).
async fn list_offsets(
    client: &mut Client,
    parts: &[&Assigned],
    timestamp: i64,
    isolation_level: i8,
) -> anyhow::Result<HashMap<(String, i32), i64>> {
    let mut by_leader: BTreeMap<i32, Vec<&Assigned>> = BTreeMap::new();
    for a in parts {
        by_leader.entry(a.leader).or_default().push(a);
    }
    let mut out = HashMap::new();
    for (leader, parts) in by_leader {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for a in parts {
            topics.entry(&a.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(a.partition)
                    .with_timestamp(timestamp),
            );
        }
        let conn = client.conn(leader).await?;
        let v = conn.version_for::<ListOffsetsRequest>()?;
        let mut req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        if v >= 2 {
            req.isolation_level = isolation_level;
        }
        let resp = conn.send_version(&req, v).await?;
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, None)?;
                out.insert((t.name.0.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

async fn consume(s: &Settings, processed: &mut u64) -> anyhow::Result<()> {
    let mut client = Client::connect(&s.bootstrap, s.client.clone()).await?;
    let mut parts = assignment(&mut client, s).await?;
    let ts = match s.start {
        Start::Earliest => -2,
        _ => -1,
    };
    let all: Vec<&Assigned> = parts.iter().collect();
    let offsets = list_offsets(&mut client, &all, ts, s.isolation_level).await?;
    for a in &mut parts {
        a.position = match s.start {
            Start::At(n) => n,
            _ => offsets
                .get(&(a.topic.clone(), a.partition))
                .copied()
                .unwrap_or(0),
        };
    }
    let mut member = match &s.group {
        Some(g) => Some(join_group(&mut client, s, g, &mut parts).await?),
        None => None,
    };
    let mut last_commit = Instant::now();
    let stdout = std::io::stdout();
    let progress = super::progress::Progress::records(
        super::progress::wanted(
            super::progress::stderr_is_terminal(),
            !std::io::IsTerminal::is_terminal(&stdout),
        ),
        "written",
    );
    let mut last_record = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if let Some(m) = member.as_mut() {
            if last_commit.elapsed() >= GROUP_COMMIT_INTERVAL {
                last_commit = Instant::now();
                group_tick(&mut client, s, m, &mut parts).await?;
            }
        }
        if s.max_messages.is_some_and(|m| *processed >= m) {
            break;
        }
        if let Some(t) = s.timeout {
            if last_record.elapsed() >= t {
                break;
            }
        }
        if parts.is_empty() {
            // --include matched nothing yet: wait for topics to appear.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = &mut ctrl_c => break,
            }
            if member.is_some() {
                // A member without partitions waits for the next rebalance (group_tick).
                continue;
            }
            parts = assignment(&mut client, s).await?;
            let all: Vec<&Assigned> = parts.iter().collect();
            let offsets = list_offsets(&mut client, &all, ts, s.isolation_level).await?;
            for a in &mut parts {
                a.position = offsets
                    .get(&(a.topic.clone(), a.partition))
                    .copied()
                    .unwrap_or(0);
            }
            continue;
        }
        let max_wait = s.timeout.map_or(500, |t| {
            t.saturating_sub(last_record.elapsed())
                .as_millis()
                .clamp(1, 500) as i32
        });
        let fetched = tokio::select! {
            r = fetch_once(&mut client, &mut parts, s, max_wait) => r?,
            _ = &mut ctrl_c => break,
        };
        if fetched.is_empty() {
            continue;
        }
        last_record = Instant::now();
        let mut out = Vec::new();
        for (partition, rec) in fetched {
            if s.max_messages.is_some_and(|m| *processed >= m) {
                // Not printed: the group must not commit past it. Keyed by partition number
                // only, so with several topics a same-numbered partition may commit lower
                // (read again later), never higher.
                for a in parts.iter_mut().filter(|a| a.partition == partition) {
                    a.position = a.position.min(rec.offset);
                }
                continue;
            }
            s.formatter.write(&mut out, partition, &rec);
            *processed += 1;
        }
        let mut lock = stdout.lock();
        if lock.write_all(&out).and_then(|_| lock.flush()).is_err() {
            // stdout closed (a pipe into `head`): stop quietly, as Kafka does.
            break;
        }
        progress.message(format!("{processed} records written"));
    }
    drop(progress);
    if let Some(mut m) = member {
        m.commit(&positions(&parts)).await?;
        let _ = m.leave().await;
    }
    Ok(())
}

/// How often a group member heartbeats and commits what it printed.
const GROUP_COMMIT_INTERVAL: Duration = Duration::from_secs(3);

/// The next offset to read of every assigned partition: what a group member commits.
fn positions(parts: &[Assigned]) -> BTreeMap<(String, i32), i64> {
    parts
        .iter()
        .filter(|a| a.position >= 0)
        .map(|a| ((a.topic.clone(), a.partition), a.position))
        .collect()
}

/// Joins `group` subscribed to the topics of `parts`, keeps only the assigned partitions and
/// starts each at the group's committed offset, else at the start policy.
async fn join_group(
    client: &mut Client,
    s: &Settings,
    group: &str,
    parts: &mut Vec<Assigned>,
) -> anyhow::Result<strom_client::groups::Membership> {
    let mut topics: Vec<String> = parts.iter().map(|a| a.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let m = strom_client::groups::Membership::join(client, group, &topics, 10_000, 30_000).await?;
    start_assigned(client, s, group, &m, parts).await?;
    Ok(m)
}

async fn start_assigned(
    client: &mut Client,
    s: &Settings,
    group: &str,
    m: &strom_client::groups::Membership,
    parts: &mut Vec<Assigned>,
) -> anyhow::Result<()> {
    let mut all = assignment(client, s).await?;
    all.retain(|a| m.assignment.contains(&(a.topic.clone(), a.partition)));
    let committed = client.fetch_offsets(group).await?;
    let ts = if s.start == Start::Earliest { -2 } else { -1 };
    let fresh: Vec<&Assigned> = all
        .iter()
        .filter(|a| !committed.contains_key(&(a.topic.clone(), a.partition)))
        .collect();
    let offsets = list_offsets(client, &fresh, ts, s.isolation_level).await?;
    for a in &mut all {
        let tp = (a.topic.clone(), a.partition);
        a.position = match committed.get(&tp) {
            Some(c) => c.offset,
            None => offsets.get(&tp).copied().unwrap_or(0),
        };
    }
    *parts = all;
    Ok(())
}

/// Commits what was printed and heartbeats; on a rebalance, joins again and takes the new
/// assignment.
async fn group_tick(
    client: &mut Client,
    s: &Settings,
    m: &mut strom_client::groups::Membership,
    parts: &mut Vec<Assigned>,
) -> anyhow::Result<()> {
    let r = match m.commit(&positions(parts)).await {
        Ok(()) => m.heartbeat().await,
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if strom_client::groups::needs_rejoin(&e) => {
            m.rejoin(client).await?;
            let group = s.group.clone().expect("a member has a group");
            start_assigned(client, s, &group, m, parts).await
        }
        Err(e) => Err(e.into()),
    }
}

/// One Fetch round over every leader; returns (partition, record) in order and advances
/// positions. Resets a position that is out of range to the start policy.
async fn fetch_once(
    client: &mut Client,
    parts: &mut [Assigned],
    s: &Settings,
    max_wait_ms: i32,
) -> anyhow::Result<Vec<(i32, ConsumerRecord)>> {
    let leaders: Vec<i32> = {
        let mut l: Vec<i32> = parts.iter().map(|a| a.leader).collect();
        l.sort();
        l.dedup();
        l
    };
    let mut out = Vec::new();
    for leader in leaders {
        let conn = client.conn(leader).await?;
        let v = conn.version_for::<FetchRequest>()?;
        let topics = fetch_topics(parts, leader, v, 1024 * 1024);
        let mut req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(16 * 1024 * 1024)
            .with_topics(topics);
        req.isolation_level = s.isolation_level;
        req.session_epoch = -1;
        // Make the timeout of this request cover the long poll.
        let resp = conn.send_version(&req, v).await?;
        check(resp.error_code, None)?;
        let mut reset: Vec<usize> = Vec::new();
        for t in &resp.responses {
            for pr in &t.partitions {
                let idx = parts.iter().position(|a| {
                    a.leader == leader
                        && a.partition == pr.partition_index
                        && if v >= 13 {
                            t.topic_id.as_bytes() == &a.topic_id
                        } else {
                            t.topic.0.as_str() == a.topic
                        }
                });
                let Some(idx) = idx else { continue };
                match pr.error_code {
                    0 => {}
                    1 => {
                        reset.push(idx);
                        continue;
                    }
                    code => {
                        let e = strom_client::kafka_error_text(code, None);
                        if s.skip_on_error {
                            eprintln!(
                                "Error fetching {}-{}: {e}",
                                parts[idx].topic, pr.partition_index
                            );
                            continue;
                        }
                        anyhow::bail!(
                            "fetching {}-{} failed: {e}",
                            parts[idx].topic,
                            pr.partition_index
                        );
                    }
                }
                let Some(bytes) = &pr.records else { continue };
                let recs = match decode_batches(bytes, parts[idx].position) {
                    Ok(r) => r,
                    Err(e) if s.skip_on_error => {
                        eprintln!("Error processing message, skipping this message: {e}");
                        continue;
                    }
                    Err(e) => {
                        anyhow::bail!("Error processing message, terminating consumer process: {e}")
                    }
                };
                if let Some(last) = recs.last() {
                    parts[idx].position = last.offset + 1;
                }
                out.extend(recs.into_iter().map(|r| (pr.partition_index, r)));
            }
        }
        if !reset.is_empty() {
            let ts = if s.start == Start::Earliest { -2 } else { -1 };
            let which: Vec<&Assigned> = reset.iter().map(|i| &parts[*i]).collect();
            let offsets = list_offsets(client, &which, ts, s.isolation_level).await?;
            for i in reset {
                let a = &mut parts[i];
                if let Some(o) = offsets.get(&(a.topic.clone(), a.partition)) {
                    a.position = *o;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> ConsumerRecord {
        ConsumerRecord {
            offset: 7,
            timestamp_ms: 1000,
            log_append_time: false,
            key: Some(b"k".to_vec()),
            value: None,
            headers: vec![
                (b"h1".to_vec(), Some(b"v1".to_vec())),
                (b"h2".to_vec(), None),
            ],
        }
    }

    fn fmt(props: &[(&str, &str)]) -> String {
        let m = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = Vec::new();
        Formatter::from_props(&m).write(&mut out, 2, &rec());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_prints_value_only() {
        assert_eq!(fmt(&[]), "null\n");
    }

    #[test]
    fn every_print_property() {
        let all = [
            ("print.timestamp", "true"),
            ("print.partition", "true"),
            ("print.offset", "true"),
            ("print.headers", "true"),
            ("print.key", "true"),
            ("null.literal", "NIL"),
        ];
        assert_eq!(
            fmt(&all),
            "CreateTime:1000\tPartition:2\tOffset:7\th1:v1,h2:NIL\tk\tNIL\n"
        );
        assert_eq!(
            fmt(&[
                ("print.key", "true"),
                ("print.value", "false"),
                ("line.separator", "|")
            ]),
            "k|"
        );
        assert_eq!(
            fmt(&[
                ("print.headers", "true"),
                ("headers.separator", ";"),
                ("key.separator", " => ")
            ]),
            "h1:v1;h2:null => null\n"
        );
        assert_eq!(unescape("a\\tb"), "a\tb");
    }
}
