//! ListGroups (key 16), v0-v5: every group this node coordinates; v4+ filter by state
//! (case-insensitive), v5+ by type (all groups here are "classic").

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse, RequestHeader};

use super::sb;
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let v = h.request_api_version;
    let states: Vec<String> = if v >= 4 {
        req.states_filter.iter().map(|s| s.to_string()).collect()
    } else {
        vec![]
    };
    let types: Vec<String> = if v >= 5 {
        req.types_filter.iter().map(|s| s.to_string()).collect()
    } else {
        vec![]
    };
    let (groups, _) = broker
        .groups
        .with_core(broker, |c, _| (c.list(&states, &types), vec![]));
    let mut resp = ListGroupsResponse::default();
    resp.groups = groups
        .into_iter()
        .map(|g| {
            let mut l = ListedGroup::default()
                .with_group_id(GroupId(sb(g.group_id)))
                .with_protocol_type(sb(g.protocol_type));
            if v >= 4 {
                l.group_state = sb(g.state.name());
            }
            if v >= 5 {
                l.group_type = sb("classic");
            }
            l
        })
        .collect();
    resp
}
