//! README.md shows the table the default `snich compare` prints. This test reruns the built-in
//! default scenario through all seven switches and fails when README's copy differs, so the
//! numbers a reader sees cannot go stale silently. `SNICH_BLESS=1` rewrites README's block.

use indicatif::ProgressBar;
use sim_harness::report::{self, Report};
use sim_harness::runner;
use sim_harness::scenario::Scenario;
use sim_harness::switch::SwitchKind;

const BEGIN: &str = "<!-- default-compare-table: generated, do not edit by hand -->\n```text\n";
const END: &str = "```\n<!-- end of default-compare-table -->";

#[test]
fn readme_shows_the_table_of_the_default_compare() {
    let scenario = Scenario::builtin_default().unwrap_or_else(|e| panic!("{e}"));
    let runs = runner::compare(
        &runner::build_switch,
        &SwitchKind::ALL,
        &scenario,
        &ProgressBar::hidden(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let table = report::report_text(&Report::of_runs("compare", &scenario, &runs, 0.0));

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let start = readme
        .find(BEGIN)
        .expect("README has the table's opening marker")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README has the closing marker");
    if std::env::var_os("SNICH_BLESS").is_some() {
        let blessed = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, blessed).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README.md's default table differs from what `snich compare` prints now; if the change \
         is deliberate, run SNICH_BLESS=1 cargo test -p sim-harness --test integration readme"
    );
}
