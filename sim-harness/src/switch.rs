//! The contract every switch under test keeps: what a run offers it and what it reports back.
//!
//! A run turns a scenario into a [`Topology`], a rule set and a stream of [`OfferedPacket`]s
//! (non-decreasing in time), builds each switch from the same [`SwitchContext`], offers it
//! every packet, and calls [`SwitchUnderTest::finish`], which drains the switch, checks
//! conservation (invariant 1, counted by the [`PacketLedger`], every drop with its
//! [`DropReason`]) and returns a [`SwitchRun`]. Every switch gets the same packets and
//! is measured the same way. Every switch's host work runs on one host CPU model, the
//! scenario's cores and memory bus ([`crate::host_cpu::HostCpu`]): the Linux bridge's and
//! Open vSwitch's datapath, the sNICh system's (and the SR-IOV VEB's) driver, agent and copy
//! submissions (DESIGN.md, "Baselines, the host CPU model and cost profiles").
//!
//! ```text
//!  workload ──OfferedPacket(at, from, frame)──▶ SwitchUnderTest ──finish()──▶ SwitchRun
//!                                                  │    ▲
//!                                host CPU cycles ──┘    └─ SwitchContext (topology, rules,
//!                                                           card config, cost profile)
//! ```
//!
//! Ports: the uplink (the card's or host NIC's first MAC port) is [`UPLINK_PORT`]; VM `i` is
//! [`Topology::vm_port`]`(i)` = port 101 + i. Rules' `in_port` and `output:N` use these numbers.

use std::collections::BTreeMap;

use bytes::Bytes;
use hdrhistogram::Histogram;
use nic_abi::key::{MacAddr, PortNo};
use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::host_cpu::HostConfig;
use crate::profile::{Profile, ProfileOverrides};

/// The uplink's switch port (the first MAC port; external hosts are behind it).
pub const UPLINK_PORT: PortNo = PortNo(1);
/// The switch port of VM 0; VM `i` has `FIRST_VM_PORT + i`.
pub const FIRST_VM_PORT: u16 = 101;

/// A VM's index in the scenario (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VmIndex(pub u16);

/// An external host's index in the scenario (0-based); external hosts sit behind the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalHostIndex(pub u16);

/// Where a packet enters, or is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// A VM on this host (it sends through its virtual NIC or queue pair).
    Vm(VmIndex),
    /// A host on the wire (its packets arrive on the uplink).
    External(ExternalHostIndex),
}

/// One VM of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmNode {
    /// Its virtual NIC's MAC address.
    pub mac: MacAddr,
    /// Its IPv4 address (host order, as `u32::from(Ipv4Addr)`).
    pub ipv4: u32,
    /// The VLAN its port is an access port of, if any (the switch tags and untags).
    pub vlan: Option<u16>,
    /// Entries of each of its rings (TX, RX), a power of two.
    pub queue_entries: u16,
}

/// One host on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalNode {
    /// Its MAC address.
    pub mac: MacAddr,
    /// Its IPv4 address (host order).
    pub ipv4: u32,
}

/// The VMs and external hosts of a scenario: every switch learns the same addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// The VMs, VM `i` at index `i`.
    pub vms: Vec<VmNode>,
    /// The hosts on the wire.
    pub external_hosts: Vec<ExternalNode>,
}

impl Topology {
    /// The switch port of VM `vm`.
    pub fn vm_port(vm: VmIndex) -> PortNo {
        PortNo(FIRST_VM_PORT.saturating_add(vm.0))
    }

    /// The VM whose port is `port`, if it is one of this topology's.
    pub fn vm_of_port(&self, port: PortNo) -> Option<VmIndex> {
        let i = port.0.checked_sub(FIRST_VM_PORT)?;
        (usize::from(i) < self.vms.len()).then_some(VmIndex(i))
    }

    /// The switch port a packet from `from` enters on.
    pub fn ingress_port(from: Endpoint) -> PortNo {
        match from {
            Endpoint::Vm(vm) => Topology::vm_port(vm),
            Endpoint::External(_) => UPLINK_PORT,
        }
    }

