//! The control plane: the driver with the flow-setup agent as its miss handler, and the run
//! loop that interleaves the card's events with the host's work in simulated time.
//!
//! ```text
//!   card event ──▶ interrupt (vector, at)
//!                   ├─ miss vector: core 0 takes it (then masks it and polls
//!                   │  the ring until it is empty, as NAPI does), then
//!                   │    ReadMisses   read producer, records, write consumer (driver cycles)
//!                   │    Classify     agent: on_miss_record, process -> installs through the
//!                   │                 management registers, release decisions (agent cycles,
//!                   │                 priced by agent_pricing from the agent's own account)
//!                   │    Release      release commands into the release ring, doorbell
//!                   └─ queue vector: its core delivers it, then the caller's guest
//!                      callback (its VM polls its rings)
//! ```
//!
//! Each step runs on the host's cores (`host-driver`'s [`HostCpu`], the scenario's
//! `host.cores`, shared with the copy engine's submissions and CPU copies): the miss
//! interrupt, the miss-ring reads and the releases on the miss vector's core
//! ([`MISS_CORE`], the NAPI thread); a batch of records read is split in equal parts over
//! the cores, each part classified on the core that frees first (the agent's handler
//! threads). A step runs when its core is free: one that finds its core
//! busy waits for it, so the decisions and register writes happen when the core really
//! starts. The miss-ring poll reads a batch, hands it to a classification and polls again
//! until the ring is empty, so batches are classified in parallel on more cores; releases
//! are posted in the order their batches were read (per-flow order, invariant 5). A flow
//! setup's latency includes the interrupt, the record reads, the classification, the
//! installs' register writes (on the PCIe model too) and the release. Steps wait in an
//! [`EventQueue`], ordered by time, then by scheduling order, and happen at their times: the
//! card is run up to a step's time, moved to it, and the step's register writes are issued
//! then. A queue pair's interrupt is delivered by the host on the core its vector is affine
//! to ([`queue_vector_core`]): its cycles (`interrupts`) occupy that core, queued behind its
//! work, as the software baselines' notifications do; the guest's own processing runs on
//! the guest's CPUs and occupies no host core.
//!
//! [`HostCpu`]: host_driver::cpu::HostCpu
//!
//! A released packet's fate follows the agent: an installed entry -> `Relookup`; software
//! forwarding with a card action (table full, flow limit) -> `Apply(action)`; no card action
//! (a multi-output rule the card cannot apply) or a held-queue overflow -> `Apply(DROP)`,
//! which the card counts as `agent_drop`.

use flow_setup::agent::{Admission, Agent, AgentConfig, RecordOutcome};
use flow_setup::rule::Rule;
use host_driver::driver::Driver;
use host_driver::host::CpuUse;
use nic_abi::action::Action;
use nic_abi::desc::{MissRecord, PacketHandle, QueueIndex, Release, ReleaseCommand};
use nic_abi::regs::interrupts as ir;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::engine::EventQueue;
use nic_model::host::IrqVector;

use std::collections::{BTreeMap, BTreeSet};

use host_driver::cpu::CoreId;

use crate::agent_pricing::AgentPricing;
use crate::error::SystemError;

/// The core that takes the miss vector and runs the miss-ring poll and the releases.
pub const MISS_CORE: CoreId = CoreId(0);

/// The core queue pair `q`'s interrupt vector is affine to: spread over the host's cores in
/// queue order (as irqbalance spreads a device's MSI-X vectors), the way the software
/// baselines serve VM `i`'s queue on core `i % cores`.
pub fn queue_vector_core(q: u32, cores: u16) -> CoreId {
    let cores = u32::from(cores.max(1));
    CoreId(u16::try_from(q % cores).unwrap_or(0))
}

