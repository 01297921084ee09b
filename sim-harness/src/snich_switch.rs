//! The sNICh system as a switch under test: `snich-system`'s composition of `nic-model`'s
//! card with `host-driver`'s host, driver and mock guests, and the flow-setup agent servicing
//! the miss queue, built by [`snich_system::assemble::SystemSpec::assemble`], the same code
//! the system's own tests run. The SR-IOV VEB baseline ([`crate::baselines::SriovVeb`]) runs
//! through this same switch over the card in its VEB configuration
//! ([`SnichSwitch::assembled`] with `SystemSpec::assemble_veb`): same guests, queues,
//! interrupts and host, another lookup.
//!
//! ```text
//!  OfferedPacket ─┬─ from VM i:  guest i's TX ring + doorbell (queue i, port 101 + i)
//!                 └─ from wire:  Card::offer_from_wire(uplink)
//!        ▲ run the card and the host's work (misses -> agent -> installs -> releases) to `at`
//!  card outcomes (per packet: delivered at its RX completion or last bit on the wire, or
//!  dropped for a reason) ──▶ SwitchRun (latency from the offer)
//! ```
//!
//! Guests re-post their RX buffers and free their TX slots when their queue's interrupt
//! fires (and a guest whose TX ring looks full reads its completions first). A VM packet
//! offered while its TX ring is still full is dropped as `queue_full`: the workload offers
//! packets at fixed times whatever the switch does (open loop), and every switch's guests
//! drop when their ring is full, the baselines' too (`baselines::vm_tx`), so no switch gets
//! a deeper guest queue than another. Frames a guest cannot put in a 2 KiB TX buffer (under
//! 14 or over 2,048 bytes) are dropped as `malformed` before they reach the card.
//!
//! Host CPU: the host's work runs on the scenario's `host.cores` and memory bus
//! (`host-driver`'s host CPU model, [`host_driver::cpu::HostCpu`], the one the software
//! baselines run on): the interrupts, miss-ring service, the agent's classification,
//! installs through the registers and releases, in simulated time (a flow setup's latency
//! includes them), and the copy engine's submissions and completions or the CPU copies.
//! Cycles are reported by use (`driver`, `agent`, `interrupts`, `grants`, `copy`). Guests
//! use persistent grants (grant reuse).
//!
//! Costs: every host cost of the system comes from the scenario's cost profile
//! ([`crate::profile`]): `[snich.driver]` (MMIO reads and writes, interrupts, miss records,
//! releases), `[snich.agent]` with `classifier.per_visit` (a setup's fixed part plus the
//! split tree's node visits of its lookup, held misses, software forwarding),
//! `[snich.iommu]` (grant maps and unmaps) and `[snich.copy_engine]` (the engine device's
//! ring, doorbell, channels and completions), converted at the scenario host's clock.

use std::collections::HashMap;

use bytes::Bytes;
use flow_setup::agent::AgentCosts;
use host_driver::copy::{CompletionMode, CopyEngineConfig, CopyMode, CpuCopyConfig};
use host_driver::driver::{Driver, DriverCosts};
use host_driver::guest::{MockGuest, BUFFER_BYTES};
use host_driver::host::CpuUse;
use host_driver::iommu::{GrantMode, IommuCosts};
use nic_abi::desc::{QueueIndex, RingIndex, RingSize};
use nic_abi::time::SimTime;
use nic_model::card::{PacketOrigin, PacketOutcome};
use snich_system::assemble::{numbered_guest, SystemSpec};
use snich_system::control::ControlPlane;
use snich_system::error::SystemError;

use crate::faults::Faults;
use crate::profile::{cycles_at, whole_cycles, Profile};
use crate::switch::{
    CopyCompletion, DropReason, Endpoint, InterVmCopy, OfferedPacket, SwitchContext, SwitchError,
    SwitchRun, SwitchUnderTest, VmIndex, UPLINK_PORT,
};

/// A packet on the card: its offer time, and whether the caller marked it (the VEB marks
/// packets its full rule set would drop, to count those it delivers).
type Offered = (SimTime, bool);

/// The guests and what the system remembers about packets in flight.
#[derive(Debug)]
struct Guests {
    guests: Vec<MockGuest>,
    /// VM packets on the card: (queue, TX ring index) -> offer.
    vm_offers: HashMap<(u16, u16), Offered>,
    /// Guests that stop consuming (`[faults] stuck_vms`), by queue.
    stuck: Vec<bool>,
    /// From when.
    stuck_from: SimTime,
}