    /// Where frames for `mac` go: the VM owning it, or the uplink for an external host;
    /// `None` for an unknown (or multicast) address, which a learning switch floods.
    pub fn endpoint_of_mac(&self, mac: MacAddr) -> Option<Endpoint> {
        if let Some(i) = self.vms.iter().position(|v| v.mac == mac) {
            return u16::try_from(i).ok().map(|i| Endpoint::Vm(VmIndex(i)));
        }
        let i = self.external_hosts.iter().position(|h| h.mac == mac)?;
        u16::try_from(i)
            .ok()
            .map(|i| Endpoint::External(ExternalHostIndex(i)))
    }
}

/// A packet the workload offers to the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedPacket {
    /// When it is handed to the sender's NIC (a VM's driver posts it, or its first bit
    /// arrives on the uplink). Non-decreasing across a run's offers.
    pub at: SimTime,
    /// Who sends it.
    pub from: Endpoint,
    /// The Ethernet frame without FCS (14..=9216 bytes for a well-formed one; a replayed
    /// capture may offer worse, which the switch counts as malformed).
    pub frame: Bytes,
}

/// Why a switch dropped a packet: the names of invariant 1's drop counters. Reports and
/// scripts see the snake_case [`DropReason::name`]s, so the variants are declared in the
/// alphabetical order of their names and the derived order sorts a map of them as it sorts
/// the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The agent's release command said drop (sNICh card).
    AgentDrop,
    /// Held on the card for an agent that crashed, and found no room in the miss ring when
    /// the restarted agent asked for the held packets again (sNICh card).
    AgentRestart,
    /// A descriptor the host wrote does not decode (sNICh card).
    BadDescriptor,
    /// The host refused one of the packet's DMA accesses (sNICh card).
    DmaFault,
    /// The frame is shorter than an Ethernet header or longer than the largest frame.
    Malformed,
    /// The card's miss queue toward the agent had no free buffer (sNICh card).
    MissQueueFull,
    /// The MAC-table destination is the port the frame came in on, or nowhere it may go.
    NoEgress,
    /// No rule matched (OpenFlow 1.3 table-miss drop).
    NoMatch,
    /// The receiving ring had no free buffer.
    NoRxBuffer,
    /// The packet names a port (a VM) the switch does not have.
    NoSuchPort,
    /// A bounded queue on the packet's way (a VM's TX ring, the NIC's TX ring) was full.
    QueueFull,
    /// The winning rule drops.
    RuleDrop,
    /// The MAC's receive FIFO had no room for the frame (sNICh card).
    RxFifoFull,
    /// The slow path answered with another upcall (a datapath bug, counted, not looped).
    SlowPathUpcall,
    /// The upcall queue to the slow path was full (Open vSwitch).
    UpcallLost,
    /// Sender and receiver are on different VLANs.
    VlanMismatch,
}

/// A drop reason name that is not one of [`DropReason::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a drop reason")]
pub struct UnknownDropReason(pub String);

impl DropReason {
    /// Every reason, in the order of their names.
    pub const ALL: [DropReason; 16] = [
        DropReason::AgentDrop,
        DropReason::AgentRestart,
        DropReason::BadDescriptor,
        DropReason::DmaFault,
        DropReason::Malformed,
        DropReason::MissQueueFull,
        DropReason::NoEgress,
        DropReason::NoMatch,
        DropReason::NoRxBuffer,
        DropReason::NoSuchPort,
        DropReason::QueueFull,
        DropReason::RuleDrop,
        DropReason::RxFifoFull,
        DropReason::SlowPathUpcall,
        DropReason::UpcallLost,
        DropReason::VlanMismatch,
    ];

    /// The stable snake_case name reports print (the card's reasons keep the card's names).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::AgentDrop => "agent_drop",
            DropReason::AgentRestart => "agent_restart",
            DropReason::BadDescriptor => "bad_descriptor",
            DropReason::DmaFault => "dma_fault",
            DropReason::Malformed => "malformed",
            DropReason::MissQueueFull => "miss_queue_full",
            DropReason::NoEgress => "no_egress",
            DropReason::NoMatch => "no_match",
            DropReason::NoRxBuffer => "no_rx_buffer",
            DropReason::NoSuchPort => "no_such_port",
            DropReason::QueueFull => "queue_full",
            DropReason::RuleDrop => "rule_drop",
            DropReason::RxFifoFull => "rx_fifo_full",
            DropReason::SlowPathUpcall => "slow_path_upcall",
            DropReason::UpcallLost => "upcall_lost",
            DropReason::VlanMismatch => "vlan_mismatch",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DropReason {
    type Err = UnknownDropReason;

    fn from_str(s: &str) -> Result<DropReason, UnknownDropReason> {
        DropReason::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownDropReason(s.to_string()))
    }
}

