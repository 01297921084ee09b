//! RFC 2544's learning phase: packets offered before measurement starts, counted in no result.
//!
//! A scenario's `warmup_packets = W` makes the first W packets of its workload a warm-up
//! (flows set up, caches filled, tables learnt) and the packets after them (`packets` or
//! `duration_us` of them) the measurement. The switches are black boxes that report only at
//! the end of a run ([`SwitchUnderTest::finish`](crate::switch::SwitchUnderTest::finish)),
//! so the measurement is the difference of two runs of the same seeded, deterministic switch:
//!
//! 1. the warm-up run: the W packets alone, then drained; its last event (delivery or drop)
//!    is when the switch has finished with every warm-up packet;
//! 2. the full run: the same W packets, then the measured packets, the first of them no
//!    earlier than [`GAP`] after that last event (the measured packets keep their spacing;
//!    only the gap between the phases may grow);
//! 3. the measurement: full run minus warm-up run, counter by counter (delivered, dropped by
//!    reason, bytes, host CPU cycles by use, PCIe bytes, flow setups, the latency histogram),
//!    its span from the first measured offer to the full run's last event.
//!
//! Up to the first measured packet the full run is the warm-up run event for event (the same
//! switch, the same packets, the same seed, and a switch simulates only what happens before an
//! offer), so the difference is exactly what the measured packets cost. It is checked, not
//! assumed: a counter of the full run below the warm-up run's is an internal error.
//! Conservation holds for every packet: both runs are drained and balanced (each checks
//! `offered = delivered + dropped`, warm-up packets included), and so is their difference,
//! which must have offered exactly the measured packets. Work a switch does on its own in
//! the gap (Open vSwitch's periodic revalidation, a round at most; ovs-dpdk's PMD polling
//! for the gap's length) counts in the measurement.
//!
//! Two kinds of number are not differences: `table_occupancy_peak` and the `extra` keys that
//! are sizes rather than counts ([`SIZE_KEYS`] and every key ending in `_peak`) are the full
//! run's, warm-up included.
//!
//! `snich run` and `snich capacity`'s trials go through [`measure`] alike, so a plain run of
//! a scenario with a trial's `warmup_packets`, `packets` and `rate = { pps = ... }`
//! reproduces that trial's numbers exactly.

use indicatif::ProgressBar;
use nic_abi::time::{SimDuration, SimTime};

use crate::runner::{offer_all, SwitchFactory};
use crate::scenario::{Limit, Scenario};
use crate::switch::{SwitchError, SwitchKind, SwitchRun};

/// The least quiet time between the warm-up's last event and the first measured packet.
pub const GAP: SimDuration = SimDuration(1_000_000);

/// `extra` keys that are sizes (of the configuration or a peak), not counts of work: a
/// measurement keeps the full run's value instead of a difference.
pub const SIZE_KEYS: &[&str] = &[
    "netfilter_rules",
    "fdb_rules",
    "rules_not_enforced",
    "netfilter_sets",
    "pmd_cores",
    "pmd_rxqs",
];

/// A run's measurement.
#[derive(Debug, Clone)]
pub struct Measured {
    /// What the measured packets did (the warm-up taken out).
    pub run: SwitchRun,
    /// Frame bytes (without FCS) of the measured packets offered.
    pub offered_bytes: u64,
    /// The warm-up, when there was one.
    pub warmup: Option<Warmup>,
}

/// What a warm-up did, for reports and tests.
#[derive(Debug, Clone)]
pub struct Warmup {
    /// Packets offered in it.
    pub packets: u64,
    /// Of them, delivered.
    pub delivered: u64,
    /// The warm-up run's last event.
    pub last_event: SimTime,
    /// The first measured packet's offer.
    pub measure_from: SimTime,
}

