//! The calibration of the cost profiles against the real switches measured on this project's
//! machines (`tests/data/real_switches/`), through the code `snich calibrate` runs
//! (`sim_harness::calibrate`): every measured configuration rebuilt as a model run, the
//! numbers the measurements determine fitted on the anchor rows, every other row predicted
//! and held to its repetitions' spread (at least 15%).
//!
//! Run with `cargo test -p sim-harness --test integration calibration -- --nocapture` to see
//! the tables (`snich calibrate FILE --afpacket-profile profiles/ovs-afpacket.toml --fit
//! OUT.toml` prints the same).

use std::path::PathBuf;

use sim_harness::calibrate::{
    calibrate, CalibrateOptions, Calibration, MeasuredSwitch, MeasurementFile, Role,
};
use sim_harness::profile::Profile;

use crate::support::{repo, scratch};

fn calibrated(file: &str, fit: bool) -> Calibration {
    let data = MeasurementFile::load(&repo(file)).expect("measurements");
    let opts = CalibrateOptions {
        profile: Some(repo("profiles/default.toml")),
        afpacket_profile: Some(repo("profiles/ovs-afpacket.toml")),
        fit,
    };
    let c = calibrate(&data, &opts).expect("calibration");
    println!("{}", c.table());
    c
}

fn outside(c: &Calibration) -> Vec<usize> {
    c.rows
        .iter()
        .filter(|r| r.role == Role::Predicted && !r.within)
        .map(|r| r.record)
        .collect()
}

/// The fitted rows reproduce their measurement (two model runs per number, costs linear),
/// except the set-miss anchor when the data shows no miss cost (clamped at 0).
fn fitted_rows_reproduce_their_measurements(c: &Calibration) {
    let clamped = c.fitted.iter().any(|f| f.source.contains("taken as 0"));
    for r in c.rows.iter().filter(|r| r.role == Role::Fitted) {
        let receive = r.config.switch == MeasuredSwitch::None;
        let set_miss_anchor = clamped && r.label.contains(" set/") && r.config.flows > 1;
        if receive || set_miss_anchor {
            // The receive cost is the mean of the switch-none rows; a clamped anchor is
            // whatever the lookup cost gives.
            assert!(r.within, "{}: {:+.1}%", r.label, r.error * 100.0);
            continue;
        }
        assert!(
            r.error.abs() < 0.01,
            "fitted row {}: {:+.2}%",
            r.label,
            r.error * 100.0
        );
    }
}

#[test]
fn this_machines_measurements_are_predicted_inside_their_spread_after_a_fit() {
    // Measured on 2026-12-06 on the 2-core VM this project runs on, shared with two other
    // agents compiling (see the file's meta): the switch's cost is its own threads' CPU time.
    let c = calibrated(
        "tests/data/real_switches/real_switches_2026-12-06.json",
        true,
    );
    assert_eq!(c.rows.len(), 34);
    fitted_rows_reproduce_their_measurements(&c);
    let predicted = c.rows.iter().filter(|r| r.role == Role::Predicted).count();
    assert_eq!(predicted, 27, "7 anchor rows, 27 predictions");
    assert!(c.passed(), "outside their bound: {:#?}", c.outside);
    // Sets of 1,000 to 20,000 elements looked up by one key (every flow's source address is
    // 10.0.0.1): no row touches more than the cache holds, so the miss cost is not fitted.
    assert!(!c
        .fitted
        .iter()
        .any(|f| f.key == "linux_bridge.netfilter_set_miss"));
}

#[test]
fn the_2026_11_22_measurements_miss_where_open_vswitch_batches_in_overload() {
    let c = calibrated(
        "tests/data/real_switches/real_switches_2026-11-22.json",
        true,
    );
    assert_eq!(c.rows.len(), 30);
    fitted_rows_reproduce_their_measurements(&c);
    // Known misses, each a row the model cannot follow: Open vSwitch measured far in
    // overload (its ingress veth received 400-560 kpps while it forwarded 100-280 kpps)
    // spends less per forwarded packet than at the anchor's light overload (AF_XDP 10 and
    // 100 rules: -22% and -27%), and with AF_PACKET ports its cost grows with rules and
    // flows (+16% to +37%) where the model's traffic stays in one megaflow; the bridge's
    // 100 linear rules at 1 flow (+15.9%) sits just above its 15% bound (measured max
    // 280 kpps, model 288 kpps). The test fails if a row moves in or out.
    assert_eq!(outside(&c), vec![8, 17, 18, 19, 20, 21, 25, 26]);
    assert!(!c.passed());
    // Every other bridge row is predicted inside its bound.
    for r in c
        .rows
        .iter()
        .filter(|r| r.label.starts_with("linux-bridge"))
    {
        assert!(r.within || r.record == 8, "{}", r.label);
    }
}

