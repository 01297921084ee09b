//! The card's parameters: [`CardConfig`] (every tunable of the card, each default naming its
//! source) and the setups of the rings the host hands to the card ([`QueueSetup`],
//! [`MissQueueSetup`], [`RingSetup`]). [`Card::new`](super::Card::new) validates a
//! configuration and names the field of any value it refuses ([`ConfigError`](super::ConfigError)).

use nic_abi::key::PortNo;
use serde::{Deserialize, Serialize};

use crate::dma::DmaConfig;
use crate::host::{Iova, IrqVector, VmId};
use crate::mac::MacConfig;
use crate::pcie::PcieConfig;
use crate::pipeline::PipelineConfig;

/// Parameters of the flow table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableConfig {
    /// Buckets (a power of two). Default 16,384 buckets = 65,536 entries, of the order of the
    /// exact-match tables of FPGA NICs (block RAM of a mid-range UltraScale+: 4 x 545-bit
    /// slots per bucket, `nic_abi::table::BUCKET_BITS`).
    pub buckets: u32,
    /// Kick bound of the cuckoo walk: `nic_abi::table::DEFAULT_MAX_KICKS`.
    pub max_kicks: u32,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            buckets: 16_384,
            max_kicks: nic_abi::table::DEFAULT_MAX_KICKS,
        }
    }
}

/// Interrupt moderation: an interrupt fires when `max_events` completions are pending or
/// `max_delay_ns` after the first pending one, whichever comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InterruptConfig {
    /// Completions that trigger an interrupt at once. Default 32, the order of Linux NIC
    /// drivers' `ethtool -C rx-frames` defaults.
    pub max_events: u32,
    /// Longest delay from the first pending completion to its interrupt. Default 8 us, the
    /// order of Linux NIC drivers' `ethtool -C rx-usecs` defaults.
    pub max_delay_ns: u64,
}

impl Default for InterruptConfig {
    fn default() -> Self {
        InterruptConfig {
            max_events: 32,
            max_delay_ns: 8_000,
        }
    }
}

/// How a packet from one VM reaches another VM's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InterVmPath {
    /// The card sends a copy command to the host's copy engine: the payload moves in host
    /// memory and never crosses PCIe (the sNICh design). Falls back to hairpin when the host
    /// has no copy engine or the action edits the frame.
    #[default]
    CopyEngine,
    /// The card reads the whole packet over PCIe and writes it back (an SR-IOV bridge's way).
    Hairpin,
}

/// What the card's lookup matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LookupMode {
    /// The sNICh design: the exact-match flow table keyed by the whole flow key, filled by
    /// the agent; a miss holds the packet and sends a record to the agent.
    #[default]
    FlowKey,
    /// An SR-IOV embedded bridge (VEB): the same table keyed by ingress port, destination
    /// MAC and VLAN id only ([`mac_vlan_key`](super::mac_vlan_key)), filled at bring-up
    /// ([`Card::install_mac_vlan`](super::Card::install_mac_vlan)). There is no agent and no
    /// miss path: a packet whose MAC/VLAN has no entry is flooded (unknown unicast).
    MacVlan,
}

/// Every parameter of the card. Each default names its source in its field's doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardConfig {
    /// The MAC ports; port `i` of this list is switch port `i + 1`. Default: two 25G ports.
    pub macs: Vec<MacConfig>,
    /// The PCIe link.
    pub pcie: PcieConfig,
    /// The DMA engine.
    pub dma: DmaConfig,
    /// The parser and lookup pipeline.
    pub pipeline: PipelineConfig,
    /// The flow table.
    pub table: TableConfig,
    /// Interrupt moderation of every queue.
    pub interrupts: InterruptConfig,
    /// Packets the card can hold for the agent at once. Default 1,024 (2 MiB of 2 KiB
    /// buffers, a fraction of an FPGA NIC's on-board memory).
    pub held_packets: u32,
    /// The inter-VM path. Default: the host's copy engine (the design's point).
    pub inter_vm: InterVmPath,
    /// What the lookup matches on. Default: the whole flow key (the sNICh design). Not part
    /// of a configuration file: the system that assembles the card chooses it (the VEB's
    /// assembly sets [`LookupMode::MacVlan`] and writes its entries).
    #[serde(skip)]
    pub lookup: LookupMode,
}

impl Default for CardConfig {
    fn default() -> Self {
        CardConfig {
            macs: vec![MacConfig::default(); 2],
            pcie: PcieConfig::default(),
            dma: DmaConfig::default(),
            pipeline: PipelineConfig::default(),
            table: TableConfig::default(),
            interrupts: InterruptConfig::default(),
            held_packets: 1024,
            inter_vm: InterVmPath::CopyEngine,
            lookup: LookupMode::FlowKey,
        }
    }
}

/// A descriptor or completion ring in host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingSetup {
    /// First byte of the ring, in the owning VM's IOVA space.
    pub base: Iova,
    /// Entries (a power of two, 1..=32768).
    pub entries: u16,
}

/// A VM's queue pair: its port, rings and interrupt vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSetup {
    /// The VM owning the rings and buffers.
    pub vm: VmId,
    /// The switch port of this queue pair.
    pub port: PortNo,
    /// RX descriptors (buffers the VM posts).
    pub rx: RingSetup,
    /// RX completions the card writes.
    pub rx_completions: RingSetup,
    /// TX descriptors (packets the VM sends).
    pub tx: RingSetup,
    /// TX completions the card writes.
    pub tx_completions: RingSetup,
    /// Interrupt for RX completions.
    pub rx_vector: IrqVector,
    /// Interrupt for TX completions.
    pub tx_vector: IrqVector,
}

/// The miss (exception) ring toward the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissQueueSetup {
    /// The address space of the agent's memory (the host's own, or a driver domain's).
    pub vm: VmId,
    /// The ring of miss records.
    pub ring: RingSetup,
    /// Interrupt for new records.
    pub vector: IrqVector,
}
