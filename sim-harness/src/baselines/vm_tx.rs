//! The VMs' TX rings as the baselines see them: how many frames each VM has posted that the
//! switch has not taken yet, against the ring's size. A VM whose ring is full cannot post: its
//! frame is dropped as `queue_full` (a guest driver would hold it; the workload offered it at
//! that time regardless).

use crate::switch::{DropReason, Topology, VmIndex};

/// Per VM: frames in its TX ring, and the ring's size.
#[derive(Debug, Clone)]
pub struct VmTxRings {
    used: Vec<u32>,
    entries: Vec<u32>,
}

impl VmTxRings {
    /// Empty rings of each VM's `queue_entries` (at least 1).
    pub fn new(topology: &Topology) -> VmTxRings {
        VmTxRings {
            used: vec![0; topology.vms.len()],
            entries: topology
                .vms
                .iter()
                .map(|v| u32::from(v.queue_entries.max(1)))
                .collect(),
        }
    }

    /// Takes a slot of `vm`'s ring for a frame it posts, or the drop reason:
    /// [`DropReason::NoSuchPort`] (no such VM) or [`DropReason::QueueFull`].
    pub fn post(&mut self, vm: VmIndex) -> Result<(), DropReason> {
        let i = usize::from(vm.0);
        let (Some(used), Some(&cap)) = (self.used.get_mut(i), self.entries.get(i)) else {
            return Err(DropReason::NoSuchPort);
        };
        if *used >= cap {
            return Err(DropReason::QueueFull);
        }
        *used += 1;
        Ok(())
    }

    /// Frames `vm` has posted that the switch has not taken yet (0 for no such VM).
    pub fn used(&self, vm: VmIndex) -> u32 {
        self.used.get(usize::from(vm.0)).copied().unwrap_or(0)
    }

    /// Frees a slot of `vm`'s ring: the switch has taken one of its frames.
    pub fn take(&mut self, vm: VmIndex) {
        if let Some(u) = self.used.get_mut(usize::from(vm.0)) {
            *u = u.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::context;

    #[test]
    fn a_full_ring_refuses_until_a_frame_is_taken() {
        let mut ctx = context(2, 1, 1, Vec::new());
        ctx.topology.vms[0].queue_entries = 2;
        let mut rings = VmTxRings::new(&ctx.topology);
        assert_eq!(rings.post(VmIndex(0)), Ok(()));
        assert_eq!(rings.post(VmIndex(0)), Ok(()));
        assert_eq!(rings.used(VmIndex(0)), 2);
        assert_eq!(rings.post(VmIndex(0)), Err(DropReason::QueueFull));
        assert_eq!(rings.post(VmIndex(1)), Ok(()), "rings are per VM");
        rings.take(VmIndex(0));
        assert_eq!(rings.post(VmIndex(0)), Ok(()));
        assert_eq!(rings.post(VmIndex(7)), Err(DropReason::NoSuchPort));
        rings.take(VmIndex(7));
    }
}
