//! Open vSwitch's datapaths: a megaflow cache walked mask by mask, with a cache in front of
//! it, and upcalls to a slow path that classifies the packet against the OpenFlow rules and
//! installs a megaflow. Three variants, named for what they are:
//!
//! | switch | datapath | in front of the megaflows | ports | threads |
//! |---|---|---|---|---|
//! | `ovs-kernel` | `openvswitch.ko`: key extraction and actions `ovs_kernel.fast_path` | the per-CPU mask cache (`ovs_kernel.mask_cache_entries` per core, a probe `ovs_kernel.mask_cache_probe`): the mask that last matched the flow's hash is probed first | kernel (`[vnic]`: a vhost-net worker per VM, woken per batch, see [`crate::baselines::software`]; `[nic_driver]`) | softirq on every core; misses are upcalls over netlink to handler threads on whichever core frees first (`ovs.upcall_queue` bounds the socket, `upcall_lost`) |
//! | `ovs-dpdk` | `dpif-netdev` with DPDK: `ovs_dpdk.fast_path` | EMC (`ovs.emc_*`), then the SMC if `ovs_dpdk.smc_enabled` | vhost-user and DPDK PMD drivers (`ovs_dpdk.vhost_*`, `ovs_dpdk.phy_*`) | `ovs_dpdk.pmd_cores` PMD threads on dedicated cores, busy-polling (their idle time is reported as `pmd_idle_poll`); each iteration polls every receive queue of its PMD, one per VM and the NIC's (`ovs_dpdk.*_rxq_poll`, `pmd_poll`), taking up to `ovs_dpdk.rx_burst` from each; a miss is handled by the PMD that found it |
//! | `ovs-afxdp` | `dpif-netdev` with AF_XDP ports in non-PMD mode, as measured on this project's machines: `ovs.fast_path` | EMC | kernel | as the kernel datapath's (handler threads) |
//!
//! Every variant shares the megaflow walk (`ovs.dpcls_per_subtable` per mask probed), the
//! slow path (`ovs.upcall`, the classifier's node visits, `ovs.megaflow_install`) and the
//! revalidators (`ovs.revalidation_*`, `ovs.max_idle`, `ovs.flow_limit`).
//!
//! Per packet, on its switch core (see [`crate::baselines::software`] for the queues, ports
//! and cores shared with the bridge):
//!
//! | step | profile key | use |
//! |---|---|---|
//! | port I/O in and out | `vnic.*`, `nic_driver.*` (as the bridge) | `vnic_backend`, `copy`, `driver` |
//! | key extraction, action execution | `ovs.fast_path` | `ovs_fast_path` |
//! | EMC probe (hit or miss) | `ovs.emc_hit` | `emc` |
//! | on an EMC miss: megaflow subtables probed in order until a hit | `ovs.dpcls_per_subtable` x probed | `dpcls` |
//! | on a megaflow miss: upcall (queued, at most `ovs.upcall_queue`, else `upcall_lost`), on the core that frees first: its fixed handling, the classification (the split tree's node visits of the packet's lookup, priced as sNICh's agent's are), the datapath flow put | `ovs.upcall` + `classifier.per_visit` x visits + `ovs.megaflow_install` | `upcall` |
//! | every `ovs.revalidation_interval`: each megaflow revalidated, idle ones (`ovs.max_idle`) evicted | `ovs.revalidation_per_flow` | `revalidation` |
//!
//! The slow path is flow-setup's [`SplitTree`] over every rule in force: its
//! [`Classifier::lookup_megaflow`] gives the winning rule and the megaflow mask, the header
//! bits the decision depended on; the megaflow (mask, masked key, rule) goes into the
//! subtable of its mask when the upcall finishes, unless `ovs.flow_limit` megaflows are
//! installed (the packet is still forwarded; `flow_limit_hits` counts it) or an earlier
//! upcall of the same megaflow installed it already (`duplicate_upcalls`). An EMC miss that
//! hits a megaflow inserts the flow into the EMC with probability
//! 1 / `ovs.emc_insert_inverse_probability` (a seeded stream), replacing the slot's entry.
//!
//! Actions, applied per packet from the megaflow's rule: `output:N` (skipped when N is the
//! input port, as OVS does), `normal` (the bridge's MAC forwarding), `flood`, `in_port`;
//! `controller` goes nowhere (no controller: `controller_actions` counts it); VLAN rewrites
//! are not modelled. No matching rule: `no_match` (OpenFlow 1.3 table-miss drop); no actions:
//! `rule_drop`; actions that output nothing: `no_egress`.

use std::collections::HashMap;

use flow_setup::classifier::{from_rules, Classifier, FlowMask, SplitTree};
use flow_setup::rule::{Action, Point, Rule, RuleId};
use nic_abi::time::SimTime;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::baselines::l2::{Egress, L2Decision, L2Fabric};
use crate::baselines::software::{
    software_switch_under_test, Datapath, Packet, PortCosts, SoftwareSwitch, Threads, Verdict, Work,
};
use crate::host_cpu::HostCpu;
use crate::profile::{whole_cycles, OvsCosts, OvsDpdkCosts, OvsKernelCosts, Profile};
use crate::switch::{
    DropReason, Endpoint, SwitchContext, SwitchError, SwitchRun, Topology, UPLINK_PORT,
};

