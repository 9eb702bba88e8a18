//! Cluster metadata as a log (DESIGN decision 1).
//!
//! Every topic, partition and config change is a record appended to the partition
//! `__cluster_metadata-0` and then applied to an immutable [`MetadataImage`]. On start the log
//! is replayed from the beginning to rebuild the image. A single node commits its own records;
//! a cluster will replicate this same log with Raft.
//!
//! Record encoding follows KRaft's `ApiMessageAndVersion` framing: each record's value is
//! `frame version (uvarint, 1)`, `api key (uvarint)`, `version (uvarint)`, then the message in
//! Kafka's flexible-version encoding (compact strings and arrays, 16-byte UUIDs, a trailing
//! empty tagged-field section). Keys are null. Record names and api keys are KRaft's:
//! `TopicRecord` (2), `PartitionRecord` (3), `ConfigRecord` (4), `RemoveTopicRecord` (9),
//! `UserScramCredentialRecord` (11), `ClientQuotaRecord` (14), `ProducerIdsRecord` (15),
//! `RemoveUserScramCredentialRecord` (22).
//!
//! Crash semantics: one metadata change is one record batch, appended and fsynced before it is
//! applied, so a change is either wholly in the image after a restart or not at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use strom_protocol::batch;
use strom_protocol::records::{self, RecordRef};
use uuid::Uuid;

/// Kafka's ConfigResource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One metadata record.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataRecord {
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// KRaft's `ProducerIdsRecord`: ids below `next_producer_id` have been handed out.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// KRaft's `ClientQuotaRecord` (KIP-546): sets (or, with `remove`, deletes) quota `key` of
    /// one entity. `value` is ignored when `remove` is set.
    ClientQuota {
        entity: QuotaEntity,
        key: String,
        value: f64,
        remove: bool,
    },
    /// KRaft's `UserScramCredentialRecord` (KIP-554): one user's credential for one mechanism
    /// (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512), as RFC 5802's salt, StoredKey and ServerKey.
    UserScramCredential {
        name: String,
        mechanism: i8,
        salt: Vec<u8>,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
        iterations: i32,
    },
    /// KRaft's `RemoveUserScramCredentialRecord`: deletes one user's credential for one
    /// mechanism.
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
}

/// A client-quota entity: entity type (`user`, `client-id`, `ip`) to name, `None` for the
/// default entity of that type. Kafka's `ClientQuotaEntity`.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// One stored SCRAM credential (the password itself is never stored or sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// Why metadata bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("corrupt metadata record: {0}")]
pub struct MetadataDecodeError(pub String);

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_compact_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_uvarint(out, 0),
        Some(s) => {
            put_uvarint(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn put_compact_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64 + 1);
    out.extend_from_slice(b);
}

fn put_i32_array(out: &mut Vec<u8>, a: &[i32]) {
    put_uvarint(out, a.len() as u64 + 1);
    for x in a {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

struct Cur<'a> {
    b: &'a [u8],
}

impl<'a> Cur<'a> {
    fn err(&self, what: &str) -> MetadataDecodeError {
        MetadataDecodeError(format!("truncated {what}"))
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], MetadataDecodeError> {
        if self.b.len() < n {
            return Err(self.err(what));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn uvarint(&mut self) -> Result<u64, MetadataDecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.take(1, "varint")?[0];
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(MetadataDecodeError("varint too long".into()))
    }
    fn i8(&mut self) -> Result<i8, MetadataDecodeError> {
        Ok(self.take(1, "int8")?[0] as i8)
    }
    fn i64(&mut self) -> Result<i64, MetadataDecodeError> {
        Ok(i64::from_be_bytes(
            self.take(8, "int64")?.try_into().expect("8 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, MetadataDecodeError> {
        Ok(i32::from_be_bytes(
            self.take(4, "int32")?.try_into().expect("4 bytes"),
        ))
    }
    fn uuid(&mut self) -> Result<Uuid, MetadataDecodeError> {
        Ok(Uuid::from_slice(self.take(16, "uuid")?).expect("16 bytes"))
    }
    fn compact_str(&mut self) -> Result<Option<String>, MetadataDecodeError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        let s = self.take((n - 1) as usize, "string")?;
        String::from_utf8(s.to_vec())
            .map(Some)
            .map_err(|_| MetadataDecodeError("string is not UTF-8".into()))
    }
    fn compact_bytes(&mut self) -> Result<Vec<u8>, MetadataDecodeError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Err(MetadataDecodeError("null bytes".into()));
        }
        Ok(self.take((n - 1) as usize, "bytes")?.to_vec())
    }
    fn f64(&mut self) -> Result<f64, MetadataDecodeError> {
        Ok(f64::from_bits(self.i64()? as u64))
    }
    fn bool(&mut self) -> Result<bool, MetadataDecodeError> {
        Ok(self.i8()? != 0)
    }
    fn i32_array(&mut self) -> Result<Vec<i32>, MetadataDecodeError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(vec![]);
        }
        let n = (n - 1) as usize;
        if n > self.b.len() / 4 {
            return Err(self.err("array"));
        }
        (0..n).map(|_| self.i32()).collect()
    }
    fn skip_tags(&mut self) -> Result<(), MetadataDecodeError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let len = self.uvarint()? as usize;
            self.take(len, "tagged field")?;
        }
        Ok(())
    }
}