impl Serialize for DropReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DropReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DropReason, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl From<nic_model::counters::DropReason> for DropReason {
    fn from(r: nic_model::counters::DropReason) -> DropReason {
        use nic_model::counters::DropReason as Card;
        match r {
            Card::RuleDrop => DropReason::RuleDrop,
            Card::RxFifoFull => DropReason::RxFifoFull,
            Card::MissQueueFull => DropReason::MissQueueFull,
            Card::NoRxBuffer => DropReason::NoRxBuffer,
            Card::BadDescriptor => DropReason::BadDescriptor,
            Card::AgentDrop => DropReason::AgentDrop,
            Card::Malformed => DropReason::Malformed,
            Card::DmaFault => DropReason::DmaFault,
            Card::NoSuchPort => DropReason::NoSuchPort,
            Card::AgentRestart => DropReason::AgentRestart,
        }
    }
}

/// The counters of invariant 1: every offered packet is delivered, dropped for a named
/// reason, or still in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketLedger {
    /// Packets offered.
    pub offered: u64,
    /// Packets that reached at least one port (a flood counts once).
    pub delivered: u64,
    /// Packets dropped, by reason (serialised by their snake_case names, in name order).
    pub dropped: BTreeMap<DropReason, u64>,
    /// Packets neither delivered nor dropped yet.
    pub in_flight: u64,
}

/// A conservation violation, with the counters that broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "conservation violated: offered {} != delivered {} + dropped {} + in flight {} ({:?})",
    .0.offered, .0.delivered, .0.dropped_total(), .0.in_flight, .0.dropped_by_name()
)]
pub struct ConservationViolation(pub PacketLedger);

impl PacketLedger {
    /// Counts an offered packet (in flight until delivered or dropped).
    pub fn offer(&mut self) {
        self.offered += 1;
        self.in_flight += 1;
    }

