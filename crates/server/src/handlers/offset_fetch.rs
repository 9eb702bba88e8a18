//! OffsetFetch (key 9), v1-v9: committed offsets of one group (v1-v7) or a batch of groups
//! (v8+). A null topic list (v2+) asks for every committed offset of the group; partitions
//! without a commit answer offset -1. `require_stable` (v7+) would wait for pending
//! transactional commits, which do not exist yet, so it never yields UNSTABLE_OFFSET_COMMIT.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, RequestHeader};
use strom_coordinator::group::CommittedOffset;
use strom_protocol::error::ErrorCode;

use super::{sb, tn};
use crate::broker::Broker;

type Fetched = Vec<((String, i32), Option<CommittedOffset>)>;

/// Committed offsets of `group` for `topics` (None: all), grouped by topic in request order.
fn fetch(
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Fetched)>, ErrorCode> {
    if group.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    let (r, _) = broker.groups.with_core(broker, |c, _| {
        let r = match &topics {
            Some(ts) => ts
                .iter()
                .map(|(t, ps)| {
                    let tps: Vec<(String, i32)> = ps.iter().map(|p| (t.clone(), *p)).collect();
                    (t.clone(), c.fetch_offsets(group, Some(&tps)))
                })
                .collect(),
            None => {
                let mut by_topic: Vec<(String, Fetched)> = Vec::new();
                for (tp, o) in c.fetch_offsets(group, None) {
                    match by_topic.last_mut() {
                        Some((t, v)) if *t == tp.0 => v.push((tp, o)),
                        _ => by_topic.push((tp.0.clone(), vec![(tp, o)])),
                    }
                }
                by_topic
            }
        };
        (r, vec![])
    });
    Ok(r)
}

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = h.request_api_version;
    let mut resp = OffsetFetchResponse::default();
    if v >= 8 {
        for g in &req.groups {
            let topics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let mut rg = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            match fetch(broker, &g.group_id.0, topics) {
                Err(e) => rg.error_code = e.code(),
                Ok(r) => {
                    rg.topics = r
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(tn(t))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|((_, p), o)| {
                                            let (off, epoch, meta) = values(o);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(off)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(sb(meta)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                }
            }
            resp.groups.push(rg);
        }
        return resp;
    }
    let topics = match &req.topics {
        Some(ts) => Some(
            ts.iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>(),
        ),
        // v1 has no null topic list; null from v2 on means all.
        None if v >= 2 => None,
        None => Some(vec![]),
    };
    match fetch(broker, &req.group_id.0, topics.clone()) {
        Err(e) => {
            if v >= 2 {
                resp.error_code = e.code();
            } else {
                // v1 has no top-level error: report it on every requested partition.
                for (t, ps) in topics.unwrap_or_default() {
                    resp.topics.push(
                        OffsetFetchResponseTopic::default()
                            .with_name(tn(t))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_metadata(Some(sb("")))
                                            .with_error_code(e.code())
                                    })
                                    .collect(),
                            ),
                    );
                }
            }
        }
        Ok(r) => {
            resp.topics = r
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(tn(t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|((_, p), o)| {
                                    let (off, epoch, meta) = values(o);
                                    let mut rp = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(off)
                                        .with_metadata(Some(sb(meta)));
                                    if v >= 5 {
                                        rp.committed_leader_epoch = epoch;
                                    }
                                    rp
                                })
                                .collect(),
                        )
                })
                .collect();
        }
    }
    resp
}

fn values(o: Option<CommittedOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata),
        None => (-1, -1, String::new()),
    }
}
