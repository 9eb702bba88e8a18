//! The group coordinator's IO edge: drives the pure `strom_coordinator` core with the clock,
//! parks JoinGroup/SyncGroup requests until the core answers them, fires its timers, and keeps
//! its state in the internal topic `__consumer_offsets`.
//!
//! `__consumer_offsets` is created on first need (`offsets.topic.num.partitions` partitions,
//! `cleanup.policy=compact`, one replica on this single node). A group lives in partition
//! `partition_for(group_id, partitions)` as Kafka computes it. Records are Kafka's
//! (`strom_coordinator::records`), appended as uncompressed v2 batches (key + value; a null
//! value deletes). At startup [`load`] replays every partition into the core, in offset order,
//! so the last record of a key wins, exactly as compaction would leave it.
//!
//! Ordering: the core's writes are appended while its lock is held, so the log order is the
//! order of the core's decisions; responses are delivered after the append.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use strom_coordinator::group::{Coordinator, GroupConfig, GroupError, Output, RequestId, Write};
use strom_coordinator::partition_for;
use strom_protocol::batch::{self, BatchFrames, BATCH_HEADER_BYTES};
use strom_protocol::error::ErrorCode;
use strom_protocol::records::{self, RecordRef};
use tokio::sync::{oneshot, watch};

use crate::broker::{ApiError, Broker};
use crate::config::BrokerConfig;

/// The internal topic holding offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// How often the core's timers are checked, in ms (session and rebalance timeouts resolve
/// to this granularity).
const TICK_MS: u64 = 100;
/// How often expired offsets are removed (Kafka's `offsets.retention.check.interval.ms`
/// default).
const RETENTION_CHECK_MS_DEFAULT: i64 = 600_000;
/// Most bytes read per call while replaying a partition.
const LOAD_READ_BYTES: u64 = 8 * 1024 * 1024;
/// Bound on a compressed batch's decompressed size while replaying.
const LOAD_DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The coordinator state shared by the group handlers.
pub struct Groups {
    core: Mutex<Coordinator>,
    parked: Mutex<HashMap<RequestId, oneshot::Sender<Output>>>,
    next_request: AtomicU64,
}

fn cfg_i64(c: &BrokerConfig, key: &str, default: i64) -> i64 {
    c.get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The coordinator's settings from the broker config.
pub fn group_config(c: &BrokerConfig) -> GroupConfig {
    GroupConfig {
        min_session_timeout_ms: cfg_i64(c, "group.min.session.timeout.ms", 6000) as i32,
        max_session_timeout_ms: cfg_i64(c, "group.max.session.timeout.ms", 1_800_000) as i32,
        initial_rebalance_delay_ms: cfg_i64(c, "group.initial.rebalance.delay.ms", 3000) as i32,
        max_size: cfg_i64(c, "group.max.size", i32::MAX as i64).max(1) as usize,
        offsets_retention_ms: cfg_i64(c, "offsets.retention.minutes", 10080).saturating_mul(60_000),
        offset_metadata_max_bytes: cfg_i64(c, "offset.metadata.max.bytes", 4096).max(0) as usize,
    }
}

impl Groups {
    pub fn new(config: GroupConfig) -> Groups {
        Groups {
            core: Mutex::new(Coordinator::new(config)),
            parked: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
        }
    }

    /// Runs `f` on the core, appends what it queued to `__consumer_offsets`, delivers
    /// outputs to parked requests. Returns `f`'s result and whether the append worked.
    pub fn with_core<T>(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut Coordinator, i64) -> (T, Vec<Output>),
    ) -> (T, Result<(), ApiError>) {
        let now = broker.now_ms();
        let (r, outputs, stored) = {
            let mut core = self.core.lock();
            let (r, outputs) = f(&mut core, now);
            let writes = core.take_writes();
            let stored = append_writes(broker, &writes, now);
            (r, outputs, stored)
        };
        self.deliver(outputs);
        (r, stored)
    }

    /// Runs a JoinGroup or SyncGroup: `f` gets the request id to park under; waits for the
    /// answer (which may come from another member's request or a timer).
    pub async fn parked(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut Coordinator, RequestId, i64) -> Vec<Output>,
    ) -> Option<Output> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.parked.lock().insert(id, tx);
        let ((), stored) = self.with_core(broker, |c, now| ((), f(c, id, now)));
        if let Err(e) = stored {
            tracing::error!("storing group metadata failed: {:?}", e.message);
        }
        rx.await.ok()
    }

    fn deliver(&self, outputs: Vec<Output>) {
        if outputs.is_empty() {
            return;
        }
        let mut parked = self.parked.lock();
        for o in outputs {
            let id = match &o {
                Output::Join(id, _) | Output::Sync(id, _) => *id,
            };
            if let Some(tx) = parked.remove(&id) {
                let _ = tx.send(o);
            }
        }
    }
}

