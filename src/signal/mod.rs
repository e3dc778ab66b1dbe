//! Readers of what the kernel tells about contention, one module per source: pure parsers
//! tested on recorded files in `tests/data/`, and readers whose every reading is a value or
//! an [`Unavailable`] saying which source and why (none panics, none needs root).

pub mod catalog;
pub mod cgroup;
pub mod clock;
pub mod kconfig;
pub mod machine;
pub mod perf;
pub mod pressure;
pub mod procstat;
pub mod rusage;
pub mod schedstat;
pub mod snapshot;

use std::fs::File;
use std::path::Path;

use serde::{Serialize, Serializer};

/// A signal that could not be read, and why. `Copy`, so reporting it never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    /// The file or call, e.g. `/proc/stat` or `cgroup cpu.stat`.
    pub source: &'static str,
    /// What went wrong.
    pub reason: Reason,
}

/// Why a signal is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The file does not exist (kernel too old, option not built in, not Linux, …).
    Missing,
    /// Opening or reading failed with this error.
    Unreadable(std::io::ErrorKind),
    /// The text does not have the expected layout; says what was expected.
    Malformed(&'static str),
    /// The machine does not have what the signal measures; says what is missing.
    NotApplicable(&'static str),
    /// A counter went backwards between two readings (a reset, or a thread that exited):
    /// no rate can be given for the interval.
    Reset,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.source)?;
        match self.reason {
            Reason::Missing => write!(f, "not present on this system"),
            Reason::Unreadable(kind) => write!(f, "cannot be read ({kind})"),
            Reason::Malformed(what) => write!(f, "unexpected content ({what})"),
            Reason::NotApplicable(why) => write!(f, "{why}"),
            Reason::Reset => write!(f, "counter went backwards (reset) during the interval"),
        }
    }
}

impl std::error::Error for Unavailable {}

impl Unavailable {
    pub const fn new(source: &'static str, reason: Reason) -> Self {
        Unavailable { source, reason }
    }
}

/// A measured value or why there is none. Serialises as the value, or `null`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal<T>(pub Result<T, Unavailable>);

impl<T> Signal<T> {
    /// The value, if the signal could be read.
    pub fn ok(&self) -> Option<&T> {
        self.0.as_ref().ok()
    }
    /// Why the signal could not be read, if it could not.
    pub fn unavailable(&self) -> Option<&Unavailable> {
        self.0.as_ref().err()
    }
}

impl<T: Copy> Signal<T> {
    /// The value, copied, if the signal could be read.
    pub fn value(&self) -> Option<T> {
        self.0.as_ref().ok().copied()
    }
}

impl<T: Serialize> Serialize for Signal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Ok(value) => value.serialize(serializer),
            Err(_) => serializer.serialize_none(),
        }
    }
}

/// Bytes a [`ProcFile`] reserves before its first read; it grows (once) for larger files.
const INITIAL_BUFFER_BYTES: usize = 16 << 10;

/// A kernel file kept open and re-read from offset 0 (`pread`) into a reused buffer, so that
/// after the first read nothing allocates.
#[derive(Debug)]
pub struct ProcFile {
    source: &'static str,
    file: Result<File, Reason>,
    buffer: Vec<u8>,
}

impl ProcFile {
    /// Opens `path`; a failure is kept and returned by every [`ProcFile::read`].
    pub fn open(source: &'static str, path: impl AsRef<Path>) -> ProcFile {
        ProcFile {
            source,
            file: File::open(path.as_ref()).map_err(|e| io_reason(&e)),
            buffer: Vec::new(),
        }
    }

    /// A reader that always reports `reason`.
    pub fn unavailable(source: &'static str, reason: Reason) -> ProcFile {
        ProcFile {
            source,
            file: Err(reason),
            buffer: Vec::new(),
        }
    }

    /// The file's whole current content. Procfs, sysfs and cgroupfs fill a `pread` as far
    /// as the buffer allows, so a read shorter than the buffer is the whole file; a full
    /// buffer is doubled and the file read again (this allocates only if the file grew).
    pub fn read(&mut self) -> Result<&[u8], Unavailable> {
        use std::os::unix::fs::FileExt;
        let file = self
            .file
            .as_ref()
            .map_err(|reason| Unavailable::new(self.source, *reason))?;
        if self.buffer.is_empty() {
            self.buffer.resize(INITIAL_BUFFER_BYTES, 0);
        }
        loop {
            match file.read_at(&mut self.buffer, 0) {
                Ok(n) if n < self.buffer.len() => return Ok(&self.buffer[..n]),
                Ok(_) => {
                    let doubled = self.buffer.len() * 2;
                    self.buffer.resize(doubled, 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Unavailable::new(self.source, io_reason(&e))),
            }
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }
}

fn io_reason(error: &std::io::Error) -> Reason {
    match error.kind() {
        std::io::ErrorKind::NotFound => Reason::Missing,
        kind => Reason::Unreadable(kind),
    }
}

/// `bytes` as text, without copying; `None` if not UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The value after `key` on a `key value` line of a flat-keyed file (`cpu.stat`).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// Reads a whole file once (for files read at set-up, not per snapshot), with the same
/// reasons as [`ProcFile`] when it cannot.
pub(crate) fn read_file(source: &'static str, path: &Path) -> Result<Vec<u8>, Unavailable> {
    std::fs::read(path).map_err(|e| Unavailable::new(source, io_reason(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_says_so_on_every_read() {
        let mut file = ProcFile::open("/proc/nope", "/proc/nope/nope");
        let error = file.read().unwrap_err();
        assert_eq!(error.reason, Reason::Missing);
        assert_eq!(error.to_string(), "/proc/nope: not present on this system");
        assert_eq!(file.read().unwrap_err(), error);
    }

    #[test]
    fn files_larger_than_the_buffer_are_read_whole() {
        let path = std::env::temp_dir().join(format!("dynoprobe-big-{}", std::process::id()));
        let content: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let mut file = ProcFile::open("big", &path);
        assert_eq!(file.read().unwrap(), &content[..]);
        assert_eq!(file.read().unwrap(), &content[..]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn keyed_values_are_found_by_whole_key() {
        let text = "nr_periods 5\nnr_throttled 3\nthrottled_usec 70\n";
        assert_eq!(keyed(text, "nr_throttled"), Some(3));
        assert_eq!(keyed(text, "throttled"), None);
        assert_eq!(keyed("nr_periods x\n", "nr_periods"), None);
    }

    #[test]
    fn signals_serialise_as_value_or_null() {
        let ok: Signal<f64> = Signal(Ok(0.5));
        let missing: Signal<f64> = Signal(Err(Unavailable::new("x", Reason::Missing)));
        assert_eq!(serde_json::to_string(&ok).unwrap(), "0.5");
        assert_eq!(serde_json::to_string(&missing).unwrap(), "null");
    }
}
