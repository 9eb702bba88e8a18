//! CreatePartitions (key 37), v0-v3: raise a topic's partition count, with optional manual
//! assignments of the new partitions; `validate_only`.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};

use super::sb;
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let assign: Option<Vec<Vec<i32>>> = t.assignments.as_ref().map(|a| {
            a.iter()
                .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        });
        if let Err(e) =
            broker.create_partitions(&name, t.count, assign.as_deref(), req.validate_only)
        {
            r.error_code = e.code.code();
            r.error_message = e.message.map(sb);
        }
        resp.results.push(r);
    }
    resp
}
