//! The broker's state: configuration, the metadata image and log, partitions and their logs.
//!
//! Invariants:
//! - Only [`Broker::commit`] changes metadata: it appends one batch to `__cluster_metadata-0`,
//!   fsyncs it, applies it to a copy of the image, swaps the image in, then reconciles
//!   partitions (creating logs for new partitions, deleting logs of removed topics, pushing
//!   config changes to logs). Commits are serialized by `commit_lock`.
//! - A partition's high watermark never passes its log end offset and never goes backwards.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strom_log::{Log, LogConfig, LogManager, OpenOptions, TopicPartition};
use strom_protocol::error::ErrorCode;
use uuid::Uuid;

use crate::config::{self, BrokerConfig, ConfigSource, Listener, TOPIC_CONFIGS};
use crate::metadata::{self, Image, MetadataImage, MetadataRecord, RESOURCE_TOPIC};

/// Name of the metadata log partition directory.
pub const METADATA_DIR: &str = "__cluster_metadata-0";
/// The clean-shutdown marker file, in every log dir.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Producer ids reserved per metadata record (Kafka's `ProducerIdsBlock` size).
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// Longest legal topic name, as Kafka's `Topic.MAX_NAME_LENGTH`.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// The time source of the broker core, passed in (DESIGN decision 5).
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// An error answered to a client: a Kafka error code and an optional message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: Some(message.into()),
        }
    }
    pub fn code(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: None,
        }
    }
}

/// Why the broker could not start or commit metadata.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{0}")]
    Config(String),
    #[error("log: {0}")]
    Log(#[from] strom_log::LogError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Metadata(#[from] metadata::MetadataDecodeError),
}

/// Per-topic settings the request path consults, resolved from topic and broker configs.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    pub max_message_bytes: usize,
    pub log_append_time: bool,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    pub min_insync_replicas: i32,
    pub compression_type: String,
    pub compact: bool,
}

/// A partition this broker leads.
pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: Arc<Log>,
    pub leader_epoch: i32,
    high_watermark: AtomicI64,
    settings: RwLock<Arc<TopicSettings>>,
}

impl Partition {
    /// The high watermark: the offset below which records are committed and readable.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Raises the high watermark to `offset` (single replica: the log end offset after an
    /// append). Panics if that would pass the log end offset.
    pub fn advance_high_watermark(&self, offset: i64) {
        let leo = self.log.log_end_offset();
        assert!(
            offset <= leo,
            "{:?}: high watermark {offset} above log end offset {leo}",
            self.tp
        );
        self.high_watermark.fetch_max(offset, Ordering::AcqRel);
    }

    pub fn settings(&self) -> Arc<TopicSettings> {
        self.settings.read().clone()
    }
}

/// The broker.
pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    pub advertised: Vec<Listener>,
    pub clock: Arc<dyn Clock>,
    image: RwLock<Image>,
    meta_log: Log,
    commit_lock: Mutex<()>,
    pub logs: LogManager,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Notified after every append, to wake long-polling fetches.
    pub data_arrived: tokio::sync::Notify,
    /// Producer ids handed out from the current block: (next, end of block).
    producer_ids: Mutex<(i64, i64)>,
    /// Requests being handled right now; shutdown waits for this to reach zero.
    pub requests_in_flight: std::sync::atomic::AtomicUsize,
    /// The group coordinator (groups and committed offsets).
    pub groups: crate::groups::Groups,
}

/// Contents of `meta.properties` that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
}

/// Reads `<dir>/meta.properties`; `Ok(None)` when absent.
pub fn read_meta_properties(dir: &Path) -> Result<Option<MetaProperties>, BrokerError> {
    let p = dir.join("meta.properties");
    let f = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let m = java_properties::read(std::io::BufReader::new(f))
        .map_err(|e| BrokerError::Config(format!("{}: {e}", p.display())))?;
    let get = |k: &str| {
        m.get(k).cloned().ok_or_else(|| {
            BrokerError::Config(format!(
                "{} has no {k}; remove the file or the directory to reformat",
                p.display()
            ))
        })
    };
    Ok(Some(MetaProperties {
        cluster_id: get("cluster.id")?,
        node_id: get("node.id")?.parse().map_err(|_| {
            BrokerError::Config(format!("{}: node.id is not a number", p.display()))
        })?,
        directory_id: m.get("directory.id").cloned().unwrap_or_default(),
    }))
}