impl MetadataRecord {
    /// KRaft api key of the record type.
    pub fn api_key(&self) -> u64 {
        match self {
            MetadataRecord::Topic { .. } => 2,
            MetadataRecord::Partition { .. } => 3,
            MetadataRecord::Config { .. } => 4,
            MetadataRecord::RemoveTopic { .. } => 9,
            MetadataRecord::UserScramCredential { .. } => 11,
            MetadataRecord::ClientQuota { .. } => 14,
            MetadataRecord::ProducerIds { .. } => 15,
            MetadataRecord::RemoveUserScramCredential { .. } => 22,
        }
    }

    /// The record value in `ApiMessageAndVersion` framing.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_uvarint(&mut out, 1);
        put_uvarint(&mut out, self.api_key());
        put_uvarint(&mut out, 0);
        match self {
            MetadataRecord::Topic { name, topic_id } => {
                put_compact_str(&mut out, Some(name));
                out.extend_from_slice(topic_id.as_bytes());
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                out.extend_from_slice(&partition.to_be_bytes());
                out.extend_from_slice(topic_id.as_bytes());
                put_i32_array(&mut out, replicas);
                put_i32_array(&mut out, isr);
                put_i32_array(&mut out, &[]);
                put_i32_array(&mut out, &[]);
                out.extend_from_slice(&leader.to_be_bytes());
                out.extend_from_slice(&leader_epoch.to_be_bytes());
                out.extend_from_slice(&partition_epoch.to_be_bytes());
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                out.push(*resource_type as u8);
                put_compact_str(&mut out, Some(resource_name));
                put_compact_str(&mut out, Some(name));
                put_compact_str(&mut out, value.as_deref());
            }
            MetadataRecord::RemoveTopic { topic_id } => out.extend_from_slice(topic_id.as_bytes()),
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                out.extend_from_slice(&broker_id.to_be_bytes());
                out.extend_from_slice(&broker_epoch.to_be_bytes());
                out.extend_from_slice(&next_producer_id.to_be_bytes());
            }
            MetadataRecord::ClientQuota {
                entity,
                key,
                value,
                remove,
            } => {
                put_uvarint(&mut out, entity.len() as u64 + 1);
                for (entity_type, entity_name) in entity {
                    put_compact_str(&mut out, Some(entity_type));
                    put_compact_str(&mut out, entity_name.as_deref());
                    put_uvarint(&mut out, 0);
                }
                put_compact_str(&mut out, Some(key));
                out.extend_from_slice(&value.to_bits().to_be_bytes());
                out.push(u8::from(*remove));
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                put_compact_str(&mut out, Some(name));
                out.push(*mechanism as u8);
                put_compact_bytes(&mut out, salt);
                put_compact_bytes(&mut out, stored_key);
                put_compact_bytes(&mut out, server_key);
                out.extend_from_slice(&iterations.to_be_bytes());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                put_compact_str(&mut out, Some(name));
                out.push(*mechanism as u8);
            }
        }
        put_uvarint(&mut out, 0);
        out
    }

    /// Decodes a record value written by [`MetadataRecord::encode`].
    pub fn decode(b: &[u8]) -> Result<MetadataRecord, MetadataDecodeError> {
        let mut c = Cur { b };
        let frame = c.uvarint()?;
        if frame != 1 {
            return Err(MetadataDecodeError(format!(
                "unknown frame version {frame}"
            )));
        }
        let key = c.uvarint()?;
        let _version = c.uvarint()?;
        let rec = match key {
            2 => {
                let name = c
                    .compact_str()?
                    .ok_or_else(|| MetadataDecodeError("null topic name".into()))?;
                MetadataRecord::Topic {
                    name,
                    topic_id: c.uuid()?,
                }
            }
            3 => {
                let partition = c.i32()?;
                let topic_id = c.uuid()?;
                let replicas = c.i32_array()?;
                let isr = c.i32_array()?;
                c.i32_array()?;
                c.i32_array()?;
                MetadataRecord::Partition {
                    topic_id,
                    partition,
                    replicas,
                    isr,
                    leader: c.i32()?,
                    leader_epoch: c.i32()?,
                    partition_epoch: c.i32()?,
                }
            }
            4 => MetadataRecord::Config {
                resource_type: c.i8()?,
                resource_name: c.compact_str()?.unwrap_or_default(),
                name: c.compact_str()?.unwrap_or_default(),
                value: c.compact_str()?,
            },
            9 => MetadataRecord::RemoveTopic {
                topic_id: c.uuid()?,
            },
            15 => MetadataRecord::ProducerIds {
                broker_id: c.i32()?,
                broker_epoch: c.i64()?,
                next_producer_id: c.i64()?,
            },
            11 => MetadataRecord::UserScramCredential {
                name: c.compact_str()?.unwrap_or_default(),
                mechanism: c.i8()?,
                salt: c.compact_bytes()?,
                stored_key: c.compact_bytes()?,
                server_key: c.compact_bytes()?,
                iterations: c.i32()?,
            },
            14 => {
                let n = c.uvarint()?;
                let n = n.saturating_sub(1) as usize;
                // Each element takes at least 3 bytes; refuse counts the bytes cannot hold.
                if n > c.b.len() / 3 {
                    return Err(c.err("entity array"));
                }
                let mut entity = QuotaEntity::new();
                for _ in 0..n {
                    let entity_type = c
                        .compact_str()?
                        .ok_or_else(|| MetadataDecodeError("null quota entity type".into()))?;
                    let entity_name = c.compact_str()?;
                    c.skip_tags()?;
                    entity.insert(entity_type, entity_name);
                }
                MetadataRecord::ClientQuota {
                    entity,
                    key: c.compact_str()?.unwrap_or_default(),
                    value: c.f64()?,
                    remove: c.bool()?,
                }
            }
            22 => MetadataRecord::RemoveUserScramCredential {
                name: c.compact_str()?.unwrap_or_default(),
                mechanism: c.i8()?,
            },
            k => return Err(MetadataDecodeError(format!("unknown record api key {k}"))),
        };
        c.skip_tags()?;
        Ok(rec)
    }
}

