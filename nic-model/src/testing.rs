//! Test helpers: the other side of the card's boundary, made simple.
//!
//! [`FlatMemoryHost`] is a host with one flat byte array per VM (IOVA = offset), no IOMMU
//! beyond bounds, and a list of raised interrupts. It can be told to refuse accesses to an
//! address range, to force DMA faults in tests. [`VmLayout`] and [`MissLayout`] place a VM's
//! rings and buffers (and the agent's miss ring) in such a memory and play the guest driver's
//! part: post buffers, queue frames, read completions.

use nic_abi::desc::{
    CopyCommand, CopyStatus, DescError, MissRecord, QueueIndex, RxCompletion, RxDescriptor,
    TxCompletion, TxDescriptor, TxFlags,
};
use nic_abi::key::PortNo;
use nic_abi::time::{SimDuration, SimTime};

use crate::card::{MissQueueSetup, QueueSetup, RingSetup};
use crate::host::{CopyFault, DmaFault, HostBus, Iova, IrqVector, VmId};

/// A simple copy engine: one channel, a setup time per copy and a fixed bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyEngineModel {
    /// Time to start one copy (descriptor fetch and decode).
    pub setup: SimDuration,
    /// Picoseconds per byte copied.
    pub ps_per_byte: u64,
    /// When the channel is next free.
    pub free: SimTime,
}

/// Bytes of each packet buffer in a [`VmLayout`].
pub const BUFFER_BYTES: u16 = 2048;

/// Where a VM's rings and buffers sit in its memory, and the guest driver's side of them.
///
/// ```text
///   0            RX ring        entries x 16 B
///   ...          RX completions entries x 24 B
///   ...          TX ring        entries x 16 B
///   ...          TX completions entries x 16 B
///   buffers      RX buffers     entries x 2 KiB, then TX buffers entries x 2 KiB
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmLayout {
    /// The VM.
    pub vm: VmId,
    /// Its switch port.
    pub port: PortNo,
    /// Its queue index on the card (the order queues were added).
    pub queue: QueueIndex,
    /// Entries of each ring (a power of two).
    pub entries: u16,
}

impl VmLayout {
    fn rx_ring(&self) -> u64 {
        0
    }
    fn rx_cq(&self) -> u64 {
        self.rx_ring() + u64::from(self.entries) * RxDescriptor::SIZE as u64
    }
    fn tx_ring(&self) -> u64 {
        self.rx_cq() + u64::from(self.entries) * RxCompletion::SIZE as u64
    }
    fn tx_cq(&self) -> u64 {
        self.tx_ring() + u64::from(self.entries) * TxDescriptor::SIZE as u64
    }
    fn buffers(&self) -> u64 {
        (self.tx_cq() + u64::from(self.entries) * TxCompletion::SIZE as u64).next_multiple_of(4096)
    }

    /// Bytes of memory the layout needs.
    pub fn memory_bytes(&self) -> usize {
        let end = self.buffers() + 2 * u64::from(self.entries) * u64::from(BUFFER_BYTES);
        usize::try_from(end).unwrap_or(usize::MAX)
    }

    /// The queue setup for the card, with these interrupt vectors.
    pub fn queue_setup(&self, rx_vector: IrqVector, tx_vector: IrqVector) -> QueueSetup {
        let ring = |base| RingSetup {
            base: Iova(base),
            entries: self.entries,
        };
        QueueSetup {
            vm: self.vm,
            port: self.port,
            rx: ring(self.rx_ring()),
            rx_completions: ring(self.rx_cq()),
            tx: ring(self.tx_ring()),
            tx_completions: ring(self.tx_cq()),
            rx_vector,
            tx_vector,
        }
    }

    fn slot(&self, index: u16) -> u64 {
        u64::from(index & (self.entries - 1))
    }

    /// Writes a 16-byte descriptor at ring index `index` of the ring at `ring`.
    fn write_entry(
        &self,
        host: &mut FlatMemoryHost,
        ring: u64,
        index: u16,
        bytes: &[u8; 16],
    ) -> Result<(), DmaFault> {
        host.dma_write(
            self.vm,
            Iova(ring + self.slot(index) * bytes.len() as u64),
            bytes,
        )
    }

