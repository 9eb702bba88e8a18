//! Test-only crate: its integration tests (`tests/`) start a real `strom` process
//! (`target/release/strom`, or `$STROM_BIN`) and drive it through the `rdkafka` crate, the
//! Rust binding of librdkafka. Kept apart so that only this crate builds librdkafka.
