//! Listeners and connections: Kafka framing (`int32 size` + request), one task per connection.
//!
//! Requests on one connection are handled one after another, and answered in order, by a
//! reader and a writer task joined by a queue of replies. A request's effects happen before
//! the next request is read (as in Kafka, which mutes a channel while its request is in
//! flight), but a reply may wait in the queue while the reader goes on: a Produce waiting for
//! its fsync (`flush.messages`) lets the next requests append, so one fsync covers them all
//! (group commit). At most `CONNECTION_RESPONSES_QUEUED_MAX` replies wait.
//!
//! A frame whose size is zero, negative or above `socket.request.max.bytes` closes the
//! connection before anything is allocated for it, and a frame's buffer grows only as its
//! bytes actually arrive.
//!
//! Responses are written piece by piece ([`Response`]): bytes with `write`, segment-file
//! ranges with `sendfile(2)`. A file range that comes up short (its segment was truncated
//! after the read) cannot be patched once the size prefix is out, so the connection is closed
//! and the client retries, as Kafka does.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::dispatch;
use crate::limits::{CONNECTION_RESPONSES_QUEUED_MAX, RESPONSE_INLINE_FILE_BYTES_MAX};
use crate::response::{Chunk, Reply, Response};
use strom_log::FileSlice;

/// Per-connection read buffer (kept small: idle connections should cost little).
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Initial buffer for a frame; it grows as the frame's bytes arrive.
const FRAME_CHUNK_BYTES: usize = 64 * 1024;

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let b = broker.clone();
                    let sd = shutdown.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(b, stream, sd).await {
                            tracing::debug!(%peer, "connection closed: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame size {0} is outside 1..={1} (socket.request.max.bytes)")]
    FrameSize(i32, usize),
    #[error("{0}")]
    Protocol(String),
}

async fn connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let peer = stream.peer_addr().ok();
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(CONNECTION_RESPONSES_QUEUED_MAX);
    let mut writer = tokio::spawn(write_loop(broker.clone(), wr, rx));
    let (read, written) = match read_loop(&broker, peer, rd, tx, shutdown, &mut writer).await {
        Ok(ReadEnd::WriterEnded(w)) => (Ok(()), w),
        // The queue is closed: the writer sends what is queued, then ends.
        other => (other.map(|_| ()), writer.await),
    };
    match written {
        Ok(Err(e)) => Err(e),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        _ => read,
    }
}

type WriterResult = Result<Result<(), ConnectionError>, tokio::task::JoinError>;

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed, or shutdown began.
    Done,
    /// The writer ended first, with this result.
    WriterEnded(WriterResult),
}

/// Reads and handles requests one after another (each request's effects happen before the
/// next is read) and queues their replies for the writer, in order.
async fn read_loop(
    broker: &Arc<Broker>,
    peer: Option<std::net::SocketAddr>,
    rd: OwnedReadHalf,
    tx: mpsc::Sender<Reply>,
    mut shutdown: watch::Receiver<bool>,
    writer: &mut tokio::task::JoinHandle<Result<(), ConnectionError>>,
) -> Result<ReadEnd, ConnectionError> {
    let mut rd = BufReader::with_capacity(READ_BUFFER_BYTES, rd);
    let max = broker.config.socket_request_max_bytes();
    loop {
        let size = tokio::select! {
            r = rd.read_i32() => match r {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(ReadEnd::Done),
                Err(e) => return Err(e.into()),
            },
            _ = shutdown.changed() => return Ok(ReadEnd::Done),
            // The writer ended (the peer stopped reading, or a reply failed): stop too.
            w = &mut *writer => return Ok(ReadEnd::WriterEnded(w)),
        };
        if size <= 0 || size as usize > max {
            tracing::warn!(
                ?peer,
                size,
                "closing connection: frame size outside 1..={max}"
            );
            return Err(ConnectionError::FrameSize(size, max));
        }
        let frame = read_frame(&mut rd, size as usize).await?;
        let ctx = dispatch::Context { peer };
        broker.requests_in_flight.fetch_add(1, Ordering::AcqRel);
        match dispatch::handle(broker, &ctx, frame).await {
            Ok(reply) => {
                if tx.send(reply).await.is_err() {
                    // The writer is gone; it counted nothing for this reply.
                    broker.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
                    return Ok(ReadEnd::Done);
                }
            }
            Err(e) => {
                broker.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
                tracing::info!(?peer, "closing connection: {e}");
                return Err(ConnectionError::Protocol(e));
            }
        }
    }
}

/// Sends the queued replies in request order, waiting for each pending one.
async fn write_loop(
    broker: Arc<Broker>,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Reply>,
) -> Result<(), ConnectionError> {
    while let Some(reply) = rx.recv().await {
        let result = match reply {
            Reply::None => Ok(()),
            Reply::Now(resp) => write_response(&mut wr, resp).await,
            Reply::Later(task) => match task.await {
                Ok(Ok(Some(resp))) => write_response(&mut wr, resp).await,
                Ok(Ok(None)) => Ok(()),
                Ok(Err(e)) => Err(ConnectionError::Protocol(e)),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(ConnectionError::Protocol(format!("reply task: {e}"))),
            },
        };
        broker.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Err(e) = result {
            // Replies still queued are dropped; count them out.
            rx.close();
            while let Some(r) = rx.recv().await {
                if let Reply::Later(t) = r {
                    let _ = t.await;
                }
                broker.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Writes a response's pieces in order. A response with little file data is read into memory
/// and written at once: one `pread` and one `write` (one TCP segment for the client to wake up
/// for) cost less than a `write`, a `sendfile` and another `write`.
async fn write_response(wr: &mut OwnedWriteHalf, resp: Response) -> Result<(), ConnectionError> {
    if resp.chunks.len() > 1 && resp.file_bytes() <= RESPONSE_INLINE_FILE_BYTES_MAX {
        let bytes = resp.to_bytes()?;
        wr.write_all(&bytes).await?;
        return Ok(());
    }
    for chunk in resp.chunks {
        match chunk {
            Chunk::Mem(b) => wr.write_all(&b).await?,
            Chunk::File(s) => send_file(wr.as_ref(), &s).await?,
        }
    }
    Ok(())
}

/// Sends `slice` from its file to the socket with sendfile(2), waiting for the socket to be
/// writable as needed. Errors: the socket's, or `UnexpectedEof` when the file ends before the
/// range does.
async fn send_file(sock: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let mut offset = i64::try_from(slice.position).map_err(std::io::Error::other)?;
    let mut left = slice.len as usize;
    while left > 0 {
        sock.writable().await?;
        let r = sock.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(sock, &*slice.file, Some(&mut offset), left)
                .map_err(std::io::Error::from)
        });
        match r {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "segment file ended {left} bytes before the range being sent (truncated?)"
                    ),
                ))
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_frame<R: AsyncReadExt + Unpin>(rd: &mut R, size: usize) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(size.min(FRAME_CHUNK_BYTES));
    while buf.len() < size {
        if buf.capacity() == buf.len() {
            buf.reserve((size - buf.len()).min(buf.len().max(FRAME_CHUNK_BYTES)));
        }
        let want = size - buf.len();
        let n = (&mut *rd).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}
