//! Request queue time from the router's `X-Request-Start` (or `X-Queue-Start`) header: how
//! long a request waited between the router (Heroku's, nginx, Render's) and the app.

use std::time::Duration;

#[cfg(feature = "tower")]
pub(crate) mod layer;

/// 2000-01-01T00:00:00Z, seconds since the Unix epoch: no router start can be earlier.
pub(crate) const FLOOR_UNIX_S: u64 = 946_684_800;
/// 2100-01-01T00:00:00Z: no router start can be later.
pub(crate) const CEILING_UNIX_S: u64 = 4_102_444_800;

/// The longest queue (and skew) believed by default, and the widest window a layer may be
/// given: a router gives up on a request long before (30 s on Heroku), so more is a broken
/// clock or a forged header. One request with a start 20 years back added 630 million
/// seconds to the queue-time sum before this limit.
pub const MAX_QUEUE: Duration = Duration::from_secs(3600);

/// What a request's headers say about its time in the router's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueTime {
    /// Waited this long (less the body-read time, when given).
    Measured(Duration),
    /// The start lies this far in the future: clock skew between router and app. Queue time
    /// is taken as 0 and the skew counted separately.
    Skewed(Duration),
    /// No `X-Request-Start` or `X-Queue-Start` header.
    Absent,
    /// A header was there but says no usable time.
    Invalid(&'static str),
}

impl QueueTime {
    /// The queue time to record: the measurement, or 0 when skewed; `None` otherwise.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            QueueTime::Measured(d) => Some(*d),
            QueueTime::Skewed(_) => Some(Duration::ZERO),
            QueueTime::Absent | QueueTime::Invalid(_) => None,
        }
    }
}

/// Classifies the values of `X-Request-Start` and `X-Queue-Start` (each header may come more
/// than once) against `now_unix_ns`, after subtracting `body_read` (time the app spent
/// reading the request body before this point); a start further than `window` from now
/// either way is `Invalid`. The earliest start any value gives is the
/// request's, as New Relic takes it: a value that holds no time neither hides a good one in
/// the other header nor lets a later duplicate win. Invalid, with the first reason, only
/// when no value holds a time.
///
/// Routers write the start in different units: seconds with a fraction (nginx
/// `t=${msec}`), milliseconds (Heroku), microseconds, nanoseconds (Render). As mature APM
/// agents do, the unit is told by magnitude: the one that puts the time after 2000-01-01
/// and before 2100-01-01. A start in the future means the router's and the app's clocks
/// disagree: `Skewed`, counted apart, never a negative queue time. A start further away than
/// the window either way is a broken or hostile header: `Invalid`, counted and not recorded,
/// so one request cannot add years to a sum.
///
/// Each router's form of the header, a request that reached the app 50 ms after the router
/// took it:
///
/// ```
/// use std::time::Duration;
/// use dynoprobe::{MAX_QUEUE, QueueTime, classify};
///
/// let now_ns = 1_700_000_000_250_000_000; // 2023-11-14T22:13:20.250Z
/// let queued = |value: &str| classify([value.as_bytes()], [], now_ns, Duration::ZERO, MAX_QUEUE);
/// let fifty_ms = QueueTime::Measured(Duration::from_millis(50));
/// assert_eq!(queued("1700000000200"), fifty_ms); // Heroku: ms
/// assert_eq!(queued("t=1700000000.200"), fifty_ms); // nginx t=${msec}: s with a fraction
/// assert_eq!(queued("t=1700000000200000"), fifty_ms); // µs
/// assert_eq!(queued("1700000000200000000"), fifty_ms); // Render: ns
/// assert_eq!(queued("s=web.1 t=1700000000200"), fifty_ms); // with other fields
/// // A start after now is clock skew, recorded as a queue time of 0.
/// assert_eq!(queued("1700000000300"), QueueTime::Skewed(Duration::from_millis(50)));
/// assert_eq!(queued("1700000000300").duration(), Some(Duration::ZERO));
/// // Ten years back: no queue, a broken or forged header.
/// assert_eq!(
///     queued("1384855200000"),
///     QueueTime::Invalid("further in the past than the queue window")
/// );
/// assert_eq!(queued("soon"), QueueTime::Invalid("not a non-negative decimal number"));
/// assert_eq!(classify([], [], now_ns, Duration::ZERO, MAX_QUEUE), QueueTime::Absent);
/// // Time spent reading the body before the clock was read is not queue time.
/// let body = Duration::from_millis(20);
/// assert_eq!(
///     classify([&b"1700000000200"[..]], [], now_ns, body, MAX_QUEUE),
///     QueueTime::Measured(Duration::from_millis(30))
/// );
/// ```
pub fn classify<'a>(
    request_start: impl IntoIterator<Item = &'a [u8]>,
    queue_start: impl IntoIterator<Item = &'a [u8]>,
    now_unix_ns: u128,
    body_read: Duration,
    window: Duration,
) -> QueueTime {
    let mut starts = Starts::default();
    for value in request_start.into_iter().chain(queue_start) {
        starts.add(value);
    }
    starts.classify(|| now_unix_ns, body_read, window)
}

