//! Whether a program is installed, and what a test does when it is not.
//!
//! A plain `cargo test` on a machine without Open vSwitch or Verilator skips the tests that
//! need them, saying so on standard error. `./test.sh` installs both and exports
//! [`REQUIRE_VARIABLE`]` = 1`; then a missing program is an error, so a test that would have
//! compared against the real thing can never pass by skipping.

use std::path::Path;

/// The environment variable that makes a missing program an error (any value but empty or `0`).
pub const REQUIRE_VARIABLE: &str = "SNICH_REQUIRE_TOOLS";

/// Open vSwitch's programs that [`crate::ovs::PrivateOvs`] runs.
pub const OPEN_VSWITCH: [&str; 6] = [
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-appctl",
    "ovs-ofctl",
];

/// Verilator and the C++ compiler its models need.
pub const VERILATOR: [&str; 2] = ["verilator", "g++"];

/// Programs a test needs that are not installed, while [`REQUIRE_VARIABLE`] is set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{missing:?} not installed but {REQUIRE_VARIABLE} is set: this test must run \
     (install them; ./test.sh does)"
)]
pub struct MissingPrograms {
    /// The programs not found on `PATH` (or in `/usr/sbin`, where Debian puts the daemons).
    pub missing: Vec<String>,
}

/// Whether `program` is an executable file on `PATH` or in `/usr/sbin`.
pub fn installed(program: &str) -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    on_path || Path::new("/usr/sbin").join(program).is_file()
}

/// Whether [`REQUIRE_VARIABLE`] asks for every external program to be present.
pub fn required() -> bool {
    std::env::var(REQUIRE_VARIABLE).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `Ok(true)` when every program is installed. Otherwise `Ok(false)` after saying on standard
/// error which are missing (the caller skips its test), or, when [`required`], an error naming
/// them (the caller fails).
pub fn require(programs: &[&str]) -> Result<bool, MissingPrograms> {
    let missing: Vec<String> = programs
        .iter()
        .filter(|p| !installed(p))
        .map(|p| (*p).to_string())
        .collect();
    if missing.is_empty() {
        return Ok(true);
    }
    if required() {
        return Err(MissingPrograms { missing });
    }
    eprintln!(
        "skipped: {missing:?} not installed (./test.sh installs them and makes this a failure)"
    );
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_is_installed_and_a_nonsense_name_is_not() {
        assert!(installed("sh"));
        assert!(!installed("snich-no-such-program-7f3a"));
    }

    #[test]
    fn a_missing_program_is_an_error_only_when_required() {
        // Both outcomes, whichever way this process's environment is set.
        let got = require(&["snich-no-such-program-7f3a"]);
        if required() {
            let err = got.unwrap_err();
            assert_eq!(err.missing, ["snich-no-such-program-7f3a"]);
            assert!(err.to_string().contains(REQUIRE_VARIABLE));
        } else {
            assert_eq!(got, Ok(false));
        }
        assert_eq!(require(&["sh"]), Ok(true));
    }
}
