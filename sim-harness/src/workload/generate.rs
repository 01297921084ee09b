//! Generation: a seeded stream of flows. Each flow is a sender and a receiver (two VMs for
//! inter-VM traffic, a VM and an external host for VM-to-wire and wire-to-VM), a protocol and
//! a pair of ports (or, with `workload.header_trace`, the next header of a ClassBench trace:
//! its addresses, protocol and ports, so that the traffic matches the trace's rules at the
//! depths the trace generator chose). Packets leave at the workload's rate; each packet picks its traffic kind
//! by the mix's shares and, within that kind, one of the active flows by Zipf popularity (the
//! newest flow is the most popular, so locality is temporal, as in real traces). New flows
//! arrive as a Poisson process (`flows.new_per_second`); a new flow sends its first packet
//! next, so new flows per second is the flow-setup load of every switch. A flow ends after
//! `flows.length_packets` packets, or when `flows.max_active` newer flows push it out.
//!
//! [`PacketStream`] yields the packets of a generated or replayed workload in time order,
//! spaced by the workload's rate (or a capture's own timestamps).

use std::collections::VecDeque;

use bytes::Bytes;
use nic_abi::key::MacAddr;
use nic_abi::time::SimTime;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::detmath;
use super::frame::{build_ipv4_frame, Transport};
use super::replay::Replay;
use super::spec::{
    Generated, Protocol, Rate, ReplayTiming, SizeDistribution, TrafficKind, Workload,
};
use super::{ext_host, vm, FCS_BYTES, WIRE_OVERHEAD_BYTES};
use crate::scenario::Limit;
use crate::switch::{Endpoint, OfferedPacket, Topology};

/// Sizes of frames a flow keeps built (the simple IMIX has three).
const FRAME_CACHE: usize = 4;

impl SizeDistribution {
    /// A frame size (FCS included) drawn from the distribution.
    pub(super) fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        match self {
            SizeDistribution::Fixed(s) => *s,
            SizeDistribution::Weighted(w) => {
                let total: u32 = w.iter().map(|(_, n)| n).sum();
                let mut r = rng.random_range(0..total.max(1));
                for &(s, n) in w {
                    if r < n {
                        return s;
                    }
                    r -= n;
                }
                w.last().map_or(64, |&(s, _)| s)
            }
            SizeDistribution::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }
}

impl Workload {
    /// The packets the workload offers, in non-decreasing time, until `limit`. The same
    /// `seed` gives the same packets.
    pub fn packets<'a>(
        &'a self,
        topology: &'a Topology,
        seed: u64,
        limit: Limit,
    ) -> PacketStream<'a> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let source = match self {
            Workload::Generated(g) => Source::Generated(Box::new(GeneratorState::new(g))),
            Workload::Replay(r) => Source::Replay {
                replay: r,
                next: 0,
                last_capture_ps: 0,
            },
        };
        PacketStream {
            rng,
            topology,
            source,
            limit,
            emitted: 0,
            t_ps: 0.0,
            last_at: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Flow {
    from: Endpoint,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: u32,
    dst_ip: u32,
    vlan: Option<u16>,
    /// The IPv4 payload's protocol and ports.
    transport: Transport,
    sent: u64,
    /// The flow's number among all flows of the run (a reused slot gets a new one).
    serial: u64,
    /// Still in its pool.
    active: bool,
    /// Frames built for this flow, by size (at most [`FRAME_CACHE`]), reused: a flow's
    /// frames of one size are identical.
    cached: Vec<Bytes>,
}

#[derive(Debug)]
struct GeneratorState<'a> {
    g: &'a Generated,
    flows: Vec<Flow>,
    free: Vec<u32>,
    /// Active flows per kind (indices into `flows`), oldest first.
    pools: Vec<Vec<u32>>,
    /// Flows whose first packet is still to go (slot, serial).
    pending: VecDeque<(u32, u64)>,
    /// Cumulative Zipf weights of ranks 1..=max_active.
    zipf_cdf: Vec<f64>,
    next_arrival_ps: f64,
    serial: u64,
    /// The next header of `workload.header_trace` a new flow takes.
    next_header: usize,
    started: bool,
}

impl<'a> GeneratorState<'a> {
    fn new(g: &'a Generated) -> GeneratorState<'a> {
        let n = usize::try_from(g.flows.max_active).unwrap_or(1);
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 1..=n {
            acc += detmath::pow(r as f64, -g.flows.zipf_s);
            cdf.push(acc);
        }
        GeneratorState {
            g,
            flows: Vec::new(),
            free: Vec::new(),
            pools: vec![Vec::new(); g.shares.len()],
            pending: VecDeque::new(),
            zipf_cdf: cdf,
            next_arrival_ps: 0.0,
            serial: 0,
            next_header: 0,
            started: false,
        }
    }

    fn pick_kind(&self, rng: &mut ChaCha8Rng) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (i, (_, s)) in self.g.shares.iter().enumerate() {
            acc += s;
            if u < acc {
                return i;
            }
        }
        self.g.shares.len() - 1
    }

