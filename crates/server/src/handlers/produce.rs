//! Produce (key 0), v3-v13: validate each partition's record batch, assign offsets in place,
//! append, and answer per partition (nothing at all for acks=0).
//!
//! Validation follows Kafka's `LogValidator`: exactly one magic-2 batch per partition (v3+),
//! CRC32C, lengths, known codec, no control batches from clients, size within
//! `max.message.bytes`, records that decode (decompressed within a bound) with offset deltas
//! 0..n-1, non-null header keys, keys on compacted topics, and CreateTime timestamps within
//! `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` of the broker clock.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use strom_protocol::batch::{self, BatchFrames, Compression, BATCH_HEADER_BYTES};
use strom_protocol::error::ErrorCode;
use strom_protocol::records;

use super::sb;
use crate::broker::{ApiError, Broker, Partition, TopicSettings};
use crate::limits::DECOMPRESSED_BATCH_BYTES_MAX;

/// A partition-level failure, with the indexes of bad records (v8+ `record_errors`).
struct ProduceError {
    err: ApiError,
    record_errors: Vec<(i32, String)>,
}

impl From<ApiError> for ProduceError {
    fn from(err: ApiError) -> Self {
        ProduceError {
            err,
            record_errors: vec![],
        }
    }
}

fn invalid(code: ErrorCode, msg: impl Into<String>) -> ProduceError {
    ApiError::new(code, msg).into()
}

/// An appended partition whose acknowledgement waits for an fsync (`flush.messages`).
pub struct FlushWait {
    partition: Arc<Partition>,
    /// Offset below which everything must be fsynced, then becomes the high watermark.
    flush_to: i64,
    /// Index of the partition's answer: (topic, partition) in the response.
    at: (usize, usize),
}

/// The result of handling a Produce request: the response (`None` for acks=0) and the
/// fsyncs it waits for (see [`finish`]).
pub struct Produced {
    pub resp: Option<ProduceResponse>,
    pub waits: Vec<FlushWait>,
}

