//! Broker and topic configuration: Kafka's key names, defaults, types and validation.
//!
//! Two tables drive everything: [`BROKER_CONFIGS`] (keys of `server.properties`) and
//! [`TOPIC_CONFIGS`] (per-topic overrides, each with the broker key that supplies its default,
//! as Kafka's `ServerTopicConfigSynonyms`). DescribeConfigs, AlterConfigs, CreateTopics and the
//! config file loader all validate through [`validate_value`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Kafka's config types, as reported in DescribeConfigs v3+ (`config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// What values a config accepts beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Valid {
    Any,
    /// Inclusive numeric range.
    Range(i64, i64),
    /// At least this value, or exactly -1 (meaning "unlimited"/"unset").
    AtLeastOrMinusOne(i64),
    /// One of these strings (case-sensitive, as Kafka's `ValidString`).
    OneOf(&'static [&'static str]),
    /// A list whose every element is one of these.
    ListOf(&'static [&'static str]),
    /// A double in the inclusive range.
    DoubleRange(f64, f64),
}

/// One config key.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub default: Option<&'static str>,
    pub valid: Valid,
    pub doc: &'static str,
    /// For topic configs: the broker keys that supply the default, most specific first.
    pub synonyms: &'static [&'static str],
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: Option<&'static str>,
    valid: Valid,
    synonyms: &'static [&'static str],
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        valid,
        doc,
        synonyms,
    }
}

use ConfigType as T;