    fn new_flow(&mut self, kind_index: usize, topology: &Topology, rng: &mut ChaCha8Rng) -> u32 {
        let vms = topology.vms.len();
        let ext = topology.external_hosts.len().max(1);
        let (from, to) = match self.g.shares[kind_index].0 {
            TrafficKind::InterVm => {
                let a = rng.random_range(0..vms);
                let b = (a + 1 + rng.random_range(0..vms.saturating_sub(1).max(1))) % vms;
                (vm(a), vm(b))
            }
            TrafficKind::VmToWire => (
                vm(rng.random_range(0..vms)),
                ext_host(rng.random_range(0..ext)),
            ),
            TrafficKind::WireToVm => (
                ext_host(rng.random_range(0..ext)),
                vm(rng.random_range(0..vms)),
            ),
        };
        let (src_mac, mut src_ip, _) = addresses(topology, from);
        let (dst_mac, mut dst_ip, dst_vlan) = addresses(topology, to);
        // Frames from the wire to a VM on a VLAN carry its tag; VMs send untagged.
        let vlan = if matches!(from, Endpoint::External(_)) {
            dst_vlan
        } else {
            None
        };
        let serial = self.serial;
        self.serial += 1;
        let transport = match self.g.headers.as_deref() {
            // The trace's next header, in order (cycling): its addresses, protocol and ports.
            Some(trace) if !trace.is_empty() => {
                let h = trace[self.next_header % trace.len()];
                self.next_header += 1;
                (src_ip, dst_ip) = (h.src_ip, h.dst_ip);
                Transport::for_protocol(h.protocol, (h.src_port, h.dst_port))
            }
            _ => {
                // Consecutive source ports: no two live flows between a pair share a 5-tuple.
                let src_port = 1024 + u16::try_from(serial % 64_512).unwrap_or(0);
                let dst_port = rng.random_range(1..=u16::MAX);
                match self.g.protocol {
                    Protocol::Udp => Transport::Udp(src_port, dst_port),
                    Protocol::Tcp => Transport::Tcp(src_port, dst_port),
                }
            }
        };
        let flow = Flow {
            from,
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            vlan,
            transport,
            sent: 0,
            serial,
            active: true,
            cached: Vec::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.flows[id as usize] = flow;
                id
            }
            None => {
                self.flows.push(flow);
                u32::try_from(self.flows.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let pool = &mut self.pools[kind_index];
        pool.push(id);
        if pool.len() > self.zipf_cdf.len() {
            let oldest = pool.remove(0);
            self.flows[oldest as usize].active = false;
            self.free.push(oldest);
        }
        self.pending.push_back((id, serial));
        id
    }

    /// The flow of the next packet at time `t_ps`, and whether it is new.
    fn next_flow(&mut self, t_ps: f64, topology: &Topology, rng: &mut ChaCha8Rng) -> u32 {
        if !self.started {
            self.started = true;
            for i in 0..self.g.flows.initial {
                let k = usize::try_from(i).unwrap_or(0) % self.pools.len();
                self.new_flow(k, topology, rng);
            }
            self.next_arrival_ps = self.arrival_gap(rng);
        }
        if self.g.flows.new_per_second > 0.0 {
            while self.next_arrival_ps <= t_ps {
                let k = self.pick_kind(rng);
                self.new_flow(k, topology, rng);
                self.next_arrival_ps += self.arrival_gap(rng);
            }
        }
        while let Some((id, serial)) = self.pending.pop_front() {
            // A flow pushed out before its first packet went is skipped.
            let f = &self.flows[id as usize];
            if f.active && f.serial == serial {
                return id;
            }
        }
        let k = self.pick_kind(rng);
        if self.pools[k].is_empty() {
            let id = self.new_flow(k, topology, rng);
            // It goes now: not again as a pending first packet (the queue was empty).
            self.pending.pop_back();
            return id;
        }
        let pool = &self.pools[k];
        let rank = if self.g.flows.zipf_s == 0.0 {
            rng.random_range(0..pool.len())
        } else {
            let total = self.zipf_cdf[pool.len() - 1];
            let u: f64 = rng.random::<f64>() * total;
            self.zipf_cdf[..pool.len()]
                .partition_point(|&c| c <= u)
                .min(pool.len() - 1)
        };
        pool[pool.len() - 1 - rank]
    }

    fn arrival_gap(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.g.flows.new_per_second <= 0.0 {
            return f64::INFINITY;
        }
        exponential(rng) * 1e12 / self.g.flows.new_per_second
    }

    /// Counts a packet of flow `id`; ends the flow when it has sent its length.
    fn sent(&mut self, id: u32) {
        let len = self.g.flows.length_packets;
        let f = &mut self.flows[id as usize];
        f.sent += 1;
        if len > 0 && f.sent >= len {
            for pool in &mut self.pools {
                if let Some(pos) = pool.iter().position(|&x| x == id) {
                    pool.remove(pos);
                    f.active = false;
                    self.free.push(id);
                    break;
                }
            }
        }
    }
}

fn addresses(t: &Topology, e: Endpoint) -> (MacAddr, u32, Option<u16>) {
    match e {
        Endpoint::Vm(v) => t
            .vms
            .get(usize::from(v.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0, None), |n| {
                (n.mac, n.ipv4, n.vlan)
            }),
        Endpoint::External(h) => t
            .external_hosts
            .get(usize::from(h.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0, None), |n| {
                (n.mac, n.ipv4, None)
            }),
    }
}

/// A unit-mean exponential sample.
fn exponential(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random();
    -detmath::ln(1.0 - u)
}

#[derive(Debug)]
enum Source<'a> {
    Generated(Box<GeneratorState<'a>>),
    Replay {
        replay: &'a Replay,
        next: usize,
        last_capture_ps: u64,
    },
}

/// The packets of a workload, in non-decreasing time (see [`Workload::packets`]).
#[derive(Debug)]
pub struct PacketStream<'a> {
    rng: ChaCha8Rng,
    topology: &'a Topology,
    source: Source<'a>,
    limit: Limit,
    emitted: u64,
    /// When the next packet may leave, in ps (fractional: rates rarely divide 1 ps).
    t_ps: f64,
    last_at: u64,
}

impl PacketStream<'_> {
    /// Advances the clock past a packet of `size` bytes (FCS included).
    fn advance(&mut self, rate: Rate, size: u32) {
        let gap = match rate {
            Rate::Line { bits_per_second } => {
                (f64::from(size) + WIRE_OVERHEAD_BYTES as f64) * 8.0 * 1e12 / bits_per_second
            }
            Rate::Fixed { pps } => 1e12 / pps,
            Rate::Poisson { pps } => exponential(&mut self.rng) * 1e12 / pps,
        };
        self.t_ps += gap;
    }

