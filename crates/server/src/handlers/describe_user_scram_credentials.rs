//! DescribeUserScramCredentials (key 50), v0 (KIP-554): for each user, the SCRAM mechanisms it
//! has a credential for and their iteration counts (never salts or keys).
//!
//! Users null or empty: every user that has a credential, by name. A user named twice:
//! DUPLICATE_RESOURCE for that user; a user without credentials: RESOURCE_NOT_FOUND (Kafka's
//! `ScramImage.describe`, with its messages). Mechanisms: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512.

use std::sync::Arc;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::metadata::MetadataImage;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    describe(&broker.image(), &req)
}

/// The answer to `req` from `img`: one result per distinct user, in first-named order.
pub fn describe(
    img: &MetadataImage,
    req: &DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // (user, named more than once)
    let mut users: Vec<(String, bool)> = Vec::new();
    match req.users.as_deref() {
        None | Some([]) => users.extend(img.scram.keys().map(|u| (u.clone(), false))),
        Some(named) => {
            for u in named {
                let name = u.name.to_string();
                match users.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, dup)) => *dup = true,
                    None => users.push((name, false)),
                }
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, dup)| {
            let r = DescribeUserScramCredentialsResult::default().with_user(sb(user.as_str()));
            if dup {
                return r
                    .with_error_code(ErrorCode::DuplicateResource.code())
                    .with_error_message(Some(sb(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))));
            }
            match img.scram.get(&user) {
                None => r
                    .with_error_code(ErrorCode::ResourceNotFound.code())
                    .with_error_message(Some(sb(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )))),
                Some(creds) => r.with_credential_infos(
                    creds
                        .iter()
                        .map(|(m, c)| {
                            CredentialInfo::default()
                                .with_mechanism(*m)
                                .with_iterations(c.iterations)
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;

    fn image() -> MetadataImage {
        let mut img = MetadataImage::default();
        for (user, mechanism, iterations) in
            [("bob", 2, 4096), ("alice", 2, 4096), ("alice", 1, 8192)]
        {
            img.apply(&MetadataRecord::UserScramCredential {
                name: user.into(),
                mechanism,
                salt: b"salt".to_vec(),
                stored_key: vec![1; 32],
                server_key: vec![2; 32],
                iterations,
            });
        }
        img
    }

    /// (user, error code, [(mechanism, iterations)])
    type Described = (String, i16, Vec<(i8, i32)>);

    fn ask(users: Option<&[&str]>) -> Vec<Described> {
        let req = DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
            u.iter()
                .map(|n| UserName::default().with_name(sb(*n)))
                .collect()
        }));
        describe(&image(), &req)
            .results
            .iter()
            .map(|r| {
                (
                    r.user.to_string(),
                    r.error_code,
                    r.credential_infos
                        .iter()
                        .map(|c| (c.mechanism, c.iterations))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn all_users_named_users_missing_and_repeated() {
        assert_eq!(
            ask(None),
            vec![
                ("alice".into(), 0, vec![(1, 8192), (2, 4096)]),
                ("bob".into(), 0, vec![(2, 4096)])
            ]
        );
        assert_eq!(ask(Some(&[])).len(), 2);
        assert_eq!(
            ask(Some(&["bob", "carol", "bob"])),
            vec![
                ("bob".into(), ErrorCode::DuplicateResource.code(), vec![]),
                ("carol".into(), ErrorCode::ResourceNotFound.code(), vec![])
            ]
        );
    }
}
