//! sim-harness's integration tests: captures from the real fixtures, and the `snich` command.
mod capture;
mod cli;
mod rules;
