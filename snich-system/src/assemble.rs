//! Assembling a whole system from its parts' configurations: the host, the card (its
//! inter-VM path from the host's copy mode), the driver bringing it up, one queue pair per
//! guest, and the control plane (the agent with its rules).
//!
//! [`SystemSpec::assemble_veb`] assembles the same host, driver and guests around the card in
//! its VEB configuration (an SR-IOV embedded bridge: `LookupMode::MacVlan`, inter-VM packets
//! hairpinned over PCIe), its MAC/VLAN entries written through the card's bring-up API
//! (`Card::install_mac_vlan`) before any traffic. It has no agent: the control plane's agent
//! gets no rules and no work, since that card never sends a miss record; the run loop, the
//! host's cores and the guests' interrupt handling are the sNICh system's.
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
use nic_abi::action::Action;
use nic_abi::desc::{QueueIndex, RingSize, VmId};
use nic_abi::key::{MacAddr, PortNo};
use nic_model::card::{Card, CardConfig, LookupMode};

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

/// One entry of a VEB's MAC/VLAN table: frames entering on `in_port` for `dl_dst` in `vlan`
/// get `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacVlanEntry {
    /// The ingress port (a VM's, or an uplink).
    pub in_port: PortNo,
    /// The destination MAC.
    pub dl_dst: MacAddr,
    /// The VLAN id of the frame's outer tag (`None`: untagged).
    pub vlan: Option<u16>,
    /// What the card does with such a frame.
    pub action: Action,
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
        self.assemble_with(rules, &[])
    }

    /// Builds a VEB system (see the module doc): the card with `LookupMode::MacVlan` and
    /// hairpinned inter-VM packets, `entries` written at bring-up, then the host, driver and
    /// guests as [`SystemSpec::assemble`] builds them, and an agent without rules.
    pub fn assemble_veb(
        mut self,
        entries: &[MacVlanEntry],
    ) -> Result<(ControlPlane, Vec<MockGuest>), SystemError> {
        self.host.copy.mode = CopyMode::Hairpin;
        self.card.lookup = LookupMode::MacVlan;
        self.assemble_with(Vec::new(), entries)
    }

    fn assemble_with(
        self,
        rules: Vec<Rule>,
        entries: &[MacVlanEntry],
    ) -> Result<(ControlPlane, Vec<MockGuest>), SystemError> {
        let host = Host::new(self.host)?;
        let card_config = CardConfig {
            inter_vm: self.host.copy.mode.card_path(),
            ..self.card
        };
        let mut card = Card::new(card_config, host)?;
        for e in entries {
            card.install_mac_vlan(e.in_port, e.dl_dst, e.vlan, e.action)
                .map_err(|source| SystemError::MacVlanEntry {
                    in_port: e.in_port,
                    dl_dst: e.dl_dst,
                    vlan: e.vlan,
                    source,
                })?;
        }
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
    fn a_veb_system_forwards_by_its_mac_vlan_entries_without_the_agent() {
        let spec = SystemSpec::with_guests(2, entries(), GrantMode::Persistent);
        let dst = MacAddr([2, 0, 0, 0, 0, 2]);
        let entry = MacVlanEntry {
            in_port: PortNo(FIRST_VM_PORT),
            dl_dst: dst,
            vlan: None,
            action: Action::output(PortNo(FIRST_VM_PORT + 1)),
        };
        let (mut cp, mut guests) = spec.assemble_veb(&[entry]).expect("assembled");
        let config = cp.driver().card().config();
        assert_eq!(config.lookup, LookupMode::MacVlan);
        assert_eq!(config.inter_vm, CopyMode::Hairpin.card_path());
        let mut frame = vec![0u8; 200];
        frame[0..6].copy_from_slice(&dst.0);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        for _ in 0..3 {
            guests[0]
                .send(cp.driver_mut().card_mut(), &frame)
                .expect("sent");
        }
        cp.drain(|_, _| Ok(())).expect("drained");
        let mut received = Vec::new();
        guests[1]
            .poll(cp.driver_mut().card_mut(), &mut received)
            .expect("polled");
        assert_eq!(received.len(), 3);
        assert_eq!(cp.driver().card().counters().miss_records, 0);
        assert_eq!(cp.agent().counters().installed, 0);
        assert_eq!(cp.driver().host().copy_metrics().copies, 0, "hairpinned");
    }

    #[test]
    fn a_mac_vlan_entry_that_does_not_fit_names_itself() {
        let mut spec = SystemSpec::with_guests(1, entries(), GrantMode::Persistent);
        spec.card.table.buckets = 1;
        spec.card.table.max_kicks = 0;
        let e: Vec<MacVlanEntry> = (0..5u8)
            .map(|i| MacVlanEntry {
                in_port: PortNo(1),
                dl_dst: MacAddr([2, 0, 0, 0, 0, i]),
                vlan: Some(3),
                action: Action::DROP,
            })
            .collect();
        let err = spec.assemble_veb(&e).expect_err("one bucket holds four");
        assert!(
            matches!(err, SystemError::MacVlanEntry { vlan: Some(3), .. }),
            "{err}"
        );
        assert!(err.to_string().contains("02:00:00:00:00:04"), "{err}");
    }

    #[test]
    fn a_bad_card_config_is_the_cards_error() {
        let mut spec = SystemSpec::with_guests(1, entries(), GrantMode::Persistent);
        spec.card.table.buckets = 3;
        let e = spec.assemble(Vec::new()).expect_err("not a power of two");
        assert!(matches!(e, SystemError::Card(_)), "{e}");
    }
}
