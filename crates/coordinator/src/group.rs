//! Kafka's classic group state machine (Kafka 3.x `GroupCoordinator`/`GroupMetadata`, KIP-394
//! member-id-required joins, KIP-345 static membership, KIP-814 skip-assignment), pure: every
//! operation takes the current time in ms and returns [`Output`]s; timers fire in
//! [`Coordinator::tick`].
//!
//! States: `Empty` (no members; offsets may exist), `PreparingRebalance` (collecting
//! JoinGroups), `CompletingRebalance` (join done, waiting for the leader's SyncGroup),
//! `Stable` (assignment delivered), `Dead` (removed; a group in the map is never Dead).
//!
//! JoinGroup and SyncGroup may not be answered at once: the request is parked under the
//! caller's [`RequestId`] and its answer comes out as an [`Output`] of a later call (another
//! member's request, a leave, or `tick`). Everything that changes what `__consumer_offsets`
//! must hold is queued as a [`Write`] ([`Coordinator::take_writes`]); the caller appends those
//! before delivering responses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use crate::records::{self, GroupValue, MemberValue, OffsetValue, RecordKey};

/// Identifies a parked JoinGroup or SyncGroup request; chosen by the caller, unique.
pub type RequestId = u64;

/// How long a new member awaiting its first join is kept without heartbeats (Kafka's
/// `NewMemberJoinTimeoutMs`).
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// Broker settings of the coordinator.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
    pub max_size: usize,
    /// `offsets.retention.minutes` in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// Errors the coordinator answers with; each is the Kafka error of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("UNKNOWN_MEMBER_ID")]
    UnknownMemberId,
    #[error("ILLEGAL_GENERATION")]
    IllegalGeneration,
    #[error("REBALANCE_IN_PROGRESS")]
    RebalanceInProgress,
    #[error("INCONSISTENT_GROUP_PROTOCOL")]
    InconsistentGroupProtocol,
    #[error("INVALID_SESSION_TIMEOUT")]
    InvalidSessionTimeout,
    #[error("INVALID_GROUP_ID")]
    InvalidGroupId,
    #[error("MEMBER_ID_REQUIRED")]
    MemberIdRequired,
    #[error("FENCED_INSTANCE_ID")]
    FencedInstanceId,
    #[error("GROUP_MAX_SIZE_REACHED")]
    GroupMaxSizeReached,
    #[error("COORDINATOR_NOT_AVAILABLE")]
    CoordinatorNotAvailable,
    #[error("GROUP_ID_NOT_FOUND")]
    GroupIdNotFound,
    #[error("NON_EMPTY_GROUP")]
    NonEmptyGroup,
    #[error("GROUP_SUBSCRIBED_TO_TOPIC")]
    GroupSubscribedToTopic,
    #[error("OFFSET_METADATA_TOO_LARGE")]
    OffsetMetadataTooLarge,
}

/// A group's state, named as Kafka names it in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// "" for a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814).
    pub supports_skip_assignment: bool,
    /// Random suffix for a new member id (`<client_id>-<suffix>`), supplied by the caller.
    pub new_member_suffix: String,
}

/// One member as the leader sees it in a JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    fn error(member_id: &str, e: GroupError) -> JoinResponse {
        JoinResponse {
            error: Some(e),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: vec![],
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+; None when absent.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

impl SyncResponse {
    fn error(e: GroupError) -> SyncResponse {
        SyncResponse {
            error: Some(e),
            protocol_type: None,
            protocol_name: None,
            assignment: vec![],
        }
    }
}

/// A response to deliver to a parked (or just-made) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Join(RequestId, JoinResponse),
    Sync(RequestId, SyncResponse),
}

/// A record to append to `__consumer_offsets` (value None: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub group_id: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// LeaveGroup's answer: the group-level error, or one result per member in order.
pub type LeaveResult = Result<Vec<Result<(), GroupError>>, GroupError>;

/// A LeaveGroup member identity.
#[derive(Debug, Clone)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    pub expire_timestamp_ms: Option<i64>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

#[derive(Debug, Clone)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Vec<u8>)>,
    assignment: Vec<u8>,
    awaiting_join: Option<RequestId>,
    awaiting_sync: Option<RequestId>,
    supports_skip_assignment: bool,
    /// A member that has not completed a join yet (kept alive while awaiting its first join
    /// for at most NEW_MEMBER_JOIN_TIMEOUT_MS).
    is_new: bool,
    joined_at_ms: i64,
    heartbeat_deadline_ms: i64,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
    fn matches(&self, protocols: &[(String, Vec<u8>)]) -> bool {
        self.protocols == protocols
    }
    fn alive_at(&self, now: i64) -> bool {
        if self.awaiting_join.is_some() {
            !self.is_new || now < self.joined_at_ms + NEW_MEMBER_JOIN_TIMEOUT_MS
        } else if self.awaiting_sync.is_some() {
            true
        } else {
            now < self.heartbeat_deadline_ms
        }
    }
}