/// Writes `<dir>/meta.properties` in Kafka's KRaft format (version 1), via temp file + rename.
pub fn write_meta_properties(dir: &Path, m: &MetaProperties) -> Result<(), BrokerError> {
    std::fs::create_dir_all(dir)?;
    let body = format!(
        "#\n#Written by strom\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1\n",
        m.cluster_id, m.directory_id, m.node_id
    );
    let tmp = dir.join("meta.properties.tmp");
    std::fs::write(&tmp, body)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join("meta.properties"))?;
    Ok(())
}

/// Formats `dirs` for `cluster_id` where they are empty; refuses a dir of another cluster or
/// node. Returns the cluster id in use. `cluster_id` None: reuse the existing one or make one.
pub fn ensure_formatted(
    dirs: &[PathBuf],
    node_id: i32,
    cluster_id: Option<&str>,
) -> Result<String, BrokerError> {
    let mut found: Option<(PathBuf, MetaProperties)> = None;
    for d in dirs {
        if let Some(m) = read_meta_properties(d)? {
            if m.node_id != node_id {
                return Err(BrokerError::Config(format!(
                    "{} belongs to node.id {} but this server is node.id {node_id}; use another log.dirs or set node.id={}",
                    d.display(), m.node_id, m.node_id
                )));
            }
            if let Some((fd, fm)) = &found {
                if fm.cluster_id != m.cluster_id {
                    return Err(BrokerError::Config(format!(
                        "{} belongs to cluster {} but {} belongs to cluster {}; a server's log dirs must all belong to one cluster",
                        d.display(), m.cluster_id, fd.display(), fm.cluster_id
                    )));
                }
            }
            found = Some((d.clone(), m));
        }
    }
    let cluster = match (&found, cluster_id) {
        (Some((d, m)), Some(want)) if m.cluster_id != want => {
            return Err(BrokerError::Config(format!(
                "{} belongs to cluster {} , not {want}; point log.dirs at an empty directory to start a new cluster",
                d.display(), m.cluster_id
            )))
        }
        (Some((_, m)), _) => m.cluster_id.clone(),
        (None, Some(want)) => want.to_string(),
        (None, None) => metadata::uuid_to_base64(&metadata::random_id()),
    };
    for d in dirs {
        if read_meta_properties(d)?.is_none() {
            write_meta_properties(
                d,
                &MetaProperties {
                    cluster_id: cluster.clone(),
                    node_id,
                    directory_id: metadata::uuid_to_base64(&metadata::random_id()),
                },
            )?;
        }
    }
    Ok(cluster)
}

impl Broker {
    /// Starts the broker's state from `config`: formats empty log dirs, replays the metadata
    /// log, opens (and if needed recovers) every partition log.
    pub fn open(config: BrokerConfig, clock: Arc<dyn Clock>) -> Result<Broker, BrokerError> {
        let node_id = config.node_id();
        let dirs = config.log_dirs();
        if dirs.is_empty() {
            return Err(BrokerError::Config(
                "log.dirs is empty; set log.dirs=/path/to/data".into(),
            ));
        }
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(|e| {
                BrokerError::Config(format!("cannot create log dir {}: {e}", d.display()))
            })?;
        }
        let meta_dir = config.metadata_log_dir();
        std::fs::create_dir_all(&meta_dir)?;
        let all_dirs = config.all_log_dirs();
        let cluster_id = ensure_formatted(&all_dirs, node_id, config.get("cluster.id").as_deref())?;
        let now = clock.now_ms();

