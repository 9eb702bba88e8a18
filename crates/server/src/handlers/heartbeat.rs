//! Heartbeat (key 12), v0-v4: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it
//! to rejoin. v3+ carry `group.instance.id`.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, RequestHeader};

use crate::broker::Broker;
use crate::groups;

pub fn handle(broker: &Arc<Broker>, h: &RequestHeader, req: HeartbeatRequest) -> HeartbeatResponse {
    let v = h.request_api_version;
    let instance = if v >= 3 {
        req.group_instance_id.as_ref().map(|s| s.to_string())
    } else {
        None
    };
    let (r, _) = broker.groups.with_core(broker, |c, now| {
        let r = c.heartbeat(
            &req.group_id.0,
            &req.member_id,
            instance.as_deref(),
            req.generation_id,
            now,
        );
        (r, vec![])
    });
    let code = groups::code(r);
    if code != 0 {
        tracing::debug!(group = %req.group_id.0, member = %req.member_id, generation = req.generation_id, error = code, "Heartbeat refused");
    }
    HeartbeatResponse::default().with_error_code(code)
}
