//! Scenario TOML files. Nothing may panic, and every error names the file.

use std::path::Path;

use sim_harness::scenario::Scenario;

/// Runs the input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A scenario's paths (rules files, captures) are relative to its file: a directory that
    // does not exist, so a hostile scenario reads nothing from the machine.
    let file = Path::new("/nonexistent-snich-fuzz/fuzz.toml");
    if let Err(e) = Scenario::from_toml(text, Some(file)) {
        let shown = e.to_string();
        assert!(
            shown.contains("fuzz.toml"),
            "a scenario error does not name the file: {shown}"
        );
    }
}
