//! Every flag's value parser, in one place: each accepts what a user would type, refuses
//! absurd values with a message that says what it expected, and is tested on both.

use dynoprobe::report::MAX_PROCESSES;
use dynoprobe::runner::MAX_RUNS;

/// A duration with a unit: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let units: [(&str, f64); 9] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
        ("d", 86400.0),
        ("", 1.0),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| Some((text.strip_suffix(unit)?, *scale)))
        .unwrap_or((text, 1.0));
    let seconds = number.trim().parse::<f64>().ok().map(|n| n * scale);
    match seconds {
        Some(s) if s.is_finite() && s > 0.0 => Ok(std::time::Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected a positive duration such as 200ns, 5us, 500ms, 2s or 1m; got '{text}'"
        )),
    }
}

/// `--interval`/`--duration`: 10 ms to 1 hour.
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(text)?;
    if !(0.01..=3600.0).contains(&d.as_secs_f64()) {
        return Err(format!("expected a duration from 10ms to 1h; got '{text}'"));
    }
    Ok(d)
}

/// `drive --every` and `--for`: 1 s to 30 days.
#[cfg(feature = "drive")]
pub fn parse_schedule(text: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(text)?;
    if !(1.0..=30.0 * 86400.0).contains(&d.as_secs_f64()) {
        return Err(format!(
            "expected a duration from 1s to 30d, e.g. 10m or 24h; got '{text}'"
        ));
    }
    Ok(d)
}

/// `serve --batch-budget`: 1 s to 1 hour.
#[cfg(feature = "serve")]
pub fn parse_budget(text: &str) -> Result<std::time::Duration, String> {
    second_to_hour(text, "a batch budget", "25s")
}

/// `serve --queue-window`: 1 s to 1 hour (the layer believes no wider window).
#[cfg(feature = "serve")]
pub fn parse_queue_window(text: &str) -> Result<std::time::Duration, String> {
    second_to_hour(text, "a queue window", "30s")
}

/// A duration from 1 s to 1 hour, or a message naming `what` with an `example`.
#[cfg(feature = "serve")]
fn second_to_hour(text: &str, what: &str, example: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(text)?;
    if !(1.0..=3600.0).contains(&d.as_secs_f64()) {
        return Err(format!(
            "expected {what} from 1s to 1h, e.g. {example}; got '{text}'"
        ));
    }
    Ok(d)
}

/// `jitter --sleep-interval`: 10 µs to 1 s. A wake-up itself takes tens of µs here, so
/// below 10 µs every deadline is already past when the last sleep returns: the lateness
/// then grows with the phase and measures nothing.
pub fn parse_sleep_interval(text: &str) -> Result<u64, String> {
    let ns = parse_duration(text)?.as_nanos();
    if !(10_000..=1_000_000_000).contains(&ns) {
        return Err(format!(
            "expected a sleep interval from 10us to 1s (a wake-up takes tens of µs); got '{text}'"
        ));
    }
    Ok(ns as u64)
}

/// `jitter --duration`: 1 s to 1 hour. `/proc/stat` counts steal in clock ticks (10 ms at
/// the usual USER_HZ of 100), so a 10 ms spin that saw one tick of steal read "STOLEN 33%":
/// under a second, a tick is more than 1% of the spin, too coarse to measure steal by.
pub fn parse_spin(text: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(text)?;
    if d.as_secs_f64() < 1.0 {
        return Err(format!(
            "a spin under 1s is too short to measure steal (/proc/stat counts it in 10 ms \
             ticks); expected 1s to 1h, got '{text}'"
        ));
    }
    if d.as_secs_f64() > 3600.0 {
        return Err(format!("expected a spin from 1s to 1h; got '{text}'"));
    }
    Ok(d)
}

/// `--threshold` and friends: 1 ns to 1 s, in ns.
pub fn parse_threshold(text: &str) -> Result<u64, String> {
    let ns = parse_duration(text)?.as_nanos();
    if !(1..=1_000_000_000).contains(&ns) {
        return Err(format!("expected a threshold from 1ns to 1s; got '{text}'"));
    }
    Ok(ns as u64)
}

/// `--alpha`: a probability strictly between 0 and 1.
pub fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(a) if a > 0.0 && a < 1.0 => Ok(a),
        _ => Err(format!(
            "expected a significance level between 0 and 1, e.g. 0.05; got '{text}'"
        )),
    }
}