impl Guests {
    /// Queue `q`'s interrupt: the guest reads its completions and re-posts RX buffers.
    fn service(&mut self, d: &mut Driver, q: QueueIndex) -> Result<(), SystemError> {
        let i = usize::from(q.0);
        if self.stuck.get(i).copied().unwrap_or(false) && d.card().now() >= self.stuck_from {
            // A stuck guest takes no interrupt: it reads nothing and re-posts nothing.
            return Ok(());
        }
        let Some(g) = self.guests.get_mut(i) else {
            return Ok(());
        };
        g.poll(d.card_mut(), &mut Vec::new())?;
        g.post_rx_buffers(d.card_mut())?;
        Ok(())
    }
}

/// Sets every host cost of `spec` from `profile` (cycles of a core at `clock_mhz`), and the
/// card's management-port latencies (cycles of the card's clock).
fn apply_profile(spec: &mut SystemSpec, profile: &Profile, clock_mhz: u32) {
    let d = &profile.snich.driver;
    spec.driver.costs = DriverCosts {
        mmio_write_cycles: whole_cycles(d.mmio_write),
        mmio_read_cycles: whole_cycles(d.mmio_read),
        interrupt_cycles: whole_cycles(d.interrupt),
        miss_record_cycles: whole_cycles(d.miss_record),
        release_cycles: whole_cycles(d.release),
    };
    let a = &profile.snich.agent;
    spec.agent.costs = AgentCosts {
        setup: cycles_at(a.setup, clock_mhz),
        per_visit: cycles_at(profile.classifier.per_visit, clock_mhz),
        held: cycles_at(a.held, clock_mhz),
        software_forward: cycles_at(a.software_forward, clock_mhz),
    };
    let i = &profile.snich.iommu;
    spec.host.iommu = IommuCosts {
        map_cycles: whole_cycles(i.map),
        unmap_cycles: whole_cycles(i.unmap),
    };
    let k = &profile.snich.card;
    spec.card.table.mgmt_command_cycles = k.mgmt_command;
    spec.card.table.mgmt_cycles_per_kick = k.mgmt_displacement;
    let e = &profile.snich.copy_engine;
    spec.host.copy.engine = CopyEngineConfig {
        channels: e.channels,
        ring_entries: e.ring_entries,
        submit_cycles: whole_cycles(e.submit),
        doorbell: e.doorbell,
        descriptor_fetch: e.descriptor_fetch,
        bytes_per_us: e.channel_bytes_per_us,
        completion_write: e.completion_write,
        // Set from the scenario's `card.copy_completion` by the caller.
        completion: CompletionMode::Poll,
        poll_cycles: whole_cycles(e.completion_poll),
        interrupt_cycles: whole_cycles(e.completion_interrupt),
    };
    spec.host.copy.cpu = CpuCopyConfig {
        fixed_cycles: whole_cycles(profile.snich.cpu_copy.fixed),
        per_byte_millicycles: whole_cycles(profile.vnic.copy_per_byte * 1_000.0),
    };
}

/// The sNICh system as a switch under test.
#[derive(Debug)]
pub struct SnichSwitch {
    name: String,
    cp: ControlPlane,
    guests: Guests,
    run: SwitchRun,
    /// Wire packets on the card: sequence number -> offer.
    wire_offers: HashMap<u64, Offered>,
    /// Marked packets delivered.
    marked_delivered: u64,
    wire_seq: u64,
    outcomes: Vec<PacketOutcome>,
    /// A fault was injected (`[faults]`): the report gets the fault counters.
    faulted: bool,
    /// Rule updates during the run (`faults.rule_updates_per_second`).
    churn: Option<Churn>,
}

/// Rule updates under way: what comes next and what was done.
#[derive(Debug)]
struct Churn {
    spec: crate::faults::RuleChurn,
    /// The next update's time.
    next: SimTime,
    /// The next rule to add, an index into `spec.rules`.
    next_rule: usize,
    /// The rule the last update added, to remove next.
    installed: Option<flow_setup::rule::RuleId>,
    /// Updates applied.
    updates: u64,
}

fn internal(e: impl std::fmt::Display) -> SwitchError {
    SwitchError::Internal(format!("snich: {e}"))
}