/// Runs `kind` on `scenario`: its warm-up (if any), then its measured packets; the result
/// counts the measured packets only. `progress` advances by every packet offered (the
/// warm-up's twice: [`offered_per_switch`]).
pub fn measure(
    factory: &SwitchFactory,
    kind: SwitchKind,
    scenario: &Scenario,
    progress: &ProgressBar,
) -> Result<Measured, SwitchError> {
    let w = scenario.warmup_packets;
    let stream = |limit| {
        scenario
            .workload
            .packets(&scenario.topology, scenario.seed, limit)
    };
    // The backlog is noted half-way through the measured packets, besides at the last.
    let half = crate::runner::measured_packets(scenario).div_ceil(2).max(1);
    if w == 0 {
        let mut offered_bytes = 0u64;
        let packets = stream(scenario.limit).inspect(|p| offered_bytes += p.frame.len() as u64);
        let run = offer_all(factory, kind, scenario, (packets, Some(half)), progress)?;
        return Ok(Measured {
            run,
            offered_bytes,
            warmup: None,
        });
    }
    let warm = offer_all(
        factory,
        kind,
        scenario,
        (stream(Limit::Packets(w)), None),
        progress,
    )?;
    let config = |what: String| SwitchError::Config {
        switch: warm.switch.clone(),
        what,
    };
    if warm.ledger.offered < w {
        return Err(config(format!(
            "warmup_packets = {w}: the workload ends after {} packets, within the warm-up",
            warm.ledger.offered
        )));
    }
    let measure_from = warm.last_event + GAP;
    let limit = scenario.limit;
    let mut first: Option<(SimTime, SimDuration)> = None;
    let (mut measured, mut offered_bytes) = (0u64, 0u64);
    let packets = stream(Limit::Packets(u64::MAX))
        .enumerate()
        .map_while(|(i, mut p)| {
            if (i as u64) < w {
                return Some(p);
            }
            let (start, shift) = *first.get_or_insert((p.at, measure_from.saturating_since(p.at)));
            let within = match limit {
                Limit::Packets(n) => measured < n,
                Limit::Duration(d) => p.at.saturating_since(start) < d,
            };
            if !within {
                return None;
            }
            measured += 1;
            offered_bytes += p.frame.len() as u64;
            p.at += shift;
            Some(p)
        });
    let full = offer_all(
        factory,
        kind,
        scenario,
        (packets, Some(w.saturating_add(half))),
        progress,
    )?;
    let Some((start, shift)) = first else {
        return Err(config(format!(
            "warmup_packets = {w}: the workload has no packets left to measure after the warm-up"
        )));
    };
    let run = difference(&full, &warm, start + shift)?;
    if run.ledger.offered != measured {
        return Err(SwitchError::Internal(format!(
            "{}: {measured} packets measured, the difference of the runs offered {}",
            run.switch, run.ledger.offered
        )));
    }
    run.check_conservation()?;
    Ok(Measured {
        run,
        offered_bytes,
        warmup: Some(Warmup {
            packets: w,
            delivered: warm.ledger.delivered,
            last_event: warm.last_event,
            measure_from: start + shift,
        }),
    })
}

/// Packets a run of `scenario` offers each switch: the warm-up twice (its own run and the
/// full run), the measured packets once, given `measured` of them.
pub fn offered_per_switch(scenario: &Scenario, measured: u64) -> u64 {
    measured.saturating_add(scenario.warmup_packets.saturating_mul(2))
}

fn is_size(key: &str) -> bool {
    SIZE_KEYS.contains(&key) || key.ends_with("_peak")
}

