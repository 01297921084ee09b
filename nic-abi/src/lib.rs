//! # nic-abi: the sNICh hardware/software contract
//!
//! Everything both sides of the PCIe link must agree on, bit for bit, and nothing else: no
//! simulation, no I/O. `nic-model` (the card), `hw-rtl` (its Verilog), `host-driver` and
//! `flow-setup` all take their formats from here, and the Verilog include the RTL uses is
//! generated from these definitions, so no constant is typed twice.
//!
//! - [`key`]: the [`FlowKey`](key::FlowKey), every header field a rule may match, and its fixed
//!   32-bit word layout.
//! - [`parse`]: header parsing, frame bytes to [`FlowKey`](key::FlowKey), in the card's
//!   profile (a 128-byte header window, the rules the RTL implements) and the agent's full
//!   software profile, both following Open vSwitch's `flow_extract`.
//! - [`emit`]: the inverse, header representations ([`FrameRepr`](emit::FrameRepr)) to frame
//!   bytes, with consistent lengths and IPv4 checksum unless a field is forced wrong; written
//!   with the parser's own field offsets.
//! - [`hash`]: the flow table's two hash functions over the packed key.
//! - [`action`]: the [`Action`](action::Action) an exact-match entry applies (VLAN edit, then
//!   drop / output / flood / to the agent) and its fixed word encoding.
//! - [`desc`]: the records exchanged through rings in host memory (TX/RX descriptors and
//!   completions, miss records, release commands, copy commands and completions), each a
//!   `#[repr(C)]` struct with a little-endian byte image and validating `TryFrom<&[u8]>`.
//! - [`device`]: the [`FlowTableDevice`](device::FlowTableDevice) trait through which the
//!   flow-setup agent installs entries, whatever holds the table (model, driver, RTL).
//! - [`regs`]: the register map, a chain of self-describing blocks (device info, flow-table
//!   management port, miss queue, interrupts, VM queues) with every offset and code in one place.
//! - [`table`]: the flow table's geometry (buckets of [`SLOTS_PER_BUCKET`](table::SLOTS_PER_BUCKET)
//!   slots, bucket = hash & (buckets - 1)), insertion order and lookup latency.
//! - [`verilog`]: generates `hw-rtl/rtl/snich_abi.svh`, the SystemVerilog package of all the
//!   constants above, so the RTL never types one by hand.
//! - [`time`]: simulated time in picoseconds ([`SimTime`](time::SimTime)), stamped into records
//!   both sides read.
//!
//! ```
//! use nic_abi::key::{FlowKey, PortNo};
//! use nic_abi::hash::key_hashes;
//!
//! let key = FlowKey { in_port: PortNo(3), nw_proto: 6, tp_dst: 80, ..FlowKey::default() };
//! let words = key.to_words();
//! assert_eq!(FlowKey::from_words(&words), Ok(key));
//! let [h0, h1] = key_hashes(&words);
//! assert_ne!(h0, h1);
//! ```
//!
//! A miss, as both sides see it: the card places the key in a table bucket, finds no entry,
//! and writes a miss record; the agent decodes it and answers with an action and a release.
//!
//! ```
//! use nic_abi::action::Action;
//! use nic_abi::desc::{MissReason, MissRecord, PacketHandle, Release, ReleaseCommand};
//! use nic_abi::key::{FlowKey, PortNo};
//! use nic_abi::table::TableGeometry;
//! use nic_abi::time::SimTime;
//!
//! let key = FlowKey { in_port: PortNo(1), tp_dst: 80, ..FlowKey::default() };
//! let [b0, b1] = TableGeometry::new(1024)?.candidate_buckets(&key.to_words());
//! assert!(b0.0 < 1024 && b1.0 < 1024);
//!
//! let frame = [0u8; 64];
//! let record = MissRecord::for_packet(
//!     PortNo(1), None, PacketHandle(7), SimTime(1_000), MissReason::TableMiss, &key, &frame,
//! )?;
//! let seen_by_agent = MissRecord::try_from(&record.to_bytes()[..])?;
//! assert_eq!(seen_by_agent.flow_key(), Ok(key));
//!
//! let release = ReleaseCommand { handle: seen_by_agent.handle, release: Release::Relookup };
//! assert_eq!(ReleaseCommand::try_from(&release.to_bytes()[..])?, release);
//! assert_eq!(Action::output(PortNo(2)).to_words(), [0x1000_0002, 0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A frame built from its headers parses back to the key those headers say:
//!
//! ```
//! use std::net::Ipv6Addr;
//! use nic_abi::emit::{EthernetRepr, FrameRepr, Ipv6Repr, NetworkRepr, TcpRepr, TransportRepr, VlanTag};
//! use nic_abi::key::{EtherType, FlowKey, KeyClass, MacAddr, PortNo, VlanTci};
//! use nic_abi::parse::parse_software;
//!
//! let frame = FrameRepr {
//!     ethernet: EthernetRepr {
//!         dst: MacAddr([2, 0, 0, 0, 0, 2]),
//!         src: MacAddr([2, 0, 0, 0, 0, 1]),
//!         tags: &[VlanTag::dot1q(100, 5)],
//!         ..EthernetRepr::default()
//!     },
//!     network: NetworkRepr::Ipv6(Ipv6Repr {
//!         src: Ipv6Addr::LOCALHOST,
//!         dst: "2001:db8::1".parse()?,
//!         traffic_class: 0x28,
//!         ..Ipv6Repr::default()
//!     }),
//!     transport: TransportRepr::Tcp(TcpRepr { src_port: 40000, dst_port: 443, ..TcpRepr::default() }),
//!     min_len: 60,
//!     ..FrameRepr::default()
//! }
//! .to_vec()?;
//! let key = parse_software(&frame, PortNo(4));
//! assert_eq!(key, FlowKey {
//!     in_port: PortNo(4),
//!     class: KeyClass::Parsed,
//!     dl_dst: MacAddr([2, 0, 0, 0, 0, 2]),
//!     dl_src: MacAddr([2, 0, 0, 0, 0, 1]),
//!     dl_type: EtherType::IPV6,
//!     vlan: VlanTci::new(100, 5),
//!     nw_proto: 6,
//!     nw_tos: 0x28,
//!     nw_src: 1,
//!     nw_dst: 0x2001_0db8_0000_0000_0000_0000_0000_0001,
//!     tp_src: 40000,
//!     tp_dst: 443,
//!     ..FlowKey::default()
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod action;
pub mod desc;
pub mod device;
pub mod emit;
mod field;
pub mod hash;
pub mod key;
pub mod parse;
pub mod regs;
pub mod table;
pub mod time;
pub mod verilog;