    /// Counts an in-flight packet as delivered.
    pub fn deliver(&mut self) {
        self.delivered += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Counts an in-flight packet as dropped for `reason`.
    pub fn drop_for(&mut self, reason: DropReason) {
        *self.dropped.entry(reason).or_insert(0) += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The drops by reason name (as reports key them), in name order.
    pub fn dropped_by_name(&self) -> BTreeMap<String, u64> {
        self.dropped
            .iter()
            .map(|(r, n)| (r.name().to_string(), *n))
            .collect()
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Invariant 1 after a drain: `offered = delivered + dropped` and nothing in flight.
    pub fn check_drained(&self) -> Result<(), ConservationViolation> {
        let accounted = self.delivered + self.dropped_total() + self.in_flight;
        if accounted != self.offered || self.in_flight != 0 {
            return Err(ConservationViolation(self.clone()));
        }
        Ok(())
    }
}

/// What one switch's run measured. Everything is simulated (no wall-clock number).
#[derive(Debug, Clone)]
pub struct SwitchRun {
    /// The switch's name as reports print it (`snich`, `linux-bridge`, `ovs-kernel`, `sriov-veb`, ...
    /// the sNICh system adds its copy mode when it is not the default, `snich/hairpin`).
    pub switch: String,
    /// Invariant 1's counters, drained.
    pub ledger: PacketLedger,
    /// Bytes of the delivered frames (without FCS; a flood's frame counts once).
    pub delivered_bytes: u64,
    /// From the first offer to the last delivery or drop.
    pub first_offer: SimTime,
    /// The last delivery or drop.
    pub last_event: SimTime,
    /// Host CPU cycles spent on the switch's work, by what they were spent on
    /// (`driver`, `agent`, `copy`, `bridge`, `netfilter`, `vnic_backend`, `upcall`, ...).
    pub host_cpu_cycles: BTreeMap<String, u64>,
    /// Bytes that crossed PCIe, both directions, TLP overheads included.
    pub pcie_bytes: u64,
    /// Latency of every delivered packet in nanoseconds, from its offer to its arrival in the
    /// receiver's buffer (or its last bit on the wire).
    pub latency_ns: Histogram<u64>,
    /// Flows set up: exact-match entries the agent installed (sNICh), megaflows installed
    /// (Open vSwitch), 0 where a switch has no flow setup.
    pub flow_setups: u64,
    /// Peak entries in the switch's flow table (card table, OVS megaflow cache), 0 if none.
    pub table_occupancy_peak: u64,
    /// Free-form, switch-specific counters for the report (table hits, upcalls, copies, ...).
    pub extra: BTreeMap<String, u64>,
    /// When the last offer was taken ([`SwitchRun::admit_offer`]).
    last_offer: Option<SimTime>,
    /// Times of deliveries and drops later than the last offer when they were recorded: the
    /// candidates for [`SwitchRun::backlog_at_last_offer`] (pruned as offers go on).
    after_last_offer: Vec<SimTime>,
    /// `after_last_offer`'s length after its last pruning.
    after_last_offer_kept: usize,
    /// The offer at which the backlog is noted besides the last ([`SwitchRun::backlog`]).
    checkpoint: Option<BacklogCheckpoint>,
    /// [`SwitchRun::backlog`] kept by [`SwitchRun::freeze_backlog`].
    frozen_backlog: Option<Backlog>,
}

/// A run's backlog: packets offered and not yet delivered or dropped. A switch that keeps up
/// with the offered rate holds about the rate times its latency, however long the run; one
/// that does not holds a backlog that grows with every packet offered, even while its
/// queues still absorb it without a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// When the last packet was offered.
    pub at_last_offer: u64,
    /// When the checkpoint's packet was offered, if the run had one and reached it.
    pub checkpoint: Option<CheckpointBacklog>,
}

/// The backlog at a run's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointBacklog {
    /// Packets queued when the checkpoint's packet was offered.
    pub packets: u64,
    /// Packets offered after it.
    pub offered_after: u64,
}

impl Backlog {
    /// How much the backlog grew from the checkpoint to the last offer (0 when it shrank or
    /// there is no checkpoint), and over how many offered packets.
    pub fn growth(&self) -> (u64, u64) {
        self.checkpoint.map_or((0, 0), |c| {
            (
                self.at_last_offer.saturating_sub(c.packets),
                c.offered_after,
            )
        })
    }
}

/// The backlog noted at one offer of a run.
#[derive(Debug, Clone, Copy)]
struct BacklogCheckpoint {
    /// The offer, counted from 1.
    offer: u64,
    /// Its time, once offered.
    at: Option<SimTime>,
    /// Deliveries and drops recorded so far with a time later than `at`.
    outcomes_after: u64,
}

impl SwitchRun {
    /// An empty run record for `switch`: every counter zero, an empty latency histogram
    /// (1 ns to 1 s at 3 significant digits).
    pub fn new(switch: impl Into<String>) -> Result<SwitchRun, SwitchError> {
        let latency_ns = Histogram::new_with_bounds(1, 1_000_000_000, 3)
            .map_err(|e| SwitchError::Internal(format!("latency histogram: {e}")))?;
        Ok(SwitchRun {
            switch: switch.into(),
            ledger: PacketLedger::default(),
            delivered_bytes: 0,
            first_offer: SimTime::ZERO,
            last_event: SimTime::ZERO,
            host_cpu_cycles: BTreeMap::new(),
            pcie_bytes: 0,
            latency_ns,
            flow_setups: 0,
            table_occupancy_peak: 0,
            extra: BTreeMap::new(),
            last_offer: None,
            after_last_offer: Vec::new(),
            after_last_offer_kept: 0,
            checkpoint: None,
            frozen_backlog: None,
        })
    }

    /// The run, noting its backlog also when its `offer`-th packet (counted from 1) is
    /// offered (`None`: only at the last offer). Switches pass their context's
    /// [`SwitchContext::backlog_checkpoint`].
    pub fn with_backlog_checkpoint(mut self, offer: Option<u64>) -> SwitchRun {
        self.checkpoint = offer.map(|offer| BacklogCheckpoint {
            offer,
            at: None,
            outcomes_after: 0,
        });
        self
    }

