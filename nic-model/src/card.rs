//! The card: MAC ports, PCIe link and DMA engine, parser and lookup pipeline, flow table,
//! per-VM queue pairs and the miss queue, wired together by the event engine.
//!
//! # Paths
//!
//! - **Wire to card.** A frame offered on a MAC port arrives after its wire time
//!   ([`MacConfig::wire_time`]), enters the RX FIFO (or is dropped, `rx_fifo_full`), goes
//!   through the parser and the lookup, and the action decides.
//! - **VM to card.** A TX doorbell makes the card fetch descriptors (in batches), read each
//!   packet's header window (header-only read), parse and look it up. The rest of the packet
//!   is read only if it must leave the card through it (to the wire or, hairpin, to a VM).
//! - **Out to a VM.** The card takes the VM's next RX descriptor (fetching a batch when it has
//!   none cached), writes the packet and then a completion (posted writes, in order), and
//!   signals the queue's interrupt through moderation.
//! - **Out to the wire.** The MAC serialises it; frames queue behind each other.
//! - **Miss.** A packet without an entry (or with an unparsed key, or a ToAgent action) is
//!   held on the card; a miss record (key, first bytes) goes to the miss ring; the agent's
//!   release command later says look it up again or apply an action.
//! - **Behind a setup.** A table miss makes its key a *pending flow* (a table of the keys
//!   being set up, bounded by the held-packet buffer). Later packets with a pending key wait
//!   on the card behind the first one, in arrival order, with no miss record of their own
//!   (one record per flow setup), even once the entry is installed: when the first packet's
//!   release arrives, it and every packet behind it go through the lookup pipeline again, in
//!   order, and packets that reach the lookup while these are still in the pipeline follow
//!   them (another pass), so no later packet of the flow overtakes an earlier one
//!   (invariant 5). A release that applies an action applies it to the packets behind too.
//!
//! A packet ends delivered (to at least one port) or dropped for a named reason; the card's
//! [`Counters`] keep the conservation law and [`Card::finish`] checks it.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use nic_abi::action::{Action, Destination, VlanOp};
use nic_abi::hash::key_hashes;
use nic_abi::key::{FlowKey, KeyWords, PortNo};
use nic_abi::table::TableGeometry;
use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

mod mmio;

use crate::counters::{Counters, DropReason, FinishError};
use crate::dma::{DmaConfig, DmaEngine};
use crate::engine::{Clock, EngineError, EventQueue};
use crate::flow_table::{FlowTable, InsertError, InsertOutcome};
use crate::host::{HostBus, Iova, IrqVector, VmId};
use crate::mac::{MacConfig, MacPort};
use crate::pcie::{PcieConfig, PcieConfigError, PcieLink};
use crate::pipeline::{Pipeline, PipelineConfig};
use nic_abi::desc::{
    MissFlags, MissReason, MissRecord, PacketHandle, QueueIndex, Release, RingIndex, RxCompletion,
    RxDescriptor, RxStatus, TxCompletion, TxDescriptor, TxStatus, MISS_HEADER_BYTES,
};
use nic_abi::parse::parse_card;

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

/// Errors of the card's API. None of them leaves the card inconsistent; the run can go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// A configuration value is invalid.
    #[error("card config: {0}")]
    Config(String),
    /// The PCIe configuration is invalid.
    #[error("card config: {0}")]
    Pcie(#[from] PcieConfigError),
    /// The port is not one of the card's MAC ports.
    #[error("port {0} is not a MAC port of the card")]
    NotAMacPort(PortNo),
    /// The port is 0, a MAC port or already used by a queue.
    #[error("port {0} cannot be a VM queue's port: it is 0, a MAC port or taken")]
    PortTaken(PortNo),
    /// The ring size is not a power of two in 1..=32768.
    #[error("{ring}: {entries} entries is not a power of two in 1..=32768")]
    BadRing {
        /// Which ring.
        ring: &'static str,
        /// Its size.
        entries: u16,
    },
    /// No queue with this index.
    #[error("no queue {0}")]
    NoSuchQueue(u16),
    /// No held packet has this handle.
    #[error("no held packet with handle {0}")]
    NoSuchHandle(u32),
    /// The event engine refused (time in the past).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Where a switch port leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortTarget {
    None,
    Mac(u8),
    Queue(u16),
}

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Wire { mac: u8 },
    Vm { queue: u16, index: u16 },
}

/// A packet inside the card.
#[derive(Debug, Clone)]
struct Packet {
    frame: Bytes,
    in_port: PortNo,
    source: Source,
    arrival: SimTime,
    flow_hash: u32,
    /// Copies still on their way out.
    pending: u16,
    any_delivered: bool,
    last_failure: DropReason,
    /// RX FIFO bytes still held (wire packets until they leave the FIFO).
    fifo_bytes: u64,
    /// For packets from a VM: when the rest of the packet (after the header window) is on
    /// the card, once it has been read.
    body_ready: Option<SimTime>,
    /// For packets from a VM: the TX buffer holding it.
    src_buf: Iova,
    /// An action edited the frame (so the source buffer no longer holds what is sent).
    edited: bool,
    /// For wire packets: how many wire packets entered before it (its [`PacketOrigin`]).
    wire_seq: u64,
    /// The packet is in the pipeline again because its pending flow was released.
    setup_pass: bool,
}

/// A packet held for the agent: the packet, and the pending flow it heads (table misses).
#[derive(Debug, Clone, Copy)]
struct HeldPacket {
    pkt: u32,
    heads: Option<KeyWords>,
}

/// A key being set up: its first packet is held for the agent, later ones wait behind it.
#[derive(Debug, Default)]
struct PendingFlow {
    /// Packets of the flow after the first, in arrival order.
    behind: VecDeque<u32>,
    /// The first packet's release arrived: packets of the flow still in the pipeline for
    /// their second pass (until none is, later packets follow them).
    releasing: Option<u32>,
}

/// A ring's geometry and the card's indices into it.
#[derive(Debug, Clone, Copy)]
struct Ring {
    base: Iova,
    entries: u16,
}

impl Ring {
    fn new(ring: &'static str, s: RingSetup) -> Result<Ring, CardError> {
        if !s.entries.is_power_of_two() {
            return Err(CardError::BadRing {
                ring,
                entries: s.entries,
            });
        }
        Ok(Ring {
            base: s.base,
            entries: s.entries,
        })
    }

    fn slot(&self, index: u16) -> u16 {
        index & (self.entries - 1)
    }

    fn addr(&self, index: u16, record: usize) -> Iova {
        Iova(
            self.base
                .0
                .wrapping_add(u64::from(self.slot(index)) * record as u64),
        )
    }
}

/// Interrupt state of one vector: moderation (by count and by time) and causes.
#[derive(Debug, Clone, Copy)]
struct Irq {
    /// Completions since the vector last fired.
    pending: u32,
    timer_armed: bool,
    generation: u32,
    /// Fire at this many pending completions.
    max_events: u32,
    /// Fire this long after the first pending completion.
    max_delay: SimDuration,
    /// Causes pending (the register's write-1-to-clear bits).
    cause: u32,
    /// Causes that may fire the vector.
    enable: u32,
}

impl Irq {
    fn new(config: &InterruptConfig) -> Irq {
        Irq {
            pending: 0,
            timer_armed: false,
            generation: 0,
            max_events: config.max_events.max(1),
            max_delay: SimDuration::from_ns(config.max_delay_ns),
            cause: 0,
            enable: u32::MAX,
        }
    }
}

/// When the miss ring's latest record write completes (zero without a miss ring).
fn m_last_write(m: &Option<MissQueue>) -> SimTime {
    m.as_ref().map_or(SimTime::ZERO, |m| m.last_write)
}

/// Interrupt causes (bit values of the register map's `CAUSE`).
const CAUSE_TX: u32 = nic_abi::regs::interrupts::CAUSE_TX_COMPLETION;
const CAUSE_RX: u32 = nic_abi::regs::interrupts::CAUSE_RX_COMPLETION;
const CAUSE_MISS: u32 = nic_abi::regs::interrupts::CAUSE_MISS_RECORD;

