//! Which of dynoprobe's files a JSON value is. Every file dynoprobe writes says so in its
//! `kind`; files written before that are told by keys only their kind has.

use serde::{Deserialize, Serialize};

/// What a file written by dynoprobe holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `run --json`.
    Run,
    /// `jitter --json`.
    Jitter,
    /// `drive --json` (one line a batch with `--every`).
    Drive,
    /// `compare --json`.
    Comparison,
    /// `compare --export NAME`.
    Baseline,
}

impl Kind {
    /// What it is, in a sentence: "a drive result".
    pub fn described(self) -> &'static str {
        match self {
            Kind::Run => "a run report",
            Kind::Jitter => "a jitter report",
            Kind::Drive => "a drive result",
            Kind::Comparison => "a comparison (compare --json)",
            Kind::Baseline => "an exported baseline",
        }
    }

    /// The kind `value` says it is, else the one its keys show (a file from before `kind`);
    /// `None` when neither tells (another program's JSON, or a kind this dynoprobe does not
    /// know).
    pub fn of(value: &serde_json::Value) -> Option<Kind> {
        if let Some(tag) = value.get("kind") {
            return Kind::deserialize(tag).ok();
        }
        let has = |key: &str| value.get(key).is_some();
        if has("workloads") && has("verdict") {
            Some(Kind::Run)
        } else if has("calls_count") && has("url") {
            Some(Kind::Drive)
        } else if has("benchmarks") && has("name") {
            Some(Kind::Baseline)
        } else if has("rows") && has("alpha") {
            Some(Kind::Comparison)
        } else if has("jitter") {
            Some(Kind::Jitter)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_file_says_its_kind_or_its_keys_show_it() {
        assert_eq!(
            Kind::of(&json!({"kind": "drive", "workloads": 1})),
            Some(Kind::Drive)
        );
        assert_eq!(
            Kind::of(&json!({"kind": "sonar"})),
            None,
            "a kind not known here"
        );
        let older = [
            (json!({"workloads": [], "verdict": {}}), Kind::Run),
            (json!({"calls_count": 3, "url": "u"}), Kind::Drive),
            (json!({"name": "b", "benchmarks": []}), Kind::Baseline),
            (json!({"rows": [], "alpha": 0.05}), Kind::Comparison),
            (json!({"jitter": []}), Kind::Jitter),
        ];
        for (value, kind) in older {
            assert_eq!(Kind::of(&value), Some(kind), "{value}");
        }
        assert_eq!(Kind::of(&json!({"name": "x"})), None);
        assert_eq!(serde_json::to_value(Kind::Baseline).unwrap(), "baseline");
    }
}
