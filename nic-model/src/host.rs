//! The card's boundary with the host: the only way the model touches host memory or raises
//! interrupts.
//!
//! ```text
//!   host (driver, VMs, agent) --Card::*_doorbell, Card::mmio_write, Card::release--> card
//!   card --HostBus::dma_read / dma_write (by VM and IOVA)--> host memory (IOMMU-checked)
//!   card --HostBus::interrupt(vector)--> host
//! ```
//!
//! `host-driver` implements [`HostBus`] with guest memory and an IOMMU/grant check on every
//! access; [`crate::testing::FlatMemoryHost`] is a simple implementation for tests. A refused
//! access returns [`DmaFault`]: the card counts it and drops the packet concerned (no byte of
//! a refused write may land anywhere).

use nic_abi::desc::{CopyCommand, CopyStatus};
use nic_abi::time::SimTime;
use serde::{Deserialize, Serialize};

pub use nic_abi::desc::{Iova, VmId};

/// An interrupt vector (MSI-X table entry).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct IrqVector(pub u16);

/// A DMA access the host refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DMA {} of {len} bytes at IOVA {:#x} of VM {} refused: {reason}",
    if *.write { "write" } else { "read" }, .iova.0, .vm.0)]
pub struct DmaFault {
    /// The VM whose address space was accessed.
    pub vm: VmId,
    /// The first address.
    pub iova: Iova,
    /// Bytes of the access.
    pub len: u64,
    /// True for a write.
    pub write: bool,
    /// Why the host refused (not mapped, not granted, wrong direction, ...).
    pub reason: String,
}

/// A copy the host's copy engine refused: which side faulted, and the refused access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("copy refused ({status:?}): {fault}")]
pub struct CopyFault {
    /// `SourceFault` or `DestinationFault`.
    pub status: CopyStatus,
    /// The access the IOMMU refused.
    pub fault: DmaFault,
}

/// What the card needs from the host: DMA by IOVA and interrupts.
///
/// Accesses are functional (the bytes move at once); their timing is the card's PCIe model.
/// An implementation must either perform the whole access or none of it.
pub trait HostBus {
    /// Reads `buf.len()` bytes at `iova` of `vm`'s address space.
    fn dma_read(&mut self, vm: VmId, iova: Iova, buf: &mut [u8]) -> Result<(), DmaFault>;
    /// Writes `data` at `iova` of `vm`'s address space.
    fn dma_write(&mut self, vm: VmId, iova: Iova, data: &[u8]) -> Result<(), DmaFault>;
    /// Raises interrupt `vector` at simulated time `at`.
    fn interrupt(&mut self, vector: IrqVector, at: SimTime);

    /// Whether the host has a memory-to-memory copy engine (the inter-VM path of the design:
    /// payloads move in host memory and never cross PCIe). Without one the card hairpins
    /// VM-to-VM packets over the link. Default: none.
    fn has_copy_engine(&self) -> bool {
        false
    }

    /// Runs `cmd` on the copy engine, submitted at `at`: copies `cmd.len` bytes from `cmd.src`
    /// in `cmd.src_vm`'s memory to `cmd.dst` in `cmd.dst_vm`'s (both checked like DMA), and
    /// returns when the copy's completion is visible to the host (the engine's write-back),
    /// or the fault (then nothing was written). The card then calls
    /// [`HostBus::take_copy_completion`] at that time. Called only when
    /// [`HostBus::has_copy_engine`] is true; the default refuses every copy.
    fn copy(&mut self, cmd: &CopyCommand, at: SimTime) -> Result<SimTime, CopyFault> {
        let _ = at;
        Err(CopyFault {
            status: CopyStatus::SourceFault,
            fault: DmaFault {
                vm: cmd.src_vm,
                iova: cmd.src,
                len: u64::from(cmd.len),
                write: false,
                reason: "the host has no copy engine".to_string(),
            },
        })
    }

    /// The completion of a copy, visible since `written` (what [`HostBus::copy`] returned),
    /// is taken by the host (a core polls it or takes its interrupt): returns when the host
    /// tells the card. Default: at once.
    fn take_copy_completion(&mut self, written: SimTime) -> SimTime {
        written
    }
}