    /// Counts a packet offered at `at` (in flight until delivered or dropped); the first
    /// offer starts the run's span. An offer before the previous one breaks the run's
    /// contract ([`SwitchUnderTest::offer`]) and is refused, counting nothing.
    pub fn admit_offer(&mut self, at: SimTime) -> Result<(), SwitchError> {
        match self.last_offer {
            Some(last) if at < last => {
                return Err(SwitchError::Internal(format!(
                    "{}: packet offered at {at} before the previous offer",
                    self.switch
                )))
            }
            Some(_) => {}
            None => {
                self.first_offer = at;
                self.last_event = at;
            }
        }
        self.last_offer = Some(at);
        self.ledger.offer();
        if let Some(c) = &mut self.checkpoint {
            if c.at.is_none() && c.offer == self.ledger.offered {
                // Outcomes recorded so far later than `at` are all still kept: pruning only
                // drops times at or before an earlier offer.
                c.at = Some(at);
                c.outcomes_after = self.after_last_offer.iter().filter(|&&t| t > at).count() as u64;
            }
        }
        Ok(())
    }

    /// Invariant 1 after a drain, as the run's error: the switch and the counters that
    /// broke it.
    pub fn check_conservation(&self) -> Result<(), SwitchError> {
        self.ledger
            .check_drained()
            .map_err(|violation| SwitchError::Conservation {
                switch: self.switch.clone(),
                violation,
            })
    }

    /// Records one delivery at `at` of a frame of `bytes` offered at `offered_at`.
    pub fn record_delivery(&mut self, offered_at: SimTime, at: SimTime, bytes: usize) {
        self.ledger.deliver();
        self.delivered_bytes += bytes as u64;
        let ns = at.saturating_since(offered_at).as_ps() / 1_000;
        // A latency beyond the histogram's 1 s bound is clamped rather than lost.
        self.latency_ns.saturating_record(ns.max(1));
        self.last_event = self.last_event.max(at);
        self.note_outcome(at);
    }

    /// Records a drop at `at` for `reason`.
    pub fn record_drop(&mut self, at: SimTime, reason: DropReason) {
        self.ledger.drop_for(reason);
        self.last_event = self.last_event.max(at);
        self.note_outcome(at);
    }

    /// Keeps `at` if it is later than the last offer so far: only such outcomes can be
    /// later than the run's last offer. The kept times are pruned to those still later
    /// whenever they have doubled, so the bookkeeping is amortised O(1) per packet.
    fn note_outcome(&mut self, at: SimTime) {
        if let Some(c) = &mut self.checkpoint {
            if c.at.is_some_and(|t| at > t) {
                c.outcomes_after += 1;
            }
        }
        let Some(last) = self.last_offer else {
            return;
        };
        if at <= last {
            return;
        }
        self.after_last_offer.push(at);
        if self.after_last_offer.len() > 2 * self.after_last_offer_kept.max(512) {
            self.after_last_offer.retain(|&t| t > last);
            self.after_last_offer_kept = self.after_last_offer.len();
        }
    }

    /// The switch's backlog when the last packet was offered and, with a checkpoint, when
    /// the checkpoint's packet was. Read on a drained run (a measurement's is its full run's,
    /// [`SwitchRun::freeze_backlog`]).
    pub fn backlog(&self) -> Backlog {
        if let Some(b) = self.frozen_backlog {
            return b;
        }
        let at_last_offer = self.last_offer.map_or(0, |last| {
            self.after_last_offer.iter().filter(|&&t| t > last).count() as u64
        });
        let outcomes = self.ledger.delivered + self.ledger.dropped.values().sum::<u64>();
        let checkpoint = self.checkpoint.and_then(|c| {
            c.at?;
            // Packets offered after the checkpoint end after it too (one offered at its very
            // time and ending then would count in its backlog).
            let after = self.ledger.offered.saturating_sub(c.offer);
            let ended_by_then = outcomes.saturating_sub(c.outcomes_after);
            Some(CheckpointBacklog {
                packets: c.offer.saturating_sub(ended_by_then),
                offered_after: after,
            })
        });
        Backlog {
            at_last_offer,
            checkpoint,
        }
    }

    /// Keeps [`SwitchRun::backlog`] as it is now, for a run whose counters are about to
    /// become a difference of runs.
    pub fn freeze_backlog(&mut self) {
        self.frozen_backlog = Some(self.backlog());
    }

    /// Adds `cycles` of host CPU under `what`.
    pub fn charge_cpu(&mut self, what: &str, cycles: u64) {
        *self.host_cpu_cycles.entry(what.to_string()).or_insert(0) += cycles;
    }

    /// All host CPU cycles.
    pub fn host_cpu_cycles_total(&self) -> u64 {
        self.host_cpu_cycles.values().sum()
    }

