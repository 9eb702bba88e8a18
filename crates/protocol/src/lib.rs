//! Strom's Kafka wire codec: the parts Strom owns on top of the generated
//! [`kafka_protocol`] message types.
//!
//! - [`batch`]: RecordBatch v2 framing (the 61-byte header, CRC32C, attributes), used by the
//!   broker to validate produced batches and by the log to recover segments.
//! - [`records`]: the records inside a batch (varints, headers) and their compression codecs.
//! - [`error`]: Kafka's wire error codes, numbered exactly as Kafka numbers them.
//!
//! Invariants: no IO, no async, no allocation sized by a length field read from input before
//! the bytes it claims have been seen to exist.

pub mod batch;
pub mod error;
pub mod records;

pub use kafka_protocol;
