//! Lint output pinned by a golden file.

use flow_setup::lint::{lint, verify};
use flow_setup::ofctl::parse_rules;

const RULES: &str = include_str!("golden/lint_rules.txt");
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/golden/lint_expected.txt"
);

#[test]
fn lint_output_matches_golden_file() {
    let rules = parse_rules(RULES).unwrap();
    let report = lint(&rules);
    verify(&rules, &report).unwrap();
    let text = report.render(&rules);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &text).unwrap();
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap();
    assert_eq!(text, expected, "rerun with UPDATE_GOLDEN=1 to accept");
}

#[test]
fn lint_acl1_1k_finds_only_verified_findings() {
    let rules = flow_setup::classbench::parse_filters(&crate::data("acl1_1K"), &[]).unwrap();
    let report = lint(&rules);
    verify(&rules, &report).unwrap();
    let summary = report.render(&rules);
    println!("{}", summary.lines().last().unwrap_or_default());
}
