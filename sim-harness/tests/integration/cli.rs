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
        .args(["cosim", "--packets", "3000", "--seed", "5", "--json", "-"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.starts_with("cosim: 3000 frames: 3000 parser keys"),
        "the text goes to standard error: {err}"
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

#[cfg(feature = "rtl")]
#[test]
fn cosim_writes_its_json_summary_where_asked_and_its_text_on_stdout() {
    let dir = std::env::temp_dir().join(format!("snich-cosim-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("summary.json");
    let out = snich()
        .args(["cosim", "--packets", "200", "--seed", "2", "--json"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("cosim: 200 frames:"), "{text}");
    assert!(text.contains("; 0 mismatches;"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
    assert_eq!(summary["packets"], 200, "{summary}");
    assert_eq!(summary["mismatches"], 0, "{summary}");
    assert!(summary["verilator"].is_string(), "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}
