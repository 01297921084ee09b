//! `snich rules check | lint | trace`, run as a user runs them, against golden files and the
//! linear reference classifier.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flow_setup::classbench::{parse_filters, parse_trace_gz};
use flow_setup::classifier::{from_rules, Classifier, LinearClassifier};
use flow_setup::rule::Point;

fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration")
        .join(rel)
}

fn shared_data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(file)
}

fn snich(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_snich"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("snich runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("snich finishes")
}

/// Compares `actual` with the golden file `name`; `UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, actual: &str) {
    let path = here("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_reports_every_error_with_its_place() {
    let out = snich(
        &["rules", "check", "tests/integration/data/bad.rules"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    golden("check_bad.txt", &(text(&out.stderr) + &text(&out.stdout)));
    let ok = snich(
        &["rules", "check", "tests/integration/data/small.rules"],
        None,
    );
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(
        text(&ok.stdout),
        "tests/integration/data/small.rules: 8 rules (ovs-ofctl), 0 errors\n"
    );
}

#[test]
fn check_reads_every_supported_format() {
    let acl = shared_data("acl1_1K");
    let out = snich(&["rules", "check", acl.to_str().expect("utf-8")], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(": 966 rules (ClassBench), 0 errors\n"));
    let of = shared_data("of1_1K.ofrules");
    let out = snich(&["rules", "check", of.to_str().expect("utf-8")], None);
    // Every line loads with its implied prerequisites; 13 port-only lines are 3 rules each.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(": 799 rules (ClassBench-ng ofrules), 0 errors\n"));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn check_and_lint_warn_about_every_field_normalization_dropped() {
    let file = "tests/integration/data/normalized.rules";
    let check = snich(&["rules", "check", file], None);
    // The rules load, as in Open vSwitch: warnings do not fail `check`.
    assert_eq!(check.status.code(), Some(0));
    let lint = snich(&["rules", "lint", file], None);
    // They are findings for `lint`.
    assert_eq!(lint.status.code(), Some(1));
    let lint_json = snich(&["rules", "lint", "--json", file], None);
    let doc: serde_json::Value = serde_json::from_slice(&lint_json.stdout).expect("JSON");
    assert_eq!(doc["dropped_fields"].as_array().map(Vec::len), Some(4));
    golden(
        "normalized.txt",
        &format!(
            "$ snich rules check {file}\n{}{}\n$ snich rules lint {file}\n{}{}",
            text(&check.stderr),
            text(&check.stdout),
            text(&lint.stderr),
            text(&lint.stdout)
        ),
    );
}

#[test]
fn lint_names_the_rules_and_a_witness() {
    let out = snich(
        &["rules", "lint", "tests/integration/data/small.rules"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings exit 1: {}",
        text(&out.stderr)
    );
    golden("lint_small.txt", &text(&out.stdout));
    let json = snich(
        &[
            "rules",
            "lint",
            "--json",
            "tests/integration/data/small.rules",
        ],
        None,
    );
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"shadowed") && kinds.contains(&"redundant"),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"conflict"), "{kinds:?}");
    assert!(doc["findings"][0]["witness"]
        .as_str()
        .is_some_and(|w| w.starts_with("in_port=")));
}

