//! The control plane: the driver with the flow-setup agent as its miss handler, and the run
//! loop that interleaves the card's events with the host's work in simulated time.
//!
//! ```text
//!   card event ──▶ interrupt (vector, at)
//!                   ├─ miss vector: the driver core takes it (then masks it and polls
//!                   │  the ring until it is empty, as NAPI does), then
//!                   │    ReadMisses   read producer, records, write consumer (driver cycles)
//!                   │    Classify     agent: on_miss_record, process -> installs through the
//!                   │                 management registers, release decisions (agent cycles
//!                   │                 from AgentCosts: per setup, per held record, per
//!                   │                 software-forwarded packet)
//!                   │    Release      release commands into the release ring, doorbell
//!                   └─ queue vector: the caller's guest callback (its VM polls its rings)
//! ```
//!
//! Each step runs on the driver's core (one core, busy while it works): a step starts when
//! the core is free and its successor is scheduled when it ends, so a flow setup's latency
//! includes the interrupt, the record reads, the classification, the installs' register
//! writes (on the PCIe model too) and the release. Steps happen at their times: the card is
//! run up to a step's time, moved to it, and the step's register writes are issued then.
//! Guests' interrupt handling runs on the guests' own CPUs: its interrupt is counted and
//! priced (host CPU, `interrupts`), the guest's work is not.
//!
//! A released packet's fate follows the agent: an installed entry -> `Relookup`; software
//! forwarding with a card action (table full, flow limit) -> `Apply(action)`; no card action
//! (a multi-output rule the card cannot apply) or a held-queue overflow -> `Apply(DROP)`,
//! which the card counts as `agent_drop`.

use std::collections::BTreeMap;

use flow_setup::agent::{Admission, Agent, AgentConfig, AgentCosts, RecordOutcome};
use flow_setup::rule::Rule;
use nic_abi::action::Action;
use nic_abi::desc::{MissRecord, PacketHandle, QueueIndex, Release, ReleaseCommand};
use nic_abi::regs::interrupts as ir;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::host::IrqVector;

use nic_model::card::{Card, CardConfig};

use crate::driver::{Driver, DriverConfig, DriverError};
use crate::guest::{GuestSpec, MockGuest};
use crate::host::{CpuUse, Host, HostConfig};

/// A step of the host's work, at a time.
#[derive(Debug)]
enum Work {
    ReadMisses,
    Classify {
        records: Vec<MissRecord>,
        agent_before: SimDuration,
        predicted: SimDuration,
    },
    Release(Vec<ReleaseCommand>),
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
    /// Time the driver core was busy (ps).
    pub core_busy_ps: u64,
    /// Miss interrupts that came while the driver was polling the miss ring (masked).
    pub masked_interrupts: u64,
}

/// The driver and the flow-setup agent, run together.
#[derive(Debug)]
pub struct ControlPlane {
    agent: Agent<Driver, PacketHandle>,
    agent_costs: AgentCosts,
    clock_mhz: u32,
    core_free: SimTime,
    work: BTreeMap<(SimTime, u64), Work>,
    next_seq: u64,
    /// The miss vector was taken and the driver polls the miss ring until it is empty (as
    /// NAPI does); miss interrupts meanwhile are masked and cost nothing.
    miss_polling: bool,
    interrupts: Vec<(IrqVector, SimTime)>,
    metrics: ControlMetrics,
}

/// Everything [`ControlPlane::assemble`] builds a system from.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// The card (its `inter_vm` is set from `host.copy.mode`).
    pub card: CardConfig,
    /// The host.
    pub host: HostConfig,
    /// The driver.
    pub driver: DriverConfig,
    /// The agent.
    pub agent: AgentConfig,
    /// The guests, queue `i` for guest `i`.
    pub guests: Vec<GuestSpec>,
}