/// `--price NAME=USD_PER_MONTH`: a baseline's name and its instance's monthly price.
pub fn parse_price(text: &str) -> Result<(String, f64), String> {
    let parsed = text.split_once('=').and_then(|(name, usd)| {
        let usd: f64 = usd.trim().trim_start_matches('$').parse().ok()?;
        (usd.is_finite() && usd > 0.0 && !name.is_empty()).then(|| (name.to_string(), usd))
    });
    parsed.ok_or_else(|| format!("expected NAME=USD_PER_MONTH, e.g. standard-1x=25; got '{text}'"))
}

/// `compare -t`: a change in percent, 0 or more.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "expected a percentage, 0 or more, e.g. 5; got '{text}'"
        )),
    }
}

/// `text` as a whole number from 1 to `max`, or `None`.
#[cfg(feature = "drive")]
fn whole_number(text: &str, max: u32) -> Option<u32> {
    match text.trim().parse::<u64>() {
        Ok(n @ 1..) if n <= u64::from(max) => Some(n as u32),
        _ => None,
    }
}

/// `--runs`: a whole number from 1 to [`MAX_RUNS`].
pub fn parse_runs(text: &str) -> Result<u32, String> {
    let expected = format!("expected a whole number of runs from 1 to {MAX_RUNS}");
    match text.trim().parse::<u64>() {
        Ok(0) => Err(format!("{expected}; 0 runs would measure nothing")),
        Ok(n) if n > u64::from(MAX_RUNS) => Err(format!("{expected}, got {n}")),
        Ok(n) => Ok(n as u32),
        Err(_) => Err(format!("{expected}, got '{text}'")),
    }
}

/// `--processes`: 1 to [`MAX_PROCESSES`].
pub fn parse_processes(text: &str) -> Result<usize, String> {
    let expected = format!("expected a whole number of processes from 1 to {MAX_PROCESSES}");
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("{expected}; 0 processes would measure nothing")),
        Ok(n) if n > MAX_PROCESSES => Err(format!("{expected}, got {n}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{expected}, got '{text}'")),
    }
}

/// `--count`: at least 1.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("expected a count of intervals of at least 1; 0 would print nothing".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "expected a whole number of intervals; got '{text}'"
        )),
    }
}

/// The most calls one drive makes.
#[cfg(feature = "drive")]
pub const MAX_CALLS: u32 = 1_000_000;
/// The most calls in flight at once.
#[cfg(feature = "drive")]
pub const MAX_CONCURRENCY: u32 = 256;

/// `drive --calls`.
#[cfg(feature = "drive")]
pub fn parse_calls(text: &str) -> Result<u32, String> {
    bounded_count(text, MAX_CALLS, "calls")
}

/// `drive --concurrency`.
#[cfg(feature = "drive")]
pub fn parse_concurrency(text: &str) -> Result<u32, String> {
    bounded_count(text, MAX_CONCURRENCY, "calls in flight")
}

/// A whole number of `what` from 1 to `max`.
#[cfg(feature = "drive")]
fn bounded_count(text: &str, max: u32, what: &str) -> Result<u32, String> {
    whole_number(text, max)
        .ok_or_else(|| format!("expected a whole number of {what} from 1 to {max}; got '{text}'"))
}

/// CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// One CPU number that this process may run on.
pub fn parse_cpu(text: &str) -> Result<usize, String> {
    let cpu: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a CPU number; got '{text}'"))?;
    let allowed = allowed_cpus();
    if !allowed.contains(&cpu) {
        return Err(format!(
            "CPU {cpu} is not one this process may run on (allowed: {allowed:?})"
        ));
    }
    Ok(cpu)
}

/// A list of CPUs (one clap value, not repeated values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// `0`, `0,2`, `0-3`: CPUs this process may run on, without repeats.
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_cpu(a)?, parse_cpu(b)?),
            None => (parse_cpu(part)?, parse_cpu(part)?),
        };
        if first > last {
            return Err(format!("CPU range '{part}' runs backwards"));
        }
        for cpu in first..=last {
            let cpu = parse_cpu(&cpu.to_string())?;
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
    }
    Ok(CpuList(cpus))
}