#[test]
fn the_profiles_as_committed_predict_the_bridge_of_2026_11_22_without_a_fit() {
    // The profile's numbers were fitted on these measurements (by hand, before
    // `snich calibrate`); Open vSwitch's AF_PACKET fast path was fitted per forwarded packet
    // then, which charged it the receive of the packets it dropped: per received packet it
    // is 3,720 ns, not 6,713, and the committed profile predicts 35-38% too few pps.
    let c = calibrated(
        "tests/data/real_switches/real_switches_2026-11-22.json",
        false,
    );
    assert!(c.fitted.is_empty());
    for r in c
        .rows
        .iter()
        .filter(|r| r.label.starts_with("linux-bridge"))
    {
        assert!(
            r.within || r.record == 8,
            "{}: {:+.1}%",
            r.label,
            r.error * 100.0
        );
    }
    for r in c
        .rows
        .iter()
        .filter(|r| r.config.switch == MeasuredSwitch::OvsAfPacket && r.config.flows == 1)
    {
        assert!(r.error < -0.15, "{}: {:+.1}%", r.label, r.error * 100.0);
    }
}

#[test]
fn the_fitted_profile_reads_back_with_sources_naming_the_file_and_rows() {
    let c = calibrated(
        "tests/data/real_switches/real_switches_2026-12-06.json",
        true,
    );
    let text = c.fitted_profile(false).expect("fitted profile");
    let dir = scratch("calibration-fit");
    let path: PathBuf = dir.join("fitted.toml");
    std::fs::write(&path, &text).expect("write");
    let p = Profile::load(&path).expect("the fitted profile loads");
    let source = p.source("linux_bridge.netfilter_per_rule").expect("source");
    assert!(source.contains("real_switches_2026-12-06.json"), "{source}");
    assert!(
        source.contains("linux-bridge linear/1000 flows=1"),
        "{source}"
    );
    let fitted = c
        .fitted
        .iter()
        .find(|f| f.key == "linux_bridge.netfilter_per_rule" && f.profile == "main")
        .expect("per-rule fitted");
    // 18.8 ns at the 2.6 GHz reference clock, in cycles.
    assert!((p.linux_bridge.netfilter_per_rule - fitted.value * 2.6).abs() < 0.01);
    // The AF_PACKET profile has its own fast path and the shared numbers.
    let af = Profile::parse(&c.fitted_profile(true).expect("afpacket"), "af").expect("af");
    let main_fast = c
        .fitted
        .iter()
        .find(|f| f.key == "ovs.fast_path" && f.profile == "main")
        .expect("main fast path");
    let af_fast = c
        .fitted
        .iter()
        .find(|f| f.key == "ovs.fast_path" && f.profile == "afpacket")
        .expect("afpacket fast path");
    assert!(af_fast.value > main_fast.value);
    assert!((af.linux_bridge.netfilter_per_rule - p.linux_bridge.netfilter_per_rule).abs() < 1e-9);
}

#[test]
fn bad_measurement_files_are_refused_with_the_place() {
    let err = MeasurementFile::parse("{\"meta\": {\"schema\": \"x\"}, \"records\": []}", "m.json")
        .expect_err("schema");
    assert!(err.to_string().contains("meta.schema"), "{err}");
    let text = r#"{"meta": {"schema": "real_switches/v1"}, "records": [
        {"switch": "linux-bridge", "ports": "veth", "rule_kind": "linear", "rules": 10,
         "flows": 1, "runs": [{"forwarded_pps": 1000, "switch_rx_pps": 1000,
         "switch_core_busy_pct": 250}]}]}"#;
    let err = MeasurementFile::parse(text, "m.json").expect_err("busy");
    assert!(err.to_string().contains("records[0]"), "{err}");
    assert!(err.to_string().contains("runs[0]"), "{err}");
    let err =
        MeasurementFile::parse(&text.replace("linear", "openflow"), "m.json").expect_err("kind");
    assert!(err.to_string().contains("rule_kind"), "{err}");
    let err = MeasurementFile::parse(&text.replace("\"rules\": 10", "\"rules\": \"x\""), "m.json")
        .expect_err("type");
    assert!(err.to_string().contains("records[0].rules"), "{err}");
}

