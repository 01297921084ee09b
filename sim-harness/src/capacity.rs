//! Capacity: the highest offered load a switch carries without loss (the no-drop rate, NDR)
//! and with at most a small loss (the partial-drop rate, PDR, 0.5% by default), found by
//! searching the offered load as RFC 2544 (section 26.1, throughput) and FD.io CSIT's
//! MLRsearch do.
//!
//! A *trial* offers the scenario's workload at a constant rate (`rate = { pps = R }`, evenly
//! spaced packets) after its warm-up (RFC 2544's learning phase, [`crate::warmup`]) and
//! measures the loss ratio of the measured packets. Loss is what the switch failed to carry:
//! every drop except those its configuration asks for ([`is_policy_drop`]: a filter rule, no
//! matching rule, a VLAN or port that does not exist, a malformed frame), which happen at any
//! rate. A trial passes the NDR when nothing is lost and the PDR when the loss ratio is at
//! most [`CapacityOptions::pdr_loss`].
//!
//! The search, per switch and criterion, keeps the highest passing rate below the lowest
//! failing one and narrows that interval until its width is at most `precision` times its
//! upper end:
//!
//! 1. the first trial is at the maximum rate (the rate at which the uplink is full in its
//!    busier direction); a switch that passes there has that capacity at least;
//! 2. below a failing rate the next trial is at the rate the switch carried there (offered
//!    times one minus the loss, as MLRsearch starts from the measured forwarding rate), or a
//!    relative step down (four times the precision, or the earlier phase's interval) that
//!    doubles with every further failure (at most halving the rate), whichever is lower;
//!    above a passing rate, a relative step up that doubles likewise;
//! 3. once both bounds exist, bisection.
//!
//! It runs in two phases, as MLRsearch does: short trials (an eighth of the trial length) to
//! a precision four times coarser, then full-length trials that re-measure both bounds
//! before bisecting further (a bound found with short trials may not hold for long ones, and
//! is then widened from where it failed). Every trial is kept and reported. The search
//! assumes loss does not fall as the load rises, as RFC 2544 and MLRsearch do; the trials
//! show where it does not.
//!
//! Switches are searched in parallel, one search per worker thread. A trial is an ordinary
//! run: `snich run` on the scenario with the trial's `warmup_packets`, `packets` and
//! `rate = { pps = ... }` ([`trial_scenario`]) reproduces its numbers exactly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::report::{CommonLoad, SwitchResult};
use crate::runner::SwitchFactory;
use crate::scenario::{LocatedSpec, Scenario, ScenarioError};
use crate::switch::{Backlog, DropReason, PacketLedger, SwitchError, SwitchKind};
use crate::workload::{detmath, RateSpec, ReplayTiming, TrafficKind, Workload};

/// Why a capacity search could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// An option is out of its range.
    #[error("--{option}: {what}")]
    Option {
        /// The option's name on the command line.
        option: &'static str,
        /// What is wrong.
        what: String,
    },
    /// The scenario (or a trial's) is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A trial could not be run.
    #[error("{switch}: trial at {mpps} Mpps: {source}")]
    Trial {
        /// The switch (or switches).
        switch: String,
        /// The trial's offered rate.
        mpps: f64,
        /// What went wrong.
        source: SwitchError,
    },
}

/// How a search is done. Every field has a documented default ([`CapacityOptions::default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityOptions {
    /// Measured packets of a full-length trial (the first phase's trials are an eighth of
    /// it). Default 100,000.
    pub trial_packets: u64,
    /// Instead of `trial_packets`: a full-length trial's simulated time, microseconds (its
    /// measured packets are those offered within it, `duration_us`).
    pub trial_us: Option<u64>,
    /// Warm-up packets of every trial; `None`: the scenario's `warmup_packets`, or when it
    /// has none, [`default_warmup`].
    pub warmup_packets: Option<u64>,
    /// The search stops when the interval between the highest passing and the lowest failing
    /// rate is at most this fraction of the failing rate (0.000001 to 0.5). Default 0.01.
    pub precision: f64,
    /// The loss ratio the PDR allows. Default 0.005 (0.5%).
    pub pdr_loss: f64,
    /// The highest rate tried, Mpps; `None`: [`max_rate_pps`].
    pub max_mpps: Option<f64>,
    /// The lowest rate tried, Mpps; a switch failing here has an NDR of 0. Default 0.001.
    pub min_mpps: f64,
    /// Worker threads (results do not depend on them).
    pub threads: usize,
}

impl Default for CapacityOptions {
    fn default() -> Self {
        CapacityOptions {
            trial_packets: 100_000,
            trial_us: None,
            warmup_packets: None,
            precision: 0.01,
            pdr_loss: 0.005,
            max_mpps: None,
            min_mpps: 0.001,
            threads: 1,
        }
    }
}

