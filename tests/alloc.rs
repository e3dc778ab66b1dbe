//! After the first snapshot, taking more allocates nothing; nor does a Span after its first,
//! nor the spin's attribution of a gap (its reads after a gap) after its first reading.
//! Proved with a global allocator that counts each thread's allocations, in its own test
//! binary. Per thread, because the harness's own threads allocate when they please: counted
//! for the whole process, a window of 100 snapshots caught 4 of theirs in 1 run of 400 with
//! four copies running at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dynoprobe::jitter::attribute::{Attributor, Rules};
use dynoprobe::signal::kconfig::Accounting;
use dynoprobe::signal::snapshot::Sampler;
use dynoprobe::span::Span;

struct Counting;

thread_local! {
    /// This thread's allocations. A const-initialised `Cell` needs no allocation and no
    /// destructor, so the allocator may touch it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes this thread has allocated and not freed (what another thread frees of them is
    /// not seen), and the most of them held at once since [`reset_peak`].
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn count_one() {
    // Never fails: no destructor, so the slot is never torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn hold(bytes: i64) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + bytes);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

/// Starts a new peak at what this thread holds now; returns that.
#[cfg(feature = "workloads")]
fn reset_peak() -> i64 {
    let live = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(live));
    live
}

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        hold(layout.size() as i64);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        hold(-(layout.size() as i64));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        hold(new_size as i64 - layout.size() as i64);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Everything measured on this test's thread.
#[test]
fn snapshots_and_spans_do_not_allocate_after_the_first() {
    let mut sampler = Sampler::new();
    let mut snapshot = sampler.take();
    sampler.take_into(&mut snapshot);
    let before = allocations();
    for _ in 0..100 {
        sampler.take_into(&mut snapshot);
    }
    let snapshot_allocations = allocations() - before;

    let _ = Span::start().finish(); // opens this thread's schedstat file
    let before = allocations();
    let mut total = 0;
    for _ in 0..100 {
        total += Span::start().finish().wall_ns;
    }
    let span_allocations = allocations() - before;

    let mut attributor = Attributor::new(1.0, 0, Rules::of(&Accounting::read()));
    let mut causes = Vec::with_capacity(100);
    let before = allocations();
    for gap in 1..=100u64 {
        causes.push(attributor.attribute(gap * 10_000, 5_000));
    }
    let attribution_allocations = allocations() - before;
    assert_eq!(attribution_allocations, 0, "100 attributions allocated");
    assert_eq!(causes.len(), 100);

    assert_eq!(snapshot_allocations, 0, "100 snapshots allocated");
    assert_eq!(span_allocations, 0, "100 spans allocated");
    assert!(total > 0);
    assert!(
        snapshot.stat.is_ok(),
        "/proc/stat was read: {:?}",
        snapshot.stat.err()
    );
}

/// Each workload's stated footprint bounds what it allocates at once, prepared and in a
/// run (so serve's check before a batch asks for enough), and is no more than twice that
/// plus 1 MiB (so the check does not refuse what would fit).
#[cfg(feature = "workloads")]
#[test]
fn each_workloads_footprint_bounds_what_it_allocates() {
    let inputs = dynoprobe::workload::Inputs::shipped();
    let within =
        |stated: u64, peak: i64| stated as i64 >= peak && stated as i64 <= 2 * peak + (1 << 20);
    for spec in dynoprobe::workload::catalog() {
        let start = reset_peak();
        let mut workload = spec.prepare(&inputs).unwrap();
        let prepare = PEAK.with(Cell::get) - start;
        let prepared = reset_peak();
        for _ in 0..3 {
            workload.run().unwrap();
        }
        let run = PEAK.with(Cell::get) - prepared;
        drop(workload);
        let stated = spec.footprint(&inputs);
        eprintln!(
            "{}: prepare {:.1} MiB (states {:.1}), a run {:.1} MiB more (states {:.1})",
            spec.name,
            prepare as f64 / 1048576.0,
            stated.prepare as f64 / 1048576.0,
            run as f64 / 1048576.0,
            stated.run as f64 / 1048576.0,
        );
        assert!(
            within(stated.prepare, prepare),
            "{}: {stated:?}, prepare {prepare}",
            spec.name
        );
        assert!(
            within(stated.run, run),
            "{}: {stated:?}, run {run}",
            spec.name
        );
    }
}

/// The queue-time layer allocates one thing a request beyond what the bare service does:
/// its response header's value; `with_extension` adds the extension's box. Counted with no
/// recorder installed (the exporter's own allocations are its own), on a request that
/// already has extensions and a response that already has a header, as axum hands them over.
#[cfg(feature = "tower")]
#[test]
fn the_queue_time_layer_allocates_only_its_response_header() {
    use std::convert::Infallible;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use std::time::{SystemTime, UNIX_EPOCH};

    use dynoprobe::QueueTimeLayer;
    use http::{Request, Response, header};
    use tower::{Layer, Service, service_fn};

    #[derive(Clone)]
    struct Matched;
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let request_start = format!("t={}", since_epoch.as_millis() - 3);
    let make = || {
        let mut request = Request::builder()
            .header(header::HOST, "example.herokuapp.com")
            .header("x-request-start", &request_start)
            .body(())
            .unwrap();
        request.extensions_mut().insert(Matched);
        request
    };
    let inner = || {
        service_fn(|_: Request<()>| async {
            let mut response = Response::new(());
            let text = header::HeaderValue::from_static("text/plain");
            response.headers_mut().insert(header::CONTENT_TYPE, text);
            Ok::<_, Infallible>(response)
        })
    };
    // The allocations of one request's call and response, the request built before.
    fn allocated<S>(service: &mut S, request: Request<()>) -> u64
    where
        S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
    {
        let before = allocations();
        let mut future = std::pin::pin!(service.call(request));
        let Poll::Ready(Ok(response)) = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        else {
            panic!("the service answers at once");
        };
        let allocated = allocations() - before;
        assert!(response.headers().contains_key(header::CONTENT_TYPE));
        allocated
    }
    let mut bare = inner();
    let mut layered = QueueTimeLayer::new().layer(inner());
    let mut with_extension = QueueTimeLayer::new().with_extension().layer(inner());
    let bare_count = allocated(&mut bare, make());
    assert_eq!(
        allocated(&mut layered, make()),
        bare_count + 1,
        "the header's value"
    );
    assert_eq!(
        allocated(&mut with_extension, make()),
        bare_count + 2,
        "the header's value and the extension's box"
    );
}