    /// Simulated time from the first offer to the last event.
    pub fn span(&self) -> SimDuration {
        self.last_event.saturating_since(self.first_offer)
    }
}

/// Why a switch could not be built or run. Every message says what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwitchError {
    /// The scenario asks for something this switch cannot be configured with.
    #[error("{switch}: cannot be configured: {what}")]
    Config {
        /// The switch.
        switch: String,
        /// What is wrong.
        what: String,
    },
    /// Invariant 1 broke: the run fails with the counters.
    #[error("{switch}: {violation}")]
    Conservation {
        /// The switch.
        switch: String,
        /// The counters.
        violation: ConservationViolation,
    },
    /// A component failed in a way the run cannot go on from (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The switches a run can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchKind {
    /// The sNICh card with its host driver and flow-setup agent.
    Snich,
    /// The Linux bridge in a driver domain with netfilter rules walked one by one.
    LinuxBridge,
    /// The Linux bridge with the rules in nftables sets.
    LinuxBridgeNftset,
    /// Open vSwitch's kernel datapath (mask cache, megaflows, netlink upcalls).
    OvsKernel,
    /// Open vSwitch's userspace datapath with DPDK ports on busy-polling PMD cores.
    OvsDpdk,
    /// Open vSwitch's userspace datapath with AF_XDP ports in non-PMD mode (the
    /// configuration measured on this project's machines).
    OvsAfxdp,
    /// An SR-IOV NIC's embedded bridge (VEB).
    SriovVeb,
}

impl SwitchKind {
    /// Every switch, in report order.
    pub const ALL: [SwitchKind; 7] = [
        SwitchKind::Snich,
        SwitchKind::LinuxBridge,
        SwitchKind::LinuxBridgeNftset,
        SwitchKind::OvsKernel,
        SwitchKind::OvsDpdk,
        SwitchKind::OvsAfxdp,
        SwitchKind::SriovVeb,
    ];

    /// The name scenarios and reports use.
    pub fn name(self) -> &'static str {
        match self {
            SwitchKind::Snich => "snich",
            SwitchKind::LinuxBridge => "linux-bridge",
            SwitchKind::LinuxBridgeNftset => "linux-bridge-nftset",
            SwitchKind::OvsKernel => "ovs-kernel",
            SwitchKind::OvsDpdk => "ovs-dpdk",
            SwitchKind::OvsAfxdp => "ovs-afxdp",
            SwitchKind::SriovVeb => "sriov-veb",
        }
    }

    /// The software switches (the baselines that run on the host's cores).
    pub fn is_software(self) -> bool {
        !matches!(self, SwitchKind::Snich | SwitchKind::SriovVeb)
    }
}

/// How the sNICh system moves an inter-VM packet's payload (the scenario's `card.inter_vm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterVmCopy {
    /// The host's copy engine (I/OAT style): the payload stays in host memory.
    #[default]
    CopyEngine,
    /// A host core copies the payload (cycles charged to the CPU model).
    CpuCopy,
    /// The card reads the packet over PCIe and writes it back (as an SR-IOV bridge does).
    Hairpin,
}

impl InterVmCopy {
    /// The name scenarios and reports use.
    pub fn name(self) -> &'static str {
        match self {
            InterVmCopy::CopyEngine => "copy-engine",
            InterVmCopy::CpuCopy => "cpu-copy",
            InterVmCopy::Hairpin => "hairpin",
        }
    }
}

/// How the host takes the copy engine's completions (the scenario's `card.copy_completion`;
/// used when `card.inter_vm` is `copy-engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyCompletion {
    /// A host core polls the engine's completion write-back (`snich.copy_engine.completion_poll`).
    #[default]
    Poll,
    /// The engine raises an interrupt per completion
    /// (`snich.copy_engine.completion_interrupt`).
    Interrupt,
}

impl CopyCompletion {
    /// The name scenarios and reports use.
    pub fn name(self) -> &'static str {
        match self {
            CopyCompletion::Poll => "poll",
            CopyCompletion::Interrupt => "interrupt",
        }
    }
}