impl CapacityOptions {
    /// Refuses options out of range, naming the option.
    pub fn check(&self) -> Result<(), CapacityError> {
        let bad = |option, what: String| Err(CapacityError::Option { option, what });
        if let Some(us) = self.trial_us {
            if us < 8 {
                return bad("trial-us", format!("{us} is shorter than 8 microseconds"));
            }
        }
        if self.trial_packets < 8 {
            return bad(
                "trial-packets",
                format!("{} is fewer than 8 packets", self.trial_packets),
            );
        }
        // Below 1e-6 the bisection would come down to neighbouring floating-point numbers.
        if !(self.precision >= 1e-6 && self.precision <= 0.5) {
            return bad(
                "precision",
                format!(
                    "{} is not a fraction in [0.000001, 0.5] of the rate",
                    self.precision
                ),
            );
        }
        if !(self.pdr_loss >= 0.0 && self.pdr_loss < 1.0) {
            return bad(
                "pdr-loss",
                format!("{} is not a loss ratio in [0, 1)", self.pdr_loss),
            );
        }
        if !(self.min_mpps.is_finite() && self.min_mpps > 0.0) {
            return bad(
                "min-mpps",
                format!("{} is not a positive rate", self.min_mpps),
            );
        }
        if let Some(m) = self.max_mpps {
            if !(m.is_finite() && m > self.min_mpps) {
                return bad(
                    "max-mpps",
                    format!("{m} is not a rate above --min-mpps {}", self.min_mpps),
                );
            }
        }
        Ok(())
    }
}

/// Whether a drop is the switch doing what its configuration says (not loss): these happen
/// at any offered load and do not count against the NDR or PDR.
pub fn is_policy_drop(reason: DropReason) -> bool {
    match reason {
        DropReason::AgentDrop
        | DropReason::Malformed
        | DropReason::NoEgress
        | DropReason::NoMatch
        | DropReason::NoSuchPort
        | DropReason::RuleDrop
        | DropReason::VlanMismatch => true,
        DropReason::AgentRestart
        | DropReason::BadDescriptor
        | DropReason::DmaFault
        | DropReason::MissQueueFull
        | DropReason::NoRxBuffer
        | DropReason::QueueFull
        | DropReason::RxFifoFull
        | DropReason::SlowPathUpcall
        | DropReason::UpcallLost => false,
    }
}

/// Packets the switch failed to carry.
pub fn lost_packets(ledger: &PacketLedger) -> u64 {
    ledger
        .dropped
        .iter()
        .filter(|(r, _)| !is_policy_drop(**r))
        .map(|(_, n)| n)
        .sum()
}

/// One trial of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 1: the short trials, 2: the full-length ones.
    pub phase: u8,
    /// Offered rate, Mpps.
    pub offered_mpps: f64,
    /// Offered rate, packets per second, exactly as the trial's `rate = { pps = ... }`.
    pub offered_pps: f64,
    /// Measured packets.
    pub packets: u64,
    /// Lost packets (drops not asked for by the configuration).
    pub lost_packets: u64,
    /// The switch's backlog at the trial's last offer (packets offered and still queued,
    /// [`SwitchRun::backlog`](crate::switch::SwitchRun::backlog)).
    #[serde(default)]
    pub backlog_packets: u64,
    /// How much the backlog grew from half-way through the trial to its last offer.
    #[serde(default)]
    pub backlog_growth_packets: u64,
    /// The share of the offered rate the switch fell behind by in the trial's second half
    /// beyond the search's precision (the growth over the packets offered in it, less the
    /// precision; 0 when not more): a rate it did not keep up with, though its queues still
    /// absorbed the difference without a drop.
    #[serde(default)]
    pub behind_ratio: f64,
    /// Lost over measured packets, plus the behind ratio.
    pub loss_ratio: f64,
    /// No loss, and not behind.
    pub ndr_pass: bool,
    /// Loss ratio at most the PDR's.
    pub pdr_pass: bool,
}

/// A switch's capacity, as the report gives it (`results[].capacity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// The no-drop rate, Mpps (0: lost packets even at the lowest rate).
    pub ndr_mpps: f64,
    /// The partial-drop rate, Mpps.
    pub pdr_mpps: f64,
    /// The NDR in Gb/s of offered frames (without FCS, as `throughput_gbps`; at the
    /// workload's mean frame size).
    pub ndr_gbps: f64,
    /// The PDR in Gb/s.
    pub pdr_gbps: f64,
    /// The lowest rate that failed the NDR (`None`: none failed, the NDR is at least the
    /// maximum rate).
    pub ndr_failed_mpps: Option<f64>,
    /// The lowest rate that failed the PDR.
    pub pdr_failed_mpps: Option<f64>,
    /// The PDR's loss ratio.
    pub pdr_loss: f64,
    /// The search's precision.
    pub precision: f64,
    /// Measured packets of a full-length trial (when it is not given in time).
    pub trial_packets: u64,
    /// A full-length trial's simulated time, microseconds, when given in time.
    pub trial_us: Option<u64>,
    /// Warm-up packets of every trial.
    pub warmup_packets: u64,
    /// The rates searched between, Mpps.
    pub min_mpps: f64,
    /// The highest.
    pub max_mpps: f64,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
}

/// A switch's search: its capacity and its measured run at the NDR (the full-length trial
/// there; at the lowest rate when nothing passed).
#[derive(Debug, Clone)]
pub struct SwitchCapacity {
    /// The run at the NDR, its `capacity` filled in.
    pub result: SwitchResult,
}

/// The most packets [`default_warmup`] gives (steep Zipf popularity over many flows would ask
/// for more than a trial is worth; set `warmup_packets` for those).
pub const MAX_DEFAULT_WARMUP: u64 = 1_000_000;

