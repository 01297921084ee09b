//! # nic-model: the cycle-approximate sNICh card
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod flow_table;
