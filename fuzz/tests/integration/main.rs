//! Replays, on plain `cargo test`, every seed of every fuzz target (cut from the repository's
//! test data), every input of the checked-in corpus (`fuzz/corpus/TARGET/`) and every crash
//! the fuzzer found (`fuzz/regressions/TARGET/`, named after what it crashed). A target
//! panics when an invariant breaks, so each input that fails names itself.

mod replay;
