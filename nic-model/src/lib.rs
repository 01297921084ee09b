//! # nic-model: the cycle-approximate sNICh card
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod card;
pub mod counters;
pub mod dma;
pub mod engine;
pub mod flow_table;
pub mod host;
pub mod mac;
pub mod pcie;
pub mod pipeline;
pub mod testing;
