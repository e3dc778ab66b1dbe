//! The server's routes and their answers: `/run` a batch, `/probe` the probe's reading,
//! `/metrics` the scrape, `/healthz` alive; every 4xx body JSON.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use dynoprobe::prometheus::Metrics;
use dynoprobe::report::batch::{BatchError, BatchRequest};

use super::bench::Bench;

/// What a busy server tells the client to wait, seconds.
const RETRY_AFTER_SECONDS: u32 = 1;
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// What every handler shares.
#[derive(Clone)]
pub(super) struct App {
    pub(super) bench: Arc<Bench>,
    /// The exporter and the background probe.
    pub(super) metrics: Metrics,
    /// Required on /run and /probe when set.
    pub(super) token: Option<Arc<str>>,
}

pub(super) async fn run(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let request =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or(""))
            .map_err(|e| format!("the query is not form-encoded: {e}"))
            .and_then(|pairs| BatchRequest::from_pairs(&pairs));
    let request = match request {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let Some(started) = app.bench.try_start() else {
        return busy(
            StatusCode::TOO_MANY_REQUESTS,
            "busy: another batch is running, and two would measure each other; retry later",
        );
    };
    match started.run(request).await {
        Ok(batch) => axum::Json(batch).into_response(),
        Err(failure) => {
            let status = match failure.downcast_ref::<BatchError>() {
                Some(BatchError::NoMemory { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, &format!("{failure:#}"))
        }
    }
}

/// `HEAD /run`: a HEAD must not run a batch, and cannot say what one would answer.
pub(super) async fn no_batch() -> Response {
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    response
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!(
            "{method} {} is not served; every route takes GET",
            uri.path()
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    response
}

pub(super) async fn probe(State(app): State<App>) -> Response {
    axum::Json(app.metrics.probe().latest().as_ref().clone()).into_response()
}

pub(super) async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

pub(super) async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no route {}; try GET /run?workload=NAME&runs=N, /probe, /metrics or /healthz",
            uri.path()
        ),
    )
}

/// A JSON error that asks the client to come back after [`RETRY_AFTER_SECONDS`].
pub(super) fn busy(status: StatusCode, message: &str) -> Response {
    let mut response = error(status, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
    response
}

/// A JSON error body: `{"error": "..."}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
