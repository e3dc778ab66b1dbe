//! What the queue-time layer costs a request, measured in the same run: `dynoprobe` (a
//! trivial service behind `QueueTimeLayer`: its headers scanned, `X-Request-Start` parsed,
//! the clock read, the histogram recorded into an installed Prometheus recorder and
//! `X-Queue-Time` formatted onto the response) vs `bare` (the same service and request
//! without the layer). Building the request is outside the timing.
//!
//! Three requests. `queue-time-layer`: as an axum app behind Heroku's router receives one,
//! with the router's dozen headers, an extension already there (axum's router inserts the
//! matched path before the route's layers run) and a response that has a content type.
//! `queue-time-layer-minimal`: one header, no extension, an empty response, where the layer
//! also pays for the first allocation of the response's header map. And
//! `queue-time-layer-extension`: the Heroku request through a layer built `with_extension()`,
//! which also puts the queue time in the request's extensions.
//!
//! On a noisy host the two, measured seconds apart, differ by more than the layer costs (a
//! Heroku request's "bare" time moved by a microsecond between runs here); the target, at
//! most 150 ns added, is read from `queue-time-layer-paired/{name}` (`heroku`, `minimal`,
//! `heroku-extension`), which alternates the two block by block and prints the mean
//! difference per request with its 95% interval.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dynoprobe::QueueTimeLayer;
use http::{Request, Response, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service, service_fn};

mod support;

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

/// Requests between two scrapes: one scrape every 15 s at 1,000 requests a second is 15,000.
const SCRAPE_EVERY: u64 = 15_000;

/// `X-Request-Start` as Heroku writes it: 3 ms ago, in ms.
fn request_start() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("t={}", ms.saturating_sub(3))
}

/// A request as Heroku's router forwards it to an axum route.
fn heroku_request() -> Request<()> {
    /// What axum's router has put in the extensions by the time a route's layers run.
    #[derive(Clone)]
    struct MatchedPath(#[expect(dead_code, reason = "only its presence matters")] &'static str);
    let mut request = Request::builder()
        .uri("/orders/17")
        .header(header::HOST, "example.herokuapp.com")
        .header(header::USER_AGENT, "curl/8.5.0")
        .header(header::ACCEPT, "*/*")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("x-request-id", "4f0d1b5c-6a55-4a57-9a0e-8a2f1a7c3b21")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-port", "443")
        .header("via", "1.1 vegur")
        .header("connect-time", "0")
        .header("x-request-start", request_start())
        .header("total-route-time", "0")
        .body(())
        .unwrap_or_else(|e| unreachable!("a constant request: {e}"));
    request.extensions_mut().insert(MatchedPath("/orders/{id}"));
    request
}

/// One header, nothing else.
fn minimal_request() -> Request<()> {
    Request::builder()
        .header("x-request-start", request_start())
        .body(())
        .unwrap_or_else(|e| unreachable!("a constant request: {e}"))
}

fn typed_response() -> Response<()> {
    let mut response = Response::new(());
    let text = header::HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_TYPE, text);
    response
}

