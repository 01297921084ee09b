//! The IOMMU and grant table: which IOVAs of which VM the card may touch, and how.
//!
//! A VM grants the card a range of its memory before it posts it (a ring at setup, a buffer
//! with each descriptor): IOVA range -> guest address, with the direction the card may use.
//! Every DMA the card makes is checked against the grants of the VM whose address space it
//! names (owner), over its whole range (range), for its direction (direction), and against
//! revocation (still granted). A refused access is a [`Fault`]: counted by VM, logged with its
//! address, and nothing is read or written.
//!
//! **Grant reuse.** Mapping and unmapping cost host CPU (a hypercall or IOMMU page-table
//! update, and on unmap an IOTLB invalidation). With [`GrantMode::MapPerPost`] a guest maps
//! each buffer when it posts it and unmaps it at its completion; with
//! [`GrantMode::Persistent`] it maps its buffer pool once and re-posts the same pages, as in
//! Xen's multi-queue netback work with grant reuse (Ram et al., "Achieving 10 Gb/s using safe
//! and transparent network interface virtualization", VEE 2009) and blkback's persistent
//! grants. [`IommuMetrics`] counts maps and unmaps, and [`IommuCosts`] prices them, so the
//! difference shows in the host CPU model.

use std::collections::BTreeMap;

use nic_abi::desc::{Iova, VmId};

use crate::memory::GuestAddress;

/// How the card may use a granted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantAccess {
    /// The card reads it (TX buffers, descriptor rings).
    DeviceReads,
    /// The card writes it (RX buffers, completion rings).
    DeviceWrites,
    /// Both.
    Both,
}

impl GrantAccess {
    fn allows(self, write: bool) -> bool {
        match self {
            GrantAccess::DeviceReads => !write,
            GrantAccess::DeviceWrites => write,
            GrantAccess::Both => true,
        }
    }
}

/// How guests manage the grants of their packet buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GrantMode {
    /// Map every buffer at post, unmap it at completion.
    MapPerPost,
    /// Map the buffer pool once; re-post the same pages (grant reuse).
    #[default]
    Persistent,
}

/// Host CPU cycles of grant operations. Defaults are of the order reported for Linux's
/// IOMMU API in strict mode by Malka et al., "rIOMMU: Efficient IOMMU for I/O Devices that
/// Employ Ring Buffers", ASPLOS 2015 (a map costs hundreds of cycles; an unmap, with its
/// synchronous IOTLB invalidation, about two thousand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IommuCosts {
    /// Cycles per map. Default 500.
    pub map_cycles: u64,
    /// Cycles per unmap. Default 2,000.
    pub unmap_cycles: u64,
}

impl Default for IommuCosts {
    fn default() -> Self {
        IommuCosts {
            map_cycles: 500,
            unmap_cycles: 2_000,
        }
    }
}

/// A grant's handle, to revoke it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantRef {
    /// The granting VM.
    pub vm: VmId,
    /// First IOVA.
    pub iova: Iova,
}

/// One grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grant {
    len: u64,
    guest: GuestAddress,
    access: GrantAccess,
    live: bool,
}

/// Why a DMA access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultReason {
    /// The VM has no grant at that IOVA.
    NotGranted,
    /// The grant there has been revoked.
    Revoked,
    /// The access runs past the end of the grant.
    BeyondGrant,
    /// The grant does not allow this direction.
    WrongDirection,
    /// The range wraps the address space, or is empty.
    BadRange,
    /// The VM is unknown to the host.
    NoSuchVm,
    /// The grant names guest memory the VM does not have.
    Unbacked,
    /// A copy command reached a host that takes none (hairpin mode).
    NoCopyEngine,
}

impl FaultReason {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            FaultReason::NotGranted => "not granted",
            FaultReason::Revoked => "grant revoked",
            FaultReason::BeyondGrant => "beyond the grant",
            FaultReason::WrongDirection => "direction not granted",
            FaultReason::BadRange => "empty or wrapping range",
            FaultReason::NoSuchVm => "no such VM",
            FaultReason::Unbacked => "granted memory not backed",
            FaultReason::NoCopyEngine => "no copy engine",
        }
    }
}

/// A refused access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The VM whose address space was named.
    pub vm: VmId,
    /// First IOVA.
    pub iova: Iova,
    /// Bytes.
    pub len: u64,
    /// A write (else a read).
    pub write: bool,
    /// Why.
    pub reason: FaultReason,
}

