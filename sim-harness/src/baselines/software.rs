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
//!
//! **Per-VM costs.** How a VM's port is served decides what grows with the number of VMs
//! ([`VmBackend`]):
//!
//! - Kernel ports (vhost-net): each VM has one worker thread in the host kernel for its TX
//!   and RX virtqueues. A worker with nothing to do sleeps; work arriving for a sleeping
//!   worker (a frame posted to its VM's empty TX ring, or a frame for its VM while it has no
//!   delivery queued) wakes it, `vnic.worker_wakeup` on its core, and every frame that
//!   arrives while it is awake rides that wake-up (the worker drains its rings before it
//!   sleeps). A VM's packets are switched by its worker (core `i % cores`), and a frame for
//!   VM `j` is delivered into its RX ring by VM `j`'s worker, on VM `j`'s core
//!   (`vnic.to_vm` and the copy), after waiting in the VM's tap queue (`vnic.rx_queue`
//!   frames; a frame for a full one is dropped, `queue_full`); the guest is interrupted once
//!   per batch delivered to it (`vnic.guest_notify`, when a delivery finds none queued or
//!   under way for its VM). The same total
//!   rate spread over more VMs makes smaller batches, so more wake-ups and interrupts per
//!   packet.
//! - DPDK ports (vhost-user): each PMD iteration polls every receive queue its PMD serves (one
//!   per VM of its cores, one of the NIC), found empty or not (`ovs_dpdk.vhost_rxq_poll`,
//!   `phy_rxq_poll`), and takes up to `ovs_dpdk.rx_burst` packets from each. The iteration
//!   that finds a packet pays the polls of every queue; more VMs make every iteration
//!   dearer, in idle polling and in capacity.

use std::collections::{HashMap, VecDeque};

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

/// How the VMs' ports are served, with the costs that grow with the number of VMs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VmBackend {
    /// Kernel vhost-net: one worker thread per VM, for its TX and RX, sleeping when it has
    /// no work; a frame's delivery into a VM is done by that VM's worker on its core.
    VhostNet {
        /// Waking a sleeping worker (cycles, on its core), once per batch.
        wakeup: f64,
        /// Interrupting the guest (cycles), once per batch delivered to it.
        notify: f64,
        /// Frames a VM's tap queue holds for its worker; a frame for a full one is dropped.
        rx_queue: u32,
    },
    /// Receive queues (one per VM, one of the NIC per PMD) polled by busy-polling threads,
    /// each iteration polling every queue of its core.
    Polled {
        /// One poll of a VM's queue (cycles).
        vm_queue_poll: f64,
        /// One poll of the NIC's queue (cycles).
        nic_queue_poll: f64,
        /// Packets one poll takes at most.
        burst: u32,
    },
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
    /// How the VM ports are served (the per-VM costs).
    pub backend: VmBackend,
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
            backend: VmBackend::VhostNet {
                wakeup: p.vnic.worker_wakeup,
                notify: p.vnic.guest_notify,
                rx_queue: p.vnic.rx_queue,
            },
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
            backend: VmBackend::Polled {
                vm_queue_poll: p.ovs_dpdk.vhost_rxq_poll,
                nic_queue_poll: p.ovs_dpdk.phy_rxq_poll,
                burst: p.ovs_dpdk.rx_burst,
            },
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

/// A frame's delivery into one VM by the VM's vhost-net worker.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    /// When its packet was offered.
    offered_at: SimTime,
    /// The packet's entry in the switch's pending deliveries, when it has other egresses.
    pending: Option<u64>,
    vm: VmIndex,
    bytes: usize,
    /// The worker was asleep: this delivery wakes it.
    wakes: bool,
    /// No delivery to this VM was queued: this one starts a batch, whose guest interrupt it
    /// pays.
    notifies: bool,
}

/// A packet with deliveries into VMs still to do.
#[derive(Debug, Clone, Copy)]
struct PendingDelivery {
    offered_at: SimTime,
    bytes: usize,
    remaining: usize,
    /// The latest egress done so far (`None`: none yet, or the uplink's ring was full).
    at: Option<SimTime>,
}

/// Work waiting for a core.
// A delivery is far smaller than a packet, but boxing the packet would allocate once per
// packet on the hot path; the core queues' slots are reused instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Job {
    /// A packet to switch; `wakes` when its VM's worker was asleep when it was posted.
    Switch { pkt: Packet, wakes: bool },
    /// A delivery into a VM.
    Deliver(Delivery),
}

