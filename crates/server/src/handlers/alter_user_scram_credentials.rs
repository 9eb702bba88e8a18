//! AlterUserScramCredentials (key 51), v0 (KIP-554): creates, replaces and deletes users' SCRAM
//! credentials, committed as KRaft `UserScramCredentialRecord`s and
//! `RemoveUserScramCredentialRecord`s.
//!
//! An upsertion carries the user, the mechanism (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512), the
//! iteration count, the salt and the salted password (the client ran PBKDF2, RFC 5802's Hi());
//! the broker keeps the salt and iterations and derives StoredKey = H(HMAC(salted, "Client
//! Key")) and ServerKey = HMAC(salted, "Server Key"), so neither the password nor the salted
//! password is stored. Validation is Kafka's `ScramControlManager`, per user:
//! - a user in more than one alteration of the request (whatever the mechanisms):
//!   DUPLICATE_RESOURCE, and none of that user's alterations apply;
//! - an empty user name, iterations outside 4096..=16384, an empty salted password:
//!   UNACCEPTABLE_CREDENTIAL;
//! - an unknown mechanism: UNSUPPORTED_SASL_MECHANISM;
//! - deleting a credential that does not exist: RESOURCE_NOT_FOUND.
//!
//! Valid alterations of one request are committed together. Results: successful deletions,
//! then successful upsertions, then errors. SASL/SCRAM authentication itself is a later issue.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Mac, SimpleHmac};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, RequestHeader,
};
use sha2::{Digest, Sha256, Sha512};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::{internal, ApiError, Broker};
use crate::metadata::{MetadataImage, MetadataRecord};

/// Kafka's `ScramMechanism.SCRAM_SHA_256.type()`.
pub const SCRAM_SHA_256: i8 = 1;
/// Kafka's `ScramMechanism.SCRAM_SHA_512.type()`.
pub const SCRAM_SHA_512: i8 = 2;
/// Fewest iterations Kafka accepts for either mechanism (`ScramMechanism.minIterations`).
pub const ITERATIONS_MIN: i32 = 4096;
/// Most iterations Kafka's controller accepts (`ScramControlManager.MAX_ITERATIONS`).
pub const ITERATIONS_MAX: i32 = 16384;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let results = broker
        .commit_with(|img| plan(img, &req))
        .unwrap_or_else(|e| {
            let e = internal(e);
            let mut users: Vec<&str> = req
                .deletions
                .iter()
                .map(|d| d.name.as_str())
                .chain(req.upsertions.iter().map(|u| u.name.as_str()))
                .collect();
            users.dedup();
            users
                .into_iter()
                .map(|u| result(u, Err(e.clone())))
                .collect()
        });
    AlterUserScramCredentialsResponse::default().with_results(results)
}

fn result(user: &str, r: Result<(), ApiError>) -> AlterUserScramCredentialsResult {
    let (code, message) = match r {
        Ok(()) => (0, None),
        Err(e) => (e.code.code(), e.message.map(sb)),
    };
    AlterUserScramCredentialsResult::default()
        .with_user(sb(user))
        .with_error_code(code)
        .with_error_message(message)
}

/// RFC 5802's StoredKey and ServerKey for `salted_password` under `mechanism` (1 or 2).
/// Panics on another mechanism (validated before).
pub fn stored_and_server_key(mechanism: i8, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn keys<D: Digest + hmac::digest::core_api::BlockSizeUser + Clone>(
        salted: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let hmac = |msg: &[u8]| {
            let mut m = SimpleHmac::<D>::new_from_slice(salted).expect("HMAC takes any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = hmac(b"Client Key");
        (D::digest(&client_key).to_vec(), hmac(b"Server Key"))
    }
    match mechanism {
        SCRAM_SHA_256 => keys::<Sha256>(salted_password),
        SCRAM_SHA_512 => keys::<Sha512>(salted_password),
        m => panic!("unknown SCRAM mechanism {m}"),
    }
}

fn unacceptable(m: &str) -> ApiError {
    ApiError::new(ErrorCode::UnacceptableCredential, m)
}

fn validate_user_and_mechanism(user: &str, mechanism: i8) -> Result<(), ApiError> {
    if user.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    if mechanism != SCRAM_SHA_256 && mechanism != SCRAM_SHA_512 {
        return Err(ApiError::new(
            ErrorCode::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        ));
    }
    Ok(())
}

fn validate_deletion(img: &MetadataImage, d: &ScramCredentialDeletion) -> Result<(), ApiError> {
    validate_user_and_mechanism(d.name.as_str(), d.mechanism)?;
    let exists = img
        .scram
        .get(d.name.as_str())
        .is_some_and(|c| c.contains_key(&d.mechanism));
    if !exists {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            "Attempt to delete a user credential that does not exist",
        ));
    }
    Ok(())
}

