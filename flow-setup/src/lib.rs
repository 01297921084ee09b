//! # flow-setup: flow rules, the classifier and the flow-setup agent
//!
//! The card switches packets by exact-match lookup; the administrator writes wildcard rules.
//! This crate is the bridge on the host side:
//!
//! ```text
//!  rules file ──► ofctl / classbench / ruleset ──► Vec<Rule> ──► lint (findings + witnesses)
//!  (ovs-ofctl text, ClassBench, JSON, TOML)            │
//!                                                      ▼
//!  miss (FlowKey) ─────────────────────────────► Classifier ──► winning rule + megaflow mask
//!                                               (SplitTree, checked     │
//!                                                against LinearClassifier)
//!                                                                       ▼
//!         agent: miss ─► decision ─► one card Action ─► FlowTableDevice (card's table)
//! ```
//!
//! - [`rule`]: the rule model. A [`rule::Rule`] is a priority, a [`rule::Match`] over the
//!   fields of `nic_abi::key::FlowKey` (value/mask per field, inclusive ranges on the L4
//!   ports), a list of [`rule::Action`]s and a cookie. Matches follow Open vSwitch: fields
//!   need their prerequisites (`tp_dst` needs `tcp`/`udp`/...), `dl_vlan` uses the key's
//!   tag-present bit. [`rule::MatchBuilder`] is the Rust API.
//! - [`ofctl`]: the `ovs-ofctl` flow syntax, parse and print (print-then-parse is the
//!   identity); errors carry line and column and name unsupported OVS features.
//! - [`classbench`]: ClassBench filters and traces, ClassBench-ng OpenFlow matches, and the
//!   export of port ranges to OpenFlow prefixes.
//! - [`ruleset`]: rule sets in JSON and TOML, and the one place rules files are loaded
//!   ([`ruleset::RuleSet::load`]: gzip, format detection, every error with its place).
//! - [`lint`]: shadowed, redundant and conflicting rules, with witness packets.
//! - [`classifier`]: [`classifier::SplitTree`], a partitioned HyperSplit-style decision tree
//!   with in-place insert and delete, and [`classifier::LinearClassifier`], the reference;
//!   both return the megaflow mask of a decision.
//!
//! - [`agent`]: the flow-setup agent: miss handling with held packets released in order,
//!   exact-match install through `nic_abi::device::FlowTableDevice`, software path, idle
//!   eviction and adaptive flow limit, revalidation on rule updates; [`agent::SharedAgent`]
//!   for several handler threads.
//!
//! The integration tests compare decisions with a real Open vSwitch (`ofproto/trace`).
//!
//! ```
//! use flow_setup::classifier::{from_rules, Classifier, SplitTree};
//! use flow_setup::ofctl::parse_rules;
//! use flow_setup::rule::Point;
//! use nic_abi::key::{EtherType, FlowKey, PortNo};
//!
//! let rules = parse_rules(
//!     "priority=200,tcp,nw_dst=10.0.0.0/8,tp_dst=1000-2000,actions=output:2\n\
//!      priority=100,ip,actions=drop\n",
//! )
//! .unwrap();
//! let classifier: SplitTree = from_rules(&rules);
//! let packet = FlowKey {
//!     in_port: PortNo(1),
//!     dl_type: EtherType::IPV4,
//!     nw_proto: 6,
//!     nw_dst: 0x0a01_0203,
//!     tp_dst: 1500,
//!     ..FlowKey::default()
//! };
//! let found = classifier.lookup_megaflow(&Point::from(&packet));
//! let winner = found.rule.unwrap().0 as usize;
//! assert_eq!(rules[winner].to_string(),
//!            "priority=200,tcp,nw_dst=10.0.0.0/8,tp_dst=1000-2000,actions=output:2");
//! // The decision depended on the EtherType, the protocol, the /8 and a block of ports.
//! assert_eq!(found.megaflow.to_string(),
//!            "dl_type=0xffff,nw_proto=0xff,nw_dst=0xff000000,tp_dst=0xfe00");
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agent;
pub mod classbench;
pub mod classifier;
pub mod lint;
pub mod ofctl;
pub mod rule;
pub mod ruleset;
