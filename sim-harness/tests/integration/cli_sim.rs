//! `snich run | compare | sweep | replay | paper` on bad input: a clear error naming the file
//! and the place, a non-zero exit status, never a panic.

use std::process::{Command, Output};

use crate::support::{here, pcap_header, repo, scratch};

fn snich(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snich"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("snich runs")
}

fn refused(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_scenario_is_refused_with_its_file_and_key() {
    let dir = scratch("cli-bad-scenario");
    let f = dir.join("bad.toml");
    std::fs::write(&f, "[vms]\ncount = 0\n").unwrap();
    let fs = f.to_string_lossy().into_owned();
    for cmd in ["run", "compare"] {
        let out = snich(&[cmd, &fs, "--quiet"], &dir);
        refused(&out, 1, &format!("{fs}: vms.count: must be at least 1"));
    }
    std::fs::write(&f, "[vms]\ncount = \n").unwrap();
    refused(
        &snich(&["run", &fs], &dir),
        1,
        &format!("{fs}:2:9: not valid TOML"),
    );
    refused(
        &snich(&["sweep", &fs, "--vary", "vms.count=1,2"], &dir),
        1,
        "not valid TOML",
    );
    refused(
        &snich(&["run", "no-such.toml"], &dir),
        1,
        "no-such.toml: cannot read",
    );
    assert!(
        !dir.join("snich-results").exists()
            || std::fs::read_dir(dir.join("snich-results"))
                .unwrap()
                .count()
                == 0,
        "nothing written for refused input"
    );
}

#[test]
fn a_bad_vary_is_refused() {
    let dir = scratch("cli-bad-vary");
    let default = repo("scenarios/default.toml")
        .to_string_lossy()
        .into_owned();
    refused(
        &snich(&["sweep", &default], &dir),
        1,
        "default.toml: no --vary given and the scenario has no [sweep]",
    );
    let s = here("data/small_scenario.toml")
        .to_string_lossy()
        .into_owned();
    refused(
        &snich(&["sweep", &s, "--vary", "vms.count"], &dir),
        1,
        "--vary vms.count: expected KEY=V1,V2,...",
    );
    refused(
        &snich(&["sweep", &s, "--vary", "vms.count=2,x"], &dir),
        1,
        "vms.count: invalid type: string \"x\", expected u16 (with vms.count = \"x\")",
    );
}

#[test]
fn bad_rules_are_refused_with_their_place() {
    let dir = scratch("cli-bad-rules");
    let f = dir.join("s.toml");
    std::fs::write(&f, "[rules]\nfile = \"r.rules\"\n").unwrap();
    std::fs::write(
        dir.join("r.rules"),
        "priority=5,tcp,actions=drop\npriority=4,tcp,tp_dts=80,actions=drop\n",
    )
    .unwrap();
    let out = snich(&["run", &f.to_string_lossy()], &dir);
    refused(&out, 1, "r.rules:2:");
    let pcap = repo("tests/data/pcapparser_wireshark_samples-test.pcapng")
        .to_string_lossy()
        .into_owned();
    let out = snich(&["replay", &pcap, "--rules", "r.rules"], &dir);
    refused(&out, 1, "r.rules:2:");
}

#[test]
fn bad_captures_are_refused_with_their_file_and_place() {
    let dir = scratch("cli-bad-pcap");
    let mut record = Vec::new();
    for v in [0u32, 0, 60, 60] {
        record.extend_from_slice(&v.to_le_bytes());
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.pcap", pcap_header(1), "the capture holds no packet"),
        (
            "truncated.pcap",
            [pcap_header(1), record.clone(), vec![0; 20]].concat(),
            "record 0 is truncated or corrupt",
        ),
        (
            "other-link.pcap",
            [pcap_header(105), record.clone(), vec![0; 60]].concat(),
            "link type",
        ),
        (
            "corrupt.pcap",
            b"this is not a capture at all".to_vec(),
            "not a pcap or pcapng capture",
        ),
    ];
    for (name, bytes, needle) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let out = snich(&["replay", name, "--quiet"], &dir);
        refused(&out, 1, name);
        refused(&out, 1, needle);
    }
    refused(
        &snich(&["replay", "missing.pcap"], &dir),
        1,
        "missing.pcap: cannot read",
    );
}

#[test]
fn paper_refuses_a_directory_without_scenarios() {
    let dir = scratch("cli-paper-empty");
    refused(
        &snich(&["paper", "--scenarios", "."], &dir),
        1,
        "no scenario (*.toml) in the directory",
    );
}

/// The JSON report of `args` written to standard output, without `simulator`.
fn report_without_simulator(args: &[&str], dir: &std::path::Path) -> serde_json::Value {
    let out = snich(args, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    v.as_object_mut().expect("object").remove("simulator");
    v
}

/// Invariant 6 through the command line: the same run twice, and a sweep on one and on two
/// threads, give the same report apart from `simulator`.
#[test]
fn runs_and_sweeps_from_the_command_line_are_deterministic() {
    let dir = scratch("cli-determinism");
    let s = dir.join("s.toml");
    std::fs::write(
        &s,
        "seed = 5\npackets = 2000\n[vms]\ncount = 3\n[workload]\nsize = { imix = \"simple\" }\n\
         flows = { new_per_second = 1e5 }\n[sweep]\nkey = \"vms.count\"\nvalues = [2, 3]\n",
    )
    .unwrap();
    let s = s.to_string_lossy().into_owned();
    let run = |out: &str| {
        report_without_simulator(&["run", &s, "--quiet", "--json", "-", "--out", out], &dir)
    };
    let first = run("a");
    assert_eq!(first, run("b"));
    let switches = first["results"].as_array().map_or(0, Vec::len);
    assert_eq!(switches, 7, "every switch ran: {first}");
    let sweep = |threads: &str, out: &str| {
        report_without_simulator(
            &[
                "sweep",
                &s,
                "--threads",
                threads,
                "--quiet",
                "--json",
                "-",
                "--out",
                out,
            ],
            &dir,
        )
    };
    let one = sweep("1", "c");
    let points = one["results"].as_array().map_or(0, Vec::len);
    assert_eq!(points, 2 * switches, "two values, every switch");
    let csv = |d: &str| std::fs::read_to_string(dir.join(d).join("sweep.csv")).unwrap();
    assert_eq!(sweep("2", "d"), one);
    assert_eq!(csv("c"), csv("d"));
}