        let clean = meta_dir.join(CLEAN_SHUTDOWN_FILE).exists();
        let meta_cfg = LogConfig {
            segment_bytes: 100 * 1024 * 1024,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let meta_log = Log::open(
            meta_dir.join(METADATA_DIR),
            TopicPartition {
                topic: "__cluster_metadata".into(),
                partition: 0,
            },
            meta_cfg,
            OpenOptions {
                recovery_point: if clean { i64::MAX } else { 0 },
                log_start_offset: 0,
                clean_shutdown: clean,
                now_ms: now,
            },
        )?;
        let image = replay(&meta_log)?;
        tracing::info!(cluster_id = %cluster_id, node_id, topics = image.topics.len(), metadata_offset = meta_log.log_end_offset(), "replayed metadata log");

        let broker_cfg_snapshot = config.clone();
        let img_for_cfg = image.clone();
        let logs = LogManager::open(
            dirs,
            &|topic| log_config(&broker_cfg_snapshot, &img_for_cfg, topic),
            now,
        )?;
        // Remove the marker (LogManager already did when the metadata dir is a log dir) so
        // that a crash from here on is detected at the next start.
        let _ = std::fs::remove_file(meta_dir.join(CLEAN_SHUTDOWN_FILE));

        let advertised = config
            .advertised_listeners()
            .map_err(|e| BrokerError::Config(e.0))?;
        let groups = crate::groups::Groups::new(crate::groups::group_config(&config));
        let broker = Broker {
            config,
            node_id,
            cluster_id,
            advertised,
            clock,
            image: RwLock::new(Arc::new(image)),
            meta_log,
            commit_lock: Mutex::new(()),
            logs,
            partitions: RwLock::new(HashMap::new()),
            data_arrived: tokio::sync::Notify::new(),
            requests_in_flight: std::sync::atomic::AtomicUsize::new(0),
            groups,
            producer_ids: Mutex::new((0, 0)),
        };
        let img = broker.image();
        broker.reconcile(&MetadataImage::default(), &img)?;
        // Logs on disk whose topic is gone (deleted while this broker was down) are strays.
        let known: std::collections::HashSet<TopicPartition> =
            broker.partitions.read().keys().cloned().collect();
        for log in broker.logs.all() {
            if !known.contains(log.topic_partition()) {
                tracing::warn!(partition = ?log.topic_partition(), "deleting stray log of a topic not in the metadata");
                broker.logs.delete(log.topic_partition())?;
            }
        }
        Ok(broker)
    }

    /// The current metadata image.
    pub fn image(&self) -> Image {
        self.image.read().clone()
    }