/// Validates and appends every partition's batch. Partitions whose topic asks for an fsync
/// before the acknowledgement (`flush.messages`) come back in `waits`, not yet readable
/// (their high watermark moves in [`finish`], after the fsync, as in Kafka where the flush is
/// part of the append).
pub fn handle(broker: &Arc<Broker>, h: &RequestHeader, req: ProduceRequest) -> Produced {
    let v = h.request_api_version;
    let acks = req.acks;
    let img = broker.image();
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    let mut waits = Vec::new();
    for td in req.topic_data {
        let (name, topic) = if v >= 13 {
            let t = img.topic_by_id(&td.topic_id);
            (t.map(|t| t.name.clone()), t)
        } else {
            let n = td.name.0.to_string();
            let t = img.topic(&n);
            (Some(n), t)
        };
        let mut tr = TopicProduceResponse::default();
        if v >= 13 {
            tr.topic_id = td.topic_id;
        } else {
            tr.name = td.name.clone();
        }
        for pd in td.partition_data {
            let mut pr = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let result = if !matches!(acks, -1..=1) {
                Err(invalid(
                    ErrorCode::InvalidRequiredAcks,
                    format!("acks must be -1, 0 or 1, not {acks}"),
                ))
            } else {
                match (&name, topic) {
                    (Some(n), Some(_)) => match broker.partition(n, pd.index) {
                        Some(p) => {
                            let r = append(broker, &p, acks, pd.records.as_deref());
                            if let Ok(Appended {
                                flush_to: Some(flush_to),
                                ..
                            }) = r
                            {
                                waits.push(FlushWait {
                                    partition: p,
                                    flush_to,
                                    at: (resp.responses.len(), tr.partition_responses.len()),
                                });
                            }
                            r
                        }
                        None => Err(invalid(
                            ErrorCode::UnknownTopicOrPartition,
                            "This server does not host this topic-partition.",
                        )),
                    },
                    (None, _) => Err(invalid(
                        ErrorCode::UnknownTopicId,
                        "This server does not host this topic ID.",
                    )),
                    (Some(_), None) => Err(invalid(
                        ErrorCode::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.",
                    )),
                }
            };
            match result {
                Ok(a) => {
                    appended |= a.flush_to.is_none();
                    pr.base_offset = a.base_offset;
                    pr.log_append_time_ms = a.append_time;
                    pr.log_start_offset = a.log_start_offset;
                }
                Err(e) => {
                    pr.error_code = e.err.code.code();
                    if v >= 8 {
                        pr.error_message = e.err.message.map(sb);
                        pr.record_errors = e
                            .record_errors
                            .into_iter()
                            .map(|(i, m)| {
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(i)
                                    .with_batch_index_error_message(Some(sb(m)))
                            })
                            .collect();
                    }
                }
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if appended {
        broker.data_arrived.notify_waiters();
    }
    Produced {
        resp: (acks != 0).then_some(resp),
        waits,
    }
}

/// Runs the fsyncs a Produce waits for, all partitions at once, each on a blocking thread
/// ([`strom_log::Log::flush_up_to`] is a group commit: one fsync covers every append made
/// before it started, from any connection). Then moves each partition's high watermark and
/// returns the response, with KAFKA_STORAGE_ERROR for a partition whose fsync failed.
pub async fn finish(broker: Arc<Broker>, produced: Produced) -> Option<ProduceResponse> {
    let Produced { mut resp, waits } = produced;
    let flushes: Vec<_> = waits
        .iter()
        .map(|w| {
            let log = w.partition.log.clone();
            let to = w.flush_to;
            tokio::task::spawn_blocking(move || log.flush_up_to(to))
        })
        .collect();
    for (w, f) in waits.iter().zip(flushes) {
        let result = match f.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("fsync task failed: {e}")),
        };
        match result {
            Ok(()) => w.partition.advance_high_watermark(w.flush_to),
            Err(e) => {
                tracing::error!(partition = ?w.partition.tp, "fsync failed: {e}");
                if let Some(r) = resp.as_mut() {
                    let pr = &mut r.responses[w.at.0].partition_responses[w.at.1];
                    pr.error_code = ErrorCode::KafkaStorageError.code();
                    pr.base_offset = -1;
                    pr.log_append_time_ms = -1;
                    pr.log_start_offset = -1;
                }
            }
        }
    }
    broker.data_arrived.notify_waiters();
    resp
}

/// A partition's successful append.
struct Appended {
    base_offset: i64,
    /// LogAppendTime, or -1 for CreateTime topics.
    append_time: i64,
    log_start_offset: i64,
    /// `Some(offset)`: the append needs an fsync up to `offset` before it is acknowledged
    /// and readable; until then the high watermark stays where it was.
    flush_to: Option<i64>,
}

/// Validates and appends one partition's records.
fn append(
    broker: &Broker,
    p: &Partition,
    acks: i16,
    records: Option<&[u8]>,
) -> Result<Appended, ProduceError> {
    let settings = p.settings();
    let Some(records) = records else {
        return Err(invalid(
            ErrorCode::InvalidRecord,
            "Produce request has no records for the partition.",
        ));
    };
    let mut frames = BatchFrames::new(records);
    let (range, _) =
        match frames.next() {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                return Err(invalid(
                    ErrorCode::CorruptMessage,
                    format!("Record batch is malformed: {e}"),
                ))
            }
            None => return Err(invalid(
                ErrorCode::InvalidRecord,
                "Produce requests with version 3 and above must contain exactly one record batch.",
            )),
        };
    if range.end != records.len() {
        return Err(invalid(
            ErrorCode::InvalidRecord,
            "Produce requests with version 3 and above must contain exactly one record batch.",
        ));
    }
    if records.len() > settings.max_message_bytes {
        return Err(invalid(
            ErrorCode::MessageTooLarge,
            format!(
                "The record batch of {} bytes is larger than max.message.bytes ({}).",
                records.len(),
                settings.max_message_bytes
            ),
        ));
    }
    let h = match batch::validate(records) {
        Ok(h) => h,
        Err(batch::BatchError::Magic(m)) => {
            return Err(invalid(
                ErrorCode::InvalidRecord,
                format!(
                "Produce requests with version 3 and above must use record batch magic 2, not {m}."
            ),
            ))
        }
        Err(e) => {
            return Err(invalid(
                ErrorCode::CorruptMessage,
                format!("Record batch is corrupt: {e}"),
            ))
        }
    };
    if h.is_control() {
        return Err(invalid(
            ErrorCode::InvalidRecord,
            "Clients may not write control batches.",
        ));
    }
    if acks == -1 && settings.min_insync_replicas > 1 {
        // One replica: the ISR is this broker alone.
        return Err(invalid(
            ErrorCode::NotEnoughReplicas,
            format!("The size of the current ISR (1) is insufficient to satisfy the min.isr requirement of {}.", settings.min_insync_replicas),
        ));
    }
    if h.is_transactional() {
        return Err(invalid(
            ErrorCode::InvalidRecord,
            "Transactional batches are not supported by this broker yet.",
        ));
    }
    let now = broker.now_ms();
    let decompressed = validate_records(records, &h, &settings, now)?;
    let mut buf = match target_codec(&settings.compression_type) {
        Some(t) if Some(t) != h.compression() => {
            recompress(records, &h, t, decompressed.as_deref())
        }
        _ => records.to_vec(),
    };
    if buf.len() > settings.max_message_bytes {
        return Err(invalid(
            ErrorCode::MessageTooLarge,
            format!("The record batch of {} bytes after recompression is larger than max.message.bytes ({}).", buf.len(), settings.max_message_bytes),
        ));
    }
    batch::set_partition_leader_epoch(&mut buf, p.leader_epoch);
    let append_time = if settings.log_append_time {
        batch::set_log_append_time(&mut buf, now);
        now
    } else {
        -1
    };
    let info = p
        .log
        .append_unflushed(&mut buf, true, now)
        .map_err(|e| match e {
            strom_log::LogError::RecordTooLarge { .. } => {
                invalid(ErrorCode::RecordListTooLarge, e.to_string())
            }
            strom_log::LogError::OutOfOrderSequence { .. } => {
                invalid(ErrorCode::OutOfOrderSequenceNumber, e.to_string())
            }
            strom_log::LogError::InvalidProducerEpoch { .. } => {
                invalid(ErrorCode::InvalidProducerEpoch, e.to_string())
            }
            e => {
                tracing::error!(partition = ?p.tp, "append failed: {e}");
                invalid(ErrorCode::KafkaStorageError, e.to_string())
            }
        })?;
    if info.flush_to.is_none() {
        p.advance_high_watermark(info.last_offset + 1);
    }
    Ok(Appended {
        base_offset: info.first_offset,
        append_time,
        log_start_offset: p.log.log_start_offset(),
        flush_to: info.flush_to,
    })
}

