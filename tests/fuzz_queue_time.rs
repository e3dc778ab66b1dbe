//! Header values from outside never panic the queue-time parser; each is classified, and a
//! well-formed start in any unit gives back the time it encodes.

use std::time::Duration;

use dynoprobe::{MAX_QUEUE, QueueTime, classify};
use proptest::prelude::*;

const NOW_NS: u128 = 1_763_900_000_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn any_bytes_are_classified(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let q = classify(Some(bytes.as_slice()), None, NOW_NS, Duration::ZERO, MAX_QUEUE);
        prop_assert!(matches!(q, QueueTime::Measured(_) | QueueTime::Skewed(_) | QueueTime::Invalid(_)));
    }

    #[test]
    fn header_shaped_strings_are_classified(value in "(s=[a-z0-9-]{0,8} )?(t=)?[-+]?[0-9]{0,22}(\\.[0-9]{0,12})?( [a-z]=[0-9]{0,4})?|NaN|inf|t=-0") {
        let q = classify(Some(value.as_bytes()), None, NOW_NS, Duration::from_millis(1), MAX_QUEUE);
        prop_assert!(!matches!(q, QueueTime::Absent), "{}", value);
    }

    #[test]
    fn a_start_in_any_unit_round_trips(ago_us in 0u64..600_000_000, unit in 0usize..4) {
        let start_ns = NOW_NS - u128::from(ago_us) * 1000;
        let value = match unit {
            0 => format!("t={}.{:06}", start_ns / 1_000_000_000, (start_ns % 1_000_000_000) / 1000),
            1 => format!("t={}", start_ns / 1_000_000),
            2 => format!("t={}", start_ns / 1000),
            _ => format!("t={start_ns}"),
        };
        let q = classify(Some(value.as_bytes()), None, NOW_NS, Duration::ZERO, MAX_QUEUE);
        let expected = Duration::from_micros(ago_us);
        let QueueTime::Measured(got) = q else { panic!("{value}: {q:?}") };
        // Milliseconds lose what is below a millisecond.
        prop_assert!(got >= expected && got - expected < Duration::from_millis(1), "{value}: {got:?} vs {expected:?}");
    }
}