/// A step of the host's work, at a time.
#[derive(Debug)]
enum Work {
    /// Poll the miss ring (on [`MISS_CORE`]).
    ReadMisses,
    /// Classify batch `seq` on `core` (its up-front agent work is done).
    Classify {
        seq: u64,
        core: CoreId,
        records: Vec<MissRecord>,
        upfront: SimDuration,
    },
    /// Post batch `seq`'s releases (on [`MISS_CORE`], in batch order).
    Release {
        seq: u64,
        releases: Vec<ReleaseCommand>,
    },
    /// Queue pair `queue`'s interrupt has been handled on its core: its guest polls its
    /// rings now, and the vector fires again only after that (the rest of the booked work).
    ServeQueue { queue: u32 },
    /// Fault: the agent's process dies; a new one starts `down_for` later.
    Crash { down_for: SimDuration },
    /// The new agent process starts: once the release ring is drained, it scans the card's
    /// table (on [`MISS_CORE`]).
    Restart,
    /// The table is rebuilt: the driver skips the unread miss records and asks the card to
    /// replay its held packets; miss service resumes.
    Resume,
}

impl Work {
    /// The core the step runs on.
    fn core(&self) -> CoreId {
        match self {
            Work::Classify { core, .. } => *core,
            Work::ReadMisses
            | Work::Release { .. }
            | Work::Crash { .. }
            | Work::Restart
            | Work::Resume => MISS_CORE,
            // Not a step of its own: the end of the interrupt's handling, already booked.
            Work::ServeQueue { .. } => MISS_CORE,
        }
    }

    /// A fault: it happens at its time whatever the core is doing.
    fn is_fault(&self) -> bool {
        matches!(self, Work::Crash { .. })
    }
}

/// Counts of the control plane's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlMetrics {
    /// Miss-ring service rounds.
    pub miss_services: u64,
    /// Releases that relook the packet up (its entry was installed).
    pub relookups: u64,
    /// Releases applying an action decided in software.
    pub applied: u64,
    /// Releases dropping the packet (no card action, held-queue overflow).
    pub dropped: u64,
    /// Host core time of the control plane's steps (ps), summed over cores.
    pub core_busy_ps: u64,
    /// Miss interrupts that came while the driver was polling the miss ring, and queue
    /// interrupts that came while their guest's previous one was still being handled
    /// (masked: they cost nothing, the poll at the end of the handling serves them).
    pub masked_interrupts: u64,
    /// Agent crashes ([`ControlPlane::schedule_agent_crash`]).
    pub agent_crashes: u64,
    /// Miss interrupts that came while the agent was down (nobody took them).
    pub interrupts_while_down: u64,
    /// Steps of miss service lost with a crashed agent (reads, classifications, release
    /// posts not yet done).
    pub work_lost: u64,
    /// Agent restarts completed (miss service resumed).
    pub agent_restarts: u64,
    /// Simulated time from each crash to miss service resuming, summed (ps).
    pub down_ps: u64,
    /// Of that, the restarted agent's table scan and rebuild (ps).
    pub rebuild_ps: u64,
    /// Entries the restarted agents kept (adopted or rewritten), summed.
    pub entries_rebuilt: u64,
    /// Miss records skipped unread at restarts (their packets replayed by the card).
    pub records_skipped: u64,
}

/// The driver and the flow-setup agent, run together.
#[derive(Debug)]
pub struct ControlPlane {
    agent: Agent<Driver, PacketHandle>,
    pricing: AgentPricing,
    work: EventQueue<Work>,
    /// Miss batches read so far (the next batch's number).
    batches_read: u64,
    /// The batch whose releases are posted next.
    next_release: u64,
    /// Releases of later batches, classified before an earlier one.
    ready: BTreeMap<u64, Vec<ReleaseCommand>>,
    /// The miss vector was taken and the driver polls the miss ring until it is empty (as
    /// NAPI does); miss interrupts meanwhile are masked and cost nothing.
    miss_polling: bool,
    /// Queue pairs whose interrupt is being handled (queued on or running on its core) and
    /// whose guest has not polled yet: their vector is masked, as NAPI masks it.
    queues_in_service: BTreeSet<u32>,
    interrupts: Vec<(IrqVector, SimTime)>,
    /// The agent's time not yet converted to whole cycles (ps x MHz, under 10^6): the
    /// agent's work is priced as durations, billed in cycles, so a part of a cycle is carried
    /// to the next piece of work and the cycles billed do not depend on how batches were
    /// split over cores.
    agent_carry: u128,
    metrics: ControlMetrics,
    /// When the agent crashed, while it is down.
    down_since: Option<SimTime>,
    /// When the restarted agent started its table scan.
    rebuild_since: Option<SimTime>,
}