/// The default warm-up: enough packets that each of the scenario's initial flows has, with
/// high probability, been offered twice more after its first packet (its setup done), at
/// least 1,000 and at most [`MAX_DEFAULT_WARMUP`]. The least popular initial flow of a traffic kind with `n` initial flows and
/// share `s` is picked with probability `p = s / (n^z * H(n, z))` (Zipf exponent `z`); after
/// `2 (ln n + 5) / p` packets it has missed two offers with probability about `e^-5`.
pub fn default_warmup(scenario: &Scenario) -> u64 {
    let Workload::Generated(g) = &scenario.workload else {
        return 1_000;
    };
    let kinds = g.shares.len().max(1) as u64;
    let initial = u64::from(g.flows.initial);
    let mut most = 0.0f64;
    for (i, (_, share)) in g.shares.iter().enumerate() {
        // The generator deals the initial flows to the kinds in turn.
        let n = initial / kinds + u64::from((i as u64) < initial % kinds);
        if n == 0 || *share <= 0.0 {
            continue;
        }
        let nf = n as f64;
        let z = g.flows.zipf_s;
        let h: f64 = (1..=n).map(|r| detmath::pow(r as f64, -z)).sum();
        let p = share * detmath::pow(nf, -z) / h;
        most = most.max(2.0 * (detmath::ln(nf) + 5.0) / p);
    }
    // `most` is finite and non-negative (shares and counts are positive); a value past
    // u64::MAX saturates, as `as` does.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let most = most.ceil() as u64;
    initial
        .saturating_add(most)
        .clamp(1_000, MAX_DEFAULT_WARMUP)
}

/// The default highest rate, packets per second: where the uplink is full in the busier
/// direction (its line rate at the workload's mean frame size, preamble and gap included,
/// over the larger of the wire-to-VM and VM-to-wire shares); for inter-VM traffic alone,
/// the line rate times the VM count; for a replay, the line rate at 64-byte frames.
pub fn max_rate_pps(scenario: &Scenario) -> f64 {
    let line = scenario
        .card
        .macs
        .first()
        .map_or(0.0, |m| m.speed.bits_per_second() as f64);
    match &scenario.workload {
        Workload::Generated(g) => {
            let pps = line / ((g.sizes.mean() + 20.0) * 8.0);
            let share = |k| {
                g.shares
                    .iter()
                    .filter(|(t, _)| *t == k)
                    .map(|(_, s)| *s)
                    .sum::<f64>()
            };
            let wire = share(TrafficKind::WireToVm).max(share(TrafficKind::VmToWire));
            if wire > 0.0 {
                pps / wire
            } else {
                pps * scenario.topology.vms.len() as f64
            }
        }
        Workload::Replay(_) => line / (84.0 * 8.0),
    }
}

/// How long a trial measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialLength {
    /// This many measured packets (`packets`).
    Packets(u64),
    /// The packets offered in this many simulated microseconds (`duration_us`).
    Micros(u64),
}

impl CapacityOptions {
    /// A trial `1/divisor` of the full length.
    fn length(&self, divisor: u64) -> TrialLength {
        match self.trial_us {
            Some(us) => TrialLength::Micros((us / divisor).max(1)),
            None => TrialLength::Packets((self.trial_packets / divisor).max(1)),
        }
    }
}

/// The scenario of a trial: `scenario` with `warmup_packets` warm-up packets, then `length`
/// of measured ones, at `pps` evenly spaced. A scenario file with these keys
/// (`warmup_packets`, `packets` or `duration_us`, `rate = { pps = ... }`) runs the same trial.
pub fn trial_scenario(
    scenario: &Scenario,
    pps: f64,
    length: TrialLength,
    warmup_packets: u64,
) -> Result<Scenario, ScenarioError> {
    let mut spec = scenario.spec.clone();
    spec.workload.rate = RateSpec::Pps(pps);
    (spec.packets, spec.duration_us) = match length {
        TrialLength::Packets(n) => (Some(n), None),
        TrialLength::Micros(us) => (None, Some(us)),
    };
    spec.warmup_packets = Some(warmup_packets);
    Scenario::try_from(LocatedSpec {
        spec,
        file: scenario.file.clone(),
    })
}

/// What a search's trial function returns: each switch's counts and result.
struct Outcome {
    /// Per switch of the trial: what it lost and left queued.
    counts: Vec<TrialCounts>,
    results: Vec<SwitchResult>,
}

/// One switch's counts in a trial.
#[derive(Debug, Clone, Copy)]
struct TrialCounts {
    /// Measured packets.
    packets: u64,
    /// Lost packets ([`lost_packets`]).
    lost: u64,
    /// The backlog ([`SwitchRun::backlog`](crate::switch::SwitchRun::backlog)).
    backlog: Backlog,
}

impl TrialCounts {
    /// The share of the offered rate the switch fell behind by in the trial's second half,
    /// beyond `precision`: the backlog's growth from half-way to the last offer over the
    /// packets offered in between, less `precision`, and 0 when that is negative. A switch
    /// that carries at least `1 - precision` of the offered rate grows its backlog by at
    /// most `precision` of the packets offered (its steady queue is the same at both
    /// points); one that carries less grows it by more, and in a trial long enough to fill
    /// its queues (RFC 2544's are 60 s) it would lose that share.
    fn behind(&self, precision: f64) -> f64 {
        let (growth, over) = self.backlog.growth();
        if over == 0 {
            return 0.0;
        }
        (growth as f64 / over as f64 - precision).max(0.0)
    }

