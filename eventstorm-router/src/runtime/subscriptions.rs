//! Subscription propagation: what the outputs' subscribers ask for goes
//! upstream through every input, narrowed to what the rules can send.

use std::collections::BTreeSet;

use super::RouterRuntime;
use crate::error::Result;

impl RouterRuntime {
    /// The upstream prefixes: each downstream prefix narrowed to the types
    /// its output can receive.
    pub(super) fn wanted(&self) -> BTreeSet<Vec<u8>> {
        let mut wanted = BTreeSet::new();
        for (output, reachable) in self.outputs.iter().zip(&self.reachable) {
            for p in &output.socket.subscriptions().raw_prefixes() {
                match reachable {
                    None => {
                        wanted.insert(p.clone());
                    }
                    Some(list) => {
                        for q in list {
                            if p.starts_with(q) {
                                wanted.insert(p.clone());
                            } else if q.starts_with(p) {
                                wanted.insert(q.clone());
                            }
                        }
                    }
                }
            }
        }
        wanted
    }

    /// Sends the changes in the wanted prefixes to every input.
    pub(super) fn propagate(&mut self) -> Result<()> {
        let wanted = self.wanted();
        for prefix in wanted.difference(&self.upstream) {
            tracing::debug!(prefix = %String::from_utf8_lossy(prefix), "subscribing upstream");
            for input in &mut self.inputs {
                input.subscribe(prefix)?;
            }
        }
        for prefix in self.upstream.difference(&wanted) {
            tracing::debug!(prefix = %String::from_utf8_lossy(prefix), "unsubscribing upstream");
            for input in &mut self.inputs {
                input.unsubscribe(prefix)?;
            }
        }
        self.upstream = wanted;
        Ok(())
    }

    /// Sends every upstream prefix again (after a peer connected). Upstream
    /// XPUB sockets ignore a repeated subscription from the same peer.
    pub(super) fn resubscribe(&mut self) -> Result<()> {
        if self.upstream.is_empty() {
            return Ok(());
        }
        self.counters.runtime.resubscribes.inc();
        for prefix in &self.upstream {
            for input in &mut self.inputs {
                input.subscribe(prefix)?;
            }
        }
        Ok(())
    }
}
