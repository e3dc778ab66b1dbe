//! JSON parsing with serde_json and simd-json, into a dynamic value tree and into typed structs.
//!
//! Parsing touches every input byte once and allocates a tree of small objects: it is bound
//! by cache and memory bandwidth as much as by instructions, which is why neighbours slow it.

use serde_json::Value;
use simd_json::prelude::*;

use super::fixture::Record;
use super::{Workload, WorkloadError};

/// The JSON workloads' checksum: the length of the top-level array plus the sum of its
/// elements' integer `id` fields (wrapping). A top-level value that is not an array counts as
/// one record. For the shipped payload this is `RECORDS + ID_SUM`.
pub fn checksum(records: u64, id_sum: u64) -> u64 {
    records.wrapping_add(id_sum)
}

fn serde_checksum(value: &Value) -> u64 {
    match value.as_array() {
        Some(items) => checksum(
            items.len() as u64,
            items
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_u64))
                .fold(0, u64::wrapping_add),
        ),
        None => checksum(1, 0),
    }
}

fn simd_checksum(value: &simd_json::BorrowedValue<'_>) -> u64 {
    match value.as_array() {
        Some(items) => checksum(
            items.len() as u64,
            items
                .iter()
                .filter_map(|r| r.get("id").and_then(|id| id.as_u64()))
                .fold(0, u64::wrapping_add),
        ),
        None => checksum(1, 0),
    }
}

fn typed_checksum(records: &[Record]) -> u64 {
    checksum(
        records.len() as u64,
        records.iter().map(|r| r.id).fold(0, u64::wrapping_add),
    )
}

/// serde_json into a `serde_json::Value`. Each run allocates the tree and frees it.
pub struct SerdeValue {
    json: Vec<u8>,
}

impl SerdeValue {
    pub const NAME: &'static str = "json-serde-value";
    pub fn new(json: &[u8]) -> Self {
        SerdeValue {
            json: json.to_vec(),
        }
    }
}

impl Workload for SerdeValue {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.json.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let value: Value =
            serde_json::from_slice(&self.json).map_err(|e| WorkloadError::new(Self::NAME, e))?;
        Ok(serde_checksum(&value))
    }
}

/// serde_json into `Vec<Record>`: only the shipped payload's schema fits.
pub struct SerdeTyped {
    json: Vec<u8>,
}

impl SerdeTyped {
    pub const NAME: &'static str = "json-serde-typed";
    pub fn new(json: &[u8]) -> Self {
        SerdeTyped {
            json: json.to_vec(),
        }
    }
}

impl Workload for SerdeTyped {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.json.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let records: Vec<Record> =
            serde_json::from_slice(&self.json).map_err(|e| schema_error(Self::NAME, e))?;
        Ok(typed_checksum(&records))
    }
}

/// simd-json into a `BorrowedValue`. simd-json parses in place (it unescapes strings inside
/// the input buffer), so every run first copies the input into a reused scratch buffer; that
/// copy is part of the timed work, as it would be in a service that keeps its request body.
pub struct SimdValue {
    json: Vec<u8>,
    scratch: Vec<u8>,
    buffers: simd_json::Buffers,
}

impl SimdValue {
    pub const NAME: &'static str = "json-simd-value";
    pub fn new(json: &[u8]) -> Self {
        SimdValue {
            json: json.to_vec(),
            scratch: Vec::with_capacity(json.len()),
            buffers: simd_json::Buffers::new(json.len()),
        }
    }
}

impl Workload for SimdValue {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.json.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.json);
        let value = simd_json::to_borrowed_value_with_buffers(&mut self.scratch, &mut self.buffers)
            .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        Ok(simd_checksum(&value))
    }
}

/// simd-json's serde front end into `Vec<Record>`; copies the input first, like [`SimdValue`].
pub struct SimdTyped {
    json: Vec<u8>,
    scratch: Vec<u8>,
    buffers: simd_json::Buffers,
}

impl SimdTyped {
    pub const NAME: &'static str = "json-simd-typed";
    pub fn new(json: &[u8]) -> Self {
        SimdTyped {
            json: json.to_vec(),
            scratch: Vec::with_capacity(json.len()),
            buffers: simd_json::Buffers::new(json.len()),
        }
    }
}

impl Workload for SimdTyped {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.json.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.json);
        let records: Vec<Record> =
            simd_json::serde::from_slice_with_buffers(&mut self.scratch, &mut self.buffers)
                .map_err(|e| schema_error(Self::NAME, e))?;
        Ok(typed_checksum(&records))
    }
}

fn schema_error(workload: &'static str, error: impl std::fmt::Display) -> WorkloadError {
    WorkloadError::new(
        workload,
        format!(
            "the JSON does not have the shipped payload's record schema ({error}); \
             typed parsers run only on fixtures/payload.json"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fixture::{Fixture, ID_SUM, RECORDS};

    fn run_once(mut workload: impl Workload) -> u64 {
        workload.run().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_parser_finds_the_shipped_records_and_ids() {
        let json = Fixture::shipped().json;
        let expected = checksum(RECORDS, ID_SUM);
        assert_eq!(run_once(SerdeValue::new(&json)), expected);
        assert_eq!(run_once(SerdeTyped::new(&json)), expected);
        assert_eq!(run_once(SimdValue::new(&json)), expected);
        assert_eq!(run_once(SimdTyped::new(&json)), expected);
    }

    #[test]
    fn value_parsers_agree_on_other_json() {
        let json = br#"[{"id": 7, "x": "a\"b"}, {"id": 5}, {"name": "no id"}, 3]"#;
        assert_eq!(run_once(SerdeValue::new(json)), checksum(4, 12));
        assert_eq!(run_once(SimdValue::new(json)), checksum(4, 12));
        let object = br#"{"id": 7}"#;
        assert_eq!(run_once(SerdeValue::new(object)), checksum(1, 0));
        assert_eq!(run_once(SimdValue::new(object)), checksum(1, 0));
    }

    #[test]
    fn typed_parsers_reject_other_schemas_with_a_reason() {
        let json = br#"[{"id": 7}]"#;
        for error in [
            SerdeTyped::new(json).run().unwrap_err(),
            SimdTyped::new(json).run().unwrap_err(),
        ] {
            assert!(error.reason.contains("record schema"), "{error}");
            assert!(error.reason.contains("uuid"), "{error}");
        }
    }

    #[test]
    fn simd_runs_repeat_on_the_same_input() {
        let json = Fixture::shipped().json;
        let mut workload = SimdValue::new(&json);
        let first = workload.run().ok();
        assert_eq!(workload.run().ok(), first);
    }
}
