//! Why the spinning thread was not running during a gap, and one value per cause
//! ([`ByCause`]): the tallies, the ledger's shares and the per-cause gap figures are all
//! `ByCause<T>`, so a cause is added in one place.

use std::ops::{Index, IndexMut};

use serde::Serialize;
use serde::ser::SerializeMap;

/// Why the thread was not running during a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// Switched out while runnable: another task had the CPU.
    Preempted,
    /// Switched out, and the cgroup's quota ran out.
    Throttled,
    /// Not switched out; the hypervisor's steal clock took the time out of the thread's CPU time.
    Stolen,
    /// Not switched out; the guest kernel's own interrupt and softirq work (timer ticks,
    /// device interrupts, IPIs), with the VM exits they cause.
    Interrupt,
    /// Not switched out, no guest event and no steal: a pause only the host knows of.
    Unreported,
    /// Below the attribution threshold: not attributed.
    Short,
}

impl Cause {
    /// Every cause, in the order the ledger lists them; a cause's index into [`ByCause`].
    pub const ALL: [Cause; 6] = [
        Cause::Preempted,
        Cause::Throttled,
        Cause::Stolen,
        Cause::Interrupt,
        Cause::Unreported,
        Cause::Short,
    ];

    /// The cause's name, as in the JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Cause::Preempted => "preempted",
            Cause::Throttled => "throttled",
            Cause::Stolen => "stolen",
            Cause::Interrupt => "interrupt",
            Cause::Unreported => "unreported",
            Cause::Short => "short",
        }
    }

    /// The thread was switched out (the guest scheduler took the CPU).
    pub const fn switched_out(self) -> bool {
        matches!(self, Cause::Preempted | Cause::Throttled)
    }
}

/// One `T` per cause, indexed by [`Cause`]; serialised as a map from each cause's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByCause<T>([T; Cause::ALL.len()]);

impl<T> ByCause<T> {
    /// `f` of each cause.
    pub fn from_fn(mut f: impl FnMut(Cause) -> T) -> ByCause<T> {
        ByCause(Cause::ALL.map(&mut f))
    }

    /// Each cause with its value, in [`Cause::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Cause, &T)> {
        Cause::ALL.into_iter().zip(&self.0)
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> ByCause<U> {
        ByCause(self.0.map(f))
    }
}

impl<T> Index<Cause> for ByCause<T> {
    type Output = T;
    fn index(&self, cause: Cause) -> &T {
        &self.0[cause as usize]
    }
}

impl<T> IndexMut<Cause> for ByCause<T> {
    fn index_mut(&mut self, cause: Cause) -> &mut T {
        &mut self.0[cause as usize]
    }
}

impl<T: Serialize> Serialize for ByCause<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Cause::ALL.len()))?;
        for (cause, value) in self.iter() {
            map.serialize_entry(cause.name(), value)?;
        }
        map.end()
    }
}

/// Shares of time by cause, serialised as `{cause}_ratio` (the ledger's keys).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ratios(pub ByCause<f64>);

impl Serialize for Ratios {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Cause::ALL.len()))?;
        for (cause, value) in self.0.iter() {
            map.serialize_entry(&format_args!("{}_ratio", cause.name()), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_indexes_its_own_slot_and_serialises_under_its_name() {
        for (i, cause) in Cause::ALL.iter().enumerate() {
            assert_eq!(*cause as usize, i);
            assert_eq!(
                serde_json::to_value(cause).unwrap(),
                serde_json::Value::from(cause.name())
            );
        }
        let mut counts = ByCause::<u64>::default();
        counts[Cause::Interrupt] += 3;
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(json["interrupt"], 3);
        assert_eq!(json["unreported"], 0);
        let ratios = serde_json::to_value(Ratios(counts.map(|n| n as f64 / 4.0))).unwrap();
        assert_eq!(ratios["interrupt_ratio"], 0.75);
        assert_eq!(ratios.as_object().unwrap().len(), Cause::ALL.len());
    }
}