impl SnichSwitch {
    /// Builds the system for `ctx`: one queue pair per VM of the topology (rings of the VM's
    /// `queue_entries`), the card per `ctx.card` with `ctx.inter_vm` as its inter-VM path,
    /// brought up through its registers, and the agent with `ctx.rules`.
    pub fn new(ctx: &SwitchContext) -> Result<SnichSwitch, SwitchError> {
        let (name, mode) = match ctx.inter_vm {
            InterVmCopy::CopyEngine => ("snich", CopyMode::CopyEngine),
            InterVmCopy::CpuCopy => ("snich/cpu-copy", CopyMode::CpuCopy),
            InterVmCopy::Hairpin => ("snich/hairpin", CopyMode::Hairpin),
        };
        let rules = ctx.rules.clone();
        let mut s =
            SnichSwitch::assembled(name, ctx, |spec| spec.with_copy_mode(mode).assemble(rules))?;
        s.inject(&ctx.faults)?;
        Ok(s)
    }

    /// Schedules the scenario's faults (`crate::faults`): the agent's crash, the stuck VMs.
    fn inject(&mut self, faults: &Faults) -> Result<(), SwitchError> {
        if let Some(c) = faults.agent_crash {
            self.cp
                .schedule_agent_crash(c.at, c.down_for)
                .map_err(internal)?;
            self.faulted = true;
        }
        for vm in &faults.stuck_vms {
            let slot = self
                .guests
                .stuck
                .get_mut(usize::from(vm.0))
                .ok_or_else(|| internal(format!("no VM {} to make stuck", vm.0)))?;
            *slot = true;
            self.faulted = true;
        }
        self.guests.stuck_from = faults.stuck_from;
        if let Some(c) = &faults.rule_churn {
            self.churn = Some(Churn {
                next: c.from,
                spec: c.clone(),
                next_rule: 0,
                installed: None,
                updates: 0,
            });
            self.faulted = true;
        }
        Ok(())
    }

    /// Applies the rule updates due by `at` (each adds the next rule or removes the one the
    /// last added; the agent revalidates before returning).
    fn apply_rule_updates(&mut self, at: SimTime) -> Result<(), SwitchError> {
        let Some(c) = &mut self.churn else {
            return Ok(());
        };
        while c.next <= at {
            let agent = self.cp.agent_mut();
            match c.installed.take() {
                Some(id) => {
                    agent.remove_rule(id).map_err(internal)?;
                }
                None => {
                    let rule = c
                        .spec
                        .rules
                        .get(c.next_rule)
                        .cloned()
                        .ok_or_else(|| internal("no rule to add"))?;
                    c.installed = Some(agent.add_rule(rule).map_err(internal)?);
                    c.next_rule = (c.next_rule + 1) % c.spec.rules.len();
                }
            }
            c.updates += 1;
            c.next += c.spec.every;
        }
        Ok(())
    }

    /// The switch `name` over the system `build` assembles from `ctx`'s spec: one queue pair
    /// per VM of the topology (rings of the VM's `queue_entries`), the card per `ctx.card`,
    /// the host CPU the scenario's, every cost from its profile.
    pub(crate) fn assembled(
        name: &str,
        ctx: &SwitchContext,
        build: impl FnOnce(SystemSpec) -> Result<(ControlPlane, Vec<MockGuest>), SystemError>,
    ) -> Result<SnichSwitch, SwitchError> {
        let config = |what: String| SwitchError::Config {
            switch: name.to_string(),
            what,
        };
        let mut guests = Vec::with_capacity(ctx.topology.vms.len());
        for (i, vm) in ctx.topology.vms.iter().enumerate() {
            let i = u16::try_from(i)
                .ok()
                .filter(|&i| i < u16::MAX - 1)
                .ok_or_else(|| config("more than 65,533 VMs".into()))?;
            let entries = RingSize::new(vm.queue_entries)
                .map_err(|e| config(format!("VM {i}: queue_entries: {e}")))?;
            guests.push(numbered_guest(i, entries, GrantMode::Persistent));
        }
        let mut spec = SystemSpec {
            card: ctx.card.clone(),
            ..SystemSpec::new(guests)
        };
        spec.host.cpu = ctx.host;
        apply_profile(&mut spec, &ctx.profile_for(name)?, ctx.host.clock_mhz);
        spec.host.copy.engine.completion = match ctx.copy_completion {
            CopyCompletion::Poll => CompletionMode::Poll,
            CopyCompletion::Interrupt => CompletionMode::Interrupt,
        };
        let (mut cp, guests) = build(spec).map_err(|e| config(e.to_string()))?;
        cp.driver_mut().card_mut().record_outcomes(true);
        Ok(SnichSwitch {
            name: name.to_string(),
            cp,
            guests: Guests {
                stuck: vec![false; guests.len()],
                stuck_from: SimTime::ZERO,
                guests,
                vm_offers: HashMap::new(),
            },
            run: SwitchRun::new(name)?.with_backlog_checkpoint(ctx.backlog_checkpoint),
            wire_offers: HashMap::new(),
            marked_delivered: 0,
            wire_seq: 0,
            outcomes: Vec::new(),
            faulted: false,
            churn: None,
        })
    }

