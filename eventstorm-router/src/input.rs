//! One router input: an XSUB socket that receives events and carries the
//! downstream subscriptions upstream.

use std::collections::HashMap;
use std::sync::Arc;

use eventstorm_core::ReceiveCounters;
use eventstorm_core::transport::{ConnectMonitor, ReceiveKind, SubSocket};

use crate::config::InputConfig;
use crate::error::Result;

pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) socket: SubSocket,
    /// Subscribe messages sent through this XSUB per prefix (its own trie
    /// counts them; an unsubscribe goes upstream when the count is zero).
    sent: HashMap<Vec<u8>, u32>,
    /// Receives connect/accept events when resubscribing on connect.
    pub(crate) monitor: Option<ConnectMonitor>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("endpoints", &self.socket.endpoints())
            .finish_non_exhaustive()
    }
}

impl Input {
    pub(crate) fn open(ctx: &zmq::Context, config: &InputConfig, monitor: bool) -> Result<Input> {
        let socket = SubSocket::open(
            ctx,
            &format!("input `{}`", config.name),
            ReceiveKind::XSub,
            &config.socket,
        )?;
        let monitor = if monitor {
            Some(socket.monitor_connections(ctx)?)
        } else {
            None
        };
        Ok(Input {
            name: config.name.clone(),
            socket,
            sent: HashMap::new(),
            monitor,
        })
    }

    /// The live counters.
    pub(crate) fn counters(&self) -> Arc<ReceiveCounters> {
        self.socket.counters()
    }

    /// Sends a subscribe message upstream.
    pub(crate) fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        self.socket.send_subscription(prefix, true)?;
        *self.sent.entry(prefix.to_vec()).or_insert(0) += 1;
        Ok(())
    }

    /// Cancels a prefix upstream (as many times as it was sent).
    pub(crate) fn unsubscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let times = self.sent.remove(prefix).unwrap_or(0);
        for _ in 0..times {
            self.socket.send_subscription(prefix, false)?;
        }
        Ok(())
    }

    /// Drains the monitor socket; true when a peer connected or was accepted.
    pub(crate) fn peer_connected(&mut self) -> bool {
        self.monitor
            .as_mut()
            .is_some_and(ConnectMonitor::peer_connected)
    }
}
