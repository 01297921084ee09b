//! Faults injected into the sNICh system during a run: the scenario's `[faults]` table.
//!
//! ```toml
//! [faults]
//! agent_crash_at_us = 500     # the flow-setup agent crashes then ...
//! agent_down_us = 100         # ... and a new one starts this much later (default 100)
//! stuck_vms = [3]             # these VMs (0-based, as in [vms]) stop consuming their RX rings
//! stuck_from_us = 200         # ... from then on (default 0)
//! rule_updates_per_second = 10000   # the administrator changes rules this often ...
//! rule_updates = """
//! priority=60000,udp,tp_dst=53,actions=drop
//! """                          # ... adding these in turn, each removed by the next update
//! rule_updates_from_us = 1000  # ... from then on (default 0)
//! ```
//!
//! Only the sNICh switch (`snich` and its copy-mode variants) runs them: the crash is of its
//! agent (`snich_system::control::ControlPlane::schedule_agent_crash`), and a stuck VM is
//! one of its guests that no longer reads its completions nor re-posts RX buffers, so the
//! card drops what comes for it as `no_rx_buffer`. Rule updates go to the agent as an
//! administrator's would: one update adds the next of `rule_updates` (cycling through them),
//! the one after removes it, and the agent revalidates the entries either touches before the
//! call returns (invariant 4). An update due at time T is applied when the first packet at or
//! after T is offered, before that packet, so a run's warm-up and its measurement see the same
//! updates at the same packets. The baselines run the scenario without
//! them (their switches are not this work's). Every key is checked when the scenario is read:
//! an unknown one, a VM the scenario does not have, a VM listed twice, a down time without a
//! crash, a start without stuck VMs, a rate without rules (or rules without a rate), or rules
//! that do not parse is refused, naming the key.

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::switch::VmIndex;

/// The `[faults]` table as written. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsSpec {
    /// When the sNICh agent crashes, microseconds of simulated time from the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_crash_at_us: Option<u64>,
    /// How long it stays down before a new agent starts, microseconds (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_down_us: Option<u64>,
    /// VMs (0-based) that stop consuming their RX rings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stuck_vms: Vec<u16>,
    /// When they stop, microseconds (default 0: from the start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck_from_us: Option<u64>,
    /// Rule updates per second (1 to 1,000,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_updates_per_second: Option<u64>,
    /// The rules the updates add in turn, in ovs-ofctl syntax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_updates: Option<String>,
    /// When the updates start, microseconds (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_updates_from_us: Option<u64>,
}

impl FaultsSpec {
    /// True when the table asks for nothing (it is left out of reports then).
    pub fn is_empty(&self) -> bool {
        *self == FaultsSpec::default()
    }
}

/// The agent's crash: when, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentCrash {
    /// When the agent crashes.
    pub at: SimTime,
    /// How long before the new agent starts.
    pub down_for: SimDuration,
}

/// Rules changed during the run: every `every` from `from`, alternately adding the next of
/// `rules` and removing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChurn {
    /// The rules added in turn (at least one).
    pub rules: Vec<flow_setup::rule::Rule>,
    /// Time between updates.
    pub every: SimDuration,
    /// The first update's time.
    pub from: SimTime,
}

/// The validated faults of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The agent's crash, if any.
    pub agent_crash: Option<AgentCrash>,
    /// VMs that stop consuming their RX rings, in VM order.
    pub stuck_vms: Vec<VmIndex>,
    /// From when.
    pub stuck_from: SimTime,
    /// Rule updates during the run, if any.
    pub rule_churn: Option<RuleChurn>,
}

/// A `[faults]` key with a bad value: the key (under `faults.`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("faults.{key}: {what}")]
pub struct FaultsError {
    /// The key.
    pub key: String,
    /// What is wrong.
    pub what: String,
}

fn err(key: impl Into<String>, what: impl Into<String>) -> FaultsError {
    FaultsError {
        key: key.into(),
        what: what.into(),
    }
}

/// The longest simulated time a fault key may name (an hour): a bound that turns a unit
/// mistake into an error.
const MAX_US: u64 = 3_600_000_000;