    /// The control plane (driver, agent, card), for inspection.
    pub fn control_plane(&self) -> &ControlPlane {
        &self.cp
    }

    /// The control plane, writable (tests pre-installing entries on the card).
    pub fn control_plane_mut(&mut self) -> &mut ControlPlane {
        &mut self.cp
    }

    /// Runs the card and the host up to `until`, then records the packets that ended.
    fn run_until(&mut self, until: SimTime) -> Result<(), SwitchError> {
        let guests = &mut self.guests;
        self.cp
            .run_until(until, |d, q| guests.service(d, q))
            .map_err(internal)?;
        self.collect()
    }

    /// Records the card's outcomes since the last call.
    fn collect(&mut self) -> Result<(), SwitchError> {
        self.cp
            .driver_mut()
            .card_mut()
            .take_outcomes(&mut self.outcomes);
        for o in self.outcomes.drain(..) {
            let offered = match o.origin {
                PacketOrigin::Wire { seq, .. } => self.wire_offers.remove(&seq),
                PacketOrigin::Vm { queue, index } => {
                    self.guests.vm_offers.remove(&(queue.0, index.value()))
                }
            }
            .ok_or_else(|| internal(format!("an outcome for a packet never offered: {o:?}")))?;
            match o.result {
                Ok(()) => {
                    self.marked_delivered += u64::from(offered.1);
                    self.run.record_delivery(offered.0, o.at, o.len);
                }
                Err(reason) => self.run.record_drop(o.at, reason.into()),
            }
        }
        Ok(())
    }

    fn offer_from_vm(
        &mut self,
        vm: VmIndex,
        at: SimTime,
        frame: Bytes,
        marked: bool,
    ) -> Result<(), SwitchError> {
        let i = usize::from(vm.0);
        if i >= self.guests.guests.len() {
            return Err(internal(format!("no VM {}", vm.0)));
        }
        if !(14..=usize::from(BUFFER_BYTES)).contains(&frame.len()) {
            self.run.record_drop(at, DropReason::Malformed);
            return Ok(());
        }
        let card = self.cp.driver_mut().card_mut();
        let g = &mut self.guests.guests[i];
        if g.tx_free() == 0 {
            // Completions may be waiting behind interrupt moderation.
            g.poll(card, &mut Vec::new()).map_err(internal)?;
        }
        if g.tx_free() == 0 {
            self.run.record_drop(at, DropReason::QueueFull);
            return Ok(());
        }
        let index: RingIndex = g.send(card, &frame).map_err(internal)?;
        let queue = u16::try_from(i).map_err(internal)?;
        self.guests
            .vm_offers
            .insert((queue, index.value()), (at, marked));
        Ok(())
    }
}

impl SwitchUnderTest for SnichSwitch {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn offer(&mut self, packet: OfferedPacket) -> Result<(), SwitchError> {
        self.offer_marked(packet, false)
    }

    fn finish(self: Box<Self>) -> Result<SwitchRun, SwitchError> {
        Ok((*self).finish_marked()?.0)
    }
}

impl SnichSwitch {
    /// Offers `packet`, marked or not (see [`SnichSwitch::finish_marked`]).
    pub(crate) fn offer_marked(
        &mut self,
        packet: OfferedPacket,
        marked: bool,
    ) -> Result<(), SwitchError> {
        let at = packet.at;
        self.run.admit_offer(at)?;
        self.run_until(at)?;
        self.cp.driver_mut().card_mut().advance_to(at);
        self.apply_rule_updates(at)?;
        match packet.from {
            Endpoint::Vm(vm) => self.offer_from_vm(vm, at, packet.frame, marked),
            Endpoint::External(_) => {
                let seq = self.wire_seq;
                self.wire_seq += 1;
                self.wire_offers.insert(seq, (at, marked));
                self.cp
                    .driver_mut()
                    .card_mut()
                    .offer_from_wire(UPLINK_PORT, packet.frame, at)
                    .map_err(internal)
            }
        }
    }

