//! # sim-harness: the `snich` command
//!
//! Not built yet (issue 6): scenarios, workloads, the host CPU model, the sNICh system and its
//! baselines (Linux bridge, Open vSwitch, SR-IOV VEB), runs, sweeps and reports.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
