//! Test helpers: the other side of the card's boundary, made simple.
//!
//! [`FlatMemoryHost`] is a host with one flat byte array per VM (IOVA = offset), no IOMMU
//! beyond bounds, and a list of raised interrupts. It can be told to refuse accesses to an
//! address range, to force DMA faults in tests.

use std::collections::HashMap;

use nic_abi::time::SimTime;

use crate::host::{DmaFault, HostBus, Iova, IrqVector, VmId};

/// A host whose VMs each own a flat memory of a fixed size.
#[derive(Debug, Clone, Default)]
pub struct FlatMemoryHost {
    memories: HashMap<VmId, Vec<u8>>,
    refused: Vec<(VmId, u64, u64)>,
    /// Interrupts raised, in order: (vector, time).
    pub interrupts: Vec<(IrqVector, SimTime)>,
    /// DMA reads performed (successful ones).
    pub reads: u64,
    /// DMA writes performed (successful ones).
    pub writes: u64,
}

impl FlatMemoryHost {
    /// A host with no VM.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `vm` a zeroed memory of `bytes` bytes (IOVAs `0..bytes`).
    pub fn add_vm(&mut self, vm: VmId, bytes: usize) {
        self.memories.insert(vm, vec![0; bytes]);
    }

    /// Makes every access of `vm` overlapping `start..start+len` fail.
    pub fn refuse(&mut self, vm: VmId, start: Iova, len: u64) {
        self.refused.push((vm, start.0, len));
    }

    /// Removes every refusal.
    pub fn clear_refusals(&mut self) {
        self.refused.clear();
    }

    /// `vm`'s memory.
    pub fn memory(&self, vm: VmId) -> Option<&[u8]> {
        self.memories.get(&vm).map(Vec::as_slice)
    }

    /// `vm`'s memory, writable (the guest's own accesses).
    pub fn memory_mut(&mut self, vm: VmId) -> Option<&mut [u8]> {
        self.memories.get_mut(&vm).map(Vec::as_mut_slice)
    }

    fn check(
        &self,
        vm: VmId,
        iova: Iova,
        len: u64,
        write: bool,
    ) -> Result<(usize, usize), DmaFault> {
        let fault = |reason: &str| DmaFault {
            vm,
            iova,
            len,
            write,
            reason: reason.to_string(),
        };
        let mem = self.memories.get(&vm).ok_or_else(|| fault("no such VM"))?;
        let end = iova
            .0
            .checked_add(len)
            .ok_or_else(|| fault("range wraps the address space"))?;
        if end > mem.len() as u64 {
            return Err(fault("beyond the VM's memory"));
        }
        if self
            .refused
            .iter()
            .any(|&(v, s, l)| v == vm && iova.0 < s.saturating_add(l) && s < end)
        {
            return Err(fault("refused by the test"));
        }
        let start = usize::try_from(iova.0).map_err(|_| fault("address beyond usize"))?;
        let end = usize::try_from(end).map_err(|_| fault("address beyond usize"))?;
        Ok((start, end))
    }
}

impl HostBus for FlatMemoryHost {
    fn dma_read(&mut self, vm: VmId, iova: Iova, buf: &mut [u8]) -> Result<(), DmaFault> {
        let (s, e) = self.check(vm, iova, buf.len() as u64, false)?;
        if let Some(mem) = self.memories.get(&vm) {
            buf.copy_from_slice(&mem[s..e]);
        }
        self.reads += 1;
        Ok(())
    }

    fn dma_write(&mut self, vm: VmId, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        let (s, e) = self.check(vm, iova, data.len() as u64, true)?;
        if let Some(mem) = self.memories.get_mut(&vm) {
            mem[s..e].copy_from_slice(data);
        }
        self.writes += 1;
        Ok(())
    }

    fn interrupt(&mut self, vector: IrqVector, at: SimTime) {
        self.interrupts.push((vector, at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_are_bounded_and_refusable() {
        let mut h = FlatMemoryHost::new();
        h.add_vm(VmId(1), 100);
        h.dma_write(VmId(1), Iova(10), &[1, 2, 3])
            .expect("in range");
        let mut b = [0u8; 3];
        h.dma_read(VmId(1), Iova(10), &mut b).expect("in range");
        assert_eq!(b, [1, 2, 3]);
        assert!(h.dma_write(VmId(1), Iova(98), &[0; 3]).is_err());
        assert!(h.dma_write(VmId(2), Iova(0), &[0; 3]).is_err());
        assert!(h.dma_read(VmId(1), Iova(u64::MAX), &mut b).is_err());
        h.refuse(VmId(1), Iova(50), 10);
        let e = h
            .dma_write(VmId(1), Iova(45), &[0; 6])
            .expect_err("refused");
        assert!(e.to_string().contains("refused by the test"), "{e}");
        assert_eq!(h.memory(VmId(1)).expect("vm")[45], 0);
    }
}