impl ControlPlane {
    /// The agent over `driver` with `rules` (ids in list order). The driver's register work
    /// so far (bring-up, queue set-up) is billed to the host as driver cycles: it happened
    /// before the run and occupies no core during it.
    pub fn new(
        driver: Driver,
        config: AgentConfig,
        rules: Vec<Rule>,
    ) -> Result<ControlPlane, SystemError> {
        let mut driver = driver;
        let bring_up = driver.take_unbilled_cycles();
        driver
            .card_mut()
            .host_mut()
            .charge(CpuUse::Driver, bring_up);
        let agent = Agent::with_rules(driver, config, rules)?;
        Ok(ControlPlane {
            agent,
            pricing: AgentPricing::new(config.costs),
            work: EventQueue::new(),
            batches_read: 0,
            next_release: 0,
            ready: BTreeMap::new(),
            miss_polling: false,
            queues_in_service: BTreeSet::new(),
            interrupts: Vec::new(),
            agent_carry: 0,
            metrics: ControlMetrics::default(),
            down_since: None,
            rebuild_since: None,
        })
    }

    /// Schedules a fault: the agent's process crashes at `at` and a new one starts
    /// `down_for` later. The crash loses the agent's memory: the setups under way, the
    /// miss records read and not yet released, the releases not yet posted, and its record of
    /// which entries it installed. Meanwhile the card keeps forwarding by its table and holds
    /// missing packets (up to its held limit, then `miss_queue_full`); nobody takes the miss
    /// interrupts. The new agent waits until the release ring is drained, reads every slot of
    /// the card's table over the management port and rebuilds its state from it
    /// ([`flow_setup::agent::Agent::recover`]: entries the rules give are kept, others
    /// rewritten or deleted), then the driver skips the unread miss records and asks the card
    /// to replay every held packet's record in arrival order
    /// ([`host_driver::driver::Driver::restart_miss_service`]), so every packet held during
    /// the restart is released in order, or dropped as `agent_restart` when its record finds
    /// no room in the ring.
    pub fn schedule_agent_crash(
        &mut self,
        at: SimTime,
        down_for: SimDuration,
    ) -> Result<(), SystemError> {
        self.work.schedule_at(at, Work::Crash { down_for })?;
        Ok(())
    }

    /// Whether the agent is down (crashed, or rebuilding its state).
    pub fn agent_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// The driver.
    pub fn driver(&self) -> &Driver {
        self.agent.device()
    }

    /// The driver, writable.
    pub fn driver_mut(&mut self) -> &mut Driver {
        self.agent.device_mut()
    }

    /// The agent.
    pub fn agent(&self) -> &Agent<Driver, PacketHandle> {
        &self.agent
    }

    /// The agent, writable (rule updates).
    pub fn agent_mut(&mut self) -> &mut Agent<Driver, PacketHandle> {
        &mut self.agent
    }

    /// The counts so far.
    pub fn metrics(&self) -> &ControlMetrics {
        &self.metrics
    }

    /// Runs `cycles` of `what` on `core` from `at` (queued behind its work); returns when it
    /// ends.
    fn run_core(&mut self, core: CoreId, at: SimTime, cycles: u64, what: CpuUse) -> SimTime {
        let host = self.driver_mut().card_mut().host_mut();
        let start = at.max(host.core_free_at(core));
        let end = host.run_on(core, at, cycles, what);
        self.metrics.core_busy_ps += end.saturating_since(start).as_ps();
        end
    }

