//! Guest memory: each VM's guest-physical address space, made of regions backed by one host
//! allocation per VM.
//!
//! Three address spaces meet here and each has its own type, so none can be passed for
//! another (rust-vmm's `vm-memory` discipline):
//!
//! ```text
//!   GuestAddress  what the guest's own driver uses (guest-physical)
//!   Iova          what the card puts on PCIe; the IOMMU (crate::iommu) maps it to a
//!                 GuestAddress of the VM that granted it
//!   HostOffset    where the bytes sit in the host's backing store of that VM
//! ```
//!
//! A guest address is usable only inside one of its VM's regions; an access never spans two
//! regions (they need not be contiguous on the host), and one that runs past a region's end
//! or wraps the address space is refused, whole, with nothing read or written.

use nic_abi::desc::VmId;

/// A guest-physical address of one VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GuestAddress(pub u64);

impl GuestAddress {
    /// The address `bytes` further on, or `None` past the end of the address space.
    pub fn checked_add(self, bytes: u64) -> Option<GuestAddress> {
        self.0.checked_add(bytes).map(GuestAddress)
    }
}

/// A byte offset into the host allocation backing one VM's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HostOffset(pub usize);

/// A region of guest memory: `len` bytes at guest address `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionSpec {
    /// First guest address.
    pub start: GuestAddress,
    /// Bytes.
    pub len: u64,
}

/// A validated region and where it is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    start: u64,
    end: u64,
    host: usize,
}

/// Why a memory layout or an access was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// A region is empty, wraps the address space, overlaps another, or is larger than the
    /// host can back.
    #[error("{vm}: region {index} ({start:#x}, {len} bytes): {why}")]
    BadRegion {
        /// The VM.
        vm: VmId,
        /// The region's position in the list.
        index: usize,
        /// Its start.
        start: u64,
        /// Its length.
        len: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// The access is not inside one region of the VM.
    #[error("{vm}: {len} bytes at guest address {addr:#x} are not inside one memory region")]
    OutOfRange {
        /// The VM.
        vm: VmId,
        /// First address.
        addr: u64,
        /// Bytes.
        len: u64,
    },
}

/// One VM's guest memory.
#[derive(Debug, Clone)]
pub struct GuestMemory {
    vm: VmId,
    regions: Vec<Region>,
    bytes: Vec<u8>,
}

impl GuestMemory {
    /// Memory for `vm` made of `regions` (zeroed), refused when a region is empty, wraps,
    /// or overlaps another.
    pub fn new(vm: VmId, regions: &[RegionSpec]) -> Result<GuestMemory, MemoryError> {
        let mut out: Vec<Region> = Vec::with_capacity(regions.len());
        let mut host = 0usize;
        for (index, r) in regions.iter().enumerate() {
            let bad = |why| MemoryError::BadRegion {
                vm,
                index,
                start: r.start.0,
                len: r.len,
                why,
            };
            if r.len == 0 {
                return Err(bad("empty"));
            }
            let end = r
                .start
                .0
                .checked_add(r.len)
                .ok_or_else(|| bad("wraps the address space"))?;
            if out.iter().any(|o| r.start.0 < o.end && o.start < end) {
                return Err(bad("overlaps another region"));
            }
            let len = usize::try_from(r.len).map_err(|_| bad("larger than the host can back"))?;
            out.push(Region {
                start: r.start.0,
                end,
                host,
            });
            host = host
                .checked_add(len)
                .ok_or_else(|| bad("larger than the host can back"))?;
        }
        out.sort_by_key(|r| r.start);
        Ok(GuestMemory {
            vm,
            regions: out,
            bytes: vec![0; host],
        })
    }

    /// Memory of one region of `len` bytes at guest address 0.
    pub fn flat(vm: VmId, len: u64) -> Result<GuestMemory, MemoryError> {
        GuestMemory::new(
            vm,
            &[RegionSpec {
                start: GuestAddress(0),
                len,
            }],
        )
    }

    /// The VM.
    pub fn vm(&self) -> VmId {
        self.vm
    }

    /// Bytes of memory (all regions).
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Where `len` bytes at `addr` are backed, if inside one region.
    pub fn translate(&self, addr: GuestAddress, len: u64) -> Result<HostOffset, MemoryError> {
        let out = MemoryError::OutOfRange {
            vm: self.vm,
            addr: addr.0,
            len,
        };
        let end = addr.0.checked_add(len).ok_or(out.clone())?;
        // Few regions per VM: a linear scan beats a search.
        let r = self
            .regions
            .iter()
            .find(|r| r.start <= addr.0 && end <= r.end)
            .ok_or(out.clone())?;
        let off = usize::try_from(addr.0 - r.start).map_err(|_| out.clone())?;
        Ok(HostOffset(r.host + off))
    }

    /// Reads `buf.len()` bytes at `addr`.
    pub fn read(&self, addr: GuestAddress, buf: &mut [u8]) -> Result<(), MemoryError> {
        let at = self.translate(addr, buf.len() as u64)?.0;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }

    /// Writes `data` at `addr`.
    pub fn write(&mut self, addr: GuestAddress, data: &[u8]) -> Result<(), MemoryError> {
        let at = self.translate(addr, data.len() as u64)?.0;
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// The `len` bytes at `addr`, borrowed.
    pub fn slice(&self, addr: GuestAddress, len: usize) -> Result<&[u8], MemoryError> {
        let at = self.translate(addr, len as u64)?.0;
        Ok(&self.bytes[at..at + len])
    }

    /// The whole backing store (for snapshots in tests).
    pub fn backing(&self) -> &[u8] {
        &self.bytes
    }

    /// The guest address backed at host offset `off`, if any (for reporting a changed byte).
    pub fn guest_address_of(&self, off: HostOffset) -> Option<GuestAddress> {
        self.regions.iter().find_map(|r| {
            let len = usize::try_from(r.end - r.start).ok()?;
            (r.host <= off.0 && off.0 < r.host + len)
                .then(|| GuestAddress(r.start + (off.0 - r.host) as u64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_translate_and_refuse() {
        let regions = [
            RegionSpec {
                start: GuestAddress(0x10_0000),
                len: 0x1000,
            },
            RegionSpec {
                start: GuestAddress(0),
                len: 0x1000,
            },
        ];
        let mut m = GuestMemory::new(VmId(3), &regions).expect("valid");
        assert_eq!(m.size(), 0x2000);
        // Sorted by guest address: region 1 (at 0) is backed after region 0.
        assert_eq!(
            m.translate(GuestAddress(0x10), 4).expect("in"),
            HostOffset(0x1010)
        );
        m.write(GuestAddress(0x10_0ffc), &[1, 2, 3, 4]).expect("in");
        assert!(m.write(GuestAddress(0x10_0ffd), &[1, 2, 3, 4]).is_err());
        assert!(
            m.read(GuestAddress(0x800), &mut [0; 0x900]).is_err(),
            "past the end"
        );
        assert!(
            m.read(GuestAddress(u64::MAX), &mut [0; 2]).is_err(),
            "wraps"
        );
        assert_eq!(
            m.guest_address_of(HostOffset(0xffc)),
            Some(GuestAddress(0x10_0ffc))
        );
        let overlap = [
            RegionSpec {
                start: GuestAddress(0),
                len: 0x1000,
            },
            RegionSpec {
                start: GuestAddress(0xfff),
                len: 2,
            },
        ];
        let e = GuestMemory::new(VmId(1), &overlap).expect_err("overlap");
        assert!(e.to_string().contains("overlaps"), "{e}");
        assert!(GuestMemory::flat(VmId(1), 0).is_err());
    }
}
