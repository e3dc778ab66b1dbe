//! What the queue-time layer costs a request, measured in the same run:
//! `queue-time-layer/dynoprobe` (a trivial service behind `QueueTimeLayer`, with a Heroku
//! `X-Request-Start` to parse, the histogram recorded into an installed Prometheus recorder
//! and `X-Queue-Time` formatted onto the response) vs `queue-time-layer/bare` (the same
//! service and request without the layer). Building the request is outside the timing.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dynoprobe::QueueTimeLayer;
use http::{Request, Response};
use tower::{Layer, Service, service_fn};

/// Polls a future that is ready at once, as both services' futures are.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the bench's service is always ready"),
    }
}

fn request() -> Request<()> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Request::builder()
        .header("x-request-start", format!("t={}", ms.saturating_sub(3)))
        .body(())
        .unwrap_or_else(|e| unreachable!("a constant request: {e}"))
}

fn layer(c: &mut Criterion) {
    // A real exporter, as in `dynoprobe serve`; the benchmark never renders it.
    let _prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    let inner = || service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut layered = QueueTimeLayer::new().layer(inner());
    let mut bare = inner();
    let mut group = c.benchmark_group("queue-time-layer");
    group.bench_function("dynoprobe", |b| {
        b.iter_batched(
            request,
            |r| black_box(now(layered.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare", |b| {
        b.iter_batched(
            request,
            |r| black_box(now(bare.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