impl ControlPlane {
    /// Builds a whole system: the host, the card, the driver bringing it up, one queue pair
    /// per guest (queue `i` for `spec.guests[i]`, whose `queue` must be `i`) with all its RX
    /// buffers posted, and the agent with `rules`. Returns the control plane and the guests.
    pub fn assemble(
        spec: SystemSpec,
        rules: Vec<Rule>,
    ) -> Result<(ControlPlane, Vec<MockGuest>), DriverError> {
        let host = Host::new(spec.host)?;
        let card_config = CardConfig {
            inter_vm: spec.host.copy.mode.card_path(),
            ..spec.card
        };
        let card = Card::new(card_config, host).map_err(|e| DriverError::Config(e.to_string()))?;
        let mut driver = Driver::bring_up(card, spec.driver)?;
        let mut guests = Vec::with_capacity(spec.guests.len());
        for (i, g) in spec.guests.iter().enumerate() {
            if usize::from(g.queue.0) != i {
                return Err(DriverError::Config(format!(
                    "guest {i} ({}) has queue {}, expected {i}",
                    g.vm, g.queue.0
                )));
            }
            let mut guest = MockGuest::attach(driver.card_mut().host_mut(), *g)?;
            driver.add_queue(g.queue, &guest.queue_config())?;
            guest.post_rx_buffers(driver.card_mut())?;
            guests.push(guest);
        }
        let cp = ControlPlane::new(driver, spec.agent, rules)?;
        Ok((cp, guests))
    }

    /// The agent over `driver` with `rules` (ids in list order).
    pub fn new(
        driver: Driver,
        config: AgentConfig,
        rules: Vec<Rule>,
    ) -> Result<ControlPlane, DriverError> {
        let clock_mhz = driver.config().clock_mhz.max(1);
        let mut driver = driver;
        // Bring-up's register work happened before the run: its cycles are counted, but
        // it occupies no core during the run.
        let bring_up = driver.take_unbilled_cycles();
        driver
            .card_mut()
            .host_mut()
            .charge(CpuUse::Driver, bring_up);
        let agent = Agent::with_rules(driver, config, rules)
            .map_err(|e| DriverError::Agent(e.to_string()))?;
        Ok(ControlPlane {
            agent,
            agent_costs: config.costs,
            clock_mhz,
            core_free: SimTime::ZERO,
            work: BTreeMap::new(),
            next_seq: 0,
            miss_polling: false,
            interrupts: Vec::new(),
            metrics: ControlMetrics::default(),
        })
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

    fn cycles_of(&self, d: SimDuration) -> u64 {
        let c = u128::from(d.as_ps()) * u128::from(self.clock_mhz) / 1_000_000;
        u64::try_from(c).unwrap_or(u64::MAX)
    }

    /// Runs `cycles` of `what` on the driver core from `at`; returns when it ends.
    fn run_core(&mut self, at: SimTime, cycles: u64, what: CpuUse) -> SimTime {
        let start = at.max(self.core_free);
        let ps = (u128::from(cycles) * 1_000_000).div_ceil(u128::from(self.clock_mhz));
        let end = start + SimDuration(u64::try_from(ps).unwrap_or(u64::MAX));
        self.core_free = end;
        self.metrics.core_busy_ps += end.saturating_since(start).as_ps();
        if cycles > 0 {
            self.driver_mut().card_mut().host_mut().charge(what, cycles);
        }
        end
    }

    fn schedule(&mut self, at: SimTime, w: Work) {
        self.work.insert((at, self.next_seq), w);
        self.next_seq += 1;
    }

    /// Runs the card and the host's work up to `until` (inclusive). `on_queue` is called for
    /// every interrupt of a queue pair's vector, with the driver (its guest polls its rings).
    pub fn run_until<F>(&mut self, until: SimTime, mut on_queue: F) -> Result<(), DriverError>
    where
        F: FnMut(&mut Driver, QueueIndex) -> Result<(), DriverError>,
    {
        loop {
            let card_next = self.driver().card().next_event_time();
            let work_next = self.work.keys().next().map(|k| k.0);
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
                self.take_interrupts(&mut on_queue)?;
            } else {
                let Some((&(t, seq), _)) = self.work.iter().next() else {
                    return Ok(());
                };
                if t > until {
                    return Ok(());
                }
                let Some(w) = self.work.remove(&(t, seq)) else {
                    return Ok(());
                };
                self.driver_mut().card_mut().advance_to(t);
                self.take_interrupts(&mut on_queue)?;
                self.execute(w, t)?;
            }
        }
    }