/// The rebalance timer of a group in PreparingRebalance.
#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    /// Kafka's `InitialDelayedJoin`: the first rebalance of an empty group waits
    /// `group.initial.rebalance.delay.ms`, extended while new members keep arriving, up to the
    /// rebalance timeout.
    Initial { deadline_ms: i64, remaining_ms: i64 },
    /// Kafka's `DelayedJoin`: completes when every member rejoined, or at the deadline.
    Normal { deadline_ms: i64 },
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    state: GroupState,
    state_timestamp_ms: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: IndexMap<String, Member>,
    /// group.instance.id -> member id.
    static_members: HashMap<String, String>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: HashMap<String, i64>,
    join_timer: Option<JoinTimer>,
    new_member_added: bool,
    /// Members that must send SyncGroup before `sync_deadline_ms`.
    pending_sync: BTreeSet<String>,
    sync_deadline_ms: Option<i64>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_timer: None,
            new_member_added: false,
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            offsets: BTreeMap::new(),
        }
    }

    fn transition(&mut self, to: GroupState, now: i64) {
        use GroupState::*;
        let ok = matches!(
            (self.state, to),
            (Empty | Stable | CompletingRebalance, PreparingRebalance)
                | (PreparingRebalance, CompletingRebalance | Empty)
                | (CompletingRebalance, Stable)
                | (_, Dead)
        );
        assert!(
            ok,
            "group {}: illegal transition {:?} -> {:?}",
            self.id, self.state, to
        );
        self.state = to;
        self.state_timestamp_ms = now;
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0)
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The protocol every member supports that most members prefer (Kafka's `selectProtocol`).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((pref, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == pref) {
                    v.0 += 1;
                }
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .into_iter()
            .find(|(n, _)| *n == best)
            .map(|(_, c)| c.clone())
    }

    /// Kafka's `supportsProtocols`.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Vec<u8>)]) -> bool {
        if self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(p, _)| {
                    self.members
                        .values()
                        .all(|m| m.protocols.iter().any(|(q, _)| q == p))
                })
        }
    }

    /// FENCED_INSTANCE_ID if `instance` is mapped to another member id.
    fn check_static(&self, member_id: &str, instance: Option<&str>) -> Result<(), GroupError> {
        if let Some(i) = instance {
            if let Some(m) = self.static_members.get(i) {
                if m != member_id {
                    return Err(GroupError::FencedInstanceId);
                }
            }
        }
        Ok(())
    }

    /// Kafka's `validateCurrentMember`.
    fn check_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), GroupError> {
        self.check_static(member_id, instance)?;
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let mut out = BTreeSet::new();
        for m in self.members.values() {
            let p = self.protocol.as_deref()?;
            out.extend(records::subscription_topics(&m.metadata(p))?);
        }
        Some(out)
    }

    fn value(&self) -> GroupValue {
        let proto = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&proto),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Every group this node coordinates.