    /// Log end offset of the metadata log.
    pub fn metadata_offset(&self) -> i64 {
        self.meta_log.log_end_offset()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .cloned()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Appends `recs` to the metadata log as one batch, fsyncs, and applies them.
    pub fn commit(&self, recs: Vec<MetadataRecord>) -> Result<(), BrokerError> {
        if recs.is_empty() {
            return Ok(());
        }
        let _g = self.commit_lock.lock();
        self.commit_locked(recs)
    }

    /// Decides and commits in one step, as KRaft's controller does: `decide` sees the current
    /// image with commits held off, and returns the records to commit (possibly none) and an
    /// answer. Use it when the records depend on the image (a removal of something that must
    /// exist), so that two concurrent requests cannot both act on the same old image.
    pub fn commit_with<T>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, T),
    ) -> Result<T, BrokerError> {
        let _g = self.commit_lock.lock();
        let (recs, answer) = decide(&self.image());
        if !recs.is_empty() {
            self.commit_locked(recs)?;
        }
        Ok(answer)
    }

    /// [`Broker::commit`] with `commit_lock` held by the caller.
    fn commit_locked(&self, recs: Vec<MetadataRecord>) -> Result<(), BrokerError> {
        let now = self.now_ms();
        let mut b = metadata::encode_batch(&recs, now);
        self.meta_log.append(&mut b, true, now)?;
        self.meta_log.flush()?;
        let old = self.image();
        let mut next = (*old).clone();
        for r in &recs {
            next.apply(r);
        }
        let next = Arc::new(next);
        *self.image.write() = next.clone();
        self.reconcile(&old, &next)
    }

    /// Brings partitions and logs in line with `new` after a change from `old`.
    fn reconcile(&self, old: &MetadataImage, new: &MetadataImage) -> Result<(), BrokerError> {
        let now = self.now_ms();
        let broker_cfg_changed = old.broker_configs != new.broker_configs;
        for (name, t) in &old.topics {
            if new.topic_by_id(&t.id).is_none() {
                let mut parts = self.partitions.write();
                for p in t.partitions.keys() {
                    let tp = TopicPartition {
                        topic: name.clone(),
                        partition: *p,
                    };
                    parts.remove(&tp);
                    if self.logs.get(&tp).is_some() {
                        self.logs.delete(&tp)?;
                    }
                }
            }
        }
        for (name, t) in &new.topics {
            let old_t = old.topic(name).filter(|o| o.id == t.id);
            let cfg_changed = broker_cfg_changed || old_t.is_none_or(|o| o.configs != t.configs);
            let settings = Arc::new(self.topic_settings(new, name));
            let lcfg = log_config(&self.config, new, name);
            for (p, pi) in &t.partitions {
                let tp = TopicPartition {
                    topic: name.clone(),
                    partition: *p,
                };
                let existing = self.partitions.read().get(&tp).cloned();
                match existing {
                    Some(part) => {
                        if cfg_changed {
                            part.log.update_config(lcfg.clone());
                            *part.settings.write() = settings.clone();
                        }
                    }
                    None => {
                        if pi.leader != self.node_id {
                            continue;
                        }
                        let log = self.logs.get_or_create(&tp, lcfg.clone(), now)?;
                        let leo = log.log_end_offset();
                        let part = Arc::new(Partition {
                            tp: tp.clone(),
                            topic_id: t.id,
                            log,
                            leader_epoch: pi.leader_epoch,
                            high_watermark: AtomicI64::new(leo),
                            settings: RwLock::new(settings.clone()),
                        });
                        self.partitions.write().insert(tp, part);
                    }
                }
            }
        }
        Ok(())
    }

    /// Resolves the settings the request path needs for `topic`.
    pub fn topic_settings(&self, img: &MetadataImage, topic: &str) -> TopicSettings {
        let eff = self.effective_topic_configs(img, topic);
        let get = |k: &str| eff.get(k).map(|(v, _, _)| v.clone()).unwrap_or_default();
        let num = |k: &str| {
            get(k)
                .trim()
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("validated numeric config {k}"))
        };
        TopicSettings {
            max_message_bytes: num("max.message.bytes").max(0) as usize,
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            timestamp_before_max_ms: num("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: num("message.timestamp.after.max.ms"),
            min_insync_replicas: num("min.insync.replicas") as i32,
            compression_type: get("compression.type"),
            compact: get("cleanup.policy")
                .split(',')
                .any(|s| s.trim() == "compact"),
        }
    }

    /// Every topic config of `topic`: value, source and (for non-topic sources) the broker key.
    pub fn effective_topic_configs(
        &self,
        img: &MetadataImage,
        topic: &str,
    ) -> BTreeMap<&'static str, (String, ConfigSource, Option<&'static str>)> {
        let overrides = img.topic(topic).map(|t| &t.configs);
        let dyn_default = img.broker_configs.get("");
        let dyn_broker = img.broker_configs.get(&self.node_id.to_string());
        let mut out = BTreeMap::new();
        for d in TOPIC_CONFIGS {
            if let Some(v) = overrides.and_then(|o| o.get(d.name)) {
                out.insert(d.name, (v.clone(), ConfigSource::DynamicTopic, None));
                continue;
            }
            let from_dyn = d.synonyms.iter().find_map(|s| {
                dyn_broker
                    .and_then(|m| m.get(*s))
                    .map(|v| (v.clone(), ConfigSource::DynamicBroker, Some(*s)))
                    .or_else(|| {
                        dyn_default
                            .and_then(|m| m.get(*s))
                            .map(|v| (v.clone(), ConfigSource::DynamicDefaultBroker, Some(*s)))
                    })
            });
            if let Some(x) = from_dyn {
                out.insert(d.name, x);
                continue;
            }
            let (v, src) = self.config.topic_default(d);
            let source = if src.is_some() {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            out.insert(d.name, (v, source, src));
        }
        out
    }

    /// Creates a topic. `assignments`: partition -> replicas (manual assignment), or empty.
    /// Errors are Kafka's: TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
    /// INVALID_REPLICATION_FACTOR, INVALID_CONFIG, INVALID_REPLICA_ASSIGNMENT.
    pub fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        assignments: &BTreeMap<i32, Vec<i32>>,
        configs: &BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(Uuid, i32, i16), ApiError> {
        validate_topic_name(name)?;
        let img = self.image();
        if img.topic(name).is_some() {
            return Err(ApiError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let collides = |a: &str| a.replace('.', "_");
        if let Some(other) = img.topics.keys().find(|t| collides(t) == collides(name)) {
            return Err(ApiError::new(
                ErrorCode::InvalidTopicException,
                format!("Topic '{name}' collides with existing topic: {other}"),
            ));
        }
        for (k, v) in configs {
            let d = config::topic_def(k).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!("Unknown topic config name: {k}"),
                )
            })?;
            config::validate_value(d, v).map_err(|m| ApiError::new(ErrorCode::InvalidConfig, m))?;
        }
        let live = [self.node_id];
        let (n, rf, assign): (i32, i16, Vec<Vec<i32>>) = if !assignments.is_empty() {
            if num_partitions != -1 || replication_factor != -1 {
                return Err(ApiError::new(ErrorCode::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."));
            }
            let mut v = Vec::new();
            for (i, (p, r)) in assignments.iter().enumerate() {
                if *p != i as i32 {
                    return Err(ApiError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        "Partitions should be a consecutive 0-based integer sequence",
                    ));
                }
                if r.is_empty() || r.iter().any(|b| !live.contains(b)) {
                    return Err(ApiError::new(ErrorCode::InvalidReplicaAssignment, format!("Replica assignment {r:?} for partition {p} names brokers that are not live; live brokers: {live:?}")));
                }
                v.push(r.clone());
            }
            let rf = v[0].len() as i16;
            (v.len() as i32, rf, v)
        } else {
            let n = if num_partitions == -1 {
                self.config.num_partitions()
            } else {
                num_partitions
            };
            let rf = if replication_factor == -1 {
                self.config.default_replication_factor()
            } else {
                replication_factor
            };
            if n <= 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidPartitions,
                    "Number of partitions must be larger than 0.",
                ));
            }
            if rf <= 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidReplicationFactor,
                    "Replication factor must be larger than 0.",
                ));
            }
            if rf as usize > live.len() {
                return Err(ApiError::new(ErrorCode::InvalidReplicationFactor, format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.", live.len())));
            }
            (n, rf, (0..n).map(|_| vec![self.node_id]).collect())
        };
        if validate_only {
            return Ok((Uuid::nil(), n, rf));
        }
        let id = metadata::random_id();
        let mut recs = Vec::new();
        for (k, v) in configs {
            recs.push(MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: name.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            });
        }
        recs.push(MetadataRecord::Topic {
            name: name.to_string(),
            topic_id: id,
        });
        for (p, r) in assign.iter().enumerate() {
            recs.push(MetadataRecord::Partition {
                topic_id: id,
                partition: p as i32,
                replicas: r.clone(),
                isr: r.clone(),
                leader: r[0],
                leader_epoch: 0,
                partition_epoch: 0,
            });
        }
        self.commit(recs).map_err(internal)?;
        tracing::info!(topic = name, partitions = n, "created topic");
        Ok((id, n, rf))
    }

    /// Deletes a topic by name. Errors: UNKNOWN_TOPIC_OR_PARTITION, TOPIC_DELETION_DISABLED.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ApiError> {
        if !self.config.delete_topic_enable() {
            return Err(ApiError::new(
                ErrorCode::TopicDeletionDisabled,
                "Topic deletion is disabled.",
            ));
        }
        let img = self.image();
        let t = img.topic(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            )
        })?;
        let id = t.id;
        let mut recs: Vec<MetadataRecord> = t
            .configs
            .keys()
            .map(|k| MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: name.to_string(),
                name: k.clone(),
                value: None,
            })
            .collect();
        recs.push(MetadataRecord::RemoveTopic { topic_id: id });
        self.commit(recs).map_err(internal)?;
        tracing::info!(topic = name, "deleted topic");
        Ok(id)
    }

    /// Raises a topic's partition count to `count`. Errors: INVALID_PARTITIONS,
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let img = self.image();
        let t = img.topic(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            )
        })?;
        let cur = t.partitions.len() as i32;
        if count < cur {
            return Err(ApiError::new(ErrorCode::InvalidPartitions, format!("The topic {name} currently has {cur} partition(s); {count} would not be an increase.")));
        }
        if count == cur {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Topic already has {cur} partition(s)."),
            ));
        }
        let adding = (count - cur) as usize;
        let replicas: Vec<Vec<i32>> = match assignments {
            Some(a) => {
                if a.len() != adding {
                    return Err(ApiError::new(ErrorCode::InvalidReplicaAssignment, format!("Increasing the number of partitions by {adding} but {} assignments provided.", a.len())));
                }
                for r in a {
                    if r.is_empty() || r.iter().any(|b| *b != self.node_id) {
                        return Err(ApiError::new(
                            ErrorCode::InvalidReplicaAssignment,
                            format!("Replica assignment {r:?} names brokers that are not live."),
                        ));
                    }
                }
                a.to_vec()
            }
            None => vec![vec![self.node_id]; adding],
        };
        if validate_only {
            return Ok(());
        }
        let recs = replicas
            .into_iter()
            .enumerate()
            .map(|(i, r)| MetadataRecord::Partition {
                topic_id: t.id,
                partition: cur + i as i32,
                isr: r.clone(),
                leader: r[0],
                replicas: r,
                leader_epoch: 0,
                partition_epoch: 0,
            })
            .collect();
        self.commit(recs).map_err(internal)
    }

    /// A producer id never handed out before, also across restarts: ids come from blocks of
    /// [`PRODUCER_ID_BLOCK`] reserved by a `ProducerIdsRecord` in the metadata log (Kafka's
    /// `ProducerIdManager`); the unused rest of a block is skipped after a restart.
    pub fn allocate_producer_id(&self) -> Result<i64, ApiError> {
        let mut ids = self.producer_ids.lock();
        if ids.0 >= ids.1 {
            let start = ids.1.max(self.image().next_producer_id);
            let end = start + PRODUCER_ID_BLOCK;
            self.commit(vec![MetadataRecord::ProducerIds {
                broker_id: self.node_id,
                broker_epoch: 0,
                next_producer_id: end,
            }])
            .map_err(internal)?;
            *ids = (start, end);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Appends, fsyncs, checkpoints and marks a clean shutdown.
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        self.logs.shutdown()?;
        self.meta_log.close()?;
        let marker = self.config.metadata_log_dir().join(CLEAN_SHUTDOWN_FILE);
        std::fs::write(&marker, b"")?;
        std::fs::File::open(&marker)?.sync_all()?;
        Ok(())
    }
}

