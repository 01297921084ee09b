//! # benches: criterion benchmarks of sNICh's hot paths
//!
//! The benchmarks live in `benches/benches/`; run them with `cargo bench -p benches`.
//! Each benchmark id is an interface named by an issue; keep the ids stable.