/// The server's token: `--token`, else `$DYNOPROBE_TOKEN`; `None` when neither is set or
/// it is blank. Checked by [`token`].
pub fn given_token(flag: Option<String>) -> anyhow::Result<Option<String>> {
    flag.or_else(|| std::env::var("DYNOPROBE_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
        .map(token)
        .transpose()
}

/// A bearer token as RFC 6750 writes one (`b64token`: letters, digits and `-._~+/`, then
/// any `=`), checked where it is given: a token with a space or a character no header
/// carries as such was accepted at start and could never match.
pub fn token(given: String) -> anyhow::Result<String> {
    let body = given.trim_end_matches('=');
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    if body.is_empty() || !body.chars().all(allowed) {
        anyhow::bail!(
            "the token (--token or DYNOPROBE_TOKEN) may hold only letters, digits and -._~+/ \
             (then any =), as RFC 6750 allows in a header; no spaces or other characters"
        );
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_what_a_bearer_header_carries() {
        for good in ["s3cret", "a-b._~+/c==", "QWxhZGRpbg=="] {
            assert_eq!(token(good.into()).unwrap(), good);
        }
        for bad in ["", "==", "trailing ", " lead", "two words", "ü", "tab\t"] {
            assert!(token(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn runs_must_be_a_sane_whole_number() {
        assert_eq!(parse_runs("25"), Ok(25));
        assert!(parse_runs("0").unwrap_err().contains("measure nothing"));
        assert!(parse_runs("1e12").unwrap_err().contains("got '1e12'"));
        assert!(parse_runs("1000001").unwrap_err().contains("from 1 to"));
        assert!(parse_runs("-3").is_err());
    }

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        use std::time::Duration;
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["0", "0s", "1ms", "-1s", "soon", "NaN", "inf", "2h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_threshold("200ns"), Ok(200));
        assert_eq!(parse_threshold("5us"), Ok(5_000));
        assert_eq!(parse_threshold("100µs"), Ok(100_000));
        assert!(parse_threshold("2s").is_err());
        assert!(parse_threshold("0.1ns").is_err());
        assert_eq!(parse_spin("1s"), Ok(Duration::from_secs(1)));
        assert!(
            parse_spin("10ms")
                .unwrap_err()
                .contains("too short to measure steal")
        );
        assert!(parse_spin("2h").is_err());
        assert_eq!(parse_sleep_interval("1ms"), Ok(1_000_000));
        for bad in ["1ns", "9us", "2s"] {
            assert!(parse_sleep_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_schedule("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_schedule("10m"), Ok(Duration::from_secs(600)));
        for bad in ["500ms", "31d", "0", "forever"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_and_percentages_parse_or_say_the_form() {
        assert_eq!(parse_price("perf-m=$250.5"), Ok(("perf-m".into(), 250.5)));
        for bad in ["std-1x", "=25", "x=cheap", "x=-3", "x=0", "x=inf"] {
            let error = parse_price(bad).unwrap_err();
            assert!(error.contains("NAME=USD_PER_MONTH"), "{bad}: {error}");
        }
        assert_eq!(parse_percent("5%"), Ok(5.0));
        assert_eq!(parse_percent("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "five"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_are_positive() {
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").is_err());
        assert!(parse_count("x").is_err());
    }

    #[test]
    fn cpu_lists_are_checked_against_our_affinity() {
        let allowed = allowed_cpus();
        let first = allowed[0];
        assert_eq!(parse_cpus(&first.to_string()), Ok(CpuList(vec![first])));
        assert_eq!(
            parse_cpus(&format!("{first},{first}")),
            Ok(CpuList(vec![first]))
        );
        assert!(
            parse_cpus("4096")
                .unwrap_err()
                .contains("not one this process may run on")
        );
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("").is_err());
        if allowed.len() >= 2 {
            let (a, b) = (allowed[0], allowed[1]);
            assert_eq!(
                parse_cpus(&format!("{a}-{b}")).map(|v| v.0.len()),
                Ok(b - a + 1)
            );
            assert!(parse_cpus(&format!("{b}-{a}")).is_err());
        }
    }

    #[cfg(feature = "drive")]
    #[test]
    fn calls_and_concurrency_are_bounded_whole_numbers() {
        assert_eq!(parse_calls("100"), Ok(100));
        for bad in ["0", "-1", "1e12", "1000001", "lots"] {
            assert!(parse_calls(bad).is_err(), "{bad}");
        }
        assert!(parse_concurrency("257").is_err());
    }
}
