//! # flow-setup: flow rules, the classifier and the flow-setup agent
//!
//! Not built yet (issue 3): the rule model and its ovs-ofctl and ClassBench syntaxes, lint, a
//! fast classifier beside a linear reference, and the agent that turns a miss into an installed
//! exact-match entry.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
