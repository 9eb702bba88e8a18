//! Versions Kafka 3.x served and Kafka 4 dropped (KIP-896), which the generated codec no
//! longer knows: ListOffsets v0, CreateTopics v0-v1, DeleteTopics v0, DescribeConfigs v0,
//! OffsetCommit v0-v1 and OffsetFetch v0; and Produce v0-v2 (message formats 0 and 1), which
//! Kafka 4 advertises but no longer serves (KAFKA-18659): every partition is answered with
//! UNSUPPORTED_VERSION.
//! Each is decoded by hand into the current request type, handled by the normal handler, and
//! its response encoded by hand in the old layout (Kafka protocol guide, "ListOffsets
//! Request (Version: 0)" and so on). All old layouts are non-flexible: int16-length strings,
//! int32-count arrays, request header v1 and response header v0.
//!
//! Every length and count is checked against the bytes left before anything is allocated.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::sb;
use crate::broker::Broker;

/// The oldest version the generated codec handles, per API; below it this module answers.
pub fn legacy_versions(key: ApiKey) -> Option<std::ops::RangeInclusive<i16>> {
    match key {
        ApiKey::ListOffsets => Some(0..=0),
        ApiKey::CreateTopics => Some(0..=1),
        ApiKey::DeleteTopics => Some(0..=0),
        ApiKey::DescribeConfigs => Some(0..=0),
        ApiKey::OffsetCommit => Some(0..=1),
        ApiKey::OffsetFetch => Some(0..=0),
        ApiKey::Produce => Some(0..=2),
        _ => None,
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.b.len() < n {
            return Err(format!(
                "request ends early ({n} bytes wanted, {} left)",
                self.b.len()
            ));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn i8(&mut self) -> R<i8> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> R<i16> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> R<i32> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bool(&mut self) -> R<bool> {
        Ok(self.i8()? != 0)
    }
    fn nullable_string(&mut self) -> R<Option<StrBytes>> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        let s = std::str::from_utf8(b).map_err(|_| "string is not UTF-8".to_string())?;
        Ok(Some(sb(s)))
    }
    fn string(&mut self) -> R<StrBytes> {
        self.nullable_string()?
            .ok_or_else(|| "null where a string is required".to_string())
    }
    /// An array count; -1 (null) is `None`. Bounded by the bytes left: every element of the
    /// arrays read here takes at least `min_element_bytes`.
    fn count(&mut self, min_element_bytes: usize) -> R<Option<usize>> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        if n as usize > self.b.len() / min_element_bytes.max(1) {
            return Err(format!("array count {n} exceeds the request"));
        }
        Ok(Some(n as usize))
    }
    fn done(&self) -> R<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the request",
                self.b.len()
            ))
        }
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn put_nullable_str(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.put_i16(-1),
    }
}