fn validate_upsertion(u: &ScramCredentialUpsertion) -> Result<(), ApiError> {
    validate_user_and_mechanism(u.name.as_str(), u.mechanism)?;
    if u.iterations < ITERATIONS_MIN {
        return Err(unacceptable("Too few iterations"));
    }
    if u.iterations > ITERATIONS_MAX {
        return Err(unacceptable("Too many iterations"));
    }
    if u.salted_password.is_empty() {
        return Err(unacceptable("Salted password must not be empty"));
    }
    Ok(())
}

/// The records that apply `req` to `img`, and the per-user results.
pub fn plan(
    img: &MetadataImage,
    req: &AlterUserScramCredentialsRequest,
) -> (Vec<MetadataRecord>, Vec<AlterUserScramCredentialsResult>) {
    let dup = || {
        ApiError::new(
            ErrorCode::DuplicateResource,
            "A user credential cannot be altered twice in the same request",
        )
    };
    // Errors in first-seen order; accepted alterations by user.
    let mut errors: Vec<(String, ApiError)> = Vec::new();
    let has_error = |errors: &Vec<(String, ApiError)>, u: &str| errors.iter().any(|(n, _)| n == u);
    let mut deletions: BTreeMap<String, &ScramCredentialDeletion> = BTreeMap::new();
    let mut upsertions: BTreeMap<String, &ScramCredentialUpsertion> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for d in &req.deletions {
        let user = d.name.to_string();
        if has_error(&errors, &user) {
            continue;
        }
        if deletions.remove(&user).is_some() {
            errors.push((user, dup()));
            continue;
        }
        match validate_deletion(img, d) {
            Ok(()) => {
                order.push(user.clone());
                deletions.insert(user, d);
            }
            Err(e) => errors.push((user, e)),
        }
    }
    for u in &req.upsertions {
        let user = u.name.to_string();
        if has_error(&errors, &user) {
            continue;
        }
        if deletions.remove(&user).is_some() || upsertions.remove(&user).is_some() {
            errors.push((user, dup()));
            continue;
        }
        match validate_upsertion(u) {
            Ok(()) => {
                order.push(user.clone());
                upsertions.insert(user, u);
            }
            Err(e) => errors.push((user, e)),
        }
    }
    let mut recs = Vec::new();
    let mut results = Vec::new();
    for user in order.iter().filter(|u| deletions.contains_key(*u)) {
        let d = deletions[user];
        recs.push(MetadataRecord::RemoveUserScramCredential {
            name: user.clone(),
            mechanism: d.mechanism,
        });
        results.push(result(user, Ok(())));
    }
    for user in order.iter().filter(|u| upsertions.contains_key(*u)) {
        let u = upsertions[user];
        let (stored_key, server_key) = stored_and_server_key(u.mechanism, &u.salted_password);
        recs.push(MetadataRecord::UserScramCredential {
            name: user.clone(),
            mechanism: u.mechanism,
            salt: u.salt.to_vec(),
            stored_key,
            server_key,
            iterations: u.iterations,
        });
        results.push(result(user, Ok(())));
    }
    results.extend(errors.into_iter().map(|(u, e)| result(&u, Err(e))));
    (recs, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion::default()
            .with_name(sb(user))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(Bytes::from_static(b"salt"))
            .with_salted_password(Bytes::from_static(&[7; 32]))
    }

    fn delete(user: &str, mechanism: i8) -> ScramCredentialDeletion {
        ScramCredentialDeletion::default()
            .with_name(sb(user))
            .with_mechanism(mechanism)
    }

    fn run(
        img: &mut MetadataImage,
        deletions: Vec<ScramCredentialDeletion>,
        upsertions: Vec<ScramCredentialUpsertion>,
    ) -> Vec<(String, i16)> {
        let req = AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions);
        let (recs, results) = plan(img, &req);
        for r in &recs {
            img.apply(r);
        }
        results
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect()
    }

    #[test]
    fn rfc_7677_test_vector_keys() {
        // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations
        // give this SaltedPassword; these StoredKey/ServerKey reproduce the RFC's ClientProof
        // (computed independently with Python's hashlib and hmac).
        let salted = hex("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
        let (stored, server) = stored_and_server_key(SCRAM_SHA_256, &salted);
        assert_eq!(
            stored,
            hex("586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6")
        );
        assert_eq!(
            server,
            hex("c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5")
        );
        let salted512 = hex("f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d");
        let (stored, server) = stored_and_server_key(SCRAM_SHA_512, &salted512);
        assert_eq!(stored, hex("e8002e6f7d3ae446119b216933644dc2a2be7869eb918b8459b5e7d7d2ec12606aceef106825cd735170a675fd3611f684affad1dce3f43a0ee43bd590e1dbbe"));
        assert_eq!(server, hex("8d91db6230b5687874fe129bc7206e1858c3ae08e02934f57ac03b6b05a229c459d28ff46f5c9611e6c179256490215ec1ff759cb0df285db89af0f99e613aac"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn upsert_replace_and_delete() {
        let mut img = MetadataImage::default();
        assert_eq!(
            run(&mut img, vec![], vec![upsert("alice", 1, 8192)]),
            vec![("alice".into(), 0)]
        );
        assert_eq!(
            run(&mut img, vec![], vec![upsert("alice", 2, 4096)]),
            vec![("alice".into(), 0)]
        );
        assert_eq!(img.scram["alice"][&1].iterations, 8192);
        assert_eq!(img.scram["alice"][&2].iterations, 4096);
        assert_eq!(
            run(
                &mut img,
                vec![delete("alice", 2)],
                vec![upsert("alice", 1, 4096)]
            ),
            vec![("alice".into(), ErrorCode::DuplicateResource.code())]
        );
        assert_eq!(
            img.scram["alice"].len(),
            2,
            "a refused request changes nothing"
        );
        assert_eq!(img.scram["alice"][&1].salt, b"salt");
        assert_eq!(
            img.scram["alice"][&1].stored_key,
            stored_and_server_key(1, &[7; 32]).0
        );
        run(&mut img, vec![], vec![upsert("alice", 1, 16384)]);
        assert_eq!(img.scram["alice"][&1].iterations, 16384);
        assert_eq!(
            run(&mut img, vec![delete("alice", 2)], vec![]),
            vec![("alice".into(), 0)]
        );
        run(&mut img, vec![delete("alice", 1)], vec![]);
        assert!(img.scram.is_empty());
    }

    #[test]
    fn validation_errors() {
        let mut img = MetadataImage::default();
        let cases = [
            (
                vec![],
                vec![upsert("", 1, 4096)],
                ErrorCode::UnacceptableCredential,
            ),
            (
                vec![],
                vec![upsert("u", 1, 4095)],
                ErrorCode::UnacceptableCredential,
            ),
            (
                vec![],
                vec![upsert("u", 1, 16385)],
                ErrorCode::UnacceptableCredential,
            ),
            (
                vec![],
                vec![upsert("u", 3, 4096)],
                ErrorCode::UnsupportedSaslMechanism,
            ),
            (
                vec![],
                vec![upsert("u", 0, 4096)],
                ErrorCode::UnsupportedSaslMechanism,
            ),
            (
                vec![],
                vec![upsert("u", 1, 4096).with_salted_password(Bytes::new())],
                ErrorCode::UnacceptableCredential,
            ),
            (vec![delete("u", 1)], vec![], ErrorCode::ResourceNotFound),
            (
                vec![],
                vec![upsert("u", 1, 4096), upsert("u", 2, 4096)],
                ErrorCode::DuplicateResource,
            ),
            // Deletions are checked first: the missing credential is the error reported.
            (
                vec![delete("u", 1)],
                vec![upsert("u", 2, 4096)],
                ErrorCode::ResourceNotFound,
            ),
        ];
        for (d, u, code) in cases {
            let user = u.first().map_or("u".to_string(), |u| u.name.to_string());
            let r = run(&mut img, d, u);
            assert_eq!(r, vec![(user, code.code())], "{code:?}");
        }
        assert!(img.scram.is_empty(), "nothing applied");
    }

    #[test]
    fn one_bad_user_does_not_stop_another() {
        let mut img = MetadataImage::default();
        let r = run(
            &mut img,
            vec![delete("ghost", 1)],
            vec![upsert("alice", 1, 4096), upsert("bob", 2, 100)],
        );
        assert_eq!(
            r,
            vec![
                ("alice".into(), 0),
                ("ghost".into(), ErrorCode::ResourceNotFound.code()),
                ("bob".into(), ErrorCode::UnacceptableCredential.code())
            ]
        );
        assert_eq!(img.scram.len(), 1);
    }
}
