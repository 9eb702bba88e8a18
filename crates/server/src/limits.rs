//! Every limit of the request path, in one place, units last (DESIGN decision 7).
//! Config-driven limits (`socket.request.max.bytes`, `max.message.bytes`) live in `config`.

/// Upper bound on a produced batch's decompressed size when validating it, in bytes (raised
/// to 32 x `max.message.bytes` for topics with a larger limit). A batch that inflates past it
/// is refused with INVALID_RECORD rather than decompressed without end.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Responses one connection may have waiting to be sent (requests handled, answers pending,
/// such as Produce requests waiting for their fsync). When full, the connection stops reading
/// requests until the oldest answer is sent.
pub const CONNECTION_RESPONSES_QUEUED_MAX: usize = 32;

/// A response whose file ranges (Fetch records) add up to at most this many bytes is read
/// into memory and written with one `write`, instead of `write` + `sendfile` + `write`: for
/// small fetches the extra system calls and TCP segments cost more than the copy.
pub const RESPONSE_INLINE_FILE_BYTES_MAX: u64 = 16 * 1024;
