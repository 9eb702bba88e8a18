//! LeaveGroup (key 13), v0-v5: members leave and the group rebalances. v0-v2 name one member
//! (its error is the top-level error); v3+ a batch of members with per-member errors and
//! `group.instance.id` (KIP-345).

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, RequestHeader};
use strom_coordinator::group::LeavingMember;

use crate::broker::Broker;
use crate::groups;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let v = h.request_api_version;
    let leaving: Vec<LeavingMember> = if v >= 3 {
        req.members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let (result, stored) = broker
        .groups
        .with_core(broker, |c, now| c.leave(&req.group_id.0, &leaving, now));
    if let Err(e) = stored {
        tracing::error!("storing group metadata failed: {:?}", e.message);
    }
    let mut resp = LeaveGroupResponse::default();
    match result {
        Err(e) => resp.error_code = groups::error_code(e).code(),
        Ok(results) if v >= 3 => {
            resp.members = leaving
                .iter()
                .zip(results)
                .map(|(m, r)| {
                    MemberResponse::default()
                        .with_member_id(super::sb(m.member_id.clone()))
                        .with_group_instance_id(m.group_instance_id.clone().map(super::sb))
                        .with_error_code(groups::code(r))
                })
                .collect();
        }
        Ok(results) => {
            resp.error_code = results.into_iter().next().map_or(0, groups::code);
        }
    }
    resp
}
