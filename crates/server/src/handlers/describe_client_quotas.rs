//! DescribeClientQuotas (key 48), v0-v1 (KIP-546): the client quotas of the metadata image
//! whose entity matches a filter.
//!
//! The filter is a list of components, each an entity type (`user`, `client-id`, `ip`) and a
//! match type: 0 = exactly the named entity, 1 = the default entity of that type, 2 = any entity
//! that has the type (named or default). With `strict`, an entity matches only if it has no
//! entity types beyond the filter's. Errors, as Kafka's `ClientQuotasImage.describe`, answer the
//! whole request: INVALID_REQUEST for an empty or repeated entity type, a match string where
//! none belongs (or none where one does), an unknown match type, or IP mixed with user or
//! client-id; UNSUPPORTED_VERSION for an unknown entity type.
//!
//! Quotas are stored and described; they are not enforced yet (a later issue).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::alter_client_quotas::{CLIENT_ID, IP, USER};
use super::sb;
use crate::broker::{ApiError, Broker};
use crate::metadata::{MetadataImage, QuotaEntity};

/// Match an entity of exactly this name.
pub const MATCH_EXACT: i8 = 0;
/// Match the default entity of the type.
pub const MATCH_DEFAULT: i8 = 1;
/// Match any entity that has the type.
pub const MATCH_SPECIFIED: i8 = 2;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    describe(&broker.image(), &req)
}

/// The response to `req` from `img`: matching entities in entity order, each with its quota
/// values in key order; or an error for the whole request (entries null).
pub fn describe(
    img: &MetadataImage,
    req: &DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    let (exact, any) = match parse_filter(req) {
        Ok(f) => f,
        Err(e) => {
            resp.error_code = e.code.code();
            resp.error_message = e.message.map(sb);
            resp.entries = None;
            return resp;
        }
    };
    let entries = img
        .client_quotas
        .iter()
        .filter(|(entity, _)| matches(entity, &exact, &any, req.strict))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(sb(t.as_str()))
                                .with_entity_name(n.as_deref().map(sb))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, v)| ValueData::default().with_key(sb(k.as_str())).with_value(*v))
                        .collect(),
                )
        })
        .collect();
    resp.entries = Some(entries);
    resp
}

/// Exact matches (type to name, `None` = the default entity) and any-name matches.
type Filter = (BTreeMap<String, Option<String>>, BTreeSet<String>);

fn parse_filter(req: &DescribeClientQuotasRequest) -> Result<Filter, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidRequest, m);
    let mut exact = BTreeMap::new();
    let mut any = BTreeSet::new();
    for c in &req.components {
        let ty = c.entity_type.to_string();
        if ty.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if exact.contains_key(&ty) || any.contains(&ty) {
            return Err(invalid(format!(
                "Entity type {ty} cannot appear more than once in the filter."
            )));
        }
        if ty != USER && ty != CLIENT_ID && ty != IP {
            return Err(ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!("Unsupported entity type {ty}"),
            ));
        }
        match c.match_type {
            MATCH_EXACT => match &c._match {
                None => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ))
                }
                Some(m) => {
                    exact.insert(ty, Some(m.to_string()));
                }
            },
            MATCH_DEFAULT => {
                if c._match.is_some() {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    ));
                }
                exact.insert(ty, None);
            }
            MATCH_SPECIFIED => {
                if c._match.is_some() {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                            .into(),
                    ));
                }
                any.insert(ty);
            }
            other => return Err(invalid(format!("Unknown match type {other}"))),
        }
    }
    let has = |t: &str| exact.contains_key(t) || any.contains(t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into(),
        ));
    }
    Ok((exact, any))
}

