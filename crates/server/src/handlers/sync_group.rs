//! SyncGroup (key 14), v0-v5: the leader's assignment is stored and delivered to every member;
//! a follower's request waits for the leader's. v3+ carry `group.instance.id`, v5+ the
//! protocol type and name (checked against the group's).

use std::sync::Arc;

use kafka_protocol::messages::{RequestHeader, SyncGroupRequest, SyncGroupResponse};
use strom_coordinator::group::{Output, SyncRequest};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::groups;

pub async fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let v = h.request_api_version;
    let sr = SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 3 {
            req.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        protocol_type: if v >= 5 {
            req.protocol_type.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        protocol_name: if v >= 5 {
            req.protocol_name.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
            .collect(),
    };
    tracing::debug!(group = %req.group_id.0, member = %req.member_id, "SyncGroup received");
    let out = broker
        .groups
        .parked(broker, |c, id, now| c.sync(id, sr, now))
        .await;
    let mut resp = SyncGroupResponse::default();
    let Some(Output::Sync(_, s)) = out else {
        resp.error_code = ErrorCode::CoordinatorNotAvailable.code();
        return resp;
    };
    resp.error_code = s.error.map_or(0, |e| groups::error_code(e).code());
    resp.assignment = s.assignment.into();
    if v >= 5 {
        resp.protocol_type = s.protocol_type.map(sb);
        resp.protocol_name = s.protocol_name.map(sb);
    }
    tracing::debug!(group = %req.group_id.0, member = %req.member_id, generation = req.generation_id, error = resp.error_code, "SyncGroup answered");
    resp
}
