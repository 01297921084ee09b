//! flow-setup integration tests (one binary, modules per topic).

mod agent_tests;
mod classbench_tests;
mod classifier_tests;
mod lint_tests;
mod ofctl_tests;
mod ovs_oracle;
mod strategies;

/// A fixture from the workspace's `tests/data/` as text.
pub fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
