//! The machine's limits, without a broker: what produce, fetch and fsync-before-acknowledge
//! could reach at best on this machine.
//!
//! The "server" thread stands where the broker would (pinned with `--server-cpu`), the
//! "client" thread where the load generator would (`--client-cpu`); both talk over loopback
//! TCP. Files are created in `--dir` and removed afterwards.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Instant;

use crate::common::{self, Deadline, Result};

/// The loopback probes: `probe-recv-to-file` (the client writes `bytes` into the socket, the
/// server appends them to a file) and `probe-sendfile` (the server sends a cached file of
/// `bytes` with sendfile, the client reads it).
#[derive(clap::Args)]
pub struct LoopbackArgs {
    /// Bytes that cross the socket.
    #[arg(long)]
    pub bytes: u64,
    /// Bytes per read, write or sendfile call.
    #[arg(long, default_value_t = 1 << 20)]
    pub chunk: usize,
    /// Where the file goes (the filesystem of the broker's data dir).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    #[arg(long)]
    pub server_cpu: Option<usize>,
    #[arg(long)]
    pub client_cpu: Option<usize>,
    #[arg(long, default_value_t = 600.0)]
    pub timeout_secs: f64,
}

#[derive(clap::Args)]
pub struct FdatasyncArgs {
    /// Total bytes appended.
    #[arg(long)]
    pub bytes: u64,
    /// Bytes appended between two fdatasync calls.
    #[arg(long)]
    pub bytes_per_sync: u64,
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Stop early (counting what was done) after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub max_secs: f64,
}

/// A file in `dir` removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(dir: &Path, what: &str) -> TempFile {
        TempFile(dir.join(format!("strom-bench-{what}-{}.tmp", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs `server` on one accepted loopback connection and `client` on the connecting side, each
/// on its own thread and CPU. Returns the server's result.
fn over_loopback<S, C, T>(
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
    server: S,
    client: C,
) -> Result<T>
where
    S: FnOnce(TcpStream) -> Result<T> + Send + 'static,
    C: FnOnce(TcpStream) -> Result<()> + Send + 'static,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err("bind"))?;
    let addr = listener.local_addr().map_err(io_err("local_addr"))?;
    let s = thread::spawn(move || -> Result<T> {
        common::pin_thread(server_cpu)?;
        let (sock, _) = listener.accept().map_err(io_err("accept"))?;
        server(sock)
    });
    let c = thread::spawn(move || -> Result<()> {
        common::pin_thread(client_cpu)?;
        let sock = TcpStream::connect(addr).map_err(io_err("connect"))?;
        client(sock)
    });
    let cr = c.join().map_err(|_| "client thread panicked".to_string());
    let sr = s.join().map_err(|_| "server thread panicked".to_string())?;
    cr??;
    sr
}

pub fn recv_to_file(a: &LoopbackArgs) -> Result<serde_json::Value> {
    let deadline = Deadline::after_secs(a.timeout_secs);
    let path = TempFile::new(&a.dir, "recv");
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path.0)
        .map_err(io_err("create file"))?;
    let (bytes, chunk) = (a.bytes, a.chunk.max(1));
    let (seconds, written) = over_loopback(
        a.server_cpu,
        a.client_cpu,
        move |mut sock| {
            let mut buf = vec![0u8; chunk];
            let mut written = 0u64;
            let start = Instant::now();
            loop {
                let n = sock.read(&mut buf).map_err(io_err("read"))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).map_err(io_err("write file"))?;
                written += n as u64;
                deadline.check("probe-recv-to-file")?;
            }
            Ok((start.elapsed().as_secs_f64(), written))
        },
        move |mut sock| {
            let buf = common::payload(chunk, 7);
            let mut sent = 0u64;
            while sent < bytes {
                let n = (bytes - sent).min(chunk as u64) as usize;
                sock.write_all(&buf[..n]).map_err(io_err("write socket"))?;
                sent += n as u64;
                deadline.check("probe-recv-to-file")?;
            }
            sock.shutdown(Shutdown::Write).map_err(io_err("shutdown"))
        },
    )?;
    if written != bytes {
        return Err(format!("{written} of {bytes} bytes arrived"));
    }
    Ok(serde_json::json!({
        "bytes": written,
        "seconds": seconds,
        "mb_per_sec": common::mb_per_sec(written, seconds),
    }))
}

