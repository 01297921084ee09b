//! Runs: a scenario's workload offered to switches, one run per switch, and sweeps of runs.
//!
//! A run builds the switch from the scenario's [`SwitchContext`] with a [`SwitchFactory`]
//! (the real one is [`build_switch`]), offers it every packet of the workload in time order,
//! finishes it, and checks invariant 1 itself as well: the switch's ledger must balance, and
//! it must have counted exactly the packets the run offered. A comparison runs several
//! switches on the same workload (the stream is regenerated from the seed for each, so every
//! switch sees the same packets without holding them all in memory).
//!
//! A sweep sets one scenario key to each of its values (`--vary vms.count=1,2,4`) and runs
//! every switch at every value. The runs go to a fixed number of worker threads
//! (`std::thread::scope`) that take jobs in order from a shared counter; each result lands in
//! its job's slot, so the results do not depend on the thread count (invariant 6).
//!
//! ```
//! use sim_harness::runner::run_switch;
//! use sim_harness::scenario::Scenario;
//! use sim_harness::switch::SwitchKind;
//!
//! let scenario = Scenario::from_toml("packets = 10", None)?;
//! let run = run_switch(SwitchKind::Snich, &scenario)?;
//! assert_eq!(run.ledger.offered, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;

use crate::scenario::{Scenario, ScenarioDocument, ScenarioError};
use crate::switch::{
    ConservationViolation, OfferedPacket, SwitchContext, SwitchError, SwitchKind, SwitchRun,
    SwitchUnderTest,
};

/// Builds the switch of a kind from a context.
pub type SwitchFactory =
    dyn Fn(SwitchKind, &SwitchContext) -> Result<Box<dyn SwitchUnderTest>, SwitchError> + Sync;

/// The switches of `snich`: every [`SwitchKind`], built from `ctx` (a context a switch cannot
/// be configured with is refused with [`SwitchError::Config`]).
pub fn build_switch(
    kind: SwitchKind,
    ctx: &SwitchContext,
) -> Result<Box<dyn SwitchUnderTest>, SwitchError> {
    Ok(match kind {
        SwitchKind::Snich => Box::new(crate::snich_switch::SnichSwitch::new(ctx)?),
        SwitchKind::LinuxBridge => Box::new(crate::baselines::linux_bridge::LinuxBridge::new(ctx)?),
        SwitchKind::LinuxBridgeNftset => {
            Box::new(crate::baselines::linux_bridge::LinuxBridge::with_sets(ctx)?)
        }
        SwitchKind::OvsKernel => Box::new(crate::baselines::ovs::OpenVswitch::variant(
            ctx,
            crate::baselines::ovs::OvsVariant::Kernel,
        )?),
        SwitchKind::OvsDpdk => Box::new(crate::baselines::ovs::OpenVswitch::variant(
            ctx,
            crate::baselines::ovs::OvsVariant::Dpdk,
        )?),
        SwitchKind::OvsAfxdp => Box::new(crate::baselines::ovs::OpenVswitch::new(ctx)?),
        SwitchKind::SriovVeb => Box::new(crate::baselines::sriov_veb::SriovVeb::new(ctx)?),
    })
}

/// Why a run, comparison or sweep could not give results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario (or a sweep point's) is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A switch could not be built or failed its run (conservation included).
    #[error("{point}{source}")]
    Switch {
        /// The switch.
        kind: SwitchKind,
        /// `with KEY = VALUE: ` for a sweep point, else empty.
        point: String,
        /// What went wrong.
        source: SwitchError,
    },
    /// A `--vary` argument is malformed.
    #[error("--vary {arg}: {what}")]
    Vary {
        /// The argument.
        arg: String,
        /// What is wrong.
        what: String,
    },
}

/// Runs `kind` on `scenario` with the switches of this version ([`build_switch`]).
pub fn run_switch(kind: SwitchKind, scenario: &Scenario) -> Result<SwitchRun, RunError> {
    run_switch_with(&build_switch, kind, scenario, &ProgressBar::hidden())
}

