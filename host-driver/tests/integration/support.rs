//! A small card brought up with guests (no agent: the tests drive the management port
//! themselves).

use host_driver::driver::{Driver, DriverConfig};
use host_driver::guest::{GuestSpec, MockGuest};
use host_driver::host::{Host, HostConfig};
use host_driver::iommu::GrantMode;
use nic_abi::desc::{QueueIndex, RingSize, VmId};
use nic_abi::key::PortNo;
use nic_model::card::{Card, CardConfig};

use crate::fixtures::small_card;

/// The small card brought up by the driver (rings of 64 for misses and releases), with `vms`
/// guests (VM i+1 on port 101+i, queue i, persistent grants) with rings of 16 attached.
pub fn brought_up(vms: u16) -> (Driver, Vec<MockGuest>) {
    brought_up_with(small_card(), vms)
}

/// [`brought_up`] with a card of configuration `card`.
pub fn brought_up_with(card: CardConfig, vms: u16) -> (Driver, Vec<MockGuest>) {
    let host = Host::new(HostConfig::default()).expect("host");
    let card = Card::new(card, host).expect("card");
    let config = DriverConfig {
        miss_ring_entries: 64,
        release_ring_entries: 64,
        ..DriverConfig::default()
    };
    let mut driver = Driver::bring_up(card, config).expect("brought up");
    let guests = (0..vms)
        .map(|i| {
            let spec = GuestSpec {
                vm: VmId(i + 1),
                port: PortNo(101 + i),
                queue: QueueIndex(i),
                entries: RingSize::new(16).expect("power of two"),
                grants: GrantMode::Persistent,
            };
            driver.attach_guest(spec).expect("attached")
        })
        .collect();
    (driver, guests)
}
