//! The catalog of workloads: each [`Spec`] names a workload, says whether its work is
//! fixed, and prepares it from the [`Inputs`].

use super::fixture::Fixture;
use super::{Workload, WorkloadError, chase, decrypt, json};
use crate::signal::machine::CacheSizes;

/// What preparation may draw on.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub fixture: Fixture,
    pub caches: CacheSizes,
}

impl Inputs {
    /// The shipped fixture and this machine's cache sizes.
    pub fn shipped() -> Inputs {
        Inputs {
            fixture: Fixture::shipped(),
            caches: CacheSizes::read(),
        }
    }
}

type Build = fn(&Inputs) -> Result<Box<dyn Workload>, WorkloadError>;

/// A catalog entry: a name, a one-line summary, whether its work is fixed, and how to
/// prepare the workload.
pub struct Spec {
    pub name: &'static str,
    pub summary: &'static str,
    /// The same work every run, timed in blocks: the workload answers
    /// [`Workload::ns_per_op`], and its time per op is evidence for `slowed`. Parsing is not
    /// fixed (it allocates, and the allocator's state varies between runs).
    pub fixed: bool,
    build: Build,
    footprint: fn(&Inputs) -> Footprint,
}

impl Spec {
    /// Builds the workload's inputs, then runs it once, so that input that does not fit the
    /// workload (a user's JSON for the typed parsers) fails here rather than in a timed run.
    pub fn prepare(&self, inputs: &Inputs) -> Result<Box<dyn Workload>, WorkloadError> {
        let mut workload = (self.build)(inputs)?;
        workload.run()?;
        Ok(workload)
    }
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("name", &self.name).finish()
    }
}

impl Spec {
    /// The most bytes the workload allocates at once, so that a server can see before a
    /// batch whether its memory allows it.
    pub fn footprint(&self, inputs: &Inputs) -> Footprint {
        (self.footprint)(inputs)
    }
}

/// What a workload allocates at its peak, bytes: each a multiple of its input measured on
/// the shipped payload (`tests/alloc.rs` checks each bounds what the workload allocates,
/// and is less than twice it plus 1 MiB). A parse's tree grows with the payload's shape too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// While it is prepared (which runs it once).
    pub prepare: u64,
    /// In one run once prepared, on top of what it holds: 0 for all but the parses.
    pub run: u64,
}

/// A JSON workload's footprint, as multiples of the payload's length: its copies of the
/// input, and the tree a run builds.
fn json_times(inputs: &Inputs, prepare: f64, run: f64) -> Footprint {
    let bytes = inputs.fixture.json.len() as f64;
    Footprint {
        prepare: (bytes * prepare) as u64,
        run: (bytes * run) as u64,
    }
}

/// A chase's lines plus the order it shuffles to link them (4 bytes per 64-byte line); a
/// run allocates nothing.
fn chase_footprint(level: chase::Level, inputs: &Inputs) -> Footprint {
    Footprint {
        prepare: level.working_set_bytes(&inputs.caches) / 16 * 17 + (64 << 10),
        run: 0,
    }
}

/// Every workload, in the order `dynoprobe run` runs them.
pub fn catalog() -> &'static [Spec] {
    &CATALOG
}

/// The catalog entry called `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    CATALOG.iter().find(|spec| spec.name == name)
}

/// The spec named `name`, or an error that lists the names there are.
pub fn lookup(name: &str) -> Result<&'static Spec, UnknownWorkload> {
    find(name).ok_or_else(|| UnknownWorkload(name.to_owned()))
}

/// A workload name that is not in the catalog; its message lists the ones that are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWorkload(pub String);

impl std::fmt::Display for UnknownWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown workload '{}'; one of: {}", self.0, names())
    }
}

impl std::error::Error for UnknownWorkload {}

/// The catalog's names, comma separated, for error messages.
fn names() -> String {
    CATALOG
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

static CATALOG: [Spec; 10] = [
    Spec {
        name: json::Parser::SerdeValue.name(),
        summary: "serde_json into a serde_json::Value tree (allocates the tree every run)",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SerdeValue,
                &i.fixture.json,
            )))
        },
        footprint: |i| json_times(i, 10.5, 9.5),
    },
    Spec {
        name: json::Parser::SerdeTyped.name(),
        summary: "serde_json into typed Rust structs (shipped payload's schema only)",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SerdeTyped,
                &i.fixture.json,
            )))
        },
        footprint: |i| json_times(i, 3.0, 2.0),
    },
    Spec {
        name: json::Parser::SimdValue.name(),
        summary: "simd-json into a borrowed value tree; copies the input into a reused buffer first",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SimdValue,
                &i.fixture.json,
            )))
        },
        footprint: |i| json_times(i, 13.5, 8.5),
    },
    Spec {
        name: json::Parser::SimdTyped.name(),
        summary: "simd-json (serde) into typed Rust structs; copies the input first",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SimdTyped,
                &i.fixture.json,
            )))
        },
        footprint: |i| json_times(i, 12.0, 6.5),
    },
    Spec {
        name: decrypt::Cbc::NAME,
        summary: "AES-256-CBC decrypt of the encrypted payload into a reused buffer",
        fixed: true,
        build: |i| Ok(Box::new(decrypt::Cbc::new(&i.fixture.ciphertext))),
        footprint: |i| json_times(i, 2.1, 0.0),
    },
    Spec {
        name: decrypt::Ctr::NAME,
        summary: "AES-256-CTR decrypt of the payload (CTR twin made in preparation)",
        fixed: true,
        build: |i| Ok(Box::new(decrypt::Ctr::new(&i.fixture.json))),
        footprint: |i| json_times(i, 2.1, 0.0),
    },
    Spec {
        name: decrypt::DecryptParse::NAME,
        summary: "AES-256-CBC decrypt, then serde_json into a Value: a typical API endpoint",
        fixed: false,
        build: |i| Ok(Box::new(decrypt::DecryptParse::new(&i.fixture.ciphertext))),
        footprint: |i| json_times(i, 11.5, 9.5),
    },
    Spec {
        name: chase::Level::L2.name(),
        summary: "dependent pointer chase over a working set that fits in L2",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::L2,
                &i.caches,
            )))
        },
        footprint: |i| chase_footprint(chase::Level::L2, i),
    },
    Spec {
        name: chase::Level::Llc.name(),
        summary: "dependent pointer chase over a working set that fits in the last-level cache",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::Llc,
                &i.caches,
            )))
        },
        footprint: |i| chase_footprint(chase::Level::Llc, i),
    },
    Spec {
        name: chase::Level::Dram.name(),
        summary: "dependent pointer chase over a working set several times the last-level cache",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::Dram,
                &i.caches,
            )))
        },
        footprint: |i| chase_footprint(chase::Level::Dram, i),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_are_unique_and_findable() {
        for spec in catalog() {
            assert_eq!(find(spec.name).map(|s| s.name), Some(spec.name));
        }
        let mut names: Vec<_> = catalog().iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), 10);
        assert!(find("json-nope").is_none());
    }

    #[test]
    fn a_spec_is_fixed_exactly_when_its_workload_reports_ns_per_op() {
        let inputs = Inputs {
            fixture: Fixture::shipped(),
            caches: CacheSizes::default(),
        };
        for spec in catalog() {
            let mut workload = spec.prepare(&inputs).unwrap();
            let ns = workload.ns_per_op();
            assert_eq!(ns.is_some(), spec.fixed, "{}", spec.name);
            assert!(ns.is_none_or(|ns| ns > 0.0 && ns < 10_000.0), "{ns:?}");
        }
    }
}