/// Errors of grant management (the guest's side, not the card's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The range is empty or wraps the address space.
    #[error("{vm}: grant of {len} bytes at {iova} is empty or wraps the address space")]
    BadRange {
        /// The VM.
        vm: VmId,
        /// First IOVA.
        iova: Iova,
        /// Bytes.
        len: u64,
    },
    /// The range overlaps a live grant.
    #[error("{vm}: grant of {len} bytes at {iova} overlaps a live grant")]
    Overlap {
        /// The VM.
        vm: VmId,
        /// First IOVA.
        iova: Iova,
        /// Bytes.
        len: u64,
    },
    /// No live grant starts there.
    #[error("{0:?}: no live grant to revoke")]
    NotGranted(GrantRef),
}

/// Counts of the IOMMU's work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IommuMetrics {
    /// Grants made.
    pub maps: u64,
    /// Grants revoked.
    pub unmaps: u64,
    /// Accesses checked.
    pub checks: u64,
    /// Refused accesses by VM.
    pub faults_by_vm: BTreeMap<VmId, u64>,
    /// The first refused accesses (at most [`FAULT_LOG_LIMIT`]), for diagnostics.
    pub fault_log: Vec<Fault>,
}

impl IommuMetrics {
    /// All refused accesses.
    pub fn faults(&self) -> u64 {
        self.faults_by_vm.values().sum()
    }
}

/// Most faults kept in [`IommuMetrics::fault_log`].
pub const FAULT_LOG_LIMIT: usize = 64;

/// The end of the range of `len` bytes at `iova`, or `None` when it is empty or wraps the
/// address space.
fn range_end(iova: Iova, len: u64) -> Option<u64> {
    iova.0.checked_add(len).filter(|_| len > 0)
}

/// The grant tables of every VM.
#[derive(Debug, Clone, Default)]
pub struct Iommu {
    /// Per VM (by id): grants by first IOVA. Grants of one VM never overlap.
    tables: Vec<BTreeMap<u64, Grant>>,
    metrics: IommuMetrics,
}

impl Iommu {
    /// An IOMMU with no grant.
    pub fn new() -> Iommu {
        Iommu::default()
    }

    fn table_mut(&mut self, vm: VmId) -> &mut BTreeMap<u64, Grant> {
        let i = usize::from(vm.0);
        if self.tables.len() <= i {
            self.tables.resize_with(i + 1, BTreeMap::new);
        }
        &mut self.tables[i]
    }

    /// Grants the card `access` to `len` bytes at `iova` of `vm`, backed by guest address
    /// `guest`. Revoked grants the range overlaps are forgotten.
    pub fn map(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: u64,
        guest: GuestAddress,
        access: GrantAccess,
    ) -> Result<GrantRef, GrantError> {
        let end = range_end(iova, len).ok_or(GrantError::BadRange { vm, iova, len })?;
        guest
            .checked_add(len)
            .ok_or(GrantError::BadRange { vm, iova, len })?;
        let table = self.table_mut(vm);
        // Entries (live or revoked) never overlap each other, so those meeting the new range
        // are the one starting at or before it, if it reaches in, and those starting inside.
        let mut overlapping: Vec<(u64, bool)> = Vec::new();
        if let Some((&s, g)) = table.range(..=iova.0).next_back() {
            if s.saturating_add(g.len) > iova.0 {
                overlapping.push((s, g.live));
            }
        }
        // `len > 0` and no overflow: `iova + 1 <= end`.
        for (&s, g) in table.range(iova.0 + 1..end) {
            overlapping.push((s, g.live));
        }
        if overlapping.iter().any(|&(_, live)| live) {
            return Err(GrantError::Overlap { vm, iova, len });
        }
        for (s, _) in overlapping {
            table.remove(&s);
        }
        table.insert(
            iova.0,
            Grant {
                len,
                guest,
                access,
                live: true,
            },
        );
        self.metrics.maps += 1;
        Ok(GrantRef { vm, iova })
    }

    /// Revokes a grant; later accesses to it fault ("grant revoked").
    pub fn unmap(&mut self, grant: GrantRef) -> Result<(), GrantError> {
        let g = self
            .table_mut(grant.vm)
            .get_mut(&grant.iova.0)
            .filter(|g| g.live)
            .ok_or(GrantError::NotGranted(grant))?;
        g.live = false;
        self.metrics.unmaps += 1;
        Ok(())
    }

