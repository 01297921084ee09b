//! The host: every VM's memory, the IOMMU in front of it, the inter-VM copier, the host's
//! cores and memory bus ([`HostCpu`], which the copier and `snich-system`'s control plane
//! run on), and what the host spent, tied together as `nic-model`'s [`HostBus`].
//!
//! ```text
//!   card --dma_read/dma_write(vm, iova)--> Iommu::translate --> GuestMemory of vm
//!   card --copy(cmd)--> Iommu (source read, destination write) --> bytes moved --> copier:
//!        the copy engine's ring, doorbell and completion, or a CPU copy, timed on HostCpu
//!   control plane --run_on(core, at, cycles)--> HostCpu: the host's cores and memory bus
//!   card --interrupt(vector, at)--> pending interrupts, taken by the driver's run loop
//! ```
//!
//! Every access is whole or nothing: a refused one (see [`crate::iommu`]) writes no byte and
//! is counted by VM with its address. The host's own memory (the driver's miss and release
//! rings) is the address space of [`HOST_VM`], VM 0, behind the same IOMMU.

use std::collections::BTreeMap;

use nic_abi::desc::{CopyCommand, CopyStatus, Iova, VmId};
use nic_abi::time::SimTime;
use nic_model::host::{CopyFault, DmaFault, HostBus, IrqVector};

use crate::copy::{CopyConfig, CopyError, CopyMetrics, CopyMode, InterVmCopier};
use crate::cpu::{CoreId, HostCpu, HostCpuConfig, HostCpuError};
use crate::iommu::{Fault, FaultReason, Iommu, IommuCosts};
use crate::memory::{GuestAddress, GuestMemory};

/// The host's own address space (the driver's rings), as the card's register map fixes it.
pub const HOST_VM: VmId = VmId(0);

/// What host CPU cycles were spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuUse {
    /// The driver's work: register accesses, miss records, releases.
    Driver,
    /// The flow-setup agent's work (classification, entry derivation).
    Agent,
    /// Taking interrupts.
    Interrupts,
    /// Grant maps and unmaps.
    Grants,
    /// CPU copies of inter-VM payloads.
    Copy,
}

impl CpuUse {
    /// Every use, in report order.
    pub const ALL: [CpuUse; 5] = [
        CpuUse::Driver,
        CpuUse::Agent,
        CpuUse::Interrupts,
        CpuUse::Grants,
        CpuUse::Copy,
    ];

    /// The name reports use (`driver`, `agent`, `interrupts`, `grants`, `copy`).
    pub fn name(self) -> &'static str {
        match self {
            CpuUse::Driver => "driver",
            CpuUse::Agent => "agent",
            CpuUse::Interrupts => "interrupts",
            CpuUse::Grants => "grants",
            CpuUse::Copy => "copy",
        }
    }
}

/// The host's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostConfig {
    /// The cores and memory bus every piece of host work runs on.
    pub cpu: HostCpuConfig,
    /// The inter-VM path.
    pub copy: CopyConfig,
    /// Grant operation costs.
    pub iommu: IommuCosts,
}

/// Counts of the host's work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMetrics {
    /// DMA reads done.
    pub dma_reads: u64,
    /// Bytes of them.
    pub dma_read_bytes: u64,
    /// DMA writes done.
    pub dma_writes: u64,
    /// Bytes of them.
    pub dma_write_bytes: u64,
    /// Interrupts raised.
    pub interrupts: u64,
    /// Host CPU cycles by use.
    pub cpu_cycles: BTreeMap<CpuUse, u64>,
}

impl HostMetrics {
    /// Cycles spent on `what`.
    pub fn cycles(&self, what: CpuUse) -> u64 {
        self.cpu_cycles.get(&what).copied().unwrap_or(0)
    }
}

/// Errors of host set-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// A VM with this id already has memory.
    #[error("{0} already has memory on this host")]
    DuplicateVm(VmId),
    /// The memory is not for this VM.
    #[error("memory of {memory} given as {vm}'s")]
    WrongVm {
        /// The id asked for.
        vm: VmId,
        /// The memory's own.
        memory: VmId,
    },
    /// The copy configuration is invalid.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// The CPU configuration is invalid.
    #[error(transparent)]
    Cpu(#[from] HostCpuError),
}

