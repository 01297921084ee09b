//! The flow-setup agent: turns a miss into an installed exact-match
//! entry, holds the flow's later packets until then, and keeps installed entries consistent
//! with the rules.
//!
//! ```text
//!  card's miss ring ──► on_miss_record(rec) ── unparsed key / ToAgent hit: decided per
//!                              │                packet on a full software parse, released now
//!                              ▼
//!                        on_miss(key, pkt) ── first miss of a flow: a setup is started
//!                              │               later misses of the same flow: held (bounded)
//!                              ▼
//!                        process(now): for each started setup, in arrival order
//!                          classify (SplitTree) ─► decision (rule, actions)
//!                          resolve to one card Action ─► FlowTableDevice::insert
//!                          release the first packet and every held one, in order
//!                              │
//!       not one card action, unparsed key, table full, flow limit, a decision that depends
//!       on arp_sha/arp_tha: forwarded in software (released with the decision, counted),
//!       no entry installed
//! ```
//!
//! **Fields the card does not hold.** An ARP packet's hardware addresses (`arp_sha`,
//! `arp_tha`) are matchable but not in the card's packed key. The agent takes them from a
//! software parse of the miss record's header bytes, groups held packets by card key *and*
//! hardware addresses, and installs no entry when the card key's decision depends on them:
//! when the best rule whose other fields match the key (its card-key fields) matches the
//! hardware addresses. Such packets are forwarded in software
//! ([`SoftwareReason::SoftwareFields`]); since no entry is installed, each later packet
//! misses and is decided on its own addresses. Revalidation and recovery apply the same test,
//! so adding such a rule deletes the entries it makes undecidable by the card.
//!
//! **Invariant 4 (consistency).** [`Agent::add_rule`] and [`Agent::remove_rule`] revalidate
//! before they return (their return is the acknowledgement): a new rule changes the decision
//! of exactly the installed keys whose card-key fields it matches and that it outranks; removing a rule changes exactly the
//! keys it decided. Those entries are rewritten (or deleted when the new decision is not a card
//! action), every other entry is provably unchanged, so no stale entry survives an update.
//!
//! **Invariant 5 (order).** Packets of one flow are released in the order they arrived: the
//! first miss starts the setup, every later packet of the flow before `process` is held in a
//! FIFO behind it. A flow holds at most [`AgentConfig::max_held_per_flow`] packets; beyond
//! that each packet is dropped and counted ([`AgentCounters::held_overflow`]), never silently.
//!
//! **Table full.** When the table is full or at the flow limit, an install first makes room
//! (like Open vSwitch's revalidators over their flow limit), then retries once. A pressure scan
//! reads every installed entry's counters and evicts the entries idle for a hundredth of
//! [`AgentConfig::idle_timeout`] (100 ms by default: Open vSwitch cuts `max-idle` to that over
//! its limit), and, when that frees less than an eighth of the table, the least recently hit
//! entries up to that eighth. A scan runs at most once per that hundredth of the idle timeout;
//! pressure between scans evicts the eighth of the table installed longest ago, with no counter
//! reads. Either way a pass makes room for an eighth of the table, so its cost is spread over
//! that many installs instead of falling on every miss. If the insert still fails the flow is
//! forwarded in software and the flow limit drops to the table's occupancy, so later misses go
//! straight to software instead of probing a full table; every eviction raises the limit again
//! by the number of entries it freed, up to the table's capacity.
//!
//! **Threads.** [`Agent`] is owned by one thread; [`SharedAgent`] is the same agent behind
//! `parking_lot` locks for several handler threads (its doc gives the lock order).
//!
//! **Cost.** [`AgentCounters::host_cpu_time`] prices the agent's work with [`AgentCosts`]: a
//! fixed setup cost per started flow or record decided on its own plus the classifier's node
//! visits of its lookup ([`crate::classifier::LookupCost::visits`]) at a per-visit cost, so
//! the rule set's size and shape move a setup's price; a held-miss cost per packet queued
//! behind a setup; and a software-forwarding cost per packet forwarded in software. Whoever
//! runs the agent on a host core charges that time there (`sim-harness` takes every cost
//! from its cost profile; [`AgentCosts::default`] is that profile's values, for tests).
//!
//! Not built here: `normal` (MAC learning).

use std::collections::{HashMap, VecDeque};

use nic_abi::action::{Action as CardAction, Destination, VlanId, VlanOp};
use nic_abi::desc::{MissReason, MissRecord, PacketHandle};
use nic_abi::device::{FlowTableDevice, FlowTableError, FlowTableScan, ScanStep};
use nic_abi::key::{FlowKey, KeyWords, PortNo};
use nic_abi::time::{SimDuration, SimTime};

use parking_lot::{Mutex, RwLock};

use crate::classifier::{Classifier, ClassifierError, SplitTree};
use crate::rule::{Action, Point, Rule, RuleId};

/// Agent parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfig {
    /// Packets of one flow held behind its setup; more are dropped and counted.
    pub max_held_per_flow: usize,
    /// An entry not hit for this long may be evicted when the table is full.
    pub idle_timeout: SimDuration,
    /// Host CPU time the agent's work costs ([`AgentCounters::host_cpu_time`]).
    pub costs: AgentCosts,
}

impl Default for AgentConfig {
    /// 64 held packets per flow (a burst at line rate during one setup); 10 s idle timeout,
    /// Open vSwitch's default `max-idle`; [`AgentCosts::default`].
    fn default() -> Self {
        AgentConfig {
            max_held_per_flow: 64,
            idle_timeout: SimDuration::from_ns(10_000_000_000),
            costs: AgentCosts::default(),
        }
    }
}

