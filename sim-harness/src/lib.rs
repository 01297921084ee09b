//! # sim-harness: the `snich` command
//!
//! The command users run, and the simulation harness behind it:
//!
//! ```text
//!  scenario.toml ─▶ scenario::ScenarioSpec ─TryFrom─▶ scenario::Scenario
//!                                                     │ topology, rules, host, card
//!                     workload::Workload::packets ◀───┤
//!                                │ OfferedPacket      ▼
//!                                └──────────▶ runner (build_switch → SwitchUnderTest)
//!                                                     │ SwitchRun per switch
//!                                                     ▼
//!                          report: JSON, table, CSV, SVG plots, paper.md
//! ```
//!
//! The modules, in the order of a packet's life:
//!
//! - [`scenario`]: scenario files (TOML) validated into scenarios; errors name the file, the
//!   key path and what is wrong. The built-in default scenario.
//! - [`scenario_path`]: a scenario kept as a TOML document, any scalar key set by its path
//!   (what a sweep varies).
//! - [`workload`]: seeded flows (inter-VM, VM-to-wire, wire-to-VM, mixes; fixed, IMIX or
//!   captured sizes; line, fixed or Poisson rates; Zipf popularity, new flows per second)
//!   and the replay of captures, as byte-exact frames.
//! - [`capture`]: reading pcap and pcapng captures (gzipped or not) into validated Ethernet
//!   frames, refusing bad files with the file and the place.
//! - [`switch`]: the contract every switch under test keeps (topology, offered packets,
//!   the conservation ledger, what a run measures).
//! - [`host_cpu`]: the host's cores and memory bus, on which every switch's host software runs.
//! - [`profile`]: cost profiles (`profiles/*.toml`), every per-operation cost with its
//!   source; the built-in one is calibrated against real switches measured on these machines.
//! - [`snich_switch`]: the sNICh system (`snich-system`: card, host driver, agent) as a switch
//!   under test.
//! - [`baselines`]: the switches sNICh is compared with: the Linux bridge, Open vSwitch and an
//!   SR-IOV NIC's embedded bridge, with the same packets, wire and PCIe models.
//! - [`warmup`]: RFC 2544's learning phase (`warmup_packets`): packets offered before
//!   measurement starts, taken out of every result.
//! - [`capacity`]: `snich capacity`: each switch's no-drop and partial-drop rates, found by
//!   searching the offered load (RFC 2544, MLRsearch); the common load of `snich compare`.
//! - [`runner`]: the switch factory, runs with conservation checked, comparisons, and
//!   sweeps over any scenario key in parallel with results independent of the thread count.
//! - [`cluster`]: studies as independent jobs (`snich plan`, `run-job`, `merge`) and as
//!   Slurm job arrays (`snich slurm`).
//! - [`report`]: what the runs measured: the JSON report, the side-by-side table, CSV, SVG
//!   plots, the paper's claims checked.
//!
//! Beside the runs:
//!
//! - [`rules_cli`]: `snich rules check | lint | trace`, flow-setup's rules tools.
//! - [`calibrate`]: `snich calibrate`: the profile against real switches measured on a machine
//!   (fit, prediction beside measurement, error bounded by the repetitions' spread).
//! - [`frames`]: seeded random Ethernet frames of every header kind the card parses.
//! - `snich cosim` (with the `rtl` feature): the RTL parser and lookup pipeline against
//!   `nic-abi`'s parser and `nic-model`'s table, over random or captured frames.
//!
//! The sNICh system and the Linux bridge, Open vSwitch and SR-IOV baselines plug into
//! [`runner::build_switch`].
//!
//! ```
//! use sim_harness::scenario::{Limit, Scenario};
//!
//! let s = Scenario::from_toml("seed = 3\n[workload]\nkind = \"inter-vm\"\n", None)?;
//! let packets: Vec<_> = s.workload.packets(&s.topology, s.seed, Limit::Packets(100)).collect();
//! assert_eq!(packets.len(), 100);
//! assert!(packets.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
//! # Ok::<(), sim_harness::scenario::ScenarioError>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod baselines;
pub mod calibrate;
pub mod capacity;
pub mod capture;
pub mod cluster;
pub mod faults;
pub mod frames;
pub mod host_cpu;
pub mod profile;
pub mod report;
pub mod rules_cli;
pub mod runner;
pub mod scenario;
pub mod scenario_path;
pub mod snich_switch;
pub mod switch;
pub mod warmup;
pub mod workload;
