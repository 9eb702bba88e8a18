//! Group administration over the classic group protocol, as Kafka's `Admin` does it for
//! `kafka-consumer-groups.sh`: find a group's coordinator (FindCoordinator), list groups on
//! every broker (ListGroups), describe a group with its members' assignments decoded from
//! the consumer protocol (DescribeGroups), read and write committed offsets (OffsetFetch,
//! OffsetCommit with generation -1 as a client outside the group), delete groups
//! (DeleteGroups) and a group's offsets (OffsetDelete).
//!
//! Every request goes out at the highest version both sides support; fields a version lacks
//! are left at their defaults.

use std::collections::BTreeMap;

use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Message as _, StrBytes};

use crate::{check, BrokerInfo, Client, ClientError, Result};

/// FindCoordinator key type of a group.
const KEY_TYPE_GROUP: i8 = 0;

/// A partition of a topic, ordered by topic then partition.
pub type TopicPartition = (String, i32);

/// A group as ListGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// "consumer" for consumer groups; empty for groups that only commit offsets.
    pub protocol_type: String,
    /// Kafka's state name (`Stable`, `Empty`, ...); empty when the broker predates ListGroups v4.
    pub state: String,
    /// `classic` or `consumer`; empty before ListGroups v5.
    pub group_type: String,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// The client's host as the broker saw it (`/127.0.0.1`).
    pub host: String,
    /// The partitions assigned to the member (decoded from the consumer protocol), sorted.
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state name; `Dead` for a group that does not exist.
    pub state: String,
    pub protocol_type: String,
    /// The selected protocol: the partition assignor for consumer groups (`range`).
    pub protocol: String,
    pub members: Vec<GroupMember>,
    /// The broker coordinating the group.
    pub coordinator: BrokerInfo,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// The outcome of OffsetDelete: the group-level error code and one code per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResult {
    pub error_code: i16,
    pub partitions: BTreeMap<TopicPartition, i16>,
}

/// Decodes a consumer-protocol assignment (`ConsumerProtocolAssignment`: an i16 version, then
/// the body); empty bytes are no assignment. Errors: [`ClientError::Protocol`] on bytes that
/// do not decode.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    if buf.len() < 2 {
        return Err(ClientError::Protocol(
            "member assignment shorter than its version field".into(),
        ));
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Later versions only append fields: read them as the newest version we know.
    let v = version.clamp(0, ConsumerProtocolAssignment::VERSIONS.max);
    let a = ConsumerProtocolAssignment::decode(&mut buf, v).map_err(|e| {
        ClientError::Protocol(format!("cannot decode member assignment v{version}: {e}"))
    })?;
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    out.sort();
    Ok(out)
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Groups partitions by topic, in order.
fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        m.entry(t.as_str()).or_default().push(*p);
    }
    m
}

impl Client {
    /// The node id of the coordinator of `group` (FindCoordinator), remembered so that
    /// [`Client::send_to`] reaches it. Errors: the broker's error code (for example
    /// COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` is being created).
    pub async fn find_coordinator(&mut self, group: &str) -> Result<BrokerInfo> {
        let v = self.bootstrap.version_for::<FindCoordinatorRequest>()?;
        let mut req = FindCoordinatorRequest::default();
        if v >= 1 {
            req.key_type = KEY_TYPE_GROUP;
        }
        if v >= 4 {
            req.coordinator_keys = vec![sb(group)];
        } else {
            req.key = sb(group);
        }
        let resp: FindCoordinatorResponse = self.bootstrap.send_version(&req, v).await?;
        let (node_id, host, port) = if v >= 4 {
            let c = resp.coordinators.into_iter().next().ok_or_else(|| {
                ClientError::Protocol("FindCoordinator answered no coordinator".into())
            })?;
            check(c.error_code, c.error_message.as_ref())?;
            (c.node_id.0, c.host.to_string(), c.port)
        } else {
            check(resp.error_code, resp.error_message.as_ref())?;
            (resp.node_id.0, resp.host.to_string(), resp.port)
        };
        let info = BrokerInfo {
            node_id,
            host,
            port,
            rack: None,
        };
        self.brokers.insert(node_id, info.clone());
        Ok(info)
    }