fn matches(
    entity: &QuotaEntity,
    exact: &BTreeMap<String, Option<String>>,
    any: &BTreeSet<String>,
    strict: bool,
) -> bool {
    if strict && entity.len() != exact.len() + any.len() {
        return false;
    }
    exact.iter().all(|(t, n)| entity.get(t) == Some(n))
        && any.iter().all(|t| entity.contains_key(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;

    fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(String::from)))
            .collect()
    }

    fn image() -> MetadataImage {
        let mut img = MetadataImage::default();
        for (e, k, v) in [
            (
                entity(&[(USER, Some("alice"))]),
                "producer_byte_rate",
                1024.0,
            ),
            (entity(&[(USER, None)]), "consumer_byte_rate", 10.0),
            (
                entity(&[(USER, Some("alice")), (CLIENT_ID, Some("app"))]),
                "request_percentage",
                50.0,
            ),
            (
                entity(&[(CLIENT_ID, Some("app"))]),
                "producer_byte_rate",
                2048.0,
            ),
        ] {
            img.apply(&MetadataRecord::ClientQuota {
                entity: e,
                key: k.into(),
                value: v,
                remove: false,
            });
        }
        img
    }

    fn component(t: &str, match_type: i8, m: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(sb(t))
            .with_match_type(match_type)
            .with_match(m.map(sb))
    }

    fn names(resp: &DescribeClientQuotasResponse) -> Vec<Vec<(String, Option<String>)>> {
        resp.entries
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| {
                e.entity
                    .iter()
                    .map(|d| {
                        (
                            d.entity_type.to_string(),
                            d.entity_name.as_ref().map(|n| n.to_string()),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn strict_exact_match_finds_only_that_entity() {
        let req = DescribeClientQuotasRequest::default()
            .with_components(vec![component(USER, MATCH_EXACT, Some("alice"))])
            .with_strict(true);
        let resp = describe(&image(), &req);
        assert_eq!(resp.error_code, 0);
        assert_eq!(
            names(&resp),
            vec![vec![(USER.to_string(), Some("alice".to_string()))]]
        );
        assert_eq!(resp.entries.unwrap()[0].values[0].value, 1024.0);
    }

    #[test]
    fn non_strict_and_specified_matches() {
        let loose = DescribeClientQuotasRequest::default().with_components(vec![component(
            USER,
            MATCH_EXACT,
            Some("alice"),
        )]);
        assert_eq!(names(&describe(&image(), &loose)).len(), 2);
        let any_user = DescribeClientQuotasRequest::default()
            .with_components(vec![component(USER, MATCH_SPECIFIED, None)])
            .with_strict(true);
        // alice and the default user; not the user+client entity.
        assert_eq!(names(&describe(&image(), &any_user)).len(), 2);
        let default_user = DescribeClientQuotasRequest::default()
            .with_components(vec![component(USER, MATCH_DEFAULT, None)])
            .with_strict(true);
        assert_eq!(
            names(&describe(&image(), &default_user)),
            vec![vec![(USER.to_string(), None)]]
        );
        let all = DescribeClientQuotasRequest::default();
        assert_eq!(names(&describe(&image(), &all)).len(), 4);
    }

    #[test]
    fn bad_filters_are_errors_for_the_whole_request() {
        let cases = [
            (
                vec![component("", MATCH_EXACT, Some("x"))],
                ErrorCode::InvalidRequest,
            ),
            (
                vec![component("group", MATCH_EXACT, Some("x"))],
                ErrorCode::UnsupportedVersion,
            ),
            (
                vec![component(USER, MATCH_EXACT, None)],
                ErrorCode::InvalidRequest,
            ),
            (
                vec![component(USER, MATCH_DEFAULT, Some("x"))],
                ErrorCode::InvalidRequest,
            ),
            (vec![component(USER, 7, None)], ErrorCode::InvalidRequest),
            (
                vec![
                    component(USER, MATCH_SPECIFIED, None),
                    component(USER, MATCH_DEFAULT, None),
                ],
                ErrorCode::InvalidRequest,
            ),
            (
                vec![
                    component(IP, MATCH_SPECIFIED, None),
                    component(USER, MATCH_DEFAULT, None),
                ],
                ErrorCode::InvalidRequest,
            ),
        ];
        for (components, code) in cases {
            let resp = describe(
                &image(),
                &DescribeClientQuotasRequest::default().with_components(components),
            );
            assert_eq!(resp.error_code, code.code());
            assert!(resp.entries.is_none());
            assert!(resp.error_message.is_some());
        }
    }
}