#[derive(Debug)]
struct VmQueue {
    vm: VmId,
    port: PortNo,
    rx: Ring,
    rx_cq: Ring,
    tx: Ring,
    tx_cq: Ring,
    rx_producer: u16,
    rx_consumer: u16,
    /// Fetched descriptors: ring index, the descriptor (or that it did not decode), and when
    /// its fetch completes.
    rx_cache: VecDeque<(u16, Result<RxDescriptor, ()>, SimTime)>,
    /// When the latest descriptor fetch completes.
    rx_fetch_ready: SimTime,
    rx_cq_producer: u16,
    tx_producer: u16,
    tx_consumer: u16,
    tx_fetching: bool,
    tx_cq_producer: u16,
    rx_vector: IrqVector,
    tx_vector: IrqVector,
    /// False for a queue slot set up and then disabled: no traffic reaches it.
    enabled: bool,
}

#[derive(Debug)]
struct MissQueue {
    vm: VmId,
    ring: Ring,
    /// Slots reserved for records (a record's write may still be in flight).
    producer: u16,
    /// Records written, in slot order: what the `PRODUCER` register shows, so the agent
    /// never reads a slot before its record has landed.
    published: u16,
    /// When the latest record write completes (records land in slot order).
    last_write: SimTime,
    consumer: u16,
    vector: IrqVector,
}

/// The card's events. Small and `Copy`: the packet itself stays in the card's packet store.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A frame's last byte arrived at a MAC port.
    WireRxDone { pkt: u32, mac: u8 },
    /// A packet's header is on the card (VM path): parse and look up.
    HeaderReady { pkt: u32 },
    /// A packet's lookup result is valid.
    LookupDone { pkt: u32 },
    /// A copy to a VM has its descriptor and data on the card: write it.
    RxWrite {
        pkt: u32,
        queue: u16,
        index: u16,
        buf: Iova,
        capacity: u16,
    },
    /// A copy command reached the host: run it on the copy engine.
    CopySubmit {
        pkt: u32,
        queue: u16,
        index: u16,
        buf: Iova,
    },
    /// A copy to a VM has been written with its completion.
    RxCopyDone {
        pkt: u32,
        queue: u16,
        index: u16,
        buf: Iova,
        capacity: u16,
        via: Delivery,
    },
    /// A copy left through a MAC port.
    WireTxDone { pkt: u32 },
    /// A TX doorbell reached the card.
    TxDoorbell { queue: u16 },
    /// A batch of TX descriptors is on the card.
    TxDescriptorsFetched { queue: u16, first: u16, count: u16 },
    /// A miss record has been written.
    MissWritten {
        pkt: u32,
        handle: u32,
        reason: MissReason,
        slot: u16,
    },
    /// A release command reached the card.
    ReleaseArrived { handle: u32, release: ReleaseCode },
    /// The release ring's producer index was written.
    ReleaseDoorbell,
    /// Release commands read from the release ring are on the card.
    ReleasesFetched { first: u16, count: u16 },
    /// An interrupt moderation timer expired.
    IrqTimer { vector: u16, generation: u32 },
}

/// The RX buffer a copy goes to.
#[derive(Debug, Clone, Copy)]
struct RxSlot {
    queue: u16,
    index: u16,
    buf: Iova,
    capacity: u16,
}

/// How a copy to a VM's buffer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The card writes the packet by DMA when the completion is due.
    Write,
    /// The host's copy engine copied it.
    Copied,
    /// The copy engine refused the copy.
    CopyFault,
}

/// [`Release`] in event form.
#[derive(Debug, Clone, Copy)]
enum ReleaseCode {
    Relookup,
    Apply(Action),
}

/// Which packet a [`PacketOutcome`] is about, in terms its sender knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketOrigin {
    /// The `seq`-th packet offered from the wire (0-based, all MAC ports together, in
    /// [`Card::offer_from_wire`] call order), on `port`.
    Wire {
        /// The MAC port it entered on.
        port: PortNo,
        /// Wire packets offered before it.
        seq: u64,
    },
    /// The packet of TX descriptor `index` of queue pair `queue`.
    Vm {
        /// The queue pair.
        queue: QueueIndex,
        /// The descriptor's ring index.
        index: RingIndex,
    },
}

/// How one packet ended: delivered (to at least one port) or dropped, and when. The time of a
/// delivery is when its last copy was done: its RX completion written into the VM's ring, or
/// its last bit sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOutcome {
    /// The packet.
    pub origin: PacketOrigin,
    /// Delivered, or the drop reason.
    pub result: Result<(), DropReason>,
    /// When it ended.
    pub at: SimTime,
    /// Its frame length (0 for a VM packet whose descriptor or data could not be read).
    pub len: usize,
}

/// The sNICh card model. See the module doc for its paths.
#[derive(Debug)]
pub struct Card<H: HostBus> {
    config: CardConfig,
    nic_clock: Clock,
    events: EventQueue<Event>,
    macs: Vec<MacPort>,
    dma: DmaEngine,
    pipeline: Pipeline,
    table: FlowTable<Action>,
    ports: Vec<PortTarget>,
    queues: Vec<VmQueue>,
    /// Interrupt state by vector number.
    vectors: Vec<Irq>,
    miss: Option<MissQueue>,
    held: HashMap<u32, HeldPacket>,
    /// Keys being set up (see the module doc, "Behind a setup").
    pending: HashMap<KeyWords, PendingFlow>,
    next_handle: u32,
    packets: Vec<Packet>,
    free_packets: Vec<u32>,
    counters: Counters,
    host: H,
    /// The first engine failure, reported by [`Card::finish`].
    engine_error: Option<EngineError>,
    /// Latched register values (see [`Card::mmio_write`]).
    regs: mmio::RegisterFile,
    /// A release-ring fetch is in flight.
    release_fetching: bool,
    /// How packets ended, when recording is on ([`Card::record_outcomes`]).
    outcomes: Option<Vec<PacketOutcome>>,
}

const PORT_SLOTS: usize = 1 << 16;