/// What a request's start headers said, gathered value by value: the earliest time any value
/// gives, and the first reason a value gave none.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Starts {
    earliest_ns: Option<u64>,
    first_invalid: Option<&'static str>,
}

impl Starts {
    pub(crate) fn add(&mut self, value: &[u8]) {
        match parse_start_ns(value) {
            Ok(ns) => self.earliest_ns = Some(self.earliest_ns.map_or(ns, |e| e.min(ns))),
            Err(reason) => {
                self.first_invalid.get_or_insert(reason);
            }
        }
    }

    /// These values, then `later`'s (whose first invalid value comes after all of these): the
    /// layer gathers each header apart in its one scan.
    #[cfg(feature = "tower")]
    pub(crate) fn then(self, later: Starts) -> Starts {
        Starts {
            earliest_ns: match (self.earliest_ns, later.earliest_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            first_invalid: self.first_invalid.or(later.first_invalid),
        }
    }

    /// See [`classify`]; `now_unix_ns` is called only when a value was there (a request
    /// without the headers reads no clock).
    pub(crate) fn classify(
        self,
        now_unix_ns: impl FnOnce() -> u128,
        body_read: Duration,
        window: Duration,
    ) -> QueueTime {
        let start_ns = match (self.earliest_ns, self.first_invalid) {
            (Some(ns), _) => ns,
            (None, Some(reason)) => return QueueTime::Invalid(reason),
            (None, None) => return QueueTime::Absent,
        };
        // In u64 ns, as every start is (2100 is 4.1e18 ns).
        let now_ns = u64::try_from(now_unix_ns()).unwrap_or(u64::MAX);
        let limit_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        if start_ns > now_ns.saturating_add(limit_ns) {
            return QueueTime::Invalid("further in the future than the queue window");
        }
        if start_ns > now_ns {
            return QueueTime::Skewed(Duration::from_nanos(start_ns - now_ns));
        }
        if now_ns - start_ns > limit_ns {
            return QueueTime::Invalid("further in the past than the queue window");
        }
        QueueTime::Measured(Duration::from_nanos(now_ns - start_ns).saturating_sub(body_read))
    }
}

/// The start time in ns since the Unix epoch, from a header value: `t=…` (alone or after other
/// fields such as `s=server`, separated by spaces, commas or semicolons) or a bare number.
/// Read as bytes: a header value is bytes, and every byte of a time is an ASCII digit or `.`.
fn parse_start_ns(value: &[u8]) -> Result<u64, &'static str> {
    // As every router writes it: `t=` and a number, or a number. Else the fields.
    let (whole, fraction) = match decimal(value.strip_prefix(b"t=").unwrap_or(value)) {
        Ok(number) => number,
        Err(_) if value.is_empty() || value.iter().any(is_separator) => {
            decimal(number_field(value)?)?
        }
        Err(reason) => return Err(reason),
    };
    // The unit that puts the time between 2000 and 2100: s, ms, µs or ns.
    for (ns_per_unit, range) in UNITS {
        if range.contains(&whole) {
            // Under 2100 in ns, so no overflow.
            return Ok(whole * ns_per_unit + fraction_ns(fraction, ns_per_unit));
        }
    }
    Err("not a time between 2000 and 2100 in s, ms, µs or ns")
}

/// Each unit a router writes (ns in one), with the numbers that put a time in it between
/// 2000 and 2100.
const UNITS: [(u64, std::ops::Range<u64>); 4] = [
    (1_000_000_000, FLOOR_UNIX_S..CEILING_UNIX_S),
    (1_000_000, FLOOR_UNIX_S * 1_000..CEILING_UNIX_S * 1_000),
    (1_000, FLOOR_UNIX_S * 1_000_000..CEILING_UNIX_S * 1_000_000),
    (
        1,
        FLOOR_UNIX_S * 1_000_000_000..CEILING_UNIX_S * 1_000_000_000,
    ),
];

