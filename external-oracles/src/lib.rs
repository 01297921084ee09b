//! # external-oracles: the real programs sNICh is held to
//!
//! sNICh's rules and parser claim Open vSwitch's semantics (invariant 3, *Equivalence*, in
//! `DESIGN.md`), and its Verilog claims to be what Verilator elaborates. Tests check those
//! claims against the real programs, started here:
//!
//! ```text
//!  test ──▶ programs::require(["ovs-vswitchd", ...]) ──▶ present?  no ─▶ SNICH_REQUIRE_TOOLS set?
//!    │                                                                    yes: Err (the test fails)
//!    │                                                                    no:  Ok(false) (skip, said)
//!    ▼
//!  ovs::PrivateOvs::start(&OvsConfig) ─▶ ovsdb-server + ovs-vswitchd in a private directory
//!    │                                    (dummy ports, no kernel module, no systemd)
//!    ├─ add_flows("br0", text)           ovs-ofctl del-flows + add-flows
//!    └─ unixctl() ─▶ Unixctl::call("ofproto/trace", ["br0", "in_port=1,tcp,..."])
//!                     one persistent JSON-RPC connection: thousands of traces a second
//! ```
//!
//! - [`programs`]: whether a program is installed, and the rule that `./test.sh` (which
//!   installs Open vSwitch and Verilator and sets `SNICH_REQUIRE_TOOLS=1`) turns a missing
//!   program into a failure instead of a skip.
//! - [`ovs`]: a private Open vSwitch 3.x (userspace datapath) and its unixctl connection.
//!   Dropping it stops both daemons through their control sockets, then by the pids in their
//!   pidfiles (never by process name), and removes its directory.
//!
//! ```no_run
//! use external_oracles::ovs::{OvsConfig, PrivateOvs};
//! use external_oracles::programs;
//!
//! if programs::require(&programs::OPEN_VSWITCH)? {
//!     let ovs = PrivateOvs::start(&OvsConfig::with_ports(&[1, 2]))?;
//!     ovs.add_flows("br0", "priority=10,in_port=1,tcp,tp_dst=80,actions=output:2\n")?;
//!     let mut ctl = ovs.unixctl()?;
//!     let trace = ctl.call("ofproto/trace", &["br0", "in_port=1,tcp,tcp_dst=80"])?;
//!     assert!(trace.contains("output:2"));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ovs;
pub mod programs;
