//! Kafka's wire error codes. [`ErrorCode`] is the generated enum of the `kafka-protocol` crate,
//! whose numbers are Kafka's `Errors.java` numbers; they never change meaning. Typed errors of
//! other crates are mapped to these codes only in the `server` crate.

pub use kafka_protocol::error::ResponseError as ErrorCode;

/// The wire code for success.
pub const NONE: i16 = 0;

/// Wire code of an optional error: 0 for `None`.
pub fn code(e: Option<ErrorCode>) -> i16 {
    e.map_or(NONE, |e| e.code())
}