impl Faults {
    /// Validates `spec` for a scenario of `vms` VMs.
    pub fn from_spec(spec: &FaultsSpec, vms: usize) -> Result<Faults, FaultsError> {
        let us = |key: &str, v: u64| -> Result<SimDuration, FaultsError> {
            if v > MAX_US {
                return Err(err(key, format!("{v} us is more than an hour")));
            }
            Ok(SimDuration::from_us(v))
        };
        let agent_crash = match (spec.agent_crash_at_us, spec.agent_down_us) {
            (None, Some(_)) => {
                return Err(err(
                    "agent_down_us",
                    "given without agent_crash_at_us: no crash to come back from",
                ))
            }
            (None, None) => None,
            (Some(at), down) => {
                let down = down.unwrap_or(100);
                if down == 0 {
                    return Err(err("agent_down_us", "must be at least 1"));
                }
                Some(AgentCrash {
                    at: SimTime::ZERO + us("agent_crash_at_us", at)?,
                    down_for: us("agent_down_us", down)?,
                })
            }
        };
        if spec.stuck_vms.is_empty() && spec.stuck_from_us.is_some() {
            return Err(err("stuck_from_us", "given without stuck_vms"));
        }
        let mut stuck_vms = Vec::with_capacity(spec.stuck_vms.len());
        for (i, &vm) in spec.stuck_vms.iter().enumerate() {
            if usize::from(vm) >= vms {
                return Err(err(
                    format!("stuck_vms[{i}]"),
                    format!("VM {vm} is not one of the scenario's {vms} VMs (0-based)"),
                ));
            }
            if stuck_vms.contains(&VmIndex(vm)) {
                return Err(err(
                    format!("stuck_vms[{i}]"),
                    format!("VM {vm} is listed twice"),
                ));
            }
            stuck_vms.push(VmIndex(vm));
        }
        stuck_vms.sort_unstable();
        let stuck_from = SimTime::ZERO + us("stuck_from_us", spec.stuck_from_us.unwrap_or(0))?;
        let rule_churn = match (spec.rule_updates_per_second, &spec.rule_updates) {
            (None, None) => {
                if spec.rule_updates_from_us.is_some() {
                    return Err(err(
                        "rule_updates_from_us",
                        "given without rule_updates_per_second",
                    ));
                }
                None
            }
            (None, Some(_)) => {
                return Err(err(
                    "rule_updates",
                    "given without rule_updates_per_second: how often to apply them",
                ))
            }
            (Some(_), None) => {
                return Err(err(
                    "rule_updates_per_second",
                    "given without rule_updates: the rules to add and remove",
                ))
            }
            (Some(rate), Some(text)) => {
                if !(1..=1_000_000).contains(&rate) {
                    return Err(err(
                        "rule_updates_per_second",
                        format!("{rate} is not in 1 to 1,000,000"),
                    ));
                }
                let rules = flow_setup::ofctl::parse_rules(text)
                    .map_err(|e| err("rule_updates", e.to_string()))?;
                if rules.is_empty() {
                    return Err(err("rule_updates", "holds no rule"));
                }
                let from = SimTime::ZERO
                    + us(
                        "rule_updates_from_us",
                        spec.rule_updates_from_us.unwrap_or(0),
                    )?;
                Some(RuleChurn {
                    rules,
                    every: SimDuration(1_000_000_000_000 / rate),
                    from,
                })
            }
        };
        Ok(Faults {
            agent_crash,
            stuck_vms,
            stuck_from,
            rule_churn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<FaultsSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_empty_table_is_no_fault() {
        let s = spec("").expect("empty");
        assert!(s.is_empty());
        assert_eq!(Faults::from_spec(&s, 4), Ok(Faults::default()));
    }

    #[test]
    fn a_crash_and_a_stuck_vm() {
        let s = spec("agent_crash_at_us = 500\nstuck_vms = [3, 1]\nstuck_from_us = 20")
            .expect("parses");
        let f = Faults::from_spec(&s, 4).expect("valid");
        assert_eq!(
            f.agent_crash,
            Some(AgentCrash {
                at: SimTime(500_000_000),
                down_for: SimDuration::from_us(100)
            })
        );
        assert_eq!(f.stuck_vms, vec![VmIndex(1), VmIndex(3)]);
        assert_eq!(f.stuck_from, SimTime(20_000_000));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |text: &str, vms| {
            Faults::from_spec(&spec(text).expect("parses"), vms)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            bad("agent_down_us = 5", 2),
            "faults.agent_down_us: given without agent_crash_at_us: no crash to come back from"
        );
        assert_eq!(
            bad("agent_crash_at_us = 1\nagent_down_us = 0", 2),
            "faults.agent_down_us: must be at least 1"
        );
        assert_eq!(
            bad("stuck_vms = [0, 2]", 2),
            "faults.stuck_vms[1]: VM 2 is not one of the scenario's 2 VMs (0-based)"
        );
        assert_eq!(
            bad("stuck_vms = [1, 1]", 2),
            "faults.stuck_vms[1]: VM 1 is listed twice"
        );
        assert_eq!(
            bad("stuck_from_us = 3", 2),
            "faults.stuck_from_us: given without stuck_vms"
        );
        assert_eq!(
            bad("agent_crash_at_us = 4000000000", 2),
            "faults.agent_crash_at_us: 4000000000 us is more than an hour"
        );
    }

    #[test]
    fn rule_updates_need_a_rate_and_rules_that_parse() {
        let s = spec(
            "rule_updates_per_second = 10000\nrule_updates = \"priority=9,udp,actions=drop\"\n\
             rule_updates_from_us = 5",
        )
        .expect("parses");
        let c = Faults::from_spec(&s, 2)
            .expect("valid")
            .rule_churn
            .expect("churn");
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.every, SimDuration::from_us(100));
        assert_eq!(c.from, SimTime(5_000_000));
        let bad = |text: &str| {
            Faults::from_spec(&spec(text).expect("parses"), 2)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            bad("rule_updates_per_second = 5"),
            "faults.rule_updates_per_second: given without rule_updates: the rules to add and remove"
        );
        assert_eq!(
            bad("rule_updates = \"actions=drop\""),
            "faults.rule_updates: given without rule_updates_per_second: how often to apply them"
        );
        assert_eq!(
            bad("rule_updates_from_us = 5"),
            "faults.rule_updates_from_us: given without rule_updates_per_second"
        );
        assert_eq!(
            bad("rule_updates_per_second = 0\nrule_updates = \"actions=drop\""),
            "faults.rule_updates_per_second: 0 is not in 1 to 1,000,000"
        );
        assert_eq!(
            bad("rule_updates_per_second = 5\nrule_updates = \"\""),
            "faults.rule_updates: holds no rule"
        );
        assert!(
            bad("rule_updates_per_second = 5\nrule_updates = \"udp,tp_dst=x,actions=drop\"")
                .starts_with("faults.rule_updates: "),
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = spec("agent_crash_at = 5").expect_err("unknown");
        assert!(
            e.to_string().contains("unknown field `agent_crash_at`"),
            "{e}"
        );
    }
}
