//! # snich-system: the sNICh system composed
//!
//! The card (`nic-model`), the host and its driver (`host-driver`) and the flow-setup agent
//! (`flow-setup`) put together into one system, with the control plane that runs the host's
//! work in simulated time beside the card's events. `sim-harness` (its sNICh switch), the
//! benches and the end-to-end tests build the system here, so they all run the same code.
//!
//! ```text
//!   SystemSpec { card, host, driver, agent, guests } ──assemble(rules)──┐
//!                                                                        ▼
//!   ┌─ ControlPlane ───────────────────────────────────────────────────────────────────┐
//!   │  run loop: card events and host work (EventQueue) in time order                  │
//!   │  on the host's cores (HostCpu, in Host): interrupt, read misses and release on   │
//!   │  the miss core, classify (AgentPricing) on the first free core                   │
//!   │  Agent<Driver, PacketHandle> (flow-setup) ── decides entries and releases         │
//!   │     └─ Driver (host-driver) ── FlowTableDevice through the management registers, │
//!   │          │                     miss ring, release ring                           │
//!   │          └─ Card<Host> (nic-model) ── Host: memory, IOMMU, copier (host-driver)  │
//!   └──────────────────────────────────────────────────────────────────────────────────┘
//!        ▲ doorbells, polls (on the card)                queue interrupts (callback) │
//!   MockGuest per VM (host-driver) ◀─────────────────────────────────────────────────┘
//! ```
//!
//! The stack is one chain of ownership with no shared handle:
//! `ControlPlane -> Agent<Driver, _> -> Driver -> Card<Host> -> Host`. Callers reach the card
//! through `cp.driver_mut().card_mut()` (guests ring their doorbells on it).
//!
//! ## Modules
//!
//! - [`assemble`]: [`assemble::SystemSpec`], what a system is built from, and
//!   [`assemble::SystemSpec::assemble`], which builds it (guests numbered densely by
//!   [`assemble::numbered_guest`]); [`assemble::SystemSpec::assemble_veb`] builds the same
//!   host, driver and guests around the card as an SR-IOV embedded bridge (MAC/VLAN entries
//!   written at bring-up, [`assemble::MacVlanEntry`]; no agent work; inter-VM hairpin).
//! - [`control`]: [`control::ControlPlane`], the agent over the driver and the run loop that
//!   puts the host's work (interrupts, miss service, classification, releases) on the host's
//!   cores (`host-driver`'s `HostCpu`, shared with the copy path) in simulated time.
//! - [`agent_pricing`]: [`agent_pricing::AgentPricing`], what classifying miss records costs
//!   a core, from the agent's costs.
//! - [`error`]: [`error::SystemError`], what failed and where.
//!
//! ## VM to VM through the whole stack
//!
//! Two VMs; a rule sends VM A's traffic to VM B. The first packet misses, the agent installs
//! its flow's entry through the registers and releases it; the second hits. Both payloads
//! move by the host's copy engine, never over PCIe.
//!
//! ```
//! use flow_setup::ofctl::parse_rules;
//! use host_driver::iommu::GrantMode;
//! use nic_abi::desc::{RingSize, RxStatus};
//! use nic_abi::emit::{FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr};
//! use snich_system::assemble::SystemSpec;
//!
//! let spec = SystemSpec::with_guests(2, RingSize::new(64)?, GrantMode::Persistent);
//! let rules = parse_rules("in_port=101,actions=output:102")?;
//! let (mut cp, mut guests) = spec.assemble(rules)?;
//!
//! // A 1,000-byte IPv4/UDP frame: 42 bytes of headers, 958 of payload.
//! let frame = FrameRepr {
//!     network: NetworkRepr::Ipv4(Ipv4Repr::default()),
//!     transport: TransportRepr::Udp(UdpRepr::default()),
//!     payload: Payload::Zeros(958),
//!     ..FrameRepr::default()
//! }
//! .to_vec()?;
//! for _ in 0..2 {
//!     guests[0].send(cp.driver_mut().card_mut(), &frame)?;
//! }
//! cp.drain(|_, _| Ok(()))?;
//!
//! let mut received = Vec::new();
//! guests[1].poll(cp.driver_mut().card_mut(), &mut received)?;
//! assert_eq!(received.len(), 2);
//! assert!(received.iter().all(|r| r.status == RxStatus::Ok));
//! let data = guests[1].rx_data(cp.driver().host(), received[1].index, 1000)?;
//! assert_eq!(data, &frame[..]);
//! assert_eq!(cp.agent().counters().installed, 1);
//! assert_eq!(cp.metrics().relookups, 1);
//! assert_eq!(cp.driver().host().copy_metrics().copies, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agent_pricing;
pub mod assemble;
pub mod control;
pub mod error;
