//! The flow-setup agent (core, single handler): turns a miss into an installed exact-match
//! entry, holds the flow's later packets until then, and keeps installed entries consistent
//! with the rules.
//!
//! ```text
//!  card's miss queue ──► on_miss(key, pkt) ── first miss of a flow: a setup is started
//!                              │               later misses of the same flow: held (bounded)
//!                              ▼
//!                        process(now): for each started setup, in arrival order
//!                          classify (SplitTree) ─► decision (rule, actions)
//!                          resolve to one card Action ─► FlowTableDevice::insert
//!                          release the first packet and every held one, in order
//!                              │
//!       not one card action, unparsed key, table full, flow limit: forwarded in software
//!       (released with the decision, counted), no entry installed
//! ```
//!
//! **Invariant 4 (consistency).** [`Agent::add_rule`] and [`Agent::remove_rule`] revalidate
//! before they return (their return is the acknowledgement): a new rule changes the decision
//! of exactly the installed keys it matches and outranks; removing a rule changes exactly the
//! keys it decided. Those entries are rewritten (or deleted when the new decision is not a card
//! action), every other entry is provably unchanged, so no stale entry survives an update.
//!
//! **Invariant 5 (order).** Packets of one flow are released in the order they arrived: the
//! first miss starts the setup, every later packet of the flow before `process` is held in a
//! FIFO behind it. A flow holds at most [`AgentConfig::max_held_per_flow`] packets; beyond
//! that each packet is dropped and counted ([`AgentCounters::held_overflow`]), never silently.
//!
//! **Table full.** An insert that fails with `TableFull` first evicts idle entries
//! ([`AgentConfig::idle_timeout`]) and retries once; if it still fails the flow is forwarded in
//! software and the flow limit drops to the table's occupancy, so later misses go straight to
//! software instead of probing a full table. Like Open vSwitch's adaptive flow limit it
//! recovers: every eviction that frees entries raises it again (by the number freed, up to
//! the table's capacity).
//!
//! Not built yet: several handler threads (today one thread owns the agent) and the CPU cost
//! of software forwarding (the sim-harness host model prices [`AgentCounters::software`]).

use std::collections::{HashMap, VecDeque};

use nic_abi::action::{Action as CardAction, Destination, VlanId, VlanOp};
use nic_abi::device::{FlowTableDevice, FlowTableError};
use nic_abi::key::{FlowKey, KeyWords, PortNo};
use nic_abi::time::{SimDuration, SimTime};

use crate::classifier::{Classifier, ClassifierError, SplitTree};
use crate::rule::{Action, Point, Rule, RuleId};

/// Agent parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfig {
    /// Packets of one flow held behind its setup; more are dropped and counted.
    pub max_held_per_flow: usize,
    /// An entry not hit for this long may be evicted when the table is full.
    pub idle_timeout: SimDuration,
}

impl Default for AgentConfig {
    /// 64 held packets per flow (a burst at line rate during one setup); 10 s idle timeout,
    /// Open vSwitch's default `max-idle`.
    fn default() -> Self {
        AgentConfig {
            max_held_per_flow: 64,
            idle_timeout: SimDuration::from_ns(10_000_000_000),
        }
    }
}

/// Why a flow is forwarded in software instead of by an installed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoftwareReason {
    /// The key is not a parsed key; the card never looks it up.
    Unparsed,
    /// The actions are not one card action (several outputs, an edit after an output, two
    /// VLAN edits, `normal`, which needs MAC learning the agent does not do yet).
    NotACardAction,
    /// The table was full even after idle eviction.
    TableFull,
    /// The adaptive flow limit was reached.
    FlowLimit,
}

/// The decision for a flow (the rule's actions are [`Agent::rule`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The winning rule, or `None` (table miss: drop).
    pub rule: Option<RuleId>,
    /// The card action, when the rule's actions are one.
    pub card: Option<CardAction>,
}

/// A packet the agent releases, with what happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<P> {
    /// The packet.
    pub packet: P,
    /// Its flow.
    pub key: FlowKey,
    /// The decision applied to it.
    pub decision: Decision,
    /// `None` when the flow's entry was installed; else why the flow goes through software.
    pub software: Option<SoftwareReason>,
}

/// What happened to a miss handed to [`Agent::on_miss`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The first miss of the flow: a setup was started.
    Started,
    /// Held behind the flow's setup.
    Held,
    /// The flow's hold queue was full: dropped (counted).
    DroppedHeldOverflow,
}