#[derive(Debug, Default)]
pub struct Coordinator {
    pub config: GroupConfig,
    groups: BTreeMap<String, Group>,
    writes: Vec<Write>,
}

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        Coordinator {
            config,
            groups: BTreeMap::new(),
            writes: Vec::new(),
        }
    }

    /// Records to append to `__consumer_offsets`, in order, since the last call.
    pub fn take_writes(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.writes)
    }

    fn store_group(&mut self, group_id: &str) {
        let value = self.groups.get(group_id).map(|g| g.value().encode());
        self.writes.push(Write {
            group_id: group_id.to_string(),
            key: RecordKey::Group {
                group: group_id.to_string(),
            }
            .encode(),
            value,
        });
    }

    /// State of a group (Dead when unknown).
    pub fn state(&self, group_id: &str) -> GroupState {
        self.groups
            .get(group_id)
            .map_or(GroupState::Dead, |g| g.state)
    }

    /// Generation of a group (None when unknown).
    pub fn generation(&self, group_id: &str) -> Option<i32> {
        self.groups.get(group_id).map(|g| g.generation)
    }

    // ---------------------------------------------------------------------------------------
    // JoinGroup
    // ---------------------------------------------------------------------------------------

    /// Handles a JoinGroup. The answer to `req_id` is among the outputs, now or later.
    pub fn join(&mut self, req_id: RequestId, req: JoinRequest, now: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let reply_err = |e| vec![Output::Join(req_id, JoinResponse::error(&req.member_id, e))];
        if req.group_id.is_empty() {
            return reply_err(GroupError::InvalidGroupId);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return reply_err(GroupError::InvalidSessionTimeout);
        }
        let is_new = req.member_id.is_empty();
        let exists = self.groups.contains_key(&req.group_id);
        if !exists && !is_new {
            // A known member id for a group that no longer exists.
            return reply_err(GroupError::UnknownMemberId);
        }
        let max_size = self.config.max_size;
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id, now));
        if !group.supports(&req.protocol_type, &req.protocols) {
            let gid = req.group_id.clone();
            self.drop_if_unused(&gid);
            return reply_err(GroupError::InconsistentGroupProtocol);
        }
        if is_new {
            let known_static = req
                .group_instance_id
                .as_ref()
                .and_then(|i| group.static_members.get(i))
                .cloned();
            if known_static.is_none()
                && group.members.len() + group.pending_members.len() >= max_size
            {
                return reply_err(GroupError::GroupMaxSizeReached);
            }
            let new_id = format!("{}-{}", req.client_id, req.new_member_suffix);
            match (&req.group_instance_id, known_static) {
                (Some(_), Some(old)) => {
                    self.replace_static_member(req_id, req, old, new_id, now, &mut out)
                }
                (Some(_), None) => {
                    self.add_member_and_rebalance(req_id, req, new_id, now, &mut out)
                }
                (None, _) if req.require_known_member_id => {
                    let deadline = now + req.session_timeout_ms as i64;
                    group.pending_members.insert(new_id.clone(), deadline);
                    out.push(Output::Join(
                        req_id,
                        JoinResponse::error(&new_id, GroupError::MemberIdRequired),
                    ));
                }
                (None, _) => self.add_member_and_rebalance(req_id, req, new_id, now, &mut out),
            }
        } else {
            if group.pending_members.contains_key(&req.member_id) {
                if group.members.len() >= max_size {
                    group.pending_members.remove(&req.member_id);
                    return reply_err(GroupError::GroupMaxSizeReached);
                }
                group.pending_members.remove(&req.member_id);
                let id = req.member_id.clone();
                self.add_member_and_rebalance(req_id, req, id, now, &mut out);
            } else {
                self.current_member_join(req_id, req, now, &mut out);
            }
        }
        self.check_timers(now, &mut out);
        out
    }

    fn add_member_and_rebalance(
        &mut self,
        req_id: RequestId,
        req: JoinRequest,
        member_id: String,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let g = self.groups.get_mut(&req.group_id).expect("group exists");
        if g.members.is_empty() {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(i) = &req.group_instance_id {
            g.static_members.insert(i.clone(), member_id.clone());
        }
        g.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
                assignment: vec![],
                awaiting_join: Some(req_id),
                awaiting_sync: None,
                supports_skip_assignment: req.supports_skip_assignment,
                is_new: true,
                joined_at_ms: now,
                heartbeat_deadline_ms: now + req.session_timeout_ms as i64,
            },
        );
        if g.leader.is_none() {
            g.leader = Some(member_id);
        }
        if g.state == GroupState::PreparingRebalance && g.generation == 0 {
            g.new_member_added = true;
        }
        let gid = req.group_id.clone();
        self.maybe_prepare_rebalance(&gid, now, out);
    }

    /// KIP-345: a static member rejoining with an unknown member id takes over its old
    /// identity under a new member id; the old one is fenced.
    fn replace_static_member(
        &mut self,
        req_id: RequestId,
        req: JoinRequest,
        old_id: String,
        new_id: String,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let gid = req.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("group exists");
        let old_leader = g.leader.clone().unwrap_or_default();
        let Some(mut m) = g.members.shift_remove(&old_id) else {
            panic!("static member {old_id} of {gid} mapped but absent");
        };
        if let Some(r) = m.awaiting_join.take() {
            out.push(Output::Join(
                r,
                JoinResponse::error(&old_id, GroupError::FencedInstanceId),
            ));
        }
        if let Some(r) = m.awaiting_sync.take() {
            out.push(Output::Sync(
                r,
                SyncResponse::error(GroupError::FencedInstanceId),
            ));
        }
        let was_pending_sync = g.pending_sync.remove(&old_id);
        if was_pending_sync {
            g.pending_sync.insert(new_id.clone());
        }
        m.member_id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.protocols = req.protocols.clone();
        m.supports_skip_assignment = req.supports_skip_assignment;
        m.awaiting_join = Some(req_id);
        m.heartbeat_deadline_ms = now + req.session_timeout_ms as i64;
        g.members.insert(new_id.clone(), m);
        g.static_members.insert(
            req.group_instance_id.clone().expect("static"),
            new_id.clone(),
        );
        if g.leader.as_deref() == Some(old_id.as_str()) {
            g.leader = Some(new_id.clone());
        }
        match g.state {
            GroupState::Stable => {
                let next = g.select_protocol();
                if next.is_some() && next == g.protocol {
                    // No rebalance: persist the new member id and answer with the current
                    // generation. A leader that cannot skip assignment is told the old leader
                    // id, so it does not compute (and fail to deliver) a new assignment.
                    let is_leader = g.leader.as_deref() == Some(new_id.as_str());
                    let skip = req.supports_skip_assignment && is_leader;
                    let m = g.members.get_mut(&new_id).expect("just inserted");
                    m.awaiting_join = None;
                    let resp = JoinResponse {
                        error: None,
                        generation_id: g.generation,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        leader: if skip { new_id.clone() } else { old_leader },
                        skip_assignment: skip,
                        member_id: new_id.clone(),
                        members: if skip { joined_members(g) } else { vec![] },
                    };
                    out.push(Output::Join(req_id, resp));
                    self.store_group(&gid);
                } else {
                    self.prepare_rebalance(&gid, now, out);
                }
            }
            GroupState::CompletingRebalance => self.prepare_rebalance(&gid, now, out),
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                panic!("group {gid} in {:?} has a static member", g.state)
            }
        }
    }

    fn current_member_join(
        &mut self,
        req_id: RequestId,
        req: JoinRequest,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let gid = req.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("group exists");
        if let Err(e) = g.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            out.push(Output::Join(req_id, JoinResponse::error(&req.member_id, e)));
            return;
        }
        let is_leader = g.leader.as_deref() == Some(req.member_id.as_str());
        let matches = g.members[&req.member_id].matches(&req.protocols);
        match g.state {
            GroupState::Empty | GroupState::Dead => {
                out.push(Output::Join(
                    req_id,
                    JoinResponse::error(&req.member_id, GroupError::UnknownMemberId),
                ));
            }
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(req_id, &req, now, out)
            }
            GroupState::CompletingRebalance if matches => {
                // A member that lost the JoinGroup response: answer it again.
                let resp = JoinResponse {
                    error: None,
                    generation_id: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: g.leader.clone().unwrap_or_default(),
                    skip_assignment: false,
                    member_id: req.member_id.clone(),
                    members: if is_leader { joined_members(g) } else { vec![] },
                };
                out.push(Output::Join(req_id, resp));
            }
            GroupState::Stable if !is_leader && matches => {
                let resp = JoinResponse {
                    error: None,
                    generation_id: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: g.leader.clone().unwrap_or_default(),
                    skip_assignment: false,
                    member_id: req.member_id.clone(),
                    members: vec![],
                };
                let m = g.members.get_mut(&req.member_id).expect("checked");
                m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
                out.push(Output::Join(req_id, resp));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(req_id, &req, now, out)
            }
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        req_id: RequestId,
        req: &JoinRequest,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let g = self.groups.get_mut(&req.group_id).expect("group exists");
        let m = g.members.get_mut(&req.member_id).expect("member checked");
        if let Some(old) = m.awaiting_join.replace(req_id) {
            out.push(Output::Join(
                old,
                JoinResponse::error(&req.member_id, GroupError::RebalanceInProgress),
            ));
        }
        m.protocols = req.protocols.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.supports_skip_assignment = req.supports_skip_assignment;
        self.maybe_prepare_rebalance(&req.group_id, now, out);
    }

    fn maybe_prepare_rebalance(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        let state = self.groups[gid].state;
        if matches!(
            state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(gid, now, out);
        } else {
            self.try_complete_join(gid, now, out);
        }
    }

    fn prepare_rebalance(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        let initial_delay = self.config.initial_rebalance_delay_ms as i64;
        let g = self.groups.get_mut(gid).expect("group exists");
        if g.state == GroupState::CompletingRebalance {
            // Kafka's resetAndPropagateAssignmentError(REBALANCE_IN_PROGRESS).
            for m in g.members.values_mut() {
                m.assignment.clear();
                if let Some(r) = m.awaiting_sync.take() {
                    out.push(Output::Sync(
                        r,
                        SyncResponse::error(GroupError::RebalanceInProgress),
                    ));
                }
            }
        }
        g.pending_sync.clear();
        g.sync_deadline_ms = None;
        let rebalance_ms = g.rebalance_timeout_ms();
        g.join_timer = Some(if g.state == GroupState::Empty {
            JoinTimer::Initial {
                deadline_ms: now + initial_delay,
                remaining_ms: (rebalance_ms - initial_delay).max(0),
            }
        } else {
            JoinTimer::Normal {
                deadline_ms: now + rebalance_ms,
            }
        });
        g.transition(GroupState::PreparingRebalance, now);
        self.try_complete_join(gid, now, out);
    }

    /// Completes the join phase early when every member has rejoined (not during the initial
    /// delay).
    fn try_complete_join(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        let g = &self.groups[gid];
        if g.state == GroupState::PreparingRebalance
            && matches!(g.join_timer, Some(JoinTimer::Normal { .. }))
            && g.all_joined()
        {
            self.complete_join(gid, now, out);
        }
    }

    /// Kafka's `onCompleteJoin`: drops members that did not rejoin, starts the next generation
    /// and answers every parked JoinGroup.
    fn complete_join(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        let g = self.groups.get_mut(gid).expect("group exists");
        g.join_timer = None;
        g.new_member_added = false;
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            remove_member(g, &id);
        }
        if g.members.is_empty() {
            g.generation += 1;
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            self.store_group(gid);
            return;
        }
        g.generation += 1;
        g.protocol = g.select_protocol();
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.transition(GroupState::CompletingRebalance, now);
        let leader = g.leader.clone().unwrap_or_default();
        let all = joined_members(g);
        let mut max_rebalance = 0i64;
        for m in g.members.values_mut() {
            let r = m.awaiting_join.take().expect("all members awaiting join");
            m.is_new = false;
            m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
            max_rebalance = max_rebalance.max(m.rebalance_timeout_ms as i64);
            let is_leader = m.member_id == leader;
            out.push(Output::Join(
                r,
                JoinResponse {
                    error: None,
                    generation_id: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: m.member_id.clone(),
                    members: if is_leader { all.clone() } else { vec![] },
                },
            ));
        }
        g.pending_sync = g.members.keys().cloned().collect();
        g.sync_deadline_ms = Some(now + max_rebalance);
    }

    // ---------------------------------------------------------------------------------------
    // SyncGroup, Heartbeat, LeaveGroup
    // ---------------------------------------------------------------------------------------

    /// Handles a SyncGroup. The answer to `req_id` is among the outputs, now or later.
    pub fn sync(&mut self, req_id: RequestId, req: SyncRequest, now: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let reply = |e| vec![Output::Sync(req_id, SyncResponse::error(e))];
        if req.group_id.is_empty() {
            return reply(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return reply(GroupError::UnknownMemberId);
        };
        if let Err(e) = g.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            return reply(e);
        }
        if req.generation_id != g.generation {
            return reply(GroupError::IllegalGeneration);
        }
        if req.protocol_type.is_some() && req.protocol_type != g.protocol_type
            || req.protocol_name.is_some() && req.protocol_name != g.protocol
        {
            return reply(GroupError::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => return reply(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => return reply(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                g.pending_sync.remove(&req.member_id);
                let m = g.members.get_mut(&req.member_id).expect("checked");
                m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
                if let Some(old) = m.awaiting_sync.replace(req_id) {
                    out.push(Output::Sync(
                        old,
                        SyncResponse::error(GroupError::RebalanceInProgress),
                    ));
                }
                if g.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut given: HashMap<String, Vec<u8>> = req.assignments.into_iter().collect();
                    for m in g.members.values_mut() {
                        m.assignment = given.remove(&m.member_id).unwrap_or_default();
                    }
                    g.transition(GroupState::Stable, now);
                    for m in g.members.values_mut() {
                        if let Some(r) = m.awaiting_sync.take() {
                            out.push(Output::Sync(
                                r,
                                SyncResponse {
                                    error: None,
                                    protocol_type: g.protocol_type.clone(),
                                    protocol_name: g.protocol.clone(),
                                    assignment: m.assignment.clone(),
                                },
                            ));
                        }
                    }
                    let gid = req.group_id.clone();
                    self.store_group(&gid);
                }
            }
            GroupState::Stable => {
                g.pending_sync.remove(&req.member_id);
                let m = g.members.get_mut(&req.member_id).expect("checked");
                m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
                out.push(Output::Sync(
                    req_id,
                    SyncResponse {
                        error: None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        assignment: m.assignment.clone(),
                    },
                ));
            }
        }
        self.check_timers(now, &mut out);
        out
    }

    /// Handles a Heartbeat: None (NONE) or the error.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let g = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        g.check_member(member_id, group_instance_id)?;
        let state = g.state;
        let m = g.members.get_mut(member_id).expect("checked");
        match state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if generation_id != g.generation {
                    return Err(GroupError::IllegalGeneration);
                }
                m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
                Ok(())
            }
        }
    }

    /// Handles a LeaveGroup: the group-level error, or one result per member in order.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[LeavingMember],
        now: i64,
    ) -> (LeaveResult, Vec<Output>) {
        let mut out = Vec::new();
        if group_id.is_empty() {
            return (Err(GroupError::InvalidGroupId), out);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return (
                Ok(members
                    .iter()
                    .map(|_| Err(GroupError::UnknownMemberId))
                    .collect()),
                out,
            );
        };
        let mut results = Vec::new();
        let mut changed = false;
        for lm in members {
            let r = match &lm.group_instance_id {
                Some(i) => match g.static_members.get(i).cloned() {
                    None => Err(GroupError::UnknownMemberId),
                    Some(id) if !lm.member_id.is_empty() && id != lm.member_id => {
                        Err(GroupError::FencedInstanceId)
                    }
                    Some(id) => {
                        remove_member(g, &id);
                        changed = true;
                        Ok(())
                    }
                },
                None => {
                    if g.pending_members.remove(&lm.member_id).is_some() {
                        changed = true;
                        Ok(())
                    } else if g.members.contains_key(&lm.member_id) {
                        remove_member(g, &lm.member_id);
                        changed = true;
                        Ok(())
                    } else {
                        Err(GroupError::UnknownMemberId)
                    }
                }
            };
            results.push(r);
        }
        if changed {
            self.after_member_removed(group_id, now, &mut out);
            self.check_timers(now, &mut out);
        }
        (Ok(results), out)
    }

    /// Kafka's `removeMemberAndUpdateGroup` after the member is gone.
    fn after_member_removed(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        match self.groups[gid].state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(gid, now, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(gid, now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---------------------------------------------------------------------------------------
    // Timers
    // ---------------------------------------------------------------------------------------

    /// Fires every timer due at `now`: pending (KIP-394) member expiry, member session
    /// expiry, join-phase deadlines (initial delay and rebalance timeout), and the pending-sync
    /// deadline. Call it often (every ~100 ms); outputs answer parked requests.
    pub fn tick(&mut self, now: i64) -> Vec<Output> {
        let mut out = Vec::new();
        self.check_timers(now, &mut out);
        out
    }

    /// The earliest deadline of any timer, if any (for a caller that sleeps until then).
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let mut best: Option<i64> = None;
        let mut at = |t: i64| best = Some(best.map_or(t, |b| b.min(t)));
        for g in self.groups.values() {
            for d in g.pending_members.values() {
                at(*d);
            }
            for m in g.members.values() {
                if m.awaiting_join.is_none() && m.awaiting_sync.is_none() {
                    at(m.heartbeat_deadline_ms);
                }
            }
            match g.join_timer {
                Some(JoinTimer::Initial { deadline_ms, .. })
                | Some(JoinTimer::Normal { deadline_ms }) => at(deadline_ms),
                None => {}
            }
            if let Some(d) = g.sync_deadline_ms {
                at(d);
            }
        }
        best
    }

    fn check_timers(&mut self, now: i64, out: &mut Vec<Output>) {
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for gid in ids {
            self.check_group_timers(&gid, now, out);
        }
    }

    fn check_group_timers(&mut self, gid: &str, now: i64, out: &mut Vec<Output>) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        let before = g.pending_members.len();
        g.pending_members.retain(|_, d| *d > now);
        let mut removed = g.pending_members.len() != before;
        let expired: Vec<String> = g
            .members
            .values()
            .filter(|m| !m.alive_at(now))
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            let m = remove_member(g, id);
            if let Some(r) = m.awaiting_join {
                out.push(Output::Join(
                    r,
                    JoinResponse::error(id, GroupError::UnknownMemberId),
                ));
            }
            removed = true;
        }
        if !expired.is_empty() {
            self.after_member_removed(gid, now, out);
        } else if removed {
            self.try_complete_join(gid, now, out);
        }
        // Join-phase deadline.
        let g = self.groups.get_mut(gid).expect("group exists");
        match g.join_timer {
            Some(JoinTimer::Initial {
                deadline_ms,
                remaining_ms,
            }) if now >= deadline_ms => {
                if g.new_member_added && remaining_ms > 0 {
                    g.new_member_added = false;
                    let delay = (self.config.initial_rebalance_delay_ms as i64).min(remaining_ms);
                    g.join_timer = Some(JoinTimer::Initial {
                        deadline_ms: now + delay,
                        remaining_ms: remaining_ms - delay,
                    });
                } else {
                    self.complete_join(gid, now, out);
                }
            }
            Some(JoinTimer::Normal { deadline_ms }) if now >= deadline_ms => {
                self.complete_join(gid, now, out);
            }
            _ => {}
        }
        // Pending-sync deadline: members that never sent SyncGroup are removed.
        let g = self.groups.get_mut(gid).expect("group exists");
        if let Some(d) = g.sync_deadline_ms {
            if now >= d {
                g.sync_deadline_ms = None;
                let late: Vec<String> = std::mem::take(&mut g.pending_sync).into_iter().collect();
                if matches!(
                    g.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) && !late.is_empty()
                {
                    for id in &late {
                        if g.members.contains_key(id) {
                            let m = remove_member(g, id);
                            if let Some(r) = m.awaiting_sync {
                                out.push(Output::Sync(
                                    r,
                                    SyncResponse::error(GroupError::UnknownMemberId),
                                ));
                            }
                        }
                    }
                    self.prepare_rebalance(gid, now, out);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Offsets
    // ---------------------------------------------------------------------------------------

    /// Checks whether an OffsetCommit may proceed (Kafka's `validateOffsetCommit` plus the
    /// CompletingRebalance check). Ok(()) also for a commit from outside group management
    /// (generation -1, no member id) to an empty or unknown group.
    pub fn validate_commit(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get(group_id) else {
            return if generation_id < 0 {
                Ok(())
            } else {
                Err(GroupError::IllegalGeneration)
            };
        };
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            g.check_member(member_id, group_instance_id)?;
            if generation_id != g.generation {
                return Err(GroupError::IllegalGeneration);
            }
        } else if g.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if g.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Commits offsets after [`Self::validate_commit`] passed: one result per partition
    /// (OFFSET_METADATA_TOO_LARGE for long metadata); queues the records to write.
    /// `retention_ms` is the request's `retention_time_ms` (-1: broker default).
    pub fn commit_offsets(
        &mut self,
        group_id: &str,
        member_id: &str,
        commits: &[OffsetCommit],
        retention_ms: i64,
        now: i64,
    ) -> Vec<Result<(), GroupError>> {
        let max_meta = self.config.offset_metadata_max_bytes;
        let g = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now));
        if let Some(m) = g.members.get_mut(member_id) {
            m.heartbeat_deadline_ms = now + m.session_timeout_ms as i64;
        }
        let mut results = Vec::new();
        for c in commits {
            let meta = c.metadata.clone().unwrap_or_default();
            if meta.len() > max_meta {
                results.push(Err(GroupError::OffsetMetadataTooLarge));
                continue;
            }
            let v = CommittedOffset {
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: meta,
                commit_timestamp_ms: now,
                expire_timestamp_ms: (retention_ms >= 0).then(|| now.saturating_add(retention_ms)),
            };
            self.writes.push(Write {
                group_id: group_id.to_string(),
                key: RecordKey::Offset {
                    group: group_id.to_string(),
                    topic: c.topic.clone(),
                    partition: c.partition,
                }
                .encode(),
                value: Some(offset_value(&v).encode()),
            });
            g.offsets.insert((c.topic.clone(), c.partition), v);
            results.push(Ok(()));
        }
        results
    }

    /// Committed offsets of a group: of the given partitions (None: all).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<((String, i32), Option<CommittedOffset>)> {
        let g = self.groups.get(group_id);
        match partitions {
            Some(ps) => ps
                .iter()
                .map(|tp| (tp.clone(), g.and_then(|g| g.offsets.get(tp).cloned())))
                .collect(),
            None => g
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// OffsetDelete: the group-level error, or one result per partition.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let g = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if g.state != GroupState::Empty && g.protocol_type.as_deref() != Some("consumer") {
            return Err(GroupError::NonEmptyGroup);
        }
        let subscribed = if g.state == GroupState::Empty {
            BTreeSet::new()
        } else {
            g.subscribed_topics().unwrap_or_default()
        };
        let mut results = Vec::new();
        let mut writes = Vec::new();
        for (t, p) in partitions {
            if subscribed.contains(t) {
                results.push(Err(GroupError::GroupSubscribedToTopic));
                continue;
            }
            if g.offsets.remove(&(t.clone(), *p)).is_some() {
                writes.push(offset_tombstone(group_id, t, *p));
            }
            results.push(Ok(()));
        }
        self.writes.extend(writes);
        Ok(results)
    }

    /// Expires committed offsets (Kafka's `cleanupGroupMetadata`, KIP-211): offsets with an
    /// explicit expire timestamp at that time; otherwise, in an Empty group, `retention` after
    /// the group became empty; in a group without protocol (commits only), `retention` after
    /// the commit; in a Stable consumer group, offsets of topics no member subscribes to,
    /// `retention` after the commit. Empty groups left without offsets become Dead and are
    /// removed. Returns the number of offsets expired.
    pub fn expire_offsets(&mut self, now: i64) -> usize {
        let retention = self.config.offsets_retention_ms;
        let mut expired_total = 0;
        let mut dead = Vec::new();
        let mut writes = Vec::new();
        for g in self.groups.values_mut() {
            let subscribed = g.subscribed_topics();
            let base: Option<(Option<i64>, BTreeSet<String>)> = match (&g.protocol_type, g.state) {
                (Some(_), GroupState::Empty) => Some((Some(g.state_timestamp_ms), BTreeSet::new())),
                (None, _) => Some((None, BTreeSet::new())),
                (Some(p), GroupState::Stable) if p == "consumer" => subscribed.map(|s| (None, s)),
                _ => None,
            };
            let Some((state_ts, keep_topics)) = base else {
                continue;
            };
            let expired: Vec<(String, i32)> = g
                .offsets
                .iter()
                .filter(|((t, _), o)| {
                    !keep_topics.contains(t)
                        && match o.expire_timestamp_ms {
                            Some(e) => now >= e,
                            None => now - state_ts.unwrap_or(o.commit_timestamp_ms) >= retention,
                        }
                })
                .map(|(k, _)| k.clone())
                .collect();
            for (t, p) in &expired {
                g.offsets.remove(&(t.clone(), *p));
                writes.push(offset_tombstone(&g.id, t, *p));
            }
            expired_total += expired.len();
            if g.state == GroupState::Empty && g.offsets.is_empty() && g.members.is_empty() {
                dead.push(g.id.clone());
            }
        }
        self.writes.extend(writes);
        for gid in dead {
            self.groups.remove(&gid);
            self.store_group(&gid);
        }
        expired_total
    }

    // ---------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------

    /// Every group, optionally only those in one of `states` (case-insensitive names) and of
    /// one of `types` (only "classic" groups exist here).
    pub fn list(&self, states: &[String], types: &[String]) -> Vec<GroupListing> {
        if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case("classic")) {
            return vec![];
        }
        self.groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    /// DescribeGroups of one group: None when it does not exist. Members carry metadata and
    /// assignment only when the group is Stable, as Kafka's `summary`.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let stable = g.state == GroupState::Stable;
        let proto = g.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { proto.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata(&proto) } else { vec![] },
                    assignment: if stable { m.assignment.clone() } else { vec![] },
                })
                .collect(),
        })
    }

    /// DeleteGroups of one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or deleted (its offsets
    /// and metadata tombstoned).
    pub fn delete_group(&mut self, group_id: &str) -> Result<(), GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let g = self
            .groups
            .get(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if g.state != GroupState::Empty {
            return Err(GroupError::NonEmptyGroup);
        }
        let g = self.groups.remove(group_id).expect("present");
        for (t, p) in g.offsets.keys() {
            self.writes.push(offset_tombstone(group_id, t, *p));
        }
        self.store_group(group_id);
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Loading from __consumer_offsets
    // ---------------------------------------------------------------------------------------

    /// Applies one record read back from `__consumer_offsets` (in log order). Malformed
    /// records are errors the caller logs and skips.
    pub fn load_record(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        now: i64,
    ) -> Result<(), records::FormatError> {
        match RecordKey::decode(key)? {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => match value {
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
                Some(v) => {
                    let v = OffsetValue::decode(v)?;
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    g.offsets.insert(
                        (topic, partition),
                        CommittedOffset {
                            offset: v.offset,
                            leader_epoch: v.leader_epoch,
                            metadata: v.metadata,
                            commit_timestamp_ms: v.commit_timestamp_ms,
                            expire_timestamp_ms: v.expire_timestamp_ms,
                        },
                    );
                }
            },
            RecordKey::Group { group } => match value {
                None => {
                    self.groups.remove(&group);
                }
                Some(v) => {
                    let v = GroupValue::decode(v)?;
                    let offsets = self
                        .groups
                        .remove(&group)
                        .map(|g| g.offsets)
                        .unwrap_or_default();
                    let mut g = Group::new(&group, now);
                    g.offsets = offsets;
                    g.generation = v.generation;
                    g.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
                    g.protocol = v.protocol;
                    g.leader = v.leader;
                    g.state_timestamp_ms = if v.current_state_timestamp_ms >= 0 {
                        v.current_state_timestamp_ms
                    } else {
                        now
                    };
                    let proto = g.protocol.clone().unwrap_or_default();
                    for m in v.members {
                        if let Some(i) = &m.group_instance_id {
                            g.static_members.insert(i.clone(), m.member_id.clone());
                        }
                        g.members.insert(
                            m.member_id.clone(),
                            Member {
                                member_id: m.member_id.clone(),
                                group_instance_id: m.group_instance_id,
                                client_id: m.client_id,
                                client_host: m.client_host,
                                session_timeout_ms: m.session_timeout_ms,
                                rebalance_timeout_ms: m.rebalance_timeout_ms,
                                protocols: vec![(proto.clone(), m.subscription)],
                                assignment: m.assignment,
                                awaiting_join: None,
                                awaiting_sync: None,
                                supports_skip_assignment: false,
                                is_new: false,
                                joined_at_ms: now,
                                heartbeat_deadline_ms: now + m.session_timeout_ms as i64,
                            },
                        );
                    }
                    g.state = if g.members.is_empty() {
                        GroupState::Empty
                    } else {
                        GroupState::Stable
                    };
                    if g.leader
                        .as_ref()
                        .is_some_and(|l| !g.members.contains_key(l))
                    {
                        g.leader = g.members.keys().next().cloned();
                    }
                    self.groups.insert(group, g);
                }
            },
            RecordKey::Other(_) => {}
        }
        Ok(())
    }

    /// Drops every group whose `__consumer_offsets` partition is `partition` (before
    /// reloading it).
    pub fn unload_partition(&mut self, partition_of: impl Fn(&str) -> bool) {
        self.groups.retain(|id, _| !partition_of(id));
    }

    fn drop_if_unused(&mut self, gid: &str) {
        if let Some(g) = self.groups.get(gid) {
            if g.state == GroupState::Empty
                && g.members.is_empty()
                && g.offsets.is_empty()
                && g.generation == 0
            {
                self.groups.remove(gid);
            }
        }
    }
}

