//! The baselines the sNICh system is compared with, each a [`crate::switch::SwitchUnderTest`]
//! built from the same [`crate::switch::SwitchContext`] and costed by a
//! [`crate::profile::Profile`]:
//!
//! - [`LinuxBridge`]: the Linux bridge in a driver domain, netfilter rules walked one by one.
//! - [`OpenVswitch`]: Open vSwitch's datapath with its exact-match cache, megaflow cache and
//!   upcalls to a slow path that classifies with flow-setup's classifier.
//! - [`SriovVeb`]: an SR-IOV NIC's embedded bridge: `nic-model`'s card in its VEB
//!   configuration (a MAC/VLAN table, no agent) under the sNICh system's guests and host,
//!   inter-VM traffic crossing PCIe twice, no filter rules beyond MAC and VLAN.
//!
//! Shared pieces: [`l2`] (MAC table and VLANs every baseline forwards by), [`host_nic`] (the
//! uplink and PCIe link of the software switches, timed by `nic-model`), [`vm_tx`] (the VMs'
//! TX rings of the software switches), [`software`]
//! (queues, cores and events of the two software switches), [`testing`] (contexts, frames and
//! offer streams for tests and benches). Their events run on `nic_model::engine::EventQueue`,
//! the card model's own queue (time, then scheduling order).
//!
//! ```
//! use nic_abi::time::SimDuration;
//! use sim_harness::baselines::testing::{context, offer_stream};
//! use sim_harness::baselines::LinuxBridge;
//! use sim_harness::switch::SwitchUnderTest;
//!
//! // Two VMs on a one-core driver domain; VM 0 sends 64-byte packets every 2 us (500 kpps).
//! let ctx = context(2, 0, 1, Vec::new());
//! let mut bridge: Box<dyn SwitchUnderTest> = Box::new(LinuxBridge::new(&ctx)?);
//! for p in offer_stream(&ctx.topology, 1_000, SimDuration::from_ns(2_000), 1) {
//!     bridge.offer(p)?;
//! }
//! let run = bridge.finish()?;
//! assert_eq!(run.ledger.delivered, 1_000, "below the core's ~711 kpps, nothing is lost");
//! # Ok::<(), sim_harness::switch::SwitchError>(())
//! ```

pub mod host_nic;
pub mod l2;
pub mod linux_bridge;
pub mod ovs;
pub mod software;
pub mod sriov_veb;
pub mod testing;
pub mod vm_tx;

pub use linux_bridge::LinuxBridge;
pub use ovs::OpenVswitch;
pub use sriov_veb::SriovVeb;