impl<H: HostBus> Card<H> {
    /// A card with `config`, attached to `host`, idle at time zero.
    pub fn new(config: CardConfig, host: H) -> Result<Card<H>, CardError> {
        let nic_clock = Clock::from_mhz(config.pipeline.nic_clock_mhz)
            .map_err(|e| CardError::Config(format!("pipeline.nic_clock_mhz: {e}")))?;
        if config.macs.is_empty() || config.macs.len() > 64 {
            return Err(CardError::Config(format!(
                "macs: {} ports, expected 1 to 64",
                config.macs.len()
            )));
        }
        let geometry = TableGeometry::new(config.table.buckets)
            .map_err(|e| CardError::Config(format!("table.buckets: {e}")))?;
        let link = PcieLink::new(config.pcie.clone())?;
        let mut ports = vec![PortTarget::None; PORT_SLOTS];
        let mut macs = Vec::with_capacity(config.macs.len());
        for (i, m) in config.macs.iter().enumerate() {
            let idx = u8::try_from(i).map_err(|_| CardError::Config("too many macs".into()))?;
            ports[i + 1] = PortTarget::Mac(idx);
            macs.push(MacPort::new(m.clone()));
        }
        Ok(Card {
            dma: DmaEngine::new(&config.dma, nic_clock, link),
            pipeline: Pipeline::new(config.pipeline.clone(), nic_clock),
            table: FlowTable::new(geometry, config.table.max_kicks),
            nic_clock,
            events: EventQueue::new(),
            macs,
            ports,
            queues: Vec::new(),
            vectors: Vec::new(),
            miss: None,
            held: HashMap::new(),
            pending: HashMap::new(),
            next_handle: 0,
            packets: Vec::new(),
            free_packets: Vec::new(),
            counters: Counters::default(),
            host,
            engine_error: None,
            regs: mmio::RegisterFile::default(),
            release_fetching: false,
            outcomes: None,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CardConfig {
        &self.config
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.events.now()
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable<Action> {
        &self.table
    }

    /// The flow table, for direct management (the agent's path in simulations that do not
    /// model management-port timing).
    pub fn table_mut(&mut self) -> &mut FlowTable<Action> {
        &mut self.table
    }

    /// Installs (or updates) the entry for `key`.
    pub fn install(&mut self, key: &FlowKey, action: Action) -> Result<InsertOutcome, InsertError> {
        self.table.insert(key, action)
    }

    /// The host side.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host side, writable (guests posting buffers, tests inspecting memory).
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// The MAC ports.
    pub fn macs(&self) -> &[MacPort] {
        &self.macs
    }

    /// The DMA engine and its PCIe link.
    pub fn dma(&self) -> &DmaEngine {
        &self.dma
    }

    /// The NIC core clock.
    pub fn nic_clock(&self) -> Clock {
        self.nic_clock
    }

    /// Events processed so far.
    pub fn events_fired(&self) -> u64 {
        self.events.fired()
    }

    /// Events waiting to fire.
    pub fn events_pending(&self) -> usize {
        self.events.len()
    }

    /// Sets up a VM's queue pair at the next index; returns the index. Rings start empty
    /// (all indices 0).
    pub fn add_queue(&mut self, setup: QueueSetup) -> Result<QueueIndex, CardError> {
        let index = u16::try_from(self.queues.len())
            .map_err(|_| CardError::Config("more than 65,535 queues".into()))?;
        self.set_queue(QueueIndex(index), setup)?;
        Ok(QueueIndex(index))
    }

    /// Sets up (or sets up again, from empty rings) queue pair `q`. Queue pairs are numbered
    /// densely: `q` is an existing queue or the next one.
    pub fn set_queue(&mut self, q: QueueIndex, setup: QueueSetup) -> Result<(), CardError> {
        let qi = usize::from(q.0);
        if qi > self.queues.len() {
            return Err(CardError::NoSuchQueue(q.0));
        }
        let p = usize::from(setup.port.0);
        let own_port = self.queues.get(qi).filter(|v| v.enabled).map(|v| v.port);
        if setup.port.0 == 0 || (self.ports[p] != PortTarget::None && own_port != Some(setup.port))
        {
            return Err(CardError::PortTaken(setup.port));
        }
        let queue = VmQueue {
            vm: setup.vm,
            port: setup.port,
            rx: Ring::new("rx ring", setup.rx)?,
            rx_cq: Ring::new("rx completion ring", setup.rx_completions)?,
            tx: Ring::new("tx ring", setup.tx)?,
            tx_cq: Ring::new("tx completion ring", setup.tx_completions)?,
            rx_producer: 0,
            rx_consumer: 0,
            rx_cache: VecDeque::new(),
            rx_fetch_ready: SimTime::ZERO,
            rx_cq_producer: 0,
            tx_producer: 0,
            tx_consumer: 0,
            tx_fetching: false,
            tx_cq_producer: 0,
            rx_vector: setup.rx_vector,
            tx_vector: setup.tx_vector,
            enabled: true,
        };
        self.ensure_vector(setup.rx_vector);
        self.ensure_vector(setup.tx_vector);
        if let Some(old) = own_port {
            self.ports[usize::from(old.0)] = PortTarget::None;
        }
        if qi == self.queues.len() {
            self.queues.push(queue);
        } else {
            self.queues[qi] = queue;
        }
        self.ports[p] = PortTarget::Queue(q.0);
        Ok(())
    }

    /// Disables queue pair `q`: its port leads nowhere and its doorbells are ignored.
    pub fn disable_queue(&mut self, q: QueueIndex) {
        if let Some(vq) = self.queues.get_mut(usize::from(q.0)) {
            if vq.enabled {
                vq.enabled = false;
                self.ports[usize::from(vq.port.0)] = PortTarget::None;
            }
        }
    }

    fn ensure_vector(&mut self, v: IrqVector) {
        let i = usize::from(v.0);
        if self.vectors.len() <= i {
            self.vectors
                .resize(i + 1, Irq::new(&self.config.interrupts));
        }
    }

    /// Sets up the miss ring toward the agent.
    pub fn set_miss_queue(&mut self, setup: MissQueueSetup) -> Result<(), CardError> {
        self.miss = Some(MissQueue {
            vm: setup.vm,
            ring: Ring::new("miss ring", setup.ring)?,
            producer: 0,
            published: 0,
            last_write: SimTime::ZERO,
            consumer: 0,
            vector: setup.vector,
        });
        self.ensure_vector(setup.vector);
        Ok(())
    }

    fn queue_mut(&mut self, q: QueueIndex) -> Result<&mut VmQueue, CardError> {
        self.queues
            .get_mut(usize::from(q.0))
            .ok_or(CardError::NoSuchQueue(q.0))
    }

    /// The host wrote queue `q`'s RX producer index (buffers posted up to, not including,
    /// `producer`). Takes effect at once (a posted register write).
    pub fn rx_doorbell(&mut self, q: QueueIndex, producer: u16) -> Result<(), CardError> {
        let now = self.now();
        self.dma.link_mut().mmio_write(now, 4);
        self.set_rx_producer(q, producer)
    }

    /// The RX producer write has reached the card (its TLP already charged).
    fn set_rx_producer(&mut self, q: QueueIndex, producer: u16) -> Result<(), CardError> {
        self.queue_mut(q)?.rx_producer = producer;
        Ok(())
    }

    /// The host wrote queue `q`'s TX producer index: the card fetches the new descriptors.
    pub fn tx_doorbell(&mut self, q: QueueIndex, producer: u16) -> Result<(), CardError> {
        let now = self.now();
        let arrive = self.dma.link_mut().mmio_write(now, 4);
        self.set_tx_producer(q, producer, arrive)
    }

    /// The TX producer write reaches the card at `arrive` (its TLP already charged).
    fn set_tx_producer(
        &mut self,
        q: QueueIndex,
        producer: u16,
        arrive: SimTime,
    ) -> Result<(), CardError> {
        self.queue_mut(q)?.tx_producer = producer;
        self.events
            .schedule_at(arrive, Event::TxDoorbell { queue: q.0 })?;
        Ok(())
    }

    /// The agent wrote the miss ring's consumer index (records up to `consumer` are read).
    pub fn miss_doorbell(&mut self, consumer: u16) {
        let now = self.now();
        self.dma.link_mut().mmio_write(now, 4);
        self.set_miss_consumer(consumer);
    }

    /// The miss consumer write has reached the card (its TLP already charged).
    fn set_miss_consumer(&mut self, consumer: u16) {
        if let Some(m) = &mut self.miss {
            m.consumer = consumer;
        }
    }

    /// The agent's release command for the held packet `handle`.
    pub fn release(&mut self, handle: PacketHandle, release: Release) -> Result<(), CardError> {
        let handle = handle.0;
        if !self.held.contains_key(&handle) {
            return Err(CardError::NoSuchHandle(handle));
        }
        let now = self.now();
        let arrive = self.dma.link_mut().mmio_write(now, 16);
        let release = match release {
            Release::Relookup => ReleaseCode::Relookup,
            Release::Apply(a) => ReleaseCode::Apply(a),
        };
        self.events
            .schedule_at(arrive, Event::ReleaseArrived { handle, release })?;
        Ok(())
    }

    /// Handles of the packets held for the agent, in handle (arrival) order.
    pub fn held_handles(&self) -> Vec<PacketHandle> {
        let mut v: Vec<PacketHandle> = self.held.keys().copied().map(PacketHandle).collect();
        v.sort_unstable();
        v
    }

    fn alloc_packet(&mut self, p: Packet) -> u32 {
        if let Some(i) = self.free_packets.pop() {
            self.packets[i as usize] = p;
            i
        } else {
            self.packets.push(p);
            // The store never holds more than u32::MAX packets: offered packets are u64 but
            // the card's buffers are bounded by FIFO sizes and held_packets.
            u32::try_from(self.packets.len() - 1).unwrap_or(u32::MAX)
        }
    }

    /// Offers `frame` (without FCS) on MAC port `port`, its first bit on the wire at `at` (or
    /// as soon as the wire is free). Must not be earlier than [`Card::now`].
    pub fn offer_from_wire(
        &mut self,
        port: PortNo,
        frame: Bytes,
        at: SimTime,
    ) -> Result<(), CardError> {
        let mac = match self.ports.get(usize::from(port.0)) {
            Some(PortTarget::Mac(m)) => *m,
            _ => return Err(CardError::NotAMacPort(port)),
        };
        if at < self.now() {
            return Err(CardError::Engine(EngineError::InThePast {
                at: at.0,
                now: self.now().0,
            }));
        }
        let len = frame.len() as u64;
        let done = self.macs[usize::from(mac)].receive(at, len);
        let wire_seq = self.counters.offered_from_wire;
        self.counters.enter(true);
        let pkt = self.alloc_packet(Packet {
            frame,
            in_port: port,
            source: Source::Wire { mac },
            arrival: done,
            flow_hash: 0,
            pending: 0,
            any_delivered: false,
            last_failure: DropReason::NoSuchPort,
            fifo_bytes: 0,
            body_ready: None,
            src_buf: Iova(0),
            edited: false,
            wire_seq,
            setup_pass: false,
        });
        self.events
            .schedule_at(done, Event::WireRxDone { pkt, mac })?;
        Ok(())
    }

    /// Runs every event due at or before `until`; the clock ends at the last event run.
    pub fn run_until(&mut self, until: SimTime) {
        while let Some((_, e)) = self.events.pop_until(until) {
            self.handle(e);
        }
    }

    /// The time of the next event, if any is pending.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.events.peek_time()
    }

    /// Runs every event due at or before `t`, then moves the clock to `t` (never back): the
    /// host acts at `t`, and its register writes are issued then.
    pub fn advance_to(&mut self, t: SimTime) {
        self.run_until(t);
        self.events.advance_to(t);
    }

    /// Turns recording of every packet's outcome on or off ([`Card::take_outcomes`]). Off by
    /// default (it costs a push per packet).
    pub fn record_outcomes(&mut self, on: bool) {
        match (on, self.outcomes.is_some()) {
            (true, false) => self.outcomes = Some(Vec::new()),
            (false, true) => self.outcomes = None,
            _ => {}
        }
    }

    /// Moves the outcomes recorded since the last call into `out` (in the order packets ended).
    pub fn take_outcomes(&mut self, out: &mut Vec<PacketOutcome>) {
        if let Some(v) = &mut self.outcomes {
            out.append(v);
        }
    }

    /// Runs until no event is left; returns the time of the last one.
    pub fn drain(&mut self) -> SimTime {
        while let Some((_, e)) = self.events.pop() {
            self.handle(e);
        }
        self.now()
    }

    /// Ends a run: drains, then checks the conservation law and that nothing is in flight.
    /// Returns the counters.
    pub fn finish(&mut self) -> Result<Counters, FinishError> {
        self.drain();
        if let Some(e) = self.engine_error {
            return Err(FinishError::Engine(e));
        }
        self.counters.check()?;
        if self.counters.in_flight != 0 {
            return Err(FinishError::NotDrained {
                in_flight: self.counters.in_flight,
            });
        }
        Ok(self.counters.clone())
    }

    fn schedule(&mut self, at: SimTime, e: Event) {
        // Every time computed by the components is at or after now; clamp defensively.
        let at = at.max(self.now());
        if let Err(err) = self.events.schedule_at(at, e) {
            // Only a queue past 2^24 pending events gets here; the card cannot go on
            // correctly, and losing the event would lose a packet silently.
            self.engine_error.get_or_insert(err);
        }
    }

    fn handle(&mut self, e: Event) {
        let now = self.now();
        match e {
            Event::WireRxDone { pkt, mac } => self.on_wire_rx(pkt, mac, now),
            Event::HeaderReady { pkt } => {
                let len = self.packets[pkt as usize].frame.len() as u64;
                let t = self.pipeline.process(now, len);
                self.schedule(t, Event::LookupDone { pkt });
            }
            Event::LookupDone { pkt } => self.on_lookup(pkt, now),
            Event::RxWrite {
                pkt,
                queue,
                index,
                buf,
                capacity,
            } => self.issue_rx_write(pkt, queue, index, buf, capacity, now),
            Event::CopySubmit {
                pkt,
                queue,
                index,
                buf,
            } => self.on_copy_submit(pkt, queue, index, buf, now),
            Event::RxCopyDone {
                pkt,
                queue,
                index,
                buf,
                capacity,
                via,
            } => self.on_rx_copy_done(
                pkt,
                RxSlot {
                    queue,
                    index,
                    buf,
                    capacity,
                },
                via,
                now,
            ),
            Event::WireTxDone { pkt } => {
                self.counters.copies_to_wire += 1;
                self.copy_done(pkt, Ok(()), now);
            }
            Event::TxDoorbell { queue } => self.on_tx_doorbell(queue, now),
            Event::TxDescriptorsFetched {
                queue,
                first,
                count,
            } => self.on_tx_fetched(queue, first, count, now),
            Event::MissWritten {
                pkt,
                handle,
                reason,
                slot,
            } => self.on_miss_written(pkt, handle, reason, slot, now),
            Event::ReleaseArrived { handle, release } => self.on_release(handle, release, now),
            Event::ReleaseDoorbell => self.on_release_doorbell(now),
            Event::ReleasesFetched { first, count } => self.on_releases_fetched(first, count, now),
            Event::IrqTimer { vector, generation } => self.on_irq_timer(vector, generation, now),
        }
    }

    fn on_wire_rx(&mut self, pkt: u32, mac: u8, now: SimTime) {
        let m = usize::from(mac);
        let len = self.packets[pkt as usize].frame.len() as u64;
        if len < 14 || len > self.macs[m].config().max_frame_bytes {
            self.finish_packet(pkt, Err(DropReason::Malformed), now);
            return;
        }
        if !self.macs[m].fifo_push(len) {
            self.finish_packet(pkt, Err(DropReason::RxFifoFull), now);
            return;
        }
        self.packets[pkt as usize].fifo_bytes = len;
        let t = self.pipeline.process(now, len);
        self.schedule(t, Event::LookupDone { pkt });
    }

    fn on_lookup(&mut self, pkt: u32, now: SimTime) {
        let p = &self.packets[pkt as usize];
        let key = parse_card(&p.frame, p.in_port);
        let len = p.frame.len() as u64;
        if !key.is_parsed() {
            self.counters.table_misses += 1;
            self.hold_for_agent(pkt, MissReason::UnparsedKey, now);
            return;
        }
        let words = key.to_words();
        if self.wait_behind_setup(pkt, &words, len, now) {
            return;
        }
        let hashes = key_hashes(&words);
        self.packets[pkt as usize].flow_hash = hashes[0];
        match self.table.lookup_with_hashes(&words, hashes, len, now) {
            Some(action) => {
                self.counters.table_hits += 1;
                self.apply(pkt, action, now);
            }
            None => {
                self.counters.table_misses += 1;
                if self.hold_for_agent(pkt, MissReason::TableMiss, now) {
                    self.start_pending(pkt, words);
                }
            }
        }
    }

    /// A parsed packet at the lookup: if its key is pending, it waits behind the flow's
    /// first packet (or, while the flow is being released, takes another pass through the
    /// pipeline behind the released ones); returns whether it was taken. A packet on its
    /// second pass is looked up normally and ends its flow's release when it is the last.
    fn wait_behind_setup(&mut self, pkt: u32, words: &KeyWords, len: u64, now: SimTime) -> bool {
        let p = &mut self.packets[pkt as usize];
        if std::mem::take(&mut p.setup_pass) {
            if let Some(flow) = self.pending.get_mut(words) {
                if let Some(n) = &mut flow.releasing {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.pending.remove(words);
                    }
                }
            }
            return false;
        }
        let Some(flow) = self.pending.get_mut(words) else {
            return false;
        };
        if let Some(n) = &mut flow.releasing {
            *n += 1;
            self.packets[pkt as usize].setup_pass = true;
            let t = self.pipeline.process(now, len);
            self.schedule(t, Event::LookupDone { pkt });
            return true;
        }
        if self.counters.held >= u64::from(self.config.held_packets) {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return true;
        }
        flow.behind.push_back(pkt);
        self.counters.held += 1;
        self.counters.behind_setup += 1;
        self.leave_rx_fifo(pkt);
        true
    }

    /// Makes the key of `pkt`, just held for the agent, a pending flow headed by it.
    fn start_pending(&mut self, pkt: u32, words: KeyWords) {
        let handle = self.next_handle.wrapping_sub(1);
        if self.pending.contains_key(&words) {
            // The flow is still being released (this packet missed on its second pass):
            // it is the agent's alone.
            return;
        }
        if let Some(h) = self.held.get_mut(&handle).filter(|h| h.pkt == pkt) {
            h.heads = Some(words);
            self.pending.insert(words, PendingFlow::default());
        }
    }

    /// The packet moves from its MAC's RX FIFO (wire packets) to the held-packet buffer.
    fn leave_rx_fifo(&mut self, pkt: u32) {
        let p = &mut self.packets[pkt as usize];
        if let Source::Wire { mac } = p.source {
            let fifo = p.fifo_bytes;
            p.fifo_bytes = 0;
            self.macs[usize::from(mac)].fifo_pop(fifo);
        }
    }

    /// Ends a pending flow whose first packet will not be released: the packets behind it
    /// end as `reason`.
    fn abandon_pending(&mut self, words: &KeyWords, reason: DropReason, now: SimTime) {
        if let Some(flow) = self.pending.remove(words) {
            for pkt in flow.behind {
                self.counters.held = self.counters.held.saturating_sub(1);
                self.finish_packet(pkt, Err(reason), now);
            }
        }
    }

    fn apply(&mut self, pkt: u32, action: Action, now: SimTime) {
        let in_port = self.packets[pkt as usize].in_port;
        let targets: Vec<PortTarget> = match action.dest {
            Destination::Drop => {
                self.finish_packet(pkt, Err(DropReason::RuleDrop), now);
                return;
            }
            Destination::ToAgent => {
                self.hold_for_agent(pkt, MissReason::ToAgent, now);
                return;
            }
            Destination::Output(port) => {
                let t = self
                    .ports
                    .get(usize::from(port.0))
                    .copied()
                    .unwrap_or(PortTarget::None);
                if port == in_port || t == PortTarget::None {
                    self.finish_packet(pkt, Err(DropReason::NoSuchPort), now);
                    return;
                }
                // The common case, without building a target list.
                if action.vlan != VlanOp::Keep {
                    let p = &mut self.packets[pkt as usize];
                    p.frame = apply_vlan_op(&p.frame, action.vlan);
                    p.edited = true;
                }
                self.packets[pkt as usize].pending = 1;
                match t {
                    PortTarget::Mac(m) => self.copy_to_wire(pkt, m, now),
                    PortTarget::Queue(q) => self.copy_to_vm(pkt, q, now),
                    PortTarget::None => self.copy_done(pkt, Err(DropReason::NoSuchPort), now),
                }
                return;
            }
            Destination::Flood => {
                let mut v: Vec<PortTarget> = (0..self.macs.len())
                    .filter(|&i| usize::from(in_port.0) != i + 1)
                    .filter_map(|i| u8::try_from(i).ok().map(PortTarget::Mac))
                    .collect();
                v.extend(
                    self.queues
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.enabled && q.port != in_port)
                        .filter_map(|(i, _)| u16::try_from(i).ok().map(PortTarget::Queue)),
                );
                if v.is_empty() {
                    self.finish_packet(pkt, Err(DropReason::NoSuchPort), now);
                    return;
                }
                v
            }
        };
        if action.vlan != VlanOp::Keep {
            let p = &mut self.packets[pkt as usize];
            p.frame = apply_vlan_op(&p.frame, action.vlan);
            p.edited = true;
        }
        self.packets[pkt as usize].pending = u16::try_from(targets.len()).unwrap_or(u16::MAX);
        for t in targets {
            match t {
                PortTarget::Mac(m) => self.copy_to_wire(pkt, m, now),
                PortTarget::Queue(q) => self.copy_to_vm(pkt, q, now),
                PortTarget::None => self.copy_done(pkt, Err(DropReason::NoSuchPort), now),
            }
        }
    }

    /// When the whole packet is on the card: at once for wire packets; for VM packets after
    /// reading the rest beyond the header window (once).
    fn body_ready(&mut self, pkt: u32, now: SimTime) -> SimTime {
        let header = self.config.dma.header_read_bytes;
        let p = &self.packets[pkt as usize];
        match (p.source, p.body_ready) {
            (Source::Wire { .. }, _) => now,
            (Source::Vm { .. }, Some(t)) => t.max(now),
            (Source::Vm { .. }, None) => {
                let rest = (p.frame.len() as u64).saturating_sub(header);
                let t = if rest > 0 {
                    self.dma.read(now, rest)
                } else {
                    now
                };
                self.packets[pkt as usize].body_ready = Some(t);
                t
            }
        }
    }

    fn copy_to_wire(&mut self, pkt: u32, mac: u8, now: SimTime) {
        let ready = self.body_ready(pkt, now);
        let len = self.packets[pkt as usize].frame.len() as u64;
        let done = self.macs[usize::from(mac)].transmit(ready, len);
        self.schedule(done, Event::WireTxDone { pkt });
    }

    /// Fetches the next batch of queue `qi`'s posted RX descriptors (up to the batch size,
    /// not across the ring's end) into its cache, each usable when the read completes.
    fn fetch_rx_descriptors(&mut self, qi: usize, now: SimTime) -> Result<(), DropReason> {
        let batch = self.config.dma.descriptor_batch.max(1);
        let vq = &self.queues[qi];
        let posted = vq.rx_producer.wrapping_sub(vq.rx_consumer);
        // A producer index more than a ring ahead is garbage from the host: nothing usable.
        if posted == 0 || posted > vq.rx.entries {
            return Err(DropReason::NoRxBuffer);
        }
        let to_wrap = vq.rx.entries - vq.rx.slot(vq.rx_consumer);
        let n = posted.min(batch).min(to_wrap);
        // At most 32 descriptors per fetch (a 512-byte read, one read request).
        let mut buf = [0u8; 32 * RxDescriptor::SIZE];
        let n = n.min(32);
        let buf = &mut buf[..usize::from(n) * RxDescriptor::SIZE];
        let (vm, addr, first) = (
            vq.vm,
            vq.rx.addr(vq.rx_consumer, RxDescriptor::SIZE),
            vq.rx_consumer,
        );
        if self.host.dma_read(vm, addr, buf).is_err() {
            return Err(DropReason::DmaFault);
        }
        let ready = self.dma.read(now, buf.len() as u64);
        let vq = &mut self.queues[qi];
        for (i, chunk) in (0u16..).zip(buf.chunks_exact(RxDescriptor::SIZE)) {
            vq.rx_cache.push_back((
                first.wrapping_add(i),
                RxDescriptor::try_from(chunk).map_err(|_| ()),
                ready,
            ));
        }
        vq.rx_consumer = vq.rx_consumer.wrapping_add(n);
        vq.rx_fetch_ready = ready;
        Ok(())
    }

    /// Takes queue `q`'s next RX descriptor, fetching a batch if none is cached, and
    /// prefetching the next batch when half the cache is used (as NIC descriptor engines do),
    /// so a steady stream rarely waits for a descriptor read.
    fn next_rx_descriptor(
        &mut self,
        q: u16,
        now: SimTime,
    ) -> Result<(u16, RxDescriptor, SimTime), DropReason> {
        let half_batch = usize::from(self.config.dma.descriptor_batch.max(1) / 2);
        let qi = usize::from(q);
        if self.queues[qi].rx_cache.is_empty() {
            self.fetch_rx_descriptors(qi, now)?;
        }
        let taken = self.queues[qi].rx_cache.pop_front();
        let vq = &self.queues[qi];
        if vq.rx_cache.len() <= half_batch && vq.rx_fetch_ready <= now {
            // A failed prefetch changes nothing: the next demand fetch meets the same error.
            let _ = self.fetch_rx_descriptors(qi, now);
        }
        match taken {
            Some((index, Ok(d), ready)) => Ok((index, d, ready.max(now))),
            Some((_, Err(()), _)) => Err(DropReason::BadDescriptor),
            None => Err(DropReason::NoRxBuffer),
        }
    }

    /// True when this packet goes VM to VM through the host's copy engine.
    fn via_copy_engine(&self, pkt: u32) -> bool {
        let p = &self.packets[pkt as usize];
        self.config.inter_vm == InterVmPath::CopyEngine
            && matches!(p.source, Source::Vm { .. })
            && !p.edited
            && self.host.has_copy_engine()
    }

    fn copy_to_vm(&mut self, pkt: u32, q: u16, now: SimTime) {
        let body = if self.via_copy_engine(pkt) {
            now
        } else {
            self.body_ready(pkt, now)
        };
        match self.next_rx_descriptor(q, now) {
            Err(reason) => {
                if reason == DropReason::BadDescriptor {
                    self.mark_descriptor_refused(q);
                }
                self.copy_done(pkt, Err(reason), now);
            }
            Ok((index, d, desc_ready)) => {
                let t = body.max(desc_ready);
                let write = Event::RxWrite {
                    pkt,
                    queue: q,
                    index,
                    buf: d.buf,
                    capacity: d.capacity,
                };
                if t > now {
                    self.schedule(t, write);
                } else {
                    self.issue_rx_write(pkt, q, index, d.buf, d.capacity, now);
                }
            }
        }
    }

    /// Packet and descriptor are on the card: write the packet, then its completion (posted
    /// writes stay in order on the link, so the completion lands after the data).
    fn issue_rx_write(
        &mut self,
        pkt: u32,
        q: u16,
        index: u16,
        buf: Iova,
        capacity: u16,
        now: SimTime,
    ) {
        let len = self.packets[pkt as usize].frame.len() as u64;
        if u64::from(capacity) >= len && self.via_copy_engine(pkt) {
            // The 32-byte copy command crosses to the host; the payload stays there.
            let at = self.dma.write(now, nic_abi::desc::CopyCommand::SIZE as u64);
            self.schedule(
                at,
                Event::CopySubmit {
                    pkt,
                    queue: q,
                    index,
                    buf,
                },
            );
            return;
        }
        if u64::from(capacity) >= len {
            self.dma.write(now, len);
        }
        let cpl_done = self.dma.write(now, RxCompletion::SIZE as u64);
        self.schedule(
            cpl_done,
            Event::RxCopyDone {
                pkt,
                queue: q,
                index,
                buf,
                capacity,
                via: Delivery::Write,
            },
        );
    }

    /// The copy command is at the host: the copy engine runs it; when it is done, its
    /// completion (16 bytes) comes back to the card, which writes the RX completion.
    fn on_copy_submit(&mut self, pkt: u32, q: u16, index: u16, buf: Iova, now: SimTime) {
        let p = &self.packets[pkt as usize];
        let src_vm = match p.source {
            Source::Vm { queue, .. } => self.queues[usize::from(queue)].vm,
            Source::Wire { .. } => VmId(0),
        };
        let len = p.frame.len();
        let cmd = nic_abi::desc::CopyCommand {
            src: p.src_buf,
            dst: buf,
            src_vm,
            dst_vm: self.queues[usize::from(q)].vm,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            cookie: nic_abi::desc::CopyCookie(u64::from(pkt)),
        };
        let capacity = u16::try_from(len).unwrap_or(u16::MAX);
        let (done, via) = match self.host.copy(&cmd, now) {
            Ok(done) => (done.max(now), Delivery::Copied),
            Err(_) => (now, Delivery::CopyFault),
        };
        self.counters.copy_commands += 1;
        // The engine's completion crosses to the card, then the card writes the VM's.
        let cpl_in = self
            .dma
            .link_mut()
            .mmio_write(done, nic_abi::desc::CopyCompletion::SIZE as u64);
        let cpl_done = self.dma.write(cpl_in, RxCompletion::SIZE as u64);
        self.schedule(
            cpl_done,
            Event::RxCopyDone {
                pkt,
                queue: q,
                index,
                buf,
                capacity,
                via,
            },
        );
    }

    fn on_rx_copy_done(&mut self, pkt: u32, slot: RxSlot, via: Delivery, now: SimTime) {
        let RxSlot {
            queue: q,
            index,
            buf,
            capacity,
        } = slot;
        let qi = usize::from(q);
        let vm = self.queues[qi].vm;
        let p = &self.packets[pkt as usize];
        let len = p.frame.len();
        let (status, result) = if usize::from(capacity) < len {
            (RxStatus::BufferTooSmall, Err(DropReason::NoRxBuffer))
        } else {
            let written = match via {
                Delivery::Write => self.host.dma_write(vm, buf, &p.frame).is_ok(),
                Delivery::Copied => true,
                Delivery::CopyFault => false,
            };
            if written {
                (RxStatus::Ok, Ok(()))
            } else {
                (RxStatus::DmaFault, Err(DropReason::DmaFault))
            }
        };
        let cpl = RxCompletion {
            index: RingIndex::new(index),
            len: if result.is_ok() {
                u16::try_from(len).unwrap_or(u16::MAX)
            } else {
                0
            },
            status,
            in_port: p.in_port,
            flow_hash: p.flow_hash,
            timestamp: now,
        };
        let vq = &mut self.queues[qi];
        let addr = vq.rx_cq.addr(vq.rx_cq_producer, RxCompletion::SIZE);
        vq.rx_cq_producer = vq.rx_cq_producer.wrapping_add(1);
        if self.host.dma_write(vm, addr, &cpl.to_bytes()).is_err() {
            self.counters.completion_faults += 1;
        }
        if result.is_ok() {
            self.counters.copies_to_vms += 1;
        }
        let vector = self.queues[qi].rx_vector;
        self.raise(vector, CAUSE_RX, now);
        self.copy_done(pkt, result, now);
    }

    fn copy_done(&mut self, pkt: u32, result: Result<(), DropReason>, now: SimTime) {
        let p = &mut self.packets[pkt as usize];
        match result {
            Ok(()) => p.any_delivered = true,
            Err(r) => p.last_failure = r,
        }
        p.pending = p.pending.saturating_sub(1);
        if p.pending == 0 {
            let outcome = if p.any_delivered {
                Ok(())
            } else {
                Err(p.last_failure)
            };
            self.finish_packet(pkt, outcome, now);
        }
    }

    /// The packet's end: counters, FIFO space, the TX completion of a VM's packet, and its
    /// slot in the packet store.
    fn finish_packet(&mut self, pkt: u32, outcome: Result<(), DropReason>, now: SimTime) {
        let (source, fifo) = {
            let p = &mut self.packets[pkt as usize];
            let fifo = p.fifo_bytes;
            p.fifo_bytes = 0;
            if let Some(log) = &mut self.outcomes {
                let origin = match p.source {
                    Source::Wire { .. } => PacketOrigin::Wire {
                        port: p.in_port,
                        seq: p.wire_seq,
                    },
                    Source::Vm { queue, index } => PacketOrigin::Vm {
                        queue: QueueIndex(queue),
                        index: RingIndex::new(index),
                    },
                };
                log.push(PacketOutcome {
                    origin,
                    result: outcome,
                    at: now,
                    len: p.frame.len(),
                });
            }
            p.frame = Bytes::new();
            (p.source, fifo)
        };
        match outcome {
            Ok(()) => self.counters.deliver(),
            Err(r) => self.counters.drop_packet(r),
        }
        match source {
            Source::Wire { mac } => self.macs[usize::from(mac)].fifo_pop(fifo),
            Source::Vm { queue, index } => {
                if outcome == Err(DropReason::BadDescriptor) {
                    self.mark_descriptor_refused(queue);
                }
                let status = match outcome {
                    // A VM learns only that its frame entered the switch (or why it could
                    // not be read), not where it went.
                    Err(DropReason::DmaFault) => TxStatus::DmaFault,
                    Err(DropReason::BadDescriptor) => TxStatus::BadDescriptor,
                    Ok(()) | Err(_) => TxStatus::Done,
                };
                self.tx_complete(queue, index, status, now);
            }
        }
        self.free_packets.push(pkt);
    }

    /// Sets queue `q`'s sticky "descriptor refused" status bit.
    fn mark_descriptor_refused(&mut self, q: u16) {
        if let Some(r) = self.regs.queues.get_mut(usize::from(q)) {
            r.status |= nic_abi::regs::vm_queues::STATUS_DESCRIPTOR_REFUSED;
        }
    }

    fn tx_complete(&mut self, q: u16, index: u16, status: TxStatus, now: SimTime) {
        let qi = usize::from(q);
        let done = self.dma.write(now, TxCompletion::SIZE as u64);
        let vq = &mut self.queues[qi];
        let addr = vq.tx_cq.addr(vq.tx_cq_producer, TxCompletion::SIZE);
        vq.tx_cq_producer = vq.tx_cq_producer.wrapping_add(1);
        let vm = vq.vm;
        let cpl = TxCompletion {
            index: RingIndex::new(index),
            status,
            timestamp: done,
        };
        if self.host.dma_write(vm, addr, &cpl.to_bytes()).is_err() {
            self.counters.completion_faults += 1;
        }
        let vector = self.queues[qi].tx_vector;
        self.raise(vector, CAUSE_TX, now);
    }

    fn on_tx_doorbell(&mut self, q: u16, now: SimTime) {
        let batch = self.config.dma.descriptor_batch.max(1);
        let Some(vq) = self.queues.get_mut(usize::from(q)) else {
            return;
        };
        if vq.tx_fetching || !vq.enabled {
            return;
        }
        let pending = vq.tx_producer.wrapping_sub(vq.tx_consumer);
        if pending == 0 {
            return;
        }
        // A producer more than a ring ahead is garbage: take at most a ring's worth.
        let pending = pending.min(vq.tx.entries);
        let to_wrap = vq.tx.entries - vq.tx.slot(vq.tx_consumer);
        let n = pending.min(batch).min(to_wrap);
        let first = vq.tx_consumer;
        vq.tx_consumer = vq.tx_consumer.wrapping_add(n);
        vq.tx_fetching = true;
        let done = self.dma.read(now, u64::from(n) * TxDescriptor::SIZE as u64);
        self.schedule(
            done,
            Event::TxDescriptorsFetched {
                queue: q,
                first,
                count: n,
            },
        );
    }

    fn on_tx_fetched(&mut self, q: u16, first: u16, count: u16, now: SimTime) {
        let qi = usize::from(q);
        let (vm, addr, port) = {
            let vq = &self.queues[qi];
            (vq.vm, vq.tx.addr(first, TxDescriptor::SIZE), vq.port)
        };
        let mut buf = vec![0u8; usize::from(count) * TxDescriptor::SIZE];
        let fetched = self.host.dma_read(vm, addr, &mut buf).is_ok();
        let header = self.config.dma.header_read_bytes;
        let max_frame = self
            .config
            .macs
            .iter()
            .map(|m| m.max_frame_bytes)
            .max()
            .unwrap_or(1518);
        for i in 0..count {
            let index = first.wrapping_add(i);
            self.counters.enter(false);
            let start = usize::from(i) * TxDescriptor::SIZE;
            let desc = TxDescriptor::try_from(&buf[start..start + TxDescriptor::SIZE]);
            let pkt = self.alloc_packet(Packet {
                frame: Bytes::new(),
                in_port: port,
                source: Source::Vm { queue: q, index },
                arrival: now,
                flow_hash: 0,
                pending: 0,
                any_delivered: false,
                last_failure: DropReason::NoSuchPort,
                fifo_bytes: 0,
                body_ready: None,
                src_buf: Iova(0),
                edited: false,
                wire_seq: 0,
                setup_pass: false,
            });
            if !fetched {
                self.finish_packet(pkt, Err(DropReason::DmaFault), now);
                continue;
            }
            let d = match desc {
                Ok(d)
                    if u64::from(d.len) <= max_frame && d.vm == vm && d.queue == QueueIndex(q) =>
                {
                    d
                }
                _ => {
                    self.finish_packet(pkt, Err(DropReason::BadDescriptor), now);
                    continue;
                }
            };
            let mut frame = vec![0u8; usize::from(d.len)];
            if self.host.dma_read(vm, d.buf, &mut frame).is_err() {
                self.finish_packet(pkt, Err(DropReason::DmaFault), now);
                continue;
            }
            let p = &mut self.packets[pkt as usize];
            p.frame = Bytes::from(frame);
            p.src_buf = d.buf;
            let ready = self.dma.read(now, u64::from(d.len).min(header));
            self.schedule(ready, Event::HeaderReady { pkt });
        }
        self.queues[qi].tx_fetching = false;
        self.on_tx_doorbell(q, now);
    }

    /// Holds `pkt` for the agent and writes its miss record; returns false when it was
    /// dropped instead (no miss queue, the ring or the held-packet buffer full).
    fn hold_for_agent(&mut self, pkt: u32, reason: MissReason, now: SimTime) -> bool {
        let held_limit = u64::from(self.config.held_packets);
        let Some(m) = &mut self.miss else {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return false;
        };
        let used = m.producer.wrapping_sub(m.consumer);
        if used >= m.ring.entries || self.counters.held >= held_limit {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return false;
        }
        let slot_producer = m.producer;
        m.producer = m.producer.wrapping_add(1);
        let handle = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1);
        self.held.insert(handle, HeldPacket { pkt, heads: None });
        self.counters.held += 1;
        self.leave_rx_fifo(pkt);
        // Posted writes of one ring land in order: a record is visible no earlier than the
        // one before it (the DMA engine's channels could otherwise finish them out of order).
        let done = self
            .dma
            .write(now, MissRecord::SIZE as u64)
            .max(m_last_write(&self.miss));
        if let Some(m) = &mut self.miss {
            m.last_write = done;
        }
        self.schedule(
            done,
            Event::MissWritten {
                pkt,
                handle,
                reason,
                slot: slot_producer,
            },
        );
        true
    }

