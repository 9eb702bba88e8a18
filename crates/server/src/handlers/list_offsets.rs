//! ListOffsets (key 2), v1-v10: latest (-1: the high watermark, or the last stable offset for
//! read_committed), earliest (-2), max timestamp (-3, KIP-734), earliest local (-4, KIP-405),
//! earliest pending upload (-5, KIP-1023: none without tiered storage), latest tiered (-6),
//! and by timestamp (first record with timestamp >= T).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use crate::broker::{Broker, Partition};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;
const LATEST_TIERED: i64 = -6;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = h.request_api_version;
    let mut resp = ListOffsetsResponse::default();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let mut tr = ListOffsetsTopicResponse::default().with_name(t.name.clone());
        for lp in &t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default()
                .with_partition_index(lp.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            match broker.partition(&name, lp.partition_index) {
                None => pr.error_code = ErrorCode::UnknownTopicOrPartition.code(),
                Some(p) => {
                    if lp.current_leader_epoch >= 0 && lp.current_leader_epoch != p.leader_epoch {
                        pr.error_code = if lp.current_leader_epoch > p.leader_epoch {
                            ErrorCode::UnknownLeaderEpoch.code()
                        } else {
                            ErrorCode::FencedLeaderEpoch.code()
                        };
                    } else {
                        match lookup(&p, lp.timestamp, req.isolation_level) {
                            Ok(Some((offset, ts))) => {
                                pr.offset = offset;
                                pr.timestamp = ts;
                                if v >= 4 {
                                    pr.leader_epoch = p.leader_epoch;
                                }
                            }
                            Ok(None) => {}
                            Err(code) => pr.error_code = code.code(),
                        }
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}

/// (offset, timestamp) for a ListOffsets timestamp query; `None`: no such offset.
fn lookup(p: &Partition, ts: i64, _isolation_level: i8) -> Result<Option<(i64, i64)>, ErrorCode> {
    let hw = p.high_watermark();
    let storage = |e: strom_log::LogError| {
        tracing::error!(partition = ?p.tp, "list offsets failed: {e}");
        ErrorCode::KafkaStorageError
    };
    Ok(match ts {
        // Without transactions the last stable offset equals the high watermark.
        LATEST => Some((hw, -1)),
        EARLIEST | EARLIEST_LOCAL => Some((p.log.log_start_offset(), -1)),
        EARLIEST_PENDING_UPLOAD | LATEST_TIERED => Some((-1, -1)),
        MAX_TIMESTAMP => p
            .log
            .max_timestamp_offset()
            .map_err(storage)?
            .filter(|(o, _)| *o < hw),
        t if t >= 0 => p
            .log
            .offset_for_timestamp(t)
            .map_err(storage)?
            .filter(|(o, _)| *o < hw),
        _ => return Err(ErrorCode::InvalidRequest),
    })
}
