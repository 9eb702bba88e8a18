//! The Strom broker: configuration, the metadata log and image, partitions, listeners and
//! request handling (one module per API under `handlers`). The only crate that owns the
//! tokio runtime's tasks.
//!
//! Boundaries: the `log` crate stores bytes and knows nothing of requests; `protocol` frames
//! batches and knows nothing of IO. This crate maps their typed errors to Kafka error codes.

pub mod broker;
pub mod config;
pub mod dispatch;
pub mod groups;
pub mod handlers;
pub mod limits;
pub mod metadata;
pub mod network;
pub mod response;
pub mod server;
