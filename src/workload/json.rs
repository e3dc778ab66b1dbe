//! JSON parsing with serde_json and simd-json, into a value tree and into typed structs: it
//! touches every byte once and allocates many small objects, so it is bound by cache and
//! memory bandwidth as much as by instructions, which is why neighbours slow it.

use serde_json::Value;
use simd_json::prelude::*;

use super::payload::Record;
use super::{Workload, WorkloadError};

/// The JSON workloads' checksum: the length of the top-level array plus the sum of its
/// elements' integer `id` fields (wrapping). A top-level value that is not an array counts as
/// one record. For the shipped payload this is `RECORDS + ID_SUM`.
pub fn checksum(records: u64, id_sum: u64) -> u64 {
    records.wrapping_add(id_sum)
}

/// [`checksum`] of a top-level array given as its records' `id`s (`None` for a record
/// without an integer `id`), or of a value that is not an array (`None`): one record.
fn of_records(ids: Option<impl Iterator<Item = Option<u64>>>) -> u64 {
    let Some(ids) = ids else {
        return checksum(1, 0);
    };
    let (records, id_sum) = ids.fold((0, 0), |(records, sum), id| {
        (records + 1, u64::wrapping_add(sum, id.unwrap_or(0)))
    });
    checksum(records, id_sum)
}

/// [`checksum`] of a serde_json tree (also the decrypt-then-parse workload's).
pub(super) fn serde_checksum(value: &Value) -> u64 {
    of_records(
        value
            .as_array()
            .map(|items| items.iter().map(|r| r.get("id").and_then(Value::as_u64))),
    )
}

fn simd_checksum(value: &simd_json::BorrowedValue<'_>) -> u64 {
    of_records(
        value
            .as_array()
            .map(|items| items.iter().map(|r| r.get("id").and_then(|id| id.as_u64()))),
    )
}

fn typed_checksum(records: &[Record]) -> u64 {
    of_records(Some(records.iter().map(|r| Some(r.id))))
}

/// Which parser, into what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// serde_json into a `serde_json::Value`. Each run allocates the tree and frees it.
    SerdeValue,
    /// serde_json into `Vec<Record>`: only the shipped payload's schema fits.
    SerdeTyped,
    /// simd-json into a `BorrowedValue`.
    SimdValue,
    /// simd-json's serde front end into `Vec<Record>`.
    SimdTyped,
}

impl Parser {
    pub const fn name(self) -> &'static str {
        match self {
            Parser::SerdeValue => "json-serde-value",
            Parser::SerdeTyped => "json-serde-typed",
            Parser::SimdValue => "json-simd-value",
            Parser::SimdTyped => "json-simd-typed",
        }
    }

    fn is_simd(self) -> bool {
        matches!(self, Parser::SimdValue | Parser::SimdTyped)
    }
}

/// One parse of the JSON per run. simd-json parses in place (it unescapes strings inside the
/// input buffer), so its runs first copy the input into a reused scratch buffer; that copy
/// is part of the timed work, as it would be in a service that keeps its request body.
pub struct Parse {
    parser: Parser,
    json: Vec<u8>,
    /// simd-json only: the copy it parses, and its reused internal buffers.
    scratch: Vec<u8>,
    buffers: simd_json::Buffers,
}

impl Parse {
    pub fn new(parser: Parser, json: &[u8]) -> Parse {
        let simd_len = if parser.is_simd() { json.len() } else { 0 };
        Parse {
            parser,
            json: json.to_vec(),
            scratch: Vec::with_capacity(simd_len),
            buffers: simd_json::Buffers::new(simd_len),
        }
    }
}

impl Workload for Parse {
    fn name(&self) -> &'static str {
        self.parser.name()
    }
    fn bytes_per_run(&self) -> u64 {
        self.json.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let name = self.parser.name();
        if self.parser.is_simd() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.json);
        }
        let (scratch, buffers) = (&mut self.scratch, &mut self.buffers);
        match self.parser {
            Parser::SerdeValue => serde_json::from_slice(&self.json)
                .map(|value| serde_checksum(&value))
                .map_err(|e| WorkloadError::new(name, e)),
            Parser::SerdeTyped => serde_json::from_slice::<Vec<Record>>(&self.json)
                .map(|records| typed_checksum(&records))
                .map_err(|e| schema_error(name, e)),
            Parser::SimdValue => simd_json::to_borrowed_value_with_buffers(scratch, buffers)
                .map(|value| simd_checksum(&value))
                .map_err(|e| WorkloadError::new(name, e)),
            Parser::SimdTyped => {
                simd_json::serde::from_slice_with_buffers::<Vec<Record>>(scratch, buffers)
                    .map(|records| typed_checksum(&records))
                    .map_err(|e| schema_error(name, e))
            }
        }
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
    use crate::workload::fixture::Fixture;
    use crate::workload::payload::{ID_SUM, RECORDS};

    fn run_once(mut workload: impl Workload) -> u64 {
        workload.run().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_parser_finds_the_shipped_records_and_ids() {
        let json = Fixture::shipped().json;
        let expected = checksum(RECORDS, ID_SUM);
        assert_eq!(run_once(Parse::new(Parser::SerdeValue, &json)), expected);
        assert_eq!(run_once(Parse::new(Parser::SerdeTyped, &json)), expected);
        assert_eq!(run_once(Parse::new(Parser::SimdValue, &json)), expected);
        assert_eq!(run_once(Parse::new(Parser::SimdTyped, &json)), expected);
    }

    #[test]
    fn value_parsers_agree_on_other_json() {
        let json = br#"[{"id": 7, "x": "a\"b"}, {"id": 5}, {"name": "no id"}, 3]"#;
        assert_eq!(
            run_once(Parse::new(Parser::SerdeValue, json)),
            checksum(4, 12)
        );
        assert_eq!(
            run_once(Parse::new(Parser::SimdValue, json)),
            checksum(4, 12)
        );
        let object = br#"{"id": 7}"#;
        assert_eq!(
            run_once(Parse::new(Parser::SerdeValue, object)),
            checksum(1, 0)
        );
        assert_eq!(
            run_once(Parse::new(Parser::SimdValue, object)),
            checksum(1, 0)
        );
    }

    #[test]
    fn typed_parsers_reject_other_schemas_with_a_reason() {
        let json = br#"[{"id": 7}]"#;
        for error in [
            Parse::new(Parser::SerdeTyped, json).run().unwrap_err(),
            Parse::new(Parser::SimdTyped, json).run().unwrap_err(),
        ] {
            assert!(error.reason.contains("record schema"), "{error}");
            assert!(error.reason.contains("uuid"), "{error}");
        }
    }

    #[test]
    fn simd_runs_repeat_on_the_same_input() {
        let json = Fixture::shipped().json;
        let mut workload = Parse::new(Parser::SimdValue, &json);
        let first = workload.run().ok();
        assert_eq!(workload.run().ok(), first);
    }
}