    /// The trial's loss ratio: lost packets over measured ones, plus how far behind it fell.
    fn loss_ratio(&self, precision: f64) -> f64 {
        self.lost as f64 / self.packets.max(1) as f64 + self.behind(precision)
    }
}

/// The bounds of one criterion.
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    lo: Option<f64>,
    hi: Option<f64>,
}

struct Search<'a> {
    max: f64,
    min: f64,
    pdr_loss: f64,
    trials: Vec<Trial>,
    /// Full-length trials' results by rate.
    kept: Vec<(f64, Vec<SwitchResult>)>,
    run: &'a dyn Fn(f64, TrialLength) -> Result<Outcome, CapacityError>,
}

impl<'a> Search<'a> {
    /// A search between `options.min_mpps` and `max` (pps) running trials with `run`.
    fn new(
        options: &CapacityOptions,
        max: f64,
        run: &'a dyn Fn(f64, TrialLength) -> Result<Outcome, CapacityError>,
    ) -> Search<'a> {
        Search {
            max,
            min: options.min_mpps * 1e6,
            pdr_loss: options.pdr_loss,
            trials: Vec::new(),
            kept: Vec::new(),
            run,
        }
    }
}

impl Search<'_> {
    fn trial(
        &mut self,
        phase: u8,
        pps: f64,
        length: TrialLength,
        precision: f64,
    ) -> Result<(bool, bool, f64), CapacityError> {
        if let Some(t) = self
            .trials
            .iter()
            .find(|t| t.phase == phase && t.offered_pps == pps)
        {
            return Ok((t.ndr_pass, t.pdr_pass, t.loss_ratio));
        }
        let o = (self.run)(pps, length)?;
        // The joint trial of several switches is as lossy as its lossiest switch.
        let ratio = |c: &TrialCounts| c.loss_ratio(precision);
        let worst = o
            .counts
            .iter()
            .copied()
            .reduce(|w, c| if ratio(&c) > ratio(&w) { c } else { w })
            .ok_or_else(|| CapacityError::Trial {
                switch: String::new(),
                mpps: pps / 1e6,
                source: SwitchError::Internal("a trial ran no switch".into()),
            })?;
        let loss = ratio(&worst);
        let behind = worst.behind(precision);
        let t = Trial {
            phase,
            offered_mpps: pps / 1e6,
            offered_pps: pps,
            packets: worst.packets,
            lost_packets: worst.lost,
            backlog_packets: worst.backlog.at_last_offer,
            backlog_growth_packets: worst.backlog.growth().0,
            behind_ratio: behind,
            loss_ratio: loss,
            ndr_pass: worst.lost == 0 && behind == 0.0,
            pdr_pass: loss <= self.pdr_loss,
        };
        let r = (t.ndr_pass, t.pdr_pass, loss);
        self.trials.push(t);
        if phase == 2 {
            self.kept.push((pps, o.results));
        }
        Ok(r)
    }

    /// Narrows `criterion`'s bounds (0: NDR, 1: PDR) with trials of `packets` to
    /// `precision`, starting from the earlier phase's `start` (re-measured).
    fn phase(
        &mut self,
        phase: u8,
        length: TrialLength,
        precision: f64,
        criterion: usize,
        start: Bounds,
    ) -> Result<Bounds, CapacityError> {
        let pass_of = |r: (bool, bool, f64)| if criterion == 0 { r.0 } else { r.1 };
        let mut b = Bounds::default();
        // This phase's trials so far (the other criterion's included) set the bounds.
        let seen: Vec<(f64, bool)> = self
            .trials
            .iter()
            .filter(|t| t.phase == phase)
            .map(|t| {
                (
                    t.offered_pps,
                    pass_of((t.ndr_pass, t.pdr_pass, t.loss_ratio)),
                )
            })
            .collect();
        for (r, pass) in seen {
            b.note(r, pass);
        }
        // Relative steps out of a one-sided interval: the earlier phase's width, at least
        // four times the precision, doubling with every step in the same direction.
        let mut step = 0.0f64;
        let first_step = match (start.lo, start.hi) {
            (Some(l), Some(h)) if h > 0.0 => ((h - l) / h).max(4.0 * precision),
            _ => 4.0 * precision,
        };
        for r in [start.lo, start.hi].into_iter().flatten() {
            if b.contains_strictly(r) {
                let res = self.trial(phase, r, length, precision)?;
                b.note(r, pass_of(res));
            }
        }
        loop {
            let next = match (b.lo, b.hi) {
                (None, None) => self.max,
                (Some(l), None) => {
                    if l >= self.max {
                        return Ok(b);
                    }
                    step = if step == 0.0 { first_step } else { 2.0 * step };
                    (l * (1.0 + step)).min(self.max)
                }
                (None, Some(h)) => {
                    if h <= self.min {
                        return Ok(b);
                    }
                    let loss = self
                        .trials
                        .iter()
                        .rev()
                        .find(|t| t.phase == phase && t.offered_pps == h)
                        .map_or(0.0, |t| t.loss_ratio);
                    step = if step == 0.0 { first_step } else { 2.0 * step };
                    // Never more than halved in one step; never above what was carried.
                    let carried_rate = h * (1.0 - loss) * (1.0 - precision);
                    (h * (1.0 - step.min(0.5))).min(carried_rate).max(self.min)
                }
                (Some(l), Some(h)) => {
                    if h - l <= precision * h {
                        return Ok(b);
                    }
                    (l + h) / 2.0
                }
            };
            let res = self.trial(phase, next, length, precision)?;
            b.note(next, pass_of(res));
        }
    }
}

