//! # nic-model: the cycle-approximate sNICh card
//!
//! A discrete-event model of the sNICh card: every packet is switched by an exact-match flow
//! lookup, and every step costs time on the resource that does it (the wire, the parser and
//! lookup pipeline, the PCIe link, the DMA engine), so queues form and throughput saturates
//! where the real card's would. Time is simulated picoseconds ([`SimTime`]); nothing reads the
//! wall clock, and the same inputs give the same results.
//!
//! ## The card
//!
//! ```text
//!            wire                      sNICh card                               host (HostBus)
//!  --------------------   -----------------------------------------------   ---------------------
//!   port 1 ==> MAC RX ==> RX FIFO ==> parser ==> lookup ==> action
//!   port 2 <== MAC TX <========================================|
//!                                       ^             |        |  DMA write  ==> VM RX buffer,
//!                                       |        flow table    |                RX completion
//!                         header read   |        (cuckoo,      |  miss record ==> miss ring
//!   VM TX ring ==> descriptor fetch ====+         4-way)       |  (packet held until the
//!                  (DMA read)                                  |   agent's release command)
//!                                                              +==> interrupts (moderated)
//!                       registers (BAR 0) <== mmio_read/mmio_write, doorbells
//! ```
//!
//! ## Modules, bottom up
//!
//! - [`engine`]: the event queue (same-time events fire in scheduling order) and clock domains.
//! - [`mac`]: Ethernet ports: serialisation with preamble and inter-frame gap, the RX FIFO.
//! - [`pcie`]: the link: TLP overheads, max payload and read request sizes, read latency, tags.
//! - [`dma`]: the DMA engine's channels on the link.
//! - [`pipeline`]: parser and lookup latency and initiation interval in NIC cycles.
//! - [`flow_table`]: the exact-match table, specified exactly (the RTL reproduces it).
//! - [`host`]: the boundary: [`host::HostBus`] (DMA by IOVA, interrupts) that `host-driver`
//!   implements; [`testing`] has a flat-memory host and guest-driver helpers.
//! - [`counters`]: packet counters and the conservation law, checked by [`card::Card::finish`].
//! - [`card`]: everything wired together: [`card::Card`] and its configuration, one file per
//!   job under `card/` (events, the packet store, the wire, lookup, RX, TX, miss and
//!   interrupt paths, a packet's end, VM queue pairs, VLAN edits, the MAC/VLAN lookup of the
//!   card configured as an SR-IOV embedded bridge (`LookupMode::MacVlan`), the management port's
//!   `FlowTableDevice` and the register interface); its module doc lists them.
//!
//! ## A first run
//!
//! A card with one VM: install an entry sending a flow from uplink port 1 to the VM, offer a
//! frame on the wire, run until nothing is left to do, and check where the frame went.
//!
//! ```
//! use bytes::Bytes;
//! use nic_abi::action::Action;
//! use nic_abi::desc::{QueueIndex, RxStatus, VmId};
//! use nic_abi::emit::{FrameRepr, Ipv4Repr, NetworkRepr, TransportRepr, UdpRepr};
//! use nic_abi::key::PortNo;
//! use nic_abi::parse::parse_card;
//! use nic_abi::time::SimTime;
//! use nic_model::card::{Card, CardConfig};
//! use nic_model::host::IrqVector;
//! use nic_model::testing::{FlatMemoryHost, VmLayout};
//!
//! // The host: VM 1 owns a memory holding its rings and buffers.
//! let vm = VmLayout { vm: VmId(1), port: PortNo(101), queue: QueueIndex(0), entries: 64 };
//! let mut host = FlatMemoryHost::new();
//! host.add_vm(vm.vm, vm.memory_bytes());
//!
//! // The card: default parameters (two 25G ports, PCIe Gen3 x8, a 64K-entry table).
//! let mut card = Card::new(CardConfig::default(), host)?;
//! card.add_queue(vm.queue_setup(IrqVector(2), IrqVector(3)))?;
//! // The guest posts 8 receive buffers and rings the doorbell.
//! for i in 0..8 {
//!     vm.post_rx(card.host_mut(), i)?;
//! }
//! card.rx_doorbell(vm.queue, 8)?;
//!
//! // A 64-byte UDP frame (60 bytes + FCS) and an entry for its flow.
//! let frame = FrameRepr {
//!     network: NetworkRepr::Ipv4(Ipv4Repr::default()),
//!     transport: TransportRepr::Udp(UdpRepr::default()),
//!     min_len: 60,
//!     ..FrameRepr::default()
//! }
//! .to_vec()?;
//! let key = parse_card(&frame, PortNo(1));
//! card.install(&key, Action::output(vm.port))?;
//!
//! card.offer_from_wire(PortNo(1), Bytes::from(frame.clone()), SimTime::ZERO)?;
//! let counters = card.finish()?; // drains, then checks conservation
//! assert_eq!((counters.offered, counters.delivered, counters.dropped_total()), (1, 1, 0));
//!
//! // The frame is in the VM's first buffer, with a completion saying so.
//! let completion = vm.rx_completion(card.host(), 0)?;
//! assert_eq!(completion.status, RxStatus::Ok);
//! assert_eq!(vm.rx_data(card.host(), 0, frame.len()), &frame[..]);
//! // Its completion was written 26.88 ns on the wire, 48 ns of parser and lookup, a
//! // descriptor read (the 500 ns PCIe read latency dominates) and two DMA writes later.
//! assert!(completion.timestamp > SimTime(500_000) && completion.timestamp < SimTime(700_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Packets the table does not know are held on the card and reported on the miss ring; the
//! agent (in `flow-setup`) installs an entry and releases them. The register interface
//! ([`card::Card::mmio_write`]) does everything the typed calls above do, as a driver would.
//!
//! [`SimTime`]: nic_abi::time::SimTime
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod card;
pub mod counters;
pub mod dma;
pub mod engine;
pub mod flow_table;
pub mod host;
pub mod mac;
pub mod pcie;
pub mod pipeline;
pub mod testing;