    /// Whole cycles of the agent's time `d` at the host's clock, the fraction carried.
    fn agent_cycles_of(&mut self, d: SimDuration) -> u64 {
        let mhz = u128::from(self.driver().host().cpu().clock_mhz());
        let total = self.agent_carry + u128::from(d.as_ps()) * mhz;
        self.agent_carry = total % 1_000_000;
        u64::try_from(total / 1_000_000).unwrap_or(u64::MAX)
    }

    /// Runs the card and the host's work up to `until` (inclusive). `on_queue` is called for
    /// every interrupt of a queue pair's vector, with the driver (its guest polls its rings).
    pub fn run_until<F>(&mut self, until: SimTime, mut on_queue: F) -> Result<(), SystemError>
    where
        F: FnMut(&mut Driver, QueueIndex) -> Result<(), SystemError>,
    {
        loop {
            let card_next = self.driver().card().next_event_time();
            let work_next = self.work.peek_time();
            let card_first = match (card_next, work_next) {
                (Some(c), Some(w)) => c <= w,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return Ok(()),
            };
            if card_first {
                let t = card_next.unwrap_or(SimTime::ZERO);
                if t > until {
                    return Ok(());
                }
                self.driver_mut().card_mut().run_until(t);
                self.take_interrupts()?;
            } else {
                let Some((t, w)) = self.work.pop_until(until) else {
                    return Ok(());
                };
                self.driver_mut().card_mut().advance_to(t);
                self.take_interrupts()?;
                if let Work::ServeQueue { queue } = w {
                    // The interrupt's handling ended at `t`: its guest polls its rings.
                    self.queues_in_service.remove(&queue);
                    let q = QueueIndex(u16::try_from(queue).unwrap_or(u16::MAX));
                    on_queue(self.driver_mut(), q)?;
                    continue;
                }
                // A step whose core is busy (other host work took it) waits for it.
                let free = self.driver().host().core_free_at(w.core());
                if free > t && !w.is_fault() {
                    self.work.schedule_at(free, w)?;
                } else {
                    self.execute(w, t)?;
                }
            }
        }
    }

    /// Runs until neither the card nor the host has anything left to do; returns the time.
    pub fn drain<F>(&mut self, on_queue: F) -> Result<SimTime, SystemError>
    where
        F: FnMut(&mut Driver, QueueIndex) -> Result<(), SystemError>,
    {
        self.run_until(SimTime(u64::MAX), on_queue)?;
        Ok(self.driver().card().now())
    }

    fn take_interrupts(&mut self) -> Result<(), SystemError> {
        if !self.driver().host().has_interrupts() {
            return Ok(());
        }
        let mut irqs = std::mem::take(&mut self.interrupts);
        self.driver_mut()
            .card_mut()
            .host_mut()
            .take_interrupts(&mut irqs);
        let cost = self.driver().config().costs.interrupt_cycles;
        for &(vector, at) in &irqs {
            let v = u32::from(vector.0);
            if v == ir::VECTOR_MISS {
                if self.down_since.is_some() {
                    self.metrics.interrupts_while_down += 1;
                } else if self.miss_polling {
                    self.metrics.masked_interrupts += 1;
                } else {
                    self.driver_mut().count_interrupt();
                    self.miss_polling = true;
                    let end = self.run_core(MISS_CORE, at, cost, CpuUse::Interrupts);
                    self.work.schedule_at(end, Work::ReadMisses)?;
                }
            } else if let Some(q) = v.checked_sub(ir::VECTOR_QUEUE_0) {
                if !self.queues_in_service.insert(q) {
                    // Its previous interrupt is still being handled: the guest's poll at
                    // its end serves this one too.
                    self.metrics.masked_interrupts += 1;
                    continue;
                }
                self.driver_mut().count_interrupt();
                // The host delivers it (interrupt entry, posting to the guest) on the core
                // its vector is affine to, queued behind that core's work; the guest polls
                // its rings when that is done.
                let core = queue_vector_core(q, self.driver().host().cpu().cores());
                let end = self.run_core(core, at, cost, CpuUse::Interrupts);
                self.work.schedule_at(end, Work::ServeQueue { queue: q })?;
            }
        }
        irqs.clear();
        self.interrupts = irqs;
        Ok(())
    }