/// Handles an old-version request whose header has been decoded. `Ok(None)`: no response
/// (acks=0 produce). `Err`: malformed, close the connection.
pub fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    key: ApiKey,
    body: Bytes,
) -> Result<Option<Bytes>, String> {
    if key == ApiKey::Produce {
        return produce(header, body);
    }
    let mut r = Reader { b: &body };
    let v = header.request_api_version;
    let mut out = BytesMut::with_capacity(128);
    out.put_i32(0);
    out.put_i32(header.correlation_id);
    match key {
        ApiKey::ListOffsets => {
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(r.i32()?);
            let mut max_offsets = Vec::new();
            for _ in 0..r.count(6)?.unwrap_or(0) {
                let mut t = ListOffsetsTopic::default().with_name(TopicName(r.string()?));
                for _ in 0..r.count(16)?.unwrap_or(0) {
                    let p = ListOffsetsPartition::default()
                        .with_partition_index(r.i32()?)
                        .with_timestamp(r.i64()?)
                        .with_current_leader_epoch(-1);
                    max_offsets.push(r.i32()?);
                    t.partitions.push(p);
                }
                req.topics.push(t);
            }
            r.done()?;
            let resp = super::list_offsets::handle(broker, header, req);
            out.put_i32(resp.topics.len() as i32);
            for t in &resp.topics {
                put_str(&mut out, &t.name.0);
                out.put_i32(t.partitions.len() as i32);
                for p in &t.partitions {
                    out.put_i32(p.partition_index);
                    out.put_i16(p.error_code);
                    // v0 answers a list of offsets ("old style"); one, or none when unknown.
                    if p.error_code == 0 && p.offset >= 0 {
                        out.put_i32(1);
                        out.put_i64(p.offset);
                    } else {
                        out.put_i32(0);
                    }
                }
            }
        }
        ApiKey::CreateTopics => {
            let mut req = CreateTopicsRequest::default();
            for _ in 0..r.count(18)?.unwrap_or(0) {
                let mut t = CreatableTopic::default()
                    .with_name(TopicName(r.string()?))
                    .with_num_partitions(r.i32()?)
                    .with_replication_factor(r.i16()?);
                for _ in 0..r.count(8)?.unwrap_or(0) {
                    let mut a =
                        CreatableReplicaAssignment::default().with_partition_index(r.i32()?);
                    for _ in 0..r.count(4)?.unwrap_or(0) {
                        a.broker_ids.push(BrokerId(r.i32()?));
                    }
                    t.assignments.push(a);
                }
                for _ in 0..r.count(4)?.unwrap_or(0) {
                    t.configs.push(
                        CreatableTopicConfig::default()
                            .with_name(r.string()?)
                            .with_value(r.nullable_string()?),
                    );
                }
                req.topics.push(t);
            }
            req.timeout_ms = r.i32()?;
            if v >= 1 {
                req.validate_only = r.bool()?;
            }
            r.done()?;
            let resp = super::create_topics::handle(broker, header, req);
            out.put_i32(resp.topics.len() as i32);
            for t in &resp.topics {
                put_str(&mut out, &t.name.0);
                out.put_i16(t.error_code);
                if v >= 1 {
                    put_nullable_str(&mut out, t.error_message.as_deref());
                }
            }
        }
        ApiKey::DeleteTopics => {
            let mut req = DeleteTopicsRequest::default();
            for _ in 0..r.count(2)?.unwrap_or(0) {
                req.topic_names.push(TopicName(r.string()?));
            }
            req.timeout_ms = r.i32()?;
            r.done()?;
            let resp = super::delete_topics::handle(broker, header, req);
            out.put_i32(resp.responses.len() as i32);
            for t in &resp.responses {
                put_str(&mut out, t.name.as_ref().map_or("", |n| &n.0));
                out.put_i16(t.error_code);
            }
        }
        ApiKey::DescribeConfigs => {
            let mut req = DescribeConfigsRequest::default();
            for _ in 0..r.count(7)?.unwrap_or(0) {
                let mut res = DescribeConfigsResource::default()
                    .with_resource_type(r.i8()?)
                    .with_resource_name(r.string()?);
                res.configuration_keys = match r.count(2)? {
                    None => None,
                    Some(n) => Some((0..n).map(|_| r.string()).collect::<R<Vec<_>>>()?),
                };
                req.resources.push(res);
            }
            r.done()?;
            let resp = super::describe_configs::handle(broker, header, req);
            out.put_i32(resp.throttle_time_ms);
            out.put_i32(resp.results.len() as i32);
            for res in &resp.results {
                out.put_i16(res.error_code);
                put_nullable_str(&mut out, res.error_message.as_deref());
                out.put_i8(res.resource_type);
                put_str(&mut out, &res.resource_name);
                out.put_i32(res.configs.len() as i32);
                for c in &res.configs {
                    put_str(&mut out, &c.name);
                    put_nullable_str(&mut out, c.value.as_deref());
                    out.put_i8(c.read_only as i8);
                    // v0 has `is_default` where v1+ has the source (5 = DEFAULT_CONFIG).
                    out.put_i8((c.config_source == 5) as i8);
                    out.put_i8(c.is_sensitive as i8);
                }
            }
        }
        ApiKey::OffsetCommit => {
            // v0 commits outside any group (generation -1); v1 adds generation, member id and
            // a per-partition commit timestamp (ignored, as Kafka 3.x ignored it for expiry
            // once it used the broker's time). Handled with v2 semantics.
            let mut req = OffsetCommitRequest::default()
                .with_generation_id_or_member_epoch(-1)
                .with_retention_time_ms(-1);
            req.group_id = GroupId(r.string()?);
            if v >= 1 {
                req.generation_id_or_member_epoch = r.i32()?;
                req.member_id = r.string()?;
            }
            for _ in 0..r.count(6)?.unwrap_or(0) {
                let mut t = OffsetCommitRequestTopic::default().with_name(TopicName(r.string()?));
                for _ in 0..r.count(14)?.unwrap_or(0) {
                    let mut p = OffsetCommitRequestPartition::default()
                        .with_partition_index(r.i32()?)
                        .with_committed_offset(r.i64()?)
                        .with_committed_leader_epoch(-1);
                    if v >= 1 {
                        r.i64()?;
                    }
                    p.committed_metadata = r.nullable_string()?;
                    t.partitions.push(p);
                }
                req.topics.push(t);
            }
            r.done()?;
            let h2 = header.clone().with_request_api_version(2);
            let resp = super::offset_commit::handle(broker, &h2, req);
            out.put_i32(resp.topics.len() as i32);
            for t in &resp.topics {
                put_str(&mut out, &t.name.0);
                out.put_i32(t.partitions.len() as i32);
                for p in &t.partitions {
                    out.put_i32(p.partition_index);
                    out.put_i16(p.error_code);
                }
            }
        }
        ApiKey::OffsetFetch => {
            let mut req = OffsetFetchRequest::default();
            req.group_id = GroupId(r.string()?);
            let mut topics = Vec::new();
            for _ in 0..r.count(6)?.unwrap_or(0) {
                let mut t = OffsetFetchRequestTopic::default().with_name(TopicName(r.string()?));
                for _ in 0..r.count(4)?.unwrap_or(0) {
                    t.partition_indexes.push(r.i32()?);
                }
                topics.push(t);
            }
            req.topics = Some(topics);
            r.done()?;
            // v0 read ZooKeeper-stored offsets in old Kafka; Kafka 3.x answered it from the
            // coordinator exactly as v1, which has the same layout.
            let h1 = header.clone().with_request_api_version(1);
            let resp = super::offset_fetch::handle(broker, &h1, req);
            out.put_i32(resp.topics.len() as i32);
            for t in &resp.topics {
                put_str(&mut out, &t.name.0);
                out.put_i32(t.partitions.len() as i32);
                for p in &t.partitions {
                    out.put_i32(p.partition_index);
                    out.put_i64(p.committed_offset);
                    put_nullable_str(&mut out, p.metadata.as_deref());
                    out.put_i16(p.error_code);
                }
            }
        }
        other => unreachable!("{other:?} has no legacy versions"),
    }
    Ok(Some(finish(out)))
}

