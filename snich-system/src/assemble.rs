//! Assembling a whole system from its parts' configurations: the host, the card (its
//! inter-VM path from the host's copy mode), the driver bringing it up, one queue pair per
//! guest, and the control plane (the agent with its rules).
//!
//! Guests are numbered densely: [`numbered_guest`]`(i, ..)` is VM `i + 1` on switch port
//! [`FIRST_VM_PORT`]` + i` with queue pair `i`, the numbering `sim-harness`'s topologies use.
//!
//! ```
//! use host_driver::iommu::GrantMode;
//! use nic_abi::desc::{QueueIndex, RingSize, VmId};
//! use nic_abi::key::PortNo;
//! use snich_system::assemble::SystemSpec;
//!
//! let spec = SystemSpec::with_guests(2, RingSize::new(16)?, GrantMode::Persistent);
//! assert_eq!(spec.guests[1].vm, VmId(2));
//! assert_eq!(spec.guests[1].port, PortNo(102));
//! assert_eq!(spec.guests[1].queue, QueueIndex(1));
//! let (cp, guests) = spec.assemble(Vec::new())?;
//! assert_eq!(guests.len(), 2);
//! assert_eq!(cp.driver().card().now().as_ps(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use flow_setup::agent::AgentConfig;
use flow_setup::rule::Rule;
use host_driver::copy::CopyMode;
use host_driver::driver::{Driver, DriverConfig};
use host_driver::guest::{GuestSpec, MockGuest};
use host_driver::host::{Host, HostConfig};
use host_driver::iommu::GrantMode;
use nic_abi::desc::{QueueIndex, RingSize, VmId};
use nic_abi::key::PortNo;
use nic_model::card::{Card, CardConfig};

use crate::control::ControlPlane;
use crate::error::SystemError;

/// The switch port of guest 0; guest `i` has `FIRST_VM_PORT + i`.
pub const FIRST_VM_PORT: u16 = 101;

/// Guest `index` of a densely numbered system: VM `index + 1`, port
/// `FIRST_VM_PORT + index`, queue pair `index`, rings of `entries`.
pub fn numbered_guest(index: u16, entries: RingSize, grants: GrantMode) -> GuestSpec {
    GuestSpec {
        vm: VmId(index.saturating_add(1)),
        port: PortNo(FIRST_VM_PORT.saturating_add(index)),
        queue: QueueIndex(index),
        entries,
        grants,
    }
}

/// Everything [`SystemSpec::assemble`] builds a system from.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// The card (its `inter_vm` is set from `host.copy.mode`).
    pub card: CardConfig,
    /// The host.
    pub host: HostConfig,
    /// The driver.
    pub driver: DriverConfig,
    /// The agent.
    pub agent: AgentConfig,
    /// The guests, queue `i` for guest `i`.
    pub guests: Vec<GuestSpec>,
}

impl SystemSpec {
    /// Default card, host, driver and agent with `guests` (guest `i` must have queue `i`).
    pub fn new(guests: Vec<GuestSpec>) -> SystemSpec {
        SystemSpec {
            card: CardConfig::default(),
            host: HostConfig::default(),
            driver: DriverConfig::default(),
            agent: AgentConfig::default(),
            guests,
        }
    }

    /// Default card, host, driver and agent with `vms` guests numbered densely
    /// ([`numbered_guest`]), each with rings of `entries` and `grants`.
    pub fn with_guests(vms: u16, entries: RingSize, grants: GrantMode) -> SystemSpec {
        SystemSpec::new(
            (0..vms)
                .map(|i| numbered_guest(i, entries, grants))
                .collect(),
        )
    }

    /// The same system with `mode` as its inter-VM path.
    pub fn with_copy_mode(mut self, mode: CopyMode) -> SystemSpec {
        self.host.copy.mode = mode;
        self
    }

    /// Builds the system: the host, the card, the driver bringing it up, one queue pair per
    /// guest (queue `i` for `guests[i]`, whose `queue` must be `i`) with all its RX buffers
    /// posted, and the agent with `rules`. Returns the control plane and the guests.
    pub fn assemble(self, rules: Vec<Rule>) -> Result<(ControlPlane, Vec<MockGuest>), SystemError> {
        let host = Host::new(self.host)?;
        let card_config = CardConfig {
            inter_vm: self.host.copy.mode.card_path(),
            ..self.card
        };
        let card = Card::new(card_config, host)?;
        let mut driver = Driver::bring_up(card, self.driver)?;
        let mut guests = Vec::with_capacity(self.guests.len());
        for (index, g) in self.guests.iter().enumerate() {
            if usize::from(g.queue.0) != index {
                return Err(SystemError::GuestQueue {
                    index,
                    vm: g.vm,
                    queue: g.queue,
                });
            }
            guests.push(driver.attach_guest(*g)?);
        }
        let cp = ControlPlane::new(driver, self.agent, rules)?;
        Ok((cp, guests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> RingSize {
        RingSize::new(8).expect("power of two")
    }

    #[test]
    fn guests_must_take_queues_in_list_order() {
        let mut spec = SystemSpec::with_guests(2, entries(), GrantMode::Persistent);
        spec.guests.swap(0, 1);
        let e = spec.assemble(Vec::new()).expect_err("queue 1 first");
        assert!(
            matches!(
                e,
                SystemError::GuestQueue {
                    index: 0,
                    vm: VmId(2),
                    queue: QueueIndex(1)
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "guest 0 (vm 2) has queue 1, expected 0");
    }

    #[test]
    fn the_card_takes_its_inter_vm_path_from_the_host_copy_mode() {
        let spec = SystemSpec::with_guests(1, entries(), GrantMode::MapPerPost)
            .with_copy_mode(CopyMode::Hairpin);
        let (cp, guests) = spec.assemble(Vec::new()).expect("assembled");
        assert_eq!(
            cp.driver().card().config().inter_vm,
            CopyMode::Hairpin.card_path()
        );
        assert_eq!(cp.driver().host().copy_mode(), CopyMode::Hairpin);
        assert_eq!(guests[0].spec().grants, GrantMode::MapPerPost);
        assert_eq!(guests[0].spec().port, PortNo(FIRST_VM_PORT));
    }

    #[test]
    fn a_bad_card_config_is_the_cards_error() {
        let mut spec = SystemSpec::with_guests(1, entries(), GrantMode::Persistent);
        spec.card.table.buckets = 3;
        let e = spec.assemble(Vec::new()).expect_err("not a power of two");
        assert!(matches!(e, SystemError::Card(_)), "{e}");
    }
}
