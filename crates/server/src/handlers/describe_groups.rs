//! DescribeGroups (key 15), v0-v6: state, protocol and members of each group; member
//! metadata and assignments only while Stable (Kafka's group summary). An unknown group is
//! "Dead" with no error before v6 and GROUP_ID_NOT_FOUND from v6, as Kafka answers.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;

/// Kafka's "authorized operations not requested" value.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// READ (3), DELETE (6) and DESCRIBE (8) on a group: everything, with no authorizer.
const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = h.request_api_version;
    let mut resp = DescribeGroupsResponse::default();
    for gid in &req.groups {
        let mut d = DescribedGroup::default().with_group_id(gid.clone());
        if v >= 3 {
            d.authorized_operations = if req.include_authorized_operations {
                GROUP_OPERATIONS_ALL
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
        }
        if gid.0.is_empty() {
            d.error_code = ErrorCode::InvalidGroupId.code();
            resp.groups.push(d);
            continue;
        }
        let (desc, _) = broker
            .groups
            .with_core(broker, |c, _| (c.describe(&gid.0), vec![]));
        match desc {
            None => {
                d.group_state = sb("Dead");
                if v >= 6 {
                    d.error_code = ErrorCode::GroupIdNotFound.code();
                    d.error_message = Some(sb(format!("Group {} not found.", gid.0.as_str())));
                }
            }
            Some(g) => {
                d.group_state = sb(g.state.name());
                d.protocol_type = sb(g.protocol_type);
                d.protocol_data = sb(g.protocol);
                d.members = g
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default()
                            .with_member_id(sb(m.member_id))
                            .with_client_id(sb(m.client_id))
                            .with_client_host(sb(m.client_host))
                            .with_member_metadata(m.metadata.into())
                            .with_member_assignment(m.assignment.into());
                        if v >= 4 {
                            dm.group_instance_id = m.group_instance_id.map(sb);
                        }
                        dm
                    })
                    .collect();
            }
        }
        resp.groups.push(d);
    }
    resp
}