    fn on_miss_written(
        &mut self,
        pkt: u32,
        handle: u32,
        reason: MissReason,
        slot: u16,
        now: SimTime,
    ) {
        let Some(m) = &self.miss else {
            return;
        };
        let p = &self.packets[pkt as usize];
        let key = parse_card(&p.frame, p.in_port);
        let mut header = [0u8; MISS_HEADER_BYTES];
        let header_len = p.frame.len().min(MISS_HEADER_BYTES);
        header[..header_len].copy_from_slice(&p.frame[..header_len]);
        let (flags, vm, queue) = match p.source {
            Source::Wire { .. } => (MissFlags::NONE, VmId(0), QueueIndex(0)),
            Source::Vm { queue, .. } => (
                MissFlags(MissFlags::FROM_VM),
                self.queues[usize::from(queue)].vm,
                QueueIndex(queue),
            ),
        };
        let record = MissRecord {
            in_port: p.in_port,
            flags,
            vm,
            queue,
            handle: PacketHandle(handle),
            packet_len: u16::try_from(p.frame.len()).unwrap_or(u16::MAX),
            header_len: u16::try_from(header_len).unwrap_or(u16::MAX),
            timestamp: p.arrival,
            reason,
            key: key.to_words(),
            header,
        };
        let addr = m.ring.addr(slot, MissRecord::SIZE);
        let agent_vm = m.vm;
        let vector = m.vector;
        self.counters.miss_records += 1;
        if let Some(m) = &mut self.miss {
            // Records land in slot order (see `hold_for_agent`), so this is the next one.
            m.published = slot.wrapping_add(1);
        }
        if self
            .host
            .dma_write(agent_vm, addr, &record.to_bytes())
            .is_err()
        {
            // The agent will never hear of this packet: drop it now rather than hold it
            // forever, and the packets waiting behind it.
            if let Some(HeldPacket {
                heads: Some(words), ..
            }) = self.held.remove(&handle)
            {
                self.abandon_pending(&words, DropReason::DmaFault, now);
            }
            self.counters.held = self.counters.held.saturating_sub(1);
            self.finish_packet(pkt, Err(DropReason::DmaFault), now);
            return;
        }
        self.raise(vector, CAUSE_MISS, now);
    }

