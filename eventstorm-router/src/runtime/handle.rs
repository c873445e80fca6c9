//! [`RouterHandle`] and the resolved [`Endpoints`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use eventstorm_core::{Stats, ThreadError};

use crate::error::Result;

/// The resolved endpoints of a router's inputs and outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Each input's name and endpoints (`*` ports resolved).
    pub inputs: Vec<(String, Vec<String>)>,
    /// Each output's name and endpoints (`*` ports resolved).
    pub outputs: Vec<(String, Vec<String>)>,
}

impl Endpoints {
    /// The endpoints of the named input.
    pub fn input(&self, name: &str) -> &[String] {
        find(&self.inputs, name)
    }

    /// The endpoints of the named output.
    pub fn output(&self, name: &str) -> &[String] {
        find(&self.outputs, name)
    }
}

fn find<'a>(list: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    list.iter()
        .find(|(n, _)| n == name)
        .map_or(&[], |(_, e)| e.as_slice())
}

/// A router running on its own thread.
#[derive(Debug)]
pub struct RouterHandle {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: Option<JoinHandle<Result<Stats>>>,
    pub(super) snapshot: Arc<Mutex<Stats>>,
    pub(super) endpoints: Endpoints,
}

impl RouterHandle {
    /// The resolved endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The latest snapshot of the counters (at most ~50 ms old).
    pub fn stats(&self) -> Stats {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the router: final marks, final stats line; returns the final stats.
    pub fn shutdown(mut self) -> Result<Stats> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(thread) => ThreadError::join(thread)?,
            None => Err(ThreadError::Stopped {
                thread: "eventstorm-router".into(),
            }
            .into()),
        }
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
