//! The machinery the two software switches share: bounded ingress queues, the driver domain's
//! cores, the host NIC, and an event queue that runs it all in time order. The Linux bridge
//! and Open vSwitch differ only in their [`Datapath`]: what a packet costs on the switch core
//! and where it goes.
//!
//! ```text
//!  VM i TX ring (queue_entries) ──┐                       ┌─▶ vNIC to VM j (+copy) ─▶ delivered
//!                                 ├─▶ core (i % cores) ───┤
//!  wire ─MAC─PCIe─▶ NIC RX ring ──┘   ingress cost        └─▶ NIC driver TX ─PCIe─MAC─▶ wire
//!                  (rx_ring)          + datapath          (tx_ring)
//!                                     miss ─▶ upcall queue ─▶ any core (slow path) ─▶ egress
//! ```
//!
//! The cores are `host-driver`'s host CPU model ([`HostCpu`]), the scenario's `host.cores`.
//! A vNIC crossing copies the frame on its core: its cycles (`vnic.copy_per_byte`) and its
//! bytes on the host's memory bus (`host.memory_gbps`), which every core's copies share, so
//! copies queue behind each other when the bus is the bottleneck.
//!
//! A packet holds a slot of its ingress queue (the VM's TX ring, or the NIC's RX ring) from
//! its arrival until its core has finished with it; a full queue drops the packet on arrival
//! (`queue_full`, `no_rx_buffer`) before any CPU is spent, as a full ring does. Each core
//! serves its queue in arrival order and decides a packet when it starts on it, so the state
//! the decision sees (installed megaflows) is the state at that time. The events run on
//! `nic_model::engine::EventQueue`, the card model's queue: events at the same time fire in
//! the order they were scheduled, and an event scheduled before the current time is refused
//! (an internal error of the run, never a silent reordering); nothing is random here (the
//! datapath's own randomness is seeded).

use std::collections::VecDeque;

use bytes::Bytes;
use flow_setup::rule::Point;
use nic_abi::key::FlowKey;
use nic_abi::parse::parse_software;
use nic_abi::time::SimTime;
use nic_model::engine::EventQueue;

use crate::baselines::host_nic::HostNic;
use crate::baselines::l2::{Egress, L2Fabric};
use crate::baselines::vm_tx::VmTxRings;
use crate::host_cpu::{CoreId, HostCpu};
use crate::profile::{whole_cycles, Profile};
use crate::switch::{
    DropReason, Endpoint, OfferedPacket, SwitchContext, SwitchError, SwitchRun, Topology, VmIndex,
};

/// Frames shorter than an Ethernet header or longer than a jumbo frame are malformed.
pub const MIN_FRAME_BYTES: usize = 14;
/// The largest well-formed frame (without FCS) a VM may offer.
pub const MAX_FRAME_BYTES: usize = 9_216;

/// Which bounded queue a packet holds a slot of until its core is done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// The sending VM's TX ring.
    VmTx(VmIndex),
    /// The host NIC's RX ring.
    NicRx,
}

/// A packet inside a software switch.
#[derive(Debug, Clone)]
pub struct Packet {
    /// When it was offered.
    pub offered_at: SimTime,
    /// Its sender.
    pub from: Endpoint,
    /// The frame.
    pub frame: Bytes,
    /// Its key (software parser, ingress port set).
    pub key: FlowKey,
    /// The key as a classifier point.
    pub point: Point,
    /// The queue it holds a slot of.
    pub ingress: Ingress,
}

/// What the datapath decided for a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send to these ports.
    Forward(Vec<Egress>),
    /// Drop for this reason.
    Drop(DropReason),
    /// Not decided on the fast path: send it up to the slow path.
    Upcall,
}

/// Host CPU work of one step, by use, in (fractional) cycles, with the bytes a piece copies
/// (they cross the host's memory bus while its core works).
#[derive(Debug, Clone, Default)]
pub struct Work {
    items: Vec<(&'static str, f64, u64)>,
}

impl Work {
    /// Adds `cycles` spent on `what`.
    pub fn add(&mut self, what: &'static str, cycles: f64) {
        self.add_copy(what, cycles, 0);
    }

    /// Adds `cycles` spent on `what` copying `bytes` (memory to memory).
    pub fn add_copy(&mut self, what: &'static str, cycles: f64, bytes: u64) {
        if cycles > 0.0 || bytes > 0 {
            self.items.push((what, cycles, bytes));
        }
    }

