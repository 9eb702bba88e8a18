//! Fetch (key 1), v4-v18: reads whole batches below the high watermark (or the last stable
//! offset for `read_committed`), bounded by the request's `max_bytes` and each partition's
//! `partition_max_bytes`, always returning at least one batch in the first partition with
//! data so a consumer can never get stuck behind a large batch. Long poll: when fewer than
//! `min_bytes` are ready the request waits up to `max_wait_ms`, waking on every append.
//!
//! Fetch sessions (KIP-227) are declined: responses carry session id 0, so clients keep
//! sending full fetch requests; an incremental request for a session id we never issued gets
//! FETCH_SESSION_ID_NOT_FOUND.
//!
//! Zero copy: record bytes are not read into memory. [`encode`] writes the response's
//! fields itself (byte for byte what the generated codec writes, checked by the tests for
//! every version) and leaves each partition's records as a file range of its segment, which
//! the connection sends with sendfile(2) (or, for a few KiB, reads and sends in one write).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::Encodable;
use strom_log::ReadResult;
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;
use crate::response::{Response, ResponseWriter};

/// Kafka's READ_COMMITTED isolation level.
const READ_COMMITTED: i8 = 1;

/// A fetch answer before encoding: the response's fields, and the records of each partition
/// (in the order of `resp.responses[..].partitions[..]`) as file ranges. The `records`
/// fields of `resp` are ignored.
#[derive(Debug, Default)]
pub struct FetchAnswer {
    pub resp: FetchResponse,
    pub records: Vec<ReadResult>,
}