pub fn sendfile(a: &LoopbackArgs) -> Result<serde_json::Value> {
    let deadline = Deadline::after_secs(a.timeout_secs);
    let path = TempFile::new(&a.dir, "sendfile");
    let chunk = a.chunk.max(1);
    {
        // The file, written through the page cache, and read once so it is all cached.
        let mut f = File::create_new(&path.0).map_err(io_err("create file"))?;
        let buf = common::payload(chunk, 11);
        let mut left = a.bytes;
        while left > 0 {
            let n = left.min(chunk as u64) as usize;
            f.write_all(&buf[..n]).map_err(io_err("write file"))?;
            left -= n as u64;
            deadline.check("probe-sendfile (writing the file)")?;
        }
        let mut f = File::open(&path.0).map_err(io_err("open file"))?;
        let mut buf = vec![0u8; chunk];
        while f.read(&mut buf).map_err(io_err("read file"))? > 0 {
            deadline.check("probe-sendfile (reading the file)")?;
        }
    }
    let file = File::open(&path.0).map_err(io_err("open file"))?;
    let bytes = a.bytes;
    let (seconds, received) = over_loopback(
        a.client_cpu,
        a.server_cpu,
        // The receiving side (the consumer) is the one that accepted here; it times the run.
        move |mut sock| {
            let mut buf = vec![0u8; chunk];
            let mut got = 0u64;
            let start = Instant::now();
            loop {
                let n = sock.read(&mut buf).map_err(io_err("read"))?;
                if n == 0 {
                    break;
                }
                got += n as u64;
                deadline.check("probe-sendfile")?;
            }
            Ok((start.elapsed().as_secs_f64(), got))
        },
        move |sock| {
            let mut offset = 0u64;
            while offset < bytes {
                let n = (bytes - offset).min(chunk as u64) as usize;
                let sent = rustix::fs::sendfile(&sock, &file, Some(&mut offset), n)
                    .map_err(|e| format!("sendfile: {e}"))?;
                if sent == 0 {
                    return Err(format!("sendfile: end of file at {offset}"));
                }
                deadline.check("probe-sendfile")?;
            }
            sock.shutdown(Shutdown::Write).map_err(io_err("shutdown"))
        },
    )?;
    if received != bytes {
        return Err(format!("{received} of {bytes} bytes arrived"));
    }
    Ok(serde_json::json!({
        "bytes": received,
        "seconds": seconds,
        "mb_per_sec": common::mb_per_sec(received, seconds),
    }))
}

pub fn fdatasync(a: &FdatasyncArgs) -> Result<serde_json::Value> {
    if a.bytes_per_sync == 0 {
        return Err("--bytes-per-sync must be positive".into());
    }
    common::pin_thread(a.cpu)?;
    let path = TempFile::new(&a.dir, "fdatasync");
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path.0)
        .map_err(io_err("create file"))?;
    let chunk = a.bytes_per_sync.min(1 << 20) as usize;
    let buf = common::payload(chunk, 13);
    let start = Instant::now();
    let (mut written, mut syncs) = (0u64, 0u64);
    while written < a.bytes && start.elapsed().as_secs_f64() < a.max_secs {
        let mut left = a.bytes_per_sync.min(a.bytes - written);
        while left > 0 {
            let n = left.min(chunk as u64) as usize;
            f.write_all(&buf[..n]).map_err(io_err("write"))?;
            left -= n as u64;
            written += n as u64;
        }
        f.sync_data().map_err(io_err("fdatasync"))?;
        syncs += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "bytes": written,
        "syncs": syncs,
        "bytes_per_sync": a.bytes_per_sync,
        "seconds": seconds,
        "mb_per_sec": common::mb_per_sec(written, seconds),
        "syncs_per_sec": syncs as f64 / seconds,
        "mean_write_and_sync_us": seconds * 1e6 / syncs.max(1) as f64,
    }))
}