    /// A release command read from the release ring.
    fn apply_release(&mut self, handle: u32, release: Release, now: SimTime) {
        let code = match release {
            Release::Relookup => ReleaseCode::Relookup,
            Release::Apply(a) => ReleaseCode::Apply(a),
        };
        self.on_release(handle, code, now);
    }

    fn on_release(&mut self, handle: u32, release: ReleaseCode, now: SimTime) {
        let Some(HeldPacket { pkt, heads }) = self.held.remove(&handle) else {
            self.counters.bad_releases += 1;
            return;
        };
        self.counters.held = self.counters.held.saturating_sub(1);
        self.counters.releases += 1;
        // The first packet of a pending flow brings the packets behind it.
        let behind = match heads.and_then(|w| self.pending.get_mut(&w).map(|f| (w, f))) {
            Some((words, flow)) => {
                let behind = std::mem::take(&mut flow.behind);
                if matches!(release, ReleaseCode::Relookup) {
                    let in_pipeline = u32::try_from(behind.len() + 1).unwrap_or(u32::MAX);
                    flow.releasing = Some(in_pipeline);
                } else {
                    self.pending.remove(&words);
                }
                behind
            }
            None => VecDeque::new(),
        };
        self.counters.held = self.counters.held.saturating_sub(behind.len() as u64);
        for pkt in std::iter::once(pkt).chain(behind) {
            match release {
                ReleaseCode::Relookup => {
                    let p = &mut self.packets[pkt as usize];
                    p.setup_pass = heads.is_some();
                    let len = p.frame.len() as u64;
                    let t = self.pipeline.process(now, len);
                    self.schedule(t, Event::LookupDone { pkt });
                }
                ReleaseCode::Apply(action) => {
                    if action.dest == Destination::Drop {
                        self.finish_packet(pkt, Err(DropReason::AgentDrop), now);
                    } else if action.dest == Destination::ToAgent {
                        // The agent cannot send a packet back to itself: that would hold it
                        // forever.
                        self.finish_packet(pkt, Err(DropReason::AgentDrop), now);
                    } else {
                        self.apply(pkt, action, now);
                    }
                }
            }
        }
    }

