//! The `snich` command as a user runs it.

use std::process::Command;

fn snich() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snich"))
}

#[test]
fn help_lists_the_commands() {
    let out = snich().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cosim") && text.contains("rules"), "{text}");
}

#[cfg(not(feature = "rtl"))]
#[test]
fn cosim_without_the_rtl_feature_says_how_to_get_it() {
    let out = snich()
        .args(["cosim", "--packets", "10"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features rtl"), "{err}");
}

#[cfg(feature = "rtl")]
#[test]
fn cosim_refuses_a_file_that_is_not_a_capture() {
    let out = snich()
        .args(["cosim", "--pcap"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cargo.toml: not a pcap or pcapng capture"),
        "{err}"
    );
}

#[cfg(feature = "rtl")]
#[test]
fn cosim_of_random_frames_agrees_and_prints_its_summary() {
    let out = snich()
        .args(["cosim", "--packets", "3000", "--seed", "5"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    for key in [
        "packets",
        "keys_compared",
        "lookups_compared",
        "timing_compared",
    ] {
        assert_eq!(summary[key], 3000, "{key}: {summary}");
    }
    assert_eq!(summary["mismatches"], 0);
    assert!(summary["cycles"].as_u64().is_some_and(|c| c > 3000));
    assert!(summary["cycles_per_second"]
        .as_f64()
        .is_some_and(|c| c > 0.0));
}
