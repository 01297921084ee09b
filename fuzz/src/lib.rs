//! # snich-fuzz: coverage-guided fuzzing of every input that crosses a trust boundary
//!
//! One target per untrusted input, each a plain function from bytes that panics only when an
//! invariant breaks (a panic in the code under test, an unclear error, a failed round trip, a
//! disagreement with an oracle):
//!
//! | target | input | invariants |
//! |---|---|---|
//! | [`frame`](targets::frame) | a frame into `nic-abi`'s parsers | no panic; card profile = software profile when parsed; differential against etherparse up to the named categories |
//! | [`ring_record`](targets::ring_record) | one ring record (descriptor, completion, miss record, release, copy command) | no panic; a record that decodes encodes to bytes that decode to it again |
//! | [`card`](targets::card) | a hostile guest's ring and buffer bytes and a hostile driver's register writes into `nic-model`'s card | no panic; the packet conservation law holds at the end |
//! | [`rtl`](targets::rtl) | through the Verilator co-simulation: a hostile driver's management-port writes into the RTL beside the model's card, or frames into the RTL parser and lookup beside `nic-abi` and `nic-model` (first byte picks) | no panic; every register read, key, lookup result and result cycle the same on RTL and model |
//! | [`rules`](targets::rules) | a rules file in each format (first byte picks ovs-ofctl, ClassBench, ofrules, JSON, TOML) | no panic; errors name a line or place; ovs-ofctl, JSON and TOML round trips give the same rules |
//! | [`trace_packets`](targets::trace_packets) | packet descriptions on `rules trace` standard input | no panic; errors name the line; a packet's description reads back to the same packet |
//! | [`scenario`](targets::scenario) | a scenario TOML file | no panic; errors name the file |
//! | [`capture`](targets::capture) | a pcap or pcapng file (optionally gzipped) | no panic; errors name the file |
//!
//! The same functions run three ways: under AFL++ (`fuzz.sh`, with `cargo-afl` on the stable
//! toolchain: the `afl-target` binary, built with the `afl` feature, takes the target's name
//! as its argument, and with `seeds` writes AFL++'s seed directories, cut out of `tests/data`), and in this crate's integration test, which replays every seed, every
//! input in `fuzz/corpus/TARGET/` and every crash in `fuzz/regressions/TARGET/` on plain
//! `cargo test`.
//!
//! ```
//! use snich_fuzz::targets::Target;
//!
//! // A truncated IPv4 frame: both parsers refuse it cleanly, nothing panics.
//! let frame = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0x08, 0x00, 0x45];
//! Target::Frame.run(&frame);
//! assert_eq!(Target::from_name("frame"), Some(Target::Frame));
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod seeds;
pub mod targets;