/// Encodes records as one uncompressed v2 batch (offsets assigned by the log on append).
pub fn encode_batch(recs: &[MetadataRecord], now_ms: i64) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let v = r.encode();
        records::encode_record(
            &mut payload,
            &RecordRef {
                timestamp_delta: 0,
                offset_delta: i as i32,
                key: None,
                value: Some(&v),
                headers: &[],
            },
        );
    }
    let n = recs.len() as i32;
    batch::build_batch(0, 0, n - 1, now_ms, now_ms, -1, -1, -1, n, &payload)
}

/// Decodes every record of a metadata batch.
pub fn decode_batch(b: &[u8]) -> Result<Vec<MetadataRecord>, MetadataDecodeError> {
    let h = batch::validate(b).map_err(|e| MetadataDecodeError(e.to_string()))?;
    let recs = records::decode_all(&b[batch::BATCH_HEADER_BYTES..], h.records_count)
        .map_err(|e| MetadataDecodeError(e.to_string()))?;
    recs.iter()
        .map(|r| {
            MetadataRecord::decode(
                r.value
                    .ok_or_else(|| MetadataDecodeError("null record value".into()))?,
            )
        })
        .collect()
}

/// One partition's replica state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Dynamic topic config overrides.
    pub configs: BTreeMap<String, String>,
}

