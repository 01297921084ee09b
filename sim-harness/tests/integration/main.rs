//! sim-harness's integration tests: captures from the real fixtures, the `snich` command, and
//! the calibration of the baselines against measured switches.
mod calibration;
mod capture;
mod cli;
mod rules;