/// One core's queue of work waiting for it.
#[derive(Debug, Default)]
struct CoreQueue {
    waiting: VecDeque<Job>,
    busy: bool,
    /// A [`Event::CoreFree`] is scheduled.
    retry_pending: bool,
    /// Polled ports: packets waiting, by port (0: the NIC, `1 + i`: VM `i`).
    by_port: Vec<u32>,
    /// Polled ports: packets of the current iteration not started yet.
    round_left: u32,
}

/// The port index of a packet's ingress in [`CoreQueue::by_port`].
fn port_index(ingress: Ingress) -> usize {
    match ingress {
        Ingress::NicRx => 0,
        Ingress::VmTx(vm) => 1 + usize::from(vm.0),
    }
}

/// Counters of the VM back ends.
#[derive(Debug, Default, Clone)]
struct BackendCounters {
    wakeups: u64,
    rx_queue_drops: u64,
    notifications: u64,
    busy_iterations: u64,
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
    /// vhost-net: deliveries queued (not started), by VM: its tap queue.
    rx_queued: Vec<u32>,
    /// vhost-net: when each VM's worker finishes the deliveries it started.
    rx_until: Vec<SimTime>,
    /// vhost-net: packets with more than one egress whose deliveries into VMs are not all
    /// done, by id.
    pending: HashMap<u64, PendingDelivery>,
    next_delivery: u64,
    counters: BackendCounters,
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
        let vms = ctx.topology.vms.len();
        let cores = (0..cpu.cores())
            .map(|_| CoreQueue {
                by_port: vec![0; vms + 1],
                ..CoreQueue::default()
            })
            .collect();
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
            run: SwitchRun::new(name)?.with_backlog_checkpoint(ctx.backlog_checkpoint),
            ports,
            threads: Threads::default(),
            core_cycles: Vec::new(),
            rx_queued: vec![0; vms],
            rx_until: vec![SimTime::ZERO; vms],
            pending: HashMap::new(),
            next_delivery: 0,
            counters: BackendCounters::default(),
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

    /// The core that serves VM `vm`'s queue (its worker thread, or the PMD polling it).
    fn vm_core(&self, vm: VmIndex) -> u16 {
        let n = self.datapath_cores().max(1);
        u16::try_from(usize::from(vm.0) % n).unwrap_or(0)
    }

    /// Polled ports: the cycles of one iteration of `core`'s PMD, polling every receive
    /// queue it serves: one per VM it serves, one of the NIC.
    fn iteration_cycles(&self, core: u16) -> f64 {
        let VmBackend::Polled {
            vm_queue_poll,
            nic_queue_poll,
            ..
        } = self.ports.backend
        else {
            return 0.0;
        };
        let (vm_queues, nic_queues) = self.queues_polled(core);
        vm_queues as f64 * vm_queue_poll + nic_queues as f64 * nic_queue_poll
    }