    /// Every group on every broker of the cluster (ListGroups), sorted by group id; `states`
    /// filters by state name (case-insensitive, ListGroups v4+; filtered here for older
    /// brokers).
    pub async fn list_groups(&mut self, states: &[String]) -> Result<Vec<GroupListing>> {
        let md = self.metadata(Some(&[])).await?;
        let mut nodes: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
        nodes.sort_unstable();
        if nodes.is_empty() {
            nodes.push(-1);
        }
        let mut out = BTreeMap::new();
        for node in nodes {
            let conn = if node < 0 {
                &mut self.bootstrap
            } else {
                self.conn(node).await?
            };
            let v = conn.version_for::<ListGroupsRequest>()?;
            let mut req = ListGroupsRequest::default();
            if v >= 4 {
                req.states_filter = states.iter().map(|s| sb(s)).collect();
            }
            let resp: ListGroupsResponse = conn.send_version(&req, v).await?;
            check(resp.error_code, None)?;
            for g in resp.groups {
                let l = GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: g.group_state.to_string(),
                    group_type: g.group_type.to_string(),
                };
                if v < 4
                    && !states.is_empty()
                    && !states.iter().any(|s| s.eq_ignore_ascii_case(&l.state))
                {
                    continue;
                }
                out.insert(l.group_id.clone(), l);
            }
        }
        Ok(out.into_values().collect())
    }

    /// Describes `group` at its coordinator (DescribeGroups). A group that does not exist is
    /// returned with state `Dead` and no members (GROUP_ID_NOT_FOUND of v6 is mapped to
    /// that, as Kafka's admin client does for older versions). Errors: other error codes.
    pub async fn describe_group(&mut self, group: &str) -> Result<GroupDescription> {
        let coordinator = self.find_coordinator(group).await?;
        let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]);
        let resp = self.send_to(coordinator.node_id, &req).await?;
        let g = resp
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol("DescribeGroups answered no group".into()))?;
        if g.error_code == 69 {
            return Ok(GroupDescription {
                group_id: group.to_string(),
                state: "Dead".into(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
                coordinator,
            });
        }
        check(g.error_code, g.error_message.as_ref())?;
        let members = g
            .members
            .iter()
            .map(|m| {
                Ok(GroupMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if g.protocol_type.as_str() == "consumer" {
                        decode_assignment(&m.member_assignment)?
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GroupDescription {
            group_id: g.group_id.0.to_string(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
            coordinator,
        })
    }

    /// Every committed offset of `group` (OffsetFetch for all partitions), by partition.
    /// Partitions without a committed offset (offset -1) are left out. Errors: the group's
    /// or a partition's error code.
    pub async fn fetch_offsets(
        &mut self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>> {
        let coordinator = self.find_coordinator(group).await?.node_id;
        let conn = self.conn(coordinator).await?;
        let v = conn.version_for::<OffsetFetchRequest>()?;
        let mut req = OffsetFetchRequest::default();
        if v >= 8 {
            req.groups = vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(None)];
        } else {
            req.group_id = GroupId(sb(group));
            req.topics = None;
        }
        let resp: OffsetFetchResponse = conn.send_version(&req, v).await?;
        let mut out = BTreeMap::new();
        let mut add = |topic: &str, p: i32, off: i64, epoch: i32, md: Option<&StrBytes>, ec| {
            check(ec, None)?;
            if off >= 0 {
                out.insert(
                    (topic.to_string(), p),
                    CommittedOffset {
                        offset: off,
                        leader_epoch: epoch,
                        metadata: md.map(|m| m.to_string()),
                    },
                );
            }
            Ok::<(), ClientError>(())
        };
        if v >= 8 {
            let g = resp
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Protocol("OffsetFetch answered no group".into()))?;
            check(g.error_code, None)?;
            for t in &g.topics {
                for p in &t.partitions {
                    add(
                        &t.name.0,
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref(),
                        p.error_code,
                    )?;
                }
            }
        } else {
            check(resp.error_code, None)?;
            for t in &resp.topics {
                for p in &t.partitions {
                    add(
                        &t.name.0,
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref(),
                        p.error_code,
                    )?;
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` for `group` as a client outside the group (generation -1, no member
    /// id), as Kafka's `Admin.alterConsumerGroupOffsets` does. Errors: the first non-zero
    /// error code (UNKNOWN_MEMBER_ID while the group has members, for instance).
    pub async fn commit_offsets(
        &mut self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        let coordinator = self.find_coordinator(group).await?.node_id;
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((t, p), off) in offsets {
            topics.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*off)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(StrBytes::from_static_str(""))),
            );
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = self.send_to(coordinator, &req).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                check(p.error_code, None)?;
            }
        }
        Ok(())
    }

    /// Deletes `groups` (DeleteGroups at each group's coordinator): the error code per group,
    /// in the order given (0 for deleted).
    pub async fn delete_groups(&mut self, groups: &[String]) -> Result<Vec<(String, i16)>> {
        let mut out = Vec::new();
        for g in groups {
            let coordinator = self.find_coordinator(g).await?.node_id;
            let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(g))]);
            let resp = self.send_to(coordinator, &req).await?;
            let code = resp
                .results
                .iter()
                .find(|r| r.group_id.0.as_str() == g)
                .map(|r| r.error_code)
                .ok_or_else(|| {
                    ClientError::Protocol(format!("DeleteGroups answered nothing for group {g}"))
                })?;
            out.push((g.clone(), code));
        }
        Ok(out)
    }

    /// Deletes the committed offsets of `partitions` from `group` (OffsetDelete).
    pub async fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<OffsetDeleteResult> {
        let coordinator = self.find_coordinator(group).await?.node_id;
        let req = OffsetDeleteRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(
                by_topic(partitions)
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetDeleteRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        OffsetDeleteRequestPartition::default()
                                            .with_partition_index(p)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = self.send_to(coordinator, &req).await?;
        let mut result = OffsetDeleteResult {
            error_code: resp.error_code,
            partitions: BTreeMap::new(),
        };
        for t in &resp.topics {
            for p in &t.partitions {
                result
                    .partitions
                    .insert((t.name.0.to_string(), p.partition_index), p.error_code);
            }
        }
        Ok(result)
    }
}

/// Errors of a group member that mean "join again" (REBALANCE_IN_PROGRESS,
/// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID is not one of them).
pub fn needs_rejoin(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Kafka {
            code: 22 | 25 | 27,
            ..
        }
    )
}

/// A member of a consumer group over the classic protocol, as a Kafka consumer is: JoinGroup
/// (with KIP-394's member-id round), the `range` assignor when elected leader, SyncGroup,
/// Heartbeat, OffsetCommit with its generation, LeaveGroup. Owns a connection to the
/// coordinator whose timeout covers the rebalance timeout, since JoinGroup is parked there
/// until the group is ready.
pub struct Membership {
    conn: crate::Connection,
    group: String,
    topics: Vec<String>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    member_id: String,
    generation_id: i32,
    /// The partitions assigned in the current generation, sorted.
    pub assignment: Vec<TopicPartition>,
}

impl Membership {
    /// Finds the coordinator of `group` and joins it subscribed to `topics`, returning once
    /// an assignment is in hand. Errors: the broker's error codes, or a timeout.
    pub async fn join(
        client: &mut Client,
        group: &str,
        topics: &[String],
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
    ) -> Result<Membership> {
        let coordinator = client.find_coordinator(group).await?;
        let timeout =
            std::time::Duration::from_millis(rebalance_timeout_ms as u64) + client.config.timeout;
        let conn =
            crate::Connection::connect(&coordinator.addr(), &client.config.client_id, timeout)
                .await?;
        let mut m = Membership {
            conn,
            group: group.to_string(),
            topics: topics.to_vec(),
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id: String::new(),
            generation_id: -1,
            assignment: Vec::new(),
        };
        m.rejoin(client).await?;
        Ok(m)
    }

    /// The member id the coordinator gave this member.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// Joins again (after a rebalance started) and syncs the new assignment. `client`
    /// supplies partition counts when this member leads.
    pub async fn rejoin(&mut self, client: &mut Client) -> Result<()> {
        use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
        use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
        use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
        use kafka_protocol::protocol::Encodable;

        let sub = ConsumerProtocolSubscription::default()
            .with_topics(self.topics.iter().map(|t| sb(t)).collect());
        let mut metadata = bytes::BytesMut::new();
        bytes::BufMut::put_i16(&mut metadata, 0);
        sub.encode(&mut metadata, 0)
            .map_err(|e| ClientError::Protocol(format!("encoding subscription: {e}")))?;
        let metadata = metadata.freeze();
        for _attempt in 0..5 {
            let v = self.conn.version_for::<JoinGroupRequest>()?;
            let mut req = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&self.group)))
                .with_session_timeout_ms(self.session_timeout_ms)
                .with_member_id(sb(&self.member_id))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(metadata.clone())]);
            if v >= 1 {
                req.rebalance_timeout_ms = self.rebalance_timeout_ms;
            }
            let resp: JoinGroupResponse = self.conn.send_version(&req, v).await?;
            match resp.error_code {
                // MEMBER_ID_REQUIRED (KIP-394): join again with the id handed out.
                79 => {
                    self.member_id = resp.member_id.to_string();
                    continue;
                }
                // UNKNOWN_MEMBER_ID: start over without an id.
                25 => {
                    self.member_id.clear();
                    continue;
                }
                // REBALANCE_IN_PROGRESS can answer a join raced by another member.
                27 => continue,
                code => check(code, None)?,
            }
            self.member_id = resp.member_id.to_string();
            self.generation_id = resp.generation_id;
            let assignments = if resp.leader == resp.member_id {
                self.assign_range(client, &resp.members).await?
            } else {
                Vec::new()
            };
            let v = self.conn.version_for::<SyncGroupRequest>()?;
            let mut sync = SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&self.group)))
                .with_generation_id(self.generation_id)
                .with_member_id(sb(&self.member_id))
                .with_assignments(
                    assignments
                        .into_iter()
                        .map(|(m, a)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(sb(&m))
                                .with_assignment(a)
                        })
                        .collect(),
                );
            if v >= 5 {
                sync.protocol_type = Some(StrBytes::from_static_str("consumer"));
                sync.protocol_name = Some(StrBytes::from_static_str("range"));
            }
            let sresp: SyncGroupResponse = self.conn.send_version(&sync, v).await?;
            match sresp.error_code {
                22 | 25 | 27 => {
                    if sresp.error_code == 25 {
                        self.member_id.clear();
                    }
                    continue;
                }
                code => check(code, None)?,
            }
            self.assignment = decode_assignment(&sresp.assignment)?;
            return Ok(());
        }
        Err(ClientError::Protocol(format!(
            "could not join group {} after 5 attempts (the group kept rebalancing)",
            self.group
        )))
    }

    /// Kafka's `RangeAssignor`: per topic, members subscribed to it sorted by member id get
    /// consecutive ranges, the first ones one partition more. Returns member id -> encoded
    /// assignment (ConsumerProtocolAssignment v0).
    async fn assign_range(
        &self,
        client: &mut Client,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<(String, bytes::Bytes)>> {
        use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
        let mut subs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in members {
            let mut buf = bytes::Bytes::copy_from_slice(&m.metadata);
            let topics = if buf.len() >= 2 {
                let v = bytes::Buf::get_i16(&mut buf)
                    .clamp(0, ConsumerProtocolSubscription::VERSIONS.max);
                ConsumerProtocolSubscription::decode(&mut buf, v)
                    .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            subs.insert(m.member_id.to_string(), topics);
        }
        let mut all: Vec<String> = subs.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        let md = client.metadata(Some(&all)).await?;
        let mut out: BTreeMap<String, Vec<TopicPartition>> =
            subs.keys().map(|m| (m.clone(), Vec::new())).collect();
        for t in crate::topics_of(&md) {
            if t.error_code != 0 {
                continue;
            }
            let consumers: Vec<&String> = subs
                .iter()
                .filter(|(_, ts)| ts.contains(&t.name))
                .map(|(m, _)| m)
                .collect();
            if consumers.is_empty() {
                continue;
            }
            let n = t.partitions.len();
            let per = n / consumers.len();
            let extra = n % consumers.len();
            let mut next = 0;
            for (i, m) in consumers.iter().enumerate() {
                let count = per + usize::from(i < extra);
                for p in &t.partitions[next..next + count] {
                    out.get_mut(*m)
                        .expect("every member has an entry")
                        .push((t.name.clone(), p.partition));
                }
                next += count;
            }
        }
        out.into_iter()
            .map(|(m, tps)| {
                use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Tp;
                use kafka_protocol::protocol::Encodable;
                let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
                    by_topic(&tps)
                        .into_iter()
                        .map(|(t, ps)| {
                            Tp::default()
                                .with_topic(TopicName(sb(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
                let mut buf = bytes::BytesMut::new();
                bytes::BufMut::put_i16(&mut buf, 0);
                a.encode(&mut buf, 0)
                    .map_err(|e| ClientError::Protocol(format!("encoding assignment: {e}")))?;
                Ok((m, buf.freeze()))
            })
            .collect()
    }

    /// One heartbeat. Errors: REBALANCE_IN_PROGRESS and friends ([`needs_rejoin`]) when the
    /// member must [`Membership::rejoin`].
    pub async fn heartbeat(&mut self) -> Result<()> {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(sb(&self.group)))
            .with_generation_id(self.generation_id)
            .with_member_id(sb(&self.member_id));
        let resp = self.conn.send(&req).await?;
        check(resp.error_code, None)
    }

    /// Commits `offsets` in this member's generation. Errors: the first partition error
    /// (ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS when a rebalance overtook the commit).
    pub async fn commit(&mut self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((t, p), off) in offsets {
            topics.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*off)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(StrBytes::from_static_str(""))),
            );
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(&self.group)))
            .with_generation_id_or_member_epoch(self.generation_id)
            .with_member_id(sb(&self.member_id))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = self.conn.send(&req).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                check(p.error_code, None)?;
            }
        }
        Ok(())
    }

    /// Leaves the group (LeaveGroup), so the others rebalance at once.
    pub async fn leave(&mut self) -> Result<()> {
        use kafka_protocol::messages::leave_group_request::MemberIdentity;
        let v = self.conn.version_for::<LeaveGroupRequest>()?;
        let mut req = LeaveGroupRequest::default().with_group_id(GroupId(sb(&self.group)));
        if v >= 3 {
            req.members = vec![MemberIdentity::default().with_member_id(sb(&self.member_id))];
        } else {
            req.member_id = sb(&self.member_id);
        }
        let resp: LeaveGroupResponse = self.conn.send_version(&req, v).await?;
        check(resp.error_code, None)
    }
}

/// Kafka's exception class and message for the error codes group administration meets
/// (`org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.`), as
/// Kafka's tools print a failed future; other codes fall back to the code's name.
pub fn exception_text(code: i16) -> String {
    let (class, msg) = match code {
        3 => (
            "UnknownTopicOrPartitionException",
            "This server does not host this topic-partition.",
        ),
        15 => (
            "CoordinatorNotAvailableException",
            "The coordinator is not available.",
        ),
        16 => (
            "NotCoordinatorException",
            "This is not the correct coordinator.",
        ),
        24 => (
            "InvalidGroupIdException",
            "The configured groupId is invalid.",
        ),
        25 => (
            "UnknownMemberIdException",
            "The coordinator is not aware of this member.",
        ),
        30 => (
            "GroupAuthorizationException",
            "Not authorized to access group: Group authorization failed.",
        ),
        68 => ("GroupNotEmptyException", "The group is not empty."),
        69 => ("GroupIdNotFoundException", "The group id does not exist."),
        86 => (
            "GroupSubscribedToTopicException",
            "The consumer group is actively subscribed to the topic",
        ),
        _ => return crate::error_name(code),
    };
    format!("org.apache.kafka.common.errors.{class}: {msg}")
}

/// The message of Kafka's `Errors` value for `code` (`The group is not empty.`), without the
/// exception class.
pub fn error_message(code: i16) -> String {
    let t = exception_text(code);
    match t.split_once(": ") {
        Some((_, m)) => m.to_string(),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn assignment_round_trip_and_empty() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            kafka_protocol::messages::consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(sb("t")))
                .with_partitions(vec![2, 0]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        a.encode(&mut buf, 1).unwrap();
        assert_eq!(
            decode_assignment(&buf).unwrap(),
            vec![("t".to_string(), 0), ("t".to_string(), 2)]
        );
        assert!(decode_assignment(&[]).unwrap().is_empty());
        assert!(decode_assignment(&[0]).is_err());
    }

    #[test]
    fn exception_texts() {
        assert_eq!(
            exception_text(68),
            "org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty."
        );
        assert_eq!(error_message(69), "The group id does not exist.");
    }
}
