//! OffsetDelete (key 47), v0: deletes committed offsets of a group (KIP-496). Refused per
//! partition with GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to the topic, for the
//! whole request with GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP (a non-consumer group with
//! members); unknown partitions get UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;
use crate::groups;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let img = broker.image();
    let mut wanted = Vec::new();
    for t in &req.topics {
        let topic = img.topic(&t.name.0);
        for p in &t.partitions {
            if topic.is_some_and(|x| x.partitions.contains_key(&p.partition_index)) {
                wanted.push((t.name.0.to_string(), p.partition_index));
            }
        }
    }
    let (r, stored) = broker.groups.with_core(broker, |c, _| {
        (c.delete_offsets(&req.group_id.0, &wanted), vec![])
    });
    let mut resp = OffsetDeleteResponse::default();
    let results = match r {
        Err(e) => {
            resp.error_code = groups::error_code(e).code();
            return resp;
        }
        Ok(rs) => rs,
    };
    let store_err = stored.is_err();
    let mut it = results.into_iter();
    for t in &req.topics {
        let topic = img.topic(&t.name.0);
        let mut rt = OffsetDeleteResponseTopic::default().with_name(t.name.clone());
        for p in &t.partitions {
            let code = if topic.is_some_and(|x| x.partitions.contains_key(&p.partition_index)) {
                match it.next() {
                    Some(Err(e)) => groups::error_code(e).code(),
                    Some(Ok(())) if store_err => ErrorCode::CoordinatorNotAvailable.code(),
                    _ => 0,
                }
            } else {
                ErrorCode::UnknownTopicOrPartition.code()
            };
            rt.partitions.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        resp.topics.push(rt);
    }
    resp
}