    /// The VM queues and NIC queues `core` polls (VM `i` on core `i % n`, one NIC queue per
    /// polling core, as RSS spreads the wire over them).
    fn queues_polled(&self, core: u16) -> (usize, usize) {
        let n = self.datapath_cores().max(1);
        let c = usize::from(core);
        if c >= n {
            return (0, 0);
        }
        let vms = self.rx_queued.len();
        (vms / n + usize::from(c < vms % n), 1)
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
            Event::AtCore { core, pkt } => {
                self.enqueue(now, core, Job::Switch { pkt, wakes: false })?;
            }
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
                self.conclude(now, pkt, verdict)?;
            }
        }
        Ok(())
    }

    /// vhost-net: whether VM `vm`'s worker has deliveries to do at `now` (queued, or
    /// started and not finished).
    fn rx_busy(&self, vm: VmIndex, now: SimTime) -> bool {
        let i = usize::from(vm.0);
        self.rx_queued.get(i).is_some_and(|q| *q > 0)
            || self.rx_until.get(i).is_some_and(|u| *u > now)
    }

    /// One of a packet's deliveries into VMs ended at `at` (`None`: dropped at `now`): the
    /// packet is delivered when its last egress is done, if any of them delivered it.
    fn egress_done(&mut self, now: SimTime, d: &Delivery, at: Option<SimTime>) {
        let (offered_at, bytes, at) = match d.pending {
            None => (d.offered_at, d.bytes, at),
            Some(id) => {
                let Some(p) = self.pending.get_mut(&id) else {
                    return;
                };
                if let Some(at) = at {
                    p.at = Some(p.at.map_or(at, |a| a.max(at)));
                }
                p.remaining = p.remaining.saturating_sub(1);
                if p.remaining > 0 {
                    return;
                }
                let p = *p;
                self.pending.remove(&id);
                (p.offered_at, p.bytes, p.at)
            }
        };
        match at {
            Some(at) => self.run.record_delivery(offered_at, at, bytes),
            None => self.run.record_drop(now, DropReason::QueueFull),
        }
    }

    /// Queues a delivery into `d.vm` on the VM's worker at `now`, or drops it when the VM's
    /// tap queue is full.
    fn queue_delivery(&mut self, now: SimTime, mut d: Delivery) -> Result<(), SwitchError> {
        let VmBackend::VhostNet { rx_queue, .. } = self.ports.backend else {
            return Ok(());
        };
        let i = usize::from(d.vm.0);
        let queued = self.rx_queued.get(i).copied().unwrap_or(0);
        if queued >= rx_queue {
            self.counters.rx_queue_drops += 1;
            self.egress_done(now, &d, None);
            return Ok(());
        }
        d.notifies = !self.rx_busy(d.vm, now);
        d.wakes = d.notifies && self.vm_tx.used(d.vm) == 0;
        if let Some(r) = self.rx_queued.get_mut(i) {
            *r += 1;
        }
        let core = self.vm_core(d.vm);
        self.enqueue(now, core, Job::Deliver(d))
    }

    fn release(&mut self, ingress: Ingress) {
        match ingress {
            Ingress::VmTx(vm) => self.vm_tx.take(vm),
            Ingress::NicRx => self.nic_rx_used = self.nic_rx_used.saturating_sub(1),
        }
    }

    fn enqueue(&mut self, now: SimTime, core: u16, job: Job) -> Result<(), SwitchError> {
        if let Some(q) = self.cores.get_mut(usize::from(core)) {
            if let Job::Switch { pkt, .. } = &job {
                if let Some(n) = q.by_port.get_mut(port_index(pkt.ingress)) {
                    *n += 1;
                }
            }
            q.waiting.push_back(job);
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
        let Some(job) = q.waiting.pop_front() else {
            return Ok(());
        };
        q.busy = true;
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        match job {
            Job::Switch { pkt, wakes } => {
                self.iteration_work(core, &pkt, &mut work);
                if let (true, VmBackend::VhostNet { wakeup, .. }) = (wakes, self.ports.backend) {
                    self.counters.wakeups += 1;
                    work.add("vhost_wakeup", wakeup);
                }
                self.ingress_work(&pkt, &mut work);
                let verdict = self.datapath.fast_path(now, &pkt, &self.l2, &mut work);
                if let Verdict::Forward(egress) = &verdict {
                    self.egress_work(&pkt, egress, &mut work);
                }
                let end = self.run_packet_work(&work, core, now);
                self.work = work;
                self.schedule(end, Event::CoreDone { core, pkt, verdict })
            }
            Job::Deliver(delivery) => {
                if let VmBackend::VhostNet { wakeup, notify, .. } = self.ports.backend {
                    if delivery.wakes {
                        self.counters.wakeups += 1;
                        work.add("vhost_wakeup", wakeup);
                    }
                    let len = delivery.bytes as f64;
                    work.add(self.ports.vm_use, self.ports.to_vm);
                    work.add_copy(
                        "copy",
                        self.ports.copy_per_byte * len,
                        delivery.bytes as u64,
                    );
                    if delivery.notifies {
                        self.counters.notifications += 1;
                        work.add("guest_notify", notify);
                    }
                }
                let end = self.run_packet_work(&work, core, now);
                self.work = work;
                // Nothing changes a delivery once started: it is recorded now, and the
                // worker has RX work until it ends.
                let i = usize::from(delivery.vm.0);
                if let Some(r) = self.rx_queued.get_mut(i) {
                    *r = r.saturating_sub(1);
                }
                if let Some(u) = self.rx_until.get_mut(i) {
                    *u = (*u).max(end);
                }
                self.egress_done(now, &delivery, Some(end));
                let Some(q) = self.cores.get_mut(usize::from(core)) else {
                    return Ok(());
                };
                q.busy = false;
                if end > now {
                    // The core is booked until `end`: the next job starts then.
                    self.start(now, core)
                } else {
                    q.retry_pending = true;
                    self.schedule(now, Event::CoreFree { core })
                }
            }
        }
    }

    /// Polled ports: `pkt` is taken from its queue by `core`'s current PMD iteration, or
    /// starts a new one, which polls every queue of the core (its cost added to `work`) and
    /// takes up to a burst from each of them: this packet and those waiting now.
    fn iteration_work(&mut self, core: u16, pkt: &Packet, work: &mut Work) {
        let VmBackend::Polled { burst, .. } = self.ports.backend else {
            return;
        };
        let iteration = self.iteration_cycles(core);
        let Some(q) = self.cores.get_mut(usize::from(core)) else {
            return;
        };
        let port = port_index(pkt.ingress);
        if q.round_left == 0 {
            // `by_port` still counts this packet.
            let taken: u32 = q.by_port.iter().map(|n| (*n).min(burst.max(1))).sum();
            q.round_left = taken.max(1);
            self.counters.busy_iterations += 1;
            work.add("pmd_poll", iteration);
        }
        q.round_left -= 1;
        if let Some(n) = q.by_port.get_mut(port) {
            *n = n.saturating_sub(1);
        }
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
                // vhost-net: the destination VM's worker delivers it (`Job::Deliver`).
                Egress::Vm(_) if matches!(self.ports.backend, VmBackend::VhostNet { .. }) => {}
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
            return self.conclude(now, pkt, verdict);
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

    /// Delivers or drops a decided packet at `now` (its core work is done); with vhost-net
    /// ports, queues its deliveries into VMs on their workers.
    fn conclude(&mut self, now: SimTime, pkt: Packet, verdict: Verdict) -> Result<(), SwitchError> {
        let egress = match verdict {
            Verdict::Forward(egress) => egress,
            Verdict::Drop(reason) => {
                self.run.record_drop(now, reason);
                return Ok(());
            }
            Verdict::Upcall => {
                // The slow path never upcalls again; count it rather than loop.
                self.run.record_drop(now, DropReason::SlowPathUpcall);
                return Ok(());
            }
        };
        let len = pkt.frame.len() as u64;
        let vhost = matches!(self.ports.backend, VmBackend::VhostNet { .. });
        let mut to_vms = Vec::new();
        let mut uplink = false;
        let mut delivered_at = None;
        for e in egress {
            let at = match e {
                Egress::Vm(vm) if vhost => {
                    to_vms.push(vm);
                    continue;
                }
                // The back end's copy into the VM's RX buffer was part of the core's work.
                Egress::Vm(_) => Some(now),
                Egress::Uplink => {
                    uplink = true;
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
        if !to_vms.is_empty() {
            // Only a packet with other egresses needs an entry to collect them.
            let pending = (to_vms.len() > 1 || uplink).then(|| {
                let id = self.next_delivery;
                self.next_delivery += 1;
                self.pending.insert(
                    id,
                    PendingDelivery {
                        offered_at: pkt.offered_at,
                        bytes: pkt.frame.len(),
                        remaining: to_vms.len(),
                        at: delivered_at,
                    },
                );
                id
            });
            for vm in to_vms {
                let d = Delivery {
                    offered_at: pkt.offered_at,
                    pending,
                    vm,
                    bytes: pkt.frame.len(),
                    wakes: false,
                    notifies: false,
                };
                self.queue_delivery(now, d)?;
            }
            return Ok(());
        }
        match delivered_at {
            Some(at) => self
                .run
                .record_delivery(pkt.offered_at, at, pkt.frame.len()),
            None => self.run.record_drop(now, DropReason::QueueFull),
        }
        Ok(())
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
        let mut wakes = false;
        let ingress = match p.from {
            Endpoint::Vm(vm) => {
                // vhost-net: a frame posted while its VM's worker has no work wakes it.
                wakes = matches!(self.ports.backend, VmBackend::VhostNet { .. })
                    && self.vm_tx.used(vm) == 0
                    && !self.rx_busy(vm, p.at);
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
                let core = self.vm_core(vm);
                self.enqueue(p.at, core, Job::Switch { pkt, wakes })
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
        // The receive queues the polling cores poll each iteration, all together.
        let rxqs: usize = (0..polling_cores)
            .map(|c| {
                let (v, n) = self.queues_polled(u16::try_from(c).unwrap_or(0));
                v + n
            })
            .sum();
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
        match self.ports.backend {
            VmBackend::VhostNet { .. } => {
                run.extra
                    .insert("vhost_wakeups".into(), self.counters.wakeups);
                run.extra
                    .insert("guest_notifications".into(), self.counters.notifications);
                run.extra
                    .insert("rx_queue_drops".into(), self.counters.rx_queue_drops);
            }
            VmBackend::Polled { .. } => {
                run.extra.insert("pmd_rxqs".into(), rxqs as u64);
                run.extra
                    .insert("pmd_busy_iterations".into(), self.counters.busy_iterations);
            }
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
