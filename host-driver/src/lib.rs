//! # host-driver: the host side of the sNICh card
//!
//! Everything on the host's side of `nic-model`'s [`HostBus`](nic_model::host::HostBus): the
//! VMs' memory behind an IOMMU, their rings, the inter-VM copy path, and the driver that
//! brings the card up and manages it through its registers, with the flow-setup agent as
//! its miss handler.
//!
//! ```text
//!   VM A (MockGuest)                                   VM B (MockGuest)
//!    TX ring, buffers ─┐                          ┌─ RX ring, buffers, completions
//!                      │ doorbells (MMIO)         │
//!   ┌──────────────────▼──────────────────────────┴───────────┐
//!   │ Card<Host> (nic-model)                                   │ PCIe model: every DMA,
//!   └───┬──────────────┬─────────────────────┬─────────────────┘ register access, doorbell
//!       │ dma_read/    │ copy(cmd)           │ interrupt
//!       │ dma_write    │                     │
//!   ┌───▼──────────────▼──────┐   ┌──────────▼──────────────────────────────────────┐
//!   │ Host: Iommu (grants) ── │   │ ControlPlane: run loop, driver core             │
//!   │ GuestMemory per VM,     │   │   Agent<Driver, _> (flow-setup) ── Driver ──────┼─▶ owns the card
//!   │ InterVmCopier           │   │   miss ring ─▶ classify ─▶ install (registers)  │
//!   └─────────────────────────┘   │   ─▶ release ring                               │
//!                                 └─────────────────────────────────────────────────┘
//! ```
//!
//! ## Modules, bottom up
//!
//! - [`memory`]: guest memory in regions; [`memory::GuestAddress`], `Iova` and
//!   [`memory::HostOffset`] are distinct types.
//! - [`iommu`]: the grant table (owner, range, direction, still granted), DMA faults by VM,
//!   map-per-post against persistent grants and their CPU cost.
//! - [`ring`]: descriptor and completion rings in guest memory in `nic-abi` formats, and who
//!   owns which slot.
//! - [`copy`]: the inter-VM path: copy engine (I/OAT style), CPU copy, or hairpin.
//! - [`host`]: [`host::Host`], the `HostBus` tying memory, IOMMU and copier together, with
//!   what the host spent ([`host::CpuUse`]).
//! - [`guest`]: [`guest::MockGuest`], the guest driver's side of a queue pair, for tests and
//!   `sim-harness`.
//! - [`driver`]: [`driver::Driver`]: bring-up by walking the register blocks, queue set-up,
//!   the miss and release rings, and `FlowTableDevice` through the management port.
//! - [`control`]: [`control::ControlPlane`]: the agent over the driver, and the run loop
//!   that puts the host's work (interrupts, miss service, classification, releases) on the
//!   driver's core in simulated time.
//!
//! ## VM to VM through the whole stack
//!
//! Two VMs; a rule sends VM A's traffic to VM B. The first packet misses, the agent installs
//! its flow's entry through the registers and releases it; the second hits. Both payloads
//! move by the host's copy engine, never over PCIe.
//!
//! ```
//! use flow_setup::agent::AgentConfig;
//! use flow_setup::ofctl::parse_rules;
//! use host_driver::control::{ControlPlane, SystemSpec};
//! use host_driver::guest::GuestSpec;
//! use host_driver::iommu::GrantMode;
//! use nic_abi::desc::{QueueIndex, RingSize, RxStatus, VmId};
//! use nic_abi::key::PortNo;
//!
//! let guest = |i: u16| GuestSpec {
//!     vm: VmId(i + 1),
//!     port: PortNo(101 + i),
//!     queue: QueueIndex(i),
//!     entries: RingSize::new(64).unwrap(),
//!     grants: GrantMode::Persistent,
//! };
//! let spec = SystemSpec {
//!     card: Default::default(),
//!     host: Default::default(),
//!     driver: Default::default(),
//!     agent: AgentConfig::default(),
//!     guests: vec![guest(0), guest(1)],
//! };
//! let rules = parse_rules("in_port=101,actions=output:102")?;
//! let (mut cp, mut guests) = ControlPlane::assemble(spec, rules)?;
//!
//! let mut frame = vec![0u8; 1000];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
//! frame[14] = 0x45;
//! frame[16..18].copy_from_slice(&986u16.to_be_bytes());
//! frame[23] = 17; // UDP
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
//! assert_eq!(cp.driver().host().copy_metrics().copies, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod control;
pub mod copy;
pub mod driver;
pub mod guest;
pub mod host;
pub mod iommu;
pub mod memory;
pub mod ring;
