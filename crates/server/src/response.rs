//! A response as the connection writes it: in-memory bytes and, for Fetch, ranges of segment
//! files. File ranges are sent with `sendfile(2)`, so record bytes go from the page cache to
//! the socket without being copied through user space (Kafka does the same with
//! `FileChannel.transferTo`).
//!
//! A [`Response`] holds the whole frame, the 4-byte size prefix included.

use bytes::{BufMut, Bytes, BytesMut};
use strom_log::FileSlice;

/// One piece of a response frame.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Bytes in memory.
    Mem(Bytes),
    /// `len` bytes of a segment file at `position`, sent with sendfile.
    File(FileSlice),
}

/// A response frame (size prefix included), in the order its pieces go on the wire.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub chunks: Vec<Chunk>,
}

impl From<Bytes> for Response {
    fn from(b: Bytes) -> Self {
        Response {
            chunks: vec![Chunk::Mem(b)],
        }
    }
}

impl Chunk {
    /// Bytes this piece puts on the wire.
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Mem(b) => b.len() as u64,
            Chunk::File(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Response {
    /// Total bytes on the wire, size prefix included.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(Chunk::len).sum()
    }

    /// Bytes of the response that are file ranges.
    pub fn file_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| matches!(c, Chunk::File(_)))
            .map(Chunk::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame in one buffer, reading the file ranges (tests, and small responses
    /// where one write beats sendfile).
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let mut out = BytesMut::with_capacity(self.len() as usize);
        for c in &self.chunks {
            match c {
                Chunk::Mem(b) => out.put_slice(b),
                Chunk::File(s) => {
                    let at = out.len();
                    out.resize(at + s.len as usize, 0);
                    s.file.read_exact_at(&mut out[at..], s.position)?;
                }
            }
        }
        Ok(out.freeze())
    }
}

/// Builds a [`Response`]: bytes are written into the current in-memory piece, and
/// [`ResponseWriter::file`] closes it and appends a file range. [`ResponseWriter::finish`]
/// fills in the frame's size prefix.
#[derive(Debug)]
pub struct ResponseWriter {
    /// The first piece, starting with the size prefix; kept mutable until `finish`.
    head: BytesMut,
    /// The pieces after `head` that are complete.
    rest: Vec<Chunk>,
    /// The in-memory piece being written after the last file range, once there is one.
    tail: Option<BytesMut>,
}

impl Default for ResponseWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseWriter {
    /// A writer whose first 4 bytes are the size prefix, filled in by `finish`.
    pub fn new() -> Self {
        let mut head = BytesMut::with_capacity(256);
        head.put_i32(0);
        ResponseWriter {
            head,
            rest: Vec::new(),
            tail: None,
        }
    }

    /// The in-memory buffer being written.
    pub fn buf(&mut self) -> &mut BytesMut {
        self.tail.as_mut().unwrap_or(&mut self.head)
    }

    /// Appends a file range after the bytes written so far.
    pub fn file(&mut self, slice: FileSlice) {
        if slice.len == 0 {
            return;
        }
        if let Some(t) = self.tail.replace(BytesMut::with_capacity(128)) {
            if !t.is_empty() {
                self.rest.push(Chunk::Mem(t.freeze()));
            }
        }
        self.rest.push(Chunk::File(slice));
    }

    /// The frame, with its size prefix. Panics if the frame exceeds `i32::MAX` bytes, which
    /// the fetch budget (an `i32`) rules out.
    pub fn finish(mut self) -> Response {
        if let Some(t) = self.tail.take().filter(|t| !t.is_empty()) {
            self.rest.push(Chunk::Mem(t.freeze()));
        }
        let total = self.head.len() as u64 + self.rest.iter().map(Chunk::len).sum::<u64>();
        let size = i32::try_from(total - 4).expect("response frame larger than i32::MAX bytes");
        self.head[0..4].copy_from_slice(&size.to_be_bytes());
        let mut chunks = Vec::with_capacity(1 + self.rest.len());
        chunks.push(Chunk::Mem(self.head.freeze()));
        chunks.append(&mut self.rest);
        Response { chunks }
    }
}

/// What the connection does after handling one request.
pub enum Reply {
    /// Nothing to send (a Produce with acks=0).
    None,
    /// A response ready now.
    Now(Response),
    /// A response that is ready once the task finishes (a Produce waiting for its fsync).
    /// The connection keeps reading and handling the next requests meanwhile and sends the
    /// responses in request order. `Err`: close the connection, with the reason.
    Later(tokio::task::JoinHandle<Result<Option<Response>, String>>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::None => write!(f, "Reply::None"),
            Reply::Now(r) => write!(f, "Reply::Now({} bytes)", r.len()),
            Reply::Later(_) => write!(f, "Reply::Later"),
        }
    }
}

impl From<Option<Response>> for Reply {
    fn from(r: Option<Response>) -> Self {
        match r {
            Some(r) => Reply::Now(r),
            None => Reply::None,
        }
    }
}