/// The host side of the card: guest memories, IOMMU, copier, metrics.
#[derive(Debug, Clone)]
pub struct Host {
    memories: Vec<Option<GuestMemory>>,
    iommu: Iommu,
    iommu_costs: IommuCosts,
    copier: InterVmCopier,
    cpu: HostCpu,
    metrics: HostMetrics,
    interrupts: Vec<(IrqVector, SimTime)>,
    scratch: Vec<u8>,
}

impl Host {
    /// A host with no VM memory.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        Ok(Host {
            memories: Vec::new(),
            iommu: Iommu::new(),
            iommu_costs: config.iommu,
            copier: InterVmCopier::new(config.copy)?,
            cpu: HostCpu::new(&config.cpu)?,
            metrics: HostMetrics::default(),
            interrupts: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Gives `vm` its memory.
    pub fn add_vm(&mut self, memory: GuestMemory) -> Result<(), HostError> {
        let i = usize::from(memory.vm().0);
        if self.memories.len() <= i {
            self.memories.resize_with(i + 1, || None);
        }
        if self.memories[i].is_some() {
            return Err(HostError::DuplicateVm(memory.vm()));
        }
        self.memories[i] = Some(memory);
        Ok(())
    }

    /// `vm`'s memory.
    pub fn memory(&self, vm: VmId) -> Option<&GuestMemory> {
        self.memories
            .get(usize::from(vm.0))
            .and_then(Option::as_ref)
    }

    /// `vm`'s memory, writable (the VM's own accesses, which the IOMMU does not see).
    pub fn memory_mut(&mut self, vm: VmId) -> Option<&mut GuestMemory> {
        self.memories
            .get_mut(usize::from(vm.0))
            .and_then(Option::as_mut)
    }

    /// The IOMMU.
    pub fn iommu(&self) -> &Iommu {
        &self.iommu
    }

    /// Grants `access` to `len` bytes of `vm` at `iova` (backed at `guest`), charging the map.
    pub fn grant(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: u64,
        guest: GuestAddress,
        access: crate::iommu::GrantAccess,
    ) -> Result<crate::iommu::GrantRef, crate::iommu::GrantError> {
        let g = self.iommu.map(vm, iova, len, guest, access)?;
        self.charge(CpuUse::Grants, self.iommu_costs.map_cycles);
        Ok(g)
    }

    /// Revokes a grant, charging the unmap.
    pub fn revoke(
        &mut self,
        grant: crate::iommu::GrantRef,
    ) -> Result<(), crate::iommu::GrantError> {
        self.iommu.unmap(grant)?;
        self.charge(CpuUse::Grants, self.iommu_costs.unmap_cycles);
        Ok(())
    }

    /// The inter-VM path in use.
    pub fn copy_mode(&self) -> CopyMode {
        self.copier.config().mode
    }

    /// The copier's counts.
    pub fn copy_metrics(&self) -> &CopyMetrics {
        self.copier.metrics()
    }

    /// The host's counts.
    pub fn metrics(&self) -> &HostMetrics {
        &self.metrics
    }

    /// Refused DMA accesses by VM.
    pub fn dma_faults_by_vm(&self) -> &BTreeMap<VmId, u64> {
        &self.iommu.metrics().faults_by_vm
    }

    /// The host's cores and memory bus.
    pub fn cpu(&self) -> &HostCpu {
        &self.cpu
    }

    /// Runs `cycles` of `what` on `core` from `at` (queued behind the core's work), charged
    /// under `what`; returns when it ends.
    pub fn run_on(&mut self, core: CoreId, at: SimTime, cycles: u64, what: CpuUse) -> SimTime {
        if cycles == 0 {
            return at;
        }
        self.charge(what, cycles);
        self.cpu.run_on(core, at, cycles, what.name())
    }

    /// The core that frees first after `at`.
    pub fn first_free_core(&self, at: SimTime) -> CoreId {
        self.cpu.first_free(at)
    }