    /// Checks an access by the card and translates it: the guest address of `iova`, or the
    /// fault (counted and logged).
    pub fn translate(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: u64,
        write: bool,
    ) -> Result<GuestAddress, Fault> {
        self.metrics.checks += 1;
        self.check(vm, iova, len, write)
            .map_err(|reason| self.refuse(vm, iova, len, write, reason))
    }

    /// Refuses an access for `reason` (found here or by the host: a VM it does not know,
    /// memory the VM does not have): the fault, counted and logged.
    pub fn refuse(
        &mut self,
        vm: VmId,
        iova: Iova,
        len: u64,
        write: bool,
        reason: FaultReason,
    ) -> Fault {
        let fault = Fault {
            vm,
            iova,
            len,
            write,
            reason,
        };
        self.record(fault);
        fault
    }

    /// Counts and logs a fault.
    fn record(&mut self, fault: Fault) {
        *self.metrics.faults_by_vm.entry(fault.vm).or_insert(0) += 1;
        if self.metrics.fault_log.len() < FAULT_LOG_LIMIT {
            self.metrics.fault_log.push(fault);
        }
    }

    fn check(
        &self,
        vm: VmId,
        iova: Iova,
        len: u64,
        write: bool,
    ) -> Result<GuestAddress, FaultReason> {
        let end = range_end(iova, len).ok_or(FaultReason::BadRange)?;
        let table = self
            .tables
            .get(usize::from(vm.0))
            .ok_or(FaultReason::NotGranted)?;
        let (&start, g) = table
            .range(..=iova.0)
            .next_back()
            .ok_or(FaultReason::NotGranted)?;
        let grant_end = start.saturating_add(g.len);
        if iova.0 >= grant_end {
            return Err(FaultReason::NotGranted);
        }
        if !g.live {
            return Err(FaultReason::Revoked);
        }
        if end > grant_end {
            return Err(FaultReason::BeyondGrant);
        }
        if !g.access.allows(write) {
            return Err(FaultReason::WrongDirection);
        }
        Ok(GuestAddress(g.guest.0 + (iova.0 - start)))
    }