/// An immutable view of all cluster metadata at one metadata offset.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub topics: BTreeMap<String, TopicImage>,
    pub topic_names: BTreeMap<Uuid, String>,
    /// Dynamic broker configs by resource name ("" = cluster-wide default).
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Configs set on topics before the topic record (applied when it arrives).
    pending_topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Producer ids below this have been allocated (never handed out again).
    pub next_producer_id: i64,
    /// Client quotas (KIP-546) by entity: quota key to value. Entities without quotas are
    /// absent. Stored and described; not enforced yet.
    pub client_quotas: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    /// SCRAM credentials (KIP-554) by user, then by mechanism type (1 = SHA-256, 2 = SHA-512).
    /// Users without credentials are absent.
    pub scram: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
}

impl MetadataImage {
    /// The image after `rec`. Panics on a record that contradicts the image (a partition of an
    /// unknown topic): the metadata log is written only by this broker, so that is a bug.
    pub fn apply(&mut self, rec: &MetadataRecord) {
        match rec {
            MetadataRecord::Topic { name, topic_id } => {
                let configs = self.pending_topic_configs.remove(name).unwrap_or_default();
                self.topic_names.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *topic_id,
                        partitions: BTreeMap::new(),
                        configs,
                    },
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let name = self
                    .topic_names
                    .get(topic_id)
                    .unwrap_or_else(|| panic!("PartitionRecord for unknown topic id {topic_id}"));
                let t = self
                    .topics
                    .get_mut(name)
                    .expect("topic_names and topics agree");
                t.partitions.insert(
                    *partition,
                    PartitionImage {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                    },
                );
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                let map = match *resource_type {
                    RESOURCE_TOPIC => match self.topics.get_mut(resource_name) {
                        Some(t) => &mut t.configs,
                        None => self
                            .pending_topic_configs
                            .entry(resource_name.clone())
                            .or_default(),
                    },
                    _ => self
                        .broker_configs
                        .entry(resource_name.clone())
                        .or_default(),
                };
                match value {
                    Some(v) => map.insert(name.clone(), v.clone()),
                    None => map.remove(name),
                };
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_names.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                assert!(
                    *next_producer_id >= self.next_producer_id,
                    "producer id blocks going backwards"
                );
                self.next_producer_id = *next_producer_id;
            }
            MetadataRecord::ClientQuota {
                entity,
                key,
                value,
                remove,
            } => {
                if *remove {
                    if let Some(q) = self.client_quotas.get_mut(entity) {
                        q.remove(key);
                        if q.is_empty() {
                            self.client_quotas.remove(entity);
                        }
                    }
                } else {
                    self.client_quotas
                        .entry(entity.clone())
                        .or_default()
                        .insert(key.clone(), *value);
                }
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                self.scram.entry(name.clone()).or_default().insert(
                    *mechanism,
                    ScramCredential {
                        salt: salt.clone(),
                        stored_key: stored_key.clone(),
                        server_key: server_key.clone(),
                        iterations: *iterations,
                    },
                );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                let creds = self.scram.get_mut(name);
                let removed = creds.and_then(|c| c.remove(mechanism));
                assert!(
                    removed.is_some(),
                    "RemoveUserScramCredentialRecord for a credential that does not exist: {name} mechanism {mechanism}"
                );
                if self.scram.get(name).is_some_and(|c| c.is_empty()) {
                    self.scram.remove(name);
                }
            }
        }
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topic_names.get(id).and_then(|n| self.topics.get(n))
    }
}

/// Shared handle to the current image.
pub type Image = Arc<MetadataImage>;

/// Kafka's 22-character URL-safe base64 form of a UUID (topic ids, cluster ids).
pub fn uuid_to_base64(u: &Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u.as_bytes())
}

/// Parses Kafka's base64 UUID form.
pub fn uuid_from_base64(s: &str) -> Option<Uuid> {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    Uuid::from_slice(&b).ok()
}

