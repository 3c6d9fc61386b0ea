//! Signals over a local unix socket, length-prefixed JSON frames (to be written).

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::SignalInput;

/// Where to listen.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// The socket's path (created 0600, removed on exit).
    pub path: PathBuf,
    /// The largest frame accepted, in bytes.
    pub max_frame_bytes: usize,
}

/// A bound socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct SocketServer {
    cfg: SocketConfig,
}

impl SocketServer {
    /// Bind the socket.
    pub fn bind(cfg: SocketConfig) -> std::io::Result<Self> {
        Ok(Self { cfg })
    }

    /// Serve clients in a task until `tx` closes.
    pub fn spawn(self, tx: mpsc::Sender<SignalInput>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let _keep = self;
            tx.closed().await;
        })
    }
}

impl SocketServer {
    /// The socket's path.
    pub fn path(&self) -> &std::path::Path {
        &self.cfg.path
    }
}