/// The wire error of a coordinator error.
pub fn error_code(e: GroupError) -> ErrorCode {
    match e {
        GroupError::UnknownMemberId => ErrorCode::UnknownMemberId,
        GroupError::IllegalGeneration => ErrorCode::IllegalGeneration,
        GroupError::RebalanceInProgress => ErrorCode::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => ErrorCode::InconsistentGroupProtocol,
        GroupError::InvalidSessionTimeout => ErrorCode::InvalidSessionTimeout,
        GroupError::InvalidGroupId => ErrorCode::InvalidGroupId,
        GroupError::MemberIdRequired => ErrorCode::MemberIdRequired,
        GroupError::FencedInstanceId => ErrorCode::FencedInstanceId,
        GroupError::GroupMaxSizeReached => ErrorCode::GroupMaxSizeReached,
        GroupError::CoordinatorNotAvailable => ErrorCode::CoordinatorNotAvailable,
        GroupError::GroupIdNotFound => ErrorCode::GroupIdNotFound,
        GroupError::NonEmptyGroup => ErrorCode::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => ErrorCode::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge => ErrorCode::OffsetMetadataTooLarge,
    }
}

/// Wire code of a coordinator result.
pub fn code(r: Result<(), GroupError>) -> i16 {
    match r {
        Ok(()) => 0,
        Err(e) => error_code(e).code(),
    }
}

/// Number of `__consumer_offsets` partitions: the topic's, else the configured count.
pub fn offsets_partitions(broker: &Broker) -> i32 {
    broker
        .image()
        .topic(OFFSETS_TOPIC)
        .map(|t| t.partitions.len() as i32)
        .filter(|n| *n > 0)
        .unwrap_or_else(|| broker.config.offsets_topic_num_partitions().max(1))
}

