//! # host-driver: the host side of the sNICh card
//!
//! Not built yet (issue 5): guest memory with an IOMMU/grant check on every DMA, descriptor
//! rings, doorbells and interrupts, the memory-to-memory copy engine for inter-VM traffic, and
//! the driver that brings the card up and manages its flow table through registers.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