    /// The `size` bytes of the entry at ring index `index` of the ring at `ring` (empty when
    /// outside the VM's memory).
    fn entry<'h>(&self, host: &'h FlatMemoryHost, ring: u64, index: u16, size: usize) -> &'h [u8] {
        let at = usize::try_from(ring + self.slot(index) * size as u64).unwrap_or(usize::MAX);
        host.memory(self.vm)
            .and_then(|m| m.get(at..at.saturating_add(size)))
            .unwrap_or(&[])
    }

    /// The RX buffer of ring index `index`.
    pub fn rx_buffer(&self, index: u16) -> Iova {
        Iova(self.buffers() + self.slot(index) * u64::from(BUFFER_BYTES))
    }

    /// The TX buffer of ring index `index`.
    pub fn tx_buffer(&self, index: u16) -> Iova {
        Iova(
            self.buffers() + (u64::from(self.entries) + self.slot(index)) * u64::from(BUFFER_BYTES),
        )
    }

    /// Writes the RX descriptor for ring index `index` (its own buffer, full size).
    pub fn post_rx(&self, host: &mut FlatMemoryHost, index: u16) -> Result<(), DmaFault> {
        let d = RxDescriptor {
            buf: self.rx_buffer(index),
            capacity: BUFFER_BYTES,
        };
        self.write_raw_rx(host, index, &d.to_bytes())
    }

    /// Writes raw descriptor bytes at ring slot `index` (for hostile-descriptor tests).
    pub fn write_raw_rx(
        &self,
        host: &mut FlatMemoryHost,
        index: u16,
        bytes: &[u8; 16],
    ) -> Result<(), DmaFault> {
        self.write_entry(host, self.rx_ring(), index, bytes)
    }

    /// Copies `frame` into the TX buffer of ring index `index` and writes its descriptor.
    pub fn queue_tx(
        &self,
        host: &mut FlatMemoryHost,
        index: u16,
        frame: &[u8],
    ) -> Result<(), DmaFault> {
        host.dma_write(self.vm, self.tx_buffer(index), frame)?;
        let d = TxDescriptor {
            buf: self.tx_buffer(index),
            len: u16::try_from(frame.len()).unwrap_or(u16::MAX),
            flags: TxFlags::NONE,
            vm: self.vm,
            queue: self.queue,
        };
        self.write_raw_tx(host, index, &d.to_bytes())
    }

    /// Writes raw TX descriptor bytes at ring slot `index`.
    pub fn write_raw_tx(
        &self,
        host: &mut FlatMemoryHost,
        index: u16,
        bytes: &[u8; 16],
    ) -> Result<(), DmaFault> {
        self.write_entry(host, self.tx_ring(), index, bytes)
    }

    /// The RX completion the card wrote at completion index `index`.
    pub fn rx_completion(
        &self,
        host: &FlatMemoryHost,
        index: u16,
    ) -> Result<RxCompletion, DescError> {
        RxCompletion::try_from(self.entry(host, self.rx_cq(), index, RxCompletion::SIZE))
    }

    /// The TX completion the card wrote at completion index `index`.
    pub fn tx_completion(
        &self,
        host: &FlatMemoryHost,
        index: u16,
    ) -> Result<TxCompletion, DescError> {
        TxCompletion::try_from(self.entry(host, self.tx_cq(), index, TxCompletion::SIZE))
    }

    /// `len` bytes of the RX buffer of ring index `index`.
    pub fn rx_data<'h>(&self, host: &'h FlatMemoryHost, index: u16, len: usize) -> &'h [u8] {
        let at = usize::try_from(self.rx_buffer(index).0).unwrap_or(usize::MAX);
        host.memory(self.vm)
            .and_then(|m| m.get(at..at + len))
            .unwrap_or(&[])
    }
}

/// The agent's miss ring, at the start of its own memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissLayout {
    /// The agent's address space.
    pub vm: VmId,
    /// Ring entries (a power of two).
    pub entries: u16,
}

impl MissLayout {
    /// Bytes of memory the ring needs.
    pub fn memory_bytes(&self) -> usize {
        usize::from(self.entries) * MissRecord::SIZE
    }

    /// The miss queue setup for the card.
    pub fn setup(&self, vector: IrqVector) -> MissQueueSetup {
        MissQueueSetup {
            vm: self.vm,
            ring: RingSetup {
                base: Iova(0),
                entries: self.entries,
            },
            vector,
        }
    }