    /// The live grants of `vm` the card may write: `(iova, len)`, in IOVA order.
    pub fn writable(&self, vm: VmId) -> Vec<(Iova, u64)> {
        self.tables
            .get(usize::from(vm.0))
            .map(|t| {
                t.iter()
                    .filter(|(_, g)| g.live && g.access.allows(true))
                    .map(|(&s, g)| (Iova(s), g.len))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The counts so far.
    pub fn metrics(&self) -> &IommuMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of the grant model: map, revoke the n-th grant made, or an access.
    #[derive(Debug, Clone)]
    enum Step {
        Map(u16, u64, u64, u8),
        Unmap(usize),
        Access(u16, u64, u64, bool),
    }

    fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
        use proptest::prelude::*;
        let step = prop_oneof![
            (0u16..3, 0u64..64, 1u64..16, 0u8..3).prop_map(|(v, i, l, a)| Step::Map(v, i, l, a)),
            (0usize..32).prop_map(Step::Unmap),
            (0u16..3, 0u64..80, 0u64..20, any::<bool>())
                .prop_map(|(v, i, l, w)| Step::Access(v, i, l, w)),
        ];
        proptest::collection::vec(step, 1..200)
    }

    /// The model: every grant ever made, `(vm, start, len, guest, access, live)`, scanned.
    type ModelGrant = (u16, u64, u64, u64, GrantAccess, bool);

    fn model_check(
        grants: &[ModelGrant],
        vm: u16,
        iova: u64,
        len: u64,
        write: bool,
    ) -> Result<GuestAddress, FaultReason> {
        let end = iova
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(FaultReason::BadRange)?;
        let &(_, s, l, g, a, live) = grants
            .iter()
            .find(|&&(v, s, l, ..)| v == vm && s <= iova && iova < s + l)
            .ok_or(FaultReason::NotGranted)?;
        if !live {
            return Err(FaultReason::Revoked);
        }
        if end > s + l {
            return Err(FaultReason::BeyondGrant);
        }
        if !a.allows(write) {
            return Err(FaultReason::WrongDirection);
        }
        Ok(GuestAddress(g + (iova - s)))
    }

    proptest::proptest! {
        /// Maps, revocations and accesses against a list scanned from the start: the same
        /// refusals and translations.
        #[test]
        fn translations_match_a_scanned_list_of_grants(steps in steps()) {
            let mut m = Iommu::new();
            let mut grants: Vec<ModelGrant> = Vec::new();
            let mut made: Vec<GrantRef> = Vec::new();
            for step in steps {
                match step {
                    Step::Map(vm, iova, len, a) => {
                        let access = [GrantAccess::DeviceReads, GrantAccess::DeviceWrites, GrantAccess::Both][usize::from(a)];
                        let guest = 0x1000 * (iova + 1);
                        let overlaps = |&(v, s, l, ..): &ModelGrant| v == vm && s < iova + len && iova < s + l;
                        let live_overlap = grants.iter().any(|g| overlaps(g) && g.5);
                        let got = m.map(VmId(vm), Iova(iova), len, GuestAddress(guest), access);
                        proptest::prop_assert_eq!(got.is_ok(), !live_overlap);
                        if let Ok(r) = got {
                            grants.retain(|g| !overlaps(g));
                            grants.push((vm, iova, len, guest, access, true));
                            made.push(r);
                        }
                    }
                    Step::Unmap(n) => {
                        if let Some(&r) = made.get(n) {
                            let live = grants.iter_mut().find(|g| g.0 == r.vm.0 && g.1 == r.iova.0 && g.5);
                            let expect_ok = live.is_some();
                            if let Some(g) = live {
                                g.5 = false;
                            }
                            proptest::prop_assert_eq!(m.unmap(r).is_ok(), expect_ok);
                        }
                    }
                    Step::Access(vm, iova, len, write) => {
                        let want = model_check(&grants, vm, iova, len, write);
                        let got = m.translate(VmId(vm), Iova(iova), len, write).map_err(|f| f.reason);
                        proptest::prop_assert_eq!(got, want);
                    }
                }
            }
        }
    }

    #[test]
    fn every_check_of_a_dma() {
        let mut m = Iommu::new();
        let vm = VmId(1);
        let g = m
            .map(
                vm,
                Iova(0x1000),
                0x800,
                GuestAddress(0x9000),
                GrantAccess::DeviceWrites,
            )
            .expect("grant");
        assert_eq!(
            m.translate(vm, Iova(0x1010), 16, true),
            Ok(GuestAddress(0x9010))
        );
        let reason =
            |m: &mut Iommu, v, a, l, w| m.translate(v, Iova(a), l, w).map_err(|f| f.reason);
        assert_eq!(
            reason(&mut m, vm, 0x1010, 16, false),
            Err(FaultReason::WrongDirection)
        );
        assert_eq!(
            reason(&mut m, vm, 0x17ff, 2, true),
            Err(FaultReason::BeyondGrant)
        );
        assert_eq!(
            reason(&mut m, vm, 0x1800, 1, true),
            Err(FaultReason::NotGranted)
        );
        assert_eq!(
            reason(&mut m, VmId(2), 0x1010, 1, true),
            Err(FaultReason::NotGranted),
            "owner"
        );
        assert_eq!(
            reason(&mut m, vm, u64::MAX, 2, true),
            Err(FaultReason::BadRange)
        );
        assert_eq!(
            reason(&mut m, vm, 0x1000, 0, true),
            Err(FaultReason::BadRange)
        );
        m.unmap(g).expect("live");
        assert_eq!(
            reason(&mut m, vm, 0x1000, 1, true),
            Err(FaultReason::Revoked)
        );
        assert!(m.unmap(g).is_err(), "twice");
        assert_eq!(m.metrics().faults(), 7);
        assert_eq!(m.metrics().faults_by_vm[&VmId(2)], 1);
        // Re-mapping over the revoked grant replaces it; a live overlap is refused.
        m.map(
            vm,
            Iova(0x1000),
            0x800,
            GuestAddress(0x9000),
            GrantAccess::Both,
        )
        .expect("over a revoked grant");
        assert!(m
            .map(vm, Iova(0x17ff), 1, GuestAddress(0), GrantAccess::Both)
            .is_err());
        assert!(m
            .map(vm, Iova(0x800), 0x801, GuestAddress(0), GrantAccess::Both)
            .is_err());
        m.map(vm, Iova(0x800), 0x800, GuestAddress(0), GrantAccess::Both)
            .expect("adjacent");
        assert_eq!(m.metrics().maps, 3);
        assert_eq!(
            m.writable(vm),
            vec![(Iova(0x800), 0x800), (Iova(0x1000), 0x800)]
        );
    }
}