/// Host-core time per unit of the agent's work. The installs themselves cost what the device
/// charges (the driver's MMIO writes on the PCIe model), not counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentCosts {
    /// The fixed part of a miss that starts a flow's setup, or of a record decided on its own
    /// (take the record, derive the entry or decide the packet): everything but the
    /// classification, which [`AgentCosts::per_visit`] prices.
    pub setup: SimDuration,
    /// One node visit of a classification ([`crate::classifier::LookupCost::visits`]).
    pub per_visit: SimDuration,
    /// A miss of a flow whose setup is already under way: unpack the record's key, find the
    /// flow among the pending ones (one hash-map probe) and append the packet to its queue (or
    /// count it dropped when the queue is full). No classification.
    pub held: SimDuration,
    /// Forwarding one packet in software (table full, flow limit, not a card action).
    pub software_forward: SimDuration,
}

impl Default for AgentCosts {
    /// The values of `profiles/default.toml`'s `[snich.agent]` and `classifier.per_visit`
    /// (where their sources are; simulations take them from the profile), for tests.
    ///
    /// `setup` and `software_forward` 4,039 ns: Open vSwitch 3.1's userspace datapath with
    /// AF_XDP ports, 1 flow, no rules, busy time of the switch core per forwarded 64-byte
    /// packet (median), measured on this kind of machine (the team's
    /// `real_switches_2026-11-22.json`, record `ovs-netdev`/`afxdp-nonpmd`/0 rules/1 flow). The
    /// agent, like that datapath, takes packets from a ring in userspace, classifies them and
    /// hands them on.
    ///
    /// `held` 100 ns: this agent's own held-miss path (`Agent::on_miss_record` for a flow
    /// already pending, 1,024 flows pending) measured by the criterion bench `agent/held_miss`
    /// at 79-87 ns per record (11.5-12.7 M records/s) on the same 2-core AMD EPYC class of
    /// machine (2026-12-02, load 2), rounded up; the driver's ring reads are charged apart
    /// (`host-driver`'s `miss_record_cycles`).
    fn default() -> Self {
        AgentCosts {
            setup: SimDuration::from_ns(4_039),
            per_visit: SimDuration(PER_VISIT_PS),
            held: SimDuration::from_ns(100),
            software_forward: SimDuration::from_ns(4_039),
        }
    }
}

/// `classifier.per_visit` of `profiles/default.toml`, in picoseconds (for
/// [`AgentCosts::default`]).
const PER_VISIT_PS: u64 = 11_200;

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
    /// The decision depends on fields the card's key does not hold (an ARP packet's
    /// `arp_sha`/`arp_tha`, matched by a rule that could decide it): packets with the same card
    /// key may need different decisions, so no entry is installed and each flow (card key and
    /// hardware addresses) is decided in software.
    SoftwareFields,
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

/// What the agent did with a miss record from the card's exception ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A table miss: admitted as by [`Agent::on_miss`].
    Admitted(Admission),
    /// The packet is decided on its own, in software, and released now: its key is unparsed
    /// (decided on a full software parse of the record's header bytes), or its entry says
    /// `ToAgent` (a `controller` rule).
    DecidedInSoftware {
        /// The key the decision was made on.
        key: FlowKey,
        /// The decision.
        decision: Decision,
    },
}

/// Counters; `misses = started + held + held_overflow` (table misses) and every record is
/// either a table miss or `decided_per_packet`.
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
    /// Miss records decided one by one in software (unparsed key, `ToAgent` entry).
    pub decided_per_packet: u64,
    /// Classifier node visits of the setups' and per-record decisions' lookups.
    pub visits: u64,
    /// Crashes ([`Agent::crash`]).
    pub crashes: u64,
    /// Flows whose setup was under way at a crash (their held packets' handles lost with
    /// the agent's memory; the card still holds the packets).
    pub lost_setups: u64,
    /// Entries adopted from the card's table by a restarted agent ([`Agent::recover`]).
    pub recovered: u64,
    /// Entries a restarted agent found on the card with an action the rules no longer give
    /// (rewritten) or no card action at all (deleted).
    pub recovery_fixed: u64,
}