/// A random UUID suitable as a Kafka id (never the reserved zero or "metadata" ids, and, as
/// Kafka's `Uuid.randomUuid`, never starting with '-' in base64).
pub fn random_id() -> Uuid {
    loop {
        let u = Uuid::new_v4();
        if !uuid_to_base64(&u).starts_with('-') && u != Uuid::nil() && u.as_u128() != 1 {
            return u;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_a_batch() {
        let id = random_id();
        let recs = vec![
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            },
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::Config {
                resource_type: RESOURCE_BROKER,
                resource_name: "".into(),
                name: "x".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: id },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 0,
                next_producer_id: 2000,
            },
        ];
        let b = encode_batch(&recs, 1);
        assert_eq!(decode_batch(&b).unwrap(), recs);
    }

    #[test]
    fn image_applies_records() {
        let id = random_id();
        let mut img = MetadataImage::default();
        img.apply(&MetadataRecord::Config {
            resource_type: RESOURCE_TOPIC,
            resource_name: "t".into(),
            name: "a".into(),
            value: Some("1".into()),
        });
        img.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: id,
        });
        img.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        });
        assert_eq!(img.topic("t").unwrap().configs["a"], "1");
        assert_eq!(img.topic_by_id(&id).unwrap().partitions.len(), 1);
        img.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(img.topic("t").is_none());
    }

    #[test]
    fn quota_and_scram_records_round_trip_and_replay() {
        let alice_app: QuotaEntity = [
            ("user".to_string(), Some("alice".to_string())),
            ("client-id".to_string(), Some("app".to_string())),
        ]
        .into();
        let default_user: QuotaEntity = [("user".to_string(), None)].into();
        let recs = vec![
            MetadataRecord::ClientQuota {
                entity: alice_app.clone(),
                key: "producer_byte_rate".into(),
                value: 1024.0,
                remove: false,
            },
            MetadataRecord::ClientQuota {
                entity: default_user.clone(),
                key: "request_percentage".into(),
                value: 12.5,
                remove: false,
            },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: 1,
                salt: b"salt".to_vec(),
                stored_key: vec![1; 32],
                server_key: vec![2; 32],
                iterations: 8192,
            },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: 2,
                salt: vec![],
                stored_key: vec![3; 64],
                server_key: vec![4; 64],
                iterations: 4096,
            },
            MetadataRecord::ClientQuota {
                entity: alice_app.clone(),
                key: "producer_byte_rate".into(),
                value: 0.0,
                remove: true,
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "alice".into(),
                mechanism: 2,
            },
        ];
        let b = encode_batch(&recs, 1);
        let decoded = decode_batch(&b).unwrap();
        assert_eq!(decoded, recs);
        let mut img = MetadataImage::default();
        for r in &decoded {
            img.apply(r);
        }
        assert!(!img.client_quotas.contains_key(&alice_app));
        assert_eq!(img.client_quotas[&default_user]["request_percentage"], 12.5);
        assert_eq!(img.scram["alice"].len(), 1);
        assert_eq!(img.scram["alice"][&1].iterations, 8192);
        assert_eq!(img.scram["alice"][&1].stored_key, vec![1; 32]);
    }

    #[test]
    fn client_quota_record_has_kafkas_layout() {
        // ClientQuotaRecord v0, flexible: entity array (compact), key, float64, bool, tags.
        let r = MetadataRecord::ClientQuota {
            entity: [("user".to_string(), None)].into(),
            key: "k".into(),
            value: 1.0,
            remove: false,
        };
        let mut want = vec![1, 14, 0, 2, 5, b'u', b's', b'e', b'r', 0, 0, 2, b'k'];
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        assert_eq!(r.encode(), want);
        // A claimed entity count the bytes cannot hold is refused, not allocated.
        let mut bad = vec![1, 14, 0];
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(MetadataRecord::decode(&bad).is_err());
    }

    #[test]
    fn base64_ids_round_trip() {
        let u = random_id();
        let s = uuid_to_base64(&u);
        assert_eq!(s.len(), 22);
        assert_eq!(uuid_from_base64(&s), Some(u));
    }
}