/// The layered and the bare service on the requests `request` makes, answering `respond`: one
/// after the other (`queue-time-layer{suffix}/dynoprobe`, `…/bare`), then alternated block by
/// block (`queue-time-layer-paired/{name}`). The recorder is drained every [`SCRAPE_EVERY`]
/// requests, outside the timing, as a scrape drains it: never drained, its histogram grows
/// by a block every 64 requests.
fn compare(c: &mut Criterion, prometheus: &PrometheusHandle, request: Requests) {
    let respond = request.respond;
    let inner =
        move || service_fn(move |_: Request<()>| async move { Ok::<_, Infallible>(respond()) });
    let mut layered = request.layer.layer(inner());
    let mut bare = inner();
    let mut made = 0u64;
    let mut make = || {
        made += 1;
        if made.is_multiple_of(SCRAPE_EVERY) {
            prometheus.run_upkeep();
        }
        (request.make)()
    };
    let mut group = c.benchmark_group(format!("queue-time-layer{}", request.suffix));
    group.bench_function("dynoprobe", |b| {
        b.iter_batched(
            &mut make,
            |r| black_box(now(layered.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare", |b| {
        b.iter_batched(
            &mut make,
            |r| black_box(now(bare.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("queue-time-layer-paired");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut added_ns: Vec<f64> = Vec::new();
    group.bench_function(request.name, |b| {
        b.iter_custom(|pairs| {
            let mut layered_time = Duration::ZERO;
            for _ in 0..pairs {
                let mut block = || (0..BLOCK).map(|_| make()).collect::<Vec<_>>();
                let (first, second) = (block(), block());
                let layered_first = added_ns.len().is_multiple_of(2);
                let (with, without) = if layered_first {
                    (serve(&mut layered, first), serve(&mut bare, second))
                } else {
                    let without = serve(&mut bare, first);
                    (serve(&mut layered, second), without)
                };
                added_ns.push((with.as_nanos() as f64 - without.as_nanos() as f64) / BLOCK as f64);
                layered_time += with;
            }
            layered_time
        })
    });
    group.finish();
    print_added(request.name, &added_ns);
}

/// A kind of request and the response the service gives it.
#[derive(Clone, Copy)]
struct Requests {
    make: fn() -> Request<()>,
    respond: fn() -> Response<()>,
    /// The layer as the service builds it.
    layer: QueueTimeLayer,
    /// Its paired bench's name (`queue-time-layer-paired/{name}`).
    name: &'static str,
    /// The unpaired group's name after `queue-time-layer`.
    suffix: &'static str,
}

/// Requests per block in the paired comparison: few, as a server frees a request before the
/// next arrives. With 256, the frees of a whole block piled up in glibc's unsorted bin and
/// the exporter's next histogram block (`calloc`, one every 64 records) sorted them all:
/// 136,000 instructions each by callgrind, +874 ns a request charged to the layer.
const BLOCK: usize = 16;

/// The time `service` takes to answer every request of `requests`, responses dropped.
fn serve<S>(service: &mut S, requests: Vec<Request<()>>) -> Duration
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let start = Instant::now();
    for request in requests {
        let Ok(response) = now(service.call(request));
        black_box(response);
    }
    start.elapsed()
}

/// The mean time the layer added per request over the pairs of blocks, with its 95% interval
/// ([`support::mean_with_interval`]; three runs here: +447 to +481 ns).
fn print_added(name: &str, added_ns: &[f64]) {
    let Some((mean, half)) = support::mean_with_interval(added_ns) else {
        return;
    };
    let n = added_ns.len();
    println!(
        "queue-time layer ({name}): {mean:+.0} ns a request, 95% interval [{:+.0}, {:+.0}], \
         {n} pairs of {BLOCK}-request blocks (layered − bare, alternated)",
        mean - half,
        mean + half,
    );
}

fn layer(c: &mut Criterion) {
    // A real exporter, as in `dynoprobe serve`.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .unwrap_or_else(|e| panic!("no recorder was installed before: {e}"));
    let heroku = Requests {
        make: heroku_request,
        respond: typed_response,
        layer: QueueTimeLayer::new(),
        name: "heroku",
        suffix: "",
    };
    let minimal = Requests {
        make: minimal_request,
        respond: || Response::new(()),
        layer: QueueTimeLayer::new(),
        name: "minimal",
        suffix: "-minimal",
    };
    let handed_to_handlers = Requests {
        layer: QueueTimeLayer::new().with_extension(),
        name: "heroku-extension",
        suffix: "-extension",
        ..heroku
    };
    compare(c, &prometheus, heroku);
    compare(c, &prometheus, minimal);
    compare(c, &prometheus, handed_to_handlers);
}

criterion_group!(benches, layer);
criterion_main!(benches);
