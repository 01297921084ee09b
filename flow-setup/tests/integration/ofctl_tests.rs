//! The ovs-ofctl syntax over the flow lines of Open vSwitch's own test suite.

use std::collections::BTreeMap;

use flow_setup::ofctl::{parse_rule, ParseErrorKind};

const OVS_FLOWS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/ovs_at_test_flows.json"
));

#[derive(serde::Deserialize)]
struct Block {
    rules: Vec<String>,
}

#[test]
fn every_ovs_test_flow_parses_or_names_what_is_unsupported() {
    let blocks: Vec<Block> = serde_json::from_str(OVS_FLOWS).unwrap();
    let mut parsed = 0usize;
    let mut unsupported: BTreeMap<String, usize> = BTreeMap::new();
    let mut prerequisite = 0usize;
    let mut syntax = 0usize;
    let mut total = 0usize;
    for line in blocks.iter().flat_map(|b| b.rules.iter()) {
        total += 1;
        match parse_rule(line) {
            Ok(rule) => {
                parsed += 1;
                let again = parse_rule(&rule.to_string()).unwrap();
                assert_eq!(again, rule, "{line}");
            }
            Err(e) => match e.kind {
                ParseErrorKind::Unsupported { feature } => {
                    let key = feature.split(' ').next().unwrap_or_default().to_string();
                    *unsupported.entry(key).or_default() += 1;
                }
                ParseErrorKind::Match(_) => prerequisite += 1,
                ParseErrorKind::Syntax { .. } => {
                    println!("syntax: {line}\n   {e}");
                    syntax += 1;
                }
            },
        }
    }
    let n_unsupported: usize = unsupported.values().sum();
    println!("{total} lines: {parsed} parsed, {n_unsupported} unsupported, {prerequisite} prerequisite errors, {syntax} syntax errors");
    for (f, n) in &unsupported {
        println!("  unsupported {f}: {n}");
    }
    assert_eq!(total, 2228);
    // The 9 syntax errors are genuine: 6 lines in datapath-flow syntax
    // (`in_port(1),eth(...)`) and 3 with an unexpanded test macro (`SAMPLE_ACTION(...)`).
    // 475 parse: two of them match arp_sha/arp_tha, refused as unsupported before.
    assert_eq!(
        (parsed, n_unsupported, prerequisite, syntax),
        (475, 1744, 0, 9)
    );
    for feature in [
        "ct_state",
        "conjunction",
        "learn",
        "resubmit",
        "goto_table",
        "set_field",
    ] {
        assert!(
            unsupported.contains_key(feature),
            "{feature} should be named"
        );
    }
    assert!(
        unsupported.contains_key("multiple"),
        "multiple tables should be named"
    );
}

mod round_trip {
    use flow_setup::ofctl::parse_rule;
    use flow_setup::ruleset::RuleSet;
    use proptest::prelude::*;

    use crate::strategies::rule_strategy;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Printing a rule and parsing the text gives the same rule.
        #[test]
        fn print_then_parse_is_identity(rule in rule_strategy()) {
            let text = rule.to_string();
            let back = parse_rule(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back, rule, "{}", text);
        }

        /// The same through JSON and TOML.
        #[test]
        fn serde_round_trips(rules in prop::collection::vec(rule_strategy(), 0..6)) {
            let set = RuleSet::new(rules);
            prop_assert_eq!(&RuleSet::from_json(&set.to_json().unwrap()).unwrap(), &set);
            prop_assert_eq!(&RuleSet::from_toml(&set.to_toml().unwrap()).unwrap(), &set);
        }
    }
}