    /// When `core` is next free.
    pub fn core_free_at(&self, core: CoreId) -> SimTime {
        self.cpu.free_at(core)
    }

    /// Adds `cycles` of host CPU under `what`, occupying no core (work before the run, or
    /// on a guest's own CPU).
    pub fn charge(&mut self, what: CpuUse, cycles: u64) {
        if cycles == 0 {
            return;
        }
        *self.metrics.cpu_cycles.entry(what).or_insert(0) += cycles;
    }

    /// Moves the interrupts raised since the last call into `out`, in order.
    pub fn take_interrupts(&mut self, out: &mut Vec<(IrqVector, SimTime)>) {
        out.append(&mut self.interrupts);
    }

    /// True when interrupts are waiting to be taken.
    pub fn has_interrupts(&self) -> bool {
        !self.interrupts.is_empty()
    }

    /// Checks an access and returns where it lands, or the fault (counted).
    fn check(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: u64,
        write: bool,
    ) -> Result<GuestAddress, Fault> {
        if self.memory(vm).is_none() {
            let reason = FaultReason::NoSuchVm;
            return Err(self.iommu.refuse(vm, iova, len, write, reason));
        }
        let guest = self.iommu.translate(vm, iova, len, write)?;
        // A grant of memory the VM does not have is the guest's bug: refuse, counted.
        let backed = self
            .memory(vm)
            .is_some_and(|m| m.translate(guest, len).is_ok());
        if !backed {
            let reason = FaultReason::Unbacked;
            return Err(self.iommu.refuse(vm, iova, len, write, reason));
        }
        Ok(guest)
    }

    /// Checks a DMA of the card and counts it: where it lands, or the fault as the card
    /// sees it.
    fn admit_dma(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: usize,
        write: bool,
    ) -> Result<GuestAddress, DmaFault> {
        let bytes = len as u64;
        let guest = self.check(vm, iova, bytes, write).map_err(dma_fault)?;
        if write {
            self.metrics.dma_writes += 1;
            self.metrics.dma_write_bytes += bytes;
        } else {
            self.metrics.dma_reads += 1;
            self.metrics.dma_read_bytes += bytes;
        }
        Ok(guest)
    }
}

fn dma_fault(f: Fault) -> DmaFault {
    DmaFault {
        vm: f.vm,
        iova: f.iova,
        len: f.len,
        write: f.write,
        reason: f.reason.name().to_string(),
    }
}

impl HostBus for Host {
    fn dma_read(&mut self, vm: VmId, iova: Iova, buf: &mut [u8]) -> Result<(), DmaFault> {
        let guest = self.admit_dma(vm, iova, buf.len(), false)?;
        if let Some(m) = self.memory(vm) {
            // Checked: inside one region.
            let _ = m.read(guest, buf);
        }
        Ok(())
    }

    fn dma_write(&mut self, vm: VmId, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        let guest = self.admit_dma(vm, iova, data.len(), true)?;
        if let Some(m) = self.memory_mut(vm) {
            // Checked: inside one region.
            let _ = m.write(guest, data);
        }
        Ok(())
    }

    fn interrupt(&mut self, vector: IrqVector, at: SimTime) {
        self.metrics.interrupts += 1;
        self.interrupts.push((vector, at));
    }

    fn has_copy_engine(&self) -> bool {
        self.copier.config().mode.takes_copy_commands()
    }