fn joined_members(g: &Group) -> Vec<JoinedMember> {
    let proto = g.protocol.clone().unwrap_or_default();
    g.members
        .values()
        .map(|m| JoinedMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            metadata: m.metadata(&proto),
        })
        .collect()
}

/// Removes a member (and its static mapping); returns it. The leader moves to another member.
fn remove_member(g: &mut Group, id: &str) -> Member {
    let m = g.members.shift_remove(id).expect("member present");
    if let Some(i) = &m.group_instance_id {
        if g.static_members.get(i).map(String::as_str) == Some(id) {
            g.static_members.remove(i);
        }
    }
    g.pending_sync.remove(id);
    if g.leader.as_deref() == Some(id) {
        g.leader = g.members.keys().next().cloned();
    }
    m
}

fn offset_value(o: &CommittedOffset) -> OffsetValue {
    OffsetValue {
        offset: o.offset,
        leader_epoch: o.leader_epoch,
        metadata: o.metadata.clone(),
        commit_timestamp_ms: o.commit_timestamp_ms,
        expire_timestamp_ms: o.expire_timestamp_ms,
    }
}

fn offset_tombstone(group: &str, topic: &str, partition: i32) -> Write {
    Write {
        group_id: group.to_string(),
        key: RecordKey::Offset {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        }
        .encode(),
        value: None,
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