    fn stamp(&mut self) -> Option<SimTime> {
        // Rounded to whole ps; never before the previous packet.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let at = (self.t_ps.round() as u64).max(self.last_at);
        if let Limit::Duration(d) = self.limit {
            if at >= d.as_ps() {
                return None;
            }
        }
        self.last_at = at;
        Some(SimTime(at))
    }
}

impl Iterator for PacketStream<'_> {
    type Item = OfferedPacket;

    fn next(&mut self) -> Option<OfferedPacket> {
        if let Limit::Packets(n) = self.limit {
            if self.emitted >= n {
                return None;
            }
        }
        let packet = match &mut self.source {
            Source::Generated(state) => {
                let at = self.t_ps;
                let id = state.next_flow(at, self.topology, &mut self.rng);
                let size = state.g.sizes.sample(&mut self.rng);
                let rate = state.g.rate;
                let flow = &mut state.flows[id as usize];
                let len = usize::try_from(size).unwrap_or(0).saturating_sub(FCS_BYTES);
                let frame = match flow.cached.iter().find(|b| b.len() == len) {
                    Some(b) => b.clone(),
                    None => {
                        let b = Bytes::from(build_ipv4_frame(
                            flow.transport,
                            size,
                            flow.dst_mac,
                            flow.src_mac,
                            flow.vlan,
                            (flow.src_ip, flow.dst_ip),
                        ));
                        if flow.cached.len() == FRAME_CACHE {
                            flow.cached.remove(0);
                        }
                        flow.cached.push(b.clone());
                        b
                    }
                };
                let from = flow.from;
                state.sent(id);
                let at = self.stamp()?;
                self.advance(rate, size);
                OfferedPacket { at, from, frame }
            }
            Source::Replay {
                replay,
                next,
                last_capture_ps,
            } => {
                let (from, frame, ts) = replay.frames.get(*next)?.clone();
                *next += 1;
                let r = *replay;
                if r.timing == ReplayTiming::Capture {
                    // Capture clocks may step back; time never does.
                    *last_capture_ps = (*last_capture_ps).max(ts);
                    self.t_ps = *last_capture_ps as f64;
                }
                let at = self.stamp()?;
                if r.timing == ReplayTiming::Rate {
                    let size = u32::try_from(frame.len() + FCS_BYTES).unwrap_or(u32::MAX);
                    self.advance(r.rate, size);
                }
                OfferedPacket { at, from, frame }
            }
        };
        self.emitted += 1;
        Some(packet)
    }
}
