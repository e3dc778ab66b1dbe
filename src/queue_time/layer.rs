//! The queue-time tower `Layer` (feature `tower`), its service and its metrics.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{MAX_QUEUE, QueueTime, Starts};

/// Histogram of queue time, seconds (a skewed request records 0).
pub const REQUEST_QUEUE_SECONDS: &str = "dynoprobe_request_queue_seconds";
/// Requests whose start lay in the future: router and app clocks disagree.
pub const REQUEST_QUEUE_SKEWED_TOTAL: &str = "dynoprobe_request_queue_skewed_total";
/// Requests with a queue header that said no usable time.
pub const REQUEST_QUEUE_INVALID_TOTAL: &str = "dynoprobe_request_queue_invalid_total";
/// The response header carrying the measured queue time in milliseconds.
pub const QUEUE_TIME_HEADER: &str = "x-queue-time";
/// Heroku's own (deprecated, unreliable) figure; removed so handlers see one truth.
pub const HEROKU_WAIT_HEADER: &str = "x-heroku-queue-wait-time";

/// Describes the layer's metrics (unit and meaning) to the installed recorder; call once.
pub(crate) fn describe() {
    metrics::describe_histogram!(
        REQUEST_QUEUE_SECONDS,
        metrics::Unit::Seconds,
        "Time from the router's X-Request-Start to the app receiving the request. High: too few dynos/processes, or a slow CPU (see dynoprobe's contention metrics)."
    );
    metrics::describe_counter!(
        REQUEST_QUEUE_SKEWED_TOTAL,
        metrics::Unit::Count,
        "Requests whose X-Request-Start lay in the future: router and app clocks disagree; their queue time is recorded as 0."
    );
    metrics::describe_counter!(
        REQUEST_QUEUE_INVALID_TOTAL,
        metrics::Unit::Count,
        "Requests with an X-Request-Start or X-Queue-Start header that held no usable time."
    );
}

/// A tower `Layer` for axum, hyper or tonic services: measures each request's queue time
/// from its headers ([`classify`](crate::classify)), records it through the `metrics`
/// facade (so any exporter works), and reports it to the client as `X-Queue-Time: <ms>`;
/// [`with_extension`](Self::with_extension) also hands it to the handler.
///
/// ```no_run
/// use dynoprobe::{QueueTime, QueueTimeLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// dynoprobe::describe_metrics();
/// let layer = QueueTimeLayer::new().with_extension();
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(
///     |request: http::Request<()>| async move {
///         let queued = request.extensions().get::<QueueTime>().copied();
///         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{queued:?}")))
///     },
/// ));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct QueueTimeLayer {
    window: Duration,
    extension: bool,
}

impl Default for QueueTimeLayer {
    fn default() -> Self {
        QueueTimeLayer {
            window: MAX_QUEUE,
            extension: false,
        }
    }
}

impl QueueTimeLayer {
    /// A layer that believes a start up to [`MAX_QUEUE`] away from now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Believes a start only up to `window` away from now (at most [`MAX_QUEUE`]): a start
    /// further away is counted as invalid and not recorded. Behind a router that gives up on
    /// a request after 30 s, a 30 s window lets no client's header add more than that.
    pub fn window(self, window: Duration) -> Self {
        QueueTimeLayer {
            window: window.min(MAX_QUEUE),
            ..self
        }
    }

    /// Also puts each request's [`QueueTime`] in its extensions, for handlers that log it or
    /// shed load on it (axum: `Extension<QueueTime>`). Off by default: the extension is an
    /// allocation and a map insert, ~90 ns a request on a one-header request, where it also
    /// allocates the extensions' map (`cargo bench --bench queue_time -- paired`).
    pub fn with_extension(self) -> Self {
        QueueTimeLayer {
            extension: true,
            ..self
        }
    }
}

impl<S> Layer<S> for QueueTimeLayer {
    type Service = QueueTimeService<S>;

    /// Wraps `inner`, registering the layer's metrics with the recorder installed now: build
    /// the layer's services after installing it.
    fn layer(&self, inner: S) -> Self::Service {
        QueueTimeService {
            inner,
            window: self.window,
            extension: self.extension,
            handles: Arc::new(Handles {
                queue: metrics::histogram!(REQUEST_QUEUE_SECONDS),
                skewed: metrics::counter!(REQUEST_QUEUE_SKEWED_TOTAL),
                invalid: metrics::counter!(REQUEST_QUEUE_INVALID_TOTAL),
            }),
        }
    }
}

