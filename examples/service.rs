//! An axum service with dynoprobe embedded: the background probe's contention metrics and
//! each request's queue time behind the router, at `/metrics` for the shipped alert rules
//! and dashboard (`monitoring/`).
//!
//! ```text
//! cargo run --release --example service            # listens on 127.0.0.1:$PORT (3000)
//! curl -H "X-Request-Start: t=$(date +%s%3N)" localhost:3000/orders/7
//! curl localhost:3000/metrics | grep dynoprobe_
//! ```
//!
//! In a real service, add `dynoprobe = { version = "0.1", default-features = false,
//! features = ["prometheus", "tower"] }`: no CLI, no HTTP server of ours.

use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Json, Router};
use dynoprobe::{QueueTime, QueueTimeLayer};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The exporter, every metric described and labelled with $DYNO (or the host name), and
    // the probe sampling every second; it stops when `metrics` is dropped.
    let metrics = dynoprobe::prometheus::install()?;
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .route("/metrics", get(move || async move { metrics.render() }))
        .layer(QueueTimeLayer::new().with_extension());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
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
