//! The card: MAC ports, PCIe link and DMA engine, parser and lookup pipeline, flow table,
//! per-VM queue pairs and the miss queue, wired together by the event engine.
//!
//! # Paths
//!
//! - **Wire to card** (`wire`). A frame offered on a MAC port arrives after its wire time
//!   ([`MacConfig::wire_time`](crate::mac::MacConfig::wire_time)), enters the RX FIFO (or is
//!   dropped, `rx_fifo_full`), goes through the parser and the lookup (`lookup`), and the
//!   action decides.
//! - **VM to card** (`tx`). A TX doorbell makes the card fetch descriptors (in batches),
//!   read each packet's header window (header-only read), parse and look it up. The rest of
//!   the packet is read only if it must leave the card through it (to the wire or, hairpin,
//!   to a VM).
//! - **Out to a VM** (`rx`). The card takes the VM's next RX descriptor (fetching a batch
//!   when it has none cached), writes the packet and then a completion (posted writes, in
//!   order), and signals the queue's interrupt through moderation (`interrupt`).
//! - **Out to the wire** (`wire`). The MAC serialises it; frames queue behind each other.
//! - **MAC/VLAN** (`mac_vlan`). In the VEB configuration ([`LookupMode::MacVlan`]) the
//!   lookup is by ingress port, destination MAC and VLAN in entries written at bring-up; a
//!   packet without one is flooded. Everything else (DMA, batching, doorbells, interrupt
//!   moderation, PCIe accounting) is the same card.
//! - **Miss** (`miss`). A packet without an entry (or with an unparsed key, or a ToAgent
//!   action) is held on the card; a miss record (key, first bytes) goes to the miss ring; the
//!   agent's release command later says look it up again or apply an action. Packets of a
//!   flow being set up wait behind its first packet, so none overtakes an earlier one
//!   (invariant 5, Order).
//!
//! A packet ends delivered (to at least one port) or dropped for a named reason
//! (`outcome`); the card's [`Counters`] keep the conservation law (invariant 1, Conservation) and
//! [`Card::finish`] checks it.
//!
//! # Modules
//!
//! - this module: [`Card`], its construction, accessors and the event loop that dispatches
//!   each `event` to its path.
//! - `config`: [`CardConfig`] and the ring setups; `error`: [`CardError`], [`ConfigError`].
//! - `event`: the events; `packet_store`: the packets inside the card, by id.
//! - `wire`, `lookup`, `rx`, `tx`, `miss`: the paths above; `mac_vlan`: the lookup of the
//!   card as an SR-IOV embedded bridge ([`LookupMode::MacVlan`]: a MAC/VLAN table filled at
//!   bring-up, no agent, no miss path); `outcome`: a packet's
//!   end; `queues`: VM queue pairs and rings; `interrupt`: vectors and moderation.
//! - `vlan`: VLAN edits; `management`: the table as a `FlowTableDevice`; `mmio`: the
//!   register interface (BAR 0).

use std::collections::HashMap;

use nic_abi::action::Action;
use nic_abi::desc::{PacketHandle, QueueIndex};
use nic_abi::key::{FlowKey, KeyWords};
use nic_abi::table::TableGeometry;
use nic_abi::time::SimTime;

mod config;
mod error;
mod event;
mod interrupt;
mod lookup;
mod mac_vlan;
mod management;
mod miss;
mod mmio;
mod outcome;
mod packet_store;
mod queues;
mod rx;
mod tx;
mod vlan;
mod wire;

pub use config::{
    CardConfig, InterVmPath, InterruptConfig, LookupMode, MissQueueSetup, QueueSetup, RingSetup,
    TableConfig,
};
pub use error::{CardError, ConfigError};
pub use mac_vlan::mac_vlan_key;
pub use outcome::{PacketOrigin, PacketOutcome, TableHit};

use crate::counters::{Counters, FinishError};
use crate::dma::DmaEngine;
use crate::engine::{Clock, EngineError, EventQueue};
use crate::flow_table::{FlowTable, InsertError, InsertOutcome};
use crate::host::HostBus;
use crate::mac::MacPort;
use crate::pcie::PcieLink;
use crate::pipeline::Pipeline;
use event::Event;
use interrupt::Irq;
use miss::{HeldPacket, MissQueue, PendingFlow};
use packet_store::PacketStore;
use queues::VmQueue;

