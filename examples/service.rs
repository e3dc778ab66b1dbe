//! An existing axum service with dynoprobe embedded: a background `Probe` publishing
//! contention metrics, and the queue-time layer measuring each request's wait behind the
//! router. Both go through the `metrics` facade; here Prometheus exports them at /metrics.
//!
//! ```text
//! cargo run --release --example service            # listens on 127.0.0.1:3000
//! curl -H "X-Request-Start: t=$(date +%s%3N)" localhost:3000/orders/7
//! curl localhost:3000/metrics | grep dynoprobe_
//! ```
//!
//! In a real service, add `dynoprobe = { version = "0.1", default-features = false,
//! features = ["metrics", "tower"] }`: no CLI, no HTTP server of ours.

use std::time::Duration;

use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Json, Router};
use dynoprobe::probe::Probe;
use dynoprobe::queue_time::QueueTime;
use dynoprobe::queue_time::layer::QueueTimeLayer;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Install an exporter, then describe the metrics to it.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    dynoprobe::probe::metrics::describe_metrics();
    dynoprobe::queue_time::layer::describe_metrics();

    // 2. Start the probe; keep the handle alive as long as the service (dropping it stops it).
    let probe = Probe::builder()
        .interval(Duration::from_secs(1))
        .sleep_jitter(true)
        .start()?;

    // 3. Wrap the routes in the layer.
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .route("/metrics", get(move || async move { prometheus.render() }))
        .layer(QueueTimeLayer::new());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    drop(probe);
    Ok(())
}

/// A handler that reads the request's queue time, as any handler may (to log it beside the
/// request, say, or to shed load when requests have waited too long).
async fn order(
    Path(id): Path<u64>,
    Extension(queued): Extension<QueueTime>,
) -> Json<serde_json::Value> {
    let waited_ms = queued.duration().map(|d| d.as_secs_f64() * 1e3);
    Json(serde_json::json!({ "order": id, "queued_ms": waited_ms }))
}
