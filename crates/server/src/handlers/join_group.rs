//! JoinGroup (key 11), v0-v9: hands the request to the group coordinator and waits for the
//! answer, which comes when the join phase of the rebalance completes (every member rejoined,
//! the rebalance timeout or the initial delay passed). v0 has no rebalance timeout (the
//! session timeout serves), v4+ new members first get MEMBER_ID_REQUIRED (KIP-394), v5+ carry
//! `group.instance.id` (KIP-345), v9 may skip the assignment (KIP-814).

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};
use strom_coordinator::group::{JoinRequest, Output};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::dispatch::Context;
use crate::groups;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &Context,
    h: &RequestHeader,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let v = h.request_api_version;
    let client_host = ctx.peer.map(|p| format!("/{}", p.ip())).unwrap_or_default();
    let jr = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 5 {
            req.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        client_id: h
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host,
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.to_vec()))
            .collect(),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
        new_member_suffix: uuid::Uuid::new_v4().to_string(),
    };
    tracing::debug!(group = %req.group_id.0, member = %req.member_id, "JoinGroup received");
    let out = broker
        .groups
        .parked(broker, |c, id, now| c.join(id, jr, now))
        .await;
    let mut resp = JoinGroupResponse::default()
        .with_generation_id(-1)
        .with_member_id(req.member_id.clone());
    let Some(Output::Join(_, j)) = out else {
        resp.error_code = ErrorCode::CoordinatorNotAvailable.code();
        return resp;
    };
    resp.error_code = j.error.map_or(0, |e| groups::error_code(e).code());
    resp.generation_id = j.generation_id;
    resp.member_id = sb(j.member_id);
    resp.leader = sb(j.leader);
    if v >= 7 {
        resp.protocol_type = j.protocol_type.map(sb);
    }
    resp.protocol_name = j.protocol_name.map(sb);
    if v < 7 && resp.protocol_name.is_none() {
        // Not nullable before v7.
        resp.protocol_name = Some(sb(""));
    }
    if v >= 9 {
        resp.skip_assignment = j.skip_assignment;
    }
    resp.members = j
        .members
        .into_iter()
        .map(|m| {
            let mut r = JoinGroupResponseMember::default()
                .with_member_id(sb(m.member_id))
                .with_metadata(m.metadata.into());
            if v >= 5 {
                r.group_instance_id = m.group_instance_id.map(sb);
            }
            r
        })
        .collect();
    tracing::debug!(group = %req.group_id.0, member = %resp.member_id, generation = resp.generation_id, error = resp.error_code, "JoinGroup answered");
    resp
}