/// Runs `kind` on `scenario`, building it with `factory`; `progress` advances by the packets
/// offered.
pub fn run_switch_with(
    factory: &SwitchFactory,
    kind: SwitchKind,
    scenario: &Scenario,
    progress: &ProgressBar,
) -> Result<SwitchRun, RunError> {
    run_one(factory, kind, scenario, progress).map_err(|source| RunError::Switch {
        kind,
        point: String::new(),
        source,
    })
}

/// Packets offered between progress updates (a bar's atomic update per packet would cost
/// more than some switches' work).
const PROGRESS_STEP: u64 = 4096;

fn run_one(
    factory: &SwitchFactory,
    kind: SwitchKind,
    scenario: &Scenario,
    progress: &ProgressBar,
) -> Result<SwitchRun, SwitchError> {
    crate::warmup::measure(factory, kind, scenario, progress).map(|m| m.run)
}

/// Builds `kind` and offers it `packets` (in time order), then finishes it and checks
/// conservation: the one place a switch is run (warm-ups and measurements included).
/// `backlog_checkpoint`: the offer at which the run also notes its backlog
/// ([`SwitchContext::backlog_checkpoint`]).
pub(crate) fn offer_all(
    factory: &SwitchFactory,
    kind: SwitchKind,
    scenario: &Scenario,
    (packets, backlog_checkpoint): (impl Iterator<Item = OfferedPacket>, Option<u64>),
    progress: &ProgressBar,
) -> Result<SwitchRun, SwitchError> {
    let mut ctx = scenario.context();
    ctx.backlog_checkpoint = backlog_checkpoint;
    let mut switch = factory(kind, &ctx)?;
    let mut offered = 0u64;
    for packet in packets {
        switch.offer(packet)?;
        offered += 1;
        if offered % PROGRESS_STEP == 0 {
            progress.inc(PROGRESS_STEP);
        }
    }
    progress.inc(offered % PROGRESS_STEP);
    let name = switch.name();
    let run = switch.finish()?;
    // Invariant 1, checked here too: a switch cannot lose packets by not counting them.
    let conservation = |ledger: &crate::switch::PacketLedger| SwitchError::Conservation {
        switch: name.clone(),
        violation: ConservationViolation(ledger.clone()),
    };
    run.ledger
        .check_drained()
        .map_err(|_| conservation(&run.ledger))?;
    if run.ledger.offered != offered {
        return Err(SwitchError::Internal(format!(
            "{name}: the run offered {offered} packets, the switch counted {}",
            run.ledger.offered
        )));
    }
    Ok(run)
}

/// Runs every switch of `kinds` on `scenario`, in order.
pub fn compare(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    scenario: &Scenario,
    progress: &ProgressBar,
) -> Result<Vec<SwitchRun>, RunError> {
    scenario.check_switches(kinds)?;
    kinds
        .iter()
        .map(|&k| run_switch_with(factory, k, scenario, progress))
        .collect()
}

/// Packets a scenario offers each switch (exact for a packet count; for a duration, counted
/// by generating the stream once), its warm-up counted twice ([`crate::warmup`]).
pub fn packets_offered(scenario: &Scenario) -> u64 {
    crate::warmup::offered_per_switch(scenario, measured_packets(scenario))
}

pub(crate) fn measured_packets(scenario: &Scenario) -> u64 {
    match scenario.limit {
        crate::scenario::Limit::Packets(n) => match scenario.workload.replay_stats() {
            Some(s) => n.min(s.offered),
            None => n,
        },
        crate::scenario::Limit::Duration(_) => scenario
            .workload
            .packets(&scenario.topology, scenario.seed, scenario.limit)
            .count() as u64,
    }
}

/// One key varied over values.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    /// The key path.
    pub key: String,
    /// The values, in order.
    pub values: Vec<toml::Value>,
}

