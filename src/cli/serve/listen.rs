//! Accepting connections as a public web process must: a header-read timeout, at most
//! [`MAX_CONNECTIONS`] at once (then [`MAX_OVERFLOW`] answered "busy"), accept errors waited
//! out rather than fatal, and on shutdown every connection given [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How long a client may take to send a request's headers, counted from when the server is
/// ready to read them: a silent or trickling connection, or an idle keep-alive one, is
/// closed after this. Routers send headers at once; 10 s is generous for a slow network.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed as they arrive. Far above what a dyno's
/// router opens, and half a process's default limit of 1024 file descriptors, which leaves
/// room for the probe's and the exporter's files.
pub const MAX_CONNECTIONS: usize = 512;
/// Connections beyond [`MAX_CONNECTIONS`] served at once by the overflow router, one request
/// each; more are closed as they arrive. They are not reset: the overflow router answers
/// `/healthz` and says "busy, retry" to the rest, so one client holding every connection
/// cannot make the platform's health check fail or leave other clients without an answer.
pub const MAX_OVERFLOW: usize = 64;
/// How long an overflow connection may take to send its request's headers.
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connections get to finish on shutdown: a batch stops within a run, so this is
/// the time to write the last answers. A PaaS sends SIGKILL 30 s after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The pause after a failed accept (no file descriptor left), before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves, then lets connections finish
/// for up to [`SHUTDOWN_GRACE`]; connections beyond the limit get one answer from
/// `overflow`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    overflow: Router,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let overflow_permits = Arc::new(Semaphore::new(MAX_OVERFLOW));
    let (closing, closing_seen) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if let Ok(permit) = overflow_permits.clone().try_acquire_owned() {
                tokio::spawn(answer_once(stream, overflow.clone(), permit));
            }
            continue; // else dropped: closed at once
        };
        let service = TowerToHyperService::new(router.clone());
        let mut closing_seen = closing_seen.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closing_seen.changed() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    let _ = closing.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}

/// Serves one request on `stream` with `router`, then closes it.
async fn answer_once(
    stream: tokio::net::TcpStream,
    router: Router,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(OVERFLOW_HEADER_TIMEOUT)
        .keep_alive(false);
    let service = TowerToHyperService::new(router);
    let _ = http.serve_connection(TokioIo::new(stream), service).await;
}