    fn copy(&mut self, cmd: &CopyCommand, at: SimTime) -> Result<SimTime, CopyFault> {
        let len = u64::from(cmd.len);
        let refuse = |status, f| CopyFault {
            status,
            fault: dma_fault(f),
        };
        if !self.copier.config().mode.takes_copy_commands() {
            self.copier.refused();
            let f = Fault {
                vm: cmd.src_vm,
                iova: cmd.src,
                len,
                write: false,
                reason: FaultReason::NoCopyEngine,
            };
            return Err(refuse(CopyStatus::SourceFault, f));
        }
        let src = match self.check(cmd.src_vm, cmd.src, len, false) {
            Ok(a) => a,
            Err(f) => {
                self.copier.refused();
                return Err(refuse(CopyStatus::SourceFault, f));
            }
        };
        let dst = match self.check(cmd.dst_vm, cmd.dst, len, true) {
            Ok(a) => a,
            Err(f) => {
                self.copier.refused();
                return Err(refuse(CopyStatus::DestinationFault, f));
            }
        };
        let n = usize::try_from(len).unwrap_or(0);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(n, 0);
        if let Some(m) = self.memory(cmd.src_vm) {
            let _ = m.read(src, &mut scratch[..n]);
        }
        if let Some(m) = self.memory_mut(cmd.dst_vm) {
            let _ = m.write(dst, &scratch[..n]);
        }
        self.scratch = scratch;
        let done = self.copier.copy(&mut self.cpu, len, at);
        self.charge(CpuUse::Copy, done.copy_cycles);
        self.charge(CpuUse::Interrupts, done.interrupt_cycles);
        Ok(done.at)
    }

    fn take_copy_completion(&mut self, written: SimTime) -> SimTime {
        let taken = self.copier.take_completion(&mut self.cpu, written);
        self.charge(CpuUse::Copy, taken.copy_cycles);
        self.charge(CpuUse::Interrupts, taken.interrupt_cycles);
        taken.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::GrantAccess;
    use nic_abi::desc::CopyCookie;

    #[test]
    fn dma_and_copies_are_checked_whole() {
        let mut h = Host::new(HostConfig::default()).expect("valid");
        h.add_vm(GuestMemory::flat(VmId(1), 0x1000).expect("mem"))
            .expect("new");
        h.add_vm(GuestMemory::flat(VmId(2), 0x1000).expect("mem"))
            .expect("new");
        assert!(h
            .add_vm(GuestMemory::flat(VmId(2), 16).expect("mem"))
            .is_err());
        h.grant(
            VmId(1),
            Iova(0x100),
            0x100,
            GuestAddress(0x100),
            GrantAccess::Both,
        )
        .expect("grant");
        h.grant(
            VmId(2),
            Iova(0x200),
            0x100,
            GuestAddress(0x200),
            GrantAccess::DeviceWrites,
        )
        .expect("grant");
        h.dma_write(VmId(1), Iova(0x100), &[7; 16])
            .expect("granted");
        let cmd = CopyCommand {
            src: Iova(0x100),
            dst: Iova(0x200),
            src_vm: VmId(1),
            dst_vm: VmId(2),
            len: 16,
            cookie: CopyCookie(0),
        };
        let done = h.copy(&cmd, SimTime::ZERO).expect("both sides granted");
        assert!(done > SimTime::ZERO);
        assert_eq!(
            h.memory(VmId(2))
                .expect("vm")
                .slice(GuestAddress(0x200), 16)
                .expect("in"),
            &[7; 16]
        );
        // The destination is not readable by the card, the source not writable beyond.
        assert!(h.dma_read(VmId(2), Iova(0x200), &mut [0; 4]).is_err());
        let e = h
            .dma_write(VmId(1), Iova(0x1f8), &[1; 16])
            .expect_err("beyond");
        assert!(e.reason.contains("beyond"), "{e}");
        let far = CopyCommand {
            dst: Iova(0x2f8),
            ..cmd
        };
        let e = h
            .copy(&far, SimTime::ZERO)
            .expect_err("destination beyond its grant");
        assert_eq!(e.status, CopyStatus::DestinationFault);
        assert_eq!(
            h.memory(VmId(2))
                .expect("vm")
                .slice(GuestAddress(0x2f8), 8)
                .expect("in"),
            &[0; 8],
            "nothing written"
        );
        assert!(h.dma_read(VmId(9), Iova(0), &mut [0; 1]).is_err());
        assert_eq!(h.dma_faults_by_vm().get(&VmId(1)), Some(&1));
        assert_eq!(h.dma_faults_by_vm().get(&VmId(2)), Some(&2));
        assert_eq!(h.dma_faults_by_vm().get(&VmId(9)), Some(&1));
        assert_eq!(h.metrics().cycles(CpuUse::Grants), 1_000);
    }
}