fn is_separator(byte: &u8) -> bool {
    matches!(byte, b' ' | b',' | b';' | b'\t')
}

/// The field of a header value of several that holds the time: the `t=` field, or the one
/// field there is.
fn number_field(value: &[u8]) -> Result<&[u8], &'static str> {
    let mut fields = value.split(is_separator).filter(|f| !f.is_empty());
    match fields.clone().find_map(|f| f.strip_prefix(b"t=")) {
        Some(number) => Ok(number),
        None => match (fields.next(), fields.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err("empty header"),
            (Some(_), Some(_)) => Err("several fields and no t="),
        },
    }
}

/// A non-negative decimal: its whole part, and the digits of its fraction. The whole part
/// is checked and summed in one pass, as the layer reads it on every request.
fn decimal(number: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    const NOT_DECIMAL: &str = "not a non-negative decimal number";
    let (whole, fraction) = match number.iter().position(|&b| b == b'.') {
        Some(point) => (&number[..point], &number[point + 1..]),
        None => (number, &[][..]),
    };
    if whole.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
        return Err(NOT_DECIMAL);
    }
    // 2100 in ns is under u64::MAX: a longer number is no time in any unit.
    let mut sum = Some(0u64);
    for &byte in whole {
        if !byte.is_ascii_digit() {
            return Err(NOT_DECIMAL);
        }
        sum = sum.and_then(|n| n.checked_mul(10)?.checked_add(u64::from(byte - b'0')));
    }
    Ok((sum.ok_or("number too long")?, fraction))
}