    fn clear(&mut self) {
        self.items.clear();
    }

    /// The whole cycles the work books.
    fn cycles(&self) -> u64 {
        self.items.iter().map(|(_, c, _)| whole_cycles(*c)).sum()
    }

    /// Runs the work on `core` from `at`, one piece after another; returns when it ends.
    fn run_on(&self, cpu: &mut HostCpu, core: CoreId, at: SimTime) -> SimTime {
        let mut end = at;
        for (what, c, bytes) in &self.items {
            end = end.max(cpu.copy_on(core, at, whole_cycles(*c), *bytes, what));
        }
        end
    }
}

/// What a software switch's ports cost, in cycles: a VM's virtual NIC back end and the host
/// NIC's driver, each with the name its cycles are reported under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortCosts {
    /// Taking a frame off a VM's TX ring.
    pub from_vm: f64,
    /// Putting a frame into a VM's RX ring and notifying it.
    pub to_vm: f64,
    /// Per frame byte copied at each VM port crossing.
    pub copy_per_byte: f64,
    /// Receiving a frame from the NIC.
    pub nic_rx: f64,
    /// Handing a frame to the NIC.
    pub nic_tx: f64,
    /// The use VM port cycles are reported under.
    pub vm_use: &'static str,
    /// The use NIC cycles are reported under.
    pub nic_use: &'static str,
}

impl PortCosts {
    /// Kernel ports: a vhost-net/netback back end per VM (`[vnic]`) and the NIC's kernel
    /// driver (`[nic_driver]`): the bridge, OVS's kernel datapath and its AF_XDP ports.
    pub fn kernel(p: &Profile) -> PortCosts {
        PortCosts {
            from_vm: p.vnic.from_vm,
            to_vm: p.vnic.to_vm,
            copy_per_byte: p.vnic.copy_per_byte,
            nic_rx: p.nic_driver.rx,
            nic_tx: p.nic_driver.tx,
            vm_use: "vnic_backend",
            nic_use: "driver",
        }
    }

    /// DPDK ports: vhost-user virtqueues served by the PMD thread (`ovs_dpdk.vhost_*`, the
    /// copy per byte as every CPU copy) and the NIC's DPDK poll-mode driver
    /// (`ovs_dpdk.phy_*`).
    pub fn dpdk(p: &Profile) -> PortCosts {
        PortCosts {
            from_vm: p.ovs_dpdk.vhost_rx,
            to_vm: p.ovs_dpdk.vhost_tx,
            copy_per_byte: p.vnic.copy_per_byte,
            nic_rx: p.ovs_dpdk.phy_rx,
            nic_tx: p.ovs_dpdk.phy_tx,
            vm_use: "vhost_user",
            nic_use: "dpdk_port",
        }
    }
}

/// Which cores a software switch's packet work runs on, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Threads {
    /// Packets are served by the first this many cores (0: every core): VM `i`'s queue by
    /// core `i % n`, wire packets by RSS over them.
    pub datapath_cores: u16,
    /// Those cores busy-poll: they are spent for the whole run, working or not, and their
    /// idle time is reported as `pmd_idle_poll` cycles.
    pub busy_poll: bool,
    /// A miss is handled on the core that found it, at once (OVS's userspace datapath),
    /// instead of being queued to handler threads on whichever core frees first.
    pub inline_upcalls: bool,
}

/// The part of a software switch that differs between the bridge and Open vSwitch.
pub trait Datapath {
    /// What the slow path hands back to install once it is done (OVS: a megaflow).
    type Install;

    /// Decides `pkt` on its switch core at `now`, adding the datapath's own work (the
    /// ingress and egress port costs are the runtime's).
    fn fast_path(&mut self, now: SimTime, pkt: &Packet, l2: &L2Fabric, work: &mut Work) -> Verdict;

    /// Decides an upcalled packet in the slow path at `now` (never [`Verdict::Upcall`]),
    /// adding its work; what to install when the slow path finishes.
    fn slow_path(
        &mut self,
        now: SimTime,
        pkt: &Packet,
        l2: &L2Fabric,
        work: &mut Work,
    ) -> (Verdict, Option<Self::Install>);

    /// Installs what the slow path produced, at `now`.
    fn install(&mut self, now: SimTime, install: Self::Install);

