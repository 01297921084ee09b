//! An open-loop traffic run through a whole system: packets offered at fixed times from
//! guests (or the wire), each tagged with the class it is measured in; per class, packets
//! delivered, bytes, latencies (offer to delivery) and drops by reason.

use std::collections::{BTreeMap, HashMap};

use host_driver::guest::MockGuest;
use nic_abi::desc::QueueIndex;
use nic_abi::key::PortNo;
use nic_abi::time::SimTime;
use nic_model::card::{PacketOrigin, PacketOutcome};
use nic_model::counters::DropReason;
use snich_system::control::ControlPlane;

/// Where an offered packet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// Guest `i`'s TX ring.
    Guest(usize),
    /// The uplink (MAC port 1).
    Wire,
}

/// One packet offered at `at`, measured in class `class`.
#[derive(Debug, Clone)]
pub struct Offer {
    pub at: SimTime,
    pub from: From,
    pub frame: Vec<u8>,
    pub class: u32,
}

/// What one class's packets did.
#[derive(Debug, Clone, Default)]
pub struct ClassStats {
    pub offered: u64,
    pub delivered: u64,
    pub bytes: u64,
    /// Offer to delivery, ps, in delivery order.
    pub latencies: Vec<u64>,
    /// The offer times of the delivered packets, in the same order.
    pub delivered_offers: Vec<SimTime>,
    pub dropped: BTreeMap<&'static str, u64>,
    /// Guest TX ring full at the offer (the guest drops it).
    pub tx_ring_full: u64,
    pub first_offer: Option<SimTime>,
    pub last_delivery: SimTime,
}

impl ClassStats {
    /// Delivered frame bits per second over first offer to last delivery.
    pub fn gbps(&self) -> f64 {
        let span = self
            .last_delivery
            .saturating_since(self.first_offer.unwrap_or(SimTime::ZERO))
            .as_ps();
        if span == 0 {
            return 0.0;
        }
        self.bytes as f64 * 8.0 / (span as f64 * 1e-12) / 1e9
    }

    /// Latency percentile `percent` (0-100, nearest rank), ns.
    pub fn latency_ns(&self, percent: usize) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let i = (percent.min(100) * (v.len() - 1) + 50) / 100;
        v[i] as f64 / 1_000.0
    }
}

/// The run: the system, its guests, which of them have stopped consuming.
pub struct Run {
    pub cp: ControlPlane,
    pub guests: Vec<MockGuest>,
    /// Guests that take no interrupt and read nothing (stuck).
    pub stuck: Vec<bool>,
    pub stats: BTreeMap<u32, ClassStats>,
    /// What each guest received, in order: (UDP source port, the sequence number in the
    /// first 8 payload bytes) of [`stamped`] frames.
    pub received: Vec<Vec<(u16, u64)>>,
    in_flight_vm: HashMap<(u16, u16), (SimTime, u32)>,
    in_flight_wire: HashMap<u64, (SimTime, u32)>,
    wire_seq: u64,
    outcomes: Vec<PacketOutcome>,
}

impl Run {
    pub fn new(mut cp: ControlPlane, guests: Vec<MockGuest>) -> Run {
        cp.driver_mut().card_mut().record_outcomes(true);
        let n = guests.len();
        Run {
            cp,
            guests,
            stuck: vec![false; n],
            stats: BTreeMap::new(),
            received: vec![Vec::new(); n],
            in_flight_vm: HashMap::new(),
            in_flight_wire: HashMap::new(),
            wire_seq: 0,
            outcomes: Vec::new(),
        }
    }

    /// Runs the system up to `until` (guests that are not stuck read their completions and
    /// re-post RX buffers at their interrupts), then accounts the packets that ended.
    pub fn run_until(&mut self, until: SimTime) {
        let guests = &mut self.guests;
        let stuck = &self.stuck;
        let received = &mut self.received;
        let mut got = Vec::new();
        self.cp
            .run_until(until, |d, q: QueueIndex| {
                let i = usize::from(q.0);
                if stuck.get(i).copied().unwrap_or(true) {
                    return Ok(());
                }
                if let Some(g) = guests.get_mut(i) {
                    got.clear();
                    g.poll(d.card_mut(), &mut got)?;
                    for r in &got {
                        if r.status == nic_abi::desc::RxStatus::Ok && r.len >= 50 {
                            let data = g.rx_data(d.host(), r.index, usize::from(r.len))?;
                            received[i].push(unstamp(data));
                        }
                    }
                    g.post_rx_buffers(d.card_mut())?;
                }
                Ok(())
            })
            .expect("the system runs");
        self.collect();
    }

    /// Offers every packet of `offers` (in time order), calling `between(run, at)` before
    /// each offer once the system has run up to its time; then drains and checks
    /// conservation.
    pub fn offer_all(&mut self, offers: &[Offer], mut between: impl FnMut(&mut Run, SimTime)) {
        for o in offers {
            self.run_until(o.at);
            between(self, o.at);
            self.cp.driver_mut().card_mut().advance_to(o.at);
            let _ = self.offer(o);
        }
        self.drain();
    }

