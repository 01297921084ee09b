//! Small systems (frames and the small card are host-driver's test fixtures).

use host_driver::copy::CopyMode;
use host_driver::driver::DriverConfig;
use host_driver::guest::MockGuest;
use host_driver::iommu::GrantMode;
use nic_abi::desc::RingSize;
use nic_model::card::CardConfig;
use snich_system::assemble::SystemSpec;
use snich_system::control::ControlPlane;

/// A system of `vms` guests (VM i+1 on port 101+i, queue i) with rings of `entries`, and
/// miss and release rings of 64.
pub fn system(
    mode: CopyMode,
    vms: u16,
    entries: u16,
    grants: GrantMode,
    card: CardConfig,
    rules: Vec<flow_setup::rule::Rule>,
) -> (ControlPlane, Vec<MockGuest>) {
    let entries = RingSize::new(entries).expect("power of two");
    let spec = SystemSpec {
        card,
        driver: DriverConfig {
            miss_ring_entries: 64,
            release_ring_entries: 64,
            ..DriverConfig::default()
        },
        ..SystemSpec::with_guests(vms, entries, grants)
    }
    .with_copy_mode(mode);
    spec.assemble(rules).expect("system")
}
