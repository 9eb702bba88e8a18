//! OffsetCommit (key 8), v2-v9: checks generation and member (Kafka's `validateOffsetCommit`;
//! generation -1 with no member commits from outside group management to an empty or new
//! group), refuses unknown partitions, stores offsets with their metadata string in
//! `__consumer_offsets`. v2-v4 `retention_time_ms` (not -1) sets an explicit expiry, written
//! as OffsetCommitValue v1 as Kafka does; v6+ carry the leader epoch, v7+ `group.instance.id`.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, RequestHeader};
use strom_coordinator::group::OffsetCommit;
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;
use crate::groups;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = h.request_api_version;
    let group_id = req.group_id.0.to_string();
    let instance = if v >= 7 {
        req.group_instance_id.as_ref().map(|s| s.to_string())
    } else {
        None
    };
    let retention_ms = if v <= 4 { req.retention_time_ms } else { -1 };
    let img = broker.image();
    // Per partition: Err(code) decided here, or the index into `commits`.
    let mut plan: Vec<Vec<(i32, Result<usize, ErrorCode>)>> = Vec::new();
    let mut commits = Vec::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let topic = img.topic(&name);
        let mut parts = Vec::new();
        for p in &t.partitions {
            let known = topic.is_some_and(|t| t.partitions.contains_key(&p.partition_index));
            if !known {
                parts.push((p.partition_index, Err(ErrorCode::UnknownTopicOrPartition)));
                continue;
            }
            parts.push((p.partition_index, Ok(commits.len())));
            commits.push(OffsetCommit {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|s| s.to_string()),
            });
        }
        plan.push(parts);
    }
    let (result, stored) = broker.groups.with_core(broker, |c, now| {
        let r = c
            .validate_commit(
                &group_id,
                &req.member_id,
                instance.as_deref(),
                req.generation_id_or_member_epoch,
            )
            .map(|()| c.commit_offsets(&group_id, &req.member_id, &commits, retention_ms, now));
        (r, vec![])
    });
    let store_err = stored.err().map(|_| ErrorCode::CoordinatorNotAvailable);
    let mut resp = OffsetCommitResponse::default();
    for (t, parts) in req.topics.iter().zip(plan) {
        let mut rt = OffsetCommitResponseTopic::default().with_name(t.name.clone());
        for (index, p) in parts {
            let code = match (p, &result) {
                (Err(c), _) => c.code(),
                (Ok(_), Err(e)) => groups::error_code(*e).code(),
                (Ok(i), Ok(rs)) => match (&rs[i], store_err) {
                    (Err(e), _) => groups::error_code(*e).code(),
                    (Ok(()), Some(c)) => c.code(),
                    (Ok(()), None) => 0,
                },
            };
            rt.partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(code),
            );
        }
        resp.topics.push(rt);
    }
    resp
}
