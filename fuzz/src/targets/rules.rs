//! Rules files in every format. The first byte picks the format (ovs-ofctl, ClassBench,
//! ClassBench-ng ofrules, JSON, TOML, or detected from the text as `snich rules` does); the
//! rest is the file's text. Nothing may panic; every error of the loader names the file (and
//! its line, for line errors); a rule set that parses writes out as ovs-ofctl text, JSON and
//! TOML that read back to the same rules.

use std::path::Path;

use flow_setup::ruleset::{RuleSet, RulesFileError, RulesFormat};

/// Runs the input.
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = RulesFormat::ALL.get(usize::from(pick % 6)).copied();
    let origin = Path::new("fuzz.rules");
    let loaded = RuleSet::load_text(origin, text, format);
    for e in &loaded.errors {
        let shown = e.to_string();
        assert!(
            shown.starts_with("fuzz.rules"),
            "a loader error does not name the file: {shown}"
        );
        if let RulesFileError::Line { .. } = e {
            assert!(
                e.place().is_some(),
                "a line error without its place: {shown}"
            );
        }
    }
    let Ok(set) = RuleSet::parse(text, loaded.format) else {
        return;
    };
    let ofctl = set.to_ofctl();
    match RuleSet::parse(&ofctl, RulesFormat::Ofctl) {
        Ok(again) => assert_eq!(
            again, set,
            "ovs-ofctl round trip changed the rules:\n{ofctl}"
        ),
        Err(e) => panic!("the rules' own ovs-ofctl text does not parse: {e}\n{ofctl}"),
    }
    match set.to_json().map(|json| (RuleSet::from_json(&json), json)) {
        Ok((Ok(again), json)) => {
            assert_eq!(again, set, "JSON round trip changed the rules:\n{json}")
        }
        Ok((Err(e), json)) => panic!("the rules' own JSON does not parse: {e}\n{json}"),
        Err(e) => panic!("the rules do not write as JSON: {e}"),
    }
    match set.to_toml().map(|toml| (RuleSet::from_toml(&toml), toml)) {
        Ok((Ok(again), toml)) => {
            assert_eq!(again, set, "TOML round trip changed the rules:\n{toml}")
        }
        Ok((Err(e), toml)) => panic!("the rules' own TOML does not parse: {e}\n{toml}"),
        Err(e) => panic!("the rules do not write as TOML: {e}"),
    }
}