    /// Ends the run: the run, and how many marked packets were delivered.
    pub(crate) fn finish_marked(mut self) -> Result<(SwitchRun, u64), SwitchError> {
        let guests = &mut self.guests;
        self.cp
            .drain(|d, q| guests.service(d, q))
            .map_err(internal)?;
        self.collect()?;
        let counters = self.cp.driver_mut().card_mut().finish().map_err(internal)?;
        let mut run = std::mem::replace(&mut self.run, SwitchRun::new(self.name.clone())?);
        run.check_conservation()?;
        let driver = self.cp.driver();
        let host = driver.host();
        for u in CpuUse::ALL {
            let c = host.metrics().cycles(u);
            if c > 0 {
                run.charge_cpu(u.name(), c);
            }
        }
        let link = driver.card().dma().link();
        run.pcie_bytes = link.upstream().wire_bytes + link.downstream().wire_bytes;
        let agent = self.cp.agent().counters();
        // New entries (the agent's `installed` also counts rewrites of a present key, as when
        // packets that missed during a setup are set up again).
        run.flow_setups = driver.metrics().inserts;
        run.table_occupancy_peak = driver.metrics().occupancy_peak;
        let copies = host.copy_metrics();
        let faults: u64 = host.dma_faults_by_vm().values().sum();
        for (k, v) in [
            ("table_hits", counters.table_hits),
            ("table_misses", counters.table_misses),
            ("miss_records", driver.metrics().miss_records),
            ("releases", driver.metrics().releases),
            ("copies", copies.copies),
            ("copy_bytes", copies.bytes),
            ("copy_doorbells", copies.doorbells),
            ("copy_ring_full_waits", copies.ring_full_waits),
            ("copy_ring_peak", u64::from(copies.ring_peak)),
            ("memory_bus_bytes", host.cpu().memory().bytes()),
            ("dma_faults", faults),
            ("interrupts", driver.metrics().interrupts),
            ("mmio_writes", driver.metrics().mmio_writes),
            ("mmio_reads", driver.metrics().mmio_reads),
            ("mgmt_status_polls", driver.metrics().status_polls),
            ("mgmt_busy_polls", driver.metrics().busy_polls),
            ("software_forwarded", agent.software),
            ("agent_held_overflow", agent.held_overflow),
        ] {
            run.extra.insert(k.to_string(), v);
        }
        if self.faulted {
            let m = self.cp.metrics();
            for (k, v) in [
                ("agent_crashes", m.agent_crashes),
                ("agent_restarts", m.agent_restarts),
                ("agent_down_ns", m.down_ps / 1_000),
                ("agent_rebuild_ns", m.rebuild_ps / 1_000),
                ("agent_entries_rebuilt", m.entries_rebuilt),
                ("agent_entries_fixed", agent.recovery_fixed),
                ("agent_slot_reads", driver.metrics().slot_reads),
                ("miss_records_skipped", m.records_skipped),
                ("miss_records_replayed", counters.replayed_records),
                ("miss_interrupts_while_down", m.interrupts_while_down),
                ("rule_updates", self.churn.as_ref().map_or(0, |c| c.updates)),
                ("entries_revalidated", agent.revalidated),
            ] {
                run.extra.insert(k.to_string(), v);
            }
        }
        Ok((run, self.marked_delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_cpu::HostConfig as HostCpuConfig;
    use crate::switch::{ExternalHostIndex, ExternalNode, Topology, VmNode};
    use flow_setup::ofctl::parse_rules;
    use nic_abi::emit::{
        EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr,
    };
    use nic_abi::key::MacAddr;
    use nic_abi::time::SimDuration;
    use nic_model::card::{CardConfig, TableConfig};

    fn mac(i: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, i])
    }

    /// Two VMs (MACs ..:01, ..:02) and one external host (..:f0), with a rule per address.
    fn ctx(inter_vm: InterVmCopy, extra_rules: &str) -> SwitchContext {
        let vm = |i: u8| VmNode {
            mac: mac(i),
            ipv4: 0x0a00_0000 + u32::from(i),
            vlan: None,
            queue_entries: 64,
        };
        let text = format!(
            "{extra_rules}\npriority=10,dl_dst=02:00:00:00:00:01,actions=output:101\n\
             priority=10,dl_dst=02:00:00:00:00:02,actions=output:102\n\
             priority=10,dl_dst=02:00:00:00:00:f0,actions=output:1"
        );
        SwitchContext {
            topology: Topology {
                vms: vec![vm(1), vm(2)],
                external_hosts: vec![ExternalNode {
                    mac: mac(0xf0),
                    ipv4: 0xc000_0201,
                }],
            },
            rules: parse_rules(&text).expect("rules"),
            host: HostCpuConfig::default(),
            card: CardConfig {
                table: TableConfig {
                    buckets: 256,
                    ..TableConfig::default()
                },
                ..CardConfig::default()
            },
            inter_vm,
            copy_completion: CopyCompletion::Poll,
            profile: None,
            profile_overrides: Default::default(),
            seed: 1,
            faults: Default::default(),
            backlog_checkpoint: None,
        }
    }

    /// A `len`-byte UDP frame (at least 42), 10.0.0.1:`sport` -> 10.0.0.2:80.
    fn frame(src: MacAddr, dst: MacAddr, len: usize, sport: u16) -> Bytes {
        FrameRepr {
            ethernet: EthernetRepr {
                dst,
                src,
                ..EthernetRepr::default()
            },
            network: NetworkRepr::Ipv4(Ipv4Repr {
                src: [10, 0, 0, 1].into(),
                dst: [10, 0, 0, 2].into(),
                ..Ipv4Repr::default()
            }),
            transport: TransportRepr::Udp(UdpRepr {
                src_port: sport,
                dst_port: 80,
                ..UdpRepr::default()
            }),
            payload: Payload::Zeros(len.checked_sub(42).expect("room for the headers")),
            ..FrameRepr::default()
        }
        .to_bytes()
        .expect("a plain UDP frame")
    }

    fn offer(s: &mut SnichSwitch, n: u64, from: Endpoint, dst: MacAddr, len: usize) {
        let src = match from {
            Endpoint::Vm(v) => mac(u8::try_from(v.0 + 1).expect("small")),
            Endpoint::External(_) => mac(0xf0),
        };
        for i in 0..n {
            s.offer(OfferedPacket {
                at: SimTime::ZERO + SimDuration::from_ns(1_000 * i),
                from,
                frame: frame(src, dst, len, 1000),
            })
            .expect("offered");
        }
    }

    fn run(inter_vm: InterVmCopy, n: u64, len: usize) -> SwitchRun {
        let mut s = SnichSwitch::new(&ctx(inter_vm, "")).expect("built");
        offer(&mut s, n, Endpoint::Vm(VmIndex(0)), mac(2), len);
        Box::new(s).finish().expect("finished")
    }

    #[test]
    fn the_systems_guests_sit_on_the_topologys_vm_ports() {
        let entries = RingSize::new(8).expect("power of two");
        for i in [0u16, 1, 7, 300] {
            let g = numbered_guest(i, entries, GrantMode::Persistent);
            assert_eq!(g.port, Topology::vm_port(VmIndex(i)), "VM {i}");
            assert_eq!(g.queue, QueueIndex(i));
        }
    }

    #[test]
    fn inter_vm_traffic_is_delivered_and_conserved() {
        let r = run(InterVmCopy::CopyEngine, 200, 1500);
        assert_eq!(r.switch, "snich");
        assert_eq!((r.ledger.offered, r.ledger.delivered), (200, 200));
        assert_eq!(r.delivered_bytes, 200 * 1500);
        assert_eq!(r.latency_ns.len(), 200);
        // One flow: one entry set up by the agent; the packets that arrived during its setup
        // missed too (one record each), and every packet hit once (those after a relookup).
        assert_eq!(r.flow_setups, 1);
        let misses = r.extra["table_misses"];
        assert!((1..200).contains(&misses), "{misses}");
        assert_eq!(r.extra["miss_records"], misses);
        assert_eq!(r.extra["table_hits"], 200);
        assert_eq!(r.extra["copies"], 200);
        assert_eq!(r.table_occupancy_peak, 1);
        // The first packet waited for the setup (the agent's 4 us and more); later ones not.
        assert!(r.latency_ns.max() > 4_039, "{}", r.latency_ns.max());
        assert!(r.latency_ns.min() < 4_039, "{}", r.latency_ns.min());
        for what in ["driver", "agent", "interrupts"] {
            assert!(
                r.host_cpu_cycles.get(what).copied().unwrap_or(0) > 0,
                "{what}"
            );
        }
        // The engine copies; a core submits each copy and polls its completion.
        let e = Profile::builtin().expect("profile").snich.copy_engine;
        assert_eq!(
            r.host_cpu_cycles.get("copy").copied(),
            Some(200 * whole_cycles(e.submit + e.completion_poll))
        );
        assert!(r.last_event > r.first_offer);
    }

    #[test]
    fn wire_to_vm_and_vm_to_wire() {
        let mut s = SnichSwitch::new(&ctx(InterVmCopy::CopyEngine, "")).expect("built");
        offer(
            &mut s,
            50,
            Endpoint::External(ExternalHostIndex(0)),
            mac(1),
            64,
        );
        for i in 0..20u64 {
            s.offer(OfferedPacket {
                at: SimTime::ZERO + SimDuration::from_ns(60_000 + 1_000 * i),
                from: Endpoint::Vm(VmIndex(1)),
                frame: frame(mac(2), mac(0xf0), 64, 7),
            })
            .expect("offered");
        }
        let r = Box::new(s).finish().expect("finished");
        assert_eq!((r.ledger.offered, r.ledger.delivered), (70, 70));
        assert_eq!(r.flow_setups, 2);
        assert_eq!(r.ledger.check_drained(), Ok(()));
    }

    #[test]
    fn pcie_bytes_per_packet_by_copy_mode() {
        let n = 100;
        let engine = run(InterVmCopy::CopyEngine, n, 1500);
        let cpu = run(InterVmCopy::CpuCopy, n, 1500);
        let hairpin = run(InterVmCopy::Hairpin, n, 1500);
        assert_eq!(
            (cpu.switch.as_str(), hairpin.switch.as_str()),
            ("snich/cpu-copy", "snich/hairpin")
        );
        for r in [&engine, &cpu, &hairpin] {
            assert_eq!(r.ledger.delivered, n, "{}", r.switch);
        }
        // The payload crosses PCIe twice when hairpinned, never through the copy engine or a
        // CPU copy (which move it in host memory: the same bus bytes per packet, up to a
        // doorbell more or less as the guests' interrupts fall at other times).
        assert!(
            engine.pcie_bytes.abs_diff(cpu.pcie_bytes) <= 4 * 28,
            "{} {}",
            engine.pcie_bytes,
            cpu.pcie_bytes
        );
        assert!(hairpin.pcie_bytes > engine.pcie_bytes + 2 * 1_372 * n);
        assert!(cpu.host_cpu_cycles["copy"] > 0);
        assert_eq!(hairpin.extra["copies"], 0);
    }

    /// `[faults]`: the agent crashes mid-run and a VM stops consuming; the run still
    /// accounts for every packet, the stuck VM's packets are `no_rx_buffer`, and the report
    /// carries the fault counters. The same scenario without the table has none of them.
    #[test]
    fn scenario_faults_crash_the_agent_and_stick_a_vm() {
        use crate::runner::run_switch;
        use crate::scenario::Scenario;
        use crate::switch::SwitchKind;
        let base = "packets = 20000\n[vms]\ncount = 4\n[workload]\nkind = \"inter-vm\"\n\
                    rate = { pps = 2e6 }\nflows = { initial = 16, new_per_second = 100000.0 }\n";
        let faulty = format!(
            "{base}[faults]\nagent_crash_at_us = 3000\nagent_down_us = 200\nstuck_vms = [2]\n\
             stuck_from_us = 1000\n"
        );
        let clean = run_switch(
            SwitchKind::Snich,
            &Scenario::from_toml(base, None).expect("ok"),
        )
        .expect("runs");
        assert!(!clean.extra.contains_key("agent_crashes"));
        let scenario = Scenario::from_toml(&faulty, None).expect("valid");
        let run = run_switch(SwitchKind::Snich, &scenario).expect("runs");
        println!(
            "agent restart on the default card: down {} ns, rebuild {} ns, {} scan commands, {} \
             entries kept, {} records replayed; dropped {:?}",
            run.extra["agent_down_ns"],
            run.extra["agent_rebuild_ns"],
            run.extra["agent_slot_reads"],
            run.extra["agent_entries_rebuilt"],
            run.extra["miss_records_replayed"],
            run.ledger.dropped_by_name()
        );
        assert_eq!(run.extra["agent_crashes"], 1);
        assert_eq!(run.extra["agent_restarts"], 1);
        assert!(run.extra["agent_rebuild_ns"] > 0);
        // READ_NEXT: one command per entry kept, plus one per 64 empty buckets at most.
        assert!(
            run.extra["agent_slot_reads"] <= run.extra["agent_entries_rebuilt"] + 16_384 / 64 + 1,
            "{} scan commands",
            run.extra["agent_slot_reads"]
        );
        assert!(
            run.ledger
                .dropped_by_name()
                .get("no_rx_buffer")
                .copied()
                .unwrap_or(0)
                > 0,
            "{:?}",
            run.ledger
        );
        assert!(!clean.ledger.dropped_by_name().contains_key("no_rx_buffer"));
        assert_eq!(run.ledger.offered, 20_000);
        let e = Scenario::from_toml(&format!("{base}[faults]\nstuck_vms = [4]\n"), None)
            .expect_err("no VM 4");
        assert!(
            e.to_string()
                .contains("faults.stuck_vms[0]: VM 4 is not one of the scenario's 4 VMs"),
            "{e}"
        );
        let e = Scenario::from_toml(&format!("{base}[faults]\ncrash = 1\n"), None)
            .expect_err("unknown key");
        assert!(e.to_string().contains("faults.crash"), "{e}");
    }

    /// `faults.rule_updates_per_second`: a drop-everything rule added and removed every
    /// millisecond over a 10 ms run (20,000 packets at 2 Mpps). While it is in force the
    /// revalidated entries drop every packet; while it is not they forward again: both
    /// happen, every packet is accounted for, and the report counts the updates and the
    /// entries revalidated. Warm-up and measurement see the same updates (a warm-up run
    /// agrees with its prefix, or the run would fail).
    #[test]
    fn rule_updates_during_traffic_are_applied_and_counted() {
        use crate::runner::run_switch;
        use crate::scenario::Scenario;
        use crate::switch::SwitchKind;
        let text = "packets = 20000\nwarmup_packets = 2000\n[vms]\ncount = 4\n[workload]\n\
                    kind = \"inter-vm\"\nrate = { pps = 2e6 }\n\
                    flows = { initial = 16, new_per_second = 0.0 }\n[faults]\n\
                    rule_updates_per_second = 1000\n\
                    rule_updates = \"priority=65000,actions=drop\"\n";
        let run = run_switch(
            SwitchKind::Snich,
            &Scenario::from_toml(text, None).expect("valid"),
        )
        .expect("runs");
        let dropped = run
            .ledger
            .dropped
            .get(&DropReason::RuleDrop)
            .copied()
            .unwrap_or(0);
        assert!(
            dropped > 4_000 && run.ledger.delivered > 4_000,
            "{:?}",
            run.ledger
        );
        assert_eq!(run.ledger.offered, 20_000);
        // 10 ms of measured packets: about ten updates (the warm-up's taken out).
        assert!(
            (9..=11).contains(&run.extra["rule_updates"]),
            "{}",
            run.extra["rule_updates"]
        );
        assert!(run.extra["entries_revalidated"] >= 16, "{:?}", run.extra);
    }

    #[test]
    fn a_rule_that_drops() {
        let c = ctx(
            InterVmCopy::CopyEngine,
            "priority=20,dl_src=02:00:00:00:00:01,actions=drop",
        );
        let mut s = SnichSwitch::new(&c).expect("built");
        offer(&mut s, 30, Endpoint::Vm(VmIndex(0)), mac(2), 200);
        let r = Box::new(s).finish().expect("finished");
        assert_eq!(r.ledger.delivered, 0);
        assert_eq!(r.ledger.dropped.get(&DropReason::RuleDrop), Some(&30));
        assert_eq!(r.flow_setups, 1, "a drop entry is installed too");
    }

    #[test]
    fn bad_frames_and_a_full_tx_ring_are_counted() {
        let mut s = SnichSwitch::new(&ctx(InterVmCopy::CopyEngine, "")).expect("built");
        s.offer(OfferedPacket {
            at: SimTime::ZERO,
            from: Endpoint::Vm(VmIndex(0)),
            frame: Bytes::from(vec![0u8; 10]),
        })
        .expect("offered");
        // A burst larger than the 64-entry TX ring at one instant: what does not fit drops.
        for _ in 0..150 {
            s.offer(OfferedPacket {
                at: SimTime(1_000),
                from: Endpoint::Vm(VmIndex(0)),
                frame: frame(mac(1), mac(2), 100, 3),
            })
            .expect("offered");
        }
        let r = Box::new(s).finish().expect("finished");
        assert_eq!(r.ledger.dropped.get(&DropReason::Malformed), Some(&1));
        assert_eq!(r.ledger.offered, 151);
        assert_eq!(
            r.ledger.dropped.get(&DropReason::QueueFull),
            Some(&(150 - 64))
        );
        assert_eq!(r.ledger.delivered + r.ledger.dropped_total(), 151);
    }
}