/// Everything a switch is built from: the same for every switch of a comparison.
#[derive(Debug, Clone)]
pub struct SwitchContext {
    /// The VMs and external hosts.
    pub topology: Topology,
    /// The administrator's rules in force, in file order (ids are their positions).
    pub rules: Vec<flow_setup::rule::Rule>,
    /// The host's cores, clock and memory.
    pub host: HostConfig,
    /// The card's parameters (the sNICh card; the baselines take their host NIC's uplink
    /// speed and PCIe link from it, so all switches see the same wire and bus).
    pub card: nic_model::card::CardConfig,
    /// The sNICh system's inter-VM path.
    pub inter_vm: InterVmCopy,
    /// How the sNICh host takes its copy engine's completions.
    pub copy_completion: CopyCompletion,
    /// The cost profile file (per-operation host CPU costs, each with its source); `None`:
    /// the built-in default profile.
    pub profile: Option<std::path::PathBuf>,
    /// The scenario's `[profile]` overrides of the profile's numbers.
    pub profile_overrides: ProfileOverrides,
    /// The run's seed, for any randomness inside a switch.
    pub seed: u64,
    /// Faults injected into the sNICh system (the baselines ignore them).
    pub faults: crate::faults::Faults,
    /// The offer (counted from 1) at which the run notes its backlog besides the last
    /// ([`SwitchRun::with_backlog_checkpoint`]); set by a measurement, `None` otherwise.
    pub backlog_checkpoint: Option<u64>,
}

impl SwitchContext {
    /// The cost profile the context names (or the built-in one) with the context's
    /// overrides, for `switch`: a profile that does not load is that switch's configuration
    /// error.
    pub fn profile_for(&self, switch: &str) -> Result<Profile, SwitchError> {
        Profile::for_context(self.profile.as_ref(), &self.profile_overrides).map_err(|e| {
            SwitchError::Config {
                switch: switch.to_string(),
                what: e.to_string(),
            }
        })
    }
}

/// A switch under test. A run offers packets in non-decreasing time and then finishes.
pub trait SwitchUnderTest {
    /// The name reports print (see [`SwitchRun::switch`]).
    fn name(&self) -> String;

    /// Offers one packet. The switch simulates everything that happens before `packet.at`
    /// first (its own events are its business), then takes the packet. Errors are internal
    /// failures only: bad packets are counted as drops, never errors.
    fn offer(&mut self, packet: OfferedPacket) -> Result<(), SwitchError>;

    /// Runs until nothing is left to do, checks conservation, and returns what was measured.
    fn finish(self: Box<Self>) -> Result<SwitchRun, SwitchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_balances_only_when_drained() {
        let mut l = PacketLedger::default();
        l.offer();
        l.offer();
        l.deliver();
        assert!(l.check_drained().is_err(), "one still in flight");
        l.drop_for(DropReason::RuleDrop);
        assert_eq!(l.check_drained(), Ok(()));
        assert_eq!(l.dropped_total(), 1);
    }