/// Measures queue time, then calls the inner service.
#[derive(Debug, Clone)]
pub struct QueueTimeService<S> {
    inner: S,
    window: Duration,
    /// Whether the queue time goes into the request's extensions.
    extension: bool,
    /// Registered once: looking a metric up by name took about 200 ns a request.
    handles: Arc<Handles>,
}

/// The layer's metrics, as registered with the recorder.
struct Handles {
    queue: metrics::Histogram,
    skewed: metrics::Counter,
    invalid: metrics::Counter,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handles")
    }
}

/// The request headers read, and the one removed, named once.
const REQUEST_START_HEADER: &str = "x-request-start";
const QUEUE_START_HEADER: &str = "x-queue-start";
static HEROKU_WAIT: HeaderName = HeaderName::from_static(HEROKU_WAIT_HEADER);
static QUEUE_TIME: HeaderName = HeaderName::from_static(QUEUE_TIME_HEADER);

impl<S, B, R> Service<Request<B>> for QueueTimeService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = QueueTimeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // One pass over the headers, names matched as text (length first): on a request
        // with Heroku's dozen headers, ~440 instructions against ~540 for two lookups by name
        // and a removal (callgrind).
        let (mut request_start, mut queue_start) = (Starts::default(), Starts::default());
        let mut heroku_wait = false;
        for (name, value) in request.headers() {
            match name.as_str() {
                REQUEST_START_HEADER => request_start.add(value.as_bytes()),
                QUEUE_START_HEADER => queue_start.add(value.as_bytes()),
                HEROKU_WAIT_HEADER => heroku_wait = true,
                _ => {}
            }
        }
        let now = || {
            let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
            since_epoch.map_or(0, |d| d.as_nanos())
        };
        let starts = request_start.then(queue_start);
        let queue = starts.classify(now, Duration::ZERO, self.window);
        self.handles.record(queue);
        if heroku_wait {
            request.headers_mut().remove(&HEROKU_WAIT);
        }
        if self.extension {
            request.extensions_mut().insert(queue);
        }
        QueueTimeFuture {
            inner: self.inner.call(request),
            queue,
        }
    }
}

impl Handles {
    fn record(&self, queue: QueueTime) {
        match queue {
            QueueTime::Measured(d) => self.queue.record(d.as_secs_f64()),
            QueueTime::Skewed(_) => {
                self.queue.record(0.0);
                self.skewed.increment(1);
            }
            QueueTime::Invalid(_) => self.invalid.increment(1),
            QueueTime::Absent => {}
        }
    }
}

