//! DeleteGroups (key 42), v0-v2: deletes empty groups with their committed offsets
//! (tombstones in `__consumer_offsets`). GROUP_ID_NOT_FOUND for unknown groups,
//! NON_EMPTY_GROUP while members remain.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;
use crate::groups;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for gid in &req.groups_names {
        let (r, stored) = broker
            .groups
            .with_core(broker, |c, _| (c.delete_group(&gid.0), vec![]));
        let code = match (r, stored) {
            (Err(e), _) => groups::error_code(e).code(),
            (Ok(()), Err(_)) => ErrorCode::CoordinatorNotAvailable.code(),
            (Ok(()), Ok(())) => 0,
        };
        resp.results.push(
            DeletableGroupResult::default()
                .with_group_id(gid.clone())
                .with_error_code(code),
        );
    }
    resp
}