/// Where a switch port leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortTarget {
    None,
    Mac(u8),
    Queue(QueueIndex),
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
    held: HashMap<PacketHandle, HeldPacket>,
    /// Keys being set up (see [`miss`]).
    pending: HashMap<KeyWords, PendingFlow>,
    /// The handle the next held packet gets.
    next_handle: PacketHandle,
    packets: PacketStore,
    counters: Counters,
    host: H,
    /// The first engine failure, reported by [`Card::finish`].
    engine_error: Option<EngineError>,
    /// Latched register values (see [`Card::mmio_write`]).
    regs: mmio::RegisterFile,
    /// A release-ring fetch is in flight.
    release_fetching: bool,
    /// A replay of the held packets waits for the release fetch in flight.
    replay_after_fetch: bool,
    /// How packets ended, when recording is on ([`Card::record_outcomes`]).
    outcomes: Option<Vec<PacketOutcome>>,
    /// The table hits, when recording is on ([`Card::record_table_hits`]).
    hits: Option<Vec<TableHit>>,
}

const PORT_SLOTS: usize = 1 << 16;

impl<H: HostBus> Card<H> {
    /// A card with `config`, attached to `host`, idle at time zero.
    pub fn new(config: CardConfig, host: H) -> Result<Card<H>, CardError> {
        let mhz = config.pipeline.nic_clock_mhz;
        let nic_clock =
            Clock::from_mhz(mhz).map_err(|source| ConfigError::NicClock { mhz, source })?;
        let mac_count = ConfigError::MacCount {
            count: config.macs.len(),
        };
        if config.macs.is_empty() || config.macs.len() > 64 {
            return Err(mac_count.into());
        }
        let geometry =
            TableGeometry::new(config.table.buckets).map_err(ConfigError::TableBuckets)?;
        let link = PcieLink::new(config.pcie.clone())?;
        let mut ports = vec![PortTarget::None; PORT_SLOTS];
        let mut macs = Vec::with_capacity(config.macs.len());
        for (i, m) in config.macs.iter().enumerate() {
            let idx = u8::try_from(i).map_err(|_| mac_count.clone())?;
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
            next_handle: PacketHandle(0),
            packets: PacketStore::default(),
            counters: Counters::default(),
            host,
            engine_error: None,
            regs: mmio::RegisterFile::default(),
            release_fetching: false,
            replay_after_fetch: false,
            outcomes: None,
            hits: None,
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

    /// Time the management port was busy with commands so far, summed (ps); see `mmio`.
    pub fn mgmt_busy_ps(&self) -> u64 {
        self.regs.mgmt_busy_ps
    }

    /// Writes to the management port ignored so far because it was busy.
    pub fn mgmt_ignored_writes(&self) -> u64 {
        self.regs.mgmt_ignored_writes
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

    /// Runs one event: the step of the path it belongs to.
    fn handle(&mut self, e: Event) {
        let now = self.now();
        match e {
            Event::WireRxDone { pkt, mac } => self.on_wire_rx(pkt, mac, now),
            Event::HeaderReady { pkt } => {
                let len = self.packets[pkt].len();
                let t = self.pipeline.process(now, len);
                self.schedule(t, Event::LookupDone { pkt });
            }
            Event::LookupDone { pkt } => self.on_lookup(pkt, now),
            Event::RxWrite { pkt, slot } => self.issue_rx_write(pkt, slot, now),
            Event::CopySubmit { pkt, slot } => self.on_copy_submit(pkt, slot, now),
            Event::CopyWritten { pkt, slot } => self.on_copy_written(pkt, slot, now),
            Event::CopyTaken { pkt, slot } => {
                self.copy_completion_to_card(pkt, slot, event::Delivery::Copied, now);
            }
            Event::RxCopyDone { pkt, slot, via } => self.on_rx_copy_done(pkt, slot, via, now),
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
            Event::ReplayHeld => self.on_replay_request(now),
            Event::IrqTimer { vector, generation } => self.on_irq_timer(vector, generation, now),
        }
    }
}
