//! # host-driver: the host side of the sNICh card
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod control;
pub mod copy;
pub mod driver;
pub mod guest;
pub mod host;
pub mod iommu;
pub mod memory;
pub mod ring;