/// The name of the userspace datapath with AF_XDP ports (the measured configuration).
pub const NAME: &str = "ovs-afxdp";
/// The name of the kernel datapath.
pub const KERNEL_NAME: &str = "ovs-kernel";
/// The name of the userspace datapath with DPDK ports and PMD threads.
pub const DPDK_NAME: &str = "ovs-dpdk";

/// Which Open vSwitch datapath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvsVariant {
    /// `ovs-kernel`.
    Kernel,
    /// `ovs-dpdk`.
    Dpdk,
    /// `ovs-afxdp`.
    Afxdp,
}

impl OvsVariant {
    /// The switch name reports print.
    pub fn name(self) -> &'static str {
        match self {
            OvsVariant::Kernel => KERNEL_NAME,
            OvsVariant::Dpdk => DPDK_NAME,
            OvsVariant::Afxdp => NAME,
        }
    }
}

/// A packet's point with every bit outside `mask` cleared.
fn masked(p: &Point, mask: &FlowMask) -> Point {
    Point(core::array::from_fn(|i| p.0[i] & mask.0[i]))
}

/// A deterministic hash of a point (FNV-1a over its words), for the EMC's slot.
fn point_hash(p: &Point) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in p.0 {
        for w in [v >> 64, v & u128::from(u64::MAX)] {
            h = (h ^ u64::try_from(w).unwrap_or(0)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// An installed megaflow.
#[derive(Debug, Clone)]
struct Megaflow {
    mask: FlowMask,
    key: Point,
    rule: Option<RuleId>,
    last_used: SimTime,
}

/// One subtable: the megaflows of one mask.
#[derive(Debug, Clone)]
struct Subtable {
    mask: FlowMask,
    flows: HashMap<Point, usize>,
}

/// What an upcall installs when it finishes.
#[derive(Debug, Clone)]
pub struct MegaflowInstall {
    mask: FlowMask,
    key: Point,
    rule: Option<RuleId>,
}

/// An EMC entry: the exact point, the megaflow slot and that slot's generation.
type EmcEntry = (Point, usize, u64);

/// An SMC entry: the point's hash (OVS keeps a 16-bit signature and checks the megaflow),
/// the megaflow slot and that slot's generation.
type SmcEntry = (u64, usize, u64);

/// Open vSwitch's caches, slow path and counters.
#[derive(Debug)]
pub struct OvsDatapath {
    variant: OvsVariant,
    costs: OvsCosts,
    kernel: OvsKernelCosts,
    dpdk: OvsDpdkCosts,
    /// The kernel's mask caches (per core, side by side): a flow hash's slot holds the
    /// subtable that matched it last.
    mask_cache: Vec<Option<usize>>,
    smc: Vec<Option<SmcEntry>>,
    /// `classifier.per_visit`, cycles.
    per_visit: f64,
    rules: Vec<Rule>,
    classifier: SplitTree,
    vms: usize,
    subtables: Vec<Subtable>,
    /// Megaflow slots (`None`: free) and each slot's generation, so an EMC entry pointing
    /// at a reused slot is recognised as stale.
    megaflows: Vec<Option<Megaflow>>,
    generations: Vec<u64>,
    free: Vec<usize>,
    live: u64,
    emc: Vec<Option<EmcEntry>>,
    rng: ChaCha8Rng,
    next_revalidation: Option<SimTime>,
    counters: OvsCounters,
}

#[derive(Debug, Default, Clone)]
struct OvsCounters {
    installed: u64,
    peak: u64,
    emc_hits: u64,
    megaflow_hits: u64,
    upcalls: u64,
    duplicate_upcalls: u64,
    flow_limit_hits: u64,
    evicted: u64,
    revalidations: u64,
    controller_actions: u64,
    subtables_peak: u64,
    mask_cache_hits: u64,
    smc_hits: u64,
    subtables_probed: u64,
}

impl OvsDatapath {
    /// The `variant` datapath for `rules` on `topology` with `profile`'s costs on `cores`
    /// cores, its EMC insertions seeded by `seed`.
    pub fn new(
        variant: OvsVariant,
        rules: &[Rule],
        topology: &Topology,
        profile: &Profile,
        cores: u16,
        seed: u64,
    ) -> OvsDatapath {
        let costs = profile.ovs.clone();
        let kernel = profile.ovs_kernel.clone();
        let dpdk = profile.ovs_dpdk.clone();
        let emc = match variant {
            OvsVariant::Kernel => 0,
            OvsVariant::Dpdk | OvsVariant::Afxdp => costs.emc_entries as usize,
        };
        let mask_cache = match variant {
            OvsVariant::Kernel => kernel.mask_cache_entries as usize * usize::from(cores.max(1)),
            OvsVariant::Dpdk | OvsVariant::Afxdp => 0,
        };
        let smc = if variant == OvsVariant::Dpdk && dpdk.smc_enabled {
            dpdk.smc_entries as usize
        } else {
            0
        };
        OvsDatapath {
            variant,
            kernel,
            dpdk,
            mask_cache: vec![None; mask_cache],
            smc: vec![None; smc],
            emc: vec![None; emc],
            costs,
            per_visit: profile.classifier.per_visit,
            rules: rules.to_vec(),
            classifier: from_rules(rules),
            vms: topology.vms.len(),
            subtables: Vec::new(),
            megaflows: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6f76_735f_656d_6300),
            next_revalidation: None,
            counters: OvsCounters::default(),
        }
    }

    /// Megaflows installed now.
    pub fn megaflows(&self) -> u64 {
        self.live
    }

    /// The EMC slot of a point whose hash is `h`.
    fn emc_slot(&self, h: u64) -> usize {
        usize::try_from(h % self.emc.len().max(1) as u64).unwrap_or(0)
    }

    /// The megaflow slot of an SMC hit for `p` (hash `h`), if any: the entry's megaflow is
    /// still there and matches the packet.
    fn smc_lookup(&self, p: &Point, h: u64) -> Option<usize> {
        let i = usize::try_from(h % self.smc.len().max(1) as u64).ok()?;
        let (hash, slot, generation) = self.smc.get(i)?.as_ref()?;
        let mf = self.megaflows.get(*slot)?.as_ref()?;
        (*hash == h
            && self.generations.get(*slot) == Some(generation)
            && masked(p, &mf.mask) == mf.key)
            .then_some(*slot)
    }

    /// The megaflow slot of an EMC hit for `p` (hash `h`), if any.
    fn emc_lookup(&self, p: &Point, h: u64) -> Option<usize> {
        let (key, slot, generation) = self.emc.get(self.emc_slot(h))?.as_ref()?;
        (key == p
            && self.generations.get(*slot) == Some(generation)
            && self.megaflows.get(*slot).is_some_and(Option::is_some))
        .then_some(*slot)
    }

    /// The verdict of rule `rule`'s actions for `pkt`.
    fn verdict(&mut self, rule: Option<RuleId>, pkt: &Packet, l2: &L2Fabric) -> Verdict {
        let Some(rule) = rule.and_then(|id| self.rules.get(usize::try_from(id.0).ok()?)) else {
            return Verdict::Drop(DropReason::NoMatch);
        };
        if rule.actions.is_empty() {
            return Verdict::Drop(DropReason::RuleDrop);
        }
        let in_port = Topology::ingress_port(pkt.from);
        let ingress_egress = match pkt.from {
            Endpoint::Vm(vm) => Egress::Vm(vm),
            Endpoint::External(_) => Egress::Uplink,
        };
        let mut out = Vec::new();
        let mut l2_reason = None;
        for a in &rule.actions {
            match a {
                Action::Output(p) if *p == in_port => {}
                Action::Output(p) if *p == UPLINK_PORT => out.push(Egress::Uplink),
                Action::Output(p) => {
                    if let Some(i) = p.0.checked_sub(crate::switch::FIRST_VM_PORT) {
                        if usize::from(i) < self.vms {
                            out.push(Egress::Vm(crate::switch::VmIndex(i)));
                        }
                    }
                }
                Action::Normal => match l2.forward(pkt.from, &pkt.key) {
                    L2Decision::Forward(e) => out.extend(e),
                    L2Decision::Drop(r) => l2_reason = Some(r),
                },
                Action::Flood => out.extend(l2.all_ports_except(pkt.from)),
                Action::InPort => out.push(ingress_egress),
                Action::Controller { .. } => self.counters.controller_actions += 1,
                Action::ModVlanVid(_) | Action::StripVlan => {}
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            Verdict::Drop(l2_reason.unwrap_or(DropReason::NoEgress))
        } else {
            Verdict::Forward(out)
        }
    }

    /// The verdict of a cache hit on megaflow `slot`, which was used at `now`.
    fn hit(&mut self, now: SimTime, slot: usize, pkt: &Packet, l2: &L2Fabric) -> Verdict {
        let rule = self.megaflows.get_mut(slot).and_then(|m| {
            m.as_mut().map(|mf| {
                mf.last_used = now;
                mf.rule
            })
        });
        self.verdict(rule.flatten(), pkt, l2)
    }

    fn evict(&mut self, slot: usize) {
        let Some(mf) = self.megaflows.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if let Some(i) = self.subtables.iter().position(|s| s.mask == mf.mask) {
            self.subtables[i].flows.remove(&mf.key);
            if self.subtables[i].flows.is_empty() {
                self.subtables.remove(i);
            }
        }
        if let Some(g) = self.generations.get_mut(slot) {
            *g += 1;
        }
        self.free.push(slot);
        self.live = self.live.saturating_sub(1);
        self.counters.evicted += 1;
    }
}

impl Datapath for OvsDatapath {
    type Install = MegaflowInstall;

    fn fast_path(&mut self, now: SimTime, pkt: &Packet, l2: &L2Fabric, work: &mut Work) -> Verdict {
        let hash = point_hash(&pkt.point);
        let mut cached_subtable = None;
        match self.variant {
            OvsVariant::Kernel => {
                work.add("ovs_fast_path", self.kernel.fast_path);
                work.add("mask_cache", self.kernel.mask_cache_probe);
                let n = self.mask_cache.len().max(1) as u64;
                let i = usize::try_from(hash % n).unwrap_or(0);
                cached_subtable = self.mask_cache.get(i).copied().flatten();
            }
            OvsVariant::Dpdk | OvsVariant::Afxdp => {
                let fast = match self.variant {
                    OvsVariant::Dpdk => self.dpdk.fast_path,
                    _ => self.costs.fast_path,
                };
                work.add("ovs_fast_path", fast);
                work.add("emc", self.costs.emc_hit);
                if let Some(slot) = self.emc_lookup(&pkt.point, hash) {
                    self.counters.emc_hits += 1;
                    return self.hit(now, slot, pkt, l2);
                }
                if !self.smc.is_empty() {
                    work.add("smc", self.dpdk.smc_probe);
                    if let Some(slot) = self.smc_lookup(&pkt.point, hash) {
                        self.counters.smc_hits += 1;
                        return self.hit(now, slot, pkt, l2);
                    }
                }
            }
        }
        // The kernel probes the mask its cache names first.
        if let Some(i) = cached_subtable {
            if let Some(st) = self.subtables.get(i) {
                work.add("dpcls", self.costs.dpcls_per_subtable);
                self.counters.subtables_probed += 1;
                if let Some(slot) = st.flows.get(&masked(&pkt.point, &st.mask)).copied() {
                    self.counters.mask_cache_hits += 1;
                    self.counters.megaflow_hits += 1;
                    return self.hit(now, slot, pkt, l2);
                }
            }
        }
        let mut found = None;
        let mut probed = 0u64;
        for (i, st) in self.subtables.iter().enumerate() {
            probed += 1;
            if let Some(slot) = st.flows.get(&masked(&pkt.point, &st.mask)) {
                found = Some((i, *slot));
                break;
            }
        }
        self.counters.subtables_probed += probed;
        work.add("dpcls", self.costs.dpcls_per_subtable * probed as f64);
        let Some((subtable, slot)) = found else {
            return Verdict::Upcall;
        };
        self.counters.megaflow_hits += 1;
        let generation = self.generations.get(slot).copied().unwrap_or(0);
        match self.variant {
            OvsVariant::Kernel => {
                let n = self.mask_cache.len().max(1) as u64;
                let i = usize::try_from(hash % n).unwrap_or(0);
                if let Some(e) = self.mask_cache.get_mut(i) {
                    *e = Some(subtable);
                }
            }
            OvsVariant::Dpdk | OvsVariant::Afxdp => {
                let inv = self.costs.emc_insert_inverse_probability.max(1);
                if self.rng.random_range(0..inv) == 0 {
                    let e = self.emc_slot(hash);
                    if let Some(entry) = self.emc.get_mut(e) {
                        *entry = Some((pkt.point, slot, generation));
                    }
                }
                if !self.smc.is_empty() {
                    let i = usize::try_from(hash % self.smc.len() as u64).unwrap_or(0);
                    if let Some(entry) = self.smc.get_mut(i) {
                        *entry = Some((hash, slot, generation));
                    }
                }
            }
        }
        self.hit(now, slot, pkt, l2)
    }

    fn slow_path(
        &mut self,
        _now: SimTime,
        pkt: &Packet,
        l2: &L2Fabric,
        work: &mut Work,
    ) -> (Verdict, Option<MegaflowInstall>) {
        self.counters.upcalls += 1;
        let (_, cost) = self.classifier.lookup_point_counted(&pkt.point);
        let classify = self.per_visit * cost.visits() as f64;
        work.add(
            "upcall",
            self.costs.upcall + classify + self.costs.megaflow_install,
        );
        let lookup = self.classifier.lookup_megaflow(&pkt.point);
        let verdict = self.verdict(lookup.rule, pkt, l2);
        let install = if self.live >= self.costs.flow_limit {
            self.counters.flow_limit_hits += 1;
            None
        } else {
            Some(MegaflowInstall {
                mask: lookup.megaflow,
                key: masked(&pkt.point, &lookup.megaflow),
                rule: lookup.rule,
            })
        };
        (verdict, install)
    }

    fn install(&mut self, now: SimTime, i: MegaflowInstall) {
        let st = match self.subtables.iter().position(|s| s.mask == i.mask) {
            Some(st) => st,
            None => {
                self.subtables.push(Subtable {
                    mask: i.mask,
                    flows: HashMap::new(),
                });
                self.subtables.len() - 1
            }
        };
        if self.subtables[st].flows.contains_key(&i.key) {
            self.counters.duplicate_upcalls += 1;
            return;
        }
        if self.live >= self.costs.flow_limit {
            self.counters.flow_limit_hits += 1;
            return;
        }
        let mf = Megaflow {
            mask: i.mask,
            key: i.key,
            rule: i.rule,
            last_used: now,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.megaflows[s] = Some(mf);
                s
            }
            None => {
                self.megaflows.push(Some(mf));
                self.generations.push(0);
                self.megaflows.len() - 1
            }
        };
        self.subtables[st].flows.insert(i.key, slot);
        self.live += 1;
        self.counters.installed += 1;
        self.counters.peak = self.counters.peak.max(self.live);
        self.counters.subtables_peak = self
            .counters
            .subtables_peak
            .max(self.subtables.len() as u64);
    }

    fn maintain(&mut self, now: SimTime, cpu: &mut HostCpu) {
        let interval = self.costs.revalidation_interval;
        let next = *self.next_revalidation.get_or_insert(now + interval);
        if now < next {
            return;
        }
        let mut due = next;
        while due <= now {
            self.counters.revalidations += 1;
            if self.live > 0 {
                let cycles = whole_cycles(self.costs.revalidation_per_flow * self.live as f64);
                cpu.run_anywhere(due, cycles, "revalidation");
            }
            let idle: Vec<usize> = self
                .megaflows
                .iter()
                .enumerate()
                .filter_map(|(s, m)| m.as_ref().map(|m| (s, m.last_used)))
                .filter(|(_, used)| due.saturating_since(*used) > self.costs.max_idle)
                .map(|(s, _)| s)
                .collect();
            for s in idle {
                self.evict(s);
            }
            due += interval;
        }
        self.next_revalidation = Some(due);
    }

    fn report(&self, run: &mut SwitchRun) {
        let c = &self.counters;
        run.flow_setups = c.installed;
        run.table_occupancy_peak = c.peak;
        for (k, v) in [
            ("emc_hits", c.emc_hits),
            ("megaflow_hits", c.megaflow_hits),
            ("upcalls", c.upcalls),
            ("duplicate_upcalls", c.duplicate_upcalls),
            ("flow_limit_hits", c.flow_limit_hits),
            ("megaflows_evicted", c.evicted),
            ("revalidations", c.revalidations),
            ("controller_actions", c.controller_actions),
            ("subtables_peak", c.subtables_peak),
            ("subtables_probed", c.subtables_probed),
        ] {
            run.extra.insert(k.into(), v);
        }
        let own: &[(&str, u64)] = match self.variant {
            OvsVariant::Kernel => &[("mask_cache_hits", c.mask_cache_hits)],
            OvsVariant::Dpdk => &[("smc_hits", c.smc_hits)],
            OvsVariant::Afxdp => &[],
        };
        for (k, v) in own.iter().copied() {
            run.extra.insert(k.into(), v);
        }
    }
}

/// An Open vSwitch baseline.
#[derive(Debug)]
pub struct OpenVswitch {
    inner: SoftwareSwitch<OvsDatapath>,
}

impl OpenVswitch {
    /// The AF_XDP variant (`ovs-afxdp`) for `ctx` with the context's profile (or the
    /// built-in one).
    pub fn new(ctx: &SwitchContext) -> Result<OpenVswitch, SwitchError> {
        OpenVswitch::variant(ctx, OvsVariant::Afxdp)
    }

    /// The `variant` datapath for `ctx` with the context's profile.
    pub fn variant(ctx: &SwitchContext, variant: OvsVariant) -> Result<OpenVswitch, SwitchError> {
        OpenVswitch::with_variant_profile(ctx, variant, ctx.profile_for(variant.name())?)
    }

    /// The AF_XDP variant for `ctx` with `profile`.
    pub fn with_profile(ctx: &SwitchContext, profile: Profile) -> Result<OpenVswitch, SwitchError> {
        OpenVswitch::with_variant_profile(ctx, OvsVariant::Afxdp, profile)
    }

    /// The `variant` datapath for `ctx` with `profile`.
    pub fn with_variant_profile(
        ctx: &SwitchContext,
        variant: OvsVariant,
        profile: Profile,
    ) -> Result<OpenVswitch, SwitchError> {
        let datapath = OvsDatapath::new(
            variant,
            &ctx.rules,
            &ctx.topology,
            &profile,
            ctx.host.cores,
            ctx.seed,
        );
        let (ports, threads) = match variant {
            OvsVariant::Kernel | OvsVariant::Afxdp => {
                (PortCosts::kernel(&profile), Threads::default())
            }
            OvsVariant::Dpdk => (
                PortCosts::dpdk(&profile),
                Threads {
                    datapath_cores: profile.ovs_dpdk.pmd_cores,
                    busy_poll: true,
                    inline_upcalls: true,
                },
            ),
        };
        let inner = SoftwareSwitch::new(variant.name(), ctx, profile, datapath)?
            .with_ports(ports)
            .with_threads(threads);
        Ok(OpenVswitch { inner })
    }
}

software_switch_under_test!(OpenVswitch);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::{context, offer_stream, udp_frame, udp_frame_ports};
    use crate::switch::{OfferedPacket, SwitchUnderTest, VmIndex};
    use flow_setup::rule::MatchBuilder;
    use nic_abi::time::SimDuration;

    fn normal_rule() -> Rule {
        Rule::new(
            0,
            MatchBuilder::new().build().expect("any"),
            vec![Action::Normal],
        )
    }

    fn ovs(ctx: &SwitchContext) -> Box<OpenVswitch> {
        Box::new(OpenVswitch::new(ctx).expect("ovs"))
    }

    /// A 60-byte UDP frame of `flow` from VM 0 to VM 1 (what [`offer`] sends).
    fn vm0_to_vm1(t: &Topology, flow: u16) -> bytes::Bytes {
        udp_frame(
            t,
            Endpoint::Vm(VmIndex(0)),
            Endpoint::Vm(VmIndex(1)),
            flow,
            60,
        )
    }

    /// Offers `frame` from VM 0 at `at_ns`.
    fn offer(s: &mut OpenVswitch, at_ns: u64, frame: bytes::Bytes) {
        s.offer(OfferedPacket {
            at: SimTime(at_ns * 1_000),
            from: Endpoint::Vm(VmIndex(0)),
            frame,
        })
        .expect("offer");
    }

    #[test]
    fn first_packet_upcalls_then_the_caches_hit() {
        let ctx = context(2, 0, 1, vec![normal_rule()]);
        let mut s = ovs(&ctx);
        let t = &ctx.topology;
        // 1,500 packets of 3 flows, 10 us apart (well below capacity).
        for k in 0..1_500u64 {
            let flow = u16::try_from(k % 3).expect("flow");
            let f = vm0_to_vm1(t, flow);
            offer(&mut s, k * 10_000, f);
        }
        let run = s.finish().expect("finish");
        assert_eq!(run.ledger.delivered, 1_500);
        // One rule matching everything: one megaflow with an empty mask for all three flows.
        assert_eq!(run.flow_setups, 1);
        assert_eq!(run.table_occupancy_peak, 1);
        assert_eq!(run.extra["upcalls"], 1);
        assert_eq!(run.extra["megaflow_hits"] + run.extra["emc_hits"], 1_499);
        // A flow enters the EMC after about 100 megaflow hits (1 in 100 inserts).
        assert!(
            run.extra["emc_hits"] > 900,
            "the EMC takes over: {:?}",
            run.extra
        );
        assert!(run.extra["megaflow_hits"] > 30, "{:?}", run.extra);
        assert!(run.host_cpu_cycles["upcall"] > 0);
    }

    #[test]
    fn drop_rules_drop_and_megaflows_follow_the_rules() {
        let drop53 = Rule::new(
            10,
            MatchBuilder::new().udp().tp_dst(53).build().expect("m"),
            Vec::new(),
        );
        let ctx = context(2, 0, 1, vec![drop53, normal_rule()]);
        let mut s = ovs(&ctx);
        let t = &ctx.topology;
        let (a, b) = (Endpoint::Vm(VmIndex(0)), Endpoint::Vm(VmIndex(1)));
        for k in 0..40u64 {
            let dport = if k % 2 == 0 { 53 } else { 80 };
            offer(
                &mut s,
                k * 10_000,
                udp_frame_ports(t, a, b, 1000, dport, 60),
            );
        }
        let run = s.finish().expect("finish");
        assert_eq!(run.ledger.dropped.get(&DropReason::RuleDrop), Some(&20));
        assert_eq!(run.ledger.delivered, 20);
        assert_eq!(
            run.flow_setups, 2,
            "one drop megaflow, one forward megaflow"
        );
    }

    #[test]
    fn no_rules_means_table_miss_drops() {
        let ctx = context(2, 0, 1, Vec::new());
        let mut s = ovs(&ctx);
        let f = vm0_to_vm1(&ctx.topology, 0);
        offer(&mut s, 0, f.clone());
        offer(&mut s, 100_000, f);
        let run = s.finish().expect("finish");
        assert_eq!(run.ledger.dropped.get(&DropReason::NoMatch), Some(&2));
        assert_eq!(run.flow_setups, 1, "the drop is cached too");
    }

    /// `n` rules, one per UDP source port from 1024, each `NORMAL`: one megaflow per flow.
    fn rule_per_source_port(n: u16) -> Vec<Rule> {
        (0..n)
            .map(|i| {
                let m = MatchBuilder::new()
                    .udp()
                    .tp_src(1024 + i)
                    .build()
                    .expect("m");
                Rule::new(10, m, vec![Action::Normal])
            })
            .collect()
    }

    #[test]
    fn flow_limit_stops_installs_but_not_forwarding() {
        let mut ctx = context(2, 0, 1, Vec::new());
        // A rule per source port makes one megaflow per flow.
        ctx.rules = rule_per_source_port(20);
        let mut profile = Profile::builtin().expect("profile");
        profile.ovs.flow_limit = 5;
        let mut s = OpenVswitch::with_profile(&ctx, profile).expect("ovs");
        for k in 0..20u64 {
            let flow = u16::try_from(k).expect("k");
            let f = vm0_to_vm1(&ctx.topology, flow);
            offer(&mut s, k * 100_000, f);
        }
        let run = Box::new(s).finish().expect("finish");
        assert_eq!(run.ledger.delivered, 20);
        assert_eq!(run.flow_setups, 5);
        assert_eq!(run.extra["flow_limit_hits"], 15);
    }

    #[test]
    fn idle_megaflows_are_revalidated_away() {
        let mut profile = Profile::builtin().expect("profile");
        profile.ovs.revalidation_interval = SimDuration::from_ms(1);
        profile.ovs.max_idle = SimDuration::from_ms(2);
        let ctx = context(2, 0, 1, vec![normal_rule()]);
        let mut s = OpenVswitch::with_profile(&ctx, profile).expect("ovs");
        let f = vm0_to_vm1(&ctx.topology, 0);
        offer(&mut s, 0, f.clone());
        // 10 ms later the megaflow has been idle 10 ms: evicted, the next packet upcalls again.
        offer(&mut s, 10_000_000, f);
        let run = Box::new(s).finish().expect("finish");
        assert_eq!(run.flow_setups, 2);
        assert_eq!(run.extra["megaflows_evicted"], 1);
        assert_eq!(run.extra["upcalls"], 2);
        assert!(run
            .host_cpu_cycles
            .get("revalidation")
            .is_some_and(|c| *c > 0));
    }

    #[test]
    fn saturates_at_one_core_over_the_per_packet_cost() {
        let ctx = context(2, 0, 1, vec![normal_rule()]);
        let mut s = ovs(&ctx);
        let n = 3_000;
        for p in offer_stream(&ctx.topology, n, SimDuration::from_ns(1_000), 1) {
            s.offer(p).expect("offer");
        }
        let run = s.finish().expect("finish");
        let l = &run.ledger;
        assert!(
            l.dropped
                .get(&DropReason::QueueFull)
                .is_some_and(|d| *d > 1_000),
            "{l:?}"
        );
        assert_eq!(l.delivered + l.dropped_total(), n);
        // 4,039 ns per packet (the fitted AF_XDP figure) plus one 30 us upcall at the start.
        let pps = l.delivered as f64 / run.span().as_secs_f64();
        let expected = 1e9 / 4_039.0;
        assert!((pps / expected - 1.0).abs() < 0.03, "{pps} vs {expected}");
    }

    #[test]
    fn upcall_queue_overflow_is_counted_as_lost() {
        let mut profile = Profile::builtin().expect("profile");
        profile.ovs.upcall_queue = 2;
        // Every packet a new megaflow (a rule per source port), from 4 VMs on 4 cores: the
        // fast paths make upcalls faster than the 30 us slow path drains them.
        let mut ctx = context(4, 0, 4, Vec::new());
        ctx.rules = rule_per_source_port(400);
        let mut s = OpenVswitch::with_profile(&ctx, profile).expect("ovs");
        for k in 0..400u64 {
            let flow = u16::try_from(k).expect("k");
            let vm = u16::try_from(k % 4).expect("vm");
            let (from, to) = (
                Endpoint::Vm(VmIndex(vm)),
                Endpoint::Vm(VmIndex((vm + 1) % 4)),
            );
            s.offer(OfferedPacket {
                at: SimTime(k * 1_000_000),
                from,
                frame: udp_frame(&ctx.topology, from, to, flow, 60),
            })
            .expect("offer");
        }
        let run = Box::new(s).finish().expect("finish");
        let lost = run
            .ledger
            .dropped
            .get(&DropReason::UpcallLost)
            .copied()
            .unwrap_or(0);
        assert!(lost > 0, "{:?}", run.ledger);
        assert_eq!(run.ledger.delivered + run.ledger.dropped_total(), 400);
        assert_eq!(
            run.flow_setups + lost,
            400,
            "every upcall not lost installs"
        );
    }

    /// 3 flows of one megaflow from VM 0 to VM 1, 10 us apart, through `variant`.
    fn three_flows(variant: OvsVariant, cores: u16, profile: Profile) -> SwitchRun {
        let ctx = context(2, 0, cores, vec![normal_rule()]);
        let mut s = OpenVswitch::with_variant_profile(&ctx, variant, profile).expect("ovs");
        for k in 0..300u64 {
            let flow = u16::try_from(k % 3).expect("flow");
            let f = vm0_to_vm1(&ctx.topology, flow);
            offer(&mut s, k * 10_000, f);
        }
        Box::new(s).finish().expect("finish")
    }

    #[test]
    fn the_kernel_datapath_has_no_emc_and_probes_the_cached_mask_first() {
        let run = three_flows(OvsVariant::Kernel, 1, Profile::builtin().expect("p"));
        assert_eq!(run.switch, "ovs-kernel");
        assert_eq!(run.ledger.delivered, 300);
        assert_eq!(run.extra["emc_hits"], 0, "no EMC in the kernel");
        assert!(!run.host_cpu_cycles.contains_key("emc"));
        // After the upcall, the first packet of each flow walks the masks and fills its
        // cache slot; the rest hit the cached mask.
        assert_eq!(run.extra["upcalls"], 1);
        assert!(
            run.extra["mask_cache_hits"] >= 300 - 1 - 3,
            "{:?}",
            run.extra
        );
        assert!(run.host_cpu_cycles["mask_cache"] > 0);
        assert!(run.host_cpu_cycles["vnic_backend"] > 0, "kernel ports");
    }

    #[test]
    fn dpdk_pmd_cores_poll_the_whole_run_and_the_report_shows_it() {
        let profile = Profile::builtin().expect("p");
        let run = three_flows(OvsVariant::Dpdk, 2, profile.clone());
        assert_eq!(run.switch, "ovs-dpdk");
        assert_eq!(run.ledger.delivered, 300);
        assert_eq!(run.extra["pmd_cores"], 1);
        // Ports are vhost-user's, not the kernel's.
        assert!(run.host_cpu_cycles["vhost_user"] > 0);
        assert!(!run.host_cpu_cycles.contains_key("vnic_backend"));
        // One PMD core is spent for the whole run: its work plus its idle polling is the
        // run's length in cycles (the revalidators, on other cores, are not in it).
        let span_cycles = run.last_event.as_ps() * 2_600 / 1_000_000;
        let pmd: u64 = run
            .host_cpu_cycles
            .iter()
            .filter(|(k, _)| k.as_str() != "revalidation")
            .map(|(_, c)| *c)
            .sum();
        assert!(
            pmd.abs_diff(span_cycles) <= 10,
            "{pmd} cycles booked on the PMD over a run of {span_cycles}"
        );
        assert!(
            run.host_cpu_cycles["pmd_idle_poll"] > pmd / 2,
            "mostly idle at 100 kpps"
        );
        // The miss was handled on the PMD itself: no upcall queue, nothing lost.
        assert_eq!(run.extra["upcalls"], 1);
    }

    /// `n` packets from VM 0 to VM 1 through `ovs-dpdk` on one PMD with `vms` VMs, one every
    /// `interval_ns` (0: all at once).
    fn dpdk_stream(vms: u16, n: u64, interval_ns: u64) -> SwitchRun {
        let ctx = context(vms, 0, 1, vec![normal_rule()]);
        let mut s = OpenVswitch::variant(&ctx, OvsVariant::Dpdk).expect("ovs");
        for p in offer_stream(&ctx.topology, n, SimDuration::from_ns(interval_ns), 1) {
            s.offer(p).expect("offer");
        }
        Box::new(s).finish().expect("finish")
    }

    #[test]
    fn each_pmd_iteration_polls_every_queue_so_more_vms_cost_more() {
        let p = Profile::builtin().expect("p");
        let iteration =
            |vms: u16| f64::from(vms) * p.ovs_dpdk.vhost_rxq_poll + p.ovs_dpdk.phy_rxq_poll;
        // 200 packets 10 us apart: each is found by an iteration of its own, which polled
        // every VM's queue and the NIC's (but the two behind the first packet's upcall, 30 us
        // on the PMD, are found by one).
        for vms in [2u16, 64] {
            let r = dpdk_stream(vms, 200, 10_000);
            assert_eq!(r.ledger.delivered, 200);
            assert_eq!(r.extra["pmd_rxqs"], u64::from(vms) + 1);
            let iterations = r.extra["pmd_busy_iterations"];
            assert_eq!(iterations, 198);
            let per_iteration = r.host_cpu_cycles["pmd_poll"] as f64 / iterations as f64;
            assert!(
                (per_iteration - iteration(vms)).abs() < 1.0,
                "{vms} VMs: {per_iteration} vs {}",
                iteration(vms)
            );
        }
        // Saturated by one VM (10 Mpps offered): with 64 VMs each iteration still polls the
        // 63 empty queues, and takes at most a burst of 32 from VM 0's, so the PMD carries
        // less.
        let mpps = |r: &SwitchRun| r.ledger.delivered as f64 / r.span().as_secs_f64() / 1e6;
        let (two, many) = (dpdk_stream(2, 20_000, 100), dpdk_stream(64, 20_000, 100));
        assert!(
            mpps(&many) < 0.85 * mpps(&two),
            "{} vs {} Mpps",
            mpps(&many),
            mpps(&two)
        );
    }

    #[test]
    fn a_pmd_iteration_takes_a_burst_from_each_queue() {
        // 40 packets at once from VM 0: the first is found by an iteration alone (the PMD was
        // idle), the next iteration takes a burst of 32, the last the remaining 7.
        let r = dpdk_stream(2, 40, 0);
        assert_eq!(r.ledger.delivered, 40);
        assert_eq!(r.extra["pmd_busy_iterations"], 3);
    }

    #[test]
    fn the_smc_serves_emc_misses_when_enabled() {
        let mut profile = Profile::builtin().expect("p");
        let off = three_flows(OvsVariant::Dpdk, 1, profile.clone());
        assert_eq!(off.extra["smc_hits"], 0);
        profile.ovs_dpdk.smc_enabled = true;
        let on = three_flows(OvsVariant::Dpdk, 1, profile);
        assert!(on.extra["smc_hits"] > 200, "{:?}", on.extra);
        assert!(
            on.extra["subtables_probed"] < off.extra["subtables_probed"],
            "{:?} vs {:?}",
            on.extra,
            off.extra
        );
    }
}
