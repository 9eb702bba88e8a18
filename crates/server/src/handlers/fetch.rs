//! Fetch (key 1), v4-v18: reads whole batches below the high watermark (or the last stable
//! offset for `read_committed`), bounded by the request's `max_bytes` and each partition's
//! `partition_max_bytes`, always returning at least one batch in the first partition with
//! data so a consumer can never get stuck behind a large batch. Long poll: when fewer than
//! `min_bytes` are ready the request waits up to `max_wait_ms`, waking on every append.
//!
//! Fetch sessions (KIP-227) are declined: responses carry session id 0, so clients keep
//! sending full fetch requests; an incremental request for a session id we never issued gets
//! FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;

/// Kafka's READ_COMMITTED isolation level.
const READ_COMMITTED: i8 = 1;

pub async fn handle(broker: &Arc<Broker>, h: &RequestHeader, req: FetchRequest) -> FetchResponse {
    let v = h.request_api_version;
    if v >= 7 && req.session_id != 0 {
        let mut r = FetchResponse::default();
        r.error_code = ErrorCode::FetchSessionIdNotFound.code();
        return r;
    }
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        let notified = broker.data_arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, bytes, errors) = read_once(broker, v, &req);
        if bytes >= req.min_bytes.max(0) as u64 || errors || tokio::time::Instant::now() >= deadline
        {
            return resp;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {
                return read_once(broker, v, &req).0;
            }
        }
    }
}

/// One pass over the requested partitions: (response, record bytes, any partition error).
fn read_once(broker: &Broker, v: i16, req: &FetchRequest) -> (FetchResponse, u64, bool) {
    let img = broker.image();
    let mut resp = FetchResponse::default();
    let mut budget = req.max_bytes.max(0) as u64;
    if v < 3 {
        budget = i32::MAX as u64;
    }
    let mut total = 0u64;
    let mut errors = false;
    for ft in &req.topics {
        let topic = if v >= 13 {
            img.topic_by_id(&ft.topic_id)
        } else {
            img.topic(&ft.topic)
        };
        let mut tr = FetchableTopicResponse::default();
        if v >= 13 {
            tr.topic_id = ft.topic_id;
        } else {
            tr.topic = ft.topic.clone();
        }
        for fp in &ft.partitions {
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1);
            let part = topic.and_then(|t| broker.partition(&t.name, fp.partition));
            let Some(p) = part else {
                pd.error_code = if v >= 13 && topic.is_none() {
                    ErrorCode::UnknownTopicId.code()
                } else {
                    ErrorCode::UnknownTopicOrPartition.code()
                };
                errors = true;
                tr.partitions.push(pd);
                continue;
            };
            if fp.current_leader_epoch >= 0 && fp.current_leader_epoch != p.leader_epoch {
                pd.error_code = if fp.current_leader_epoch > p.leader_epoch {
                    ErrorCode::UnknownLeaderEpoch.code()
                } else {
                    ErrorCode::FencedLeaderEpoch.code()
                };
                errors = true;
                tr.partitions.push(pd);
                continue;
            }
            let hw = p.high_watermark();
            let lso = hw;
            pd.high_watermark = hw;
            pd.last_stable_offset = lso;
            pd.log_start_offset = p.log.log_start_offset();
            if req.isolation_level == READ_COMMITTED {
                pd.aborted_transactions = Some(vec![]);
            }
            let bound = if req.isolation_level == READ_COMMITTED {
                lso
            } else {
                hw
            };
            let max = (fp.partition_max_bytes.max(0) as u64).min(budget);
            match p.log.read(fp.fetch_offset, max, bound, total == 0) {
                Ok(r) => match r.to_vec() {
                    Ok(data) => {
                        let n = data.len() as u64;
                        total += n;
                        budget = budget.saturating_sub(n);
                        pd.records = Some(Bytes::from(data));
                    }
                    Err(e) => {
                        tracing::error!(partition = ?p.tp, "fetch read failed: {e}");
                        pd.error_code = ErrorCode::KafkaStorageError.code();
                        errors = true;
                    }
                },
                Err(strom_log::LogError::OffsetOutOfRange { .. }) => {
                    pd.error_code = ErrorCode::OffsetOutOfRange.code();
                    errors = true;
                }
                Err(e) => {
                    tracing::error!(partition = ?p.tp, "fetch read failed: {e}");
                    pd.error_code = ErrorCode::KafkaStorageError.code();
                    errors = true;
                }
            }
            if pd.records.is_none() {
                pd.records = Some(Bytes::new());
            }
            tr.partitions.push(pd);
        }
        resp.responses.push(tr);
    }
    (resp, total, errors)
}