/// `fraction` (the digits after the point) of one unit of `ns_per_unit`, in ns.
fn fraction_ns(fraction: &[u8], ns_per_unit: u64) -> u64 {
    let mut ns = 0;
    let mut scale = ns_per_unit;
    for digit in fraction.iter().take(9) {
        scale /= 10;
        ns += u64::from(digit - b'0') * scale;
    }
    ns
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_S: u128 = 1_763_900_000; // 2025-11-23
    const NOW_NS: u128 = NOW_S * 1_000_000_000;

    fn classify_one(value: &str) -> QueueTime {
        classify(
            Some(value.as_bytes()),
            None,
            NOW_NS,
            Duration::ZERO,
            MAX_QUEUE,
        )
    }

    #[test]
    fn every_unit_routers_use() {
        let ms_ago = |ms: u64| QueueTime::Measured(Duration::from_millis(ms));
        assert_eq!(
            classify_one(&format!("t={}", NOW_S * 1000 - 25)),
            ms_ago(25),
            "Heroku ms"
        );
        assert_eq!(
            classify_one(&format!("t={}.975", NOW_S - 1)),
            ms_ago(25),
            "nginx $msec"
        );
        assert_eq!(
            classify_one(&format!("{}", NOW_S * 1_000_000 - 25_000)),
            ms_ago(25),
            "µs, bare"
        );
        assert_eq!(
            classify_one(&format!("t={}", NOW_NS - 25_000_000)),
            ms_ago(25),
            "Render ns"
        );
        assert_eq!(
            classify_one(&format!("s=router-7 t={}", NOW_S * 1000 - 25)),
            ms_ago(25),
            "after s="
        );
        assert_eq!(
            classify_one(&format!("t={}; s=x", NOW_S * 1000 - 25)),
            ms_ago(25)
        );
    }

    #[test]
    fn the_future_is_skew_and_counts_as_zero() {
        let q = classify_one(&format!("t={}", NOW_S * 1000 + 40));
        assert_eq!(q, QueueTime::Skewed(Duration::from_millis(40)));
        assert_eq!(q.duration(), Some(Duration::ZERO));
    }

    #[test]
    fn body_read_time_is_subtracted_but_never_below_zero() {
        let value = format!("t={}", NOW_S * 1000 - 25);
        let q = classify(
            Some(value.as_bytes()),
            None,
            NOW_NS,
            Duration::from_millis(10),
            MAX_QUEUE,
        );
        assert_eq!(q, QueueTime::Measured(Duration::from_millis(15)));
        let q = classify(
            Some(value.as_bytes()),
            None,
            NOW_NS,
            Duration::from_secs(1),
            MAX_QUEUE,
        );
        assert_eq!(q, QueueTime::Measured(Duration::ZERO));
    }

    #[test]
    fn the_queue_start_header_is_the_fallback() {
        let value = format!("t={}", NOW_S * 1000 - 5);
        assert_eq!(
            classify(
                None,
                Some(value.as_bytes()),
                NOW_NS,
                Duration::ZERO,
                MAX_QUEUE
            )
            .duration(),
            Some(Duration::from_millis(5))
        );
        assert_eq!(
            classify(None, None, NOW_NS, Duration::ZERO, MAX_QUEUE),
            QueueTime::Absent
        );
    }

    #[test]
    fn the_earliest_start_of_any_value_is_the_requests() {
        let at = |ms_ago: u128| format!("t={}", NOW_S * 1000 - ms_ago);
        let (five, nine) = (at(5), at(9));
        // An invalid X-Request-Start does not hide a good X-Queue-Start.
        let q = classify(
            Some(&b"t=soon"[..]),
            Some(five.as_bytes()),
            NOW_NS,
            Duration::ZERO,
            MAX_QUEUE,
        );
        assert_eq!(q.duration(), Some(Duration::from_millis(5)));
        // A header twice: the earlier start, whichever came first.
        let both = [five.as_bytes(), nine.as_bytes()];
        let q = classify(both, None, NOW_NS, Duration::ZERO, MAX_QUEUE);
        assert_eq!(q.duration(), Some(Duration::from_millis(9)));
        let bad: [&[u8]; 2] = [b"x", b"t=y"];
        assert!(matches!(
            classify(bad, None, NOW_NS, Duration::ZERO, MAX_QUEUE),
            QueueTime::Invalid(_)
        ));
    }

    #[test]
    fn nonsense_is_invalid_with_a_reason() {
        for bad in [
            "",
            "t=",
            "t=NaN",
            "t=-1700000000000",
            "t=1e12",
            "t=12",
            "t=9999999999999999999999999999999999999999",
            "a b",
            "t=4102444800",
            "t=17000000.5.5",
        ] {
            assert!(
                matches!(classify_one(bad), QueueTime::Invalid(_)),
                "{bad:?}: {:?}",
                classify_one(bad)
            );
        }
        assert_eq!(
            classify(
                Some(&b"t=\xff"[..]),
                None,
                NOW_NS,
                Duration::ZERO,
                MAX_QUEUE
            ),
            QueueTime::Invalid("not a non-negative decimal number")
        );
    }

    #[test]
    fn more_than_an_hour_either_way_is_invalid_not_a_queue() {
        let twenty_years_s = 20 * 365 * 86_400;
        let hour_ms = 3_600_000;
        let now_ms = NOW_S * 1000;
        for (value, says) in [
            (
                NOW_S - twenty_years_s,
                "further in the past than the queue window",
            ),
            (
                NOW_S + twenty_years_s,
                "further in the future than the queue window",
            ),
        ] {
            assert_eq!(
                classify_one(&format!("t={value}")),
                QueueTime::Invalid(says)
            );
        }
        assert_eq!(
            classify_one(&format!("t={}", now_ms - hour_ms - 1)),
            QueueTime::Invalid("further in the past than the queue window")
        );
        assert_eq!(
            classify_one(&format!("t={}", now_ms - hour_ms)),
            QueueTime::Measured(MAX_QUEUE),
            "an hour exactly is the longest queue"
        );
        assert_eq!(
            classify_one(&format!("t={}", now_ms + hour_ms)),
            QueueTime::Skewed(MAX_QUEUE)
        );
    }

    #[test]
    fn a_narrower_window_refuses_what_lies_outside_it() {
        let window = Duration::from_secs(30);
        let at = |ms_ago: u128| format!("t={}", NOW_S * 1000 - ms_ago);
        let within = at(30_000);
        let outside = at(30_001);
        let classify_in =
            |value: &str| classify(Some(value.as_bytes()), None, NOW_NS, Duration::ZERO, window);
        assert_eq!(classify_in(&within), QueueTime::Measured(window));
        assert_eq!(
            classify_in(&outside),
            QueueTime::Invalid("further in the past than the queue window")
        );
        let ahead = format!("t={}", NOW_S * 1000 + 30_001);
        assert_eq!(
            classify_in(&ahead),
            QueueTime::Invalid("further in the future than the queue window")
        );
    }
}