#[test]
fn snich_calibrate_exits_by_whether_the_predictions_hold() {
    let snich = || std::process::Command::new(env!("CARGO_BIN_EXE_snich"));
    let dir = scratch("calibration-cli");
    let out_toml = dir.join("mine.toml");
    let json = dir.join("calibration.json");
    // This machine's measurements, fitted: every prediction inside its bound.
    let out = snich()
        .arg("calibrate")
        .arg(repo(
            "tests/data/real_switches/real_switches_2026-12-06.json",
        ))
        .arg("--fit")
        .arg(&out_toml)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("predicted") && text.contains("fitted"),
        "{text}"
    );
    Profile::load(&out_toml).expect("the fitted profile loads");
    Profile::load(&dir.join("mine-afpacket.toml")).expect("the AF_PACKET profile loads");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(34));
    // The committed profiles on the 2026-11-22 data without a fit: AF_PACKET OVS misses.
    let out = snich()
        .arg("calibrate")
        .arg(repo(
            "tests/data/real_switches/real_switches_2026-11-22.json",
        ))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside its bound: records[14]"), "{err}");
    // A file that is not a measurement file.
    let out = snich()
        .arg("calibrate")
        .arg(repo("Cargo.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cargo.toml"), "{err}");
}

#[test]
fn a_profile_fitted_on_one_run_predicts_the_next_run_of_the_day_mostly_within_15_percent() {
    // Fitted on the first run, the second run's 33 rows (measured 18 minutes later, same
    // machine and load) are all predicted: 27 inside their bound, 6 outside by 15.6-21.1%.
    // The runs differ from each other more than their own repetitions do (the bridge with
    // no rules at 1 flow: 554 kpps, then 702 kpps on a core of its own): a shared machine's
    // day-to-day spread, which no row's min..max sees.
    let first = calibrated(
        "tests/data/real_switches/real_switches_2026-12-06.json",
        true,
    );
    let dir = scratch("calibration-next-run");
    let main = dir.join("day.toml");
    let af = dir.join("day-afpacket.toml");
    std::fs::write(&main, first.fitted_profile(false).expect("main")).expect("write");
    std::fs::write(&af, first.fitted_profile(true).expect("af")).expect("write");
    let data = MeasurementFile::load(&repo(
        "tests/data/real_switches/real_switches_2026-12-06_run2.json",
    ))
    .expect("second run");
    let opts = CalibrateOptions {
        profile: Some(main),
        afpacket_profile: Some(af),
        fit: false,
    };
    let next = calibrate(&data, &opts).expect("calibration");
    println!("{}", next.table());
    assert_eq!(next.rows.len(), 33);
    assert!(next.rows.iter().all(|r| r.role == Role::Predicted));
    assert_eq!(outside(&next), vec![2, 9, 10, 13, 15, 20]);
    assert!(
        next.worst_predicted_error < 0.22,
        "{}",
        next.worst_predicted_error
    );
}

#[test]
fn the_measurement_script_the_readme_shows_parses_and_lists_its_options() {
    let out = std::process::Command::new("python3")
        .arg(repo("scripts/measure_real_switches.py"))
        .arg("--help")
        .output()
        .expect("python3 runs (test.sh installs it)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--out",
        "--rules",
        "--flows",
        "--switches",
        "--set-sizes",
        "--budget-s",
    ] {
        assert!(text.contains(option), "{option} missing: {text}");
    }
}

#[test]
fn a_sets_cost_grows_with_the_keys_its_lookups_touch_as_measured() {
    // Sets keyed on source address . UDP source port (each flow its own key), 1,000 to
    // 100,000 elements, 1 to 20,000 flows. Anchors: the bridge with no set, the smallest set
    // at 1 flow (its lookups cached) and the set whose lookups touch the most (100,000
    // elements, 20,000 flows) for the miss cost; the other 9 rows are predicted, the knee
    // at the profile's 512 cached keys.
    let c = calibrated(
        "tests/data/real_switches/real_switches_2026-12-06_sets.json",
        true,
    );
    assert_eq!(c.rows.len(), 12);
    assert!(c.passed(), "outside their bound: {:#?}", c.outside);
    assert!(
        c.worst_predicted_error < 0.08,
        "{}",
        c.worst_predicted_error
    );
    let miss = c
        .fitted
        .iter()
        .find(|f| f.key == "linux_bridge.netfilter_set_miss")
        .expect("the miss cost is fitted");
    assert!((miss.value - 407.0).abs() < 5.0, "{}", miss.value);
    // One key costs the same whatever the set's size; 20,000 keys in 10,000 elements more
    // than 1,000 keys in 1,000.
    let model_ns = |label: &str| {
        c.rows
            .iter()
            .find(|r| r.label == label)
            .map(|r| r.model.ns_per_packet)
            .expect(label)
    };
    let one_key_small = model_ns("linux-bridge set(saddr.sport)/1000 flows=1");
    let one_key_big = model_ns("linux-bridge set(saddr.sport)/100000 flows=1");
    assert!((one_key_small - one_key_big).abs() < 1.0);
    assert!(
        model_ns("linux-bridge set(saddr.sport)/10000 flows=20000")
            > model_ns("linux-bridge set(saddr.sport)/1000 flows=1000") + 100.0
    );
}
