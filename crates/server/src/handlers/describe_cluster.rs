//! DescribeCluster (key 60), v0-v2: cluster id, controller id and the brokers.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;

/// KIP-919 endpoint types.
const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let v = h.request_api_version;
    let mut r = DescribeClusterResponse::default();
    if v >= 1 {
        r.endpoint_type = req.endpoint_type;
        if req.endpoint_type != ENDPOINT_BROKERS {
            r.error_code = ErrorCode::UnsupportedEndpointType.code();
            r.error_message = Some(sb("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"));
            return r;
        }
    }
    r.cluster_id = sb(broker.cluster_id.clone());
    r.controller_id = BrokerId(broker.node_id);
    r.cluster_authorized_operations = i32::MIN;
    r.brokers = broker
        .advertised
        .iter()
        .take(1)
        .map(|l| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(broker.node_id))
                .with_host(sb(l.host.clone()))
                .with_port(l.port as i32)
        })
        .collect();
    r
}