    /// Offers one packet now (the card's clock at its time); a guest's packet's TX ring
    /// index, if it was posted.
    pub fn offer(&mut self, o: &Offer) -> Option<nic_abi::desc::RingIndex> {
        let s = self.stats.entry(o.class).or_default();
        s.offered += 1;
        s.first_offer.get_or_insert(o.at);
        match o.from {
            From::Guest(i) => {
                let card = self.cp.driver_mut().card_mut();
                let g = &mut self.guests[i];
                if g.tx_free() == 0 {
                    g.poll(card, &mut Vec::new()).expect("completions");
                }
                if g.tx_free() == 0 {
                    s.tx_ring_full += 1;
                    return None;
                }
                let index = g.send(card, &o.frame).expect("sent");
                let q = u16::try_from(i).expect("small");
                self.in_flight_vm
                    .insert((q, index.value()), (o.at, o.class));
                Some(index)
            }
            From::Wire => {
                let seq = self.wire_seq;
                self.wire_seq += 1;
                self.in_flight_wire.insert(seq, (o.at, o.class));
                self.cp
                    .driver_mut()
                    .card_mut()
                    .offer_from_wire(PortNo(1), o.frame.clone().into(), o.at)
                    .expect("a MAC port");
                None
            }
        }
    }

    /// Runs until nothing is left to do; every packet must have ended (conservation).
    pub fn drain(&mut self) {
        self.run_until(SimTime(u64::MAX));
        self.cp
            .driver_mut()
            .card_mut()
            .finish()
            .expect("every packet delivered or dropped with a reason");
        assert!(
            self.in_flight_vm.is_empty() && self.in_flight_wire.is_empty(),
            "{} VM and {} wire packets without an outcome",
            self.in_flight_vm.len(),
            self.in_flight_wire.len()
        );
    }

    fn collect(&mut self) {
        self.cp
            .driver_mut()
            .card_mut()
            .take_outcomes(&mut self.outcomes);
        for o in self.outcomes.drain(..) {
            let (at, class) = match o.origin {
                PacketOrigin::Vm { queue, index } => {
                    self.in_flight_vm.remove(&(queue.0, index.value()))
                }
                PacketOrigin::Wire { seq, .. } => self.in_flight_wire.remove(&seq),
            }
            .expect("an outcome for an offered packet");
            let s = self.stats.entry(class).or_default();
            match o.result {
                Ok(()) => {
                    s.delivered += 1;
                    s.bytes += o.len as u64;
                    s.latencies.push(o.at.saturating_since(at).as_ps());
                    s.delivered_offers.push(at);
                    s.last_delivery = s.last_delivery.max(o.at);
                }
                Err(r) => *s.dropped.entry(r.name()).or_default() += 1,
            }
        }
    }

    /// Class `c`'s stats (empty if none of its packets was offered).
    pub fn class(&self, c: u32) -> ClassStats {
        self.stats.get(&c).cloned().unwrap_or_default()
    }
}

/// Drops of `reason` in `s`.
pub fn dropped(s: &ClassStats, reason: DropReason) -> u64 {
    s.dropped.get(reason.name()).copied().unwrap_or(0)
}

/// `n` packets every `gap_ns` from `start_ns`, each made by `frame(i)`.
pub fn periodic(
    n: u64,
    start_ns: u64,
    gap_ns: u64,
    from: From,
    class: u32,
    mut frame: impl FnMut(u64) -> Vec<u8>,
) -> Vec<Offer> {
    (0..n)
        .map(|i| Offer {
            at: SimTime::ZERO + nic_abi::time::SimDuration::from_ns(start_ns + i * gap_ns),
            from,
            frame: frame(i),
            class,
        })
        .collect()
}

/// The offers of several streams merged in time order (stable: equal times keep stream
/// order).
pub fn merge(streams: Vec<Vec<Offer>>) -> Vec<Offer> {
    let mut all: Vec<Offer> = streams.into_iter().flatten().collect();
    all.sort_by_key(|o| o.at);
    all
}

/// Relative difference of `x` from `base`, in percent.
pub fn delta_pct(x: f64, base: f64) -> f64 {
    (x - base) / base * 100.0
}

/// Writes `seq` into the first 8 payload bytes of the IPv4/UDP frame `f` (offset 42) and
/// `sport` as its UDP source port.
pub fn stamped(mut f: Vec<u8>, sport: u16, seq: u64) -> Vec<u8> {
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[42..50].copy_from_slice(&seq.to_be_bytes());
    f
}

/// The (source port, sequence number) [`stamped`] into a frame.
pub fn unstamp(f: &[u8]) -> (u16, u64) {
    let sport = u16::from_be_bytes([f[34], f[35]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&f[42..50]);
    (sport, u64::from_be_bytes(seq))
}

/// Checks that each flow's packets were received in the order they were sent: returns the
/// first (flow, previous sequence number, later one) out of order.
pub fn first_reordering(received: &[(u16, u64)]) -> Option<(u16, u64, u64)> {
    let mut last: HashMap<u16, u64> = HashMap::new();
    for &(flow, seq) in received {
        if let Some(&prev) = last.get(&flow) {
            if seq <= prev {
                return Some((flow, prev, seq));
            }
        }
        last.insert(flow, seq);
    }
    None
}

/// A class's throughput, latency and delivery, for the tests' printed numbers.
pub fn summary(c: &ClassStats) -> String {
    format!(
        "{:.3} Gb/s, p50 {:.0} ns, p99 {:.0} ns, {} of {} delivered",
        c.gbps(),
        c.latency_ns(50),
        c.latency_ns(99),
        c.delivered,
        c.offered
    )
}

/// One rule per VM `0..vms`: frames to its MAC go out of its port (101 + i).
pub fn forward_by_destination_mac(vms: u16) -> Vec<flow_setup::rule::Rule> {
    let text: Vec<String> = (0..vms)
        .map(|i| {
            let m = crate::fixtures::vm_mac(i);
            format!(
                "dl_dst={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x},actions=output:{}",
                m[0],
                m[1],
                m[2],
                m[3],
                m[4],
                m[5],
                101 + i
            )
        })
        .collect();
    flow_setup::ofctl::parse_rules(&text.join("\n")).expect("rules")
}
