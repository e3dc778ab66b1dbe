//! Input from outside (a user's `--fixture`) never panics a workload: it is prepared, or
//! refused with a reason.
#![cfg(feature = "workloads")]

use dynoprobe::signal::machine::CacheSizes;
use dynoprobe::workload::fixture::{Fixture, Origin};
use dynoprobe::workload::{Inputs, catalog};
use proptest::prelude::*;

/// Every workload that reads the fixture (the chases do not).
fn prepare_all(json: Vec<u8>) {
    let Ok(fixture) = Fixture::from_json(json, Origin::Shipped) else {
        return; // refused at load, with serde_json's line and column
    };
    let inputs = Inputs {
        fixture,
        caches: CacheSizes::default(),
    };
    for spec in catalog().iter().filter(|s| !s.name.starts_with("chase")) {
        if let Ok(mut workload) = spec.prepare(&inputs) {
            assert!(
                workload.run().is_ok(),
                "{} ran once, then failed",
                spec.name
            );
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(".*", inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prepare_all(bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        prepare_all(serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn arrays_of_records_with_ids_give_the_value_checksum(ids in prop::collection::vec(any::<u64>(), 0..50)) {
        let json = serde_json::to_vec(&ids.iter().map(|id| serde_json::json!({"id": id})).collect::<Vec<_>>()).unwrap();
        let inputs = Inputs { fixture: Fixture::from_json(json, Origin::Shipped).unwrap(), caches: CacheSizes::default() };
        let expected = ids.iter().fold(ids.len() as u64, |sum, id| sum.wrapping_add(*id));
        for name in ["json-serde-value", "json-simd-value", "decrypt-parse"] {
            let mut workload = dynoprobe::workload::find(name).unwrap().prepare(&inputs).unwrap();
            prop_assert_eq!(workload.run().unwrap(), expected, "{}", name);
        }
    }
}