/// Creates `__consumer_offsets` if it does not exist yet.
pub fn ensure_offsets_topic(broker: &Broker) -> Result<(), ApiError> {
    if broker.image().topic(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert("compression.type".to_string(), "producer".to_string());
    if let Some(s) = broker.config.get("offsets.topic.segment.bytes") {
        configs.insert("segment.bytes".to_string(), s);
    }
    let n = broker.config.offsets_topic_num_partitions().max(1);
    match broker.create_topic(OFFSETS_TOPIC, n, 1, &BTreeMap::new(), &configs, false) {
        Ok(_) => Ok(()),
        Err(e) if e.code == ErrorCode::TopicAlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Appends the core's writes, one batch per `__consumer_offsets` partition.
fn append_writes(broker: &Broker, writes: &[Write], now: i64) -> Result<(), ApiError> {
    if writes.is_empty() {
        return Ok(());
    }
    ensure_offsets_topic(broker)?;
    let n = offsets_partitions(broker);
    let mut by_partition: BTreeMap<i32, Vec<&Write>> = BTreeMap::new();
    for w in writes {
        by_partition
            .entry(partition_for(&w.group_id, n))
            .or_default()
            .push(w);
    }
    for (p, ws) in by_partition {
        let part = broker.partition(OFFSETS_TOPIC, p).ok_or_else(|| {
            ApiError::new(
                ErrorCode::CoordinatorNotAvailable,
                format!("{OFFSETS_TOPIC}-{p} is not hosted here"),
            )
        })?;
        let mut payload = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            records::encode_record(
                &mut payload,
                &RecordRef {
                    timestamp_delta: 0,
                    offset_delta: i as i32,
                    key: Some(&w.key),
                    value: w.value.as_deref(),
                    headers: &[],
                },
            );
        }
        let count = ws.len() as i32;
        let mut b = batch::build_batch(0, 0, count - 1, now, now, -1, -1, -1, count, &payload);
        batch::set_partition_leader_epoch(&mut b, part.leader_epoch);
        let info = part.log.append(&mut b, true, now).map_err(|e| {
            tracing::error!("appending to {OFFSETS_TOPIC}-{p} failed: {e}");
            ApiError::new(ErrorCode::KafkaStorageError, e.to_string())
        })?;
        part.advance_high_watermark(info.last_offset + 1);
    }
    broker.data_arrived.notify_waiters();
    Ok(())
}

/// Replays `__consumer_offsets` into the coordinator (at startup, before listeners accept).
pub fn load(broker: &Broker) {
    let started = std::time::Instant::now();
    let Some(topic) = broker.image().topic(OFFSETS_TOPIC).cloned() else {
        return;
    };
    let now = broker.now_ms();
    let mut core = broker.groups.core.lock();
    let mut loaded = 0usize;
    for p in topic.partitions.keys() {
        let Some(part) = broker.partition(OFFSETS_TOPIC, *p) else {
            continue;
        };
        let end = part.high_watermark();
        let mut offset = part.log.log_start_offset();
        while offset < end {
            let bytes = match part
                .log
                .read(offset, LOAD_READ_BYTES, end, true)
                .and_then(|r| r.to_vec().map_err(Into::into))
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("reading {OFFSETS_TOPIC}-{p} at {offset} failed: {e}");
                    break;
                }
            };
            if bytes.is_empty() {
                break;
            }
            let before = offset;
            for f in BatchFrames::new(&bytes) {
                let Ok((range, h)) = f else {
                    tracing::error!("malformed batch in {OFFSETS_TOPIC}-{p} at {offset}");
                    break;
                };
                offset = h.next_offset();
                if h.is_control() {
                    continue;
                }
                let b = &bytes[range];
                let codec = h.compression().unwrap_or(batch::Compression::None);
                let owned;
                let data: &[u8] = if codec == batch::Compression::None {
                    &b[BATCH_HEADER_BYTES..]
                } else {
                    match records::decompress(
                        codec,
                        &b[BATCH_HEADER_BYTES..],
                        LOAD_DECOMPRESSED_BYTES_MAX,
                    ) {
                        Ok(d) => {
                            owned = d;
                            &owned
                        }
                        Err(e) => {
                            tracing::error!("{OFFSETS_TOPIC}-{p}: cannot decompress batch: {e}");
                            continue;
                        }
                    }
                };
                let Ok(recs) = records::decode_all(data, h.records_count) else {
                    tracing::error!(
                        "{OFFSETS_TOPIC}-{p}: undecodable batch at {}",
                        h.base_offset
                    );
                    continue;
                };
                for r in recs {
                    let Some(k) = r.key else { continue };
                    match core.load_record(k, r.value, now) {
                        Ok(()) => loaded += 1,
                        Err(e) => tracing::warn!("{OFFSETS_TOPIC}-{p}: skipping record: {e}"),
                    }
                }
            }
            if offset <= before {
                break;
            }
        }
    }
    drop(core);
    tracing::info!(
        records = loaded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded groups and offsets from {OFFSETS_TOPIC}"
    );
}