const LONG_MAX: &str = "9223372036854775807";
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Topic-level configs Kafka 4.x knows, with the broker keys that default them.
pub static TOPIC_CONFIGS: &[ConfigDef] = &[
    def("cleanup.policy", T::List, Some("delete"), Valid::ListOf(&["compact", "delete"]), &["log.cleanup.policy"], "The retention policy for log segments: delete, compact, or both."),
    def("compression.gzip.level", T::Int, Some("-1"), Valid::Range(-1, 9), &["compression.gzip.level"], "The compression level to use if compression.type is set to gzip."),
    def("compression.lz4.level", T::Int, Some("9"), Valid::Range(1, 17), &["compression.lz4.level"], "The compression level to use if compression.type is set to lz4."),
    def("compression.type", T::String, Some("producer"), Valid::OneOf(CODECS), &["compression.type"], "The final compression type for the topic: a codec, 'uncompressed', or 'producer' to keep the producer's codec."),
    def("compression.zstd.level", T::Int, Some("3"), Valid::Range(-131072, 22), &["compression.zstd.level"], "The compression level to use if compression.type is set to zstd."),
    def("delete.retention.ms", T::Long, Some("86400000"), Valid::Range(0, i64::MAX), &["log.cleaner.delete.retention.ms"], "How long delete tombstones are retained on compacted topics."),
    def("file.delete.delay.ms", T::Long, Some("60000"), Valid::Range(0, i64::MAX), &["log.segment.delete.delay.ms"], "The time to wait before deleting a file from the filesystem."),
    def("flush.messages", T::Long, Some(LONG_MAX), Valid::Range(1, i64::MAX), &["log.flush.interval.messages"], "Force an fsync of the log after this many messages."),
    def("flush.ms", T::Long, Some(LONG_MAX), Valid::Range(0, i64::MAX), &["log.flush.interval.ms"], "Force an fsync of the log after this much time."),
    def("follower.replication.throttled.replicas", T::List, Some(""), Valid::Any, &["follower.replication.throttled.replicas"], "Replicas whose log replication is throttled on the follower side."),
    def("index.interval.bytes", T::Int, Some("4096"), Valid::Range(0, i32::MAX as i64), &["log.index.interval.bytes"], "How often an entry is added to the offset index, in bytes."),
    def("leader.replication.throttled.replicas", T::List, Some(""), Valid::Any, &["leader.replication.throttled.replicas"], "Replicas whose log replication is throttled on the leader side."),
    def("local.retention.bytes", T::Long, Some("-2"), Valid::Range(-2, i64::MAX), &["log.local.retention.bytes"], "Local retention in bytes when tiered storage is on (-2: retention.bytes)."),
    def("local.retention.ms", T::Long, Some("-2"), Valid::Range(-2, i64::MAX), &["log.local.retention.ms"], "Local retention in ms when tiered storage is on (-2: retention.ms)."),
    def("max.compaction.lag.ms", T::Long, Some(LONG_MAX), Valid::Range(1, i64::MAX), &["log.cleaner.max.compaction.lag.ms"], "The maximum time a message remains ineligible for compaction."),
    def("max.message.bytes", T::Int, Some("1048588"), Valid::Range(0, i32::MAX as i64), &["message.max.bytes"], "The largest record batch size allowed, after compression."),
    def("message.timestamp.after.max.ms", T::Long, Some("3600000"), Valid::Range(0, i64::MAX), &["log.message.timestamp.after.max.ms"], "How far a CreateTime timestamp may be ahead of the broker's clock."),
    def("message.timestamp.before.max.ms", T::Long, Some(LONG_MAX), Valid::Range(0, i64::MAX), &["log.message.timestamp.before.max.ms"], "How far a CreateTime timestamp may be behind the broker's clock."),
    def("message.timestamp.type", T::String, Some("CreateTime"), Valid::OneOf(&["CreateTime", "LogAppendTime"]), &["log.message.timestamp.type"], "Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime)."),
    def("min.cleanable.dirty.ratio", T::Double, Some("0.5"), Valid::DoubleRange(0.0, 1.0), &["log.cleaner.min.cleanable.ratio"], "The minimum dirty ratio before the log cleaner compacts."),
    def("min.compaction.lag.ms", T::Long, Some("0"), Valid::Range(0, i64::MAX), &["log.cleaner.min.compaction.lag.ms"], "The minimum time a message remains uncompacted."),
    def("min.insync.replicas", T::Int, Some("1"), Valid::Range(1, i32::MAX as i64), &["min.insync.replicas"], "With acks=all, the minimum number of in-sync replicas that must acknowledge a write."),
    def("preallocate", T::Boolean, Some("false"), Valid::Any, &["log.preallocate"], "Preallocate the file on disk when creating a new log segment."),
    def("remote.storage.enable", T::Boolean, Some("false"), Valid::Any, &[], "Enable tiered storage for the topic."),
    def("retention.bytes", T::Long, Some("-1"), Valid::Any, &["log.retention.bytes"], "The maximum size of a partition before old segments are deleted (-1: no limit)."),
    def("retention.ms", T::Long, Some("604800000"), Valid::Range(-1, i64::MAX), &["log.retention.ms", "log.retention.minutes", "log.retention.hours"], "How long a segment is retained before deletion (-1: no limit)."),
    def("segment.bytes", T::Int, Some("1073741824"), Valid::Range(1048576, i32::MAX as i64), &["log.segment.bytes"], "The segment file size of the log."),
    def("segment.index.bytes", T::Int, Some("10485760"), Valid::Range(4, i32::MAX as i64), &["log.index.size.max.bytes"], "The size of the index that maps offsets to file positions."),
    def("segment.jitter.ms", T::Long, Some("0"), Valid::Range(0, i64::MAX), &["log.roll.jitter.ms", "log.roll.jitter.hours"], "The maximum random jitter subtracted from segment.ms."),
    def("segment.ms", T::Long, Some("604800000"), Valid::Range(1, i64::MAX), &["log.roll.ms", "log.roll.hours"], "The time after which the log rolls a new segment even if it is not full."),
    def("unclean.leader.election.enable", T::Boolean, Some("false"), Valid::Any, &["unclean.leader.election.enable"], "Whether replicas not in the ISR may be elected leader."),
];