#[test]
fn trace_of_packet_descriptions_on_stdin() {
    let packets = std::fs::read_to_string(here("data/packets.txt")).expect("packets");
    let out = snich(
        &["rules", "trace", "tests/integration/data/small.rules", "-"],
        Some(&packets),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("trace_small.jsonl", &text(&out.stdout));
}

#[test]
fn trace_of_arp_descriptions_matches_the_hardware_addresses() {
    // The form OpenFlow test suites use, with every ARP field.
    let packets = "\
in_port=1,arp,dl_src=02:00:00:00:00:01,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00
in_port=1,arp,dl_src=02:00:00:00:00:01,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=02:00:00:00:00:66,arp_tha=00:00:00:00:00:00
in_port=2,rarp,dl_src=02:00:00:00:00:01,arp_op=3,arp_sha=02:00:00:00:00:01,arp_tha=03:00:00:00:00:07
in_port=2,arp,arp_op=2,arp_spa=10.0.0.2,arp_tpa=10.0.0.9,arp_sha=02:00:00:00:00:02,arp_tha=02:00:00:12:34:56
in_port=2,arp,arp_op=2,arp_spa=10.0.0.2,arp_tpa=10.0.0.9,arp_sha=02:00:00:00:00:02,arp_tha=02:00:01:12:34:56
";
    let out = snich(
        &["rules", "trace", "tests/integration/data/arp.rules", "-"],
        Some(packets),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let priorities: Vec<u64> = lines
        .iter()
        .map(|l| l["priority"].as_u64().expect("a rule matched"))
        .collect();
    assert_eq!(priorities, [20, 10, 15, 12, 10]);
    assert!(lines[1]["flow"]
        .as_str()
        .is_some_and(|f| f.ends_with("arp_sha=02:00:00:00:00:66,arp_tha=00:00:00:00:00:00")));
    assert!(lines[2]["flow"]
        .as_str()
        .is_some_and(|f| f.contains(",rarp,")));
}

#[test]
fn trace_of_a_classbench_trace_agrees_with_the_linear_classifier() {
    let rules_path = shared_data("acl1_1K");
    let trace_path = shared_data("acl1_1K_trace.gz");
    let out = snich(
        &[
            "rules",
            "trace",
            rules_path.to_str().expect("utf-8"),
            trace_path.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rules =
        parse_filters(&std::fs::read_to_string(&rules_path).expect("rules"), &[]).expect("valid");
    let headers = parse_trace_gz(&std::fs::read(&trace_path).expect("trace")).expect("valid");
    let linear: LinearClassifier = from_rules(&rules);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), headers.len());
    for (i, (line, h)) in lines.iter().zip(&headers).enumerate() {
        let key = nic_abi::key::FlowKey {
            in_port: nic_abi::key::PortNo(1),
            ..h.key
        };
        let expected = linear
            .lookup(&Point::from(&key))
            .map(|id| rules[id.0 as usize].cookie);
        assert_eq!(line["packet"], i);
        assert_eq!(line["cookie"].as_u64(), expected, "packet {i}");
    }
}

#[test]
fn trace_of_a_capture_gives_a_line_per_frame() {
    let pcap = shared_data("pcapparser_wireshark_samples-test.pcapng");
    let out = snich(
        &[
            "rules",
            "trace",
            "tests/integration/data/small.rules",
            pcap.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 5_898);
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let rules = "tests/integration/data/small.rules";
    let out = snich(
        &["rules", "trace", rules, "-"],
        Some("in_port=1,tcp,tcp_dst=80\ntcpx\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("<stdin>:2:1: expected a match field"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "nothing traced when the input is bad"
    );

    let ranged = snich(&["rules", "trace", rules, "-"], Some("tcp,tcp_dst=80-90\n"));
    assert!(
        text(&ranged.stderr).contains("tp_dst is a range"),
        "{}",
        text(&ranged.stderr)
    );

    let bytes =
        std::fs::read(shared_data("pcapparser_wireshark_samples-test.pcapng")).expect("read");
    let cut = std::env::temp_dir().join(format!("snich-cut-{}.pcapng", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() - 5_000]).expect("write");
    let out = snich(
        &["rules", "trace", rules, cut.to_str().expect("utf-8")],
        None,
    );
    std::fs::remove_file(&cut).ok();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is truncated or corrupt"),
        "{}",
        text(&out.stderr)
    );

    let missing = snich(&["rules", "lint", "/nonexistent/rules"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/rules: cannot read"));

    let bad_rules = snich(
        &["rules", "trace", "tests/integration/data/bad.rules", "-"],
        Some(""),
    );
    assert_eq!(bad_rules.status.code(), Some(1));
}

#[test]
fn bench_reports_build_lookups_updates_and_memory_of_any_rule_set() {
    let bench = |rules: &str, trace: &str| -> serde_json::Value {
        let rules_path = shared_data(rules);
        let trace_path = shared_data(trace);
        let out = snich(
            &[
                "rules",
                "bench",
                rules_path.to_str().expect("utf-8"),
                trace_path.to_str().expect("utf-8"),
                "--seconds",
                "0.05",
                "--json",
                "-",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("lookups"),
            "the text goes to stderr"
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    };
    let small = bench("acl1_1K", "acl1_1K_trace.gz");
    for key in [
        "rules",
        "packets",
        "matched",
        "build_seconds",
        "lookups_per_second",
        "updates_per_second",
        "memory_bytes",
    ] {
        assert!(
            small[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {small}"
        );
    }
    // The rule and match counts are the linear reference classifier's.
    let rules_text = std::fs::read_to_string(shared_data("acl1_1K")).expect("rules");
    let rules = parse_filters(&rules_text, &[]).expect("valid");
    let headers = parse_trace_gz(&std::fs::read(shared_data("acl1_1K_trace.gz")).expect("trace"))
        .expect("valid");
    let linear: LinearClassifier = from_rules(&rules);
    let matched = headers
        .iter()
        .filter(|h| {
            let key = nic_abi::key::FlowKey {
                in_port: nic_abi::key::PortNo(1),
                ..h.key
            };
            linear.lookup(&Point::from(&key)).is_some()
        })
        .count();
    assert_eq!(small["rules"].as_u64(), Some(rules.len() as u64));
    assert_eq!(small["packets"].as_u64(), Some(headers.len() as u64));
    assert_eq!(small["matched"].as_u64(), Some(matched as u64));
    // Ten times the rules hold more memory.
    let large = bench("acl1_10K", "acl1_10K_trace.gz");
    assert!(
        large["memory_bytes"].as_u64() > small["memory_bytes"].as_u64(),
        "{small} vs {large}"
    );
    // A bad option is a clear error, not a panic.
    let out = snich(
        &[
            "rules",
            "bench",
            shared_data("acl1_1K").to_str().expect("utf-8"),
            "-",
            "--seconds=-1",
        ],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--seconds -1"),
        "{}",
        text(&out.stderr)
    );
}
