//! Hiccup detection: a spinning thread that notices every time it was off the CPU, sleep
//! overshoot, and the inference from both (with the kernel's counters) of preemptions,
//! timeslice, throttling pattern and unexplained noise.

pub mod clock;
pub mod preempt;
pub mod sleep;
pub mod spin;

pub use preempt::{Jitter, KernelView, Throttle, infer};
pub use spin::{SpinError, SpinRecord, spin, spin_on};