impl Bounds {
    fn note(&mut self, r: f64, pass: bool) {
        if pass {
            if self.lo.is_none_or(|l| r > l) && self.hi.is_none_or(|h| r < h) {
                self.lo = Some(r);
            }
        } else if self.hi.is_none_or(|h| r < h) {
            self.hi = Some(r);
            if self.lo.is_some_and(|l| l >= r) {
                self.lo = None;
            }
        }
    }

    fn contains_strictly(&self, r: f64) -> bool {
        self.lo.is_none_or(|l| r > l) && self.hi.is_none_or(|h| r < h)
    }
}

/// The NDR and PDR of a trial function (`run(pps, packets)`), and every result of the
/// full-length trials.
fn search<'a>(
    options: &CapacityOptions,
    max: f64,
    run: &'a dyn Fn(f64, TrialLength) -> Result<Outcome, CapacityError>,
) -> Result<(Bounds, Bounds, Search<'a>), CapacityError> {
    let mut s = Search::new(options, max, run);
    let (short, full) = (options.length(8), options.length(1));
    let coarse = (4.0 * options.precision).min(0.5);
    let ndr1 = s.phase(1, short, coarse, 0, Bounds::default())?;
    let pdr1 = s.phase(1, short, coarse, 1, ndr1)?;
    let ndr = s.phase(2, full, options.precision, 0, ndr1)?;
    let pdr = s.phase(2, full, options.precision, 1, pdr1)?;
    Ok((ndr, pdr, s))
}

fn check_scenario(scenario: &Scenario) -> Result<(), CapacityError> {
    if let Workload::Replay(r) = &scenario.workload {
        if r.timing == ReplayTiming::Capture {
            return Err(CapacityError::Option {
                option: "scenario",
                what: "a capacity search sets the workload's rate, and this replay is timed by \
                       its capture (workload.pcap.timing = \"capture\"); use timing = \"rate\""
                    .into(),
            });
        }
    }
    Ok(())
}

fn warmup_of(options: &CapacityOptions, scenario: &Scenario) -> u64 {
    options
        .warmup_packets
        .unwrap_or(if scenario.warmup_packets > 0 {
            scenario.warmup_packets
        } else {
            default_warmup(scenario)
        })
}