/// Broker keys Strom reads or accepts, with Kafka's defaults. Keys listed here and not
/// otherwise used are accepted silently (they are Kafka keys); keys found nowhere get a warning.
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    def("node.id", T::Int, Some("1"), Valid::Range(0, i32::MAX as i64), &[], "The node id of this server."),
    def("broker.id", T::Int, Some("-1"), Valid::Range(-1, i32::MAX as i64), &[], "Older name of node.id."),
    def("process.roles", T::List, Some("broker,controller"), Valid::ListOf(&["broker", "controller"]), &[], "The roles this process plays."),
    def("listeners", T::String, Some("PLAINTEXT://localhost:9092"), Valid::Any, &[], "Comma-separated listener URIs to bind."),
    def("advertised.listeners", T::String, None, Valid::Any, &[], "Listeners to publish to clients, if different from listeners."),
    def("listener.security.protocol.map", T::String, Some("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), Valid::Any, &[], "Listener name to security protocol."),
    def("controller.listener.names", T::List, Some("CONTROLLER"), Valid::Any, &[], "Listener names used by the controller."),
    def("inter.broker.listener.name", T::String, None, Valid::Any, &[], "Listener used between brokers."),
    def("controller.quorum.voters", T::List, Some(""), Valid::Any, &[], "The controller quorum voters (id@host:port)."),
    def("controller.quorum.bootstrap.servers", T::List, Some(""), Valid::Any, &[], "Controller endpoints to bootstrap from."),
    def("log.dirs", T::List, None, Valid::Any, &[], "Directories where partition logs are kept."),
    def("log.dir", T::String, Some("./data"), Valid::Any, &[], "The data directory used when log.dirs is not set."),
    def("metadata.log.dir", T::String, None, Valid::Any, &[], "Directory of the metadata log (default: the first log dir)."),
    def("num.partitions", T::Int, Some("1"), Valid::Range(1, i32::MAX as i64), &[], "Default number of partitions of auto-created topics."),
    def("default.replication.factor", T::Int, Some("1"), Valid::Range(1, i16::MAX as i64), &[], "Default replication factor of auto-created topics."),
    def("min.insync.replicas", T::Int, Some("1"), Valid::Range(1, i32::MAX as i64), &[], "Default min.insync.replicas."),
    def("auto.create.topics.enable", T::Boolean, Some("true"), Valid::Any, &[], "Create topics on Metadata requests for unknown topics."),
    def("delete.topic.enable", T::Boolean, Some("true"), Valid::Any, &[], "Allow topic deletion."),
    def("log.retention.hours", T::Int, Some("168"), Valid::Range(-1, i32::MAX as i64), &[], "Retention time in hours."),
    def("log.retention.minutes", T::Int, None, Valid::Range(-1, i32::MAX as i64), &[], "Retention time in minutes (overrides hours)."),
    def("log.retention.ms", T::Long, None, Valid::Range(-1, i64::MAX), &[], "Retention time in ms (overrides minutes)."),
    def("log.retention.bytes", T::Long, Some("-1"), Valid::Any, &[], "Retention size per partition."),
    def("log.retention.check.interval.ms", T::Long, Some("300000"), Valid::Range(1, i64::MAX), &[], "How often retention is checked."),
    def("log.segment.bytes", T::Int, Some("1073741824"), Valid::Range(14, i32::MAX as i64), &[], "Segment file size."),
    def("log.roll.hours", T::Int, Some("168"), Valid::Range(1, i32::MAX as i64), &[], "Max time before a new segment is rolled, in hours."),
    def("log.roll.ms", T::Long, None, Valid::Range(1, i64::MAX), &[], "Max time before a new segment is rolled, in ms."),
    def("log.roll.jitter.hours", T::Int, Some("0"), Valid::Range(0, i32::MAX as i64), &[], "Roll jitter in hours."),
    def("log.roll.jitter.ms", T::Long, None, Valid::Range(0, i64::MAX), &[], "Roll jitter in ms."),
    def("log.index.size.max.bytes", T::Int, Some("10485760"), Valid::Range(4, i32::MAX as i64), &[], "Max offset index size."),
    def("log.index.interval.bytes", T::Int, Some("4096"), Valid::Range(0, i32::MAX as i64), &[], "Offset index interval."),
    def("log.flush.interval.messages", T::Long, Some(LONG_MAX), Valid::Range(1, i64::MAX), &[], "Messages before a forced fsync."),
    def("log.flush.interval.ms", T::Long, None, Valid::Range(0, i64::MAX), &[], "Time before a forced fsync."),
    def("log.flush.scheduler.interval.ms", T::Long, Some(LONG_MAX), Valid::Range(0, i64::MAX), &[], "How often the flusher checks logs."),
    def("log.flush.offset.checkpoint.interval.ms", T::Int, Some("60000"), Valid::Range(0, i32::MAX as i64), &[], "How often the recovery point is checkpointed."),
    def("log.segment.delete.delay.ms", T::Long, Some("60000"), Valid::Range(0, i64::MAX), &[], "Delay before deleting a file."),
    def("log.cleanup.policy", T::List, Some("delete"), Valid::ListOf(&["compact", "delete"]), &[], "Default cleanup policy."),
    def("log.cleaner.delete.retention.ms", T::Long, Some("86400000"), Valid::Range(0, i64::MAX), &[], "Tombstone retention."),
    def("log.cleaner.min.cleanable.ratio", T::Double, Some("0.5"), Valid::DoubleRange(0.0, 1.0), &[], "Cleaner dirty ratio."),
    def("log.cleaner.min.compaction.lag.ms", T::Long, Some("0"), Valid::Range(0, i64::MAX), &[], "Cleaner min lag."),
    def("log.cleaner.max.compaction.lag.ms", T::Long, Some(LONG_MAX), Valid::Range(1, i64::MAX), &[], "Cleaner max lag."),
    def("log.message.timestamp.type", T::String, Some("CreateTime"), Valid::OneOf(&["CreateTime", "LogAppendTime"]), &[], "Default timestamp type."),
    def("log.message.timestamp.before.max.ms", T::Long, Some(LONG_MAX), Valid::Range(0, i64::MAX), &[], "Max age of a CreateTime timestamp."),
    def("log.message.timestamp.after.max.ms", T::Long, Some("3600000"), Valid::Range(0, i64::MAX), &[], "Max lead of a CreateTime timestamp."),
    def("log.preallocate", T::Boolean, Some("false"), Valid::Any, &[], "Preallocate segment files."),
    def("log.local.retention.bytes", T::Long, Some("-2"), Valid::Range(-2, i64::MAX), &[], "Local retention bytes (tiered storage)."),
    def("log.local.retention.ms", T::Long, Some("-2"), Valid::Range(-2, i64::MAX), &[], "Local retention ms (tiered storage)."),
    def("message.max.bytes", T::Int, Some("1048588"), Valid::Range(0, i32::MAX as i64), &[], "Largest record batch size allowed."),
    def("compression.type", T::String, Some("producer"), Valid::OneOf(CODECS), &[], "Default compression type."),
    def("compression.gzip.level", T::Int, Some("-1"), Valid::Range(-1, 9), &[], "gzip level."),
    def("compression.lz4.level", T::Int, Some("9"), Valid::Range(1, 17), &[], "lz4 level."),
    def("compression.zstd.level", T::Int, Some("3"), Valid::Range(-131072, 22), &[], "zstd level."),
    def("unclean.leader.election.enable", T::Boolean, Some("false"), Valid::Any, &[], "Unclean leader election."),
    def("leader.replication.throttled.replicas", T::List, Some(""), Valid::Any, &[], "Throttled replicas (leader)."),
    def("follower.replication.throttled.replicas", T::List, Some(""), Valid::Any, &[], "Throttled replicas (follower)."),
    def("socket.request.max.bytes", T::Int, Some("104857600"), Valid::Range(1, i32::MAX as i64), &[], "The largest request the server accepts, in bytes."),
    def("socket.send.buffer.bytes", T::Int, Some("102400"), Valid::Any, &[], "SO_SNDBUF (-1: OS default)."),
    def("socket.receive.buffer.bytes", T::Int, Some("102400"), Valid::Any, &[], "SO_RCVBUF (-1: OS default)."),
    def("num.network.threads", T::Int, Some("3"), Valid::Range(1, 1024), &[], "Network threads (Strom: runtime worker threads)."),
    def("num.io.threads", T::Int, Some("8"), Valid::Range(1, 1024), &[], "IO threads."),
    def("num.recovery.threads.per.data.dir", T::Int, Some("2"), Valid::Range(1, 1024), &[], "Recovery threads per data dir."),
    def("max.connections", T::Int, Some("2147483647"), Valid::Range(0, i32::MAX as i64), &[], "Maximum connections."),
    def("connections.max.idle.ms", T::Long, Some("600000"), Valid::Any, &[], "Idle connection timeout."),
    def("offsets.topic.num.partitions", T::Int, Some("50"), Valid::Range(1, i32::MAX as i64), &[], "Partitions of __consumer_offsets."),
    def("offsets.topic.replication.factor", T::Short, Some("3"), Valid::Range(1, i16::MAX as i64), &[], "Replication of __consumer_offsets."),
    def("offsets.topic.segment.bytes", T::Int, Some("104857600"), Valid::Range(1, i32::MAX as i64), &[], "Segment size of __consumer_offsets."),
    def("offsets.retention.minutes", T::Int, Some("10080"), Valid::Range(1, i32::MAX as i64), &[], "Committed offset retention."),
    def("offsets.retention.check.interval.ms", T::Long, Some("600000"), Valid::Range(1, i64::MAX), &[], "How often expired committed offsets are removed."),
    def("offset.metadata.max.bytes", T::Int, Some("4096"), Valid::Range(0, i32::MAX as i64), &[], "Largest metadata string kept with a committed offset."),
    def("transaction.state.log.replication.factor", T::Short, Some("3"), Valid::Range(1, i16::MAX as i64), &[], "Replication of __transaction_state."),
    def("transaction.state.log.min.isr", T::Int, Some("2"), Valid::Range(1, i32::MAX as i64), &[], "min ISR of __transaction_state."),
    def("transaction.state.log.num.partitions", T::Int, Some("50"), Valid::Range(1, i32::MAX as i64), &[], "Partitions of __transaction_state."),
    def("group.initial.rebalance.delay.ms", T::Int, Some("3000"), Valid::Range(0, i32::MAX as i64), &[], "Delay before the first rebalance."),
    def("group.min.session.timeout.ms", T::Int, Some("6000"), Valid::Range(0, i32::MAX as i64), &[], "Minimum session timeout."),
    def("group.max.session.timeout.ms", T::Int, Some("1800000"), Valid::Range(0, i32::MAX as i64), &[], "Maximum session timeout."),
    def("group.max.size", T::Int, Some("2147483647"), Valid::Range(1, i32::MAX as i64), &[], "Maximum group size."),
    def("producer.id.expiration.ms", T::Int, Some("86400000"), Valid::Range(1, i32::MAX as i64), &[], "Idle producer id expiry."),
    def("share.coordinator.state.topic.replication.factor", T::Short, Some("3"), Valid::Any, &[], "Share state replication."),
    def("share.coordinator.state.topic.min.isr", T::Short, Some("2"), Valid::Any, &[], "Share state min ISR."),
    def("group.coordinator.rebalance.protocols", T::List, Some("classic,consumer,streams"), Valid::Any, &[], "Enabled group protocols."),
    def("cluster.id", T::String, None, Valid::Any, &[], "Strom: cluster id to format an empty data dir with."),
];

/// Keys only ZooKeeper-mode Kafka used.
const ZOOKEEPER_KEYS: &[&str] = &[
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "zookeeper.session.timeout.ms",
    "zookeeper.set.acl",
];

/// Looks up a topic config definition by name.
pub fn topic_def(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Looks up a broker config definition by name.
pub fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` against the definition; the error is a sentence naming key, value and the
/// allowed values (used as the INVALID_CONFIG error message and the startup refusal).
pub fn validate_value(d: &ConfigDef, value: &str) -> Result<(), String> {
    let bad = |why: String| {
        Err(format!(
            "Invalid value {value} for configuration {}: {why}",
            d.name
        ))
    };
    let v = value.trim();
    match d.kind {
        T::Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return bad("Expected value to be either true or false".into());
            }
        }
        T::Int | T::Short | T::Long => {
            let n: i64 = match v.parse() {
                Ok(n) => n,
                Err(_) => return bad(format!("Not a number of type {}", type_name(d.kind))),
            };
            let (lo, hi) = match d.kind {
                T::Int => (i32::MIN as i64, i32::MAX as i64),
                T::Short => (i16::MIN as i64, i16::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            if n < lo || n > hi {
                return bad(format!("Not a number of type {}", type_name(d.kind)));
            }
            match d.valid {
                Valid::Range(a, b) if n < a || n > b => {
                    return if b == i64::MAX || b == i32::MAX as i64 {
                        bad(format!("Value must be at least {a}"))
                    } else {
                        bad(format!("Value must be in the range [{a}, {b}]"))
                    }
                }
                Valid::AtLeastOrMinusOne(a) if n != -1 && n < a => {
                    return bad(format!("Value must be at least {a} or -1"));
                }
                _ => {}
            }
        }
        T::Double => {
            let x: f64 = match v.parse() {
                Ok(x) => x,
                Err(_) => return bad("Not a number of type DOUBLE".into()),
            };
            if let Valid::DoubleRange(a, b) = d.valid {
                if !(a..=b).contains(&x) {
                    return bad(format!("Value must be in the range [{a}, {b}]"));
                }
            }
        }
        T::String | T::Class | T::Password => {
            if let Valid::OneOf(set) = d.valid {
                if !set.contains(&v) {
                    return bad(format!("String must be one of: {}", set.join(", ")));
                }
            }
        }
        T::List => {
            if let Valid::ListOf(set) = d.valid {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !set.contains(&item) {
                        return bad(format!(
                            "Invalid value {item}: must be one of [{}]",
                            set.join(", ")
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn type_name(t: ConfigType) -> &'static str {
    match t {
        T::Boolean => "BOOLEAN",
        T::String => "STRING",
        T::Int => "INT",
        T::Short => "SHORT",
        T::Long => "LONG",
        T::Double => "DOUBLE",
        T::List => "LIST",
        T::Class => "CLASS",
        T::Password => "PASSWORD",
    }
}

/// Where a config value came from, as DescribeConfigs v1+ numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// The broker's static configuration: what the file and `--override`s set, validated.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Keys explicitly set (file, then overrides), after validation.
    pub set: BTreeMap<String, String>,
}

/// A parsed `listeners` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// Why the configuration cannot start a broker. The message names key, value and fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl BrokerConfig {
    /// Reads `server.properties` (if given) and applies `overrides` (`key=value`).
    /// Unknown keys and ZooKeeper keys are returned as warnings; invalid values are errors.
    pub fn load(
        file: Option<&Path>,
        overrides: &[String],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut set = BTreeMap::new();
        if let Some(path) = file {
            let f = std::fs::File::open(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let props = java_properties::read(std::io::BufReader::new(f)).map_err(|e| {
                ConfigError(format!("cannot parse config file {}: {e}", path.display()))
            })?;
            set.extend(props);
        }
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| {
                ConfigError(format!("--override {o}: expected key=value, for example --override log.dirs=/tmp/strom"))
            })?;
            set.insert(k.trim().to_string(), v.trim().to_string());
        }
        Self::from_map(set)
    }

    /// Validates a key/value map. Returns the config and warnings.
    pub fn from_map(
        set: BTreeMap<String, String>,
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        for (k, v) in &set {
            if ZOOKEEPER_KEYS.contains(&k.as_str()) {
                warnings.push(format!(
                    "ignoring {k}: Strom, like Kafka in KRaft mode, needs no ZooKeeper"
                ));
                continue;
            }
            match broker_def(k) {
                Some(d) => validate_value(d, v).map_err(ConfigError)?,
                None => {
                    if topic_def(k).is_none() {
                        warnings.push(format!("unknown configuration key {k} (ignored)"));
                    }
                }
            }
        }
        let cfg = BrokerConfig { set };
        cfg.listeners()?;
        Ok((cfg, warnings))
    }

    /// The explicit value of `key`, else its default.
    pub fn get(&self, key: &str) -> Option<String> {
        self.set
            .get(key)
            .cloned()
            .or_else(|| broker_def(key).and_then(|d| d.default.map(str::to_string)))
    }

    fn get_i64(&self, key: &str) -> i64 {
        self.get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("config {key} has no numeric default"))
    }

    fn get_opt_i64(&self, key: &str) -> Option<i64> {
        self.set.get(key).and_then(|v| v.trim().parse().ok())
    }

    fn get_bool(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub fn node_id(&self) -> i32 {
        let b = self.get_i64("broker.id");
        if self.set.contains_key("node.id") || b < 0 {
            self.get_i64("node.id") as i32
        } else {
            b as i32
        }
    }

    pub fn log_dirs(&self) -> Vec<PathBuf> {
        let raw = self
            .set
            .get("log.dirs")
            .cloned()
            .unwrap_or_else(|| self.get("log.dir").unwrap_or_default());
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    /// The log dirs plus the metadata log dir when it is not one of them: every dir that
    /// holds `meta.properties`.
    pub fn all_log_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.log_dirs();
        let meta = self.metadata_log_dir();
        if !dirs.contains(&meta) {
            dirs.push(meta);
        }
        dirs
    }

    pub fn metadata_log_dir(&self) -> PathBuf {
        self.set
            .get("metadata.log.dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.log_dirs()[0].clone())
    }

    /// Listeners to bind, excluding controller listeners (a single node's controller runs
    /// in-process and needs no socket).
    pub fn listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        let controller: Vec<String> = self
            .get("controller.listener.names")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let all = parse_listeners(&self.get("listeners").unwrap_or_default())?;
        let out: Vec<Listener> = all
            .into_iter()
            .filter(|l| !controller.contains(&l.name))
            .collect();
        if out.is_empty() {
            return Err(ConfigError("listeners: no broker listener is configured; set for example listeners=PLAINTEXT://localhost:9092".into()));
        }
        Ok(out)
    }

    /// Endpoints advertised to clients: `advertised.listeners` entries for each bound listener,
    /// else the listener itself (an empty host becomes the machine's name, as Kafka does).
    pub fn advertised_listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        let bound = self.listeners()?;
        let adv = match self.set.get("advertised.listeners") {
            Some(a) => parse_listeners(a)?,
            None => vec![],
        };
        Ok(bound
            .into_iter()
            .map(|l| {
                let mut a = adv.iter().find(|a| a.name == l.name).cloned().unwrap_or(l);
                if a.host.is_empty() || a.host == "0.0.0.0" {
                    a.host = "localhost".into();
                }
                a
            })
            .collect())
    }

    pub fn num_partitions(&self) -> i32 {
        self.get_i64("num.partitions") as i32
    }
    pub fn default_replication_factor(&self) -> i16 {
        self.get_i64("default.replication.factor") as i16
    }
    pub fn auto_create_topics(&self) -> bool {
        self.get_bool("auto.create.topics.enable")
    }
    pub fn delete_topic_enable(&self) -> bool {
        self.get_bool("delete.topic.enable")
    }
    pub fn socket_request_max_bytes(&self) -> usize {
        self.get_i64("socket.request.max.bytes") as usize
    }
    pub fn retention_check_interval_ms(&self) -> i64 {
        self.get_i64("log.retention.check.interval.ms")
    }
    pub fn offsets_topic_num_partitions(&self) -> i32 {
        self.get_i64("offsets.topic.num.partitions") as i32
    }

    /// The broker-level value that defaults the topic config `d`, and the broker key it came
    /// from (None: Kafka's built-in default). Handles the hours/minutes/ms families.
    pub fn topic_default(&self, d: &ConfigDef) -> (String, Option<&'static str>) {
        match d.name {
            "retention.ms" => {
                if let Some(ms) = self.get_opt_i64("log.retention.ms") {
                    return (ms.to_string(), Some("log.retention.ms"));
                }
                if let Some(m) = self.get_opt_i64("log.retention.minutes") {
                    return ((m * 60_000).to_string(), Some("log.retention.minutes"));
                }
                let h = self.get_i64("log.retention.hours");
                let ms = if h < 0 { -1 } else { h * 3_600_000 };
                let src = self
                    .set
                    .contains_key("log.retention.hours")
                    .then_some("log.retention.hours");
                return (ms.to_string(), src);
            }
            "segment.ms" => {
                if let Some(ms) = self.get_opt_i64("log.roll.ms") {
                    return (ms.to_string(), Some("log.roll.ms"));
                }
                let src = self
                    .set
                    .contains_key("log.roll.hours")
                    .then_some("log.roll.hours");
                return (
                    (self.get_i64("log.roll.hours") * 3_600_000).to_string(),
                    src,
                );
            }
            "segment.jitter.ms" => {
                if let Some(ms) = self.get_opt_i64("log.roll.jitter.ms") {
                    return (ms.to_string(), Some("log.roll.jitter.ms"));
                }
                let src = self
                    .set
                    .contains_key("log.roll.jitter.hours")
                    .then_some("log.roll.jitter.hours");
                return (
                    (self.get_i64("log.roll.jitter.hours") * 3_600_000).to_string(),
                    src,
                );
            }
            "flush.ms" => {
                if let Some(ms) = self.get_opt_i64("log.flush.interval.ms") {
                    return (ms.to_string(), Some("log.flush.interval.ms"));
                }
                return (LONG_MAX.to_string(), None);
            }
            _ => {}
        }
        for s in d.synonyms {
            if let Some(v) = self.set.get(*s) {
                return (v.clone(), Some(s));
            }
        }
        (d.default.unwrap_or("").to_string(), None)
    }
}

/// Parses `NAME://host:port,...`. Errors name the bad entry.
pub fn parse_listeners(s: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let err = || {
            ConfigError(format!("listeners: cannot parse {entry:?}; expected NAME://host:port, for example PLAINTEXT://localhost:9092"))
        };
        let (name, rest) = entry.split_once("://").ok_or_else(err)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(err)?;
        let port: u16 = port.parse().map_err(|_| err())?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        out.push(Listener {
            name: name.to_string(),
            host,
            port,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .map(|(c, _)| c)
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.node_id(), 1);
        assert_eq!(c.num_partitions(), 1);
        assert_eq!(
            c.listeners().unwrap(),
            vec![Listener {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092
            }]
        );
        assert_eq!(
            c.topic_default(topic_def("retention.ms").unwrap()),
            ("604800000".into(), None)
        );
        assert_eq!(
            c.topic_default(topic_def("max.message.bytes").unwrap()),
            ("1048588".into(), None)
        );
    }

    #[test]
    fn synonyms_supply_topic_defaults() {
        let c = cfg(&[
            ("log.retention.minutes", "5"),
            ("message.max.bytes", "2000"),
        ])
        .unwrap();
        assert_eq!(
            c.topic_default(topic_def("retention.ms").unwrap()),
            ("300000".into(), Some("log.retention.minutes"))
        );
        assert_eq!(
            c.topic_default(topic_def("max.message.bytes").unwrap()),
            ("2000".into(), Some("message.max.bytes"))
        );
    }

    #[test]
    fn invalid_values_name_key_and_range() {
        let e = cfg(&[("num.partitions", "0")]).unwrap_err().0;
        assert!(
            e.contains("num.partitions") && e.contains("at least 1"),
            "{e}"
        );
        let e = cfg(&[("auto.create.topics.enable", "maybe")])
            .unwrap_err()
            .0;
        assert!(e.contains("true or false"), "{e}");
        assert!(validate_value(topic_def("cleanup.policy").unwrap(), "compact,delete").is_ok());
        assert!(validate_value(topic_def("cleanup.policy").unwrap(), "shred").is_err());
    }

    #[test]
    fn unknown_and_zookeeper_keys_warn() {
        let (_, w) = BrokerConfig::from_map(
            [
                ("zookeeper.connect".to_string(), "x:2181".to_string()),
                ("foo.bar".to_string(), "1".to_string()),
            ]
            .into(),
        )
        .unwrap();
        assert_eq!(w.len(), 2);
        assert!(w.iter().any(|s| s.contains("ZooKeeper")));
    }

    #[test]
    fn controller_listener_is_not_bound() {
        let c = cfg(&[("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093")]).unwrap();
        let l = c.listeners().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(c.advertised_listeners().unwrap()[0].host, "localhost");
    }
}
