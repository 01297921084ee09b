//! The card in its VEB configuration (`LookupMode::MacVlan`): lookup by ingress port,
//! destination MAC and VLAN in entries written at bring-up; no agent, no miss path.

use nic_abi::action::Action;
use nic_abi::key::{MacAddr, PortNo};
use nic_abi::time::SimTime;
use nic_model::card::{mac_vlan_key, CardConfig, InterVmPath, LookupMode};

use crate::support::{bytes, udp_frame, Bed};

/// The destination MAC of `support::udp_frame`.
const DST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

fn veb(vms: u16) -> Bed {
    let config = CardConfig {
        lookup: LookupMode::MacVlan,
        inter_vm: InterVmPath::Hairpin,
        ..CardConfig::default()
    };
    let mut b = Bed::new(config, vms, 64, 16);
    for i in 0..usize::from(vms) {
        b.post_rx(i, 0, 32);
    }
    b
}

#[test]
fn every_flow_to_a_mac_hits_its_one_entry_and_none_is_held() {
    let mut b = veb(2);
    let (src, dst) = (b.vms[0], b.vms[1]);
    b.card
        .install_mac_vlan(src.port, DST, None, Action::output(dst.port))
        .expect("room");
    // Ten different flows (addresses and ports differ), one destination MAC.
    let frames: Vec<Vec<u8>> = (0..10).map(|f| udp_frame(f, 200)).collect();
    for (i, f) in (0u16..).zip(&frames) {
        src.queue_tx(b.card.host_mut(), i, f).expect("memory");
    }
    b.card.tx_doorbell(src.queue, 10).expect("queue");
    let c = b.card.finish().expect("conserved");
    assert_eq!((c.delivered, c.table_hits, c.table_misses), (10, 10, 0));
    assert_eq!(c.miss_records, 0);
    assert_eq!(b.card.table().len(), 1);
    for (i, f) in (0u16..).zip(&frames) {
        assert_eq!(dst.rx_data(b.card.host(), i, f.len()), &f[..]);
    }
    // Hairpinned: each whole frame was read over PCIe (TX descriptor, header window, rest),
    // and one batch of 16 RX descriptors of the receiver.
    assert_eq!(b.card.dma().stats().read_bytes, 10 * (16 + 200) + 16 * 16);
}

#[test]
fn the_key_is_port_mac_and_vlan_only() {
    let a = udp_frame(1, 100);
    let parsed = nic_abi::parse::parse_card(&a, PortNo(101));
    let k = mac_vlan_key(PortNo(101), parsed.dl_dst, None);
    assert_eq!(k.dl_dst, DST);
    assert_eq!((k.nw_src, k.tp_dst, k.dl_src), (0, 0, MacAddr::default()));
    let tagged = mac_vlan_key(PortNo(1), DST, Some(7));
    assert!(tagged.vlan.is_present());
    assert_eq!(tagged.vlan.vid(), 7);
    assert_ne!(
        tagged.to_words(),
        mac_vlan_key(PortNo(1), DST, None).to_words()
    );
}

#[test]
fn a_frame_without_an_entry_is_flooded_never_held() {
    let mut b = veb(3);
    b.card
        .offer_from_wire(PortNo(1), bytes(udp_frame(4, 100)), SimTime::ZERO)
        .expect("mac");
    let c = b.card.finish().expect("conserved");
    // The other MAC port and the three VMs.
    assert_eq!((c.delivered, c.copies_to_wire, c.copies_to_vms), (1, 1, 3));
    assert_eq!((c.table_misses, c.miss_records), (1, 0));
}

#[test]
fn a_drop_entry_drops_as_a_rule() {
    let mut b = veb(2);
    b.card
        .install_mac_vlan(PortNo(1), DST, None, Action::DROP)
        .expect("room");
    b.card
        .offer_from_wire(PortNo(1), bytes(udp_frame(4, 100)), SimTime::ZERO)
        .expect("mac");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.dropped(nic_model::counters::DropReason::RuleDrop), 1);
}