    /// A completion of kind `cause` on `vector`: fire at the vector's count threshold, else
    /// arm its delay timer. Disabled causes are recorded but do not fire.
    fn raise(&mut self, vector: IrqVector, cause: u32, now: SimTime) {
        let v = vector.0;
        let Some(irq) = self.vectors.get_mut(usize::from(v)) else {
            return;
        };
        irq.cause |= cause;
        if irq.enable & cause == 0 {
            return;
        }
        irq.pending += 1;
        if irq.pending >= irq.max_events {
            irq.pending = 0;
            irq.timer_armed = false;
            irq.generation = irq.generation.wrapping_add(1);
            self.counters.interrupts += 1;
            self.host.interrupt(vector, now);
        } else if !irq.timer_armed {
            irq.timer_armed = true;
            let generation = irq.generation;
            let at = now + irq.max_delay;
            self.schedule(
                at,
                Event::IrqTimer {
                    vector: v,
                    generation,
                },
            );
        }
    }

    fn on_irq_timer(&mut self, v: u16, generation: u32, now: SimTime) {
        let Some(irq) = self.vectors.get_mut(usize::from(v)) else {
            return;
        };
        if !irq.timer_armed || irq.generation != generation {
            return;
        }
        irq.timer_armed = false;
        irq.generation = irq.generation.wrapping_add(1);
        if irq.pending > 0 {
            irq.pending = 0;
            self.counters.interrupts += 1;
            self.host.interrupt(IrqVector(v), now);
        }
    }
}