pub async fn handle(broker: &Arc<Broker>, h: &RequestHeader, req: FetchRequest) -> FetchAnswer {
    let v = h.request_api_version;
    if v >= 7 && req.session_id != 0 {
        let mut r = FetchResponse::default();
        r.error_code = ErrorCode::FetchSessionIdNotFound.code();
        return FetchAnswer {
            resp: r,
            records: vec![],
        };
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

/// One pass over the requested partitions: (answer, record bytes, any partition error).
fn read_once(broker: &Broker, v: i16, req: &FetchRequest) -> (FetchAnswer, u64, bool) {
    let img = broker.image();
    let mut resp = FetchResponse::default();
    let mut records = Vec::new();
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
                records.push(ReadResult::default());
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
                records.push(ReadResult::default());
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
            let mut read = ReadResult::default();
            match p.log.read(fp.fetch_offset, max, bound, total == 0) {
                Ok(r) => {
                    let n = r.total_bytes();
                    total += n;
                    budget = budget.saturating_sub(n);
                    read = r;
                }
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
            pd.records = None;
            tr.partitions.push(pd);
            records.push(read);
        }
        resp.responses.push(tr);
    }
    (FetchAnswer { resp, records }, total, errors)
}

/// Frames a Fetch response (v4-v18): size prefix, response header, and the body exactly as
/// Kafka's schema (FetchResponse.json) lays it out, with each partition's `records` taken from
/// `answer.records` as file ranges instead of bytes. Errors: a struct the version cannot carry
/// (a bug in the handler), as text; the caller closes the connection.
pub fn encode(
    header: &RequestHeader,
    version: i16,
    answer: FetchAnswer,
) -> Result<Response, String> {
    let FetchAnswer { resp, records } = answer;
    let partitions: usize = resp.responses.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(
        partitions,
        records.len(),
        "one ReadResult per partition of the response"
    );
    if !(4..=18).contains(&version) {
        return Err(format!("Fetch v{version} responses are not encoded here"));
    }
    let flexible = version >= 12;
    let mut w = ResponseWriter::new();
    let rh = ResponseHeader::default().with_correlation_id(header.correlation_id);
    rh.encode(w.buf(), ApiKey::Fetch.response_header_version(version))
        .map_err(|e| format!("encoding response header: {e}"))?;
    let b = w.buf();
    b.put_i32(resp.throttle_time_ms);
    if version >= 7 {
        b.put_i16(resp.error_code);
        b.put_i32(resp.session_id);
    } else if resp.session_id != 0 {
        return Err(format!("Fetch v{version} has no session id"));
    }
    put_len(b, flexible, resp.responses.len());
    let mut records = records.into_iter();
    for t in &resp.responses {
        let b = w.buf();
        if version <= 12 {
            put_string(b, flexible, t.topic.as_bytes());
        }
        if version >= 13 {
            b.put_slice(t.topic_id.as_bytes());
        }
        put_len(b, flexible, t.partitions.len());
        for p in &t.partitions {
            let b = w.buf();
            b.put_i32(p.partition_index);
            b.put_i16(p.error_code);
            b.put_i64(p.high_watermark);
            b.put_i64(p.last_stable_offset);
            if version >= 5 {
                b.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None => put_null(b, flexible),
                Some(txns) => {
                    put_len(b, flexible, txns.len());
                    for a in txns {
                        a.encode(b, version).map_err(|e| e.to_string())?;
                    }
                }
            }
            if version >= 11 {
                b.put_i32(p.preferred_read_replica.0);
            } else if p.preferred_read_replica.0 != -1 {
                return Err(format!("Fetch v{version} has no preferred read replica"));
            }
            let read = records.next().expect("counted above");
            let n = read.total_bytes();
            // Records are NULLABLE_RECORDS; Strom always sends them, empty when none.
            if flexible {
                put_uvarint(b, u32::try_from(n + 1).map_err(|e| e.to_string())?);
            } else {
                b.put_i32(i32::try_from(n).map_err(|e| e.to_string())?);
            }
            for s in read.slices {
                w.file(s);
            }
            if flexible {
                let b = w.buf();
                let mut tags: Vec<(u32, BytesMut)> = Vec::new();
                if p.diverging_epoch != Default::default() {
                    tags.push((0, encoded(&p.diverging_epoch, version)?));
                }
                if p.current_leader != Default::default() {
                    tags.push((1, encoded(&p.current_leader, version)?));
                }
                if p.snapshot_id != Default::default() {
                    tags.push((2, encoded(&p.snapshot_id, version)?));
                }
                put_tagged(b, tags, &p.unknown_tagged_fields, 3);
            }
        }
        if flexible {
            put_tagged(w.buf(), vec![], &t.unknown_tagged_fields, 0);
        }
    }
    if flexible {
        let b = w.buf();
        let mut tags = Vec::new();
        if version >= 16 && !resp.node_endpoints.is_empty() {
            let mut e = BytesMut::new();
            put_len(&mut e, true, resp.node_endpoints.len());
            for n in &resp.node_endpoints {
                n.encode(&mut e, version).map_err(|e| e.to_string())?;
            }
            tags.push((0, e));
        }
        put_tagged(b, tags, &resp.unknown_tagged_fields, 1);
    }
    Ok(w.finish())
}

fn encoded<T: Encodable>(v: &T, version: i16) -> Result<BytesMut, String> {
    let mut b = BytesMut::new();
    v.encode(&mut b, version).map_err(|e| e.to_string())?;
    Ok(b)
}

fn put_uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// An array or string length: INT32 (INT16 for strings, see `put_string`) or compact
/// (UNSIGNED_VARINT of length + 1).
fn put_len(b: &mut BytesMut, flexible: bool, n: usize) {
    if flexible {
        put_uvarint(b, n as u32 + 1);
    } else {
        b.put_i32(n as i32);
    }
}

fn put_null(b: &mut BytesMut, flexible: bool) {
    if flexible {
        put_uvarint(b, 0);
    } else {
        b.put_i32(-1);
    }
}

fn put_string(b: &mut BytesMut, flexible: bool, s: &[u8]) {
    if flexible {
        put_uvarint(b, s.len() as u32 + 1);
    } else {
        b.put_i16(s.len() as i16);
    }
    b.put_slice(s);
}

/// A tagged-field section: the count, then the known fields (tag, size, value) and the
/// unknown ones with tags from `unknown_from` on, in tag order.
fn put_tagged(
    b: &mut BytesMut,
    known: Vec<(u32, BytesMut)>,
    unknown: &std::collections::BTreeMap<i32, bytes::Bytes>,
    unknown_from: i32,
) {
    let unknown: Vec<_> = unknown.range(unknown_from..).collect();
    put_uvarint(b, (known.len() + unknown.len()) as u32);
    for (tag, v) in known {
        put_uvarint(b, tag);
        put_uvarint(b, v.len() as u32);
        b.put_slice(&v);
    }
    for (tag, v) in unknown {
        put_uvarint(b, *tag as u32);
        put_uvarint(b, v.len() as u32);
        b.put_slice(v);
    }
}

#[cfg(test)]
mod tests {
    //! The hand-written Fetch encoder against the generated one: the same response, with the
    //! records read into memory for the generated codec, must give identical bytes for every
    //! version, with and without the optional and tagged fields.
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use rand::{Rng, SeedableRng};
    use strom_log::FileSlice;

    use super::*;

    fn random_answer(
        rng: &mut rand::rngs::StdRng,
        v: i16,
        file: &Arc<std::fs::File>,
        file_len: u64,
    ) -> (FetchAnswer, FetchResponse) {
        let mut resp = FetchResponse::default();
        resp.throttle_time_ms = rng.gen_range(0..1000);
        if v >= 7 {
            resp.error_code = rng.gen_range(0..3);
            resp.session_id = rng.gen_range(0..2);
        }
        if v >= 16 && rng.gen_bool(0.3) {
            resp.node_endpoints = vec![NodeEndpoint::default()
                .with_node_id(BrokerId(rng.gen_range(0..5)))
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(9092)
                .with_rack(rng.gen_bool(0.5).then(|| StrBytes::from_static_str("r1")))];
        }
        let mut filled = resp.clone();
        let mut records = Vec::new();
        for ti in 0..rng.gen_range(0..4) {
            let mut t = FetchableTopicResponse::default();
            if v <= 12 {
                t.topic = TopicName(StrBytes::from_string(format!(
                    "topic-{ti}-{}",
                    "x".repeat(ti)
                )));
            } else {
                t.topic_id = uuid::Uuid::from_u128(rng.gen());
            }
            let mut tf = t.clone();
            for pi in 0..rng.gen_range(0..5) {
                let mut p = PartitionData::default()
                    .with_partition_index(pi)
                    .with_error_code(rng.gen_range(0..2))
                    .with_high_watermark(rng.gen_range(-1..1_000_000))
                    .with_last_stable_offset(rng.gen_range(-1..1_000_000))
                    .with_log_start_offset(if v >= 5 { rng.gen_range(-1..100) } else { -1 });
                p.aborted_transactions = match rng.gen_range(0..3) {
                    0 => None,
                    n => Some(
                        (0..n)
                            .map(|i| {
                                AbortedTransaction::default()
                                    .with_producer_id(kafka_protocol::messages::ProducerId(
                                        i as i64 * 1000,
                                    ))
                                    .with_first_offset(rng.gen_range(0..100))
                            })
                            .collect(),
                    ),
                };
                if v >= 11 {
                    p.preferred_read_replica = BrokerId(rng.gen_range(-1..3));
                }
                if v >= 12 && rng.gen_bool(0.3) {
                    p.diverging_epoch = EpochEndOffset::default()
                        .with_epoch(rng.gen_range(0..9))
                        .with_end_offset(rng.gen_range(0..999));
                }
                if v >= 12 && rng.gen_bool(0.3) {
                    p.current_leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(rng.gen_range(0..9)))
                        .with_leader_epoch(rng.gen_range(0..9));
                }
                if v >= 12 && rng.gen_bool(0.3) {
                    p.snapshot_id = SnapshotId::default()
                        .with_end_offset(rng.gen_range(0..999))
                        .with_epoch(rng.gen_range(0..9));
                }
                let mut read = ReadResult::default();
                let mut bytes = Vec::new();
                for _ in 0..rng.gen_range(0..3) {
                    let position = rng.gen_range(0..file_len);
                    let len = rng.gen_range(0..=(file_len - position).min(5000));
                    let mut chunk = vec![0u8; len as usize];
                    std::os::unix::fs::FileExt::read_exact_at(&**file, &mut chunk, position)
                        .unwrap();
                    bytes.extend_from_slice(&chunk);
                    read.slices.push(FileSlice {
                        file: file.clone(),
                        position,
                        len,
                    });
                }
                let mut pf = p.clone();
                pf.records = Some(Bytes::from(bytes));
                t.partitions.push(p);
                tf.partitions.push(pf);
                records.push(read);
            }
            resp.responses.push(t);
            filled.responses.push(tf);
        }
        (FetchAnswer { resp, records }, filled)
    }

    #[test]
    fn encoder_matches_the_generated_codec_for_every_version() {
        let mut f = tempfile::tempfile().unwrap();
        let content: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 251) as u8).collect();
        f.write_all(&content).unwrap();
        let file = Arc::new(f);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for v in 4..=18i16 {
            for case in 0..60 {
                let (answer, filled) = random_answer(&mut rng, v, &file, content.len() as u64);
                let header = RequestHeader::default()
                    .with_request_api_key(ApiKey::Fetch as i16)
                    .with_request_api_version(v)
                    .with_correlation_id(case);
                let want = crate::dispatch::encode(&header, ApiKey::Fetch, v, &filled).unwrap();
                let got = encode(&header, v, answer).unwrap().to_bytes().unwrap();
                assert_eq!(got, want, "Fetch v{v}, case {case}");
            }
        }
    }

    #[test]
    fn file_ranges_stay_out_of_memory() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        let file = Arc::new(f);
        let mut resp = FetchResponse::default();
        let mut t = FetchableTopicResponse::default();
        t.topic = TopicName(StrBytes::from_static_str("t"));
        t.partitions.push(PartitionData::default());
        resp.responses.push(t);
        let read = ReadResult {
            slices: vec![FileSlice {
                file,
                position: 90,
                len: 4000,
            }],
            first_offset: Some(0),
        };
        let header = RequestHeader::default().with_correlation_id(1);
        let r = encode(
            &header,
            16,
            FetchAnswer {
                resp,
                records: vec![read],
            },
        )
        .unwrap();
        let mem: u64 = r
            .chunks
            .iter()
            .filter_map(|c| match c {
                crate::response::Chunk::Mem(b) => Some(b.len() as u64),
                crate::response::Chunk::File(_) => None,
            })
            .sum();
        assert!(mem < 100, "{mem} bytes in memory");
        assert_eq!(r.len(), mem + 4000);
        let bytes = r.to_bytes().unwrap();
        let size = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
        assert_eq!(size as usize, bytes.len() - 4);
    }
}