    #[test]
    fn drop_reasons_sort_and_serialise_by_name() {
        let names: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "declared in name order, names unique");
        let mut declared = DropReason::ALL;
        declared.sort();
        assert_eq!(
            declared,
            DropReason::ALL,
            "the derived order is the name order"
        );
        for r in DropReason::ALL {
            assert_eq!(r.name().parse::<DropReason>(), Ok(r));
        }
        for c in nic_model::counters::DropReason::ALL {
            assert_eq!(
                DropReason::from(c).name(),
                c.name(),
                "the card's names kept"
            );
        }
        let mut l = PacketLedger::default();
        for r in [
            DropReason::VlanMismatch,
            DropReason::AgentDrop,
            DropReason::NoEgress,
        ] {
            l.offer();
            l.drop_for(r);
        }
        let json = serde_json::to_string(&l).expect("json");
        assert!(
            json.contains(r#""dropped":{"agent_drop":1,"no_egress":1,"vlan_mismatch":1}"#),
            "{json}"
        );
        let back: PacketLedger = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, l);
        assert!(serde_json::from_str::<PacketLedger>(&json.replace("no_egress", "nope")).is_err());
    }

    /// One packet of the backlog model: offered at `offer` (each at its own time), ending
    /// (delivered or dropped) at `end`, no earlier, its outcome recorded `delay` offers later (0: at its own offer; past the
    /// last offer: at the drain).
    #[derive(Debug, Clone)]
    struct ModelPacket {
        offer: u64,
        end: u64,
        delay: usize,
        drop: bool,
    }

    fn model_packets() -> impl proptest::strategy::Strategy<Value = Vec<ModelPacket>> {
        use proptest::prelude::*;
        proptest::collection::vec((1u64..4, 0u64..40, 0usize..6, any::<bool>()), 1..300).prop_map(
            |v| {
                let mut t = 0;
                v.into_iter()
                    .map(|(gap, latency, delay, drop)| {
                        t += gap;
                        ModelPacket {
                            offer: t,
                            end: t + latency,
                            delay,
                            drop,
                        }
                    })
                    .collect()
            },
        )
    }

    proptest::proptest! {
        /// The backlog at the last offer and at a checkpoint, against counting packet by
        /// packet, whatever order a switch records outcomes in (at once with a future time,
        /// or offers later) and however many outcomes are pruned on the way.
        #[test]
        fn the_backlog_counts_the_packets_queued_at_an_offer(
            packets in model_packets(),
            checkpoint_at in 0.0f64..1.0,
        ) {
            let n = packets.len();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let k = ((checkpoint_at * n as f64) as usize).min(n - 1) + 1;
            let mut run = SwitchRun::new("t").expect("run").with_backlog_checkpoint(Some(k as u64));
            let record = |run: &mut SwitchRun, p: &ModelPacket| {
                if p.drop {
                    run.record_drop(SimTime(p.end), DropReason::QueueFull);
                } else {
                    run.record_delivery(SimTime(p.offer), SimTime(p.end), 60);
                }
            };
            for (i, p) in packets.iter().enumerate() {
                run.admit_offer(SimTime(p.offer)).expect("in order");
                for q in packets[..=i].iter().enumerate().filter(|(j, q)| j + q.delay == i) {
                    record(&mut run, q.1);
                }
            }
            for (j, q) in packets.iter().enumerate() {
                if j + q.delay >= n {
                    record(&mut run, q);
                }
            }
            let queued_at = |upto: usize| {
                let t = packets[upto - 1].offer;
                packets[..upto].iter().filter(|p| p.end > t).count() as u64
            };
            let b = run.backlog();
            proptest::prop_assert_eq!(b.at_last_offer, queued_at(n));
            let c = b.checkpoint.expect("reached");
            proptest::prop_assert_eq!(c.offered_after, (n - k) as u64);
            proptest::prop_assert_eq!(c.packets, queued_at(k));
        }
    }

    #[test]
    fn offers_go_forward_in_time() {
        let mut run = SwitchRun::new("t").expect("run");
        run.admit_offer(SimTime(5)).expect("first");
        run.admit_offer(SimTime(5)).expect("same time");
        assert_eq!((run.first_offer, run.last_event), (SimTime(5), SimTime(5)));
        let e = run.admit_offer(SimTime(4)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "internal error: t: packet offered at 0.004 ns before the previous offer"
        );
        assert_eq!(run.ledger.offered, 2, "the refused offer is not counted");
        assert!(matches!(
            run.check_conservation(),
            Err(SwitchError::Conservation { switch, .. }) if switch == "t"
        ));
        run.record_delivery(SimTime(5), SimTime(9), 64);
        run.record_drop(SimTime(9), DropReason::QueueFull);
        assert_eq!(run.check_conservation(), Ok(()));
    }

    #[test]
    fn ports_and_macs_map_both_ways() {
        let t = Topology {
            vms: vec![
                VmNode {
                    mac: MacAddr([2, 0, 0, 0, 1, 0]),
                    ipv4: 0x0a00_0001,
                    vlan: None,
                    queue_entries: 256,
                };
                2
            ],
            external_hosts: vec![ExternalNode {
                mac: MacAddr([2, 0, 0, 0, 0xff, 1]),
                ipv4: 0xc000_0201,
            }],
        };
        assert_eq!(Topology::vm_port(VmIndex(1)), PortNo(102));
        assert_eq!(t.vm_of_port(PortNo(102)), Some(VmIndex(1)));
        assert_eq!(t.vm_of_port(PortNo(103)), None);
        assert_eq!(t.vm_of_port(UPLINK_PORT), None);
        assert_eq!(
            t.endpoint_of_mac(MacAddr([2, 0, 0, 0, 0xff, 1])),
            Some(Endpoint::External(ExternalHostIndex(0)))
        );
        assert_eq!(t.endpoint_of_mac(MacAddr([9; 6])), None);
    }
}