    /// Periodic housekeeping due by `now` (revalidation), charged to `cpu`.
    fn maintain(&mut self, now: SimTime, cpu: &mut HostCpu);

    /// Adds the datapath's counters to the run record (flow setups, occupancy, extras).
    fn report(&self, run: &mut SwitchRun);
}

enum Event<I> {
    /// A packet from the wire has been received by the NIC, which writes it to host memory.
    WireReceived { core: u16, pkt: Packet },
    /// A packet from the wire is in host memory and joins its core's queue.
    AtCore { core: u16, pkt: Packet },
    /// A core that other work (an upcall, revalidation) kept busy is free again.
    CoreFree { core: u16 },
    /// A core finished a packet's fast path.
    CoreDone {
        core: u16,
        pkt: Packet,
        verdict: Verdict,
    },
    /// The slow path finished an upcalled packet.
    SlowPathDone {
        pkt: Packet,
        verdict: Verdict,
        install: Option<I>,
    },
}

/// One core's queue of packets waiting for it.
#[derive(Debug, Default)]
struct CoreQueue {
    waiting: VecDeque<Packet>,
    busy: bool,
    /// A [`Event::CoreFree`] is scheduled.
    retry_pending: bool,
}

/// A software switch: the runtime around a [`Datapath`].
pub struct SoftwareSwitch<D: Datapath> {
    name: String,
    datapath: D,
    l2: L2Fabric,
    profile: Profile,
    cpu: HostCpu,
    nic: HostNic,
    cores: Vec<CoreQueue>,
    vm_tx: VmTxRings,
    nic_rx_used: u32,
    /// Wire-end times of frames handed to the NIC, oldest first (the TX ring's occupancy).
    nic_tx: VecDeque<SimTime>,
    upcalls_queued: u32,
    events: EventQueue<Event<D::Install>>,
    work: Work,
    run: SwitchRun,
    ports: PortCosts,
    threads: Threads,
    /// Cycles of packet work (fast and inline slow paths) each core did.
    core_cycles: Vec<u64>,
}

/// Implements [`SwitchUnderTest`] for a software switch, a type whose field `inner` is a
/// [`SoftwareSwitch`], by handing every call to it.
macro_rules! software_switch_under_test {
    ($switch:ty) => {
        impl $crate::switch::SwitchUnderTest for $switch {
            fn name(&self) -> String {
                self.inner.name().to_string()
            }

            fn offer(
                &mut self,
                packet: $crate::switch::OfferedPacket,
            ) -> Result<(), $crate::switch::SwitchError> {
                self.inner.offer(packet)
            }

            fn finish(
                self: Box<Self>,
            ) -> Result<$crate::switch::SwitchRun, $crate::switch::SwitchError> {
                self.inner.finish()
            }
        }
    };
}
pub(crate) use software_switch_under_test;

