//! Every test runs under a limit: [`with_timeout`].

use std::cell::RefCell;
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, mpsc};
use std::thread;
use std::time::Duration;

/// A child process, shared by its owner and the [`with_timeout`] that must
/// kill it when the test hangs.
pub(crate) type ChildSlot = Arc<Mutex<Option<Child>>>;

/// The processes started inside one [`with_timeout`] body.
#[derive(Default)]
struct Scope {
    children: Mutex<Vec<Weak<Mutex<Option<Child>>>>>,
}

impl Scope {
    /// Kills and reaps every process still alive.
    fn kill_all(&self) {
        for slot in lock(&self.children).drain(..) {
            if let Some(slot) = slot.upgrade()
                && let Some(child) = lock(&slot).as_mut()
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
}

/// Records `slot` in the current [`with_timeout`] body, if any, so that a
/// timeout kills its process.
pub(crate) fn register(slot: &ChildSlot) {
    SCOPE.with(|scope| {
        if let Some(scope) = &*scope.borrow() {
            let mut children = lock(&scope.children);
            children.retain(|c| c.strong_count() > 0);
            children.push(Arc::downgrade(slot));
        }
    });
}

/// Locks `mutex`, whether or not a panicking test poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `body` on a thread of its own and fails the test if it does not
/// finish within `limit`: a hang detector, not a timing assertion (give a
/// generous limit). A panic in `body` is re-raised as the test's own.
///
/// The thread carries the test's name (the skip messages of [`missing`]
/// use it). When the limit passes, the test server processes started on
/// that thread ([`MongoServer`], [`CqlServer`], [`ServerProcess`]) are
/// killed before the test fails: a hung test leaves no process behind.
///
/// [`missing`]: crate::missing
/// [`MongoServer`]: crate::MongoServer
/// [`CqlServer`]: crate::CqlServer
/// [`ServerProcess`]: crate::ServerProcess
///
/// # Panics
///
/// When `body` panics or runs longer than `limit`.
#[track_caller]
pub fn with_timeout<F: FnOnce() + Send + 'static>(limit: Duration, body: F) {
    let scope = Arc::new(Scope::default());
    let body_scope = Arc::clone(&scope);
    let (done_tx, done_rx) = mpsc::channel();
    let mut builder = thread::Builder::new();
    if let Some(name) = thread::current().name() {
        builder = builder.name(name.to_owned());
    }
    let handle = builder
        .spawn(move || {
            SCOPE.with(|s| *s.borrow_mut() = Some(body_scope));
            body();
            let _ = done_tx.send(());
        })
        .expect("cannot spawn the test's thread");
    match done_rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            scope.kill_all();
            panic!("test did not finish within {limit:?} (it hangs)");
        }
    }
}
