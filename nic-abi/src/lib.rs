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
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod action;
pub mod desc;
pub mod device;
pub mod hash;
pub mod key;
pub mod parse;
pub mod regs;
pub mod table;
pub mod time;
pub mod verilog;