impl<D: Datapath> std::fmt::Debug for SoftwareSwitch<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSwitch")
            .field("name", &self.name)
            .field("ledger", &self.run.ledger)
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl<D: Datapath> SoftwareSwitch<D> {
    /// A switch named `name` with `datapath`, built from `ctx` with `profile`.
    pub fn new(
        name: &str,
        ctx: &SwitchContext,
        profile: Profile,
        datapath: D,
    ) -> Result<SoftwareSwitch<D>, SwitchError> {
        let cpu = HostCpu::new(&ctx.host).map_err(|e| SwitchError::Config {
            switch: name.to_string(),
            what: e.to_string(),
        })?;
        let nic = HostNic::new(name, &ctx.card)?;
        let cores = (0..cpu.cores()).map(|_| CoreQueue::default()).collect();
        let ports = PortCosts::kernel(&profile);
        Ok(SoftwareSwitch {
            name: name.to_string(),
            datapath,
            l2: L2Fabric::new(&ctx.topology),
            profile,
            cpu,
            nic,
            cores,
            vm_tx: VmTxRings::new(&ctx.topology),
            nic_rx_used: 0,
            nic_tx: VecDeque::new(),
            upcalls_queued: 0,
            events: EventQueue::new(),
            work: Work::default(),
            run: SwitchRun::new(name)?,
            ports,
            threads: Threads::default(),
            core_cycles: Vec::new(),
        })
    }

    /// The same switch with `ports`' costs instead of the kernel's.
    pub fn with_ports(mut self, ports: PortCosts) -> SoftwareSwitch<D> {
        self.ports = ports;
        self
    }

    /// The same switch with its packet work placed as `threads` says.
    pub fn with_threads(mut self, threads: Threads) -> SoftwareSwitch<D> {
        self.threads = threads;
        self
    }

    /// The cores that serve packets.
    fn datapath_cores(&self) -> usize {
        match usize::from(self.threads.datapath_cores) {
            0 => self.cores.len(),
            n => n.min(self.cores.len()),
        }
    }

    /// Runs `work` on `core` from `at`; a busy-polling core counts its cycles as packet
    /// work (the rest of its time is idle polling).
    fn run_packet_work(&mut self, work: &Work, core: u16, at: SimTime) -> SimTime {
        if self.threads.busy_poll {
            let c = usize::from(core);
            if self.core_cycles.len() <= c {
                self.core_cycles.resize(c + 1, 0);
            }
            self.core_cycles[c] += work.cycles();
        }
        work.run_on(&mut self.cpu, CoreId(core), at)
    }

    /// The datapath (for tests).
    pub fn datapath(&self) -> &D {
        &self.datapath
    }

    /// Schedules `event` at `at`. Every time the runtime schedules at is the current event's
    /// or later (the NIC, bus and cores only finish after they start); one before it would
    /// be a bug, reported rather than fired out of order.
    fn schedule(&mut self, at: SimTime, event: Event<D::Install>) -> Result<(), SwitchError> {
        self.events
            .schedule_at(at, event)
            .map_err(|e| SwitchError::Internal(format!("{}: event queue: {e}", self.name)))
    }

    /// Fires every event due at or before `until`.
    fn advance(&mut self, until: SimTime) -> Result<(), SwitchError> {
        while let Some((at, event)) = self.events.pop_until(until) {
            self.handle(at, event)?;
        }
        Ok(())
    }

    fn handle(&mut self, now: SimTime, event: Event<D::Install>) -> Result<(), SwitchError> {
        match event {
            Event::WireReceived { core, pkt } => {
                let in_host = self.nic.write_to_host(now, pkt.frame.len() as u64);
                self.schedule(in_host, Event::AtCore { core, pkt })?;
            }
            Event::AtCore { core, pkt } => self.enqueue(now, core, pkt)?,
            Event::CoreFree { core } => {
                if let Some(q) = self.cores.get_mut(usize::from(core)) {
                    q.retry_pending = false;
                }
                self.start(now, core)?;
            }
            Event::CoreDone { core, pkt, verdict } => {
                self.release(pkt.ingress);
                self.after_fast_path(now, core, pkt, verdict)?;
                if let Some(q) = self.cores.get_mut(usize::from(core)) {
                    q.busy = false;
                }
                self.start(now, core)?;
            }
            Event::SlowPathDone {
                pkt,
                verdict,
                install,
            } => {
                self.upcalls_queued = self.upcalls_queued.saturating_sub(1);
                if let Some(i) = install {
                    self.datapath.install(now, i);
                }
                self.conclude(now, pkt, verdict);
            }
        }
        Ok(())
    }

    fn release(&mut self, ingress: Ingress) {
        match ingress {
            Ingress::VmTx(vm) => self.vm_tx.take(vm),
            Ingress::NicRx => self.nic_rx_used = self.nic_rx_used.saturating_sub(1),
        }
    }

    fn enqueue(&mut self, now: SimTime, core: u16, pkt: Packet) -> Result<(), SwitchError> {
        if let Some(q) = self.cores.get_mut(usize::from(core)) {
            q.waiting.push_back(pkt);
        }
        self.start(now, core)
    }

    /// Starts the next waiting packet on `core` if it is idle.
    fn start(&mut self, now: SimTime, core: u16) -> Result<(), SwitchError> {
        let Some(q) = self.cores.get_mut(usize::from(core)) else {
            return Ok(());
        };
        if q.busy || q.retry_pending || q.waiting.is_empty() {
            return Ok(());
        }
        // Work the core took on outside its queue (an upcall, revalidation) goes first; the
        // next packet is decided when the core really starts on it.
        let free = self.cpu.free_at(CoreId(core));
        if free > now {
            q.retry_pending = true;
            return self.schedule(free, Event::CoreFree { core });
        }
        let Some(pkt) = q.waiting.pop_front() else {
            return Ok(());
        };
        q.busy = true;
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        self.ingress_work(&pkt, &mut work);
        let verdict = self.datapath.fast_path(now, &pkt, &self.l2, &mut work);
        if let Verdict::Forward(egress) = &verdict {
            self.egress_work(&pkt, egress, &mut work);
        }
        let end = self.run_packet_work(&work, core, now);
        self.work = work;
        self.schedule(end, Event::CoreDone { core, pkt, verdict })
    }

    fn ingress_work(&self, pkt: &Packet, work: &mut Work) {
        let len = pkt.frame.len() as f64;
        let bytes = pkt.frame.len() as u64;
        match pkt.ingress {
            Ingress::VmTx(_) => {
                work.add(self.ports.vm_use, self.ports.from_vm);
                work.add_copy("copy", self.ports.copy_per_byte * len, bytes);
            }
            Ingress::NicRx => work.add(self.ports.nic_use, self.ports.nic_rx),
        }
    }

    fn egress_work(&self, pkt: &Packet, egress: &[Egress], work: &mut Work) {
        let len = pkt.frame.len() as f64;
        let bytes = pkt.frame.len() as u64;
        for e in egress {
            match e {
                Egress::Vm(_) => {
                    work.add(self.ports.vm_use, self.ports.to_vm);
                    work.add_copy("copy", self.ports.copy_per_byte * len, bytes);
                }
                Egress::Uplink => work.add(self.ports.nic_use, self.ports.nic_tx),
            }
        }
    }

    fn after_fast_path(
        &mut self,
        now: SimTime,
        core: u16,
        pkt: Packet,
        verdict: Verdict,
    ) -> Result<(), SwitchError> {
        if verdict != Verdict::Upcall {
            self.conclude(now, pkt, verdict);
            return Ok(());
        }
        if self.threads.inline_upcalls {
            // The thread that found the miss handles it before its next packet.
            let mut work = std::mem::take(&mut self.work);
            work.clear();
            let (verdict, install) = self.datapath.slow_path(now, &pkt, &self.l2, &mut work);
            if let Verdict::Forward(egress) = &verdict {
                self.egress_work(&pkt, egress, &mut work);
            }
            let end = self.run_packet_work(&work, core, now);
            self.work = work;
            self.upcalls_queued += 1;
            return self.schedule(
                end,
                Event::SlowPathDone {
                    pkt,
                    verdict,
                    install,
                },
            );
        }
        if self.upcalls_queued >= self.profile.ovs.upcall_queue {
            self.run.record_drop(now, DropReason::UpcallLost);
            return Ok(());
        }
        self.upcalls_queued += 1;
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        let (verdict, install) = self.datapath.slow_path(now, &pkt, &self.l2, &mut work);
        if let Verdict::Forward(egress) = &verdict {
            self.egress_work(&pkt, egress, &mut work);
        }
        // The handler thread runs on whichever core frees first; its work stays together.
        let (core, _) = self.cpu.run_anywhere(now, 0, "upcall");
        let end = work.run_on(&mut self.cpu, core, now);
        self.work = work;
        self.schedule(
            end,
            Event::SlowPathDone {
                pkt,
                verdict,
                install,
            },
        )
    }

    /// Delivers or drops a decided packet at `now` (its core work is done).
    fn conclude(&mut self, now: SimTime, pkt: Packet, verdict: Verdict) {
        let egress = match verdict {
            Verdict::Forward(egress) => egress,
            Verdict::Drop(reason) => {
                self.run.record_drop(now, reason);
                return;
            }
            Verdict::Upcall => {
                // The slow path never upcalls again; count it rather than loop.
                self.run.record_drop(now, DropReason::SlowPathUpcall);
                return;
            }
        };
        let len = pkt.frame.len() as u64;
        let mut delivered_at = None;
        for e in egress {
            let at = match e {
                // The back end's copy into the VM's RX buffer was part of the core's work.
                Egress::Vm(_) => Some(now),
                Egress::Uplink => {
                    while self.nic_tx.front().is_some_and(|t| *t <= now) {
                        self.nic_tx.pop_front();
                    }
                    if self.nic_tx.len() >= self.profile.nic_driver.tx_ring as usize {
                        None
                    } else {
                        let end = self.nic.send_from_host(now, len);
                        self.nic_tx.push_back(end);
                        Some(end)
                    }
                }
            };
            if let Some(at) = at {
                delivered_at = Some(delivered_at.map_or(at, |d: SimTime| d.max(at)));
            }
        }
        match delivered_at {
            Some(at) => self
                .run
                .record_delivery(pkt.offered_at, at, pkt.frame.len()),
            None => self.run.record_drop(now, DropReason::QueueFull),
        }
    }

    /// The switch's name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes one offered packet (see [`crate::switch::SwitchUnderTest::offer`]).
    pub fn offer(&mut self, p: OfferedPacket) -> Result<(), SwitchError> {
        self.run.admit_offer(p.at)?;
        self.advance(p.at)?;
        self.datapath.maintain(p.at, &mut self.cpu);
        let len = p.frame.len();
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&len) {
            self.run.record_drop(p.at, DropReason::Malformed);
            return Ok(());
        }
        let key = parse_software(&p.frame, Topology::ingress_port(p.from));
        let point = Point::from(&key);
        // The packet takes a slot of its ingress queue, or is dropped before any CPU is spent.
        let ingress = match p.from {
            Endpoint::Vm(vm) => {
                if let Err(reason) = self.vm_tx.post(vm) {
                    self.run.record_drop(p.at, reason);
                    return Ok(());
                }
                Ingress::VmTx(vm)
            }
            Endpoint::External(_) => {
                if len as u64 > self.nic.max_frame_bytes() {
                    self.run.record_drop(p.at, DropReason::Malformed);
                    return Ok(());
                }
                if self.nic_rx_used >= self.profile.nic_driver.rx_ring {
                    self.run.record_drop(p.at, DropReason::NoRxBuffer);
                    return Ok(());
                }
                self.nic_rx_used += 1;
                Ingress::NicRx
            }
        };
        let pkt = Packet {
            offered_at: p.at,
            from: p.from,
            frame: p.frame,
            key,
            point,
            ingress,
        };
        match ingress {
            // A VM's packets are served by the core its index picks.
            Ingress::VmTx(vm) => {
                let n = self.datapath_cores().max(1);
                let core = u16::try_from(usize::from(vm.0) % n).unwrap_or(0);
                self.enqueue(p.at, core, pkt)
            }
            // A wire packet crosses the uplink, then goes to the core RSS steers its flow to.
            Ingress::NicRx => {
                let received = self.nic.receive_on_wire(p.at, len as u64);
                let core = rss_core(&pkt.key, self.datapath_cores());
                self.schedule(received, Event::WireReceived { core, pkt })
            }
        }
    }

    /// Drains every event, checks conservation and returns the run record.
    pub fn finish(mut self) -> Result<SwitchRun, SwitchError> {
        self.advance(SimTime(u64::MAX))?;
        let polling_cores = self.datapath_cores();
        let mut run = self.run;
        for (what, c) in self.cpu.cycles_by_use() {
            run.charge_cpu(what, *c);
        }
        if self.threads.busy_poll {
            // Each polling core is spent from the start to the end of the run.
            let span = run.last_event.as_ps();
            let cycles =
                u64::try_from(u128::from(span) * u128::from(self.cpu.clock_mhz()) / 1_000_000)
                    .unwrap_or(u64::MAX);
            let n = polling_cores;
            let idle: u64 = (0..n)
                .map(|c| cycles.saturating_sub(self.core_cycles.get(c).copied().unwrap_or(0)))
                .sum();
            run.charge_cpu("pmd_idle_poll", idle);
            run.extra.insert("pmd_cores".into(), n as u64);
        }
        run.host_cpu_cycles.retain(|_, c| *c > 0);
        run.extra
            .insert("memory_bus_bytes".into(), self.cpu.memory().bytes());
        run.pcie_bytes = self.nic.pcie_bytes();
        self.datapath.report(&mut run);
        run.check_conservation()?;
        Ok(run)
    }
}

/// Receive-side scaling: the core a wire packet's flow is steered to (a hash of its
/// addresses and ports, so one flow stays on one core).
fn rss_core(key: &FlowKey, cores: usize) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let low = |v: u128| u64::try_from(v & u128::from(u64::MAX)).unwrap_or(0);
    for w in [
        low(key.nw_src),
        low(key.nw_dst),
        u64::from(key.tp_src) << 16 | u64::from(key.tp_dst),
        u64::from(key.nw_proto),
    ] {
        h = (h ^ w).wrapping_mul(0x0100_0000_01b3);
    }
    u16::try_from(h % cores.max(1) as u64).unwrap_or(0)
}