/// Writes the frame size into the first 4 bytes.
fn finish(mut out: BytesMut) -> Bytes {
    let len = (out.len() - 4) as i32;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// Produce v0-v2: UNSUPPORTED_VERSION for every partition in the v0-v2 response layout
/// (nothing for acks=0). `body` is the request after its header.
pub fn produce(header: &RequestHeader, body: Bytes) -> Result<Option<Bytes>, String> {
    let v = header.request_api_version;
    let mut r = Reader { b: &body };
    let acks = r.i16()?;
    let _timeout = r.i32()?;
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    out.put_i32(header.correlation_id);
    let topics = r.count(6)?.unwrap_or(0);
    out.put_i32(topics as i32);
    for _ in 0..topics {
        put_str(&mut out, &r.string()?);
        let parts = r.count(8)?.unwrap_or(0);
        out.put_i32(parts as i32);
        for _ in 0..parts {
            let index = r.i32()?;
            let len = r.i32()?;
            if len > 0 {
                r.take(len as usize)?;
            }
            out.put_i32(index);
            out.put_i16(kafka_protocol::error::ResponseError::UnsupportedVersion.code());
            out.put_i64(-1);
            if v >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if v >= 1 {
        out.put_i32(0);
    }
    Ok((acks != 0).then(|| finish(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_body(acks: i16) -> bytes::Bytes {
        let mut b = Vec::new();
        b.extend_from_slice(&acks.to_be_bytes());
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.push(b't');
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(b"abc");
        b.into()
    }

    #[test]
    fn legacy_produce_gets_unsupported_version_per_partition() {
        let h = RequestHeader::default()
            .with_request_api_version(2)
            .with_correlation_id(9);
        let r = produce(&h, v2_body(1)).unwrap().unwrap();
        let want_len = 4 + 4 + 2 + 1 + 4 + 4 + 2 + 8 + 8 + 4;
        assert_eq!(
            i32::from_be_bytes(r[0..4].try_into().unwrap()) as usize,
            want_len
        );
        assert_eq!(i32::from_be_bytes(r[4..8].try_into().unwrap()), 9);
        let err_at = 4 + 4 + 4 + 2 + 1 + 4 + 4;
        assert_eq!(
            i16::from_be_bytes(r[err_at..err_at + 2].try_into().unwrap()),
            kafka_protocol::error::ResponseError::UnsupportedVersion.code()
        );
        assert!(produce(&h, v2_body(0)).unwrap().is_none());
    }

    #[test]
    fn legacy_produce_rejects_truncated_and_huge_counts() {
        let h = RequestHeader::default().with_request_api_version(1);
        let body = v2_body(1);
        assert!(produce(&h, body.slice(..body.len() - 1)).is_err());
        let mut huge = body.to_vec();
        huge[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(produce(&h, huge.into()).is_err());
    }
}