/// The agent's view of the card's table: direct calls, no management-port timing (the
/// register path is `host-driver`'s). A new entry's last-hit time is the card's current time.
impl<H: HostBus> nic_abi::device::FlowTableDevice for Card<H> {
    fn insert(
        &mut self,
        key: &FlowKey,
        action: Action,
    ) -> Result<nic_abi::device::InsertOutcome, nic_abi::device::FlowTableError> {
        use nic_abi::device::{FlowTableError, InsertOutcome as Outcome};
        let now = self.now();
        match self.table.insert_at(key, action, now) {
            Ok(InsertOutcome::Inserted { .. }) => Ok(Outcome::Inserted),
            Ok(InsertOutcome::Updated { .. }) => Ok(Outcome::Updated),
            Err(InsertError::TableFull { .. }) => Err(FlowTableError::TableFull {
                occupancy: self.table.len() as u64,
                capacity: self.table.capacity() as u64,
            }),
            Err(InsertError::UnparsedKey(class)) => Err(FlowTableError::UnparsedKey(class)),
        }
    }

    fn delete(&mut self, key: &FlowKey) -> Result<bool, nic_abi::device::FlowTableError> {
        Ok(self.table.delete(key).is_some())
    }

    fn lookup(&mut self, key: &FlowKey) -> Result<Option<Action>, nic_abi::device::FlowTableError> {
        Ok(self.table.entry(key).map(|(a, _)| a))
    }