    /// Runs until neither the card nor the host has anything left to do; returns the time.
    pub fn drain<F>(&mut self, on_queue: F) -> Result<SimTime, DriverError>
    where
        F: FnMut(&mut Driver, QueueIndex) -> Result<(), DriverError>,
    {
        self.run_until(SimTime(u64::MAX), on_queue)?;
        Ok(self.driver().card().now())
    }

    fn take_interrupts<F>(&mut self, on_queue: &mut F) -> Result<(), DriverError>
    where
        F: FnMut(&mut Driver, QueueIndex) -> Result<(), DriverError>,
    {
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
            self.driver_mut().count_interrupt();
            let v = u32::from(vector.0);
            if v == ir::VECTOR_MISS {
                if self.miss_polling {
                    self.metrics.masked_interrupts += 1;
                } else {
                    self.miss_polling = true;
                    let end = self.run_core(at, cost, CpuUse::Interrupts);
                    self.schedule(end, Work::ReadMisses);
                }
            } else if let Some(q) = v.checked_sub(ir::VECTOR_QUEUE_0) {
                self.driver_mut()
                    .card_mut()
                    .host_mut()
                    .charge(CpuUse::Interrupts, cost);
                let q = QueueIndex(u16::try_from(q).unwrap_or(u16::MAX));
                on_queue(self.driver_mut(), q)?;
            }
        }
        irqs.clear();
        self.interrupts = irqs;
        Ok(())
    }

    fn execute(&mut self, w: Work, now: SimTime) -> Result<(), DriverError> {
        match w {
            Work::ReadMisses => {
                self.metrics.miss_services += 1;
                let mut records = Vec::new();
                let budget = self.driver().config().miss_poll_budget.max(1);
                self.driver_mut().read_miss_records(&mut records, budget)?;
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(now, cycles, CpuUse::Driver);
                if records.is_empty() {
                    // The ring is empty: interrupts again.
                    self.miss_polling = false;
                    return Ok(());
                }
                // The least the records can cost (each is at least held); what classifying
                // them costs beyond that is charged once it is known, before the releases.
                let least = self.agent_costs.held.min(self.agent_costs.setup);
                let predicted = least.times(records.len() as u64);
                let end = self.run_core(end, self.cycles_of(predicted), CpuUse::Agent);
                let agent_before = self.agent.host_cpu_time();
                self.schedule(
                    end,
                    Work::Classify {
                        records,
                        agent_before,
                        predicted,
                    },
                );
            }
            Work::Classify {
                records,
                agent_before,
                predicted,
            } => {
                let releases = self.classify(&records, now)?;
                let spent = self.agent.host_cpu_time();
                let extra = SimDuration(
                    spent
                        .as_ps()
                        .saturating_sub(agent_before.as_ps())
                        .saturating_sub(predicted.as_ps()),
                );
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(now, cycles, CpuUse::Driver);
                let end = self.run_core(end, self.cycles_of(extra), CpuUse::Agent);
                self.schedule(end, Work::Release(releases));
            }
            Work::Release(releases) => {
                let posted = self.driver_mut().post_releases(&releases)?;
                let cycles = self.driver_mut().take_unbilled_cycles();
                let end = self.run_core(now, cycles, CpuUse::Driver);
                if posted < releases.len() {
                    // The ring is full: try the rest once the card has fetched some.
                    let rest = releases[posted..].to_vec();
                    self.schedule(end + SimDuration::from_ns(1_000), Work::Release(rest));
                } else {
                    // Poll the miss ring again until it is empty.
                    self.schedule(end, Work::ReadMisses);
                }
            }
        }
        Ok(())
    }

    /// The agent's decisions for `records`, as release commands in order.
    fn classify(
        &mut self,
        records: &[MissRecord],
        now: SimTime,
    ) -> Result<Vec<ReleaseCommand>, DriverError> {
        let agent_err = |e: flow_setup::agent::AgentError| DriverError::Agent(e.to_string());
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let release = match self.agent.on_miss_record(r).map_err(agent_err)? {
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
        for r in self.agent.process(now).map_err(agent_err)? {
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