impl AgentCounters {
    /// Host CPU time of the work counted: every setup started and every record decided per
    /// packet costs `costs.setup` plus `costs.per_visit` per node visit of its lookup, every
    /// miss held behind a setup (or dropped because its flow's queue was full) `costs.held`,
    /// every packet forwarded in software `costs.software_forward`.
    pub fn host_cpu_time(&self, costs: &AgentCosts) -> SimDuration {
        costs
            .setup
            .times(self.started.saturating_add(self.decided_per_packet))
            + costs.per_visit.times(self.visits)
            + costs
                .held
                .times(self.held.saturating_add(self.held_overflow))
            + costs.software_forward.times(self.software)
    }
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
    /// A miss record's key does not unpack (a device fault).
    #[error("miss record: {0}")]
    Record(#[from] nic_abi::key::KeyLayoutError),
    /// Every 32-bit rule id has been used; the rule was not added.
    #[error("rules: all 2^32 rule ids have been used; rule not added")]
    RuleIdsExhausted,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Installed {
    rule: Option<RuleId>,
    action: CardAction,
    /// Install sequence number: the order of installs (eviction between pressure scans).
    order: u64,
}

/// The rules in force and their classifier.
#[derive(Debug, Default)]
struct RuleState {
    rules: HashMap<RuleId, Rule>,
    classifier: SplitTree,
    next_id: u32,
    /// The static FDB entries among the rules ([`Rule::fdb_entry`]) by destination MAC:
    /// (priority, id, port) of each, with which `normal` is resolved.
    fdb: HashMap<u128, Vec<(u16, RuleId, PortNo)>>,
    /// The rules that match a field the card's key does not hold
    /// ([`crate::rule::Match::uses_software_fields`]).
    software_field_rules: Vec<RuleId>,
}

impl RuleState {
    fn with_rules(rules: Vec<Rule>) -> Result<RuleState, AgentError> {
        let mut st = RuleState::default();
        st.classifier.bulk_insert(
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| (crate::classifier::rule_id(i), r.priority, &r.pattern)),
        )?;
        for (i, r) in rules.into_iter().enumerate() {
            let id = crate::classifier::rule_id(i);
            st.note_rule(id, &r);
            st.rules.insert(id, r);
        }
        st.next_id = u32::try_from(st.rules.len()).unwrap_or(u32::MAX);
        Ok(st)
    }

    /// True when packets with `key`'s card-key fields may get different decisions depending
    /// on fields the card's key does not hold, `winner` being `key`'s best rule: the winner
    /// matches such a field, or a rule matching such a field outranks it and matches the
    /// key's card-key fields. Otherwise the best rule matching the card-key fields is one
    /// that matches no software-only field, and it decides every packet of the card key.
    fn depends_on_software_fields(&self, key: &FlowKey, winner: Option<RuleId>) -> bool {
        if self.software_field_rules.is_empty() {
            return false;
        }
        let rank = |id: RuleId| {
            self.rules
                .get(&id)
                .map(|r| crate::classifier::rank(r.priority, id))
        };
        let winner_rank = winner.and_then(rank);
        if winner
            .and_then(|w| self.rules.get(&w))
            .is_some_and(|r| r.pattern.uses_software_fields())
        {
            return true;
        }
        self.software_field_rules.iter().any(|&id| {
            self.rules.get(&id).is_some_and(|r| {
                r.pattern.matches_card_fields(key)
                    && match (rank(id), winner_rank) {
                        (Some(a), Some(b)) => a < b,
                        (_, None) => true,
                        (None, Some(_)) => false,
                    }
            })
        })
    }

    /// The card action an entry for `key`'s card key may hold under `decision` (its best
    /// rule's): `None` when the decision is no card action or depends on fields the card's
    /// key does not hold.
    fn entry_action(&self, key: &FlowKey, decision: &Decision) -> Option<CardAction> {
        if self.depends_on_software_fields(key, decision.rule) {
            None
        } else {
            decision.card
        }
    }

    /// Notes `rule` in the FDB if it is an entry of it, and among the rules matching fields
    /// the card does not hold if it matches one.
    fn note_rule(&mut self, id: RuleId, rule: &Rule) {
        if rule.pattern.uses_software_fields() {
            self.software_field_rules.push(id);
        }
        if let Some((mac, port)) = rule.fdb_entry() {
            self.fdb
                .entry(mac)
                .or_default()
                .push((rule.priority, id, port));
        }
    }

    /// The port `normal` sends a packet of `key` to: that of the highest-ranked FDB entry
    /// whose rule matches the packet (its destination MAC and VLAN), as Open vSwitch's
    /// translation of `normal` turns it into an output to the learned port. The FDB here is
    /// the static one the rules carry (no MAC learning). `None`: unknown destination.
    fn normal_port(&self, key: &FlowKey) -> Option<PortNo> {
        let dst = Point::from(key).get(crate::rule::Field::DlDst);
        self.fdb
            .get(&dst)?
            .iter()
            .filter(|(_, id, _)| self.rules.get(id).is_some_and(|r| r.pattern.matches(key)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|&(_, _, port)| port)
    }

    /// The card action of `actions` for packets of `key`, `normal` resolved by the FDB: to
    /// the destination's port, or a flood when the destination is unknown (as a learning
    /// switch floods unknown unicast).
    fn card_action_for(&self, actions: &[Action], key: &FlowKey) -> Option<CardAction> {
        if !actions.contains(&Action::Normal) {
            return card_action(actions, key.in_port);
        }
        let resolved = self.normal_port(key).map_or(Action::Flood, Action::Output);
        let actions: Vec<Action> = actions
            .iter()
            .map(|a| if *a == Action::Normal { resolved } else { *a })
            .collect();
        card_action(&actions, key.in_port)
    }

    fn decide(&self, key: &FlowKey) -> Decision {
        self.decision(key, self.classifier.lookup_key(key))
    }

    /// As [`RuleState::decide`], with the classifier's node visits of the lookup.
    fn decide_counted(&self, key: &FlowKey) -> (Decision, u64) {
        let (rule, cost) = self.classifier.lookup_key_counted(key);
        (self.decision(key, rule), cost.visits())
    }

    /// The decision for `key` when `rule` is its best match.
    fn decision(&self, key: &FlowKey, rule: Option<RuleId>) -> Decision {
        let actions: &[Action] = rule
            .and_then(|id| self.rules.get(&id))
            .map_or(&[], |r| r.actions.as_slice());
        Decision {
            rule,
            card: self.card_action_for(actions, key),
        }
    }

    fn add(&mut self, rule: Rule) -> Result<RuleId, AgentError> {
        let id = RuleId(self.next_id);
        let next = self
            .next_id
            .checked_add(1)
            .ok_or(AgentError::RuleIdsExhausted)?;
        self.classifier.insert(id, rule.priority, &rule.pattern)?;
        self.next_id = next;
        self.note_rule(id, &rule);
        self.rules.insert(id, rule);
        Ok(id)
    }

    fn remove(&mut self, id: RuleId) -> Result<Rule, AgentError> {
        self.classifier.remove(id)?;
        let rule = self
            .rules
            .remove(&id)
            .ok_or(ClassifierError::UnknownId(id))?;
        self.software_field_rules.retain(|e| *e != id);
        if let Some((mac, _)) = rule.fdb_entry() {
            if let Some(entries) = self.fdb.get_mut(&mac) {
                entries.retain(|(_, e, _)| *e != id);
                if entries.is_empty() {
                    self.fdb.remove(&mac);
                }
            }
        }
        Ok(rule)
    }
}

/// The device and what the agent installed in it.
#[derive(Debug)]
struct TableState<D> {
    device: D,
    /// Keyed by the packed key: std's SipHash (flow keys come from the network, so the maps
    /// must resist collision floods) hashes its 60 bytes in one pass, where the derived `Hash`
    /// of a `FlowKey` makes some 20 small writes that cost it several times more.
    installed: HashMap<KeyWords, (FlowKey, Installed)>,
    flow_limit: u64,
    installs: u64,
    evicted: u64,
    revalidated: u64,
    /// When the last pressure scan ran ([`TableState::make_room`]).
    last_pressure_scan: Option<SimTime>,
    crashes: u64,
    recovered: u64,
    recovery_fixed: u64,
}

impl<D: FlowTableDevice> TableState<D> {
    fn new(device: D) -> TableState<D> {
        let flow_limit = device.capacity();
        TableState {
            device,
            installed: HashMap::new(),
            flow_limit,
            installs: 0,
            evicted: 0,
            revalidated: 0,
            last_pressure_scan: None,
            crashes: 0,
            recovered: 0,
            recovery_fixed: 0,
        }
    }

    /// Forgets what was installed (the agent's memory is gone); the device keeps its entries.
    fn crash(&mut self) {
        self.installed.clear();
        self.flow_limit = self.device.capacity();
        self.last_pressure_scan = None;
        self.crashes += 1;
    }

    fn install(
        &mut self,
        now: SimTime,
        idle_timeout: SimDuration,
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
        let key = &key.card_view();
        if !self.installed.contains_key(&words) && self.device.occupancy() >= self.flow_limit {
            self.make_room(now, idle_timeout)?;
            if self.device.occupancy() >= self.flow_limit {
                return Ok(Some(SoftwareReason::FlowLimit));
            }
        }
        let mut result = self.device.insert(key, action);
        if matches!(result, Err(FlowTableError::TableFull { .. })) {
            self.make_room(now, idle_timeout)?;
            result = self.device.insert(key, action);
        }
        match result {
            Ok(_) => {
                let entry = Installed {
                    rule: decision.rule,
                    action,
                    order: self.installs,
                };
                self.installed.insert(words, (*key, entry));
                self.installs += 1;
                Ok(None)
            }
            Err(FlowTableError::TableFull { occupancy, .. }) => {
                self.flow_limit = occupancy;
                Ok(Some(SoftwareReason::TableFull))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Under pressure (table full or at the flow limit), makes room, like Open vSwitch's
    /// revalidators over their flow limit: a scan of every installed entry's counters evicts
    /// the entries idle for a hundredth of the idle timeout (100 ms by default; Open vSwitch
    /// cuts its `max-idle` from 10 s to 100 ms when over the limit), and when that frees less
    /// than an eighth of the table, also the least recently hit entries up to that eighth.
    ///
    /// A scan reads counters from the card for every entry, so it runs at most once per that
    /// hundredth of the idle timeout. Pressure between scans evicts the eighth of the table
    /// installed longest ago, with no counter reads. Either way one eviction pass makes room
    /// for an eighth of the table, so its cost is spread over that many installs instead of
    /// falling on every miss (a scan per miss that frees nothing would starve flow setup).
    fn make_room(&mut self, now: SimTime, idle_timeout: SimDuration) -> Result<usize, AgentError> {
        let interval = SimDuration::from_ps(idle_timeout.as_ps() / 100);
        let batch = usize::try_from(self.device.capacity() / 8)
            .unwrap_or(usize::MAX)
            .max(1);
        let scan_due = self
            .last_pressure_scan
            .is_none_or(|t| now.saturating_since(t) >= interval);
        let mut chosen: Vec<FlowKey> = if scan_due {
            self.last_pressure_scan = Some(now);
            let mut by_idle = Vec::with_capacity(self.installed.len());
            for (key, _) in self.installed.values() {
                if let Some(stats) = self.device.entry_stats(key)? {
                    by_idle.push((now.saturating_since(stats.last_hit), *key));
                }
            }
            // Longest idle first; equal idle times in key order, so runs are reproducible.
            by_idle.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let idle = by_idle.iter().take_while(|(t, _)| *t >= interval).count();
            by_idle
                .into_iter()
                .take(idle.max(batch))
                .map(|(_, k)| k)
                .collect()
        } else {
            let mut by_age: Vec<(u64, FlowKey)> = self
                .installed
                .values()
                .map(|(k, e)| (e.order, *k))
                .collect();
            // Only which are the oldest matters, not their order among themselves.
            if batch < by_age.len() {
                by_age.select_nth_unstable_by_key(batch, |&(order, _)| order);
                by_age.truncate(batch);
            }
            by_age.into_iter().map(|(_, k)| k).collect()
        };
        chosen.sort_unstable();
        self.evict_keys(&chosen)
    }

    fn evict_idle(&mut self, now: SimTime, idle_timeout: SimDuration) -> Result<usize, AgentError> {
        self.evict_where(now, |idle, _| idle >= idle_timeout)
    }

    /// Evicts the entries whose idle time and counters satisfy `evict`.
    fn evict_where(
        &mut self,
        now: SimTime,
        evict: impl Fn(SimDuration, &nic_abi::device::EntryStats) -> bool,
    ) -> Result<usize, AgentError> {
        let mut idle = Vec::new();
        for (key, _) in self.installed.values() {
            if let Some(stats) = self.device.entry_stats(key)? {
                if evict(now.saturating_since(stats.last_hit), &stats) {
                    idle.push(*key);
                }
            }
        }
        // Map order is random; delete in key order so that runs are reproducible.
        idle.sort_unstable();
        self.evict_keys(&idle)
    }

    /// Deletes `keys` from the card and the installed set; raises the flow limit by as many.
    fn evict_keys(&mut self, keys: &[FlowKey]) -> Result<usize, AgentError> {
        for key in keys {
            self.device.delete(key)?;
            self.installed.remove(&key.to_words());
        }
        self.evicted += keys.len() as u64;
        self.flow_limit = (self.flow_limit + keys.len() as u64).min(self.device.capacity());
        Ok(keys.len())
    }

    /// Installed keys a new rule can take over: the ones it matches.
    fn affected_by_new(&self, rule: &Rule) -> Vec<FlowKey> {
        self.installed
            .values()
            .map(|(k, _)| *k)
            .filter(|k| rule.pattern.matches_card_fields(k))
            .collect()
    }

    /// Installed keys a removed rule decided.
    fn affected_by_removed(&self, id: RuleId) -> Vec<FlowKey> {
        self.installed
            .values()
            .filter(|(_, i)| i.rule == Some(id))
            .map(|(k, _)| *k)
            .collect()
    }

    fn revalidate(&mut self, keys: &[FlowKey], rules: &RuleState) -> Result<(), AgentError> {
        for key in keys {
            let d = rules.decide(key);
            let words = key.to_words();
            let Some(old) = self.installed.get(&words).map(|e| e.1) else {
                continue;
            };
            match rules.entry_action(key, &d) {
                Some(action) if action == old.action && d.rule == old.rule => {}
                Some(action) => {
                    self.device.insert(key, action)?;
                    let entry = Installed {
                        rule: d.rule,
                        action,
                        order: old.order,
                    };
                    self.installed.insert(words, (*key, entry));
                    self.revalidated += 1;
                }
                None => {
                    self.device.delete(key)?;
                    self.installed.remove(&words);
                    self.revalidated += 1;
                }
            }
        }
        Ok(())
    }

    fn check_consistency(&mut self, rules: &RuleState) -> Result<(), String> {
        let mut linear = crate::classifier::LinearClassifier::new();
        for (id, r) in &rules.rules {
            linear
                .insert(*id, r.priority, &r.pattern)
                .map_err(|e| e.to_string())?;
        }
        let entries: Vec<(FlowKey, Installed)> = self.installed.values().copied().collect();
        for (key, inst) in entries {
            let rule = linear.lookup(&Point::from(&key));
            let actions: &[Action] = rule
                .and_then(|id| rules.rules.get(&id))
                .map_or(&[], |r| r.actions.as_slice());
            let want = rules.card_action_for(actions, &key);
            // The best rule matching the key's card-key fields must match no field the card
            // does not hold (else packets of this card key may need other decisions).
            let by_card_fields = rules
                .rules
                .iter()
                .filter(|(_, r)| r.pattern.matches_card_fields(&key))
                .min_by_key(|(id, r)| crate::classifier::rank(r.priority, **id));
            if let Some((id, r)) = by_card_fields {
                if r.pattern.uses_software_fields() {
                    return Err(format!(
                        "entry for {key:?} installed, but rule {id} matches fields the card's \
                         key does not hold"
                    ));
                }
            }
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
        if self.device.occupancy() != self.installed.len() as u64 {
            return Err(format!(
                "device holds {} entries, agent knows {}",
                self.device.occupancy(),
                self.installed.len()
            ));
        }
        Ok(())
    }
}

/// Flows waiting for their setup and the packets held behind them.
#[derive(Debug)]
struct PendingState<P> {
    /// Flows whose setup has not been taken by a handler, in arrival order.
    setups: VecDeque<FlowKey>,
    /// Every flow being set up (waiting or taken), with its packets in arrival order.
    held: HashMap<FlowId, VecDeque<P>>,
    misses: u64,
    started: u64,
    held_count: u64,
    held_overflow: u64,
    software: u64,
    decided_per_packet: u64,
    visits: u64,
    lost_setups: u64,
}

impl<P> PendingState<P> {
    fn new() -> PendingState<P> {
        PendingState {
            setups: VecDeque::new(),
            held: HashMap::new(),
            misses: 0,
            started: 0,
            held_count: 0,
            held_overflow: 0,
            software: 0,
            decided_per_packet: 0,
            visits: 0,
            lost_setups: 0,
        }
    }

    /// Forgets every setup under way and its packets (the agent's memory is gone).
    fn crash(&mut self) {
        self.lost_setups += self.held.len() as u64;
        self.setups.clear();
        self.held.clear();
    }

    fn admit(&mut self, key: FlowKey, packet: P, max_held: usize) -> Admission {
        self.misses += 1;
        let words = flow_id(&key);
        if let Some(q) = self.held.get_mut(&words) {
            if q.len() >= max_held {
                self.held_overflow += 1;
                return Admission::DroppedHeldOverflow;
            }
            q.push_back(packet);
            self.held_count += 1;
            return Admission::Held;
        }
        self.held.insert(words, VecDeque::from([packet]));
        self.setups.push_back(key);
        self.started += 1;
        Admission::Started
    }

    /// Ends the flow's setup: its packets, in arrival order.
    fn finish(&mut self, key: &FlowKey, software: bool) -> VecDeque<P> {
        let packets = self.held.remove(&flow_id(key)).unwrap_or_default();
        if software {
            self.software += packets.len() as u64;
        }
        packets
    }
}

/// A flow of the pending setups: the packed card key and the fields it does not hold (an ARP
/// packet's hardware addresses, 96 bits), so that packets held behind a setup share every
/// field a rule can match and so its decision.
type FlowId = (KeyWords, u128);

fn flow_id(key: &FlowKey) -> FlowId {
    (
        key.to_words(),
        (u128::from(key.arp_sha.to_u64()) << 48) | u128::from(key.arp_tha.to_u64()),
    )
}

/// A miss record's key with the fields the card's key does not hold filled in from a
/// software parse of the record's header bytes (for ARP and RARP: the hardware addresses,
/// within the first 58 bytes of any frame the card parses, so always in the record).
fn with_software_fields(key: FlowKey, record: &MissRecord) -> FlowKey {
    if !matches!(key.dl_type.0, 0x0806 | 0x8035) {
        return key;
    }
    let sw = nic_abi::parse::parse_software(record.header_bytes(), record.in_port);
    FlowKey {
        arp_sha: sw.arp_sha,
        arp_tha: sw.arp_tha,
        ..key
    }
}

fn release<P>(
    packets: VecDeque<P>,
    key: FlowKey,
    decision: Decision,
    software: Option<SoftwareReason>,
) -> impl Iterator<Item = Released<P>> {
    packets.into_iter().map(move |packet| Released {
        packet,
        key,
        decision,
        software,
    })
}

fn counters<D, P>(t: &TableState<D>, p: &PendingState<P>) -> AgentCounters {
    AgentCounters {
        misses: p.misses,
        started: p.started,
        held: p.held_count,
        held_overflow: p.held_overflow,
        installed: t.installs,
        software: p.software,
        revalidated: t.revalidated,
        evicted: t.evicted,
        decided_per_packet: p.decided_per_packet,
        visits: p.visits,
        crashes: t.crashes,
        lost_setups: p.lost_setups,
        recovered: t.recovered,
        recovery_fixed: t.recovery_fixed,
    }
}

/// The agent over a flow-table device `D`, for packets of type `P`, owned by one thread.
#[derive(Debug)]
pub struct Agent<D: FlowTableDevice, P> {
    config: AgentConfig,
    rules: RuleState,
    table: TableState<D>,
    pending: PendingState<P>,
}

impl<D: FlowTableDevice, P> Agent<D, P> {
    /// An agent with no rules (every flow: table miss, drop) over `device`.
    pub fn new(device: D, config: AgentConfig) -> Agent<D, P> {
        Agent {
            config,
            rules: RuleState::default(),
            table: TableState::new(device),
            pending: PendingState::new(),
        }
    }

    /// An agent over `device` with `rules` (ids 0, 1, ... in list order), the classifier
    /// built in one go.
    pub fn with_rules(
        device: D,
        config: AgentConfig,
        rules: Vec<Rule>,
    ) -> Result<Agent<D, P>, AgentError> {
        Ok(Agent {
            config,
            rules: RuleState::with_rules(rules)?,
            table: TableState::new(device),
            pending: PendingState::new(),
        })
    }

    /// The counters.
    pub fn counters(&self) -> AgentCounters {
        counters(&self.table, &self.pending)
    }

    /// Host CPU time of the agent's work so far, at the configured costs.
    pub fn host_cpu_time(&self) -> SimDuration {
        self.counters().host_cpu_time(&self.config.costs)
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.table.device
    }

    /// The device, mutably (for its own operations; changing entries behind the agent's back
    /// breaks consistency, which [`Agent::check_consistency`] would report).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.table.device
    }

    /// The installed entries: key and the rule that decided it.
    pub fn installed(&self) -> impl Iterator<Item = (&FlowKey, Option<RuleId>)> {
        self.table.installed.values().map(|(k, i)| (k, i.rule))
    }

    /// The current flow limit.
    pub fn flow_limit(&self) -> u64 {
        self.table.flow_limit
    }

    /// The rule `id`, if in force.
    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.rules.rules.get(&id)
    }

    /// The decision for `key` under the rules in force.
    pub fn decide(&self, key: &FlowKey) -> Decision {
        self.rules.decide(key)
    }

    /// The decision for one packet the card could not key (its miss record's key is
    /// unparsed): the agent parses the frame fully in software (`nic_abi::parse::
    /// parse_software`, which walks IPv6 extension headers and is not limited to the card's
    /// header window) and classifies that key, as Open vSwitch would. Such packets are decided
    /// one by one, never installed: the card cannot look their keys up.
    pub fn decide_frame(&self, frame: &[u8], in_port: PortNo) -> (FlowKey, Decision) {
        let key = nic_abi::parse::parse_software(frame, in_port);
        (key, self.rules.decide(&key))
    }

    /// A miss record from the card's exception ring: a table miss is admitted (the packet is
    /// the record's handle); an unparsed key or a `ToAgent` hit is decided now, per packet.
    pub fn on_miss_record(&mut self, record: &MissRecord) -> Result<RecordOutcome, AgentError>
    where
        P: From<PacketHandle>,
    {
        let key = with_software_fields(record.flow_key()?, record);
        let key = match record.reason {
            MissReason::TableMiss if key.is_parsed() => {
                return Ok(RecordOutcome::Admitted(
                    self.on_miss(key, P::from(record.handle)),
                ))
            }
            MissReason::UnparsedKey | MissReason::TableMiss => {
                nic_abi::parse::parse_software(record.header_bytes(), record.in_port)
            }
            MissReason::ToAgent => key,
        };
        let (decision, visits) = self.rules.decide_counted(&key);
        self.pending.decided_per_packet += 1;
        self.pending.visits += visits;
        Ok(RecordOutcome::DecidedInSoftware { key, decision })
    }

    /// A miss from the card: starts the flow's setup, or holds the packet behind it.
    pub fn on_miss(&mut self, key: FlowKey, packet: P) -> Admission {
        self.pending
            .admit(key, packet, self.config.max_held_per_flow)
    }

    /// Completes every started setup, in arrival order: classifies, installs (or decides on
    /// software forwarding) and releases the flow's packets in order.
    pub fn process(&mut self, now: SimTime) -> Result<Vec<Released<P>>, AgentError> {
        let mut out = Vec::new();
        while let Some(key) = self.pending.setups.pop_front() {
            let (decision, visits) = self.rules.decide_counted(&key);
            self.pending.visits += visits;
            let software = if self.rules.depends_on_software_fields(&key, decision.rule) {
                Some(SoftwareReason::SoftwareFields)
            } else {
                self.table
                    .install(now, self.config.idle_timeout, &key, &decision)?
            };
            let packets = self.pending.finish(&key, software.is_some());
            out.extend(release(packets, key, decision, software));
        }
        Ok(out)
    }

    /// Evicts entries not hit within the idle timeout; returns how many went. Raises the flow
    /// limit by as many (up to the capacity).
    pub fn evict_idle(&mut self, now: SimTime) -> Result<usize, AgentError> {
        self.table.evict_idle(now, self.config.idle_timeout)
    }

    /// Adds a rule and revalidates; when this returns, every installed entry agrees with the
    /// new rule set. Returns the rule's id.
    pub fn add_rule(&mut self, rule: Rule) -> Result<RuleId, AgentError> {
        let affected = self.table.affected_by_new(&rule);
        let id = self.rules.add(rule)?;
        self.table.revalidate(&affected, &self.rules)?;
        Ok(id)
    }

    /// Removes a rule and revalidates; when this returns, no installed entry was decided by
    /// it (or still carries its decision).
    pub fn remove_rule(&mut self, id: RuleId) -> Result<Rule, AgentError> {
        let rule = self.rules.remove(id)?;
        let affected = self.table.affected_by_removed(id);
        self.table.revalidate(&affected, &self.rules)?;
        Ok(rule)
    }

    /// Checks invariant 4 against a from-scratch linear classification of the rules in force:
    /// every installed entry holds the action its key's decision resolves to, and the device
    /// holds exactly the agent's entries. Returns the first violation.
    pub fn check_consistency(&mut self) -> Result<(), String> {
        self.table.check_consistency(&self.rules)
    }

    /// The agent's process dies: everything it knew only in memory is gone, the setups
    /// under way and their packets (the card still holds those: see [`Agent::recover`]) and
    /// which entries it installed. The rules are its configuration, read again at restart,
    /// so they stay; the counters stay too, for the run's report. The device keeps its
    /// entries.
    pub fn crash(&mut self) {
        self.pending.crash();
        self.table.crash();
    }

    /// The restarted agent rebuilds its state from the device's table: it scans it
    /// ([`FlowTableScan::read_next`], one step per entry or run of empty slots) and, for each
    /// entry, decides its key under the rules
    /// in force. An entry holding that decision's card action is adopted as installed; one
    /// holding another action is rewritten; one whose decision is no card action is deleted
    /// (counted in [`AgentCounters::recovery_fixed`]), so no entry survives stale and none
    /// the rules still give is lost. The flow limit restarts at the table's capacity.
    /// Returns the entries adopted or rewritten (the table's occupancy after).
    pub fn recover(&mut self) -> Result<u64, AgentError>
    where
        D: FlowTableScan,
    {
        let mut found = Vec::new();
        let mut slot = 0;
        loop {
            match self.table.device.read_next(slot)? {
                ScanStep::Found { slot: at, entry } => {
                    found.push(entry);
                    slot = at + 1;
                }
                ScanStep::Continue { next } => slot = next,
                ScanStep::End => break,
            }
        }
        let mut kept = 0;
        for e in found {
            // Priced as a setup's classification: node visits at the per-visit cost.
            let (decision, visits) = self.rules.decide_counted(&e.key);
            self.pending.visits += visits;
            match self.rules.entry_action(&e.key, &decision) {
                Some(action) => {
                    if action != e.action {
                        self.table.device.insert(&e.key, action)?;
                        self.table.recovery_fixed += 1;
                    } else {
                        self.table.recovered += 1;
                    }
                    let entry = Installed {
                        rule: decision.rule,
                        action,
                        order: self.table.installs,
                    };
                    self.table
                        .installed
                        .insert(e.key.to_words(), (e.key, entry));
                    kept += 1;
                }
                None => {
                    self.table.device.delete(&e.key)?;
                    self.table.recovery_fixed += 1;
                }
            }
        }
        Ok(kept)
    }
}

/// The agent shared by several handler threads (`parking_lot` locks).
///
/// **Lock order**: `rules` (read-write) before `table` before `pending`; a thread never takes
/// an earlier lock while holding a later one. A handler holds `rules` for reading from
/// classification until its entry is installed, so a rule update (which takes `rules` for
/// writing, then `table` to revalidate) either sees the entry and revalidates it, or happens
/// before the classification: no stale entry can be installed after an acknowledged update.
#[derive(Debug)]
pub struct SharedAgent<D: FlowTableDevice, P> {
    config: AgentConfig,
    rules: RwLock<RuleState>,
    table: Mutex<TableState<D>>,
    pending: Mutex<PendingState<P>>,
}

impl<D: FlowTableDevice, P> SharedAgent<D, P> {
    /// A shared agent over `device` with `rules` (ids 0, 1, ... in list order).
    pub fn with_rules(
        device: D,
        config: AgentConfig,
        rules: Vec<Rule>,
    ) -> Result<SharedAgent<D, P>, AgentError> {
        Ok(SharedAgent {
            config,
            rules: RwLock::new(RuleState::with_rules(rules)?),
            table: Mutex::new(TableState::new(device)),
            pending: Mutex::new(PendingState::new()),
        })
    }

    /// See [`Agent::on_miss_record`] (any thread).
    pub fn on_miss_record(&self, record: &MissRecord) -> Result<RecordOutcome, AgentError>
    where
        P: From<PacketHandle>,
    {
        let key = with_software_fields(record.flow_key()?, record);
        let key = match record.reason {
            MissReason::TableMiss if key.is_parsed() => {
                return Ok(RecordOutcome::Admitted(
                    self.on_miss(key, P::from(record.handle)),
                ))
            }
            MissReason::UnparsedKey | MissReason::TableMiss => {
                nic_abi::parse::parse_software(record.header_bytes(), record.in_port)
            }
            MissReason::ToAgent => key,
        };
        let (decision, visits) = self.rules.read().decide_counted(&key);
        let mut pending = self.pending.lock();
        pending.decided_per_packet += 1;
        pending.visits += visits;
        Ok(RecordOutcome::DecidedInSoftware { key, decision })
    }

    /// A miss from the card (any thread).
    pub fn on_miss(&self, key: FlowKey, packet: P) -> Admission {
        self.pending
            .lock()
            .admit(key, packet, self.config.max_held_per_flow)
    }

    /// One handler step: takes the oldest waiting setup, completes it and returns its
    /// packets, or `None` when no setup is waiting.
    pub fn handle_one(&self, now: SimTime) -> Result<Option<Vec<Released<P>>>, AgentError> {
        let Some(key) = self.pending.lock().setups.pop_front() else {
            return Ok(None);
        };
        let rules = self.rules.read();
        let (decision, visits) = rules.decide_counted(&key);
        let software = if rules.depends_on_software_fields(&key, decision.rule) {
            Some(SoftwareReason::SoftwareFields)
        } else {
            self.table
                .lock()
                .install(now, self.config.idle_timeout, &key, &decision)?
        };
        // Packets that arrived during the install are in the queue too, behind the others.
        let packets = {
            let mut pending = self.pending.lock();
            pending.visits += visits;
            pending.finish(&key, software.is_some())
        };
        drop(rules);
        Ok(Some(release(packets, key, decision, software).collect()))
    }

    /// See [`Agent::decide_frame`].
    pub fn decide_frame(&self, frame: &[u8], in_port: PortNo) -> (FlowKey, Decision) {
        let key = nic_abi::parse::parse_software(frame, in_port);
        (key, self.rules.read().decide(&key))
    }

    /// Adds a rule; revalidated when this returns (the acknowledgement).
    pub fn add_rule(&self, rule: Rule) -> Result<RuleId, AgentError> {
        let mut rules = self.rules.write();
        let mut table = self.table.lock();
        let affected = table.affected_by_new(&rule);
        let id = rules.add(rule)?;
        table.revalidate(&affected, &rules)?;
        Ok(id)
    }

    /// Removes a rule; revalidated when this returns (the acknowledgement).
    pub fn remove_rule(&self, id: RuleId) -> Result<Rule, AgentError> {
        let mut rules = self.rules.write();
        let mut table = self.table.lock();
        let rule = rules.remove(id)?;
        let affected = table.affected_by_removed(id);
        table.revalidate(&affected, &rules)?;
        Ok(rule)
    }

    /// Evicts idle entries (any thread).
    pub fn evict_idle(&self, now: SimTime) -> Result<usize, AgentError> {
        self.table.lock().evict_idle(now, self.config.idle_timeout)
    }

    /// The counters.
    pub fn counters(&self) -> AgentCounters {
        let table = self.table.lock();
        let pending = self.pending.lock();
        counters(&table, &pending)
    }

    /// Flows whose setup is waiting or in progress.
    pub fn pending_flows(&self) -> usize {
        self.pending.lock().held.len()
    }

    /// See [`Agent::check_consistency`].
    pub fn check_consistency(&self) -> Result<(), String> {
        let rules = self.rules.read();
        let mut table = self.table.lock();
        table.check_consistency(&rules)
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

    #[test]
    fn normal_is_resolved_by_the_static_fdb_in_the_rules() {
        let rule = |text: &str| crate::ofctl::parse_rule(text).expect("rule");
        let mut st = RuleState::with_rules(vec![
            rule("priority=10,tcp,tp_dst=80,actions=normal"),
            rule("priority=0,dl_dst=02:00:00:00:00:02,actions=output:2"),
            rule("priority=0,dl_dst=02:00:00:00:00:03,actions=output:3"),
        ])
        .expect("rules");
        let key = |dst: [u8; 6], in_port: u16| FlowKey {
            in_port: PortNo(in_port),
            dl_dst: nic_abi::key::MacAddr(dst),
            dl_type: nic_abi::key::EtherType::IPV4,
            nw_proto: 6,
            tp_dst: 80,
            ..FlowKey::default()
        };
        let to2 = key([2, 0, 0, 0, 0, 2], 1);
        assert_eq!(
            st.decide(&to2).card,
            Some(CardAction {
                dest: Destination::Output(PortNo(2)),
                vlan: VlanOp::Keep
            }),
            "normal goes where the FDB entry of the destination MAC sends it"
        );
        assert_eq!(
            st.decide(&key([2, 0, 0, 0, 0, 2], 2)).card,
            Some(CardAction::DROP),
            "back out of the input port is no egress"
        );
        assert_eq!(
            st.decide(&key([2, 0, 0, 0, 0, 9], 1)).card.map(|a| a.dest),
            Some(Destination::Flood),
            "an unknown destination floods"
        );
        // A better-ranked entry for the MAC wins; removing it restores the other.
        let moved = st
            .add(rule("priority=1,dl_dst=02:00:00:00:00:02,actions=output:3"))
            .expect("added");
        assert_eq!(
            st.decide(&to2).card.map(|a| a.dest),
            Some(Destination::Output(PortNo(3)))
        );
        st.remove(moved).expect("removed");
        assert_eq!(
            st.decide(&to2).card.map(|a| a.dest),
            Some(Destination::Output(PortNo(2)))
        );
    }
}
