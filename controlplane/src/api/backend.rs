//! How handlers reach the [`Service`]: each call runs on the coordinator's thread (which owns
//! it) and its result comes back through a oneshot channel, so handlers never block a runtime
//! thread on the database.

use std::time::Duration;

use crossbeam_channel::Sender;

use crate::coordinator::Message;
use crate::service::{ErrorKind, Service, ServiceError};

/// A handle on the coordinator's thread.
#[derive(Clone)]
pub struct Backend {
    tx: Sender<Message>,
}

/// Longest wait for the coordinator: a bound, not an expectation (calls take microseconds
/// to milliseconds; the scan runs on a thread of its own).
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Longest wait for a scan: indexing reads only directories, but a rescan also waits for
/// scans already queued.
const SCAN_LIMIT: Duration = Duration::from_secs(300);

impl Backend {
    /// A handle sending to the coordinator's channel.
    pub fn new(tx: Sender<Message>) -> Backend {
        Backend { tx }
    }

    /// Runs `f` on the service and returns its result.
    ///
    /// # Errors
    /// The server is stopping or did not answer in time.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Service) -> R + Send + 'static,
    ) -> Result<R, ServiceError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call = Box::new(move |service: &mut Service| {
            let _ = reply.send(f(service));
        });
        self.send(Message::Call(call))?;
        wait(answer, CALL_LIMIT).await
    }

    /// Runs `f` on the service; its error is the request's.
    ///
    /// # Errors
    /// `f`'s, or the server is stopping.
    pub async fn try_call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Service) -> Result<R, ServiceError> + Send + 'static,
    ) -> Result<R, ServiceError> {
        self.call(f).await?
    }

    /// Scans the data dir now and returns once the result is published.
    ///
    /// # Errors
    /// The server is stopping or the scan did not finish in time.
    pub async fn rescan(&self) -> Result<(), ServiceError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Message::Rescan(Some(reply)))?;
        wait(answer, SCAN_LIMIT).await
    }

    fn send(&self, message: Message) -> Result<(), ServiceError> {
        self.tx
            .send(message)
            .map_err(|_| ServiceError::new(ErrorKind::Unavailable, "the server is stopping"))
    }
}

async fn wait<R>(
    answer: tokio::sync::oneshot::Receiver<R>,
    limit: Duration,
) -> Result<R, ServiceError> {
    match tokio::time::timeout(limit, answer).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(_)) => Err(ServiceError::new(
            ErrorKind::Unavailable,
            "the server is stopping",
        )),
        Err(_) => Err(ServiceError::new(
            ErrorKind::Unavailable,
            "the server did not answer in time",
        )),
    }
}