/// Maps an internal failure to UNKNOWN_SERVER_ERROR, logging it.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("internal error: {e}");
    ApiError::new(ErrorCode::UnknownServerError, e.to_string())
}

/// Kafka's topic name rules: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::new(ErrorCode::InvalidTopicException, m));
    if name.is_empty() {
        return bad("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return bad("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return bad(format!("Topic name is illegal, it can't be longer than {TOPIC_NAME_BYTES_MAX} characters, topic name: {name}"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad(format!("Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"));
    }
    Ok(())
}

/// The log config of `topic` from topic overrides and broker defaults.
pub fn log_config(cfg: &BrokerConfig, img: &MetadataImage, topic: &str) -> LogConfig {
    let overrides = img
        .topic(topic)
        .map(|t| t.configs.clone())
        .unwrap_or_default();
    let get = |k: &str| -> i64 {
        let raw = match overrides.get(k) {
            Some(v) => v.clone(),
            None => {
                let d = config::topic_def(k).expect("known topic config");
                let dyn_v = d
                    .synonyms
                    .iter()
                    .find_map(|s| img.broker_configs.get("").and_then(|m| m.get(*s)).cloned());
                dyn_v.unwrap_or_else(|| cfg.topic_default(d).0)
            }
        };
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("validated numeric config {k}={raw}"))
    };
    LogConfig {
        segment_bytes: get("segment.bytes") as u64,
        segment_ms: get("segment.ms"),
        segment_jitter_ms: get("segment.jitter.ms"),
        segment_index_bytes: get("segment.index.bytes") as u64,
        index_interval_bytes: get("index.interval.bytes") as u64,
        retention_ms: get("retention.ms"),
        retention_bytes: get("retention.bytes"),
        flush_messages: get("flush.messages"),
        flush_ms: get("flush.ms"),
        file_delete_delay_ms: get("file.delete.delay.ms"),
        producer_id_expiration_ms: cfg
            .get("producer.id.expiration.ms")
            .and_then(|v| v.trim().parse().ok())
            .expect("validated producer.id.expiration.ms"),
    }
}

fn replay(log: &Log) -> Result<MetadataImage, BrokerError> {
    let mut img = MetadataImage::default();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let r = log.read(offset, 8 * 1024 * 1024, end, true)?;
        let bytes = r.to_vec()?;
        if bytes.is_empty() {
            break;
        }
        for f in strom_protocol::batch::BatchFrames::new(&bytes) {
            let (range, h) = f.map_err(|e| metadata::MetadataDecodeError(e.to_string()))?;
            for rec in metadata::decode_batch(&bytes[range])? {
                img.apply(&rec);
            }
            offset = h.next_offset();
        }
    }
    Ok(img)
}

/// Kafka's internal topics (reported `is_internal` in Metadata).
pub fn is_internal_topic(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("hello.kafka-2_x").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).unwrap_err().code,
                ErrorCode::InvalidTopicException,
                "{bad}"
            );
        }
    }
}