    fn execute(&mut self, w: Work, now: SimTime) -> Result<(), SystemError> {
        match w {
            // Served in `run_until`, which has the guests.
            Work::ServeQueue { .. } => {}
            Work::Crash { down_for } => self.crash(now, down_for)?,
            Work::Restart => {
                if !self.driver_mut().releases_drained() {
                    // Releases posted before the crash are still on their way to the card.
                    let cycles = self.driver_mut().take_unbilled_cycles();
                    let end = self.run_core(MISS_CORE, now, cycles, CpuUse::Driver);
                    self.work
                        .schedule_at(end + SimDuration::from_ns(1_000), Work::Restart)?;
                    return Ok(());
                }
                self.rebuild_since = Some(now);
                let agent_before = self.agent.host_cpu_time();
                let kept = self.agent.recover()?;
                self.metrics.entries_rebuilt += kept;
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(MISS_CORE, now, cycles, CpuUse::Driver);
                let classify = SimDuration::from_ps(
                    self.agent
                        .host_cpu_time()
                        .as_ps()
                        .saturating_sub(agent_before.as_ps()),
                );
                let classify_cycles = self.agent_cycles_of(classify);
                let end = self.run_core(MISS_CORE, end, classify_cycles, CpuUse::Agent);
                self.work.schedule_at(end, Work::Resume)?;
            }
            Work::Resume => {
                let skipped = self.driver_mut().restart_miss_service()?;
                self.metrics.records_skipped += u64::from(skipped);
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(MISS_CORE, now, cycles, CpuUse::Driver);
                if let Some(since) = self.down_since.take() {
                    self.metrics.down_ps += end.saturating_since(since).as_ps();
                }
                if let Some(since) = self.rebuild_since.take() {
                    self.metrics.rebuild_ps += end.saturating_since(since).as_ps();
                }
                self.metrics.agent_restarts += 1;
                // Poll the ring now: the replayed records come in as they land.
                self.miss_polling = true;
                self.work.schedule_at(end, Work::ReadMisses)?;
            }
            Work::ReadMisses => {
                self.metrics.miss_services += 1;
                let mut records = Vec::new();
                let budget = self.driver().config().miss_poll_budget.max(1);
                self.driver_mut().read_miss_records(&mut records, budget)?;
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(MISS_CORE, now, cycles, CpuUse::Driver);
                if records.is_empty() {
                    // The ring is empty: interrupts again.
                    self.miss_polling = false;
                    return Ok(());
                }
                // The batch is split over the cores (the agent's handler threads), each
                // part classified on the core that frees first; the poll goes on.
                let cores = usize::from(self.driver().host().cpu().cores()).max(1);
                let part = records.len().div_ceil(cores);
                let mut records = records.into_iter().peekable();
                while records.peek().is_some() {
                    let records: Vec<MissRecord> = records.by_ref().take(part).collect();
                    let core = self.driver().host().first_free_core(end);
                    let upfront = self.pricing.upfront(records.len());
                    let upfront_cycles = self.agent_cycles_of(upfront);
                    let classify_at = self.run_core(core, end, upfront_cycles, CpuUse::Agent);
                    let seq = self.batches_read;
                    self.batches_read += 1;
                    self.work.schedule_at(
                        classify_at,
                        Work::Classify {
                            seq,
                            core,
                            records,
                            upfront,
                        },
                    )?;
                }
                self.work.schedule_at(end, Work::ReadMisses)?;
            }
            Work::Classify {
                seq,
                core,
                records,
                upfront,
            } => {
                let agent_before = self.agent.host_cpu_time();
                let releases = self.classify(&records, now)?;
                let extra =
                    self.pricing
                        .remainder(agent_before, self.agent.host_cpu_time(), upfront);
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(core, now, cycles, CpuUse::Driver);
                let extra_cycles = self.agent_cycles_of(extra);
                let end = self.run_core(core, end, extra_cycles, CpuUse::Agent);
                self.work
                    .schedule_at(end, Work::Release { seq, releases })?;
            }
            Work::Release { seq, releases } => {
                if seq != self.next_release {
                    // An earlier batch is still being classified: post after it.
                    self.ready.insert(seq, releases);
                    return Ok(());
                }
                let posted = self.driver_mut().post_releases(&releases)?;
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(MISS_CORE, now, cycles, CpuUse::Driver);
                if posted < releases.len() {
                    // The ring is full: try the rest once the card has fetched some.
                    let rest = releases[posted..].to_vec();
                    self.work.schedule_at(
                        end + SimDuration::from_ns(1_000),
                        Work::Release {
                            seq,
                            releases: rest,
                        },
                    )?;
                    return Ok(());
                }
                self.next_release += 1;
                if let Some(releases) = self.ready.remove(&self.next_release) {
                    let seq = self.next_release;
                    self.work
                        .schedule_at(end, Work::Release { seq, releases })?;
                }
            }
        }
        Ok(())
    }

