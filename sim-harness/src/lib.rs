//! # sim-harness: the `snich` command
//!
//! The command users run. Built so far:
//!
//! - [`capture`]: reading pcap and pcapng captures (gzipped or not) into validated Ethernet
//!   frames, refusing bad files with the file and the place.
//! - [`frames`]: seeded random Ethernet frames of every header kind the card parses.
//! - [`rules_cli`]: `snich rules check | lint | trace`, flow-setup's rules tools.
//! - [`switch`]: the contract every switch under test keeps (topology, offered packets,
//!   the conservation ledger, what a run measures).
//! - [`host_cpu`]: the host's cores, on which every switch's software runs.
//! - [`snich_system`]: the sNICh system (card, host driver, agent) as a switch under test.
//! - [`profile`]: cost profiles (`profiles/*.toml`), every per-operation cost with its
//!   source; the built-in one is calibrated against real switches measured on these machines.
//! - [`baselines`]: the switches sNICh is compared with: the Linux bridge, Open vSwitch and an
//!   SR-IOV NIC's embedded bridge, on the same host CPU model.
//! - `snich cosim` (with the `rtl` feature): the RTL parser and lookup pipeline against
//!   `nic-abi`'s parser and `nic-model`'s table, over random or captured frames.
//!
//! Not built yet (issue 6): scenarios, workloads, runs, sweeps and reports.
//!
//! ```
//! use sim_harness::frames::random_frames;
//!
//! let frames = random_frames(100, 7);
//! assert_eq!(frames.len(), 100);
//! assert_eq!(frames, random_frames(100, 7), "seeded: the same frames every time");
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod baselines;
pub mod capture;
pub mod frames;
pub mod host_cpu;
pub mod profile;
pub mod report;
pub mod rules_cli;
pub mod runner;
pub mod scenario;
pub mod snich_system;
pub mod switch;
pub mod workload;