    /// The record at ring index `index`.
    pub fn record(&self, host: &FlatMemoryHost, index: u16) -> Result<MissRecord, DescError> {
        let at = usize::from(index & (self.entries - 1)) * MissRecord::SIZE;
        let mem = host.memory(self.vm).unwrap_or(&[]);
        MissRecord::try_from(mem.get(at..at + MissRecord::SIZE).unwrap_or(&[]))
    }
}

/// A host whose VMs each own a flat memory of a fixed size.
#[derive(Debug, Clone, Default)]
pub struct FlatMemoryHost {
    /// Indexed by VM id.
    memories: Vec<Option<Vec<u8>>>,
    refused: Vec<(VmId, u64, u64)>,
    /// Interrupts raised, in order: (vector, time).
    pub interrupts: Vec<(IrqVector, SimTime)>,
    /// DMA reads performed (successful ones).
    pub reads: u64,
    /// DMA writes performed (successful ones).
    pub writes: u64,
    /// The copy engine, if the host has one.
    pub copy_engine: Option<CopyEngineModel>,
    /// Copies performed (successful ones).
    pub copies: u64,
}

impl FlatMemoryHost {
    /// A host with no VM.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the host a copy engine that starts a copy in `setup` and moves `bytes_per_us`
    /// bytes per microsecond (e.g. an I/OAT channel: about 5,000 bytes/us).
    pub fn with_copy_engine(mut self, setup: SimDuration, bytes_per_us: u64) -> Self {
        self.copy_engine = Some(CopyEngineModel {
            setup,
            ps_per_byte: 1_000_000 / bytes_per_us.max(1),
            free: SimTime::ZERO,
        });
        self
    }

    /// Gives `vm` a zeroed memory of `bytes` bytes (IOVAs `0..bytes`).
    pub fn add_vm(&mut self, vm: VmId, bytes: usize) {
        let i = usize::from(vm.0);
        if self.memories.len() <= i {
            self.memories.resize(i + 1, None);
        }
        self.memories[i] = Some(vec![0; bytes]);
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
        self.memories
            .get(usize::from(vm.0))
            .and_then(Option::as_deref)
    }

    /// `vm`'s memory, writable (the guest's own accesses).
    pub fn memory_mut(&mut self, vm: VmId) -> Option<&mut [u8]> {
        self.memories
            .get_mut(usize::from(vm.0))
            .and_then(Option::as_deref_mut)
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
        let mem = self.memory(vm).ok_or_else(|| fault("no such VM"))?;
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
        if let Some(mem) = self.memory(vm) {
            buf.copy_from_slice(&mem[s..e]);
        }
        self.reads += 1;
        Ok(())
    }

    fn dma_write(&mut self, vm: VmId, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        let (s, e) = self.check(vm, iova, data.len() as u64, true)?;
        if let Some(mem) = self.memory_mut(vm) {
            mem[s..e].copy_from_slice(data);
        }
        self.writes += 1;
        Ok(())
    }

    fn interrupt(&mut self, vector: IrqVector, at: SimTime) {
        self.interrupts.push((vector, at));
    }

    fn has_copy_engine(&self) -> bool {
        self.copy_engine.is_some()
    }

    fn copy(&mut self, cmd: &CopyCommand, at: SimTime) -> Result<SimTime, CopyFault> {
        let len = u64::from(cmd.len);
        let mut data = vec![0u8; usize::try_from(cmd.len).unwrap_or(0)];
        let (s, _) = self
            .check(cmd.src_vm, cmd.src, len, false)
            .map_err(|fault| CopyFault {
                status: CopyStatus::SourceFault,
                fault,
            })?;
        let (d, _) = self
            .check(cmd.dst_vm, cmd.dst, len, true)
            .map_err(|fault| CopyFault {
                status: CopyStatus::DestinationFault,
                fault,
            })?;
        let n = data.len();
        if let Some(mem) = self.memory(cmd.src_vm) {
            data.copy_from_slice(&mem[s..s + n]);
        }
        if let Some(mem) = self.memory_mut(cmd.dst_vm) {
            mem[d..d + n].copy_from_slice(&data);
        }
        self.copies += 1;
        let Some(engine) = &mut self.copy_engine else {
            return Ok(at);
        };
        let start = at.max(engine.free) + engine.setup;
        engine.free = start + SimDuration(len * engine.ps_per_byte);
        Ok(engine.free)
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
