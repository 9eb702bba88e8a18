//! ApiVersions (key 18), v0-v4, including KIP-511's fallback for unknown versions (in
//! `dispatch`). The advertised ranges are `dispatch::SUPPORTED_APIS`, nothing more.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use crate::dispatch::SUPPORTED_APIS;

/// The response body listing every supported API.
pub fn response() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = SUPPORTED_APIS
        .iter()
        .map(|(k, min, max)| {
            ApiVersion::default()
                .with_api_key(*k as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    r
}

pub fn handle(_h: &RequestHeader, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    response()
}
