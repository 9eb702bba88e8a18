//! InitProducerId (key 22), v0-v5, for idempotent producers (KIP-98): a new producer id with
//! epoch 0 on every call, as Kafka does without a transactional id (a KIP-360 bump request
//! from a non-transactional producer also gets a fresh id). Transactional ids are refused
//! until transactions exist.

use std::sync::Arc;

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        // No transaction coordinator yet: a clear, non-retriable refusal.
        r.error_code = ErrorCode::TransactionalIdAuthorizationFailed.code();
        tracing::warn!(
            "InitProducerId with a transactional id refused: transactions are not supported yet"
        );
        return r;
    }
    match broker.allocate_producer_id() {
        Ok(id) => {
            r.producer_id = ProducerId(id);
            r.producer_epoch = 0;
        }
        Err(e) => r.error_code = e.code.code(),
    }
    r
}
