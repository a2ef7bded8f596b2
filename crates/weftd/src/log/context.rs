//! The request id the running code serves, so that every log line and
//! audit record an API request causes carries it.
//!
//! The API's middleware runs each request inside [`scope`] (a tokio
//! task-local); work it hands to a blocking thread goes through
//! [`spawn_blocking`], which carries the id over as a thread-local for the
//! closure's duration ([`enter`]). [`current`] reads either. Code outside a
//! request sees `None`.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static TASK_REQUEST: Arc<str>;
}

thread_local! {
    static THREAD_REQUEST: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The id of the request this thread or task serves, if any.
#[must_use]
pub fn current() -> Option<Arc<str>> {
    THREAD_REQUEST.with(|r| r.borrow().clone()).or_else(|| TASK_REQUEST.try_with(Clone::clone).ok())
}

/// Runs `fut` as the request `id` (the API's middleware).
pub async fn scope<F: Future>(id: Arc<str>, fut: F) -> F::Output {
    TASK_REQUEST.scope(id, fut).await
}

/// Marks this thread as serving `id` until the guard drops (the previous
/// id, if any, comes back then).
#[must_use = "the id is cleared when the guard drops"]
pub fn enter(id: Option<Arc<str>>) -> Entered {
    let previous = THREAD_REQUEST.with(|r| r.replace(id));
    Entered { previous }
}

/// Restores the thread's previous request id when dropped (see [`enter`]).
pub struct Entered {
    previous: Option<Arc<str>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        THREAD_REQUEST.with(|r| *r.borrow_mut() = previous);
    }
}

/// `tokio::task::spawn_blocking` that keeps the caller's request id.
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let id = current();
    tokio::task::spawn_blocking(move || {
        let _in = enter(id);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_serves_a_request_only_while_the_guard_lives() {
        assert!(current().is_none());
        {
            let _outer = enter(Some(Arc::from("a")));
            {
                let _inner = enter(Some(Arc::from("b")));
                assert_eq!(current().as_deref(), Some("b"));
            }
            assert_eq!(current().as_deref(), Some("a"));
        }
        assert!(current().is_none());
    }

    #[test]
    fn blocking_work_keeps_the_request_id_of_the_task_that_spawned_it() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let seen =
            rt.block_on(scope(Arc::from("r-42"), async { spawn_blocking(current).await.unwrap() }));
        assert_eq!(seen.as_deref(), Some("r-42"));
        assert!(rt.block_on(async { spawn_blocking(current).await }).unwrap().is_none());
    }
}