/// A value of `--vary` as TOML: an integer, a float, a boolean, else a string.
fn parse_value(text: &str) -> toml::Value {
    let t = text.trim();
    if let Ok(i) = t.replace('_', "").parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match t {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(t.to_string()),
    }
}

impl FromStr for Vary {
    type Err = RunError;

    /// `KEY=V1,V2,...`.
    fn from_str(arg: &str) -> Result<Vary, RunError> {
        let bad = |what: &str| RunError::Vary {
            arg: arg.to_string(),
            what: what.to_string(),
        };
        let (key, values) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=V1,V2,..."))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        let values: Vec<toml::Value> = values
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(parse_value)
            .collect();
        if values.is_empty() {
            return Err(bad("no values"));
        }
        Ok(Vary {
            key: key.to_string(),
            values,
        })
    }
}

/// The runs of one value of a sweep.
#[derive(Debug)]
pub struct SweepPoint {
    /// The value.
    pub value: toml::Value,
    /// The scenario at this value.
    pub scenario: Scenario,
    /// One run per switch, in the order of the kinds asked for.
    pub runs: Vec<SwitchRun>,
}

/// Runs `kinds` at every value of `vary` on `doc`, on `threads` worker threads. Every
/// point's scenario is validated before any run starts.
pub fn sweep(
    factory: &SwitchFactory,
    kinds: &[SwitchKind],
    doc: &ScenarioDocument,
    vary: &Vary,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<SweepPoint>, RunError> {
    let scenarios: Vec<Scenario> = vary
        .values
        .iter()
        .map(|v| doc.with(&vary.key, v))
        .collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, SwitchKind)> = (0..scenarios.len())
        .flat_map(|p| kinds.iter().map(move |&k| (p, k)))
        .collect();
    let slots: Vec<Mutex<Option<Result<SwitchRun, SwitchError>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(p, kind)) = jobs.get(j) else {
                    break;
                };
                let result = run_one(factory, kind, &scenarios[p], progress);
                if let Ok(mut slot) = slots[j].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    let mut results = slots.into_iter().map(|m| {
        m.into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err(SwitchError::Internal("a sweep worker panicked".into())))
    });
    let mut points = Vec::with_capacity(scenarios.len());
    for (value, scenario) in vary.values.iter().zip(scenarios) {
        let mut runs = Vec::with_capacity(kinds.len());
        for &kind in kinds {
            let run = results
                .next()
                .unwrap_or_else(|| Err(SwitchError::Internal("a sweep job is missing".into())))
                .map_err(|source| RunError::Switch {
                    kind,
                    point: format!("with {} = {value}: ", vary.key),
                    source,
                })?;
            runs.push(run);
        }
        points.push(SweepPoint {
            value: value.clone(),
            scenario,
            runs,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_values_are_typed() {
        let v: Vary = "card.inter_vm=copy-engine,hairpin".parse().unwrap();
        assert_eq!(v.key, "card.inter_vm");
        assert_eq!(v.values[1], toml::Value::String("hairpin".into()));
        let v: Vary = "vms.count=1, 2,4".parse().unwrap();
        assert_eq!(v.values, vec![1.into(), 2.into(), 4.into()]);
        let v: Vary = "workload.rate.line_rate=0.5".parse().unwrap();
        assert_eq!(v.values, vec![toml::Value::Float(0.5)]);
        assert!("vms.count".parse::<Vary>().is_err());
        assert!("=1".parse::<Vary>().is_err());
        assert!("vms.count=".parse::<Vary>().is_err());
    }

    #[test]
    fn every_switch_builds_from_the_default_scenario() {
        let s = Scenario::from_toml("packets = 1", None).unwrap();
        for kind in SwitchKind::ALL
            .into_iter()
            .filter(|k| *k != SwitchKind::Snich)
        {
            let sw = build_switch(kind, &s.context()).unwrap();
            assert_eq!(sw.name(), kind.name());
        }
    }
}
