//! # nic-model: the cycle-approximate sNICh card
//!
//! Not built yet (issue 2 builds it): event engine with picosecond time, MAC ports, PCIe link,
//! DMA engine, parser and lookup pipeline timing, the exact-match flow table, queue pairs and
//! the miss queue, with the conservation law checked at the end of every run.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