/// `f(0..n)` on at most `threads` scoped worker threads taking jobs in order; each result
/// lands in its job's slot (`None` only if a worker panicked), so the results do not depend
/// on the thread count.
fn in_parallel<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<Option<T>> {
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= n {
                    break;
                }
                let result = f(j);
                if let Ok(mut slot) = slots[j].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Runs `kinds` at `pps` for `packets` measured packets after `warmup` warm-up packets.
fn run_trial(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    (pps, length, warmup, threads): (f64, TrialLength, u64, usize),
    progress: &ProgressBar,
) -> Result<Outcome, CapacityError> {
    let s = trial_scenario(scenario, pps, length, warmup)?;
    let measured = in_parallel(kinds.len(), threads, |j| {
        crate::warmup::measure(factory, kinds[j], &s, progress)
    });
    let mut o = Outcome {
        counts: Vec::new(),
        results: Vec::new(),
    };
    for (&kind, m) in kinds.iter().zip(measured) {
        let fail = |source| CapacityError::Trial {
            switch: kind.name().into(),
            mpps: pps / 1e6,
            source,
        };
        let m = m
            .ok_or_else(|| fail(SwitchError::Internal("a trial's worker panicked".into())))?
            .map_err(fail)?;
        o.counts.push(TrialCounts {
            packets: m.run.ledger.offered,
            lost: lost_packets(&m.run.ledger),
            backlog: m.run.backlog(),
        });
        let mut r = SwitchResult::from_run(&m.run, None);
        r.offered_bytes = Some(m.offered_bytes);
        o.results.push(r);
    }
    Ok(o)
}

/// Gb/s of offered frames (without FCS, as the reports' throughput) at `pps`: at the
/// workload's mean frame size for a generated workload (so NDR and PDR convert alike), at
/// the mean of the trial's offered frames `r` for a replay.
fn gbps(scenario: &Scenario, pps: f64, r: Option<&SwitchResult>) -> f64 {
    let mean = match &scenario.workload {
        Workload::Generated(g) => g.sizes.mean() - 4.0,
        Workload::Replay(_) => r
            .and_then(|r| {
                r.offered_bytes
                    .map(|b| b as f64 / r.offered_packets.max(1) as f64)
            })
            .unwrap_or(0.0),
    };
    pps * mean * 8.0 / 1e9
}

/// The capacity of each of `kinds` on `scenario`, searched in parallel on
/// `options.threads` threads (one switch's search per thread at a time); results in the
/// order of `kinds`. `progress` advances by the packets of every trial.
pub fn capacity(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    options: &CapacityOptions,
    progress: &ProgressBar,
) -> Result<Vec<SwitchCapacity>, CapacityError> {
    options.check()?;
    check_scenario(scenario)?;
    scenario.check_switches(kinds)?;
    let warmup = warmup_of(options, scenario);
    let max = options
        .max_mpps
        .map_or_else(|| max_rate_pps(scenario), |m| m * 1e6)
        .max(options.min_mpps * 1e6);
    // Validated once, before any trial.
    trial_scenario(scenario, max, options.length(1), warmup)?;
    in_parallel(kinds.len(), options.threads, |j| {
        one_switch(factory, kinds[j], scenario, options, warmup, max, progress)
    })
    .into_iter()
    .zip(kinds)
    .map(|(r, kind)| {
        r.unwrap_or_else(|| {
            Err(CapacityError::Trial {
                switch: kind.name().into(),
                mpps: 0.0,
                source: SwitchError::Internal("a capacity worker panicked".into()),
            })
        })
    })
    .collect()
}

fn one_switch(
    factory: &SwitchFactory,
    kind: SwitchKind,
    scenario: &Scenario,
    options: &CapacityOptions,
    warmup: u64,
    max: f64,
    progress: &ProgressBar,
) -> Result<SwitchCapacity, CapacityError> {
    let run = |pps: f64, length: TrialLength| {
        run_trial(
            factory,
            &[kind],
            scenario,
            (pps, length, warmup, 1),
            progress,
        )
    };
    let (ndr, pdr, s) = search(options, max, &run)?;
    let at = |rate: Option<f64>| {
        let rate = rate.unwrap_or(s.min);
        s.kept
            .iter()
            .find(|(r, _)| *r == rate)
            .and_then(|(_, v)| v.first().cloned())
    };
    let ndr_run = at(ndr.lo);
    let pdr_run = at(pdr.lo);
    let ndr_pps = ndr.lo.unwrap_or(0.0);
    let pdr_pps = pdr.lo.unwrap_or(0.0).max(ndr_pps);
    let capacity = Capacity {
        ndr_mpps: ndr_pps / 1e6,
        pdr_mpps: pdr_pps / 1e6,
        ndr_gbps: gbps(scenario, ndr_pps, ndr_run.as_ref()),
        pdr_gbps: gbps(scenario, pdr_pps, pdr_run.as_ref().or(ndr_run.as_ref())),
        ndr_failed_mpps: ndr.hi.map(|h| h / 1e6),
        pdr_failed_mpps: pdr.hi.map(|h| h / 1e6),
        pdr_loss: options.pdr_loss,
        precision: options.precision,
        trial_packets: options.trial_packets,
        trial_us: options.trial_us,
        warmup_packets: warmup,
        min_mpps: s.min / 1e6,
        max_mpps: max / 1e6,
        trials: s.trials.clone(),
    };
    let mut result = match ndr_run {
        Some(r) => r,
        None => run(ndr.lo.unwrap_or(s.min), options.length(1))?
            .results
            .into_iter()
            .next()
            .ok_or_else(|| CapacityError::Trial {
                switch: kind.name().into(),
                mpps: ndr_pps / 1e6,
                source: SwitchError::Internal("a trial returned no result".into()),
            })?,
    };
    result.capacity = Some(capacity);
    Ok(SwitchCapacity { result })
}

/// The common load of a comparison: the highest rate at which every switch of `kinds`
/// lost nothing, found by one NDR search whose trials run every switch (a trial fails when
/// one switch loses a packet; the switches of a trial run on `options.threads` threads),
/// and each switch's result there. `None` when even the lowest
/// rate lost packets somewhere.
pub fn common_load(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    options: &CapacityOptions,
    progress: &ProgressBar,
) -> Result<Option<(f64, Vec<SwitchResult>)>, CapacityError> {
    options.check()?;
    check_scenario(scenario)?;
    let warmup = warmup_of(options, scenario);
    let max = options
        .max_mpps
        .map_or_else(|| max_rate_pps(scenario), |m| m * 1e6);
    let run = |pps: f64, length: TrialLength| {
        run_trial(
            factory,
            kinds,
            scenario,
            (pps, length, warmup, options.threads),
            progress,
        )
    };
    let mut s = Search::new(options, max, &run);
    let b1 = s.phase(
        1,
        options.length(8),
        (4.0 * options.precision).min(0.5),
        0,
        Bounds::default(),
    )?;
    let b = s.phase(2, options.length(1), options.precision, 0, b1)?;
    let Some(lo) = b.lo else { return Ok(None) };
    Ok(s.kept
        .iter()
        .find(|(r, _)| *r == lo)
        .map(|(r, v)| (*r, v.clone())))
}

/// Every switch of `kinds` in one full-length trial of `options` at `pps` (after the
/// trial's warm-up), each result with its `offered_bytes`: what a capacity trial at that rate
/// gives, for a load chosen from outside a search (`snich paper`'s fixed per-VM load).
pub fn at_rate(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    pps: f64,
    options: &CapacityOptions,
    progress: &ProgressBar,
) -> Result<Vec<SwitchResult>, CapacityError> {
    options.check()?;
    check_scenario(scenario)?;
    let warmup = warmup_of(options, scenario);
    let o = run_trial(
        factory,
        kinds,
        scenario,
        (pps, options.length(1), warmup, options.threads),
        progress,
    )?;
    Ok(o.results)
}

/// The options `snich compare` searches its common load with: `snich capacity`'s trials
/// (100,000 measured packets after the default warm-up, so the common load is below every
/// switch's NDR as `snich capacity` finds it), to 5% precision (the load only has to be one
/// that every switch carries without loss, not the highest such to 1%).
pub fn common_load_options() -> CapacityOptions {
    CapacityOptions {
        precision: 0.05,
        ..CapacityOptions::default()
    }
}

/// The swept keys at whose every point `snich paper` also searches each switch's capacity.
pub const PAPER_CAPACITY_KEYS: [&str; 2] = ["vms.count", "rules.count"];

/// The capacity search `snich paper` runs at each point of a VM-count experiment: shorter
/// trials and a coarser precision than `snich capacity`'s defaults, so the whole paper stays
/// within minutes.
pub fn paper_options(threads: usize) -> CapacityOptions {
    CapacityOptions {
        trial_packets: 50_000,
        precision: 0.02,
        threads,
        ..CapacityOptions::default()
    }
}

/// The load per VM, packets per second, that `snich paper` offers every switch at every VM
/// count: 90% of the lowest NDR per VM among `capacity` (each result's value the VM count).
/// `None` when some switch lost packets even at the lowest rate searched.
pub fn paper_per_vm_load_pps(capacity: &[SwitchResult]) -> Option<f64> {
    let per_vm = capacity
        .iter()
        .filter_map(|r| {
            let vms = r.value.as_ref()?.as_f64()?;
            Some(r.capacity.as_ref()?.ndr_mpps * 1e6 / vms)
        })
        .fold(f64::INFINITY, f64::min);
    (per_vm.is_finite() && per_vm > 0.0).then_some(0.9 * per_vm)
}

/// Fills `results[i].at_common_load` (results in the order of `kinds`) with each switch at
/// the common load ([`common_load`] with [`common_load_options`]). Nothing is filled when no
/// rate was lossless for every switch, or when the workload's rate cannot be set (a replay
/// timed by its capture).
pub fn attach_common_load(
    results: &mut [SwitchResult],
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    threads: usize,
    progress: &ProgressBar,
) -> Result<(), CapacityError> {
    let loads = common_loads(factory, kinds, scenario, threads, progress)?;
    attach_common_loads(results, loads);
    Ok(())
}

/// Each of `kinds` at the common load ([`common_load`] with [`common_load_options`]), in the
/// order of `kinds`; `None` when no rate was lossless for every switch, or when the
/// workload's rate cannot be set (a replay timed by its capture).
pub fn common_loads(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Option<Vec<CommonLoad>>, CapacityError> {
    if check_scenario(scenario).is_err() {
        return Ok(None);
    }
    let options = CapacityOptions {
        threads,
        ..common_load_options()
    };
    let warmup = warmup_of(&options, scenario);
    Ok(
        common_load(factory, kinds, scenario, &options, progress)?.map(|(pps, at)| {
            at.iter()
                .map(|a| CommonLoad {
                    offered_mpps: pps / 1e6,
                    offered_pps: pps,
                    host_cpu_cycles_per_packet: a.host_cpu_cycles_per_packet,
                    pcie_bytes_per_packet: a.pcie_bytes_per_packet,
                    packets: a.offered_packets,
                    warmup_packets: warmup,
                })
                .collect()
        }),
    )
}

/// Fills `results[i].at_common_load` with `loads[i]` (nothing when `loads` is `None`).
pub fn attach_common_loads(results: &mut [SwitchResult], loads: Option<Vec<CommonLoad>>) {
    for (r, a) in results.iter_mut().zip(loads.into_iter().flatten()) {
        r.at_common_load = Some(a);
    }
}

/// Packets a search may offer at most per switch, for a progress bar's length (a guess:
/// twenty short and eight full trials, each with its warm-up twice).
pub fn expected_packets(scenario: &Scenario, options: &CapacityOptions) -> u64 {
    let w = warmup_of(options, scenario);
    // A trial in time is guessed at the scenario's own rate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let full = match (options.trial_us, scenario.workload.mean_pps()) {
        (Some(us), Some(pps)) => (us as f64 * pps / 1e6) as u64,
        _ => options.trial_packets,
    };
    let short = (full / 8).max(1);
    20 * (short + 2 * w) + 8 * (full + 2 * w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn fake(capacity: f64) -> impl Fn(f64, TrialLength) -> Result<Outcome, CapacityError> {
        move |pps, length| {
            let TrialLength::Packets(packets) = length else {
                panic!("trials in packets")
            };
            let lost = if pps <= capacity {
                0
            } else {
                ((1.0 - capacity / pps) * packets as f64).ceil() as u64
            };
            Ok(Outcome {
                counts: vec![TrialCounts {
                    packets,
                    lost,
                    backlog: Backlog::default(),
                }],
                results: Vec::new(),
            })
        }
    }

    #[test]
    fn the_search_brackets_a_known_capacity_within_its_precision() {
        for cap in [0.37e6, 2.5e6, 7.9e6] {
            let o = CapacityOptions::default();
            let f = fake(cap);
            let (ndr, pdr, s) = search(&o, 10e6, &f).unwrap();
            let (lo, hi) = (ndr.lo.unwrap(), ndr.hi.unwrap());
            assert!(lo <= cap && cap < hi, "{lo} {cap} {hi}");
            assert!(hi - lo <= o.precision * hi, "{lo} {hi}");
            let p = pdr.lo.unwrap();
            assert!(p >= lo, "PDR {p} >= NDR {lo}");
            // A loss of at most 0.5% holds up to cap / 0.995.
            assert!(p <= cap / (1.0 - o.pdr_loss) + 1.0, "{p}");
            assert!(s.trials.len() < 40, "{} trials", s.trials.len());
            assert!(
                s.trials.iter().all(|t| t.offered_pps >= cap / 4.0),
                "never far below the capacity: {:?}",
                s.trials
            );
        }
    }

    /// A switch with queues deep enough to absorb any trial: it never drops, its backlog
    /// grows instead. Loss alone would put its NDR at the maximum rate.
    #[test]
    fn a_switch_that_falls_behind_without_dropping_fails_the_trial() {
        let cap = 1.3e6;
        let f = move |pps: f64, length: TrialLength| {
            let TrialLength::Packets(packets) = length else {
                panic!("trials in packets")
            };
            let half = packets / 2;
            let steady = 300;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let growth = if pps <= cap {
                0
            } else {
                ((1.0 - cap / pps) * half as f64) as u64
            };
            Ok(Outcome {
                counts: vec![TrialCounts {
                    packets,
                    lost: 0,
                    backlog: Backlog {
                        at_last_offer: steady + 2 * growth,
                        checkpoint: Some(crate::switch::CheckpointBacklog {
                            packets: steady + growth,
                            offered_after: half,
                        }),
                    },
                }],
                results: Vec::new(),
            })
        };
        let o = CapacityOptions::default();
        let (ndr, pdr, s) = search(&o, 20e6, &f).unwrap();
        let (lo, hi) = (ndr.lo.unwrap(), ndr.hi.unwrap());
        // Behind by at most the precision passes: the NDR is within it of the capacity.
        assert!(lo <= cap / (1.0 - o.precision) && hi > cap, "{lo} {hi}");
        assert!(hi - lo <= o.precision * hi, "{lo} {hi}");
        let p = pdr.lo.unwrap();
        assert!(p <= cap / (1.0 - o.precision - o.pdr_loss) + 1.0, "PDR {p}");
        let failed = s.trials.iter().find(|t| !t.ndr_pass).unwrap();
        assert_eq!(failed.lost_packets, 0);
        assert!(failed.behind_ratio > 0.0 && failed.backlog_growth_packets > 0);
    }

    #[test]
    fn a_small_loss_far_above_the_capacity_still_steps_down_geometrically() {
        // Loss 1% at any overload: the carried rate says little, the steps must do.
        let cap = 0.37e6;
        let f = move |pps: f64, length: TrialLength| {
            let TrialLength::Packets(packets) = length else {
                panic!("trials in packets")
            };
            Ok(Outcome {
                counts: vec![TrialCounts {
                    packets,
                    lost: if pps <= cap { 0 } else { packets / 100 },
                    backlog: Backlog::default(),
                }],
                results: Vec::new(),
            })
        };
        let (ndr, _, s) = search(&CapacityOptions::default(), 30e6, &f).unwrap();
        let (lo, hi) = (ndr.lo.unwrap(), ndr.hi.unwrap());
        assert!(lo <= cap && cap < hi && hi - lo <= 0.01 * hi, "{lo} {hi}");
        assert!(
            s.trials.iter().all(|t| t.offered_pps >= cap / 2.0),
            "{:?}",
            s.trials
        );
        assert!(s.trials.len() < 40, "{} trials", s.trials.len());
    }

    #[test]
    fn a_switch_passing_at_the_maximum_has_it_as_capacity() {
        let f = fake(20e6);
        let (ndr, pdr, s) = search(&CapacityOptions::default(), 10e6, &f).unwrap();
        assert_eq!((ndr.lo, ndr.hi), (Some(10e6), None));
        assert_eq!(pdr.lo, Some(10e6));
        assert_eq!(s.trials.len(), 2, "one trial per phase");
    }

    #[test]
    fn the_default_warmup_covers_the_least_popular_initial_flow() {
        let s = Scenario::from_toml(
            "[workload]\nkind = \"inter-vm\"\nflows = { initial = 100, zipf_s = 0.0 }\n",
            None,
        )
        .unwrap();
        // Uniform over 100 flows: p = 1/100, 2 (ln 100 + 5) / p = 1,921.0 packets, plus the
        // 100 first packets.
        assert_eq!(default_warmup(&s), 100 + 1_922);
        let steep = Scenario::from_toml(
            "[workload]\nkind = \"inter-vm\"\nflows = { initial = 4000, zipf_s = 10.0 }\n",
            None,
        )
        .unwrap();
        assert_eq!(default_warmup(&steep), MAX_DEFAULT_WARMUP);
        let none = Scenario::from_toml("[workload]\nflows = { initial = 0 }\n", None).unwrap();
        assert_eq!(default_warmup(&none), 1_000);
    }

    #[test]
    fn bad_options_are_named() {
        let o = CapacityOptions {
            precision: 0.0,
            ..CapacityOptions::default()
        };
        assert_eq!(
            o.check().unwrap_err().to_string(),
            "--precision: 0 is not a fraction in [0.000001, 0.5] of the rate"
        );
        let o = CapacityOptions {
            max_mpps: Some(0.0005),
            ..CapacityOptions::default()
        };
        assert!(o.check().unwrap_err().to_string().starts_with("--max-mpps"));
    }
}
