//! DeleteRecords (key 21), v0-v2: advance a partition's log start offset. Offset -1 means the
//! high watermark; an offset above it is OFFSET_OUT_OF_RANGE. Answers the new low watermark.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = DeleteRecordsTopicResult::default().with_name(t.name.clone());
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            match broker.partition(&name, p.partition_index) {
                None => r.error_code = ErrorCode::UnknownTopicOrPartition.code(),
                Some(part) => {
                    let hw = part.high_watermark();
                    let target = if p.offset == -1 { hw } else { p.offset };
                    if target < 0 || target > hw {
                        r.error_code = ErrorCode::OffsetOutOfRange.code();
                    } else {
                        match part.log.delete_records_before(target) {
                            Ok(low) => r.low_watermark = low,
                            Err(strom_log::LogError::OffsetOutOfRange { .. }) => {
                                r.error_code = ErrorCode::OffsetOutOfRange.code()
                            }
                            Err(e) => {
                                tracing::error!(partition = ?part.tp, "delete records failed: {e}");
                                r.error_code = ErrorCode::KafkaStorageError.code();
                            }
                        }
                    }
                }
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
