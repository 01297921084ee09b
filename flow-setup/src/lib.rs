//! # flow-setup: flow rules, the classifier and the flow-setup agent
//!
//! WIP crate doc.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod classbench;
pub mod classifier;
pub mod lint;
pub mod ofctl;
pub mod rule;
pub mod ruleset;
