//! One test per target; each replays the target's seeds, corpus and regressions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use snich_fuzz::seeds::{seeds, workspace_root};
use snich_fuzz::targets::Target;

/// The checked-in inputs of `target` under `fuzz/KIND/TARGET/`.
fn kept(kind: &str, target: Target) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = workspace_root().join("fuzz").join(kind).join(target.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read a kept input");
            (p.display().to_string(), bytes)
        })
        .collect()
}

/// Runs every input of `target`; fails naming each input that broke an invariant.
fn replay(target: Target, min_seeds: usize) {
    let seeds = seeds(target);
    assert!(
        seeds.len() >= min_seeds,
        "{}: {} seeds from the test data, expected at least {min_seeds}",
        target.name(),
        seeds.len()
    );
    let mut inputs: Vec<(String, Vec<u8>)> = seeds.into_iter().map(|s| (s.name, s.bytes)).collect();
    inputs.extend(kept("corpus", target));
    inputs.extend(kept("regressions", target));
    let mut failed = Vec::new();
    for (name, bytes) in &inputs {
        if catch_unwind(AssertUnwindSafe(|| target.run(bytes))).is_err() {
            failed.push(name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "{}: {} of {} inputs broke an invariant: {failed:#?}",
        target.name(),
        failed.len(),
        inputs.len()
    );
}

#[test]
fn frame() {
    replay(Target::Frame, 30_000);
}

#[test]
fn ring_record() {
    replay(Target::RingRecord, 24);
}

#[test]
fn card() {
    replay(Target::Card, 32);
}

#[test]
fn rtl() {
    replay(Target::Rtl, 4);
}

#[test]
fn rules() {
    replay(Target::Rules, 40);
}

#[test]
fn trace_packets() {
    replay(Target::TracePackets, 8);
}

#[test]
fn scenario() {
    replay(Target::Scenario, 8);
}

#[test]
fn capture() {
    replay(Target::Capture, 500);
}

#[test]
fn every_target_has_a_test_and_a_name() {
    for t in Target::ALL {
        assert_eq!(Target::from_name(t.name()), Some(t));
    }
}
