//! Pressure stall information (PSI) for CPU: `/proc/pressure/cpu` or a cgroup's
//! `cpu.pressure` (Linux 4.20+, CONFIG_PSI, and not disabled with `psi=0`).

use super::{ProcFile, Reason, Unavailable, text};

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PressureLine {
    /// Average share of time stalled over the last 10 s, in percent.
    pub avg10_percent: f64,
    pub avg60_percent: f64,
    pub avg300_percent: f64,
    /// Cumulative stalled time, µs: the share over any interval follows exactly.
    pub total_us: u64,
}

/// A CPU pressure file: `some`, and `full` where the kernel writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// Time at least one runnable task waited for a CPU.
    pub some: PressureLine,
    /// Time all non-idle tasks did (Linux 5.13+).
    pub full: Option<PressureLine>,
}

/// Parses a pressure file's `some` and `full` lines.
pub fn parse(bytes: &[u8]) -> Result<Pressure, Reason> {
    let text = text(bytes).ok_or(Reason::Malformed("not UTF-8"))?;
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        *slot = Some(parse_line(words)?);
    }
    Ok(Pressure {
        some: some.ok_or(Reason::Malformed("a `some` line"))?,
        full,
    })
}

fn parse_line<'a>(words: impl Iterator<Item = &'a str>) -> Result<PressureLine, Reason> {
    let mut line = PressureLine::default();
    let mut seen = 0;
    for word in words {
        let (key, value) = word.split_once('=').ok_or(Reason::Malformed("key=value"))?;
        let percent = || {
            value
                .parse::<f64>()
                .map_err(|_| Reason::Malformed("a percentage"))
        };
        match key {
            "avg10" => line.avg10_percent = percent()?,
            "avg60" => line.avg60_percent = percent()?,
            "avg300" => line.avg300_percent = percent()?,
            "total" => {
                line.total_us = value.parse().map_err(|_| Reason::Malformed("total µs"))?;
                seen += 1;
            }
            _ => {}
        }
    }
    if seen == 1 {
        Ok(line)
    } else {
        Err(Reason::Malformed("one total= per line"))
    }
}

/// Keeps a pressure file open.
#[derive(Debug)]
pub struct PressureReader {
    file: ProcFile,
}

impl PressureReader {
    /// The machine-wide `/proc/pressure/cpu`.
    pub fn system() -> Self {
        PressureReader {
            file: ProcFile::open("/proc/pressure/cpu", "/proc/pressure/cpu"),
        }
    }

    /// A reader over an already opened (or unavailable) file, e.g. a cgroup's `cpu.pressure`.
    pub fn from_file(file: ProcFile) -> Self {
        PressureReader { file }
    }

    pub fn read(&mut self) -> Result<Pressure, Unavailable> {
        let source = self.file.source();
        let bytes = self.file.read().map_err(|e| match e.reason {
            // A cgroup's file exists but reads fail with EOPNOTSUPP when booted with psi=0.
            Reason::Unreadable(std::io::ErrorKind::Unsupported) => {
                Unavailable::new(source, Reason::NotApplicable("PSI is disabled (psi=0)"))
            }
            _ => e,
        })?;
        parse(bytes).map_err(|reason| Unavailable::new(source, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_and_full() {
        let p = parse(b"some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n").unwrap();
        assert_eq!(p.some.avg10_percent, 1.5);
        assert_eq!(p.some.total_us, 123456);
        assert_eq!(p.full.map(|f| f.total_us), Some(7));
    }

    #[test]
    fn kernels_before_5_13_have_no_full_line() {
        let p = parse(b"some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\n").unwrap();
        assert_eq!(p.full, None);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            &b""[..],
            b"full avg10=0 total=1\n",
            b"some avg10=x total=1\n",
            b"some avg10=1\n",
            b"some total=1 total=2\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