    fn entry_stats(
        &mut self,
        key: &FlowKey,
    ) -> Result<Option<nic_abi::device::EntryStats>, nic_abi::device::FlowTableError> {
        Ok(self.table.entry(key).map(|(_, st)| st))
    }

    fn capacity(&self) -> u64 {
        self.table.capacity() as u64
    }

    fn occupancy(&self) -> u64 {
        self.table.len() as u64
    }
}

/// The frame after a VLAN edit (Open vSwitch `mod_vlan_vid`/`mod_vlan_pcp`, `strip_vlan`).
fn apply_vlan_op(frame: &Bytes, op: VlanOp) -> Bytes {
    let tagged = frame.len() >= 18
        && matches!(
            u16::from_be_bytes([frame[12], frame[13]]),
            0x8100 | 0x88a8 | 0x9100
        );
    match op {
        VlanOp::Keep => frame.clone(),
        VlanOp::Strip => {
            if !tagged {
                return frame.clone();
            }
            let mut v = Vec::with_capacity(frame.len() - 4);
            v.extend_from_slice(&frame[..12]);
            v.extend_from_slice(&frame[16..]);
            Bytes::from(v)
        }
        VlanOp::Set { vid, pcp } => {
            let mut v = frame.to_vec();
            if tagged {
                let old = u16::from_be_bytes([v[14], v[15]]);
                let pcp_bits = match pcp {
                    Some(p) => u16::from(p.get()) << 13,
                    None => old & 0xe000,
                };
                let tci = pcp_bits | (old & 0x1000) | vid.get();
                v[14..16].copy_from_slice(&tci.to_be_bytes());
            } else if v.len() >= 12 {
                let tci = (u16::from(pcp.map_or(0, |p| p.get())) << 13) | vid.get();
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&0x8100u16.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                v.splice(12..12, tag);
            }
            Bytes::from(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::action::{VlanId, VlanPcp};

    #[test]
    fn vlan_edits() {
        let mut f = vec![0u8; 60];
        f[12] = 0x08;
        let untagged = Bytes::from(f);
        let set = VlanOp::Set {
            vid: VlanId::new(100).expect("vid"),
            pcp: Some(VlanPcp::new(5).expect("pcp")),
        };
        let tagged = apply_vlan_op(&untagged, set);
        assert_eq!(tagged.len(), 64);
        assert_eq!(&tagged[12..18], &[0x81, 0x00, 0xa0, 100, 0x08, 0x00]);
        let stripped = apply_vlan_op(&tagged, VlanOp::Strip);
        assert_eq!(stripped, untagged);
        assert_eq!(apply_vlan_op(&untagged, VlanOp::Strip), untagged);
    }
}