/// `d` in milliseconds with three decimals (to the µs, rounded), as `X-Queue-Time` says it:
/// written into a stack buffer, so the header value's own copy is the only allocation.
fn milliseconds(d: Duration) -> HeaderValue {
    // In u64: a u128 division was a tenth of the header's cost (callgrind).
    let micros = (d.as_secs().saturating_mul(1_000_000))
        .saturating_add(u64::from(d.subsec_nanos() + 500) / 1000);
    let (mut whole, fraction) = (micros / 1000, micros % 1000);
    let mut text = [0u8; 32];
    let mut at = text.len() - 4;
    text[at..].copy_from_slice(&[
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
    loop {
        at -= 1;
        text[at] = b'0' + (whole % 10) as u8;
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    HeaderValue::from_bytes(&text[at..]).unwrap_or_else(|_| HeaderValue::from_static("0.000"))
}

pin_project! {
    /// The inner service's future; adds `X-Queue-Time` to its response.
    pub struct QueueTimeFuture<F> {
        #[pin]
        inner: F,
        queue: QueueTime,
    }
}

impl<F, R, E> Future for QueueTimeFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(queued) = this.queue.duration() {
            response
                .headers_mut()
                .insert(QUEUE_TIME.clone(), milliseconds(queued));
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::{ServiceExt, service_fn};

    use super::*;

    /// Polls a future that is ready at once (our test services never wait).
    fn now<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the test service was not ready at once"),
        }
    }

    fn echo() -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone
    {
        echo_within(MAX_QUEUE)
    }

    fn echo_within(
        window: Duration,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone {
        QueueTimeLayer::new()
            .with_extension()
            .window(window)
            .layer(service_fn(|request: Request<()>| async move {
                let queue = request.extensions().get::<QueueTime>().copied();
                let heroku = request.headers().contains_key(HEROKU_WAIT_HEADER);
                Ok::<_, Infallible>(Response::new(format!("{queue:?} heroku={heroku}")))
            }))
    }

    fn request(headers: &[(&str, String)]) -> Request<()> {
        let mut builder = Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(()).unwrap()
    }

    fn unix_ms() -> u128 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    }

    #[test]
    fn the_header_is_milliseconds_to_three_decimals_as_formatted_before() {
        for ns in [
            0u64,
            499,
            500,
            1_500_000,
            25_000_000,
            1_234_567_800,
            3_600_000_000_000,
        ] {
            let d = Duration::from_nanos(ns);
            let formatted = format!("{:.3}", d.as_secs_f64() * 1e3);
            assert_eq!(milliseconds(d).to_str().unwrap(), formatted, "{ns} ns");
        }
    }

    #[test]
    fn a_heroku_request_gets_its_queue_time_in_extensions_header_and_metrics() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let start = unix_ms() - 250;
        let response = metrics::with_local_recorder(&recorder, || {
            let req = request(&[
                ("x-request-start", format!("t={start}")),
                (HEROKU_WAIT_HEADER, "3".into()),
            ]);
            now(echo().oneshot(req)).unwrap()
        });
        let body = response.body();
        assert!(
            body.starts_with("Some(Measured(") && body.ends_with("heroku=false"),
            "{body}"
        );
        let ms: f64 = response.headers()[QUEUE_TIME_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((250.0..1250.0).contains(&ms), "{ms} ms");
        let metrics = snapshotter.snapshot().into_vec();
        let (_, _, _, value) = metrics
            .iter()
            .find(|(key, ..)| key.key().name() == REQUEST_QUEUE_SECONDS)
            .expect("histogram");
        let DebugValue::Histogram(values) = value else {
            panic!("{value:?}")
        };
        assert_eq!(values.len(), 1);
        assert!((0.25..1.25).contains(&values[0].into_inner()));
    }

    /// The scan finds every value of both headers whatever their order among the others, and
    /// reads them as `classify` does: the earliest start; with none, X-Request-Start's reason.
    #[test]
    fn every_value_of_both_headers_is_read_in_one_scan() {
        let body = |headers: &[(&str, String)]| {
            let response = now(echo().oneshot(request(headers))).unwrap();
            response.into_body()
        };
        let ago = |ms: u128| format!("t={}", unix_ms() - ms);
        let measured = body(&[
            ("x-request-start", "soon".into()),
            ("accept", "*/*".into()),
            ("x-queue-start", ago(5_000)),
            ("x-request-start", ago(300)),
            ("x-forwarded-for", "203.0.113.7".into()),
        ]);
        let seconds: f64 = measured
            .strip_prefix("Some(Measured(")
            .and_then(|rest| rest.split_once("s)"))
            .and_then(|(seconds, _)| seconds.parse().ok())
            .unwrap_or_else(|| panic!("{measured}"));
        assert!((5.0..6.0).contains(&seconds), "{measured}");
        let invalid = body(&[
            ("x-queue-start", "soon".into()),
            ("x-request-start", "a b".into()),
        ]);
        assert_eq!(
            invalid,
            "Some(Invalid(\"several fields and no t=\")) heroku=false"
        );
        assert_eq!(
            body(&[("accept", "*/*".into())]),
            "Some(Absent) heroku=false"
        );
    }

    #[test]
    fn skew_is_counted_and_recorded_as_zero() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let response = metrics::with_local_recorder(&recorder, || {
            let req = request(&[("x-request-start", format!("t={}", unix_ms() + 60_000))]);
            now(echo().oneshot(req)).unwrap()
        });
        assert!(
            response.body().starts_with("Some(Skewed("),
            "{}",
            response.body()
        );
        assert_eq!(response.headers()[QUEUE_TIME_HEADER], "0.000");
        let metrics = snapshotter.snapshot().into_vec();
        let skewed = metrics
            .iter()
            .find(|(key, ..)| key.key().name() == REQUEST_QUEUE_SKEWED_TOTAL);
        assert!(
            matches!(skewed, Some((_, _, _, DebugValue::Counter(1)))),
            "{skewed:?}"
        );
    }

    #[test]
    fn a_start_twenty_years_back_is_counted_invalid_and_adds_nothing_to_the_sum() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let twenty_years_ms = 20 * 365 * 86_400_000;
        let response = metrics::with_local_recorder(&recorder, || {
            let req = request(&[(
                "x-request-start",
                format!("t={}", unix_ms() - twenty_years_ms),
            )]);
            now(echo().oneshot(req)).unwrap()
        });
        assert_eq!(
            response.body(),
            "Some(Invalid(\"further in the past than the queue window\")) heroku=false"
        );
        assert!(!response.headers().contains_key(QUEUE_TIME_HEADER));
        let metrics = snapshotter.snapshot().into_vec();
        let named = |name: &str| metrics.iter().find(|(key, ..)| key.key().name() == name);
        assert!(
            matches!(
                named(REQUEST_QUEUE_INVALID_TOTAL),
                Some((_, _, _, DebugValue::Counter(1)))
            ),
            "{metrics:?}"
        );
        assert!(
            matches!(
                named(REQUEST_QUEUE_SECONDS),
                Some((_, _, _, DebugValue::Histogram(values))) if values.is_empty()
            ),
            "nothing recorded: {metrics:?}"
        );
    }

    #[test]
    fn a_window_refuses_a_start_outside_it_and_is_never_wider_than_an_hour() {
        let minute_ago = || request(&[("x-request-start", format!("t={}", unix_ms() - 60_000))]);
        let within_30s = now(echo_within(Duration::from_secs(30)).oneshot(minute_ago())).unwrap();
        assert!(
            within_30s.body().starts_with("Some(Invalid("),
            "{}",
            within_30s.body()
        );
        let default = now(echo().oneshot(minute_ago())).unwrap();
        assert!(
            default.body().starts_with("Some(Measured("),
            "{}",
            default.body()
        );
        let day = QueueTimeLayer::new().window(Duration::from_secs(86_400));
        assert_eq!(day.window, MAX_QUEUE);
    }

    /// By default the handler finds no extension, yet the client gets its header.
    #[test]
    fn the_extension_is_there_only_when_asked_for() {
        let handler = service_fn(|request: Request<()>| async move {
            let queue = request.extensions().get::<QueueTime>().copied();
            Ok::<_, Infallible>(Response::new(format!("{queue:?}")))
        });
        let second_ago = || request(&[("x-request-start", format!("t={}", unix_ms() - 1_000))]);
        let plain = QueueTimeLayer::new().layer(handler);
        let response = now(plain.oneshot(second_ago())).unwrap();
        assert_eq!(response.body(), "None");
        assert!(response.headers().contains_key(QUEUE_TIME_HEADER));
        let asked = QueueTimeLayer::new()
            .with_extension()
            .window(Duration::from_secs(30));
        assert!(asked.extension, "window keeps with_extension");
        let response = now(asked.layer(handler).oneshot(second_ago())).unwrap();
        assert!(
            response.body().starts_with("Some(Measured("),
            "{}",
            response.body()
        );
    }

    #[test]
    fn absent_and_invalid_headers_add_no_queue_time_header() {
        let response = now(echo().oneshot(request(&[]))).unwrap();
        assert_eq!(response.body(), "Some(Absent) heroku=false");
        assert!(!response.headers().contains_key(QUEUE_TIME_HEADER));
        let response = now(echo().oneshot(request(&[("x-queue-start", "t=soon".into())]))).unwrap();
        assert!(
            response.body().starts_with("Some(Invalid("),
            "{}",
            response.body()
        );
        assert!(!response.headers().contains_key(QUEUE_TIME_HEADER));
    }

    #[test]
    fn ten_thousand_random_header_values_are_classified_without_a_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"t=s 0123456789.,;-+eEnaNxX\x7f";
        let service = echo();
        for _ in 0..10_000 {
            let len = (next() % 24) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let Ok(value) = HeaderValue::from_bytes(&value) else {
                continue;
            };
            let mut req = request(&[]);
            req.headers_mut().insert("x-request-start", value);
            let response = now(service.clone().oneshot(req)).unwrap();
            assert!(response.body().starts_with("Some("), "{}", response.body());
        }
    }
}
