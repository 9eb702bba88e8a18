//! DescribeProducers (key 61), v0 (KIP-664): the idempotent producers each partition tracks:
//! id, epoch, last sequence and last append time.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = TopicResponse::default().with_name(t.name.clone());
        for p in t.partition_indexes {
            let mut pr = PartitionResponse::default().with_partition_index(p);
            match broker.partition(&name, p) {
                None => {
                    pr.error_code = ErrorCode::UnknownTopicOrPartition.code();
                    pr.error_message = Some(sb("This server does not host this topic-partition."));
                }
                Some(part) => {
                    pr.active_producers = part
                        .log
                        .producers()
                        .into_iter()
                        .map(|s| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(s.producer_id))
                                .with_producer_epoch(s.producer_epoch as i32)
                                .with_last_sequence(s.last_sequence)
                                .with_last_timestamp(s.last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(-1)
                        })
                        .collect();
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
