//! A `run --json` report read back: the one reader of that file, for `run --reference` (its
//! `ns_per_op` medians) and `compare` (its runs and replicates). It reads only the fields
//! those need, from every schema version that still means the same by them.

use serde::Deserialize;

use super::kind::Kind;
use super::{FixtureInfo, SCHEMA_VERSION};
use crate::runner::Replicate;

/// The oldest report read back: `workloads[].ns_per_op` has meant the same since version 2
/// (version 3 reshaped only the verdict); runs and replicates are read where present.
pub const REFERENCE_MIN_SCHEMA: u32 = 2;

/// The parts of a run report that are read back.
#[derive(Debug, Deserialize)]
pub struct RunFile {
    /// Absent before files said their kind.
    #[serde(default)]
    pub kind: Option<Kind>,
    pub schema_version: u32,
    /// Absent before the payload was recorded.
    #[serde(default)]
    pub fixture: Option<FixtureInfo>,
    pub workloads: Vec<RunFileWorkload>,
}

/// One workload of a run report, read back.
#[derive(Debug, Deserialize)]
pub struct RunFileWorkload {
    pub name: String,
    #[serde(default)]
    pub bytes_per_run: Option<u64>,
    #[serde(default)]
    pub off_cpu_ratio: Option<f64>,
    /// Its time per op; `null` for a workload whose work is not fixed.
    #[serde(default)]
    pub ns_per_op: Option<PerOp>,
    /// Each run's wall time, ns; absent before each run was kept.
    #[serde(default)]
    pub by_run: Option<RunsKept>,
    /// Each worker process's summary; absent before version 5 (one process, one replicate).
    #[serde(default)]
    pub replicates: Vec<Replicate>,
}

#[derive(Debug, Deserialize)]
pub struct PerOp {
    pub p50: f64,
}

#[derive(Debug, Deserialize)]
pub struct RunsKept {
    pub wall_ns: Vec<u64>,
}

/// Why a file cannot be read as a run report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunFileError {
    #[error(
        "is not a dynoprobe run --json report (needs schema_version and workloads[].name): {0}"
    )]
    NotAReport(String),
    #[error(
        "is a run report of schema_version {0}; this dynoprobe reads versions {REFERENCE_MIN_SCHEMA} to {SCHEMA_VERSION} (make it again with `dynoprobe run --json`)"
    )]
    Version(u32),
    #[error("is {}, not a run report", .0.described())]
    OtherKind(Kind),
}

impl RunFile {
    pub fn from_slice(json: &[u8]) -> Result<RunFile, RunFileError> {
        let file: RunFile =
            serde_json::from_slice(json).map_err(|e| RunFileError::NotAReport(e.to_string()))?;
        file.checked()
    }

    pub fn from_value(value: serde_json::Value) -> Result<RunFile, RunFileError> {
        let file: RunFile =
            serde_json::from_value(value).map_err(|e| RunFileError::NotAReport(e.to_string()))?;
        file.checked()
    }

    fn checked(self) -> Result<RunFile, RunFileError> {
        match self.kind {
            Some(kind) if kind != Kind::Run => Err(RunFileError::OtherKind(kind)),
            _ if !(REFERENCE_MIN_SCHEMA..=SCHEMA_VERSION).contains(&self.schema_version) => {
                Err(RunFileError::Version(self.schema_version))
            }
            _ => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_mean_the_same_are_read_and_others_refused() {
        let json = |version: u32| {
            format!(
                r#"{{"schema_version": {version}, "workloads": [{{"name": "chase-l2",
                "bytes_per_run": 64, "off_cpu_ratio": 0.1, "ns_per_op": {{"p50": 4.5}},
                "by_run": {{"wall_ns": [3, 4]}}}}]}}"#
            )
        };
        for version in REFERENCE_MIN_SCHEMA..=SCHEMA_VERSION {
            let file = RunFile::from_slice(json(version).as_bytes()).unwrap();
            let w = &file.workloads[0];
            assert_eq!((w.bytes_per_run, w.off_cpu_ratio), (Some(64), Some(0.1)));
            assert_eq!(w.by_run.as_ref().unwrap().wall_ns, [3, 4]);
            assert!(w.replicates.is_empty() && file.fixture.is_none());
        }
        for version in [1, SCHEMA_VERSION + 1] {
            let value: serde_json::Value = serde_json::from_str(&json(version)).unwrap();
            let refused = RunFile::from_value(value).unwrap_err();
            assert_eq!(refused, RunFileError::Version(version));
            assert!(
                refused.to_string().contains("reads versions 2 to"),
                "{refused}"
            );
        }
        let drive = json(SCHEMA_VERSION).replacen('{', r#"{"kind": "drive", "#, 1);
        let refused = RunFile::from_slice(drive.as_bytes()).unwrap_err();
        assert_eq!(refused, RunFileError::OtherKind(Kind::Drive));
        let truncated = br#"{"workloads": [{"name": "chase-l2"}"#;
        assert!(matches!(
            RunFile::from_slice(truncated),
            Err(RunFileError::NotAReport(_))
        ));
    }
}
