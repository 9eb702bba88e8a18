//! Running a broker: bind listeners, serve, run periodic log maintenance, and shut down
//! cleanly on request (stop accepting, let in-flight requests finish, flush, checkpoint, write
//! the clean-shutdown marker).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broker::{Broker, SystemClock};
use crate::config::BrokerConfig;

/// How long shutdown waits for in-flight requests before closing connections.
const SHUTDOWN_DRAIN_MS: u64 = 2_000;

/// A running broker: its state and the addresses it listens on.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    pub local_addrs: Vec<std::net::SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Opens the broker and binds its listeners. Errors name what to fix (a port in use, a bad
/// log dir, a data dir of another cluster).
pub async fn start(config: BrokerConfig) -> anyhow::Result<RunningBroker> {
    let started = std::time::Instant::now();
    let cfg = config.clone();
    let broker =
        tokio::task::spawn_blocking(move || Broker::open(cfg, Arc::new(SystemClock))).await??;
    let broker = Arc::new(broker);
    let b = broker.clone();
    tokio::task::spawn_blocking(move || crate::groups::load(&b)).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut local_addrs = Vec::new();
    for l in config.listeners()? {
        let host = if l.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            l.host.clone()
        };
        let listener = TcpListener::bind((host.as_str(), l.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{} ({}): {e}; stop whatever uses the port or change listeners", host, l.port, l.name))?;
        let addr = listener.local_addr()?;
        tracing::info!(listener = %l.name, %addr, "listening");
        local_addrs.push(addr);
        tasks.push(tokio::spawn(crate::network::serve(
            broker.clone(),
            listener,
            shutdown_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(crate::groups::run_timers(
        broker.clone(),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(maintenance(
        broker.clone(),
        shutdown_rx.clone(),
    )));
    tracing::info!(node_id = broker.node_id, cluster_id = %broker.cluster_id, elapsed_ms = started.elapsed().as_millis() as u64, "Strom broker started");
    Ok(RunningBroker {
        broker,
        local_addrs,
        shutdown_tx,
        tasks,
    })
}

impl RunningBroker {
    /// Clean shutdown: stop accepting, drain, flush, checkpoint, write the marker.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        let _ = self.shutdown_tx.send(true);
        let broker = self.broker.clone();
        let drain = async move {
            futures_join(self.tasks).await;
            // Connections stop reading new requests on the signal; let those in flight finish.
            while broker
                .requests_in_flight
                .load(std::sync::atomic::Ordering::Acquire)
                > 0
            {
                broker.data_arrived.notify_waiters();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        if tokio::time::timeout(Duration::from_millis(SHUTDOWN_DRAIN_MS), drain)
            .await
            .is_err()
        {
            tracing::warn!(
                "requests still in flight after {SHUTDOWN_DRAIN_MS} ms; shutting down anyway"
            );
        }
        let b = self.broker.clone();
        tokio::task::spawn_blocking(move || b.shutdown()).await??;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

async fn maintenance(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let retention_ms = broker.config.retention_check_interval_ms().max(1) as u64;
    // Time-based rolls, flush.ms and delete delays want a finer tick than retention checks.
    let tick_ms = retention_ms.min(1_000);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(tick_ms)) => {}
            _ = shutdown.changed() => return,
        }
        let b = broker.clone();
        // Rolls by time, flush.ms, retention, delayed file deletion, then checkpoints.
        let r = tokio::task::spawn_blocking(move || b.logs.maintenance(b.now_ms())).await;
        match r {
            Ok(Err(e)) => tracing::error!("log maintenance failed: {e}"),
            Err(e) => tracing::error!("log maintenance task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}