/// The codec the topic's `compression.type` asks for; `None` for `producer` (keep the
/// producer's codec).
fn target_codec(compression_type: &str) -> Option<Compression> {
    match compression_type {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Rebuilds the batch with its records compressed by `codec` (as Kafka's broker does when a
/// topic's `compression.type` names a codec). `decompressed`: the records payload when the
/// batch was compressed. The header's other fields are kept; the CRC is recomputed.
fn recompress(
    batch: &[u8],
    h: &batch::BatchHeader,
    codec: Compression,
    decompressed: Option<&[u8]>,
) -> Vec<u8> {
    let payload = decompressed.unwrap_or(&batch[BATCH_HEADER_BYTES..]);
    let attributes = (h.attributes & !0x07) | codec as i16;
    batch::build_batch(
        h.base_offset,
        attributes,
        h.last_offset_delta,
        h.base_timestamp,
        h.max_timestamp,
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.records_count,
        &records::compress(codec, payload),
    )
}

/// Decodes the batch's records (decompressing within a bound) and checks them. Returns the
/// decompressed payload when the batch was compressed.
fn validate_records(
    batch: &[u8],
    h: &batch::BatchHeader,
    s: &TopicSettings,
    now: i64,
) -> Result<Option<Vec<u8>>, ProduceError> {
    let codec = h.compression().expect("validated codec");
    let payload = &batch[BATCH_HEADER_BYTES..];
    let owned: Option<Vec<u8>>;
    let data: &[u8] = if codec == Compression::None {
        owned = None;
        payload
    } else {
        let limit = DECOMPRESSED_BATCH_BYTES_MAX.max(s.max_message_bytes.saturating_mul(32));
        let decompressed = records::decompress(codec, payload, limit).map_err(|e| match e {
            records::RecordError::TooLarge(n) => invalid(
                ErrorCode::InvalidRecord,
                format!("The batch decompresses to more than {n} bytes."),
            ),
            e => invalid(
                ErrorCode::CorruptMessage,
                format!("Record batch payload is corrupt: {e}"),
            ),
        })?;
        owned = Some(decompressed);
        owned.as_deref().expect("just set")
    };
    let recs = records::decode_all(data, h.records_count).map_err(|e| match e {
        // Kafka: "Invalid null header key found in headers" is an InvalidRecordException.
        records::RecordError::NullHeaderKey => invalid(
            ErrorCode::InvalidRecord,
            "Invalid null header key found in headers",
        ),
        e => invalid(
            ErrorCode::CorruptMessage,
            format!("Records are malformed: {e}"),
        ),
    })?;
    let mut errors = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        if s.compact && r.key.is_none() {
            errors.push((
                i as i32,
                "Compacted topic cannot accept message without key in topic partition.".to_string(),
            ));
        }
    }
    if !errors.is_empty() {
        let msg = errors[0].1.clone();
        return Err(ProduceError {
            err: ApiError::new(ErrorCode::InvalidRecord, msg),
            record_errors: errors,
        });
    }
    if !h.is_log_append_time() && !s.log_append_time {
        for (i, r) in recs.iter().enumerate() {
            let ts = h.base_timestamp.saturating_add(r.timestamp_delta);
            let too_old = now.saturating_sub(ts) > s.timestamp_before_max_ms;
            let too_new = ts.saturating_sub(now) > s.timestamp_after_max_ms;
            if too_old || too_new {
                errors.push((
                    i as i32,
                    format!(
                        "Timestamp {ts} of message with offset {i} is out of range. The timestamp should be within [{}, {}]",
                        now.saturating_sub(s.timestamp_before_max_ms),
                        now.saturating_add(s.timestamp_after_max_ms)
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            let msg = errors[0].1.clone();
            return Err(ProduceError {
                err: ApiError::new(ErrorCode::InvalidTimestamp, msg),
                record_errors: errors,
            });
        }
    }
    drop(recs);
    Ok(owned)
}