    /// The crash: the agent forgets, the host work of miss service under way is lost (the
    /// card keeps the packets), the restart is scheduled.
    fn crash(&mut self, now: SimTime, down_for: SimDuration) -> Result<(), SystemError> {
        self.agent.crash();
        self.metrics.agent_crashes += 1;
        if self.down_since.is_none() {
            self.down_since = Some(now);
        }
        let mut kept = EventQueue::new();
        let mut old = std::mem::replace(&mut self.work, EventQueue::new());
        while let Some((t, w)) = old.pop_until(SimTime(u64::MAX)) {
            if matches!(w, Work::Crash { .. } | Work::ServeQueue { .. }) {
                // Later faults, and the guests' interrupt handling (not the agent's work).
                kept.schedule_at(t, w)?;
            } else {
                self.metrics.work_lost += 1;
            }
        }
        self.work = kept;
        self.batches_read = 0;
        self.next_release = 0;
        self.ready.clear();
        self.miss_polling = false;
        self.rebuild_since = None;
        self.work.schedule_at(now + down_for, Work::Restart)?;
        Ok(())
    }

    /// The agent's decisions for `records`, as release commands in order.
    fn classify(
        &mut self,
        records: &[MissRecord],
        now: SimTime,
    ) -> Result<Vec<ReleaseCommand>, SystemError> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let release = match self.agent.on_miss_record(r)? {
                RecordOutcome::Admitted(Admission::Started | Admission::Held) => continue,
                RecordOutcome::Admitted(Admission::DroppedHeldOverflow) => {
                    Release::Apply(Action::DROP)
                }
                RecordOutcome::DecidedInSoftware { decision, .. } => {
                    Release::Apply(decision.card.unwrap_or(Action::DROP))
                }
            };
            out.push(ReleaseCommand {
                handle: r.handle,
                release,
            });
        }
        for r in self.agent.process(now)? {
            let release = match (r.software, r.decision.card) {
                (None, _) => Release::Relookup,
                (Some(_), Some(a)) => Release::Apply(a),
                (Some(_), None) => Release::Apply(Action::DROP),
            };
            out.push(ReleaseCommand {
                handle: r.packet,
                release,
            });
        }
        for c in &out {
            match c.release {
                Release::Relookup => self.metrics.relookups += 1,
                Release::Apply(a) if a == Action::DROP => self.metrics.dropped += 1,
                Release::Apply(_) => self.metrics.applied += 1,
            }
        }
        Ok(out)
    }
}