/// Fires the coordinator's timers every TICK_MS and expires offsets, until shutdown.
pub async fn run_timers(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let retention_check_ms = cfg_i64(
        &broker.config,
        "offsets.retention.check.interval.ms",
        RETENTION_CHECK_MS_DEFAULT,
    )
    .max(1);
    let mut last_retention = broker.now_ms();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(TICK_MS)) => {}
            _ = shutdown.changed() => return,
        }
        let now = broker.now_ms();
        let expire = now - last_retention >= retention_check_ms;
        if expire {
            last_retention = now;
        }
        let (expired, stored) = broker.groups.with_core(&broker, |c, now| {
            let outs = c.tick(now);
            let n = if expire { c.expire_offsets(now) } else { 0 };
            (n, outs)
        });
        if expired > 0 {
            tracing::info!(expired, "removed expired committed offsets");
        }
        if let Err(e) = stored {
            tracing::error!("storing group state failed: {:?}", e.message);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every version of every group API through `dispatch::handle`: responses must encode
    //! (a field set that a version lacks would close the connection).

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bytes::{Buf, Bytes, BytesMut};
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

    use crate::broker::{Broker, SystemClock};
    use crate::config::BrokerConfig;
    use crate::dispatch;

    fn s(x: &str) -> StrBytes {
        StrBytes::from_string(x.to_string())
    }

    async fn call<Q: Encodable, R: Decodable>(b: &Arc<Broker>, key: ApiKey, v: i16, req: &Q) -> R {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(v)
            .with_correlation_id(7)
            .with_client_id(Some(s("test")))
            .encode(&mut buf, key.request_header_version(v))
            .unwrap();
        req.encode(&mut buf, v).unwrap();
        let ctx = dispatch::Context { peer: None };
        let mut resp: Bytes = match dispatch::handle(b, &ctx, buf.freeze())
            .await
            .unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"))
        {
            crate::response::Reply::Now(r) => r.to_bytes().unwrap(),
            other => panic!("{key:?} v{v}: {other:?}"),
        };
        resp.advance(4);
        ResponseHeader::decode(&mut resp, key.response_header_version(v)).unwrap();
        R::decode(&mut resp, v).unwrap()
    }

    #[tokio::test]
    async fn every_version_of_every_group_api() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        m.insert("log.dirs".to_string(), dir.path().display().to_string());
        m.insert("group.initial.rebalance.delay.ms".into(), "0".into());
        m.insert("offsets.topic.num.partitions".into(), "3".into());
        let (cfg, _) = BrokerConfig::from_map(m).unwrap();
        let b = Arc::new(Broker::open(cfg, Arc::new(SystemClock)).unwrap());
        b.create_topic("t", 2, 1, &BTreeMap::new(), &BTreeMap::new(), false)
            .unwrap();

        for v in 0..=6 {
            let mut r = FindCoordinatorRequest::default();
            if v >= 4 {
                r.coordinator_keys = vec![s("g")];
            } else {
                r.key = s("g");
            }
            let resp: FindCoordinatorResponse = call(&b, ApiKey::FindCoordinator, v, &r).await;
            let code = if v >= 4 {
                resp.coordinators[0].error_code
            } else {
                resp.error_code
            };
            assert_eq!(code, 0, "v{v}");
            if v >= 1 {
                r.key_type = 1;
                let resp: FindCoordinatorResponse = call(&b, ApiKey::FindCoordinator, v, &r).await;
                let code = if v >= 4 {
                    resp.coordinators[0].error_code
                } else {
                    resp.error_code
                };
                assert_eq!(code, 15, "v{v} transaction key");
            }
        }
        assert!(b.image().topic(super::OFFSETS_TOPIC).is_some());

        for v in 0..=9i16 {
            let group = format!("g{v}");
            let mut jr = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(&[0, 1]))]);
            if v >= 1 {
                jr.rebalance_timeout_ms = 10_000;
            }
            let mut resp: JoinGroupResponse = call(&b, ApiKey::JoinGroup, v, &jr).await;
            if v >= 4 {
                assert_eq!(resp.error_code, 79, "v{v} MEMBER_ID_REQUIRED");
                jr.member_id = resp.member_id.clone();
                resp = call(&b, ApiKey::JoinGroup, v, &jr).await;
            }
            assert_eq!(resp.error_code, 0, "join v{v}");
            let member = resp.member_id.clone();
            assert_eq!(resp.leader, member);
            assert_eq!(resp.members.len(), 1);
            let generation = resp.generation_id;
            let sv = v.min(5);
            let mut sr = SyncGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(generation)
                .with_member_id(member.clone())
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(member.clone())
                    .with_assignment(Bytes::from_static(&[9]))]);
            if sv >= 5 {
                sr.protocol_type = Some(s("consumer"));
                sr.protocol_name = Some(s("range"));
            }
            let resp: SyncGroupResponse = call(&b, ApiKey::SyncGroup, sv, &sr).await;
            assert_eq!(resp.error_code, 0, "sync v{sv}");
            assert_eq!(&resp.assignment[..], &[9]);
            let hv = v.min(4);
            let hr = HeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(generation)
                .with_member_id(member.clone());
            let resp: HeartbeatResponse = call(&b, ApiKey::Heartbeat, hv, &hr).await;
            assert_eq!(resp.error_code, 0);
            let resp: HeartbeatResponse = call(
                &b,
                ApiKey::Heartbeat,
                hv,
                &hr.clone().with_generation_id(99),
            )
            .await;
            assert_eq!(resp.error_code, 22, "ILLEGAL_GENERATION");
            let cv = v.clamp(2, 9);
            let mut p = OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(5)
                .with_committed_metadata(Some(s("m")));
            if cv >= 6 {
                p.committed_leader_epoch = 0;
            }
            let mut cr = OffsetCommitRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(member.clone())
                .with_topics(vec![
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![p]),
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("nope")))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()]),
                ]);
            if cv <= 4 {
                cr.retention_time_ms = -1;
            }
            let resp: OffsetCommitResponse = call(&b, ApiKey::OffsetCommit, cv, &cr).await;
            assert_eq!(resp.topics[0].partitions[0].error_code, 0, "commit v{cv}");
            assert_eq!(resp.topics[1].partitions[0].error_code, 3);
            let fv = v.clamp(1, 9);
            if fv >= 8 {
                let mut g = OffsetFetchRequestGroup::default().with_group_id(GroupId(s(&group)));
                g.topics = Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1])]);
                let fr = OffsetFetchRequest::default().with_groups(vec![
                    g,
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(&group)))
                        .with_topics(None),
                ]);
                let resp: OffsetFetchResponse = call(&b, ApiKey::OffsetFetch, fv, &fr).await;
                let ps = &resp.groups[0].topics[0].partitions;
                assert_eq!((ps[0].committed_offset, ps[1].committed_offset), (-1, 5));
                assert_eq!(resp.groups[1].topics[0].partitions.len(), 1);
            } else {
                let mut fr = OffsetFetchRequest::default().with_group_id(GroupId(s(&group)));
                fr.topics = Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1])]);
                if fv >= 7 {
                    fr.require_stable = true;
                }
                let resp: OffsetFetchResponse = call(&b, ApiKey::OffsetFetch, fv, &fr).await;
                let ps = &resp.topics[0].partitions;
                assert_eq!(
                    (ps[0].committed_offset, ps[1].committed_offset),
                    (-1, 5),
                    "v{fv}"
                );
                assert_eq!(ps[1].metadata.as_deref(), Some("m"));
                if fv >= 2 {
                    let all: OffsetFetchResponse =
                        call(&b, ApiKey::OffsetFetch, fv, &fr.clone().with_topics(None)).await;
                    assert_eq!(all.topics[0].partitions.len(), 1);
                }
            }
            let dv = v.min(6);
            let dr = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s(&group)), GroupId(s("unknown"))]);
            let resp: DescribeGroupsResponse = call(&b, ApiKey::DescribeGroups, dv, &dr).await;
            assert_eq!(resp.groups[0].group_state.as_str(), "Stable");
            assert_eq!(resp.groups[0].members.len(), 1);
            assert_eq!(resp.groups[1].group_state.as_str(), "Dead");
            assert_eq!(resp.groups[1].error_code, if dv >= 6 { 69 } else { 0 });
            if dv >= 3 {
                let resp: DescribeGroupsResponse = call(
                    &b,
                    ApiKey::DescribeGroups,
                    dv,
                    &dr.clone().with_include_authorized_operations(true),
                )
                .await;
                assert!(resp.groups[0].authorized_operations > 0);
            }
            let lv = v.min(5);
            let mut lr = ListGroupsRequest::default();
            if lv >= 4 {
                lr.states_filter = vec![s("stable")];
            }
            if lv >= 5 {
                lr.types_filter = vec![s("classic")];
            }
            let resp: ListGroupsResponse = call(&b, ApiKey::ListGroups, lv, &lr).await;
            assert!(resp.groups.iter().any(|g| g.group_id.0.as_str() == group));
            let xv = v.min(2);
            let resp: DeleteGroupsResponse = call(
                &b,
                ApiKey::DeleteGroups,
                xv,
                &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&group))]),
            )
            .await;
            assert_eq!(resp.results[0].error_code, 68, "NON_EMPTY_GROUP");
            let lgv = v.min(5);
            let mut leave = LeaveGroupRequest::default().with_group_id(GroupId(s(&group)));
            if lgv >= 3 {
                leave.members = vec![
                    MemberIdentity::default().with_member_id(member.clone()),
                    MemberIdentity::default().with_member_id(s("ghost")),
                ];
            } else {
                leave.member_id = member.clone();
            }
            let resp: LeaveGroupResponse = call(&b, ApiKey::LeaveGroup, lgv, &leave).await;
            assert_eq!(resp.error_code, 0);
            if lgv >= 3 {
                assert_eq!(resp.members[1].error_code, 25);
            }
            let od = OffsetDeleteRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(1),
                        ]),
                ]);
            let resp: OffsetDeleteResponse = call(&b, ApiKey::OffsetDelete, 0, &od).await;
            assert_eq!(resp.error_code, 0);
            let resp: DeleteGroupsResponse = call(
                &b,
                ApiKey::DeleteGroups,
                xv,
                &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&group))]),
            )
            .await;
            assert_eq!(resp.results[0].error_code, 0);
        }
    }
}
