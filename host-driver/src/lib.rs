//! # host-driver: the host side of the sNICh card
//!
//! Everything on the host's side of `nic-model`'s [`HostBus`](nic_model::host::HostBus): the
//! VMs' memory behind an IOMMU, their rings, the inter-VM copy path, and the driver that
//! brings the card up, sets up queue pairs, carries miss records and releases, and manages
//! the flow table through the card's registers as a [`FlowTableDevice`]. The driver carries
//! entries; it never decides them: `snich-system` composes it with the flow-setup agent.
//!
//! ```text
//!   VM A (MockGuest)                                   VM B (MockGuest)
//!    TX ring, buffers ─┐                          ┌─ RX ring, buffers, completions
//!                      │ doorbells (MMIO)         │
//!   ┌──────────────────▼──────────────────────────┴───────────┐
//!   │ Card<Host> (nic-model)                                   │ PCIe model: every DMA,
//!   └───┬──────────────┬─────────────────────┬─────────────────┘ register access, doorbell
//!       │ dma_read/    │ copy(cmd)           │ registers, miss and release rings
//!       │ dma_write    │                     │
//!   ┌───▼──────────────▼──────┐   ┌──────────▼──────────────────────────────────────┐
//!   │ Host: Iommu (grants) ── │   │ Driver: bring-up, queue pairs, miss records,    │
//!   │ GuestMemory per VM,     │   │   releases, FlowTableDevice (management port) ──┼─▶ owns the card
//!   │ InterVmCopier           │   └─────────────────────────────────────────────────┘
//!   └─────────────────────────┘
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
//! - [`cpu`]: [`cpu::HostCpu`], the host's cores and memory bus, which every switch's host
//!   software runs on (work queues on a busy core; copies queue on the memory bus).
//! - [`copy`]: the inter-VM path: copy engine (I/OAT style), CPU copy, or hairpin.
//! - [`host`]: [`host::Host`], the `HostBus` tying memory, IOMMU and copier together, with
//!   what the host spent ([`host::CpuUse`]).
//! - [`guest`]: [`guest::MockGuest`], the guest driver's side of a queue pair, for tests and
//!   `sim-harness`.
//! - [`driver`]: [`driver::Driver`]: bring-up by walking the register blocks, queue set-up
//!   and guests' attachment, the miss and release rings, and `FlowTableDevice` through the
//!   management port.
//!
//! ## VM to VM through the card
//!
//! Two VMs; an entry installed through the management registers sends VM A's flow to VM B.
//! The payload moves by the host's copy engine, never over PCIe.
//!
//! ```
//! use host_driver::driver::{Driver, DriverConfig};
//! use host_driver::guest::GuestSpec;
//! use host_driver::host::{Host, HostConfig};
//! use host_driver::iommu::GrantMode;
//! use nic_abi::action::Action;
//! use nic_abi::desc::{QueueIndex, RingSize, RxStatus, VmId};
//! use nic_abi::device::FlowTableDevice;
//! use nic_abi::emit::{FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr};
//! use nic_abi::key::PortNo;
//! use nic_abi::parse::parse_card;
//! use nic_model::card::{Card, CardConfig};
//!
//! let host = Host::new(HostConfig::default())?;
//! let card = Card::new(CardConfig::default(), host)?;
//! let mut driver = Driver::bring_up(card, DriverConfig::default())?;
//! let mut guests = Vec::new();
//! for i in 0..2u16 {
//!     guests.push(driver.attach_guest(GuestSpec {
//!         vm: VmId(i + 1),
//!         port: PortNo(101 + i),
//!         queue: QueueIndex(i),
//!         entries: RingSize::new(64)?,
//!         grants: GrantMode::Persistent,
//!     })?);
//! }
//!
//! // A 1,000-byte IPv4/UDP frame: 42 bytes of headers, 958 of payload.
//! let frame = FrameRepr {
//!     network: NetworkRepr::Ipv4(Ipv4Repr::default()),
//!     transport: TransportRepr::Udp(UdpRepr::default()),
//!     payload: Payload::Zeros(958),
//!     ..FrameRepr::default()
//! }
//! .to_vec()?;
//! driver.insert(&parse_card(&frame, PortNo(101)), Action::output(PortNo(102)))?;
//! assert_eq!(driver.occupancy(), 1);
//!
//! guests[0].send(driver.card_mut(), &frame)?;
//! driver.card_mut().drain();
//! let mut received = Vec::new();
//! guests[1].poll(driver.card_mut(), &mut received)?;
//! assert_eq!(received.len(), 1);
//! assert_eq!(received[0].status, RxStatus::Ok);
//! let data = guests[1].rx_data(driver.host(), received[0].index, 1000)?;
//! assert_eq!(data, &frame[..]);
//! assert_eq!(driver.host().copy_metrics().copies, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`FlowTableDevice`]: nic_abi::device::FlowTableDevice
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod copy;
pub mod cpu;
pub mod driver;
pub mod guest;
pub mod host;
pub mod iommu;
pub mod memory;
pub mod ring;