/// `full - warm`, counter by counter, with the span starting at `first_offer`.
fn difference(
    full: &SwitchRun,
    warm: &SwitchRun,
    first_offer: SimTime,
) -> Result<SwitchRun, SwitchError> {
    let fell = |what: &str| {
        SwitchError::Internal(format!(
            "{}: the warm-up run is not a prefix of the full run: {what} is lower in the full run",
            full.switch
        ))
    };
    let sub = |a: u64, b: u64, what: &str| a.checked_sub(b).ok_or_else(|| fell(what));
    let mut run = full.clone();
    run.freeze_backlog();
    let l = &mut run.ledger;
    l.offered = sub(full.ledger.offered, warm.ledger.offered, "offered")?;
    l.delivered = sub(full.ledger.delivered, warm.ledger.delivered, "delivered")?;
    for (reason, n) in &warm.ledger.dropped {
        let have = l.dropped.get(reason).copied().unwrap_or(0);
        l.dropped
            .insert(*reason, sub(have, *n, &format!("dropped {reason}"))?);
    }
    l.dropped.retain(|_, n| *n > 0);
    run.delivered_bytes = sub(
        full.delivered_bytes,
        warm.delivered_bytes,
        "delivered bytes",
    )?;
    run.pcie_bytes = sub(full.pcie_bytes, warm.pcie_bytes, "PCIe bytes")?;
    run.flow_setups = sub(full.flow_setups, warm.flow_setups, "flow setups")?;
    for (what, c) in &warm.host_cpu_cycles {
        let have = run.host_cpu_cycles.get(what).copied().unwrap_or(0);
        run.host_cpu_cycles.insert(
            what.clone(),
            sub(have, *c, &format!("host CPU cycles {what}"))?,
        );
    }
    run.host_cpu_cycles.retain(|_, c| *c > 0);
    for (key, v) in &warm.extra {
        if is_size(key) {
            continue;
        }
        let have = run.extra.get(key).copied().unwrap_or(0);
        run.extra.insert(key.clone(), sub(have, *v, key)?);
    }
    run.latency_ns
        .subtract(&warm.latency_ns)
        .map_err(|_| fell("a latency bucket"))?;
    run.first_offer = first_offer;
    run.last_event = full.last_event.max(first_offer);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::DropReason;

    /// A warm-up of 10 delivered and 2 dropped packets, and the full run: the same, then
    /// `more` delivered with a longer latency.
    fn runs(more: u64, full_drops: u64) -> (SwitchRun, SwitchRun) {
        let mut r = SwitchRun::new("t").unwrap();
        let phase = |r: &mut SwitchRun, delivered: u64, dropped: u64, at: u64| {
            for i in 0..delivered + dropped {
                r.ledger.offer();
                if i < delivered {
                    r.record_delivery(SimTime(0), SimTime(at), 60);
                } else {
                    r.record_drop(SimTime(at), DropReason::QueueFull);
                }
            }
            r.charge_cpu("bridge", 10 * delivered);
            *r.extra.entry("upcalls".into()).or_insert(0) += delivered;
            r.extra.insert("fdb_rules".into(), 12);
        };
        phase(&mut r, 10, 2, 1_000);
        let warm = r.clone();
        phase(&mut r, more, 0, 9_000_000);
        r.ledger.dropped.insert(DropReason::QueueFull, full_drops);
        (warm, r)
    }

    #[test]
    fn the_difference_counts_only_what_came_after_the_warmup() {
        let (warm, full) = runs(15, 2);
        let d = difference(&full, &warm, SimTime(5_000)).unwrap();
        assert_eq!(d.ledger.offered, 15);
        assert_eq!(d.ledger.delivered, 15);
        assert!(d.ledger.dropped.is_empty(), "no drop reason left at 0");
        assert_eq!(d.host_cpu_cycles["bridge"], 150);
        assert_eq!(d.latency_ns.len(), 15);
        assert_eq!(
            d.latency_ns.min(),
            9_000,
            "only the measured packets' latency"
        );
        assert_eq!(d.extra["upcalls"], 15);
        assert_eq!(d.extra["fdb_rules"], 12, "a size is kept");
        assert_eq!(d.span(), SimDuration(9_000_000 - 5_000));
        d.check_conservation().unwrap();
    }

    #[test]
    fn a_full_run_below_its_warmup_is_an_error() {
        let (warm, full) = runs(15, 0);
        let e = difference(&full, &warm, SimTime(5_000)).unwrap_err();
        assert!(e.to_string().contains("dropped queue_full is lower"), "{e}");
    }
}