/// Counters; `misses = started + held + held_overflow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentCounters {
    /// Misses received.
    pub misses: u64,
    /// Setups started.
    pub started: u64,
    /// Packets held behind a setup.
    pub held: u64,
    /// Packets dropped because their flow's hold queue was full.
    pub held_overflow: u64,
    /// Entries installed.
    pub installed: u64,
    /// Packets released to software forwarding.
    pub software: u64,
    /// Entries rewritten or deleted by revalidation.
    pub revalidated: u64,
    /// Entries evicted as idle.
    pub evicted: u64,
}

/// Error from the agent: the device failed in a way that leaves its state unknown, or a rule
/// id is wrong.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The flow-table device failed.
    #[error("flow table: {0}")]
    Device(#[from] FlowTableError),
    /// A rule update named a rule that is not there (or reused an id).
    #[error("rules: {0}")]
    Rules(#[from] ClassifierError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Installed {
    rule: Option<RuleId>,
    action: CardAction,
}

/// The agent over a flow-table device `D`, for packets of type `P`.
#[derive(Debug)]
pub struct Agent<D: FlowTableDevice, P> {
    config: AgentConfig,
    device: D,
    rules: HashMap<RuleId, Rule>,
    classifier: SplitTree,
    next_id: u32,
    /// Keyed by the packed key: std's SipHash (flow keys come from the network, so the maps
    /// must resist collision floods) hashes the 60 bytes in one pass, where the derived
    /// `Hash` of a `FlowKey` makes some 20 small writes that cost it several times more.
    installed: HashMap<KeyWords, (FlowKey, Installed)>,
    /// Flows being set up, in arrival order of their first miss, with their packets.
    setups: VecDeque<FlowKey>,
    held: HashMap<KeyWords, VecDeque<P>>,
    flow_limit: u64,
    counters: AgentCounters,
}

/// The card action for `actions` applied to packets of `key`, if they are one.
///
/// Follows the table in `nic_abi::action`: at most one VLAN edit, then at most one forwarding
/// action, which ends the list; `output` to the input port is OpenFlow's no-op (a drop).
pub fn card_action(actions: &[Action], in_port: PortNo) -> Option<CardAction> {
    let mut vlan = VlanOp::Keep;
    let mut dest = None;
    for a in actions {
        if dest.is_some() {
            return None; // anything after the forwarding action
        }
        match *a {
            Action::ModVlanVid(v) => {
                if vlan != VlanOp::Keep {
                    return None;
                }
                vlan = VlanOp::Set {
                    vid: VlanId::new(v).ok()?,
                    pcp: None,
                };
            }
            Action::StripVlan => {
                if vlan != VlanOp::Keep {
                    return None;
                }
                vlan = VlanOp::Strip;
            }
            Action::Output(p) if p == in_port => dest = Some(Destination::Drop),
            Action::Output(p) => dest = Some(Destination::Output(p)),
            Action::InPort => dest = Some(Destination::Output(in_port)),
            Action::Flood => dest = Some(Destination::Flood),
            Action::Controller { .. } => dest = Some(Destination::ToAgent),
            Action::Normal => return None,
        }
    }
    let action = CardAction {
        dest: dest.unwrap_or(Destination::Drop),
        vlan,
    }
    .canonical();
    action.validate().ok()?;
    Some(action)
}

impl<D: FlowTableDevice, P> Agent<D, P> {
    /// An agent with no rules (every flow: table miss, drop) over `device`.
    pub fn new(device: D, config: AgentConfig) -> Agent<D, P> {
        let flow_limit = device.capacity();
        Agent {
            config,
            device,
            rules: HashMap::new(),
            classifier: SplitTree::new(),
            next_id: 0,
            installed: HashMap::new(),
            setups: VecDeque::new(),
            held: HashMap::new(),
            flow_limit,
            counters: AgentCounters::default(),
        }
    }

    /// An agent over `device` with `rules` (ids 0, 1, ... in list order), the classifier
    /// built in one go.
    pub fn with_rules(
        device: D,
        config: AgentConfig,
        rules: Vec<Rule>,
    ) -> Result<Agent<D, P>, AgentError> {
        let mut a = Agent::new(device, config);
        a.classifier.bulk_insert(
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| (crate::classifier::rule_id(i), r.priority, &r.pattern)),
        )?;
        for (i, r) in rules.into_iter().enumerate() {
            a.rules.insert(crate::classifier::rule_id(i), r);
        }
        a.next_id = u32::try_from(a.rules.len()).unwrap_or(u32::MAX);
        Ok(a)
    }

    /// The counters.
    pub fn counters(&self) -> AgentCounters {
        self.counters
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The installed entries: key and the rule that decided it.
    pub fn installed(&self) -> impl Iterator<Item = (&FlowKey, Option<RuleId>)> {
        self.installed.values().map(|(k, i)| (k, i.rule))
    }

    /// The current flow limit.
    pub fn flow_limit(&self) -> u64 {
        self.flow_limit
    }

    /// The rule `id`, if in force.
    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.rules.get(&id)
    }

    /// The decision for `key` under the rules in force.
    pub fn decide(&self, key: &FlowKey) -> Decision {
        let rule = self.classifier.lookup_key(key);
        let actions: &[Action] = rule
            .and_then(|id| self.rules.get(&id))
            .map_or(&[], |r| r.actions.as_slice());
        Decision {
            rule,
            card: card_action(actions, key.in_port),
        }
    }

    /// A miss from the card: starts the flow's setup, or holds the packet behind it.
    pub fn on_miss(&mut self, key: FlowKey, packet: P) -> Admission {
        self.counters.misses += 1;
        let words = key.to_words();
        if let Some(q) = self.held.get_mut(&words) {
            if q.len() >= self.config.max_held_per_flow {
                self.counters.held_overflow += 1;
                return Admission::DroppedHeldOverflow;
            }
            q.push_back(packet);
            self.counters.held += 1;
            return Admission::Held;
        }
        self.held.insert(words, VecDeque::from([packet]));
        self.setups.push_back(key);
        self.counters.started += 1;
        Admission::Started
    }

    /// Completes every started setup, in arrival order: classifies, installs (or decides on
    /// software forwarding) and releases the flow's packets in order.
    pub fn process(&mut self, now: SimTime) -> Result<Vec<Released<P>>, AgentError> {
        let mut out = Vec::new();
        while let Some(key) = self.setups.pop_front() {
            let decision = self.decide(&key);
            let software = self.install(now, &key, &decision)?;
            let packets = self.held.remove(&key.to_words()).unwrap_or_default();
            if software.is_some() {
                self.counters.software += packets.len() as u64;
            }
            out.extend(packets.into_iter().map(|packet| Released {
                packet,
                key,
                decision,
                software,
            }));
        }
        Ok(out)
    }

    fn install(
        &mut self,
        now: SimTime,
        key: &FlowKey,
        decision: &Decision,
    ) -> Result<Option<SoftwareReason>, AgentError> {
        if !key.is_parsed() {
            return Ok(Some(SoftwareReason::Unparsed));
        }
        let Some(action) = decision.card else {
            return Ok(Some(SoftwareReason::NotACardAction));
        };
        let words = key.to_words();
        if !self.installed.contains_key(&words) && self.device.occupancy() >= self.flow_limit {
            self.evict_idle(now)?;
            if self.device.occupancy() >= self.flow_limit {
                return Ok(Some(SoftwareReason::FlowLimit));
            }
        }
        let mut result = self.device.insert(key, action);
        if matches!(result, Err(FlowTableError::TableFull { .. })) {
            self.evict_idle(now)?;
            result = self.device.insert(key, action);
        }
        match result {
            Ok(_) => {
                self.installed.insert(
                    words,
                    (
                        *key,
                        Installed {
                            rule: decision.rule,
                            action,
                        },
                    ),
                );
                self.counters.installed += 1;
                Ok(None)
            }
            Err(FlowTableError::TableFull { occupancy, .. }) => {
                self.flow_limit = occupancy;
                Ok(Some(SoftwareReason::TableFull))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Evicts entries not hit within the idle timeout; returns how many went. Raises the flow
    /// limit by as many (up to the capacity).
    pub fn evict_idle(&mut self, now: SimTime) -> Result<usize, AgentError> {
        let mut idle = Vec::new();
        for (key, _) in self.installed.values() {
            if let Some(stats) = self.device.entry_stats(key)? {
                if now.saturating_since(stats.last_hit) >= self.config.idle_timeout {
                    idle.push(*key);
                }
            }
        }
        idle.sort_unstable();
        for key in &idle {
            self.device.delete(key)?;
            self.installed.remove(&key.to_words());
        }
        self.counters.evicted += idle.len() as u64;
        self.flow_limit = (self.flow_limit + idle.len() as u64).min(self.device.capacity());
        Ok(idle.len())
    }

    /// Adds a rule and revalidates; when this returns, every installed entry agrees with the
    /// new rule set. Returns the rule's id.
    pub fn add_rule(&mut self, rule: Rule) -> Result<RuleId, AgentError> {
        let id = RuleId(self.next_id);
        self.next_id += 1;
        self.classifier.insert(id, rule.priority, &rule.pattern)?;
        let pattern = rule.pattern;
        self.rules.insert(id, rule);
        // Exactly the keys the new rule matches and now wins can change.
        let affected: Vec<FlowKey> = self
            .installed
            .values()
            .map(|(k, _)| *k)
            .filter(|k| pattern.matches(k))
            .collect();
        self.revalidate(&affected)?;
        Ok(id)
    }

    /// Removes a rule and revalidates; when this returns, no installed entry was decided by
    /// it (or still carries its decision).
    pub fn remove_rule(&mut self, id: RuleId) -> Result<Rule, AgentError> {
        self.classifier.remove(id)?;
        let rule = self
            .rules
            .remove(&id)
            .ok_or(ClassifierError::UnknownId(id))?;
        let affected: Vec<FlowKey> = self
            .installed
            .values()
            .filter(|(_, i)| i.rule == Some(id))
            .map(|(k, _)| *k)
            .collect();
        self.revalidate(&affected)?;
        Ok(rule)
    }

    fn revalidate(&mut self, keys: &[FlowKey]) -> Result<(), AgentError> {
        for key in keys {
            let d = self.decide(key);
            let words = key.to_words();
            let Some(old) = self.installed.get(&words).map(|e| e.1) else {
                continue;
            };
            match d.card {
                Some(action) if action == old.action && d.rule == old.rule => {}
                Some(action) => {
                    self.device.insert(key, action)?;
                    self.installed.insert(
                        words,
                        (
                            *key,
                            Installed {
                                rule: d.rule,
                                action,
                            },
                        ),
                    );
                    self.counters.revalidated += 1;
                }
                None => {
                    self.device.delete(key)?;
                    self.installed.remove(&words);
                    self.counters.revalidated += 1;
                }
            }
        }
        Ok(())
    }

    /// Checks invariant 4 against a from-scratch linear classification of the rules in force:
    /// every installed entry holds the action its key's decision resolves to, and the device
    /// agrees. Returns the first violation.
    pub fn check_consistency(&mut self) -> Result<(), String> {
        let mut linear = crate::classifier::LinearClassifier::new();
        for (id, r) in &self.rules {
            linear
                .insert(*id, r.priority, &r.pattern)
                .map_err(|e| e.to_string())?;
        }
        let keys: Vec<(FlowKey, Installed)> = self.installed.values().copied().collect();
        for (key, inst) in keys {
            let rule = linear.lookup(&Point::from(&key));
            let actions = rule
                .and_then(|id| self.rules.get(&id))
                .map(|r| r.actions.clone())
                .unwrap_or_default();
            let want = card_action(&actions, key.in_port);
            if want != Some(inst.action) {
                return Err(format!(
                    "entry for {key:?} holds {:?}, rules say {want:?}",
                    inst.action
                ));
            }
            let on_card = self.device.lookup(&key).map_err(|e| e.to_string())?;
            if on_card != Some(inst.action) {
                return Err(format!(
                    "device holds {on_card:?} for {key:?}, agent thinks {:?}",
                    inst.action
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_actions_follow_the_abi_table() {
        let p1 = PortNo(1);
        let out = |n| Action::Output(PortNo(n));
        assert_eq!(card_action(&[], p1), Some(CardAction::DROP));
        assert_eq!(
            card_action(&[out(2)], p1),
            Some(CardAction::output(PortNo(2)))
        );
        assert_eq!(
            card_action(&[out(1)], p1),
            Some(CardAction::DROP),
            "output to in_port"
        );
        assert_eq!(
            card_action(&[Action::InPort], p1),
            Some(CardAction::output(p1))
        );
        assert_eq!(
            card_action(&[Action::Controller { max_len: 65535 }], p1),
            Some(CardAction::TO_AGENT)
        );
        assert_eq!(
            card_action(&[Action::ModVlanVid(7), Action::Flood], p1),
            Some(CardAction {
                dest: Destination::Flood,
                vlan: VlanOp::Set {
                    vid: VlanId::new(7).unwrap(),
                    pcp: None
                }
            })
        );
        assert_eq!(
            card_action(&[Action::StripVlan], p1),
            Some(CardAction::DROP),
            "an edit on a dropped packet is canonically no edit"
        );
        assert_eq!(card_action(&[out(2), out(3)], p1), None);
        assert_eq!(card_action(&[out(2), Action::StripVlan], p1), None);
        assert_eq!(
            card_action(&[Action::StripVlan, Action::ModVlanVid(3), out(2)], p1),
            None
        );
        assert_eq!(card_action(&[Action::Normal], p1), None);
    }
}
